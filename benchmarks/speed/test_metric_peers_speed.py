"""Metric peers speed: our batched evaluators vs the reference packages' own code paths (``benchmarks.metric_peers``),
same random-weight files, same clips, one benchmark group per model so the two sit side by side.

``pytest --benchmark-only benchmarks/speed/test_metric_peers_speed.py --benchmark-json out.json``. Clips are synthetic
music-like stereo 44.1 kHz; ``SA_BENCH_CLIPS`` (default 8) sets their count and ``SA_BENCH_SECONDS`` (default 10)
their length. CPU only. Each case loads its model and runs it once on the first clip before timing (imports, JIT),
then embeds every clip once per round (pedantic, no cache). A reference package that is not installed skips with its
install command; OpenL3's reference (TensorFlow openl3) always skips. Once both sides of a model have run, the
second records their agreement (``max_rel_diff``) in ``extra_info`` and fails beyond ``metric_peers.TOLERANCE``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import metric_peers as mp
from benchmarks.speed.clip_set import CLIPS, ROUNDS, SECONDS

OUTPUTS: dict[tuple[str, str], list[np.ndarray]] = {}  # (model, side) -> outputs of its last round




def load(model: str, side: str, weights_folder: Path) -> mp.EmbedPaths:
    """The loaded runner of one side; skips when the reference cannot run here."""
    if side == "reference":
        try:
            return mp.reference_runner(model, mp.write_weights(model, weights_folder) if model != "openl3"
                                       else weights_folder)
        except mp.ReferenceMissing as exc:
            pytest.skip(str(exc))
    return mp.our_runner(model, mp.write_weights(model, weights_folder))


@pytest.mark.parametrize("side", ["ours", "reference"])
@pytest.mark.parametrize("model", list(mp.MODELS))
def test_metric_peer_speed(benchmark, clips, weights_folder, model, side):
    runner = load(model, side, weights_folder)
    runner(clips[:1])  # warm-up: lazy imports, resampy's numba JIT
    benchmark.group = f"{model} x {CLIPS} clips of {SECONDS:g} s stereo (cpu): ours vs reference"
    benchmark.extra_info.update({"clips": CLIPS, "seconds_of_audio": SECONDS * CLIPS, "side": side})
    out = benchmark.pedantic(lambda: runner(clips), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    assert len(out) == CLIPS
    OUTPUTS[model, side] = out
    other = OUTPUTS.get((model, "reference" if side == "ours" else "ours"))
    if other is not None:
        ours, theirs = (out, other) if side == "ours" else (other, out)
        worst = max(mp.max_rel_diff(a, b) for a, b in zip(ours, theirs))
        benchmark.extra_info["max_rel_diff"] = worst
        assert worst < mp.TOLERANCE[model], (model, worst)
