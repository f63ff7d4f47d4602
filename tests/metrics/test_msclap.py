"""MS-CLAP (2022 and 2023) beside the reference package ``msclap`` 1.3.4, both on the same random-weight checkpoint in
the official format (``{'model': state dict}``) and the same offline tokenizer folders.

The reference runs unmodified except where it would reach the network or a decoder this environment lacks: its
``AutoModel.from_pretrained(name)`` builds the published BERT / GPT-2 configuration, its
``AutoTokenizer.from_pretrained`` reads the local tokenizer folder (given back ``encode_plus``, which transformers 5
dropped: in 4.x it is ``__call__`` for one text), and its ``torchaudio.load`` reads with soundfile
(the same float32 samples torchaudio's soundfile backend returns)."""
from __future__ import annotations

import random
import zlib

import numpy as np
import pytest
import torch

from benchmarks.metric_peers import offline_msclap
from metrics.embedding.embedders.msclap import MsClapEmbedder, clips, release
from metrics.embedding.weights import REGISTRY
from sa_fixtures.clips import tone, write_wav
from sa_fixtures.random_weights import write_named

msclap = pytest.importorskip("msclap.CLAPWrapper", reason="MS-CLAP parity needs the reference package: "
                             "pip install --no-deps msclap==1.3.4 torchlibrosa")

TEXTS = ["a dog barking", "rain on a tin roof!", "x", "the sound is clear and clean. " * 3]
TOKENIZERS = {"2022": "bert-base-uncased", "2023": "gpt2"}


@pytest.fixture(scope="module", params=["2022", "2023"])
def pair(request, module_tmp):
    """(version, our embedder, msclap's CLAPWrapper, tokenizer folder) on one random-weight checkpoint."""
    version = request.param
    weights, tok_name = f"msclap-{version}", TOKENIZERS[version]
    paths = write_named(module_tmp, [weights, tok_name])
    ours = MsClapEmbedder(paths[weights], version=version, chunks="random-crop", seed=3, batch_size=2,
                          **{"bert_dir" if version == "2022" else "gpt2_dir": paths[tok_name]})
    ours.load()
    with offline_msclap(paths[tok_name]):
        ref = msclap.CLAPWrapper(model_fp=str(paths[weights]), version=version)
    yield version, ours, ref, paths
    paths[weights].unlink()


def reference_audio(ref, path, seed):
    """msclap's get_audio_embeddings for one file, its random crop drawn after ``random.seed`` of the number our
    embedder seeds its crop with (the file's resampled samples and the run seed)."""
    with offline_msclap(None):
        audio, _ = ref.read_audio(str(path), resample=True)
        random.seed(zlib.crc32(audio.reshape(-1).numpy().tobytes()) ^ seed)
        return ref.get_audio_embeddings([str(path)], resample=True)[0].numpy()


def test_audio_embeddings_match_msclap(tmp_path, pair):
    version, ours, ref, _ = pair
    files = [write_wav(tmp_path / "short.wav", tone(1.5, 48000, 300, channels=2), 48000),  # tiled, stereo
             write_wav(tmp_path / "mono.wav", tone(2.0, 22050, 700, channels=1), 22050),
             write_wav(tmp_path / "long.wav", tone(9.0, 44100, 500, channels=1), 44100)]  # a random crop
    got = ours.embed([ours.prepare(str(f)) for f in files])
    worst = 0.0
    for f, e in zip(files, got):
        assert e.shape == (1, 1024)
        theirs = reference_audio(ref, f, seed=3)
        np.testing.assert_allclose(e[0], theirs, atol=2e-4, rtol=0)
        worst = max(worst, float(np.abs(e[0] - theirs).max()))
    print(f"\nMS-CLAP {version} audio vs msclap: max abs diff {worst:.2e}")
    assert np.abs(got[0] - got[1]).max() > 1e-2  # the random network still tells inputs apart


def test_text_embeddings_and_similarity_match_msclap(tmp_path, pair):
    version, ours, ref, _ = pair
    text = ours.embed_text(TEXTS)
    # msclap stacks its padded texts, so a text longer than the padded length goes alone; ours takes any mix
    theirs = np.concatenate([ref.get_text_embeddings(TEXTS[:3]).numpy(), ref.get_text_embeddings(TEXTS[3:]).numpy()])
    np.testing.assert_allclose(text, theirs, atol=2e-4, rtol=0)
    print(f"\nMS-CLAP {version} text vs msclap: max abs diff {np.abs(text - theirs).max():.2e}")
    assert np.abs(text[0] - text[1]).max() > 1e-2
    f = write_wav(tmp_path / "a.wav", tone(1.0, 44100, 440, channels=1), 44100)
    audio = ours.embed([ours.prepare(str(f))])[0]
    a, t = audio / np.linalg.norm(audio, axis=1, keepdims=True), text / np.linalg.norm(text, axis=1, keepdims=True)
    ref_sim = ref.compute_similarity(torch.from_numpy(audio), torch.from_numpy(text)).detach().numpy()
    np.testing.assert_allclose(ours.logit_scale() * a @ t.T, ref_sim, atol=2e-3, rtol=1e-5)


@pytest.mark.parametrize("n", [1, 100, 44100 * 7, 44100 * 7 + 1, 44100 * 15, 44100 * 21])
def test_clips_tile_short_audio_and_cover_long_audio(n):
    x = np.arange(n, dtype=np.float32)
    c = clips(x, 44100 * 7, "pam")
    L = 44100 * 7
    if n <= L:
        assert c.shape == (1, L) and np.array_equal(c[0], np.resize(x, L))
    else:
        assert c.shape == (-(-n // L), L) and np.array_equal(c[-1], x[-L:])
        assert np.array_equal(c[:n // L].reshape(-1), x[:n // L * L])
    crop = clips(x, L, "random-crop", random.Random(1))
    assert crop.shape == (1, L) and (n <= L or crop[0, 0] == random.Random(1).randrange(n - L))


def test_missing_tokenizer_and_wrong_checkpoint_are_one_line_errors(tmp_path, pair):
    version, ours, _, paths = pair
    e = MsClapEmbedder(paths[f"msclap-{version}"], version=version, model=ours.load())
    with pytest.raises(ValueError, match="--bert-dir|--gpt2-dir"):
        e.embed_text(["a"])
    other = "2023" if version == "2022" else "2022"
    wrong = MsClapEmbedder(paths[f"msclap-{version}"], version=other)
    with pytest.raises(ValueError) as err:
        wrong.load()
    assert "\n" not in str(err.value) and f"MS-CLAP {other} checkpoint" in str(err.value)
    assert release(version).weights in REGISTRY
