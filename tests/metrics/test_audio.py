import librosa
import numpy as np
import pytest
import resampy
import soundfile as sf

from metrics.audio import (AudioError, int16_roundtrip, load_mono, peak_normalise, read_audio, resample_kaiser_best,
                           resample_soxr, to_mono)
from tests.conftest import tone, write_wav


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
        ref = ref * (10 ** (-1 / 20) / np.abs(ref).max())
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_resamplers():
    x = tone(0.5, 44100).T.copy()
    assert resample_soxr(x, 44100, 44100) is x  # no-op at the same rate
    y = resample_kaiser_best(x, 44100, 48000)
    np.testing.assert_allclose(y[1], resampy.resample(x[1], 44100, 48000, filter="kaiser_best"), atol=1e-6)
    assert y.shape == (2, int(x.shape[1] * 48000 / 44100))
    assert to_mono(x).shape == (1, x.shape[1])


def test_int16_roundtrip_matches_laion_clap():
    from metrics.embedders.clap import ROBERTA_BASE, offline_transformers

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
