import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metrics.embedding.weights import MissingWeights, resolve
from sa_fixtures.clips import tone, write_wav


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "metrics", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=900)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    rows = []
    for i, (seconds, freq) in enumerate([(1.5, 220), (2.0, 330), (1.0, 440), (2.5, 550)]):
        for side, shift in (("gen", 0), ("ref", 25)):
            x = np.zeros((int(3.0 * 44100), 2), np.float32)
            x[:int(seconds * 44100)] = tone(seconds, 44100, freq + shift, seed=i)
            write_wav(root / side / f"id{i}.wav", x)
        rows.append({"ytid": f"id{i}", "caption": f"a tone at {freq} Hz", "seconds": seconds})
    write_wav(root / "gen" / "bad.wav", np.zeros((4410, 2), np.float32))  # silent: reported, not fatal
    rows.append({"ytid": "bad", "caption": "silence", "seconds": 1.0})
    rows.append({"ytid": "../../etc/passwd", "caption": "hostile", "seconds": 1.0})
    with open(root / "captions.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["ytid", "caption", "seconds"])
        w.writeheader()
        w.writerows(rows)
    (root / "unavailable.txt").write_text("id3\n")
    return root


def test_timing_only(dataset, tmp_path):
    r = cli("timing", "--gen", dataset / "gen", "--captions", dataset / "captions.csv", "--seconds-col", "seconds",
            "--out", tmp_path / "t.json", "--no-progress")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "t.json").read_text())["metrics"]["timing"]
    assert res["n"] == 4 and res["mae_s"] < 0.1 and res["within_1s"] == 1.0
    assert set(res["left_out"]) == {"bad", "../../etc/passwd"}


def test_misuse_is_one_line_and_exit_2(dataset, tmp_path):
    r = cli("fd", "--gen", dataset / "gen", "--out", tmp_path / "x.json")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "FD needs --ref DIR" in r.stderr
    r = cli("kl", "--gen", tmp_path / "nope")
    assert r.returncode == 2 and "is not a folder" in r.stderr


def test_missing_weights_error_names_file_source_and_flags(dataset, tmp_path):
    r = cli("kl", "--gen", dataset / "gen", "--ref", dataset / "ref", "--captions", dataset / "captions.csv",
            "--weights-dir", tmp_path / "empty", "--out", tmp_path / "x.json")
    assert r.returncode == 2
    for needle in ("passt-s-f128-p16-s10-ap.476-swa.pt", "https://github.com/kkoutini/PaSST", "--passt-weights",
                   "SA_BENCH_WEIGHTS", "python -m metrics.weights download passt-s-swa-ap476"):
        assert needle in r.stderr
    with pytest.raises(MissingWeights, match="openl3_audio_mel256_env.h5"):
        resolve("openl3-mel256-env", directory=tmp_path)


def test_all_without_weights_lists_skipped_metrics(dataset, tmp_path):
    r = cli("all", "--gen", dataset / "gen", "--ref", dataset / "ref", "--captions", dataset / "captions.csv",
            "--seconds-col", "seconds", "--weights-dir", tmp_path / "empty", "--out", tmp_path / "a.json")
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "a.json").read_text())
    assert set(out["skipped_metrics"]) == {"fd", "kl", "clap"} and "timing" in out["metrics"]
    assert "python -m metrics.weights download" in out["skipped_metrics"]["fd"]


def test_all_end_to_end_with_official_format_weights(dataset, tmp_path, weights_dir):
    common = ["--gen", dataset / "gen", "--captions", dataset / "captions.csv", "--seconds-col", "seconds",
              "--weights-dir", weights_dir, "--cache-dir", tmp_path / "cache", "--exclude-ids",
              dataset / "unavailable.txt", "--fd-bootstrap", "10", "--no-progress"]
    r = cli("all", *common, "--ref", dataset / "ref", "--save-ref-stats", tmp_path / "refstats",
            "--out", tmp_path / "1.json")
    assert r.returncode == 0, r.stderr
    first = json.loads((tmp_path / "1.json").read_text())
    m = first["metrics"]
    assert m["fd"]["n_files"] == 4 and m["fd"]["value"] >= 0 and len(m["fd"]["ci95"]) == 2
    assert m["kl"]["n"] == 3 and m["kl"]["left_out"]["id3"].startswith("excluded")  # id3 is unavailable
    assert m["clap"]["n"] == 4 and -1 <= m["clap"]["value"] <= 1
    assert m["timing"]["n"] == 4
    assert {(s["metric"], Path(s["file"]).name) for s in first["skipped_files"]} >= {("fd", "bad.wav"),
                                                                                     ("kl", "bad.wav")}
    assert "cannot be used as a file name" in first["ids"]["without_audio"]["../../etc/passwd"]
    # the same numbers from the saved reference statistics instead of reference audio (and from the cache)
    stats = sorted((tmp_path / "refstats").iterdir())
    r = cli("all", *common, *[a for s in stats for a in ("--ref-stats", s)], "--out", tmp_path / "2.json")
    assert r.returncode == 0, r.stderr
    second = json.loads((tmp_path / "2.json").read_text())["metrics"]
    assert second["fd"]["value"] == pytest.approx(m["fd"]["value"], rel=1e-6)
    assert second["kl"]["value"] == pytest.approx(m["kl"]["value"], rel=1e-5)
    assert second["clap"]["value"] == pytest.approx(m["clap"]["value"], rel=1e-6)


def test_weights_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "metrics.weights", "list", "--weights-dir", tmp_path],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "passt-s-swa-ap476" in r.stdout and "missing" in r.stdout
    r = subprocess.run([sys.executable, "-m", "metrics.weights", "verify", "clap-630k-audioset-fusion",
                        "--weights-dir", tmp_path], capture_output=True, text=True)
    assert r.returncode == 1 and "not found" in r.stdout


def test_sharded_cache_warming_then_full_run_reads_only_the_cache(tmp_path, weights_dir):
    from metrics.run import RunConfig, run, warm_cache

    for side in ("gen", "ref"):
        for k in range(4):
            write_wav(tmp_path / side / f"x{k}.wav", tone(1.0, 44100, 200 + 50 * k + (7 if side == "ref" else 0)))
    cfg = RunConfig(gen=tmp_path / "gen", ref=tmp_path / "ref", metrics=("fd",), weights_dir=weights_dir,
                    cache_dir=tmp_path / "cache", fd_bootstrap=0, progress=False)
    warm_cache(cfg, 0, 2)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 4  # rank 0: 2 generated + 2 reference files
    warm_cache(cfg, 1, 2)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 8
    sharded = run(cfg, strict=True)["metrics"]["fd"]["value"]
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 8  # nothing new: every output came from the cache
    uncached = run(RunConfig(**{**cfg.__dict__, "cache_dir": None}), strict=True)["metrics"]["fd"]["value"]
    assert sharded == pytest.approx(uncached, rel=1e-6)
