"""Outputs never touch inputs, and every check comes before the work: one regression test per finding of the
second hostile-input sweep. Every run also checks the suite's invariants (exit 0/2, one error line, no traceback,
strict JSON, nothing written outside the output folder, time-bounded), so a refused run provably wrote nothing."""
from __future__ import annotations

import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.fuzz import hostile
from tests.fuzz.invariants import Sandbox

QUICK = ["--cache-dir", "none", "--no-progress", "--bootstrap", "50", "--fd-bootstrap", "5"]
SHIPPED = Path(__file__).resolve().parents[2] / "sa_core" / "checkpoints" / "synthcaps-tiny"


@pytest.fixture
def sb(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def tones(folder: Path, n: int = 2) -> Path:
    for k in range(n):
        hostile.tone_wav(folder / f"a{k}.wav", 2.0, seed=k)
    return folder


def refused(o, *words: str) -> None:
    assert o.code == 2, o.describe()
    for w in words:
        assert w in o.err, (w, o.describe())


# --- outputs on inputs ---------------------------------------------------------------------------------------------
def test_out_on_an_input_audio_file_is_refused_and_the_file_kept(sb):
    gen = tones(sb.inp / "gen")
    before = (gen / "a0.wav").read_bytes()
    o = sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", gen / "a0.wav", *QUICK])
    refused(o, "--out", "--gen")
    assert (gen / "a0.wav").read_bytes() == before


def test_out_on_the_reference_statistics_is_refused(sb):
    gen = tones(sb.inp / "gen")
    stats = hostile.write_npz(sb.inp / "S.npz", **hostile.fd_stats("valid"))
    o = sb.run("metrics", ["fd", "--gen", gen, "--ref-stats", stats, "--out", stats, *QUICK])
    refused(o, "--out", "--ref-stats")


@pytest.mark.parametrize("flag", ["--out", "--cache-dir", "--save-ref-stats"])
def test_outputs_inside_an_input_folder_are_refused(sb, flag):
    gen, ref = tones(sb.inp / "gen"), tones(sb.inp / "ref")
    target = {"--out": gen / "results.json", "--cache-dir": gen / "cache", "--save-ref-stats": ref}[flag]
    argv = ["fd", "--gen", gen, "--ref", ref, "--out", sb.out / "r.json", *QUICK, flag, target]
    refused(sb.run("metrics", argv), flag)


def test_results_table_on_a_folder_is_refused_before_any_work(sb):
    captions = hostile.write_csv(sb.inp / "mc.csv", ["ytid", "caption"], [["a0", "x"], ["a1", "y"]])
    gen = tones(sb.inp / "gen")
    table = sb.out / "table"
    table.mkdir()
    o = sb.run("benchmarks.musiccaps", ["--captions", captions, "--gen-dir", gen, "--out", sb.out / "run",
                                        "--results-table", table, "--no-progress"])
    refused(o, "--results-table")
    assert not (sb.out / "run" / "results.json").exists()


def test_run_folder_on_an_existing_file_is_refused(sb):
    captions = hostile.write_csv(sb.inp / "mc.csv", ["ytid", "caption"], [["a0", "x"]])
    (sb.out / "taken").write_text("a file")
    o = sb.run("benchmarks.musiccaps", ["--captions", captions, "--gen-dir", tones(sb.inp / "gen"),
                                        "--out", sb.out / "taken", "--results-table", sb.out / "t.jsonl"])
    refused(o, "--out", "not a folder")


def test_an_out_name_longer_than_255_bytes_is_named(sb):
    o = sb.run("metrics", ["timing", "--gen", tones(sb.inp / "gen"), "--seconds-total", "2",
                           "--out", sb.out / ("r" * 300 + ".json"), *QUICK])
    refused(o, "--out", "255 bytes")


# --- checks before the work ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag,value", [("--bootstrap", "1000000000"), ("--fd-bootstrap", "100000")])
def test_replicate_counts_have_an_upper_bound(sb, flag, value):
    o = sb.run("metrics", ["timing", "--gen", tones(sb.inp / "gen"), "--seconds-total", "2",
                           "--out", sb.out / "r.json", *QUICK, flag, value], limit=30)
    refused(o, flag, "at most")


@pytest.mark.parametrize("protocol,model,dim", [("fadtk", "vggish", 127), ("audioldm", "panns", 2575)])
def test_fadtk_statistics_of_the_wrong_width_are_refused_up_front(sb, protocol, model, dim):
    stats = hostile.write_npz(sb.inp / "s.npz", **{f"{model}.mu": np.zeros(dim), f"{model}.cov": np.eye(dim)})
    o = sb.run("metrics", ["fd", "--protocol", protocol, "--gen", tones(sb.inp / "gen"), "--ref-stats", stats,
                           "--weights-dir", sb.inp / "no-weights", "--out", sb.out / "r.json", *QUICK], limit=60)
    refused(o, f"statistics of {dim}-d embeddings")


@pytest.mark.parametrize("scale", [1e200, 1e40])
def test_statistics_far_beyond_any_embedding_are_refused_up_front(sb, scale):
    stats = hostile.write_npz(sb.inp / "s.npz", mu_ref=np.zeros(hostile.FD_DIM),
                              sigma_ref=np.eye(hostile.FD_DIM) * scale)
    o = sb.run("metrics", ["fd", "--gen", tones(sb.inp / "gen"), "--ref-stats", stats,
                           "--weights-dir", sb.inp / "no-weights", "--out", sb.out / "r.json", *QUICK], limit=60)
    refused(o, "far beyond any evaluator's embeddings")


def test_a_kl_pickle_of_complex_tensors_is_refused(sb):
    probs = torch.full((527,), 1 / 527, dtype=torch.complex64)
    pkl = sb.inp / "kl.pkl"
    pkl.write_bytes(pickle.dumps({"a0": probs}))
    o = sb.run("metrics", ["kl", "--gen", tones(sb.inp / "gen"), "--ref-stats", pkl,
                           "--weights-dir", sb.inp / "no-weights", "--out", sb.out / "r.json", *QUICK], limit=60)
    refused(o, "not an array of real numbers")


@pytest.mark.parametrize("damage", ["corrupt_h5", "truncated_pt"])
def test_weights_that_do_not_load_are_named_before_any_audio(sb, weights_dir, damage):
    """A damaged evaluator file is one error naming it, not "model failed" on every good audio file."""
    weights = sb.inp / "weights"
    weights.mkdir()
    from metrics.embedding.weights import REGISTRY

    if damage == "corrupt_h5":
        name, metric = REGISTRY["openl3-mel256-music"].filename, "fd"
        (weights / name).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(4000))
    else:
        name, metric = REGISTRY["passt-s-swa-ap476"].filename, "kl"
        hostile.truncated_copy(weights_dir / name, weights / name)
    gen, ref = tones(sb.inp / "gen"), tones(sb.inp / "ref")
    o = sb.run("metrics", [metric, "--gen", gen, "--ref", ref, "--weights-dir", weights,
                           "--out", sb.out / "r.json", *QUICK], limit=120)
    refused(o, name, "does not load")
    assert "model failed" not in o.err


