""""No input loses a run": every finding, through ``metrics.__main__.main`` in-process.

Each error path must exit 2 with exactly one line ``error: ...`` naming the file/row/flag, be caught before the
first embedding, and never lose a metric that finished. Models are needed only where a metric must really run
(random-weight OpenL3 on clips of about a second).
"""
import csv
import json
import math
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from metrics.__main__ import main
from sa_fixtures.clips import tone, write_wav
from sa_util.files import atomic_write_bytes
from sa_util.ids import audio_files

SR = 22050


def call(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def strict_json(path: Path) -> dict:
    """The results file, refusing NaN/Infinity (which json.loads would otherwise accept)."""
    def refuse(name):
        raise AssertionError(f"{name} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def within(seconds: float, fn, *args):
    """``fn(*args)`` in a daemon thread; fails (instead of hanging the suite) if it takes longer than ``seconds``."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=fn(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still running after {seconds} s (hang)"
    return box.get("result")


def clip(seconds: float, freq: float = 440.0, seed: int = 0) -> np.ndarray:
    """``[T, 2]``: ``seconds`` of tone, then 0.5 s of silence."""
    x = np.zeros((int((seconds + 0.5) * SR), 2), np.float32)
    x[:int(seconds * SR)] = tone(seconds, SR, freq, seed=seed)
    return x


def write_captions(path: Path, rows: list[dict], encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def ds(tmp_path):
    """gen/id0..id2 (1.0, 1.5, 2.0 s of tone), captions.csv with seconds, an empty folder."""
    rows = []
    for k, seconds in enumerate((1.0, 1.5, 2.0)):
        write_wav(tmp_path / "gen" / f"id{k}.wav", clip(seconds, 220 * (k + 1), k), SR)
        rows.append({"ytid": f"id{k}", "caption": f"tone {k}", "seconds": seconds})
    write_captions(tmp_path / "captions.csv", rows)
    (tmp_path / "empty").mkdir()
    return tmp_path


def timing_args(ds, *extra):
    return ["timing", "--gen", ds / "gen", "--captions", ds / "captions.csv", "--seconds-col", "seconds",
            "--out", ds / "out.json", "--no-progress", *extra]


def fd_stats(path: Path, dim: int = 1024, seed: int = 0, **override) -> Path:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dim, dim)) / dim
    stats = {"mu_ref": rng.standard_normal(dim) * 0.1, "sigma_ref": a @ a.T + 0.01 * np.eye(dim), **override}
    np.savez(path, **stats)
    return path


# --- finding 5: a hang on NaN reference statistics ----------------------------------------------------------------
def _nan_sigma(dim=1024):
    s = np.eye(dim)
    s[3, 5] = s[5, 3] = np.nan
    return s


def _asymmetric(dim=1024):
    s = np.eye(dim)
    s[0, 1] = 0.5
    return s


@pytest.mark.parametrize("override,needle", [
    ({"sigma_ref": _nan_sigma()}, "NaN"),
    ({"mu_ref": np.full(1024, np.inf)}, "NaN or infinite"),
    ({"sigma_ref": _asymmetric()}, "not symmetric"),
    ({"sigma_ref": -np.eye(1024)}, "eigenvalue"),
    ({"mu_ref": np.zeros(512), "sigma_ref": np.eye(512)}, "512-d"),
    ({"sigma_ref": np.eye(3)}, "expected [D] and [D, D]"),
    ({"mu_ref": np.array(["a"] * 1024)}, "dtype"),
])
def test_unusable_fd_statistics_are_refused_at_once(capsys, ds, override, needle):
    npz = fd_stats(ds / "bad.npz", **override)
    code, _, err = within(60, call, capsys, "fd", "--gen", ds / "gen", "--ref-stats", npz,
                          "--weights-dir", ds / "empty", "--out", ds / "o.json")
    assert_one_line_error(code, err, str(npz), needle)


def test_truncated_npz_is_one_line(capsys, ds):
    good = fd_stats(ds / "good.npz")
    (ds / "cut.npz").write_bytes(good.read_bytes()[:5000])
    code, _, err = call(capsys, "fd", "--gen", ds / "gen", "--ref-stats", ds / "cut.npz", "--out", ds / "o.json")
    assert_one_line_error(code, err, "cut.npz", "not usable FD statistics")


# --- finding 6 and 8: KL reference pickles ------------------------------------------------------------------------
def _probs(seed=0):
    p = np.random.default_rng(seed).random(527)
    return torch.tensor(p / p.sum(), dtype=torch.float32)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _torch_zip(obj):
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


GOOD = pickle.dumps({f"id{k}": _probs(k) for k in range(3)})
BAD_PICKLES = {
    "scalars": (pickle.dumps({"id0": torch.tensor(0.5), "id1": torch.tensor(0.5)}), "shape ()"),
    "one-element": (pickle.dumps({"id0": torch.tensor([1.0])}), "shape (1,)"),
    "nan": (pickle.dumps({"id0": torch.full((527,), float("nan"))}), "NaN"),
    "negative": (pickle.dumps({"id0": _probs() * -1}), "outside [0, 1]"),
    "not-summing-to-1": (pickle.dumps({"id0": _probs() * 0.5}), "sum to"),
    "526-classes": (pickle.dumps({"id0": _probs()[:526]}), "shape (526,)"),
    "strings": (pickle.dumps({"id0": "abc"}), "not an array of real numbers"),
    "empty-dict": (pickle.dumps({}), "empty dict"),
    "a-list": (pickle.dumps([1, 2]), "got a list"),
    "float-key": (pickle.dumps({1.5: _probs()}), "ids must be int or str"),
    "random": (np.random.default_rng(0).bytes(4000), "not a usable KL reference pickle"),
    "truncated": (GOOD[:len(GOOD) // 2], "not a usable KL reference pickle"),
    "empty-file": (b"", "not a usable KL reference pickle"),
    "numpy": (pickle.dumps({"id0": np.ones(527) / 527}), "refusing to unpickle numpy"),
    "torch-zip-bad-content": (_torch_zip({"id0": torch.ones(3)}), "shape (3,)"),
    "torch-zip-truncated": (_torch_zip({"id0": _probs()})[:300], "not a usable KL reference pickle"),
    "malicious": (pickle.dumps({"id0": Evil()}), "refusing to unpickle posix.system"),
}


@pytest.mark.parametrize("kind", list(BAD_PICKLES))
def test_bad_kl_reference_pickles_are_one_line_errors(capsys, ds, kind):
    data, needle = BAD_PICKLES[kind]
    pkl = ds / f"{kind}.pkl"
    pkl.write_bytes(data)
    code, _, err = call(capsys, "kl", "--gen", ds / "gen", "--ref-stats", pkl, "--out", ds / "o.json")
    assert_one_line_error(code, err, str(pkl), needle)
    assert not (ds / "o.json").exists()


def test_kl_without_reference_audio_is_an_error_not_n0(capsys, ds):
    code, _, err = call(capsys, "kl", "--gen", ds / "gen", "--out", ds / "o.json")
    assert_one_line_error(code, err, "KL needs --ref DIR")
    code, _, err = call(capsys, "kl", "--gen", ds / "gen", "--ref", ds / "empty", "--out", ds / "o.json")
    assert_one_line_error(code, err, f"--ref {ds / 'empty'}: no audio files")
    code, _, err = call(capsys, "kl", "--gen", ds / "gen", "--ref", ds / "nope", "--out", ds / "o.json")
    assert_one_line_error(code, err, "is not a folder")


# --- finding 7: inputs are checked before the first embedding -----------------------------------------------------
def _seconds_abc(ds):
    rows = [{"ytid": "id0", "seconds": 1.0}, {"ytid": "id1", "seconds": "abc"}]
    return ["--captions", write_captions(ds / "c.csv", rows), "--text-col", "seconds", "--seconds-col", "seconds"]


@pytest.mark.parametrize("flags,needles", [
    (_seconds_abc, ["c.csv line 3", "'seconds'", "'abc' is not a positive number of seconds"]),
    (lambda ds: ["--captions", ds / "captions.csv", "--seconds-col", "secs"], ["captions.csv", "['secs']"]),
    (lambda ds: ["--captions", ds / "captions.csv", "--seconds-total", "1", "--exclude-ids", ds / "nope.txt"],
     ["nope.txt", "cannot read the id list"]),
    (lambda ds: ["--captions", ds / "captions.csv", "--seconds-total", "-1"], ["--seconds-total"]),
])
def test_all_checks_inputs_before_any_embedding(capsys, ds, weights_dir, flags, needles):
    code, _, err = call(capsys, "all", "--gen", ds / "gen", "--ref-stats", fd_stats(ds / "s.npz"),
                        "--weights-dir", weights_dir, "--cache-dir", ds / "cache", *flags(ds),
                        "--out", ds / "o.json", "--no-progress")
    assert_one_line_error(code, err, *needles)
    assert not list((ds / "cache").rglob("*.npy"))  # nothing was embedded before the error


def test_all_keeps_finished_metrics_when_fd_fails(capsys, tmp_path, weights_dir):
    """One 0.3 s clip gives one OpenL3 frame: FD fails, timing is still written; ``fd`` alone exits 2."""
    write_wav(tmp_path / "gen" / "only.wav", tone(0.3, SR), SR)
    (tmp_path / "empty").mkdir()
    common = ["--gen", tmp_path / "gen", "--ref-stats", fd_stats(tmp_path / "s.npz"), "--seconds-total", "0.3",
              "--openl3-weights", weights_dir / "openl3_audio_mel256_music.h5", "--weights-dir", tmp_path / "empty",
              "--cache-dir", "none", "--no-progress"]
    code, out, err = call(capsys, "all", *common, "--out", tmp_path / "a.json")
    assert code == 0, err
    res = strict_json(tmp_path / "a.json")
    assert "at least 2 embedding frames" in res["skipped_metrics"]["fd"]
    assert set(res["skipped_metrics"]) == {"fd", "kl", "clap"} and res["metrics"]["timing"]["n"] == 1
    assert res["metrics"]["timing"]["ci95"] == [None, None]  # one item: no CI, and valid JSON
    assert "[95% CI n/a]" in out and "nan" not in out
    code, _, err = call(capsys, "fd", *common, "--out", tmp_path / "f.json")
    assert_one_line_error(code, err, "fd:", "at least 2 embedding frames")


def test_all_lists_a_metric_with_corrupt_weights_as_skipped(capsys, ds):
    (ds / "garbage.h5").write_bytes(b"not an hdf5 file" * 100)
    code, _, err = call(capsys, "all", "--gen", ds / "gen", "--ref-stats", fd_stats(ds / "s.npz"),
                        "--captions", ds / "captions.csv", "--seconds-col", "seconds",
                        "--openl3-weights", ds / "garbage.h5", "--weights-dir", ds / "empty", "--cache-dir", "none",
                        "--out", ds / "a.json", "--no-progress")
    assert code == 0, err
    res = strict_json(ds / "a.json")
    assert "fd" in res["skipped_metrics"] and res["metrics"]["timing"]["n"] == 3


def test_all_with_nothing_computable_exits_2_but_writes_the_reasons(capsys, ds):
    code, _, err = call(capsys, "all", "--gen", ds / "gen", "--weights-dir", ds / "empty", "--out", ds / "a.json",
                        "--no-progress")
    assert_one_line_error(code, err, "no metric could be computed")
    assert set(strict_json(ds / "a.json")["skipped_metrics"]) == {"fd", "kl", "clap", "timing"}


# --- finding 8 and 12: one line, never a traceback ----------------------------------------------------------------
def _captions_missing_field(ds):
    (ds / "short.csv").write_text("ytid,caption,seconds\nid0,a tone,1.0\nid1,only a caption\n")
    return ["--captions", ds / "short.csv"]


def _duplicate_ids(ds):
    rows = [{"ytid": "id0", "caption": "a", "seconds": 1}, {"ytid": "id0", "caption": "b", "seconds": 2}]
    return ["--captions", write_captions(ds / "dup.csv", rows)]


def _a_file(ds):
    (ds / "file").write_text("x")
    return ds / "file"


@pytest.mark.parametrize("command,flags,needles", [
    ("timing", lambda ds: ["--out", ds / "empty"], ["--out", "is a folder"]),
    ("timing", lambda ds: ["--out", _a_file(ds) / "sub" / "r.json"], ["--out", "is a file"]),
    ("timing", lambda ds: ["--cache-dir", _a_file(ds)], ["--cache-dir", "not a folder"]),
    ("timing", _captions_missing_field, ["short.csv line 3", "missing field(s) ['seconds']"]),
    ("timing", _duplicate_ids, ["dup.csv line 3", "'id0' already on line 2"]),
    ("timing", lambda ds: ["--captions", ds / "empty"], ["empty: not a file"]),
    ("fd", lambda ds: ["--save-ref-stats", _a_file(ds), "--ref", ds / "gen"], ["--save-ref-stats", "not a folder"]),
    ("fd", lambda ds: ["--device", "bogus"], ["--device 'bogus'"]),
    ("fd", lambda ds: ["--batch-size", "0"], ["--batch-size must be an integer >= 1"]),
    ("fd", lambda ds: ["--files-per-batch", "0"], ["--files-per-batch"]),
    ("timing", lambda ds: ["--bootstrap", "-1"], ["--bootstrap must be an integer >= 0"]),
    ("timing", lambda ds: ["--gen", ds / "nope"], ["is not a folder"]),
    ("timing", lambda ds: ["--gen", ds / "empty"], ["no audio files"]),
    ("timing", lambda ds: ["--batch-size", "x"], ["invalid int value"]),
    ("fd", lambda ds: ["--ref-stats", ds / "captions.csv"], ["expected an existing .npz"]),
    ("fd", lambda ds: ["--ref-stats", fd_stats(ds / "a.npz"), "--ref-stats", fd_stats(ds / "b.npz")],
     ["two .npz files"]),
])
def test_error_paths_are_one_line(capsys, ds, command, flags, needles):
    base = timing_args(ds) if command == "timing" else ["fd", "--gen", ds / "gen", "--out", ds / "out.json"]
    code, _, err = call(capsys, *base, *flags(ds))  # argparse: a flag given again by the case wins
    assert_one_line_error(code, err, *needles)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_one_line_on_the_real_stderr(ds):
    """Out of process, so that any warning torch prints while probing CUDA would show up too."""
    r = subprocess.run([sys.executable, "-m", "metrics", "fd", "--gen", ds / "gen", "--device", "cuda",
                        "--out", ds / "o.json"], capture_output=True, text=True, timeout=300)
    assert_one_line_error(r.returncode, r.stderr, "--device cuda", "no CUDA GPU")


def test_long_ids_are_reported_not_tracebacks(capsys, ds):
    long_ok, too_long = "a" * 245, "b" * 300
    write_wav(ds / "gen" / f"{long_ok}.wav", clip(1.0), SR)
    rows = [{"ytid": long_ok, "caption": "x", "seconds": 1.0}, {"ytid": too_long, "caption": "y", "seconds": 1.0},
            {"ytid": "id0", "caption": "z", "seconds": 1.0}]
    out_name = ds / ("r" * 250 + ".json")  # atomic_write's temporary name must still fit in 255 bytes
    code, _, err = call(capsys, *timing_args(ds, "--captions", write_captions(ds / "long.csv", rows),
                                             "--out", out_name))
    assert code == 0, err
    res = strict_json(out_name)["metrics"]["timing"]
    assert set(res["per_item"]) == {long_ok, "id0"} and "longer than 250 bytes" in res["left_out"][too_long]


def test_atomic_write_takes_any_legal_file_name(tmp_path):
    for name in ("x" * 255, "é" * 127 + "x", "y" * 250 + ".flac"):
        atomic_write_bytes(tmp_path / name, b"data")
        assert (tmp_path / name).read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x" * 255, "é" * 127 + "x", "y" * 250 + ".flac"])


def test_bom_header_and_summary_without_nan(capsys, ds):
    rows = [{"ytid": "id0", "caption": "a", "seconds": 1.0}]
    code, out, err = call(capsys, *timing_args(ds, "--captions", write_captions(ds / "bom.csv", rows, "utf-8-sig")))
    assert code == 0, err
    assert strict_json(ds / "out.json")["metrics"]["timing"]["n"] == 1
    assert "n/a" in out and "nan" not in out


# --- finding 10: one definition of the files of a run -------------------------------------------------------------
@pytest.fixture
def messy(tmp_path):
    """a.wav + a.flac, B.WAV, c.opus, a link out of the folder, a FIFO, a hidden file, a text file."""
    gen = tmp_path / "gen"
    for name, freq in (("a.wav", 220), ("a.flac", 330), ("B.WAV", 440)):
        write_wav(gen / name, clip(0.5, freq), SR)
    sf.write(gen / "c.opus", clip(0.5, 550), 48000, format="OGG", subtype="OPUS")
    write_wav(tmp_path / "outside.wav", clip(1.0), SR)
    (gen / "link.wav").symlink_to(tmp_path / "outside.wav")
    os.mkfifo(tmp_path / "pipe")
    (gen / "pipe.wav").symlink_to(tmp_path / "pipe")  # a link out of the folder to something that blocks on open
    os.mkfifo(gen / "fifo.wav")
    write_wav(gen / ".hidden.wav", clip(1.0), SR)
    (gen / "notes.txt").write_text("not audio")
    return tmp_path


def test_file_set_rules(messy):
    files = within(30, audio_files, messy / "gen")
    assert {k: v.name for k, v in files.files.items()} == {"a": "a.wav", "B": "B.WAV", "c": "c.opus"}
    problems = {Path(p).name: why for p, why in files.problems.items()}
    assert set(problems) == {"a.flac", "link.wav", "pipe.wav", "fifo.wav", ".hidden.wav"}
    assert "duplicate of id 'a': a.wav is used" in problems["a.flac"]
    assert "outside" in problems["link.wav"] and "not opened" in problems["pipe.wav"]
    assert problems["fifo.wav"] == "not a regular file"
    assert "link.wav" in files.refused["link"]


def test_fd_and_per_id_metrics_see_the_same_files(capsys, messy, weights_dir):
    code, _, err = within(600, call, capsys, "all", "--gen", messy / "gen", "--ref-stats", fd_stats(messy / "s.npz"),
                          "--seconds-total", "1", "--openl3-weights", weights_dir / "openl3_audio_mel256_music.h5",
                          "--weights-dir", messy / "nothing", "--cache-dir", "none", "--fd-bootstrap", "0",
                          "--out", messy / "r.json", "--no-progress")
    assert code == 0, err
    res = strict_json(messy / "r.json")
    assert res["metrics"]["fd"]["n_files"] == 3 and math.isfinite(res["metrics"]["fd"]["value"])
    assert set(res["metrics"]["timing"]["per_item"]) == {"a", "B", "c"}  # .opus and upper-case extensions too
    inputs = {Path(s["file"]).name for s in res["skipped_files"] if s["metric"] == "input"}
    assert inputs == {"a.flac", "link.wav", "pipe.wav", "fifo.wav", ".hidden.wav"}
