"""The tiny SynthCaps model shipped in the package still follows its text and timing conditioning.

A handful of SynthCaps test prompts (captions never seen in training) through the README's main job on CPU,
scored against the known content. The floors sit well below what the full 40-prompt run measures (see the
checkpoint's PROVENANCE.md) and far above chance, so a broken sampler, conditioner, checkpoint loader or
autoencoder fails here.
"""
import json

from benchmarks.synthcaps import SHIPPED, main

# measured on these 16 prompts at the shipped settings: timing 14/16, pitch 11/13, position 16/16
TIMING_FLOOR, PITCH_FLOOR, POSITION_FLOOR = 0.7, 0.6, 0.8


def test_shipped_checkpoint_is_small_and_documented():
    assert (SHIPPED / "model.safetensors").stat().st_size < 25 * 2**20
    assert {"model_config.json", "PROVENANCE.md"} <= {p.name for p in SHIPPED.iterdir()}


def test_shipped_checkpoint_follows_text_and_timing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--n", "16", "--no-progress", "--weights-dir", str(tmp_path / "none")]) == 0
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["timing"]["n"] == 16 and m["pitch"]["n"] >= 12
    assert m["timing"]["within_0.5s"] >= TIMING_FLOOR
    assert m["pitch"]["value"] >= PITCH_FLOOR > 2 * m["pitch"]["chance"]
    assert m["position"]["value"] >= POSITION_FLOOR > 2 * m["position"]["chance"]
    assert "chance" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert "(chance 0.125)" in page and "(chance 0.3333)" in page  # the report states chance beside the scores
    assert f"within ±0.5 s: {m['timing']['within_0.5s']:.4g}" in page
