import json


from benchmarks.synthcaps import main


def test_main_job_runs_end_to_end_and_resumes(tiny_ckpt, tmp_path, capsys):
    args = ["--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "run"), "--n", "4", "--steps", "2", "--no-progress",
            "--weights-dir", str(tmp_path / "no-weights")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pitch:" in out and "position:" in out and "python -m metrics.weights download" in out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["metrics"]["timing"]["n"] == 4 and results["metrics"]["position"]["n"] == 4
    assert set(results["skipped_metrics"]) == {"fd", "kl", "clap"}
    assert results["checkpoint_sha256"] and results["sampler"]["steps"] == 2
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count("<img") >= 2 and "<audio" in page and "skipped" in page
    assert (tmp_path / "run" / "items.csv").read_text().count("\n") == 5
    # a rerun generates nothing new
    assert main(args) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["generation"]["generated"] == 0


def test_missing_checkpoint_is_an_error(tmp_path, capsys):
    assert main(["--ckpt", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
