"""``python -m benchmarks.timing --ckpt DIR --seconds 1,5,10,20,30,47 --out runs/timing``: the paper's timing figure.

Every prompt is generated at every requested ``seconds_total``; the detected end of each file
(:mod:`metrics.scores.timing`) is compared with the request. The report plots detected against requested length;
``results.json`` holds the overall timing metric and a per-length breakdown (MAE, fraction within ±1 s).
Prompts come from ``--prompts-csv`` (columns id, caption) or a built-in varied set. Every requested length must be
a finite number in (0, the checkpoint's window]; files keep the whole window (nothing is trimmed).
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.runner import (Prompt, add_generation_arguments, check_prompts, fmt, run_benchmark, sampler_for,
                               window_seconds)
from sa_core.generate import SettingsError
from sa_util.cli import ArgumentParser, guarded
from sa_util.ids import read_table

DEFAULT_PROMPTS = ("An upbeat electronic dance track with a driving beat", "Solo piano, slow and melancholic",
                   "Rain falling on a tin roof", "A dog barking in the distance", "Orchestral strings swelling")


def grid(captions: list[str], seconds: list[float]) -> list[Prompt]:
    return [Prompt(f"s{s:g}_p{k:03d}".replace(".", "p"), c, s) for s in seconds for k, c in enumerate(captions)]


def per_length(timing: dict[str, Any]) -> dict[str, dict[str, float]]:
    """MAE and fraction within ±1 s for each requested length."""
    groups: dict[float, list[float]] = defaultdict(list)
    for row in (timing.get("per_item") or {}).values():
        groups[row["requested_s"]].append(abs(row["error_s"]))
    return {f"{s:g}": {"n": len(e), "mae_s": float(np.mean(e)), "within_1s": float(np.mean(np.array(e) <= 1.0))}
            for s, e in sorted(groups.items())}


def parse_seconds(text: str) -> list[float]:
    """``"1,5,10"`` -> [1.0, 5.0, 10.0]; SettingsError for an empty list or a value that is not a number (the range
    is checked against the checkpoint's window by :func:`benchmarks.runner.check_prompts`)."""
    try:
        seconds = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SettingsError(f"--seconds must be comma-separated numbers, got {text!r}") from None
    if not seconds:
        raise SettingsError(f"--seconds is empty: {text!r}")
    return seconds


@guarded
def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m benchmarks.timing", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--seconds", default="1,5,10,20,30,47", help="comma-separated seconds_total values")
    p.add_argument("--prompts-csv", type=Path)
    p.add_argument("--out", type=Path, default=Path("runs/timing"))
    add_generation_arguments(p)
    args = p.parse_args(argv)
    sampler = sampler_for(args, args.ckpt)
    captions = list(read_table(args.prompts_csv, "id", "caption").values()) if args.prompts_csv else list(
        DEFAULT_PROMPTS)
    prompts = grid(captions, parse_seconds(args.seconds))
    check_prompts(prompts, window_seconds(args.ckpt))
    results = run_benchmark("timing-sweep", prompts, args.out, ckpt=args.ckpt, sampler=sampler,
                            seed=args.seed, batch_size=args.batch_size, device=args.device,
                            metrics_cfg={"metrics": ("timing",)}, progress=not args.no_progress,
                            text_path=args.text_path, trim=False,
                            extra=lambda _dir, _prompts, m: {"timing_by_length": {
                                "value": None, "per_length": per_length(m["timing"])}})
    for length, row in results["metrics"]["timing_by_length"]["per_length"].items():
        print(f"{length:>6s} s: MAE {fmt(row['mae_s'], '.2f')} s, within ±1 s {fmt(row['within_1s'], '.0%')} "
              f"(n={row['n']})")
    print(f"report: {args.out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
