import librosa
import numpy as np
import pytest
import torch

from metrics.embedding.embedders.passt import PasstEmbedder, build_passt, passt_signal, passt_windows
from metrics.embedding.pipeline import embed_files
from sa_fixtures.clips import tone, write_wav
from sa_util.audio import AudioError

PASST_PT = "passt-s-f128-p16-s10-ap.476-swa.pt"


@pytest.fixture(scope="module")
def passt(weights_dir):
    e = PasstEmbedder(weights_dir / PASST_PT, batch_size=4)
    e.load()
    return e


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
    audio = audio * (10 ** (-1 / 20) / float(np.abs(audio).max()))  # float64 gain, as under numpy 1.x
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
    state = torch.load(weights_dir / PASST_PT, weights_only=True)
    state.pop("head.1.weight")
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match=r"broken.pt: 1 missing keys \(head.1.weight\); expected the PaSST-S"):
        build_passt(tmp_path / "broken.pt")


def test_damaged_or_wrong_checkpoints_are_one_line_errors(tmp_path, weights_dir):
    (tmp_path / "cut.pt").write_bytes((weights_dir / PASST_PT).read_bytes()[:1 << 20])  # an interrupted download
    torch.save({"epoch": 3, "state_dict": {"module.x": torch.zeros(2)}}, tmp_path / "other.pt")  # another model
    for name, reason in [("cut.pt", "not a readable PyTorch checkpoint"), ("other.pt", "not a")]:
        with pytest.raises(ValueError) as err:
            build_passt(tmp_path / name)
        message = str(err.value)
        assert "\n" not in message and message.startswith(str(tmp_path / name)) and reason in message
        assert message.endswith("expected the PaSST-S SWA AudioSet state dict passt-s-f128-p16-s10-ap.476-swa.pt")


@pytest.mark.parametrize("samples, sr", [(1, 44100), (10, 44100), (4410, 44100), (6615, 44100), (4800, 32000)])
def test_too_short_for_passt_is_a_reason_not_a_crash(tmp_path, samples, sr, passt):
    """hear21passt raised on anything under 4801 samples at 32 kHz and took the whole run down with it."""
    path = write_wav(tmp_path / "short.wav", tone(samples / sr, sr), sr)
    with pytest.raises(AudioError, match=r"s: shorter than PaSST's minimum of 0.150 s \(4801 samples at 32 kHz\)"):
        passt.prepare(str(path))


def test_shortest_accepted_inputs_run_and_short_files_cost_only_themselves(tmp_path, passt):
    shortest = [write_wav(tmp_path / "a.wav", tone(4801 / 32000, 32000), 32000),
                write_wav(tmp_path / "b.wav", tone(6616 / 44100, 44100), 44100)]  # ceil(6616 * 32/44.1) = 4801
    short = [write_wav(tmp_path / f"{n}.wav", tone(n / 44100), 44100) for n in (1, 10, 4410)]  # 100 ms
    normal = write_wav(tmp_path / "normal.wav", tone(1.2, 44100), 44100)
    res = embed_files(passt, [str(p) for p in shortest + short + [normal]], workers=0, files_per_batch=8)
    assert sorted(res.outputs) == sorted(str(p) for p in shortest + [normal])
    assert all(np.isfinite(p).all() and p.sum() == pytest.approx(1.0, abs=1e-5) for p in res.outputs.values())
    assert sorted(res.skipped) == sorted(str(p) for p in short)
    assert all("shorter than PaSST's minimum" in reason for reason in res.skipped.values())


def test_prepared_signal_holds_each_sample_once():
    x = np.ones(60 * 32000, np.float32)  # 60 s: 11 windows of 10 s overlapping by half
    assert passt_signal(x).nbytes < 1.1 * x.nbytes and passt_windows(x).shape == (11, 320000)


def test_fused_attention_is_hear21passt_attention():
    from hear21passt.models.passt import Attention

    from metrics.embedding.embedders.passt import FusedAttention

    torch.manual_seed(0)
    attn = Attention(768, num_heads=12, qkv_bias=True).eval()
    x = torch.randn(3, 200, 768)
    with torch.no_grad():
        torch.testing.assert_close(FusedAttention(attn)(x), attn(x), rtol=1e-5, atol=1e-6)
