"""Agreement with human ratings (metrics.comparison.agreement) and the public rating-set readers (metrics.comparison.rating_sets),
on synthetic files in each set's published layout."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from metrics.__main__ import main
from metrics.comparison import agreement, rating_sets

SYSTEMS = ["S001", "S002", "S003", "S004", "S005"]
ITEMS = [f"P{i:03d}" for i in range(30)]
QUALITY = {"S001": 1.0, "S002": 2.0, "S003": 3.0, "S004": 4.0, "S005": 5.0}  # the truth both sides measure


def results_for(system: str, rng: np.random.Generator) -> dict:
    """A run whose per-item CLAP tracks the system's quality and whose FD falls with it (lower is better)."""
    per_item = {i: 0.1 * QUALITY[system] + 0.02 * rng.normal() for i in ITEMS}
    return {"metrics": {
        "clap": {"value": float(np.mean(list(per_item.values()))), "per_item": per_item,
                 "protocol_metric": {"kind": "clap", "higher_is_better": True}},
        "fd": {"value": 10.0 - QUALITY[system], "protocol_metric": {"kind": "fd", "higher_is_better": False}}}}


@pytest.fixture()
def runs(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    out = {}
    for s in SYSTEMS:
        out[s] = tmp_path / f"{s}.json"
        out[s].write_text(json.dumps(results_for(s, rng)))
    return out


def scores(rng: np.random.Generator) -> agreement.Ratings:
    return agreement.Ratings([(s, i, QUALITY[s] + rng.normal(0, 0.5)) for s in SYSTEMS for i in ITEMS])


def test_system_level_agreement_is_positive_for_both_directions(runs):
    rng = np.random.default_rng(1)
    loaded = {s: json.loads(p.read_text()) for s, p in runs.items()}
    rows, skipped = agreement.agreement(scores(rng), loaded, n_boot=200)
    by = {r.metric: r for r in rows}
    assert by["clap"].system_level["kendall_tau"] == pytest.approx(1.0)
    assert by["fd"].system_level["spearman"] == pytest.approx(1.0)  # FD negated: lower distance, better system
    assert by["clap"].item_level["pearson"] > 0.5 and by["clap"].n_item_pairs == len(SYSTEMS) * len(ITEMS)
    assert by["fd"].item_level is None  # a set metric has no item scores
    lo, hi = by["clap"].ci95_items["pearson"]
    assert lo <= by["clap"].system_level["pearson"] <= hi


def test_unrelated_metric_does_not_agree(runs):
    rng = np.random.default_rng(2)
    loaded = {s: json.loads(p.read_text()) for s, p in runs.items()}
    shuffled = dict(zip(SYSTEMS, [3.0, 1.0, 5.0, 2.0, 4.0]))
    ratings = agreement.Ratings([(s, i, shuffled[s] + rng.normal(0, 0.1)) for s in SYSTEMS for i in ITEMS])
    by = {r.metric: r for r in agreement.agreement(ratings, loaded, n_boot=100)[0]}
    assert abs(by["clap"].system_level["kendall_tau"]) <= 0.2


def test_bradley_terry_recovers_the_order():
    rng = np.random.default_rng(3)
    prefs = []
    for i in range(200):  # 200 games per pair: enough to order strengths 3 : 4 apart
        for a, b in [(a, b) for a in SYSTEMS for b in SYSTEMS if a < b]:
            p_a = QUALITY[a] / (QUALITY[a] + QUALITY[b])
            prefs.append((i, a, b, a if rng.random() < p_a else b))
    strength = agreement.bradley_terry(prefs, SYSTEMS)
    assert sorted(SYSTEMS, key=strength.get) == SYSTEMS
    assert strength["S005"] - strength["S001"] == pytest.approx(np.log(5.0), abs=0.25)


def test_cli_on_preferences(runs, tmp_path, capsys):
    rng = np.random.default_rng(4)
    path = tmp_path / "prefs.csv"
    rows = [(i, a, b, (a if rng.random() < QUALITY[a] / (QUALITY[a] + QUALITY[b]) else b))
            for i in ITEMS for a in SYSTEMS for b in SYSTEMS if a < b]
    agreement.write_ratings(path, agreement.Ratings(preferences=rows))
    out = tmp_path / "agree.json"
    assert main(["agreement", "--ratings", str(path), "--runs", *[f"{s}={p}" for s, p in runs.items()],
                 "--bootstrap", "50", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {m["metric"] for m in res["metrics"]} == {"clap", "fd"}
    assert "kendall_tau" in capsys.readouterr().out


def test_cli_rejects_bad_runs_argument(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("system,item,rating\nS001,P1,3\n")
    assert main(["agreement", "--ratings", str(path), "--runs", "nofile"]) == 2
    assert capsys.readouterr().err.startswith("error: --runs 'nofile': expected SYSTEM=RESULTS.json")


def test_bad_winner_is_a_one_line_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("item,system_a,system_b,winner\nP1,S001,S002,S003\n")
    with pytest.raises(agreement.RatingsError, match="line 2: winner 'S003' is neither system nor 'tie'"):
        agreement.read_ratings(path)


# --- public layouts --------------------------------------------------------------------------------------------
def test_musiceval_mos_list(tmp_path):
    path = tmp_path / "mos_list.txt"
    path.write_text("audiomos2025-track1-S001_P001,3.5,4.0\naudiomos2025-track1-S002_P001,2.0,2.5\n")
    r = rating_sets.read(path, "musiceval")
    assert r.scores == [("S001", "P001", 3.5), ("S002", "P001", 2.0)]
    assert rating_sets.read(path, "musiceval", "textual").scores[1] == ("S002", "P001", 2.5)
    path.write_text("wavID,overall,textual\naudiomos2025-track1-S001_P001,3.5\n")  # a header, then a short line
    with pytest.raises(agreement.RatingsError, match="line 2: expected <wavID>,<overall>,<textual>"):
        rating_sets.read(path, "musiceval")


def test_tta_bench_rater_files(tmp_path):
    columns = ["name", *rating_sets.TTA_BENCH_ASPECTS.values()]
    for rater, base in (("ruike001", 3), ("ruike002", 4)):
        with open(tmp_path / f"result-{rater}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(columns)
            w.writerow(["S001_P0001.wav", 1, 2, base, 4, 5])
            w.writerow(["S000_P0002.wav", 1, 1, 1, 1, 1])  # attention check: not a system
            w.writerow(["S002_P0001.wav", 1, 2, base + 1, 4, 5])
    r = rating_sets.read(tmp_path, "tta-bench")
    assert sorted(r.scores) == [("S001", "P0001", 3.0), ("S001", "P0001", 4.0), ("S002", "P0001", 4.0),
                                ("S002", "P0001", 5.0)]
    assert {x[2] for x in rating_sets.read(tmp_path, "tta-bench", "alignment").scores} == {4.0}
    assert agreement.human_scores(r, ["S001", "S002"]) == {"S001": 3.5, "S002": 4.5}


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def test_pam_scores_csv(tmp_path):
    task = tmp_path / "human_eval" / "text-to-music"
    task.mkdir(parents=True)
    write_csv(task / "scores.csv", ["Model", "File Name", "OVL", "REL"],
              [["musicgen", "prompt_001", 3.2, 4.0], ["audioldm2", "prompt_001", 2.6, 3.4]])
    r = rating_sets.read(task, "pam")  # the task folder or its scores.csv
    assert r.scores == [("musicgen", "prompt_001", 3.2), ("audioldm2", "prompt_001", 2.6)]
    assert rating_sets.read(task / "scores.csv", "pam", "relevance").scores[1] == ("audioldm2", "prompt_001", 3.4)
    write_csv(task / "scores.csv", ["Model", "File Name", "OVL", "REL"], [["musicgen", "prompt_002", "", 4.0]])
    with pytest.raises(agreement.RatingsError, match="line 2: overall rating '' is not a number"):
        rating_sets.read(task, "pam")
    write_csv(task / "scores.csv", ["Model", "File", "OVL", "REL"], [["musicgen", "prompt_002", 3, 4]])
    with pytest.raises(agreement.RatingsError, match="missing 'File Name'"):
        rating_sets.read(task, "pam")


def test_musicprefs_human_preference_csv(tmp_path):
    header = ["audio_a", "audio_b", "system_a", "system_b", "musicality", "fidelity"]
    path = write_csv(tmp_path / "human_preference.csv", header,
                     [["0_0.wav", "0_1.wav", "musicgen-large", "stable-audio-open", "a_wins", "b_wins"],
                      ["1_0.wav", "1_1.wav", "mustango", "musicgen-large", "b_wins", "tie"]])
    r = rating_sets.read(path, "musicprefs")
    assert r.preferences == [("0_0.wav|0_1.wav", "musicgen-large", "stable-audio-open", "musicgen-large"),
                             ("1_0.wav|1_1.wav", "mustango", "musicgen-large", "musicgen-large")]
    assert [p[3] for p in rating_sets.read(path, "musicprefs", "fidelity").preferences] == ["stable-audio-open",
                                                                                            "tie"]
    write_csv(path, header, [["2_0.wav", "2_1.wav", "mustango", "", "a_wins", "a_wins"]])
    with pytest.raises(agreement.RatingsError, match="line 2: expected system_a, system_b and a musicality outcome"):
        rating_sets.read(path, "musicprefs")


AIME_HEADER = ["question-type", "description", "model-1", "track-1-id", "track-1-begin", "track-1-end", "model-2",
               "track-2-id", "track-2-begin", "track-2-end", "answer"]


def test_aime_survey(tmp_path):
    path = write_csv(tmp_path / "aime-survey.csv", AIME_HEADER, [
        ["Music Quality", "jazz, upbeat", "Udio", 4501, "00:00:10", "00:00:20", "MusicGen", 1226, "00:00:00",
         "00:00:10", 1],
        ["Text-Audio Alignment", "jazz, upbeat", "Udio", 4501, "00:00:10", "00:00:20", "MusicGen", 1226, "00:00:00",
         "00:00:10", 2],
        ["Music Quality", "rock", "MusicGen", 77, "00:00:00", "00:00:10", "Udio", 42, "00:00:05", "00:00:15", 2]])
    assert rating_sets.read(path, "aime").preferences == [("jazz, upbeat", "Udio", "MusicGen", "Udio"),
                                                          ("rock", "MusicGen", "Udio", "Udio")]
    assert rating_sets.read(path, "aime", "text-audio-alignment").preferences == [
        ("jazz, upbeat", "Udio", "MusicGen", "MusicGen")]
    write_csv(path, [c.replace("-", "_") for c in AIME_HEADER],  # a CSV export with underscored names
              [["Music Quality", "rock", "MusicGen", 77, "0", "10", "Udio", 42, "0", "10", 0]])
    with pytest.raises(agreement.RatingsError, match="data row 1: expected model-1, model-2 and answer 1 or 2"):
        rating_sets.read(path, "aime")
    write_csv(path, AIME_HEADER, [["Text Alignment", "rock", "MusicGen", 77, "0", "10", "Udio", 42, "0", "10", 1]])
    with pytest.raises(agreement.RatingsError, match="no question-type 'Text-Audio Alignment'.*'Text Alignment'"):
        rating_sets.read(path, "aime", "text-audio-alignment")


def test_aime_survey_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd
    row = ["Music Quality", "rock", "MusicGen", 77, "00:00:00", "00:00:10", "Udio", 42, "00:00:05", "00:00:15", 2]
    pd.DataFrame([row], columns=AIME_HEADER).to_parquet(tmp_path / "train-00000-of-00001.parquet")
    r = rating_sets.read(tmp_path / "train-00000-of-00001.parquet", "aime")
    assert r.preferences == [("rock", "MusicGen", "Udio", "Udio")]


def test_cli_reads_a_public_preference_layout(runs, tmp_path, capsys):
    rng = np.random.default_rng(5)
    rows = [["Music Quality", i, a, 1, "0", "10", b, 2, "0", "10", 1 if rng.random() < QUALITY[a] /
             (QUALITY[a] + QUALITY[b]) else 2] for i in ITEMS for a in SYSTEMS for b in SYSTEMS if a < b]
    path = write_csv(tmp_path / "aime.csv", AIME_HEADER, rows)
    assert main(["agreement", "--ratings", str(path), "--ratings-format", "aime", "--runs",
                 *[f"{s}={p}" for s, p in runs.items()], "--bootstrap", "50"]) == 0
    assert "kendall_tau" in capsys.readouterr().out


def test_aime_parquet_without_an_engine_is_a_one_line_error(tmp_path, monkeypatch):
    import pandas as pd

    def no_engine(*_, **__):
        raise ImportError("Unable to find a usable engine")
    monkeypatch.setattr(pd, "read_parquet", no_engine)
    (tmp_path / "survey.parquet").write_bytes(b"")
    with pytest.raises(agreement.RatingsError, match="reading parquet needs pyarrow"):
        rating_sets.read(tmp_path / "survey.parquet", "aime")
