import librosa
import numpy as np
import pytest
import soundfile as sf

from metrics.files.audio import int16_roundtrip, load_mono, peak_normalise, resample_kaiser_best, to_mono
from sa_util.audio import (AUDIO_EXTENSIONS, AUDIO_RULES, AudioError, check_header, headroom, read_audio, resample_soxr,
                           wav_claimed_frames)
from sa_fixtures.clips import tone, write_wav


def test_read_keeps_channels_and_rate(tmp_path):
    path = write_wav(tmp_path / "a.flac", tone(1.0, 22050), 22050)
    audio = read_audio(path)
    assert audio.samples.shape == (2, 22050) and audio.sample_rate == 22050 and audio.samples.dtype == np.float32


def test_peak_normalise_is_joint_over_channels():
    x = np.array([[0.5, -0.25], [0.1, 0.05]], np.float32)
    y = peak_normalise(x)
    assert np.abs(y).max() == pytest.approx(0.891250938, rel=1e-6)
    np.testing.assert_allclose(y[1] / y[0], x[1] / x[0], rtol=1e-6)  # one gain for both channels


def test_load_mono_matches_librosa_load_then_peak(tmp_path):
    for seconds, sr in [(2.3, 32000), (4.0, 48000)]:  # 4 s at 44.1 -> 48 kHz: librosa pads to 192001 samples
        path = write_wav(tmp_path / "a.wav", tone(seconds, 44100), 44100)
        ours = load_mono(path, sr)
        ref, _ = librosa.load(str(path), sr=sr, mono=True, res_type="soxr_hq")
        ref = ref * (10 ** (-1 / 20) / float(np.abs(ref).max()))  # float64 gain, as under numpy 1.x
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_resamplers():
    x = tone(0.5, 44100).T.copy()
    assert resample_soxr(x, 44100, 44100) is x  # no-op at the same rate
    y = resample_kaiser_best(x, 44100, 48000)
    assert y.shape == (2, int(x.shape[1] * 48000 / 44100))
    assert to_mono(x).shape == (1, x.shape[1])


def test_int16_roundtrip_matches_laion_clap():
    from sa_util.clap import ROBERTA_BASE, offline_transformers

    with offline_transformers(None, ROBERTA_BASE):  # laion_clap fetches tokenizers at import otherwise
        from laion_clap.training.data import float32_to_int16, int16_to_float32

    x = np.linspace(-1.2, 1.2, 1001).astype(np.float32)
    np.testing.assert_array_equal(int16_roundtrip(x), int16_to_float32(float32_to_int16(x)))


@pytest.mark.parametrize("make, reason", [
    (lambda p: sf.write(p, np.zeros((4410, 2), np.float32), 44100), "silent audio"),
    (lambda p: sf.write(p, np.zeros((0, 2), np.float32), 44100), "empty audio"),
    (lambda p: sf.write(p, np.full((100, 1), np.nan, np.float32), 44100, subtype="FLOAT"), "NaN or infinite"),
    (lambda p: sf.write(p, tone(0.1, channels=3), 44100), "3 channels"),
    (lambda p: open(p, "wb").write(b"RIFF\x00\x00garbage" * 10), "unreadable audio"),
])
def test_bad_input_raises_with_reason(tmp_path, make, reason):
    path = str(tmp_path / "bad.wav")
    make(path)
    with pytest.raises(AudioError, match=reason):
        read_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="unreadable audio"):
        read_audio(tmp_path / "nope.wav")


# --- no input loses a run --------------------------------------------------------------------------------


def test_every_listed_extension_decodes(tmp_path):
    """AUDIO_EXTENSIONS is what a run picks up: each must decode (Opus in Ogg included)."""
    formats = {".wav": {}, ".flac": {}, ".ogg": {"format": "OGG", "subtype": "VORBIS"},
               ".opus": {"format": "OGG", "subtype": "OPUS"}, ".mp3": {"format": "MP3"}, ".aiff": {"format": "AIFF"},
               ".aif": {"format": "AIFF"}, ".caf": {"format": "CAF"}, ".w64": {"format": "W64"},
               ".rf64": {"format": "RF64"}, ".au": {"format": "AU", "subtype": "FLOAT"}}
    assert set(formats) == set(AUDIO_EXTENSIONS)
    for ext, kwargs in formats.items():
        path = tmp_path / f"a{ext}"
        sf.write(str(path), tone(0.5, 48000), 48000, **kwargs)  # Opus takes 8-48 kHz only
        audio = read_audio(path)
        assert audio.samples.shape[0] == 2 and abs(audio.seconds - 0.5) < 0.01, ext
        assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() > 0.1, ext


