import math

import h5py
import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from metrics.embedding.embedders.openl3 import (KapreMelFrontend, OpenL3, OpenL3Embedder, OpenL3Net, frame_signal,
                                      load_keras_weights, n_windows, slaney_mel_filterbank)
from metrics.embedding.pipeline import embed_files
from sa_fixtures.clips import tone, write_wav
from sa_fixtures.random_weights import random_openl3, write_openl3_h5


def test_mel_filterbank_matches_librosa_slaney():
    ours = slaney_mel_filterbank(48000, 2048, 256)
    ref = librosa.filters.mel(sr=48000, n_fft=2048, n_mels=256, fmin=0.0, fmax=24000, htk=False, norm="slaney").T
    np.testing.assert_allclose(ours, ref, atol=1e-7, rtol=1e-5)


def test_frontend_matches_independent_numpy_computation():
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal(48000)).astype(np.float32)
    ours = KapreMelFrontend()(torch.from_numpy(x)[None])[0, 0].numpy()  # [256, 199]
    # the spec, computed independently: tf.signal.stft(pad_end=True) framing, periodic Hann, |X|, librosa mel,
    # 10 log10, minus max, floor -80
    padded = np.pad(x.astype(np.float64), (0, 198 * 242 + 2048 - 48000))
    frames = np.stack([padded[i * 242:i * 242 + 2048] for i in range(199)])
    mag = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", 2048, fftbins=True), axis=1))
    mel = mag @ librosa.filters.mel(sr=48000, n_fft=2048, n_mels=256, htk=False, norm="slaney").T
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    ref = np.maximum(db - db.max(), -80).T
    assert ours.shape == (256, 199)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_keras_h5_round_trip_and_layout(tmp_path):
    net = random_openl3(seed=3)
    path = tmp_path / "openl3_audio_mel256_music.h5"
    write_openl3_h5(path, net)
    with h5py.File(path) as f:  # the layout Keras save_weights writes
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
        assert names[-1] == "audio_embedding_layer" and "max_pooling2d_1" in names
        assert f["conv2d_1"]["conv2d_1"]["kernel:0"].shape == (3, 3, 1, 64)  # channels_last kernels
    fresh = OpenL3Net()
    load_keras_weights(fresh, path)
    for (k, a), (_, b) in zip(net.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), k


def test_keras_loader_rejects_other_files(tmp_path):
    bad = tmp_path / "x.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        f.create_group("dense_1").attrs["weight_names"] = [b"dense_1/kernel:0"]
        f["dense_1"].create_dataset("dense_1/kernel:0", data=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="1 layers with weights, the mel256 OpenL3 CNN has 16"):
        load_keras_weights(OpenL3Net(), bad)
    (tmp_path / "y.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        load_keras_weights(OpenL3Net(), tmp_path / "y.h5")


@pytest.mark.parametrize("seconds", [0.5, 1.0, 1.5, 10.0, 47.0])
def test_frame_counts_follow_openl3(seconds):
    length = int(round(seconds * 48000))
    padded = frame_signal(np.zeros((1, length), np.float32))
    # openl3.core._get_num_windows with centre=True
    expected = 1 if length + 24000 <= 48000 else 1 + math.ceil((length + 24000 - 48000) / 24000)
    assert n_windows(padded.shape[1]) == expected
    if seconds == 10.0:
        assert expected == 20


def test_embedding_shapes_stereo_concat_and_batch_invariance(tmp_path, weights_dir):
    e = OpenL3Embedder(weights_dir / "openl3_audio_mel256_music.h5", batch_size=7)
    stereo = write_wav(tmp_path / "s.wav", tone(2.2, 44100))
    mono_l = write_wav(tmp_path / "l.wav", tone(2.2, 44100)[:, :1])
    short = write_wav(tmp_path / "short.wav", tone(0.4, 22050), 22050)
    prepared = [e.prepare(str(p)) for p in (stereo, mono_l, short)]
    together = e.embed(prepared)
    alone = [e.embed([p])[0] for p in prepared]
    assert [t.shape for t in together] == [(5, 1024), (5, 1024), (1, 1024)]  # 1 + ceil((2.2 s + 0.5 s - 1 s) / 0.5 s)
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # a mono file is duplicated into L and R
    np.testing.assert_allclose(together[1][:, :512], together[1][:, 512:], atol=1e-6)


def test_tensorflow_openl3_agrees_when_installed(tmp_path, weights_dir):
    openl3 = pytest.importorskip("openl3")  # the TensorFlow backend is optional (users who have it)
    model_tf = openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel256_music.h5"), "mel256", 512)
    x = tone(3.0, 48000)[:, 0]
    ref, _ = openl3.get_audio_embedding(x, 48000, model=model_tf, hop_size=0.5, center=True, verbose=False)
    ours = OpenL3()
    load_keras_weights(ours.net, weights_dir / "openl3_audio_mel256_music.h5")
    frames = torch.from_numpy(frame_signal(x[None])).unfold(-1, 48000, 24000)[0]
    with torch.no_grad():
        # measured here: max error 3.2e-4 of the largest value at 44.1/48 kHz (TensorFlow 2.15.1, kapre 0.3.7)
        np.testing.assert_allclose(ours.eval()(frames).numpy(), ref, atol=2e-3 * np.abs(ref).max())


def test_damaged_h5_is_a_one_line_error(tmp_path, weights_dir):
    full = (weights_dir / "openl3_audio_mel256_music.h5").read_bytes()
    for name, data in [("cut.h5", full[:len(full) // 2]), ("head.h5", full[:4096]),
                       ("pt.h5", b"PK\x03\x04" + bytes(5000))]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError) as err:
            load_keras_weights(OpenL3Net(), tmp_path / name)
        message = str(err.value)
        assert "\n" not in message and message.startswith(str(tmp_path / name))
        assert message.endswith("expected openl3_audio_mel256_{music,env}.h5 (Keras weights of the mel256 OpenL3 "
                                "audio model)")


def test_short_and_odd_rate_files_are_embedded_or_given_a_reason(tmp_path, weights_dir):
    """OpenL3 pads anything under 1 s to one window; 1 sample and 10 samples go through the resampler too."""
    e = OpenL3Embedder(weights_dir / "openl3_audio_mel256_music.h5", batch_size=8)
    ok = [write_wav(tmp_path / f"{n}.wav", tone(n / 44100), 44100) for n in (1, 10, 4410)]
    ok.append(write_wav(tmp_path / "hi.wav", tone(8 / 384000, 384000), 384000))
    too_short = write_wav(tmp_path / "2.wav", tone(2 / 192000, 192000), 192000)  # no sample left at 44.1 kHz
    res = embed_files(e, [str(p) for p in ok + [too_short]], workers=0)
    assert sorted(res.outputs) == sorted(map(str, ok))
    assert all(out.shape == (1, 1024) and np.isfinite(out).all() for out in res.outputs.values())
    assert res.skipped == {str(too_short): "too short to resample: 2 samples at 192000 Hz give none at 44100 Hz"}


def test_long_file_windows_are_never_all_copied(weights_dir):
    """embed() feeds views of the padded signal batch_size windows at a time: the model never sees more."""
    seen = []
    e = OpenL3Embedder(None, batch_size=5, model=lambda x: (seen.append(x.shape[0]), x[:, :512])[1])
    out = e.embed([frame_signal(np.ones((2, 6 * 48000), np.float32))])[0]  # 12 windows x 2 channels
    assert out.shape == (12, 1024) and max(seen) == 5 and sum(seen) == 24
    np.testing.assert_array_equal(out[:, :512], out[:, 512:])