def test_weights_download_without_network_is_one_line(monkeypatch, tmp_path, capsys):
    import metrics.embedding.weights as w

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(w.urllib.request, "urlopen", offline)
    assert w.main(["download", "vggish", "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: download vggish") and "name resolution" in err[0]


@pytest.mark.parametrize("cli,argv", [
    ("sa_core.generate", ["--ckpt", SHIPPED, "--prompt", "a tone", "--seconds-total", "1", "--device", "bogus"]),
    ("sa_core.generate", ["--ckpt", SHIPPED, "--prompt", "a tone", "--seconds-total", "1", "--device", "cuda:7"]),
    ("benchmarks.synthcaps", ["--n", "2", "--device", "bogus", "--no-progress"]),
])
def test_generation_refuses_a_device_that_does_not_work_here(sb, cli, argv):
    o = sb.run(cli, [*argv, *(["--out", sb.out / "x.wav"] if cli == "sa_core.generate" else
                              ["--out", sb.out / "run"])], limit=60)
    refused(o, "--device")
    assert not list(sb.out.iterdir())


def test_generation_steps_have_an_upper_bound(sb):
    o = sb.run("sa_core.generate", ["--ckpt", SHIPPED, "--prompt", "a tone", "--seconds-total", "1",
                                    "--steps", "10000000", "--out", sb.out / "x.wav"], limit=60)
    refused(o, "steps", "10,000")


def test_info_on_a_csv_names_the_file(sb):
    captions = hostile.write_csv(sb.inp / "captions.csv", ["id", "caption"], [["a", "x"]])
    refused(sb.run("sa_core.info", [captions]), "captions.csv", "not a model_config.json")


def test_ablate_on_missing_data_is_an_error(sb):
    o = sb.run("benchmarks.ablate", ["--sweep", "text_encoder=minilm", "--data", sb.inp / "missing",
                                     "--steps", "1", "--out", sb.out / "abl"])
    refused(o, "--data")


# --- what the audio and the numbers say ----------------------------------------------------------------------------
def test_a_link_inside_the_folder_counts_its_file_once(sb):
    gen = tones(sb.inp / "gen")
    (gen / "b.wav").symlink_to(gen / "a0.wav")
    sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "r.json", *QUICK],
           allowed=(0,))
    res = sb.results(sb.out / "r.json")
    assert set(res["metrics"]["timing"]["per_item"]) == {"a0", "a1"}
    why = [f["reason"] for f in res["skipped_files"] if f["file"].endswith("b.wav")]
    assert why and "the same file as a0.wav" in why[0]


