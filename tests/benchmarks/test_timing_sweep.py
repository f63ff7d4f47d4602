import json

from benchmarks.timing import grid, main


def test_grid_ids_are_file_safe_and_cover_every_length():
    prompts = grid(["a", "b"], [1.0, 2.5])
    assert [p.id for p in prompts] == ["s1_p000", "s1_p001", "s2p5_p000", "s2p5_p001"]
    assert [p.seconds_total for p in prompts] == [1.0, 1.0, 2.5, 2.5]


def test_timing_sweep_end_to_end(tiny_ckpt, tmp_path, capsys):
    args = ["--ckpt", str(tiny_ckpt), "--seconds", "1,2.5", "--out", str(tmp_path / "t"), "--steps", "2",
            "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 s: MAE" in out and "2.5 s: MAE" in out
    res = json.loads((tmp_path / "t" / "results.json").read_text())
    assert res["metrics"]["timing"]["n"] == 10 and set(res["metrics"]["timing_by_length"]["per_length"]) == {"1", "2.5"}
    assert set(res["skipped_metrics"]) == set()  # only timing was asked for
    assert res["generation"]["trimmed_to_seconds_total"] is False  # detection sees the whole window
    assert main(["--ckpt", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert main(["--ckpt", str(tiny_ckpt), "--seconds", "0,-1", "--out", str(tmp_path / "x")]) == 2
