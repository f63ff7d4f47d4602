"""PANNs CNN14 (audioldm_eval protocol): front-end, checkpoint loading, and parity with audioldm_eval 0.0.3 on
random weights in the official layout.

The reference tests need ``pip install --no-deps audioldm_eval==0.0.3`` (its full requirements do not resolve
here; the parts compared against need only torch, torchaudio, torchlibrosa, numpy, scipy) and skip without it.

``python -m tests.metrics.test_panns [--files N] [--sample-rate 16000|32000] [--fd-dims D]`` prints the parity
figures (max relative differences of waveforms, embeddings, logits, FD, KL softmax/sigmoid, IS).
"""
from __future__ import annotations

import json
import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import metric_peers as peers
from sa_util.audio import AudioError
from metrics.scores.distances import (GaussianStats, frechet_distance, inception_score, kl_audioldm)
from metrics.embedding.embedders.panns import (CONFIGS, Cnn14, LogMel, OUTPUT_DIM, PannsEmbedder, PowerSpectrogram,
                                     dft_kernels, load_cnn14, prepare_panns, read_state_dict, split_output)
from metrics.embedding.weights import MissingWeights, resolve
from sa_fixtures.clips import tone, write_wav
from sa_fixtures.random_weights import write_panns_pth



# ------------------------------------------------------------------------------------------------------------
# The reference


def audioldm_eval_module(name: str) -> types.ModuleType:
    """``audioldm_eval.<name>`` without its package ``__init__`` (:func:`benchmarks.metric_peers.audioldm_eval_module`);
    skips the test when audioldm_eval is not installed."""
    try:
        return peers.audioldm_eval_module(name)
    except peers.ReferenceMissing as exc:
        pytest.skip(f"{exc} (reference for the parity tests)")


torchaudio_load_via_soundfile = peers.torchaudio_load_via_soundfile


class Reference:
    """audioldm_eval 0.0.3's CNN14 path: ``WaveDataset`` loading, one file per forward, its KL / IS / FD code."""

    def __init__(self, weights: Path, sample_rate: int, workdir: Path):
        self.sample_rate = sample_rate
        self.load_mel = audioldm_eval_module("datasets.load_mel")
        models = audioldm_eval_module("feature_extractors.panns.models")
        self.kl = audioldm_eval_module("metrics.kl")
        self.isc = audioldm_eval_module("metrics.isc")
        self.fid = audioldm_eval_module("metrics.fid")
        # It reads ./ckpt/Cnn14_16k_mAP=0.438.pth or ./ckpt/Cnn14_mAP=0.431.pth, and runs wget unless the 32 kHz
        # file exists: both names are present (the unused one is a link to the other).
        ckpt = workdir / "ckpt"
        ckpt.mkdir(parents=True, exist_ok=True)
        for name in ("Cnn14_16k_mAP=0.438.pth", "Cnn14_mAP=0.431.pth"):
            (ckpt / name).unlink(missing_ok=True)
            (ckpt / name).symlink_to(weights.resolve())
        cfg = CONFIGS[sample_rate]
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            self.model = models.Cnn14(features_list=["2048", "logits"], sample_rate=sample_rate,
                                      window_size=cfg.n_fft, hop_size=cfg.hop, mel_bins=cfg.mel_bins, fmin=cfg.fmin,
                                      fmax=cfg.fmax, classes_num=cfg.classes).eval()
        finally:
            os.chdir(cwd)

    def waveform(self, path: Path) -> torch.Tensor:
        with torchaudio_load_via_soundfile():
            return self.load_mel.WaveDataset(str(path.parent), self.sample_rate).read_from_file(str(path))  # [1, T]

    @torch.no_grad()
    def features(self, folder: Path) -> dict:
        """EvaluationHelper.get_featuresdict: sorted files, batch of one, outputs concatenated."""
        dataset = self.load_mel.WaveDataset(str(folder), self.sample_rate)
        outs = {"2048": [], "logits": [], "file_path_": []}
        for i in range(len(dataset)):
            with torchaudio_load_via_soundfile():
                waveform, name = dataset[i]
            out = self.model(waveform.float())  # [1, T]
            outs["2048"].append(out["2048"])
            outs["logits"].append(out["logits"])
            outs["file_path_"].append(name)
        return {"2048": torch.cat(outs["2048"]), "logits": torch.cat(outs["logits"]),
                "file_path_": outs["file_path_"]}


