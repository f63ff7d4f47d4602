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
    import soundfile as sf

    from benchmarks.synthcaps_data import WINDOW

    # the whole window is kept: a file cut at seconds_total could never show that the model runs long
    assert {sf.info(f).frames for f in (tmp_path / "run" / "audio").glob("*.wav")} == {WINDOW}
    assert results["generation"]["trimmed_to_seconds_total"] is False
    # a rerun generates nothing new
    assert main(args) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["generation"]["generated"] == 0


def test_missing_checkpoint_is_an_error(tmp_path, capsys):
    assert main(["--ckpt", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_autoencoder_data_keeps_the_silence_with_a_noise_floor(tmp_path):
    import numpy as np
    import soundfile as sf

    from benchmarks.synthcaps_data import SR, WINDOW
    from benchmarks.synthcaps_data import main as write_main

    assert write_main(["--n", "2", "--out", str(tmp_path / "d"), "--full-window", "--dither-db", "-70"]) == 0
    assert write_main(["--n", "2", "--out", str(tmp_path / "cut")]) == 0
    items = list(csv_rows(tmp_path / "d" / "items.csv"))
    for it in items:
        x, sr = sf.read(tmp_path / "d" / f"{it['id']}.wav", always_2d=True)
        cut, _ = sf.read(tmp_path / "cut" / f"{it['id']}.wav", always_2d=True)
        end = int(float(it["seconds"]) * SR)
        assert sr == SR and x.shape == (WINDOW, 2) and cut.shape == (end, 2)
        tail_db = 10 * np.log10((x[end:] ** 2).mean())
        assert -71 < tail_db < -69  # the noise floor, nothing else, after the sound
        assert np.abs(x[:end] - cut).max() < 10 ** (-70 / 20) * 6


def csv_rows(path):
    import csv

    with open(path, newline="") as f:
        yield from csv.DictReader(f)
