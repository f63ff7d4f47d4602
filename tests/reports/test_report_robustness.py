"""Reports: a bad results file is one line and exit 2, bad audio is shown as such, and a report finds
a run's audio (and stays self-contained) whatever the working directory."""
import json
import re

import numpy as np
import pytest

from reports.__main__ import main
from reports.html import write_report
from sa_fixtures.clips import tone, write_wav


def results(timing_rows: dict, audio: dict | None = None, gen: str = "audio") -> dict:
    r = {"benchmark": "synthcaps", "metrics": {"timing": {"value": 0.3, "n": len(timing_rows), "ci95": [0.1, 0.5],
                                                         "per_item": timing_rows}},
         "skipped_metrics": {}, "skipped_files": [], "settings": {"gen": gen}}
    if audio is not None:
        r["audio"] = audio
    return r


def row(requested, detected):
    return {"requested_s": requested, "detected_s": detected, "error_s": detected - requested}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("content, message", [
    ('{"metrics": {"timing": {"value": 1.0', "not a readable results file"),
    ("[]", "not a results file"),
    ('{"metrics": {"timing": 3}}', "not a results file"),
    ('{"metrics": {}, "skipped_files": {}}', "'skipped_files' a list"),
    (b"\xff\xfe\x00garbage", "not a readable results file"),
])
def test_a_bad_results_file_is_one_line(tmp_path, capsys, content, message):
    run = tmp_path / "run"
    run.mkdir()
    path = run / "results.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main([str(run), "--out", str(tmp_path / "r.html")]) == 2
    err = one_error_line(capsys)
    assert message in err and str(path) in err
    assert not (tmp_path / "r.html").exists()


def test_report_finds_audio_from_any_directory_and_survives_garbage(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "a"
    write_wav(run / "audio" / "good.wav", tone(1.0))
    (run / "audio" / "junk.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    write_wav(run / "audio" / "nan.wav", np.full((441, 2), np.nan, np.float32), subtype="FLOAT")
    rows = {"good": row(1.0, 1.1), "junk": row(1.0, 3.0), "nan": row(2.0, 2.2), "bad": row(1.0, 1.0)}
    rows["bad"]["detected_s"] = None  # a non-finite value as results.json stores it
    r = results(rows, audio={"evaluated": "audio", "timing": "audio"}, gen="runs/a/audio")  # gen: cwd-relative
    (run / "results.json").write_text(json.dumps(r))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the cwd-relative settings.gen does not resolve from here
    page = write_report([run], tmp_path / "out" / "report.html").read_text()
    assert page.count("<audio") == 1 and "data:audio/wav;base64," in page  # good.wav, inline
    assert "junk.wav: unreadable audio" in page and "nan.wav: audio contains NaN" in page
    assert not re.findall(r'src="(?!data:)', page)  # nothing points outside the file: it can be moved or mailed


def test_report_of_older_results_without_audio_folders(tmp_path, monkeypatch):
    run = tmp_path / "old"
    write_wav(run / "audio" / "x.wav", tone(1.0))
    (run / "results.json").write_text(json.dumps(results({"x": row(1.0, 1.0)}, gen="/nowhere/audio")))
    monkeypatch.chdir(tmp_path)
    assert main([str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().count("<audio") == 1
