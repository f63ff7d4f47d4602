"""VGGish: our port against the torchvggish package's own input pipeline and network, on random weights written
under the official file names (torchvggish reads them through its own torch.hub loader, with downloads blocked).

Reference package: ``pip install --no-deps torchvggish==0.2`` (its deps numpy, torch, resampy are the project's);
the tests that need it skip without it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from benchmarks import metric_peers as peers
from metrics.scores.distances import GaussianStats, frechet_distance
from sa_util.audio import AudioError
from metrics.embedding.embedders.vggish import (PRESETS, VGGishConfig, VGGishEmbedder, VGGishNet, htk_mel_matrix,
                                      load_pca_params, load_vggish_weights, log_mel_examples, prepare_examples)
from metrics.embedding.pipeline import embed_files
from metrics.embedding.weights import REGISTRY, MissingWeights, resolve
from sa_fixtures.random_weights import write_vggish_pca_pth, write_vggish_pth

WEIGHTS = REGISTRY["vggish"].filename
PCA = REGISTRY["vggish-pca"].filename
AWKWARD_SECONDS = (0.5, 0.96, 0.97, 1.93, 3.3)
RATES = (16000, 22050, 44100, 48000)


def needs_torchvggish():
    return pytest.importorskip("torchvggish", reason="reference package absent: pip install --no-deps "
                                                     "torchvggish==0.2")


def music_like(seconds: float, sr: int, channels: int, seed: int) -> np.ndarray:
    """``[T, C]``: a few decaying partials over coloured noise, different per seed, peak about 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    x = np.zeros((len(t), channels))
    for _ in range(4):
        f0, onset = rng.uniform(80, 3000), rng.uniform(0, 0.3)
        env = np.exp(-rng.uniform(0.5, 6) * np.maximum(t - onset, 0)) * (t >= onset)
        for c in range(channels):
            x[:, c] += rng.uniform(0.05, 0.3) * env * np.sin(2 * np.pi * f0 * (1 + 0.01 * c) * t + rng.uniform(0, 6))
    noise = np.cumsum(rng.standard_normal((len(t), channels)), 0) * rng.uniform(1e-4, 1e-3)
    x += noise - noise.mean(0)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def write_set(folder: Path, items: list[tuple[float, int, int]], seed: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (seconds, sr, channels) in enumerate(items):
        path = folder / f"{i:02d}_{seconds}s_{sr}Hz_{channels}ch.wav"
        sf.write(str(path), music_like(seconds, sr, channels, seed + i), sr, subtype="PCM_16")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def official(module_tmp: Path) -> Path:
    """A torch.hub checkpoints folder holding random weights under the official names."""
    folder = module_tmp / "hub"
    (folder / "checkpoints").mkdir(parents=True)
    write_vggish_pth(folder / "checkpoints" / WEIGHTS, seed=0)
    write_vggish_pca_pth(folder / "checkpoints" / PCA, seed=0)
    return folder / "checkpoints"


hub_offline = peers.hub_offline  # torch.hub reads from a folder and may not download


@pytest.fixture(scope="module")
def reference(official: Path) -> dict[str, torch.nn.Module]:
    """torchvggish's own model, reading the official-name files through its hub URLs (downloads blocked):
    ``relu`` as the package builds it, ``fad`` with the last ReLU dropped as fadtk / frechet-audio-distance do.
    Both hold the PCA post-processor; ``run_reference(..., pca=...)`` switches it."""
    tv = needs_torchvggish()
    with hub_offline(official.parent):
        relu = tv.vggish(postprocess=True).eval()
    fad = copy.copy(relu)  # shares the loaded parameters; its own module table, so relu keeps its ReLU
    fad._modules = dict(relu._modules)
    fad.embeddings = torch.nn.Sequential(*list(relu.embeddings.children())[:-1])
    return {"relu": relu, "fad": fad}


@torch.no_grad()
def run_reference(model: torch.nn.Module, examples: torch.Tensor, pca: bool = False) -> np.ndarray:
    if len(examples) == 0:
        return np.zeros((0, 128), np.float32)
    model.postprocess = pca
    try:
        return model(examples.detach()).reshape(len(examples), -1).numpy()
    finally:
        model.postprocess = False


def meta_net() -> VGGishNet:
    """Architecture only (no 72M-parameter random init); loading assigns the file's tensors."""
    with torch.device("meta"):
        return VGGishNet()


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the largest |b| (per-element relative error blows up near zero)."""
    return float(np.abs(a - b).max() / np.abs(b).max())


# ------------------------------------------------------------------------------------------------------------
# front-end


@pytest.mark.parametrize("length, n", [(15599, 0), (15600, 1), (30959, 1), (30960, 2), (16000 * 10, 10)])
def test_example_count_is_whole_96_frame_blocks(length, n):
    x = np.random.default_rng(0).standard_normal(length)
    assert log_mel_examples(x).shape == (n, 96, 64)


def test_mel_matrix_and_examples_match_torchvggish():
    tv = needs_torchvggish()
    ref = tv.mel_features.spectrogram_to_mel_matrix(num_mel_bins=64, num_spectrogram_bins=257,
                                                    audio_sample_rate=16000, lower_edge_hertz=125,
                                                    upper_edge_hertz=7500)
    np.testing.assert_allclose(htk_mel_matrix(), ref, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(1)
    for length in (15600, 31999, 52800):
        x = 0.3 * rng.standard_normal(length)
        ours = log_mel_examples(x)
        theirs = tv.vggish_input.waveform_to_examples(x, 16000, return_tensor=False)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-5)


def test_prepare_pads_quantises_and_rejects_too_short():
    x = np.full((2, 8000), 0.25, np.float32)  # 0.5 s stereo at 16 kHz
    assert prepare_examples(x, 16000, PRESETS["fadtk"]).shape == (1, 96, 64)  # padded to 1 s
    with pytest.raises(AudioError, match=r"too short for VGGish: 8000 samples at 16 kHz, one 0.96 s example needs 15600 "):
        prepare_examples(x, 16000, PRESETS["frechet-audio-distance"])
    loud = np.full((1, 16000), 1.5, np.float32)  # overs clip in the 16-bit step, as in fadtk's wav cache
    clipped = prepare_examples(loud, 16000, PRESETS["fadtk"])
    np.testing.assert_allclose(clipped, prepare_examples(np.full((1, 16000), 32767 / 32768, np.float32), 16000,
                                                         VGGishConfig(pcm16=False)), rtol=1e-6)


# ------------------------------------------------------------------------------------------------------------
# weights and network


def test_official_files_load_in_torchvggish_and_here(official, reference):
    ours = meta_net()
    load_vggish_weights(ours, official / WEIGHTS)
    for key, value in reference["relu"].state_dict().items():  # torchvggish loaded the same file strictly
        assert torch.equal(value, ours.state_dict()[key]), key
    pca = load_pca_params(official / PCA)
    np.testing.assert_array_equal(pca.eigen_vectors.numpy(), reference["relu"].pproc._pca_matrix.numpy())
    np.testing.assert_array_equal(pca.means.numpy(), reference["relu"].pproc._pca_means.numpy())


@pytest.mark.parametrize("activation, pca", [(False, False), (True, False), (True, True), (False, True)])
def test_network_variants_match_torchvggish(official, reference, activation, pca):
    examples = np.concatenate([log_mel_examples(music_like(1.0, 16000, 1, s)[:, 0]) for s in range(3)])
    embedder = VGGishEmbedder(official / WEIGHTS, batch_size=2,
                              config=VGGishConfig(activation=activation, pca=pca, float16=False))
    ours = np.concatenate(embedder.embed([examples[:1], examples[1:]]))
    theirs = run_reference(reference["relu" if activation else "fad"], torch.from_numpy(examples)[:, None], pca)
    if pca:  # 8-bit codes: a float-rounding tie may flip one code by one step
        assert np.abs(ours - theirs).max() <= 1 and (ours != theirs).mean() < 0.01
        assert ((ours > 0) & (ours < 255)).mean() > 0.5, "random PCA saturates: the test would be vacuous"
    else:
        assert max_rel_diff(ours, theirs) < 1e-5
        assert (ours < 0).any() != activation  # the final ReLU is there exactly when asked for


def test_errors_name_the_file_and_where_it_comes_from(tmp_path, official):
    with pytest.raises(MissingWeights, match=r"vggish-10086976\.pth.*torchvggish/releases.*--vggish-weights"):
        resolve("vggish", tmp_path / WEIGHTS)  # what a run resolves before it builds the embedder
    with pytest.raises(MissingWeights, match=r"vggish_pca_params-970ea276\.pth.*--vggish-pca"):
        resolve("vggish-pca", tmp_path / PCA)
    with pytest.raises(ValueError, match=r"vggish-10086976\.pth: not a readable PyTorch checkpoint"):
        VGGishEmbedder(tmp_path / WEIGHTS).load()  # an embedder takes resolved paths: a missing one is named
    no_pca = VGGishEmbedder(official / WEIGHTS, config=VGGishConfig(pca=True), pca_path=tmp_path / PCA)
    with pytest.raises(ValueError, match=r"vggish_pca_params-970ea276\.pth: not a readable PyTorch checkpoint"):
        no_pca.load()
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a readable PyTorch checkpoint"):
        load_vggish_weights(meta_net(), tmp_path / "junk.pth")
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="expected the torchvggish state dict"):
        load_vggish_weights(meta_net(), tmp_path / "other.pth")
    with pytest.raises(ValueError, match="expected pca_eigen_vectors"):
        load_pca_params(tmp_path / "other.pth")
    with pytest.raises(ValueError, match="unknown VGGish preset 'tf'"):
        VGGishEmbedder(official / WEIGHTS, config="tf")
    with pytest.raises(ValueError, match="unknown resampler"):
        VGGishConfig(resampler="sox")


def test_variants_get_distinct_names_and_cache_keys(official):
    plain = VGGishEmbedder(official / WEIGHTS)
    pca = VGGishEmbedder(official / WEIGHTS, config=VGGishConfig(pca=True))
    fad = VGGishEmbedder(official / WEIGHTS, config="frechet-audio-distance")
    assert (plain.name, pca.name) == ("vggish", "vggish-pca")
    assert len({plain.cache_key(), pca.cache_key(), fad.cache_key()}) == 3
    assert pca.pca_path == official / PCA and "+" in pca.weights_id()


# ------------------------------------------------------------------------------------------------------------
# whole pipeline on a folder of awkward files (the acceptance check)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("audio")
    awkward = [(s, sr, 1 + (i + j) % 2) for i, s in enumerate(AWKWARD_SECONDS) for j, sr in enumerate(RATES)]
    evaluated = awkward + [(13.5, 16000, 2)]
    reference = [(10.3, 48000, 2), (9.8, 16000, 1), (10.9, 16000, 1)]
    return {"evaluated": write_set(root / "evaluated", evaluated, seed=100),
            "reference": write_set(root / "reference", reference, seed=200)}


def pooled_fd(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    stats = []
    for frames in (a, b):
        s = GaussianStats(128)
        for f in frames:
            s.update(f)
        stats.append(s)
    return frechet_distance(stats[0].mean, stats[0].cov, stats[1].mean, stats[1].cov)


def test_frechet_audio_distance_preset_matches_torchvggish_on_awkward_files(official, reference, folders):
    tv = needs_torchvggish()
    model = reference["fad"]
    # batch_size 16 and 6 files per embed call: device batches mix files and cut through them, and each file
    # is still compared with torchvggish run on that file alone
    embedder = VGGishEmbedder(official / WEIGHTS, batch_size=16, config="frechet-audio-distance")
    ours, theirs = {}, {}
    for name, paths in folders.items():
        result = embed_files(embedder, paths, workers=0, files_per_batch=6)
        # frechet-audio-distance's loading (float32 [T, C]); torchvggish takes the channel mean and resamples
        theirs[name] = {p: run_reference(model, tv.vggish_input.waveform_to_examples(*sf.read(p, dtype="float32")))
                        for p in paths}
        empty = {p for p, e in theirs[name].items() if len(e) == 0}
        assert set(result.skipped) == empty  # torchvggish yields nothing for < 0.975 s; we skip with a reason
        assert all("too short for VGGish" in r for r in result.skipped.values())
        ours[name] = result.outputs
    worst = max(max_rel_diff(ours[n][p], theirs[n][p]) for n in ours for p in ours[n])
    assert all(ours[n][p].shape == theirs[n][p].shape for n in ours for p in ours[n])
    assert worst < 1e-4, worst
    frames = {n: sum(len(e) for e in ours[n].values()) for n in ours}
    assert frames == {"evaluated": 16 + 14, "reference": 10 + 10 + 11}
    fd_ours = pooled_fd(list(ours["evaluated"].values()), list(ours["reference"].values()))
    fd_theirs = pooled_fd(list(theirs["evaluated"].values()), list(theirs["reference"].values()))
    assert fd_theirs > 1.0
    assert abs(fd_ours - fd_theirs) / fd_theirs < 1e-3, (fd_ours, fd_theirs)
    print(f"\nfrechet-audio-distance preset vs torchvggish: per-file max rel diff {worst:.2e}, "
          f"FD {fd_ours:.6f} vs {fd_theirs:.6f} (rel {abs(fd_ours - fd_theirs) / fd_theirs:.2e}), "
          f"frames {frames}")


def fadtk_reference_examples(path: str) -> torch.Tensor:
    """fadtk 1.1.0's steps, composed from torchaudio and torchvggish: channel mean, torchaudio Resample with
    fadtk's kaiser arguments, 16-bit wav round trip, zero-pad to 1 s, then torchvggish at fs=16000."""
    import torchaudio

    tv = needs_torchvggish()
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    x = torch.from_numpy(data.T).mean(0, keepdim=True)
    resampler = torchaudio.transforms.Resample(sr, 16000, lowpass_filter_width=64, rolloff=0.9475937167399596,
                                               resampling_method="sinc_interp_kaiser", beta=14.769656459379492)
    y = resampler(x)[0].numpy() if sr != 16000 else x[0].numpy()
    y = np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16) / 32768.0
    if len(y) < 16000:
        y = np.pad(y, (0, int(math.ceil(16000 - len(y)))))
    return tv.vggish_input.waveform_to_examples(y, 16000)


