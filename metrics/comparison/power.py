"""How many prompts does a claimed difference need? Sample-size guidance for the metrics of one run.

For every metric of a results file: the smallest difference (MDD) that a paired comparison on the run's n prompts
detects with 80% power at alpha 0.05, MDD = (z_0.975 + z_0.8) x SE(difference) = 2.80 x SE, and, given a target
difference, the n that detects it: n = (2.80 x SE_1 / target)^2 with SE_1 the SE for one prompt
(:func:`metrics.scores.stats.minimum_detectable`, :func:`metrics.scores.stats.n_needed`; normal approximation).

* Per-item metrics: SE = sigma_d / sqrt(n). One run does not know the SD sigma_d of paired differences; it is taken
  as sqrt(2) x the run's per-item SD (a second system as variable as this one and independent of it per prompt).
  Prompts that are hard for both systems make real differences less variable, so this errs on the large side;
  every comparison (:mod:`metrics.comparison.compare`) reports the MDD from the differences it measured instead.
* Set metrics (FD, KAD, FAD-inf, IS, MAD): SE at n prompts = the SD of the metric over bootstrap resamples of the
  prompts, recomputed from the cached embeddings; two independent systems' difference has sqrt(2) x that, and the
  SE scales as 1/sqrt(n). The bias of FD-like metrics at small n moves both systems alike and cancels to first
  order in a difference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from metrics.comparison.compare import SET_STATISTICS, item_columns, kind_of
from metrics.embedding import embedding_record
from metrics.scores.stats import bootstrap_indices, minimum_detectable, n_needed


@dataclass
class Guidance:
    metric: str
    n: int  # prompts in the run
    se_difference: float  # assumed SE of a paired difference B - A at n prompts
    mdd80: float  # smallest difference n prompts detect with 80% power at alpha 0.05
    target: float | None = None
    n_for_target: int | None = None  # prompts needed to detect ``target`` (same power and alpha)
    basis: str = ""


def guidance(metric: str, se_difference: float, n: int, target: float | None, basis: str) -> Guidance:
    """MDD at ``n`` and the n for ``target`` from the SE of a difference at ``n`` prompts."""
    g = Guidance(metric, n, se_difference, minimum_detectable(se_difference), target, None, basis)
    if target is not None and math.isfinite(se_difference):
        g.n_for_target = n_needed(target, se_difference * math.sqrt(n))
    return g


def run_guidance(results: dict[str, Any], target: float | None = None, replicates: int = 200,
                 seed: int = 0) -> tuple[list[Guidance], dict[str, str]]:
    """Guidance for every metric of one results file, and why a metric has none."""
    out, skipped = [], {}
    for key, res in results["metrics"].items():
        try:
            if kind_of(key, res) in SET_STATISTICS:
                out.append(_set_guidance(key, res, target, replicates, seed))
                continue
            columns = item_columns(results, key)
            if not columns:
                raise ValueError("no per-item scores whose mean is the metric's value")
            for name, (scores, _) in columns.items():
                v = np.array(list(scores.values()))
                if len(v) < 2:
                    raise ValueError(f"{name}: {len(v)} scored prompts (need 2)")
                se = math.sqrt(2) * float(v.std(ddof=1)) / math.sqrt(len(v))
                out.append(guidance(name, se, len(v), target, "per-item SD x sqrt(2) (independent systems)"))
        except ValueError as exc:
            skipped[key] = str(exc)
    return out, skipped


def _set_guidance(key: str, res: dict[str, Any], target: float | None, replicates: int, seed: int) -> Guidance:
    inputs = embedding_record.load(res.get("embeddings"), key)
    files = [inputs.gen[i] for i in sorted(inputs.gen)]
    if len(files) < 2:
        raise ValueError(f"{key}: {len(files)} files with cached embeddings (need 2)")
    stat = SET_STATISTICS[kind_of(key, res)](inputs, (res.get("protocol_metric") or {}).get("distance") or {})
    counts = np.stack([np.bincount(i, minlength=len(files)) for i in bootstrap_indices(len(files), replicates, seed)])
    se = float(np.std(stat(files, counts), ddof=1))
    return guidance(key, math.sqrt(2) * se, len(files), target,
                    f"bootstrap SD over {replicates} prompt resamples x sqrt(2) (independent systems)")


def table(rows: list[Guidance], skipped: dict[str, str]) -> list[str]:
    """Guidance as aligned text lines."""
    lines = [f"{'metric':22s} {'n':>5s} {'SE(B - A)':>10s} {'MDD80':>10s} {'n for target':>13s}  basis"]
    for g in rows:
        n_for = "" if g.n_for_target is None else f"{g.n_for_target} (for {g.target:g})"
        lines.append(f"{g.metric:22s} {g.n:5d} {g.se_difference:10.4g} {g.mdd80:10.4g} {n_for:>13s}  {g.basis}")
    lines += [f"{k:22s} no guidance: {why}" for k, why in skipped.items()]
    lines.append("MDD80: the smallest true difference these n prompts detect with 80% power at alpha 0.05")
    return lines
