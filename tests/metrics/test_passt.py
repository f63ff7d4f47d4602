import librosa
import numpy as np
import pytest
import torch

from metrics.embedders.passt import PasstEmbedder, build_passt, passt_windows
from tests.conftest import tone, write_wav


@pytest.mark.parametrize("seconds, n, length", [(1.0, 1, 32000), (1.5, 1, 48000), (1.6, 1, 320000),
                                                (10.0, 1, 320000), (12.0, 2, 320000), (47.0, 9, 320000)])
def test_window_counts_and_padding_rule(seconds, n, length):
    w = passt_windows(np.ones(int(seconds * 32000), np.float32))
    assert w.shape == (n, length)


def test_last_window_of_47s_is_7s_plus_zeros():
    w = passt_windows(np.ones(47 * 32000, np.float32))
    assert w[-1, :7 * 32000].min() == 1.0 and w[-1, 7 * 32000:].max() == 0.0


def sam_return_probabilities(model, path):
    """stable-audio-metrics' loop, independently: librosa.load, peak -1 dBFS, one window at a time."""
    audio, _ = librosa.load(str(path), sr=32000, mono=True)
    audio = audio * (10 ** (-1 / 20) / np.abs(audio).max())
    step, win = 160000, 320000
    logits = []
    for i in range(0, max(step, len(audio) - step), step):
        w = audio[i:i + win]
        if len(w) < win and len(w) > int(win * 0.15):
            w = np.pad(w, (0, win - len(w)))
        with torch.no_grad():
            logits.append(model(torch.from_numpy(w)[None].float())[0])
    return torch.softmax(torch.stack(logits).mean(0), 0).numpy()


def test_batched_pipeline_matches_reference_package_forward(tmp_path, weights_dir):
    weights = weights_dir / "passt-s-f128-p16-s10-ap.476-swa.pt"
    files = [write_wav(tmp_path / "long.wav", tone(12.0, 44100, 300)),
             write_wav(tmp_path / "short.wav", tone(3.0, 48000, 500, channels=1), 48000),
             write_wav(tmp_path / "tiny.wav", tone(1.0, 16000, 800), 16000)]
    ours = PasstEmbedder(weights, batch_size=3)
    probs = ours.embed([ours.prepare(str(f)) for f in files])
    reference = build_passt(weights)  # hear21passt's PasstBasicWrapper(mode="logits") with the same weights
    for f, p in zip(files, probs):
        assert p.shape == (527,) and p.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(p, sam_return_probabilities(reference, f), rtol=1e-4, atol=1e-6)


def test_official_checkpoint_is_loaded_strictly(tmp_path, weights_dir):
    state = torch.load(weights_dir / "passt-s-f128-p16-s10-ap.476-swa.pt", weights_only=True)
    state.pop("head.1.weight")
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(RuntimeError, match="head.1.weight"):
        build_passt(tmp_path / "broken.pt")