def test_truncated_wav_is_refused(tmp_path):
    for subtype in ("PCM_16", "FLOAT"):
        full = write_wav(tmp_path / f"full_{subtype}.wav", tone(1.0, 44100), 44100, subtype)
        cut = tmp_path / f"cut_{subtype}.wav"
        cut.write_bytes(full.read_bytes()[:full.stat().st_size // 2])
        with pytest.raises(AudioError, match=r"truncated: header says 44100 frames, file holds \d+"):
            read_audio(cut)
    header_only = tmp_path / "header_only.wav"
    raw = full.read_bytes()
    header_only.write_bytes(raw[:raw.index(b"data") + 8])  # everything up to the samples
    with pytest.raises(AudioError, match="truncated: header says 44100 frames, file holds 0"):
        read_audio(header_only)
    flac = write_wav(tmp_path / "full.flac", tone(1.0, 44100), 44100)
    (tmp_path / "cut.flac").write_bytes(flac.read_bytes()[:flac.stat().st_size // 2])
    with pytest.raises(AudioError, match="truncated|unreadable"):
        read_audio(tmp_path / "cut.flac")


def test_streamed_wav_without_a_data_size_is_not_called_truncated(tmp_path):
    path = write_wav(tmp_path / "s.wav", tone(0.2, 44100), 44100, "PCM_16")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data") + 4
    raw[at:at + 4] = b"\xff\xff\xff\xff"  # what writers that cannot seek back leave
    path.write_bytes(bytes(raw))
    assert wav_claimed_frames(path) is None
    assert read_audio(path).samples.shape == (2, 8820)


def test_header_limits_are_checked_before_decoding(tmp_path):
    """A 6 KB file claiming 1 Hz (100 s and 5 GB to resample) is refused from its header, before decoding."""
    path = tmp_path / "1hz.wav"
    sf.write(str(path), (0.3 * np.random.default_rng(0).standard_normal((3000, 1))).astype(np.float32), 1,
             subtype="PCM_16")
    with pytest.raises(AudioError, match="sample rate 1 Hz outside 8000-384000 Hz"):
        read_audio(path)
    for sr in (AUDIO_RULES.min_rate, AUDIO_RULES.max_rate):  # the bounds themselves are fine
        assert read_audio(write_wav(tmp_path / f"{sr}.wav", tone(0.05, sr), sr)).sample_rate == sr


@pytest.mark.parametrize("rate, channels, frames, reason", [
    (7999, 1, 1000, "sample rate 7999 Hz"),
    (384001, 1, 1000, "sample rate 384001 Hz"),
    (44100, 6, 1000, "6 channels"),
    (44100, 2, 0, "empty audio"),
    (44100, 1, 21 * 60 * 44100, "21.0 min: longer than the maximum of 20 min"),
    (192000, 2, 15 * 60 * 192000, "more than the maximum of 115,200,000"),
])
def test_header_limits(rate, channels, frames, reason):
    with pytest.raises(AudioError, match=reason):
        check_header(rate, channels, frames)


def test_limits_are_stated_in_one_place():
    from metrics.embedding.embedders import describe_limits

    text = describe_limits()
    assert "PaSST: 8-384 kHz, 1-2 channels, from 0.150 s (4801 samples at 32 kHz) to 20 min" in text
    assert "Audiobox Aesthetics: 8-384 kHz, 1-2 channels, from 0.0625 ms (1 sample at 16 kHz) to 20 min" in text
    assert "MERT: 8-384 kHz, 1-2 channels, from 0.017 s (400 samples at 24 kHz) to 20 min" in text
    assert "MS-CLAP: 8-384 kHz, 1-2 channels, from 0.0227 ms (1 sample at 44.1 kHz) to 20 min" in text
    assert "PANNs CNN14 (kadtk): 8-384 kHz, 1-2 channels, from 0.310 s (4960 samples at 16 kHz) to 20 min" in text
    assert ("PANNs Wavegram-Logmel-CNN14 (kadtk): 8-384 kHz, 1-2 channels, from 0.320 s (10236 samples at 32 kHz) "
            "to 20 min") in text
    assert text.count("\n") == 8  # the shared limits and one line per evaluator with its own


def huge(x: np.ndarray, peak: float) -> np.ndarray:
    """``x`` scaled to peak ``peak`` in float64 (numpy 2 keeps a float32 scalar's type, so the ratio is taken in
    float64 explicitly), then stored as float32."""
    return (x.astype(np.float64) * (peak / float(np.abs(x).max()))).astype(np.float32)


def test_huge_but_finite_float_samples_cannot_overflow(tmp_path):
    """A float WAV near +-3e38 overflowed the float32 downmix to inf/NaN; it must give the same audio as at a sane
    level (exactly, when the level differs by a power of two)."""
    x = tone(1.0, 44100)
    x[:, 1] = x[:, 0]  # same sign in both channels: L + R is beyond float32 in a naive downmix
    sane = write_wav(tmp_path / "sane.wav", x, 44100, "FLOAT")
    pow2 = write_wav(tmp_path / "pow2.wav", x * np.float32(2.0 ** 127), 44100, "FLOAT")
    near_max = write_wav(tmp_path / "max.wav", huge(x, 3.4e38), 44100, "FLOAT")
    wide = write_wav(tmp_path / "f64.wav", x.astype(np.float64) * 1e300, 44100, "DOUBLE")  # beyond float32
    for sr in (32000, 48000):
        ref = load_mono(sane, sr)
        np.testing.assert_array_equal(load_mono(pow2, sr), ref)
        for path in (near_max, wide):
            y = load_mono(path, sr)
            assert np.isfinite(y).all()
            np.testing.assert_allclose(y, ref, atol=1e-6)
    assert np.isfinite(read_audio(near_max).samples).all() and np.abs(read_audio(wide).samples).max() <= 1.0


def test_peak_normalise_of_the_largest_float32():
    x = np.array([[3.4e38, -3.4e38, 1e38]], np.float32)
    y = peak_normalise(headroom(x))
    assert np.isfinite(y).all() and np.abs(y).max() == pytest.approx(0.891250938, rel=1e-6)


def test_short_input_resampling_is_an_audio_error_not_a_crash():
    with pytest.raises(AudioError, match="too short to resample"):
        resample_soxr(np.ones((2, 2), np.float32), 384000, 32000)
    with pytest.raises(AudioError, match="too short to resample"):
        resample_kaiser_best(np.ones((2, 1), np.float32), 48000, 44100)
    assert resample_soxr(np.ones((2, 1), np.float32), 44100, 48000).shape == (2, 1)  # one stereo sample
