"""Set metrics in comparisons: FD recomputed from the runs' cached embeddings (random-weight VGGish, offline)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from metrics.__main__ import main
from sa_fixtures.clips import tone, write_wav

N = 10


@pytest.fixture(scope="module")
def fd_runs(tmp_path_factory, weights_dir):
    root = tmp_path_factory.mktemp("fd-runs")
    for i in range(N):
        write_wav(root / "ref" / f"id{i}.wav", tone(2.1, 44100, 180 + 45 * i, seed=i))
        write_wav(root / "a" / f"id{i}.wav", tone(2.1, 44100, 185 + 45 * i, seed=i))
        write_wav(root / "b" / f"id{i}.wav", tone(2.1, 44100, 900 + 45 * i, amp=0.05, seed=i))  # far from ref
    for run in ("a", "b"):
        assert main(["fd", "--protocol", "musicgen", "--model", "vggish", "--gen", str(root / run), "--ref",
                     str(root / "ref"), "--weights-dir", str(weights_dir), "--cache-dir", str(root / "cache"),
                     "--fd-bootstrap", "0", "--no-progress", "--out", str(root / f"{run}.json")]) == 0
    return root


def test_results_record_where_the_embeddings_are(fd_runs):
    rec = json.loads((fd_runs / "a.json").read_text())["metrics"]["fad"]["embeddings"]
    assert rec["cache_dir"] == str(fd_runs / "cache") and len(rec["gen"]) == N
    assert len(rec["reference"]["files"]) == N


def test_fd_self_comparison_and_a_worse_run(fd_runs, capsys):
    assert main(["compare", str(fd_runs / "a.json"), str(fd_runs / "a.json"), "--set-replicates", "30",
                 "--out", str(fd_runs / "aa.json")]) == 0
    d = json.loads((fd_runs / "aa.json").read_text())["differences"][0]
    assert d["metric"] == "fad" and d["difference"] == 0 and d["p"] == 1
    assert main(["compare", str(fd_runs / "a.json"), str(fd_runs / "b.json"), "--set-replicates", "30",
                 "--out", str(fd_runs / "ab.json")]) == 0
    d = json.loads((fd_runs / "ab.json").read_text())["differences"][0]
    a_value = json.loads((fd_runs / "a.json").read_text())["metrics"]["fad"]["value"]
    assert d["value_a"] == pytest.approx(a_value, rel=1e-4)  # same files: the run's own FD
    assert d["difference"] > 0 and d["ci95"][0] > 0 and d["better"] == "a" and d["p"] < 0.05
    assert "fad" in capsys.readouterr().out


def test_power_on_fd(fd_runs, capsys):
    assert main(["power", str(fd_runs / "a.json"), "--set-replicates", "20", "--target", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "fad" in out and "bootstrap SD" in out


def test_gone_embeddings_are_named(fd_runs, tmp_path, capsys):
    moved = tmp_path / "a.json"
    r = json.loads((fd_runs / "a.json").read_text())
    r["metrics"]["fad"]["embeddings"]["cache_dir"] = str(tmp_path / "cleared")
    moved.write_text(json.dumps(r))
    assert main(["compare", str(moved), str(fd_runs / "b.json")]) == 2
    out = capsys.readouterr().out
    assert f"20 of 20 cached embeddings are gone from {tmp_path / 'cleared'}" in out


def test_mad_compared_from_the_cached_embeddings(fd_runs, weights_dir):
    """MAD (here on VGGish frames, each file max-pooled) recomputed from the cache: a run against itself is no
    difference; the far run's MAD is the run's own value and is the worse one."""
    for run in ("a", "b"):
        assert main(["mad", "--protocol", "mad", "--model", "vggish", "--gen", str(fd_runs / run), "--ref",
                     str(fd_runs / "ref"), "--weights-dir", str(weights_dir), "--cache-dir", str(fd_runs / "cache"),
                     "--fd-bootstrap", "0", "--no-progress", "--out", str(fd_runs / f"mad-{run}.json")]) == 0
    runs = [str(fd_runs / f"mad-{r}.json") for r in ("a", "a", "b")]
    assert main(["compare", *runs[:2], "--set-replicates", "20", "--out", str(fd_runs / "mad-aa.json")]) == 0
    d = json.loads((fd_runs / "mad-aa.json").read_text())["differences"][0]
    assert d["metric"] == "mad" and d["difference"] == 0 and d["p"] == 1
    assert main(["compare", runs[0], runs[2], "--set-replicates", "20", "--out", str(fd_runs / "mad-ab.json")]) == 0
    d = json.loads((fd_runs / "mad-ab.json").read_text())["differences"][0]
    value_b = json.loads((fd_runs / "mad-b.json").read_text())["metrics"]["mad"]["value"]
    assert d["value_b"] == pytest.approx(value_b, rel=1e-6)
    assert d["difference"] > 0 and d["better"] == "mad-a"
