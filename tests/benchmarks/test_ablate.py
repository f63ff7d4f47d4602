import json

from benchmarks.ablate import main, variant
from benchmarks.synthcaps_data import write_split
from sa_core.train import read_config


def test_variant_changes_one_setting():
    base = read_config(None, ["steps=5"])
    v = variant(base, "text_encoder", "t5", {"t5": "/x/t5"})
    assert v.model_overrides["conditioning.text.kind"] == "t5" and v.model_overrides["conditioning.text.dim"] == 768
    assert v.steps == 5 and v.model_overrides["conditioning.text.path"] == "/x/t5"
    assert variant(base, "optim.lr", "0.003", {}).optim.lr == 0.003
    assert variant(base, "model.dit.depth", "2", {}).model_overrides == {"dit.depth": 2}


def test_sweep_trains_evaluates_and_skips_missing_encoders(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SA_BENCH_T5_DIR", raising=False)
    write_split(tmp_path / "data", "train", 6, seed=0)
    args = ["--sweep", "text_encoder=minilm,t5", "--data", str(tmp_path / "data"), "--steps", "2",
            "--out", str(tmp_path / "sweep"), "--n-test", "2", "--eval-steps", "2", "--no-progress"]
    assert main(args) == 0
    sweep = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert len(sweep["evaluated"]) == 1 and "SA_BENCH_T5_DIR" in sweep["skipped"]["t5"]
    page = (tmp_path / "sweep" / "report.html").read_text()
    assert "timing" in page and "position" in page
    assert main(["--sweep", "text_encoder", "--data", str(tmp_path), "--steps", "1"]) == 2
