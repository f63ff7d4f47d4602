"""The benchmark runners: no input loses a run, no damaged file silently changes a result.

Damaged audio in a run folder is regenerated (and listed with why), caption runs time the whole window, every
count and length is checked before anything is written, a file the autoencoder cannot take is skipped with its
reason, and summaries, results.json and the results table stay valid with no valid item at all.
"""
import csv
import json
import math

import numpy as np
import pytest
import soundfile as sf

from benchmarks.autoencoder import main as autoencoder
from benchmarks.captions import main as captions
from benchmarks.synthcaps import main as synthcaps
from benchmarks.synthcaps_data import WINDOW
from benchmarks.timing import main as timing
from sa_fixtures.clips import tone, write_wav


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity, which are not JSON."""
    def refuse(name):
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_damaged_audio_in_a_run_folder_is_regenerated(tiny_ckpt, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--ckpt", str(tiny_ckpt), "--out", str(run), "--n", "5", "--steps", "2", "--no-progress",
            "--weights-dir", str(tmp_path / "none")]
    assert synthcaps(args) == 0
    first = strict_json((run / "results.json").read_text())
    audio = {p.stem: sf.read(p)[0] for p in (run / "audio").glob("*.wav")}
    ids = sorted(audio)
    data = (run / "audio" / f"{ids[0]}.wav").read_bytes()
    (run / "audio" / f"{ids[0]}.wav").write_bytes(data[:len(data) // 2])  # interrupted: header claims more
    (run / "audio" / f"{ids[1]}.wav").write_bytes(b"")  # emptied
    (run / "audio" / f"{ids[2]}.wav").write_bytes(data[:40])  # header only
    write_wav(run / "audio" / f"{ids[3]}.wav", tone(1.0))  # decodes, but not the window the generator writes
    capsys.readouterr()
    assert synthcaps(args) == 0
    assert "1 of 5 already generated; 4 to go; 4 of them replace files that failed verification" in capsys.readouterr().err
    again = strict_json((run / "results.json").read_text())
    gen = again["generation"]
    assert gen["generated"] == 4 and gen["reused"] == 1 and set(gen["regenerated"]) == set(ids[:4])
    assert "unreadable audio" in gen["regenerated"][ids[1]] and "unreadable audio" in gen["regenerated"][ids[2]]
    assert gen["regenerated"][ids[3]] == (f"audio/{ids[3]}.wav: 2 channel(s) x 44100 samples at 44100 Hz, "
                                          f"expected 2 x {WINDOW} at 44100 Hz")
    for i in ids:
        np.testing.assert_allclose(sf.read(run / "audio" / f"{i}.wav")[0], audio[i], atol=1e-5)
    t1, t2 = first["metrics"]["timing"], again["metrics"]["timing"]
    assert t2["n"] == t1["n"] == 5 and t2["within_0.5s"] == t1["within_0.5s"]
    for i in ids:
        assert t2["per_item"][i]["detected_s"] == pytest.approx(t1["per_item"][i]["detected_s"], abs=0.02)
    assert "regenerated" in (run / "report.html").read_text()  # the report's run metadata lists them


def caption_csv(path, n):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["ytid", "caption"]] + [[f"id{k}", f"a tone number {k}"] for k in range(n)])
    return path


def test_caption_runs_time_the_whole_window_and_evaluate_the_trimmed_audio(tiny_ckpt, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--captions", str(caption_csv(tmp_path / "c.csv", 3)), "--ckpt", str(tiny_ckpt), "--out", str(run),
            "--steps", "2", "--seconds-total", "1.5", "--weights-dir", str(tmp_path / "none"),
            "--results-table", str(tmp_path / "t.jsonl"), "--no-progress"]
    assert captions("musiccaps", args) == 0
    res = strict_json((run / "results.json").read_text())
    assert {sf.info(p).frames for p in (run / "audio").glob("*.wav")} == {66150}  # 1.5 s: what FD/KL/CLAP read
    windows = sorted((run / "window").glob("*.flac"))
    assert len(windows) == 3 and {sf.info(p).frames for p in windows} == {WINDOW}
    assert res["audio"] == {"evaluated": "audio", "timing": "window"}
    assert res["settings"]["timing_gen"].endswith("window") and res["generation"]["trimmed_to_seconds_total"]
    timing_rows = res["metrics"]["timing"]["per_item"]
    assert len(timing_rows) == 3
    # a random model makes noise across the whole window: measured on the trimmed files it could not pass 1.5 s
    assert max(r["detected_s"] for r in timing_rows.values()) > 2.5
    (run / "window" / "id1.flac").unlink()
    assert captions("musiccaps", args) == 0
    gen = strict_json((run / "results.json").read_text())["generation"]
    assert gen["generated"] == 1 and gen["regenerated"] == {"id1": "window/id1.flac: missing"}
    assert [strict_json(line)["benchmark"] for line in (tmp_path / "t.jsonl").read_text().splitlines()] == [
        "musiccaps"] * 2


@pytest.mark.parametrize("flags, message", [
    (["--limit", "0"], "argument --limit: must be an integer >= 1, got 0"),
    (["--limit", "-1"], "argument --limit: must be an integer >= 1, got -1"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
])
def test_caption_counts_are_checked_by_the_parser(tiny_ckpt, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_:
        captions("musiccaps", ["--captions", str(caption_csv(tmp_path / "c.csv", 2)), "--ckpt", str(tiny_ckpt),
                               "--out", str(tmp_path / "o")] + flags)
    assert exit_.value.code == 2 and message in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_caption_limit_takes_the_first_n(tiny_ckpt, tmp_path):
    from benchmarks.captions import DATASETS, read_prompts

    table = caption_csv(tmp_path / "c.csv", 4)
    assert [p.id for p in read_prompts(DATASETS["musiccaps"], table, "caption", 1.0, 3)] == ["id0", "id1", "id2"]
    assert len(read_prompts(DATASETS["musiccaps"], table, "caption", 1.0, None)) == 4


@pytest.mark.parametrize("flags, message", [
    (["--seconds-total", "nan"], "got nan"), (["--seconds-total", "inf"], "got inf"),
    (["--seconds-total", "-2"], "got -2.0"), (["--seconds-total", "0"], "got 0.0"),
    (["--seconds-total", "10"], "must be a finite number in (0, 3.715] s (the model's window), got 10.0"),
    (["--cfg-scale", "nan"], "cfg_scale (--cfg-scale) must be a finite number"),
    (["--sigma-min", "600"], "sigma_max (--sigma-max) must be above sigma_min"),
])
def test_caption_settings_are_checked_before_anything_is_written(tiny_ckpt, tmp_path, capsys, flags, message):
    argv = ["--captions", str(caption_csv(tmp_path / "c.csv", 2)), "--ckpt", str(tiny_ckpt), "--out",
            str(tmp_path / "o"), "--seconds-total", "1", "--results-table", str(tmp_path / "t.jsonl")] + flags
    assert captions("musiccaps", argv) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "t.jsonl").exists()


@pytest.mark.parametrize("seconds, message", [
    ("nan", "got nan"), ("inf", "got inf"), ("-1", "got -1.0"), ("1,60", "got 60.0"), ("1,1", "appears twice"),
    ("1,x", "--seconds must be comma-separated numbers"), (",", "--seconds is empty"),
])
def test_timing_sweep_lengths_are_checked_up_front(tiny_ckpt, tmp_path, capsys, seconds, message):
    assert timing(["--ckpt", str(tiny_ckpt), "--seconds", seconds, "--out", str(tmp_path / "t")]) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("main, argv, message", [
    (synthcaps, ["--n", "0"], "argument --n: must be an integer >= 1, got 0"),
    (synthcaps, ["--n", "-3"], "argument --n: must be an integer >= 1, got -3"),
    (autoencoder, ["--limit", "0"], "argument --limit: must be an integer >= 1, got 0"),
])
def test_counts_below_one_are_refused(tmp_path, capsys, main, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--ckpt", str(tmp_path), "--out", str(tmp_path / "o")]
             + (["--ref-dir", str(tmp_path)] if main is autoencoder else []))
    assert exit_.value.code == 2 and message in one_error_line(capsys)


def test_autoencoder_skips_files_the_model_cannot_take(tiny_ckpt, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert autoencoder(["--ckpt", str(tiny_ckpt), "--ref-dir", str(tmp_path / "empty"), "--out",
                        str(tmp_path / "o")]) == 2
    assert "holds no audio file (.wav, .flac" in one_error_line(capsys)
    ref = tmp_path / "ref"
    write_wav(ref / "one.wav", np.array([[0.5, 0.5]], np.float32))  # a single sample
    write_wav(ref / "ok.wav", tone(1.0))
    run = tmp_path / "run"
    assert autoencoder(["--ckpt", str(tiny_ckpt), "--ref-dir", str(ref), "--out", str(run), "--weights-dir",
                        str(tmp_path / "none")]) == 0
    res = strict_json((run / "results.json").read_text())
    assert set(res["metrics"]["si_sdr"]["per_item"]) == {"ok"}
    [skip] = [s for s in res["skipped_files"] if s["metric"] == "autoencoder"]
    assert skip["file"].endswith("one.wav") and skip["reason"].startswith("autoencoder failed: RuntimeError")
    assert sorted(p.name for p in (run / "audio").iterdir()) == ["ok.wav"]  # FD never sees a half-done file
    # a later run over fewer references leaves no file of the earlier one in the folders FD reads
    assert autoencoder(["--ckpt", str(tiny_ckpt), "--ref-dir", str(ref), "--out", str(run), "--limit", "1",
                        "--weights-dir", str(tmp_path / "none")]) == 0
    assert sorted(p.name for p in (run / "audio").iterdir()) == sorted(p.name for p in (run / "reference").iterdir())


def garbage_folder(folder, valid: int):
    """Audio files that cannot be evaluated (empty, header-only, NaN, silent) plus ``valid`` good ones."""
    folder.mkdir(parents=True)
    (folder / "id0.wav").write_bytes(b"")
    (folder / "id1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(28))
    write_wav(folder / "id2.wav", np.full((4410, 2), np.nan, np.float32), subtype="FLOAT")
    write_wav(folder / "id3.wav", np.zeros((4410, 2), np.float32))
    for k in range(valid):
        write_wav(folder / f"id{4 + k}.wav", tone(1.0, seed=k))
    return 4 + valid


@pytest.mark.parametrize("valid", [0, 1])
def test_no_valid_item_gives_valid_json_and_summaries(tmp_path, capsys, valid):
    n = garbage_folder(tmp_path / "gen", valid)
    table = tmp_path / "t.jsonl"
    argv = ["--captions", str(caption_csv(tmp_path / "c.csv", n)), "--gen-dir", str(tmp_path / "gen"), "--out",
            str(tmp_path / "run"), "--weights-dir", str(tmp_path / "none"), "--results-table", str(table),
            "--no-progress"]
    assert captions("musiccaps", argv) == 0
    out = capsys.readouterr().out
    res = strict_json((tmp_path / "run" / "results.json").read_text())
    row = strict_json(table.read_text().splitlines()[-1])
    if valid:  # with one item the CI is undefined: null, not NaN
        assert res["metrics"]["timing"]["n"] == valid
        assert f"timing: {format(res['metrics']['timing']['value'], '.4g')} (n={valid})" in out
        assert row["metrics"]["timing"]["ci95"] == [None, None]
    else:  # no valid item: the metric is listed as skipped with its reason, the run still reports
        assert "timing" not in res["metrics"] and "timing" in res["skipped_metrics"]
        assert "timing: skipped:" in out and "timing" in row["skipped_metrics"]
    assert len({s["file"] for s in res["skipped_files"]}) == 4


def test_synthcaps_summary_with_no_valid_item(tiny_ckpt, tmp_path, capsys):
    """A checkpoint that generates NaN: every file is skipped by every metric, and the run still reports."""
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "nan-ckpt"
    broken.mkdir()
    (broken / "model_config.json").write_text((tiny_ckpt / "model_config.json").read_text())
    state = load_file(str(tiny_ckpt / "model.safetensors"))
    save_file({k: (v * math.nan if v.is_floating_point() else v) for k, v in state.items()},
              str(broken / "model.safetensors"))
    run = tmp_path / "run"
    assert synthcaps(["--ckpt", str(broken), "--out", str(run), "--n", "2", "--steps", "1", "--no-progress",
                      "--weights-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert "timing: skipped:" in out
    assert "pitch: n/a" in out and "position: n/a" in out
    res = strict_json((run / "results.json").read_text())
    assert res["metrics"]["position"]["n"] == 0 and len(res["skipped_files"]) >= 2
