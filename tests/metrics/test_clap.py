import socket
import zlib

import librosa
import numpy as np
import pytest
import torch

from metrics.embedding.embedders.clap import ClapEmbedder, protocol_resize, seeded_numpy
from metrics.embedding.pipeline import embed_files
from sa_fixtures.clips import tone, write_wav
from sa_util.clap import load_clap_state_dict, load_tokenizer
from sa_util.state_dict import load_state_strict


@pytest.fixture(scope="module")
def clap(weights_dir):
    e = ClapEmbedder(weights_dir / "630k-audioset-fusion-best.pt", roberta_dir=weights_dir / "roberta-base",
                     batch_size=4, seed=7)
    e.load()
    return e


def sam_audio_embedding(module, path, seed):
    """stable-audio-metrics' clap_score audio side, one file, with laion_clap's own feature code and forward."""
    audio, _ = librosa.load(str(path), sr=48000, mono=True)
    # the gain in float64, as numpy 1.x (stable-audio-metrics' environment) computes a Python float over a float32
    # scalar; under numpy 2's scalar rules it would be float32 and move samples by one int16 step
    audio = audio * (10 ** (-1 / 20) / float(np.abs(audio).max()))
    audio = (np.clip(audio, -1, 1) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0
    with seeded_numpy(zlib.crc32(audio.tobytes()) ^ seed), protocol_resize():  # torchvision 0.16 behaviour
        with torch.no_grad():
            return module.get_audio_embedding_from_data(x=torch.from_numpy(audio)[None], use_tensor=True)[0].numpy()


def test_audio_matches_laion_clap_reference(tmp_path, clap):
    files = [write_wav(tmp_path / "short.wav", tone(4.0, 44100, 300)),
             write_wav(tmp_path / "long.wav", tone(13.5, 44100, 600)),  # > 10 s: fusion crops
             write_wav(tmp_path / "ten.wav", tone(10.0, 48000, 900, channels=1), 48000)]
    ours = clap.embed([clap.prepare(str(f)) for f in files])
    for f, e in zip(files, ours):
        assert e.shape == (512,) and np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(e, sam_audio_embedding(clap.load(), f, seed=7), atol=2e-5)


def test_scores_are_reproducible_and_leave_global_rng_alone(tmp_path, clap):
    f = write_wav(tmp_path / "long.wav", tone(14.0, 44100, 440))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = clap.embed([clap.prepare(str(f))])[0]
    assert np.array_equal(np.random.get_state()[1], before)
    b = clap.embed([clap.prepare(str(f))])[0]
    np.testing.assert_array_equal(a, b)


def test_text_embedding_matches_reference(clap):
    texts = ["a dog barking", "rain on a tin roof", "x"]
    ours = clap.embed_text(texts)
    with torch.no_grad():
        ref = clap.load().get_text_embedding(texts, use_tensor=True).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert ours.shape == (3, 512)


def test_building_never_touches_the_network(monkeypatch, weights_dir):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    e = ClapEmbedder(weights_dir / "630k-audioset-fusion-best.pt", roberta_dir=weights_dir / "roberta-base")
    assert e.load() is not None


def test_empty_tokenizer_is_refused(tmp_path):
    from transformers import RobertaTokenizer

    RobertaTokenizer(vocab={"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}, merges=[]).save_pretrained(
        str(tmp_path))
    with pytest.raises(ValueError, match="is empty"):
        load_tokenizer(tmp_path)


def test_protocol_resize_is_torchvision_016_bilinear_without_antialias():
    import torchvision.transforms as transforms

    mel = torch.rand(1, 1500, 64)
    with protocol_resize():
        ours = transforms.Resize([1001, 64])(mel)
    ref = torch.nn.functional.interpolate(mel[None], size=(1001, 64), mode="bilinear", align_corners=False,
                                          antialias=False)[0]
    torch.testing.assert_close(ours, ref)
    assert not torch.allclose(transforms.Resize([1001, 64])(mel), ref)  # today's default differs; patch undone


def test_short_files_are_embedded(tmp_path, clap):
    """CLAP repeat-pads any input: 1 sample, 10 samples and 100 ms give finite unit embeddings."""
    files = [str(write_wav(tmp_path / f"{n}.wav", tone(n / 44100), 44100)) for n in (1, 10, 4410)]
    res = embed_files(clap, files, workers=0)
    assert not res.skipped and sorted(res.outputs) == sorted(files)
    assert all(np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5) for e in res.outputs.values())


def test_damaged_or_wrong_checkpoints_are_one_line_errors(tmp_path, weights_dir, clap):
    (tmp_path / "cut.pt").write_bytes((weights_dir / "630k-audioset-fusion-best.pt").read_bytes()[:1 << 20])
    with pytest.raises(ValueError, match=r"cut.pt: not a readable PyTorch checkpoint \(.*\); expected x$"):
        load_clap_state_dict(tmp_path / "cut.pt", "x")
    torch.save({"state_dict": {"module.head.weight": torch.zeros(3)}}, tmp_path / "other.pt")  # another model's
    with pytest.raises(ValueError) as err:
        load_state_strict(clap.load().model, load_clap_state_dict(tmp_path / "other.pt"), tmp_path / "other.pt", "x")
    assert "\n" not in str(err.value) and "missing keys" in str(err.value) and "1 unexpected keys (head.weight)" in \
        str(err.value)
