"""The ablation's table: each variant's SynthCaps adherence with 95% CIs, its paired difference from the baseline
(the shipped model, same 40 prompts and generation seeds) with Holm-adjusted p-values over every test of the
table, and what the variant is and costs (text encoder, its parameters and width, trained parameters, training
wall time).

Differences and p-values come from :func:`metrics.comparison.compare.compare_pair` (paired bootstrap CI, sign-flip
permutation p), the same as ``python -m metrics compare``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metrics.comparison.compare import CompareConfig, Difference, Run, compare_pair, item_columns
from metrics.scores.stats import bootstrap_ci, holm

# column -> (title, format); timing/within_0.5s is the paper's timing accuracy, timing the mean |error|
COLUMNS = {"timing/within_0.5s": ("timing ±0.5 s", ".1%"), "pitch": ("pitch", ".1%"),
           "position": ("position", ".1%"), "timing": ("timing MAE (s)", ".3f")}


@dataclass
class Row:
    name: str  # folder under the sweep's --out
    about: dict[str, Any]  # text encoder, layer, seed, parameters, widths, training time
    values: dict[str, tuple[float, float, float]]  # column -> (value, CI low, CI high)
    diffs: dict[str, Difference] = field(default_factory=dict)  # column -> difference from the baseline


def run_values(results: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """Column -> (mean of its per-item scores, bootstrap 95% CI)."""
    columns: dict[str, Any] = {}
    for key in ("timing", "pitch", "position"):
        if key in results["metrics"]:
            columns.update(item_columns(results, key))
    out = {}
    for name in COLUMNS:
        scores = np.array(list(columns[name][0].values())) if name in columns else np.array([])
        out[name] = (float(scores.mean()) if len(scores) else math.nan, *bootstrap_ci(scores))
    return out


def table(baseline: tuple[str, dict[str, Any]], variants: list[tuple[str, dict[str, Any], dict[str, Any]]],
          cfg: CompareConfig = CompareConfig()) -> list[Row]:
    """``baseline`` (label, results) first, then one row per variant (name, results, about), every difference
    B - A against the baseline, Holm-adjusted over the whole table."""
    cfg = CompareConfig(**{**cfg.__dict__, "metrics": tuple(COLUMNS)})
    base = Run(baseline[0], baseline[1])
    rows = [Row(baseline[0], {"baseline": True}, run_values(baseline[1]))]
    for name, results, about in variants:
        diffs, _ = compare_pair(base, Run(name, results), cfg)
        rows.append(Row(name, about, run_values(results), {d.metric: d for d in diffs}))
    tests = [d for r in rows for d in r.diffs.values()]
    for d, p in zip(tests, holm([d.p for d in tests])):
        d.p_holm = p
        if p < cfg.alpha and d.higher_is_better is not None and d.difference != 0:
            d.better = d.b if (d.difference > 0) == d.higher_is_better else d.a
    return rows


def _cell(v: tuple[float, float, float], spec: str) -> str:
    value, lo, hi = v
    if not math.isfinite(value):
        return "n/a"
    return f"{value:{spec}} [{lo:{spec}}, {hi:{spec}}]" if math.isfinite(lo) else f"{value:{spec}}"


def _diff(d: Difference | None, spec: str) -> str:
    if d is None:
        return ""
    star = " *" if d.better else ""
    return f"{d.difference:+{spec}} (p {d.p_holm:.2g}){star}"


def markdown(rows: list[Row]) -> str:
    """The table as Markdown: one row per run, values with CIs, then differences from the first row."""
    head = ["variant", "text encoder (params, width)", "trained params", "train time"]
    head += [t for t, _ in COLUMNS.values()] + [f"Δ {t}" for t, _ in COLUMNS.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        a = r.about
        enc = "" if a.get("baseline") else \
            f"{a['text_encoder']}{':' + a['layer'] if a.get('layer') else ''} ({a['text_params'] / 1e6:.1f} M, {a['text_dim']})"
        trained = f"{a['trained_params'] / 1e6:.2f} M" if "trained_params" in a else ""
        minutes = f"{a['train_seconds'] / 60:.0f} min" if a.get("train_seconds") else ""
        cells = [r.name, enc, trained, minutes] + [_cell(r.values[c], s) for c, (_, s) in COLUMNS.items()]
        cells += [_diff(r.diffs.get(c), s) for c, (_, s) in COLUMNS.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [{"name": r.name, **r.about, "values": {c: list(v) for c, v in r.values.items()},
             "vs_baseline": {c: {"difference": d.difference, "ci95": list(d.ci95), "p": d.p, "p_holm": d.p_holm,
                                 "better": d.better, "n": d.n} for c, d in r.diffs.items()}} for r in rows]


def read_results(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "results.json").read_text())