def test_fadtk_preset_matches_fadtk_steps_with_torchvggish(official, reference, folders):
    paths = folders["evaluated"][:len(AWKWARD_SECONDS) * len(RATES)]
    unrounded = VGGishEmbedder(official / WEIGHTS, batch_size=16, config=replace(PRESETS["fadtk"], float16=False))
    result = embed_files(unrounded, paths, workers=0, files_per_batch=7)
    assert not result.skipped  # short files are padded to 1 s
    for p in paths:
        theirs = run_reference(reference["fad"], fadtk_reference_examples(p))
        ours = result.outputs[p]
        assert ours.shape == theirs.shape and ours.shape[0] >= 1
        assert max_rel_diff(ours, theirs) < 1e-4, p
    stored = VGGishEmbedder(official / WEIGHTS)  # the default preset is fadtk's, float16 storage included
    assert stored.config == PRESETS["fadtk"]
    rounded = stored.embed([stored.prepare(paths[0])])[0]
    # the same one-file batch unrounded: a batch of other shape may differ in the last bit and flip a float16 rounding
    alone = unrounded.embed([unrounded.prepare(paths[0])])[0]
    assert not np.array_equal(rounded, alone)
    np.testing.assert_array_equal(rounded, alone.astype(np.float16).astype(np.float32))
