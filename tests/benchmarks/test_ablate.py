import json

import pytest

from benchmarks import ablation_table
from benchmarks.ablate import main, variant
from benchmarks.synthcaps_data import write_split
from sa_core.config import ConfigError
from sa_core.train import read_config


def test_variant_changes_one_setting():
    base = read_config(None, ["steps=5"])
    v = variant(base, "text_encoder", "t5", {"t5": "/x/t5"})
    assert v.model_overrides["conditioning.text.kind"] == "t5" and v.model_overrides["conditioning.text.dim"] == 768
    assert v.steps == 5 and v.model_overrides["conditioning.text.path"] == "/x/t5"
    pen = variant(base, "text_encoder", "mpnet:penultimate", {}).model_overrides
    assert pen["conditioning.text.layer"] == "penultimate" and pen["conditioning.text.dim"] == 768
    assert "conditioning.text.layer" not in variant(base, "text_encoder", "none", {}).model_overrides
    with pytest.raises(ConfigError, match="penultimate"):
        variant(base, "text_encoder", "minilm:first", {})
    with pytest.raises(ConfigError, match="must be one of"):
        variant(base, "text_encoder", "bert", {})
    assert variant(base, "optim.lr", "0.003", {}).optim.lr == 0.003
    assert variant(base, "model.dit.depth", "2", {}).model_overrides == {"dit.depth": 2}


def test_sweep_trains_evaluates_tabulates_resumes_and_skips_missing_encoders(tmp_path, tiny_ckpt, monkeypatch,
                                                                              capsys):
    monkeypatch.delenv("SA_BENCH_T5_DIR", raising=False)
    write_split(tmp_path / "data", "train", 6, seed=0)
    out = tmp_path / "sweep"
    args = ["--sweep", "text_encoder=none,minilm:penultimate,t5", "--seeds", "42,7", "--data", str(tmp_path / "data"),
            "--steps", "2", "--out", str(out), "--n-test", "2", "--eval-steps", "2", "--no-progress",
            "--baseline", str(tiny_ckpt), "--set", "batch_size=2"]
    assert main(args) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert len(sweep["evaluated"]) == 4 and "SA_BENCH_T5_DIR" in sweep["skipped"]["text_encoder=t5"]
    names = [row["name"] for row in sweep["table"]]  # the base config's seed (42) keeps the plain name
    assert names == ["baseline", "text_encoder=none", "text_encoder=none,seed=7", "text_encoder=minilm:penultimate",
                     "text_encoder=minilm:penultimate,seed=7"]
    pen = sweep["table"][3]
    assert pen["layer"] == "penultimate" and pen["text_dim"] == 384 and pen["text_params"] > 2e7
    assert sweep["table"][1]["text_params"] == 0 and pen["seed"] == 42 and sweep["table"][4]["seed"] == 7
    assert set(pen["vs_baseline"]) == set(ablation_table.COLUMNS) and pen["vs_baseline"]["pitch"]["n"] >= 1
    assert "| text_encoder=none |" in (out / "table.md").read_text()
    page = (out / "report.html").read_text()
    assert "timing" in page and "position" in page and "baseline" in page
    # a second run of the same command trains nothing and reuses every generated file
    logs = {p: p.read_text() for p in out.glob("*/model/train_log.csv")}
    seconds = {p: p.read_text() for p in out.glob("*/train_seconds.json")}
    capsys.readouterr()
    assert main(args) == 0
    assert {p: p.read_text() for p in logs} == logs and {p: p.read_text() for p in seconds} == seconds
    for run in sweep["evaluated"]:
        assert json.loads((out.parent / run / "results.json").read_text())["generation"]["generated"] == 0
    assert main(["--sweep", "text_encoder", "--data", str(tmp_path), "--steps", "1"]) == 2
    # a second sweep into the same folder under a tag: its own table, the first one's kept
    first = (out / "table.md").read_text()
    assert main([*args[:1], "text_encoder=none", *args[2:], "--tag", "again"]) == 0
    assert (out / "table.md").read_text() == first and "| text_encoder=none,seed=7 |" in (out / "table-again.md").read_text()
    assert len(json.loads((out / "sweep-again.json").read_text())["evaluated"]) == 2 and (out / "report-again.html").is_file()
    assert main([*args, "--tag", "../x"]) == 2


def _results(hits: dict[str, list[float]], errors: list[float]) -> dict:
    ids = [f"p{i}" for i in range(len(errors))]
    return {"metrics": {
        "timing": {"value": sum(abs(e) for e in errors) / len(errors),
                   "per_item": {i: {"error_s": e} for i, e in zip(ids, errors)}},
        **{k: {"value": sum(v) / len(v), "per_item": {i: {"hit": h} for i, h in zip(ids, v)}}
           for k, v in hits.items()}}}


def test_table_finds_a_real_difference_and_not_a_null_one():
    n = 40
    base = _results({"pitch": [1.0] * n, "position": [1.0] * n}, [0.1] * n)
    worse = _results({"pitch": [0.0] * n, "position": [1.0] * n}, [2.0] * n)
    same = _results({"pitch": [1.0] * n, "position": [1.0] * n}, [0.1] * n)
    about = {"text_encoder": "none", "layer": None, "text_params": 0, "text_dim": 384, "trained_params": 1e6,
             "train_seconds": 60}
    rows = ablation_table.table(("baseline", base), [("worse", worse, about), ("same", same, about)])
    worse_row, same_row = rows[1], rows[2]
    assert worse_row.diffs["pitch"].difference == -1 and worse_row.diffs["pitch"].better == "baseline"
    assert worse_row.diffs["pitch"].p_holm < 0.01 and worse_row.diffs["timing"].better == "baseline"
    assert worse_row.diffs["position"].p == 1 and same_row.diffs["pitch"].better is None
    assert worse_row.values["pitch"][0] == 0 and rows[0].values["timing/within_0.5s"][0] == 1
    text = ablation_table.markdown(rows)
    assert text.count("\n") == 5 and "-100.0% (p" in text and "*" in text