def test_denormal_only_audio_is_not_called_all_zero(sb):
    gen = tones(sb.inp / "gen")
    sf.write(gen / "tiny.wav", np.full((44100, 2), 1e-40, np.float64), 44100, subtype="DOUBLE")
    sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "r.json", *QUICK],
           allowed=(0,))
    why = [f["reason"] for f in sb.results(sb.out / "r.json")["skipped_files"] if f["file"].endswith("tiny.wav")]
    assert why and "denormal" in why[0] and "all samples are zero" not in why[0]


def test_vggish_minimum_is_stated_in_samples():
    from sa_util.audio import AudioError
    from metrics.embedding.embedders.vggish import PRESETS, prepare_examples

    with pytest.raises(AudioError, match="15599 samples at 16 kHz, one 0.96 s example needs 15600"):
        prepare_examples(np.full((1, 15599), 0.1, np.float32), 16000, PRESETS["frechet-audio-distance"])


def test_slightly_negative_kl_is_explained():
    from metrics.scores.evaluate import kl_result

    p = np.full(4, 0.25)
    res = kl_result({"a": p, "b": p}, {"a": p, "b": p}, ["a", "b"], n_boot=10)
    assert res["value"] < 0 and "below 0" in res["note"]
    assert "note" not in kl_result({"a": p}, {"a": np.array([0.7, 0.1, 0.1, 0.1])}, ["a"], n_boot=10)


def test_a_generation_run_under_no_progress_prints_nothing_on_stderr(sb):
    """No "Loading weights" bar from the text encoder's loader: stderr is for errors."""
    o = sb.run("benchmarks.synthcaps", ["--n", "1", "--no-progress", "--out", sb.out / "run"], allowed=(0,))
    assert o.err.strip() == "", o.describe()


def test_decode_workers_print_nothing_on_stderr(tmp_path, weights_dir, capfd):
    """``--workers 2``: the workers' import warnings (resampy's pkg_resources note) stay off stderr."""
    from metrics.__main__ import main

    gen, ref = tones(tmp_path / "gen"), tones(tmp_path / "ref")
    args = ["fd", "--protocol", "fadtk", "--gen", str(gen), "--ref", str(ref), "--weights-dir", str(weights_dir),
            "--workers", "2", "--out", str(tmp_path / "r.json"), *QUICK]
    assert main(args) == 0
    assert capfd.readouterr().err == ""