# ------------------------------------------------------------------------------------------------------------
# Fixtures


def write_set(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` short synthetic clips at mixed rates / channel counts; names shared between the gen and ref sets."""
    rates = [16000, 44100, 16000, 48000, 22050, 16000, 32000, 16000]
    files = []
    for i in range(n):
        sr = rates[i % len(rates)]
        seconds = 2.0 if sr == 16000 else 1.2 + 0.3 * (i % 3)  # equal 16 kHz lengths share device batches
        data = tone(seconds, sr, freq=150.0 * (1 + i) + 40.0 * seed, channels=1 + i % 2, amp=0.1 + 0.05 * i,
                    seed=seed * 100 + i)
        data[:, 0] += 0.05 * (i % 3)  # a DC offset the loader must remove
        files.append(write_wav(folder / f"clip_{i:02d}.wav", data, sr, subtype="PCM_16" if i % 3 == 0 else "FLOAT"))
    return files


@pytest.fixture(scope="module")
def reference_installed() -> None:
    """Skips at once when audioldm_eval is missing (list it before the fixtures that build models)."""
    audioldm_eval_module("metrics.kl")


@pytest.fixture(scope="module")
def weights16(weights_dir: Path) -> Path:
    """The session's random 16 kHz CNN14 (seed 0), written once for every test that needs it."""
    from metrics.embedding.weights import REGISTRY

    return weights_dir / REGISTRY["panns-cnn14-16k"].filename


@pytest.fixture(scope="module")
def model16(weights16: Path) -> Cnn14:
    return load_cnn14(weights16, CONFIGS[16000])


# ------------------------------------------------------------------------------------------------------------
# Front-end and layout (no reference package needed beyond torchlibrosa, which laion-clap installs)


@pytest.mark.parametrize("sample_rate", [16000, 32000])
def test_frontend_equals_torchlibrosa(sample_rate):
    stft = pytest.importorskip("torchlibrosa.stft", reason="torchlibrosa (a laion-clap dependency) not installed")
    cfg = CONFIGS[sample_rate]
    spec = stft.Spectrogram(n_fft=cfg.n_fft, hop_length=cfg.hop, win_length=cfg.n_fft, window="hann", center=True,
                            pad_mode="reflect", freeze_parameters=True)
    logmel = stft.LogmelFilterBank(sr=sample_rate, n_fft=cfg.n_fft, n_mels=cfg.mel_bins, fmin=cfg.fmin,
                                   fmax=cfg.fmax, ref=1.0, amin=1e-10, top_db=None, freeze_parameters=True)
    power, mel = PowerSpectrogram(cfg.n_fft, cfg.hop), LogMel(cfg)
    real, imag = dft_kernels(cfg.n_fft)
    np.testing.assert_allclose(real, spec.stft.conv_real.weight.numpy(), atol=1e-6)
    np.testing.assert_allclose(imag, spec.stft.conv_imag.weight.numpy(), atol=1e-6)
    np.testing.assert_allclose(mel.melW.numpy(), logmel.melW.numpy(), rtol=1e-5, atol=1e-8)
    x = torch.from_numpy(tone(1.3, sample_rate, 700.0, channels=2)[:, 0].copy())[None]  # [1, T]
    want = logmel(spec(x))  # [1, 1, frames, 64]
    got = mel(power(x))
    assert got.shape == want.shape == (1, 1, 1 + x.shape[1] // cfg.hop, 64)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)  # dB (measured 4e-6: kernel rounding)


def test_state_dict_has_the_official_key_layout():
    with torch.device("meta"):
        keys = Cnn14(CONFIGS[16000]).state_dict()
    for k in ("spectrogram_extractor.stft.conv_real.weight", "spectrogram_extractor.stft.conv_imag.weight",
              "logmel_extractor.melW", "bn0.running_var", "conv_block1.conv1.weight", "conv_block6.bn2.weight",
              "fc1.bias", "fc_audioset.weight"):
        assert k in keys
    assert keys["fc_audioset.weight"].shape == (527, 2048)
    assert keys["spectrogram_extractor.stft.conv_real.weight"].shape == (257, 1, 512)


def test_split_output_layout():
    out = np.arange(2 * OUTPUT_DIM, dtype=np.float32).reshape(2, OUTPUT_DIM)
    emb, logits = split_output(out)
    assert emb.shape == (2, 2048) and logits.shape == (2, 527) and logits[0, 0] == 2048
    with pytest.raises(ValueError, match="2575"):
        split_output(np.zeros((3, 2048)))


# ------------------------------------------------------------------------------------------------------------
# Loading and errors


def front_end_state(sample_rate: int) -> dict[str, torch.Tensor]:
    """The STFT kernels and mel matrix under their checkpoint keys (a small, incomplete CNN14 state dict)."""
    cfg = CONFIGS[sample_rate]
    return {**{f"spectrogram_extractor.{k}": v for k, v in PowerSpectrogram(cfg.n_fft, cfg.hop).state_dict().items()},
            **{f"logmel_extractor.{k}": v for k, v in LogMel(cfg).state_dict().items()}}


def test_prepare_first_channel_dc_removed_resampled_and_padded(tmp_path):
    sr = 44100
    left = tone(0.5, sr, 300.0, channels=1)[:, 0] + 0.2
    data = np.stack([left, np.zeros_like(left) + 0.3], 1)
    x = prepare_panns(write_wav(tmp_path / "a.wav", data, sr), 16000)
    assert x.dtype == np.float32 and x.shape == (32000,)  # 0.5 s -> 8000 samples, zero-padded to 32000
    assert abs(x[:8000].mean()) < 1e-3 and np.abs(x[8100:]).max() == 0.0  # DC gone, right channel ignored
    long = prepare_panns(write_wav(tmp_path / "b.wav", tone(2.5, 32000, channels=1), 32000), 16000)
    assert long.shape == (40000,)


def test_prepare_rejects_silent_and_unreadable_files(tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros((16000, 1), np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        prepare_panns(silent, 16000)
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(AudioError, match="unreadable"):
        prepare_panns(tmp_path / "junk.wav", 16000)


def test_checkpoint_errors_are_one_line(tmp_path, weights16):
    with pytest.raises(ValueError, match=r"pick that sample rate") as err:
        load_cnn14(weights16, CONFIGS[32000])  # the 16 kHz file for the 32 kHz model
    assert "\n" not in str(err.value) and "16000 Hz model" in str(err.value)
    torch.save({"model": front_end_state(16000)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"missing keys \(.*bn0.bias"):
        load_cnn14(tmp_path / "partial.pth", CONFIGS[16000])
    (tmp_path / "junk.pth").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="junk.pth: not a readable PyTorch checkpoint.*expected a PANNs checkpoint"):
        load_cnn14(tmp_path / "junk.pth", CONFIGS[16000])
    with pytest.raises(MissingWeights, match="Cnn14_16k_mAP=0.438.pth.*zenodo.*--panns-weights"):
        resolve("panns-cnn14-16k", tmp_path / "Cnn14_16k_mAP=0.438.pth")  # what a run resolves first
    with pytest.raises(ValueError, match="nowhere.pth: not a readable PyTorch checkpoint"):
        PannsEmbedder(tmp_path / "nowhere.pth").build()


def test_training_checkpoint_extras_with_numpy_load_under_weights_only(tmp_path):
    """Official training checkpoints may hold sampler state (numpy arrays, numpy ints) beside 'model'."""
    front = front_end_state(16000)
    ckpt = {"iteration": np.int64(300000), "model": front,
            "sampler": {"indexes_per_class": [np.arange(5), np.arange(3)], "pointer": np.int64(7)}}
    torch.save(ckpt, tmp_path / "train.pth")
    state = read_state_dict(tmp_path / "train.pth")
    assert set(state) == set(front)


def test_embed_groups_equal_lengths_and_matches_one_file_batches(tmp_path, weights16, model16):
    files = [write_wav(tmp_path / f"{i}.wav", tone(s, 16000, 200.0 * (i + 1), channels=1, seed=i), 16000)
             for i, s in enumerate([2.0, 2.5, 2.0, 1.0])]  # 2.0 s and 1.0 s (padded to 2.0 s) share a batch
    emb = PannsEmbedder(weights16, batch_size=8, model=model16)
    prepared = [emb.prepare(str(f)) for f in files]
    together = emb.embed(prepared)
    alone = [emb.embed([p])[0] for p in prepared]
    for a, b in zip(together, alone):  # batched convolutions round differently: ~1e-6 of the largest output
        assert a.shape == (OUTPUT_DIM,) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5 * np.abs(b).max())
    assert np.abs(together[0] - together[2]).max() > 1e-3  # different files, different outputs


def test_settings_name_and_cache_key_differ_by_model_rate(weights16):
    a, b = PannsEmbedder(weights16), PannsEmbedder(weights16, sample_rate=32000)
    assert (a.name, a.sample_rate, b.name, b.sample_rate) == ("panns-cnn14-16k", 16000, "panns-cnn14-32k", 32000)
    assert a.settings() != b.settings() and a.cache_key() != b.cache_key()
    with pytest.raises(ValueError, match="16000 or 32000"):
        PannsEmbedder(weights16, sample_rate=44100)


# ------------------------------------------------------------------------------------------------------------
# Pure metrics


def test_kl_audioldm_matches_torch_kl_div_both_directions_and_kinds():
    rng = np.random.default_rng(0)
    gen, ref = rng.normal(0, 3, (7, 527)), rng.normal(0, 3, (7, 527))
    g, r = torch.from_numpy(gen), torch.from_numpy(ref)
    for kind, act in (("softmax", lambda t: t.softmax(1)), ("sigmoid", torch.sigmoid)):
        want = torch.nn.functional.kl_div((act(g) + 1e-6).log(), act(r), reduction="none").sum(1).numpy()
        np.testing.assert_allclose(kl_audioldm(gen, ref, kind), want, rtol=1e-10)
    assert kl_audioldm(ref, ref, "softmax").max() < 1e-4  # ~0 for identical inputs (eps aside)
    with pytest.raises(ValueError, match="kind"):
        kl_audioldm(gen, ref, "relu")


def test_inception_score_analytic_values():
    one_hot = np.full((4, 4), -1e4) + np.eye(4) * 2e4  # 4 confident, distinct classes
    assert inception_score(one_hot, splits=1).mean == pytest.approx(4.0)
    assert inception_score(np.zeros((6, 10)), splits=3).mean == pytest.approx(1.0)  # all uniform: 1
    with pytest.raises(ValueError, match="at least 10 files"):
        inception_score(np.zeros((5, 10)))


def test_kl_and_is_match_audioldm_eval_functions():
    kl, isc = audioldm_eval_module("metrics.kl"), audioldm_eval_module("metrics.isc")
    rng = np.random.default_rng(1)
    gen, ref = rng.normal(0, 3, (23, 527)).astype(np.float32), rng.normal(0, 3, (23, 527)).astype(np.float32)
    names = [f"f{i}.wav" for i in range(23)]
    order = rng.permutation(23)  # the generated set listed in another order: pairing is by name
    want, _, _ = kl.calculate_kl({"logits": torch.from_numpy(gen[order]), "file_path_": [names[i] for i in order]},
                                 {"logits": torch.from_numpy(ref), "file_path_": names}, "logits")
    for kind in ("softmax", "sigmoid"):
        got = kl_audioldm(gen, ref, kind).mean()
        assert got == pytest.approx(want[f"kullback_leibler_divergence_{kind}"], rel=1e-5)
    ref_is = isc.calculate_isc({"logits": torch.from_numpy(gen)}, "logits", rng_seed=2020, samples_shuffle=True,
                               splits=10)
    ours = inception_score(gen)
    assert ours.mean == pytest.approx(ref_is["inception_score_mean"], rel=1e-10)
    assert ours.std == pytest.approx(ref_is["inception_score_std"], rel=1e-8)


# ------------------------------------------------------------------------------------------------------------
# End-to-end parity with audioldm_eval


def parity(weights: Path, sample_rate: int, gen_dir: Path, ref_dir: Path, workdir: Path, *, is_splits: int,
           fd_dims: int | None) -> dict[str, float]:
    """Max relative differences, ours vs audioldm_eval, on the same files (gen and ref paired by name).

    FD over the first ``fd_dims`` embedding dimensions (None: all 2048; 0: no FD)."""
    reference = Reference(weights, sample_rate, workdir)
    theirs_gen, theirs_ref = reference.features(gen_dir), reference.features(ref_dir)
    ours = PannsEmbedder(weights, sample_rate=sample_rate, batch_size=4)
    out = {}
    for folder, theirs in ((gen_dir, theirs_gen), (ref_dir, theirs_ref)):
        files = sorted(folder.iterdir())
        prepared = [ours.prepare(str(f)) for f in files]
        emb, logits = split_output(np.stack(ours.embed(prepared)))
        out[folder] = emb, logits
        wave_rel = max(float(np.abs(p - reference.waveform(f)[0].numpy()).max()) for f, p in zip(files, prepared))
        out.setdefault("waveform_max_abs_diff", 0.0)
        out["waveform_max_abs_diff"] = max(out["waveform_max_abs_diff"], wave_rel)
        for key, mine in (("2048", emb), ("logits", logits)):
            want = theirs[key].numpy()
            rel = float(np.abs(mine - want).max() / np.abs(want).max())
            out[f"{key}_max_rel_diff"] = max(out.get(f"{key}_max_rel_diff", 0.0), rel)
    (gen_emb, gen_logits), (ref_emb, ref_logits) = out.pop(gen_dir), out.pop(ref_dir)

    def rel(a: float, b: float) -> float:
        return abs(a - b) / abs(b)

    kl_theirs, _, _ = reference.kl.calculate_kl(theirs_gen, theirs_ref, "logits")
    for kind in ("softmax", "sigmoid"):
        mine = float(kl_audioldm(gen_logits, ref_logits, kind).mean())
        out[f"kl_{kind}"] = mine
        out[f"kl_{kind}_rel_diff"] = rel(mine, kl_theirs[f"kullback_leibler_divergence_{kind}"])
    is_theirs = reference.isc.calculate_isc(theirs_gen, "logits", rng_seed=2020, samples_shuffle=True,
                                            splits=is_splits)
    mine_is = inception_score(gen_logits, splits=is_splits)
    out["is"] = mine_is.mean
    out["is_rel_diff"] = rel(mine_is.mean, is_theirs["inception_score_mean"])
    if fd_dims != 0:
        out["fd"], fd_theirs = fd_pair(reference, (gen_emb, ref_emb), (theirs_gen, theirs_ref), fd_dims)
        out["fd_rel_diff"] = rel(out["fd"], fd_theirs)
    return out


def fd_pair(reference: "Reference", ours: tuple[np.ndarray, np.ndarray], theirs: tuple[dict, dict],
            fd_dims: int | None) -> tuple[float, float]:
    """FD of gen against ref over the first ``fd_dims`` dimensions: ours, and audioldm_eval's on its features."""
    dims = slice(None, fd_dims)
    stats = []
    for e in ours:
        s = GaussianStats(e[:, dims].shape[1])
        s.update(e[:, dims])
        stats.append(s)
    cut = [{k: v[:, dims] if k == "2048" else v for k, v in t.items()} for t in theirs]
    return (frechet_distance(stats[0].mean, stats[0].cov, stats[1].mean, stats[1].cov),
            reference.fid.calculate_fid(cut[0], cut[1], "2048")["frechet_distance"])


def test_parity_with_audioldm_eval_16k(reference_installed, tmp_path, weights16):
    """Same files through audioldm_eval 0.0.3 and through ours (batched): embeddings, logits, KL (both), IS and
    FD agree. FD is over the first 4 embedding dims: with 6 files the 2048-d covariances are singular, and both
    sides reject sqrtm's complex result (scipy's sqrtm of a 2048 x 2048 matrix also takes about a minute)."""
    write_set(tmp_path / "gen", 6, seed=1)
    write_set(tmp_path / "ref", 6, seed=2)
    got = parity(weights16, 16000, tmp_path / "gen", tmp_path / "ref", tmp_path / "work", is_splits=3,
                 fd_dims=4)
    assert got["waveform_max_abs_diff"] < 1e-6
    assert got["2048_max_rel_diff"] < 1e-4 and got["logits_max_rel_diff"] < 1e-4
    assert got["kl_softmax"] > 0.01 and got["kl_sigmoid"] > 0.01 and got["is"] > 1.01, got  # not degenerate
    for key in ("kl_softmax_rel_diff", "kl_sigmoid_rel_diff", "is_rel_diff", "fd_rel_diff"):
        assert got[key] < 1e-4, (key, got[key])


def test_fd_by_hand_on_panns_equals_audioldm_eval_on_all_2048_dims(reference_installed, tmp_path, weights_dir,
                                                                    weights16):
    """``python -m metrics fd --model panns`` (the default protocol's FD moved to PANNs by hand) and the audioldm
    preset's FD both score the 2048-d embedding, as audioldm_eval's calculate_fid does: equal to it on 24 files a
    side, fewer files than dimensions (singular covariances).

    The session's random CNN14 gives embeddings about 20x larger than the released model's (variance ~350 per
    dimension); at that scale sqrtm's rounding leaves imaginary parts above the reference's absolute 1e-3 tolerance
    on singular covariances and audioldm_eval refuses. fc1 is scaled down to the released model's magnitude."""
    from metrics.__main__ import main

    state = torch.load(weights16, map_location="cpu", weights_only=True)
    for key in ("fc1.weight", "fc1.bias"):
        state["model"][key] = state["model"][key] * 0.05
    weights = tmp_path / weights16.name
    torch.save(state, weights)
    write_set(tmp_path / "gen", 24, seed=1)
    write_set(tmp_path / "ref", 24, seed=2)
    reference = Reference(weights, 16000, tmp_path / "work")
    want = reference.fid.calculate_fid(reference.features(tmp_path / "gen"), reference.features(tmp_path / "ref"),
                                       "2048")["frechet_distance"]
    common = ["--gen", str(tmp_path / "gen"), "--ref", str(tmp_path / "ref"), "--panns-weights", str(weights),
              "--weights-dir", str(weights_dir), "--cache-dir", str(tmp_path / "cache"), "--fd-bootstrap", "0", "--no-progress"]
    got = {}
    # the preset's "fd" kind is its two FDs: FD_panns (key fd) and FAD_vggish (key fad)
    for name, choice in (("by-hand", ["fd", "--model", "panns"]), ("preset", ["fd", "--protocol", "audioldm"])):
        assert main([*choice, *common, "--out", str(tmp_path / f"{name}.json")]) == 0
        got[name] = json.loads((tmp_path / f"{name}.json").read_text())["metrics"]["fd"]
    for res in got.values():
        assert res["dim"] == 2048 and res["output"] == "embedding" and res["n_files"] == 24
        assert res["value"] == pytest.approx(want, rel=1e-3)
    assert got["by-hand"]["value"] == got["preset"]["value"]


def test_parity_with_audioldm_eval_32k(reference_installed, tmp_path):
    """The 32 kHz model (Cnn14_mAP=0.431.pth layout): the same path on one pair (a 44.1 kHz stereo file each)."""
    weights = write_panns_pth(tmp_path / "Cnn14_mAP=0.431.pth", 32000, seed=3)
    for folder, seed in (("gen", 3), ("ref", 4)):
        write_wav(tmp_path / folder / "a.wav", tone(1.7, 44100, 500.0 + 100 * seed, seed=seed))
    got = parity(weights, 32000, tmp_path / "gen", tmp_path / "ref", tmp_path / "work", is_splits=1, fd_dims=0)
    assert got["waveform_max_abs_diff"] < 1e-6
    assert got["2048_max_rel_diff"] < 1e-4 and got["logits_max_rel_diff"] < 1e-4
    assert got["kl_softmax_rel_diff"] < 1e-4 and got["kl_sigmoid_rel_diff"] < 1e-4


def main(argv: list[str] | None = None) -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tests.metrics.test_panns", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="files per set (gen and ref)")
    parser.add_argument("--sample-rate", type=int, default=16000, choices=sorted(CONFIGS))
    parser.add_argument("--fd-dims", type=int, default=16,
                        help="FD over the first D embedding dims (0: all 2048; needs more than 2048 files to be "
                             "well-posed: with fewer, the covariances are singular and both sides reject sqrtm's "
                             "complex result)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        weights = write_panns_pth(root / "w.pth", args.sample_rate, seed=0)
        write_set(root / "gen", args.files, seed=1)
        write_set(root / "ref", args.files, seed=2)
        got = parity(weights, args.sample_rate, root / "gen", root / "ref", root / "work",
                     is_splits=min(10, args.files), fd_dims=args.fd_dims or None)
    for key, value in got.items():
        print(f"{key:24s} {value:.3e}")


if __name__ == "__main__":
    main()
