"""``python -m metrics {protocols,compare,power,agreement}``: questions about presets and results files rather than
audio.

Examples::

    python -m metrics compare base/results.json new/results.json --out cmp.json
    python -m metrics power base/results.json --target 0.05
    python -m metrics agreement --ratings mos_list.txt --ratings-format musiceval --runs S001=s1.json S002=s2.json ...

Every input is checked before any work (one line ``error: ...``, exit 2); outputs are written atomically as strict
JSON (:func:`metrics.run.write_results`) and summarised as a table on stdout.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from metrics import protocol_listing
from metrics.comparison import agreement, compare, power, rating_sets
from metrics.plan import UsageError
from metrics.run import write_results
from sa_util.cli import positive_int
from sa_util.paths import check_apart, check_file_target


def read_results(path: Path) -> dict[str, Any]:
    """A results file (of ``python -m metrics`` or a runner): JSON with a ``metrics`` mapping."""
    try:
        r = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable results file ({' '.join(str(exc).split())})") from exc
    if not isinstance(r, dict) or not isinstance(r.get("metrics"), dict):
        raise UsageError(f"{path}: not a results file (no 'metrics' mapping)")
    return r


def _write(out: Path | None, tool: str, argv_like: list[str], body: dict[str, Any]) -> None:
    if out is not None:
        write_results(out, {"tool": tool, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            "command": ["python -m metrics", *argv_like], **body})
        print(f"results: {out}")


# --- compare --------------------------------------------------------------------------------------------------
def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", type=Path, help="two or more results files with shared prompt ids (A B ...)")
    p.add_argument("--out", type=Path, help="write the comparison JSON here")
    p.add_argument("--metrics", nargs="+", help="compare only these (names as in the table, e.g. timing/within_0.5s)")
    p.add_argument("--bootstrap", type=positive_int, default=10000, help="paired bootstrap replicates (per-item)")
    p.add_argument("--permutations", type=positive_int, default=10000, help="sign-flip permutations (per-item)")
    p.add_argument("--set-replicates", type=positive_int, default=200,
                   help="bootstrap and permutation replicates each for FD/KAD/FAD-inf/IS (each recomputes the metric)")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate of the Holm-adjusted tests")
    p.add_argument("--seed", type=int, default=0)


def run_compare(args: argparse.Namespace) -> int:
    if len(args.results) < 2:
        raise UsageError("compare needs at least two results files")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.out is not None:
        check_file_target(args.out)
        check_apart({"--out": args.out}, [("results", path) for path in args.results])
    runs = [compare.Run(label, read_results(path))
            for label, path in zip(compare.run_labels(list(args.results)), args.results)]
    cfg = compare.CompareConfig(args.bootstrap, args.permutations, args.set_replicates, args.seed, args.alpha,
                                tuple(args.metrics) if args.metrics else None)
    cmp = compare.compare(runs, cfg)
    print("\n".join([f"{'AB'[k] if len(runs) == 2 else k + 1} = {r.label} ({p})"
                     for k, (r, p) in enumerate(zip(runs, args.results))] + compare.table(cmp)))
    print(f"MDD80: the smallest true difference these prompts detect with 80% power at alpha {args.alpha:g} "
          "(the n for a target difference: python -m metrics power RUN --target D)")
    _write(args.out, "sa-bench compare", ["compare", *map(str, args.results)],
           {**cmp.to_json(), "files": [str(p) for p in args.results]})
    return 0 if cmp.differences else _nothing("no metric could be compared")


# --- power ----------------------------------------------------------------------------------------------------
def add_power_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", type=Path, help="one results file")
    p.add_argument("--target", type=float, help="a difference to detect: also print the prompts it needs")
    p.add_argument("--set-replicates", type=positive_int, default=200,
                   help="bootstrap replicates for FD/KAD/FAD-inf/IS (each recomputes the metric)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the guidance JSON here")


def run_power(args: argparse.Namespace) -> int:
    if args.target is not None and not args.target > 0:
        raise UsageError(f"--target must be a difference > 0, got {args.target}")
    if args.out is not None:
        check_file_target(args.out)
        check_apart({"--out": args.out}, [("results", args.results)])
    rows, skipped = power.run_guidance(read_results(args.results), args.target, args.set_replicates, args.seed)
    print("\n".join(power.table(rows, skipped)))
    _write(args.out, "sa-bench power", ["power", str(args.results)],
           {"file": str(args.results), "guidance": [asdict(g) for g in rows], "skipped": skipped})
    return 0 if rows else _nothing("no metric has sample-size guidance")


# --- agreement ------------------------------------------------------------------------------------------------
def add_agreement_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ratings", type=Path, required=True, help="human ratings (file, or folder for tta-bench and pam)")
    p.add_argument("--ratings-format", choices=list(rating_sets.READERS), default="ours",
                   help="ours: system,item,rating or item,system_a,system_b,winner CSV; or a public set's layout "
                        "(metrics.comparison.rating_sets)")
    p.add_argument("--aspect", help="which rating of a multi-aspect set (default: the set's first)")
    p.add_argument("--runs", nargs="+", required=True, metavar="SYSTEM=RESULTS.json",
                   help="one results file per rated system, named as in the ratings")
    p.add_argument("--bootstrap", type=positive_int, default=1000, help="replicates of each CI")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the agreement JSON here")


def run_agreement(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_file_target(args.out)
    runs: dict[str, dict[str, Any]] = {}
    for spec in args.runs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--runs {spec!r}: expected SYSTEM=RESULTS.json")
        runs[name] = read_results(Path(path))
    if args.aspect is not None and args.aspect not in rating_sets.READERS[args.ratings_format].aspects:
        raise UsageError(f"--aspect {args.aspect!r}: {args.ratings_format} has "
                         f"{', '.join(rating_sets.READERS[args.ratings_format].aspects)}")
    ratings = rating_sets.read(args.ratings, args.ratings_format, args.aspect)
    rows, skipped = agreement.agreement(ratings, runs, args.bootstrap, args.seed)
    print("\n".join(agreement.table(rows, skipped)))
    _write(args.out, "sa-bench agreement", ["agreement", "--ratings", str(args.ratings)],
           {**agreement.to_json(rows, skipped), "ratings": str(args.ratings), "format": args.ratings_format})
    return 0 if rows else _nothing("no metric could be assessed")


def _nothing(what: str) -> int:
    print(f"error: {what} (reasons above)", file=sys.stderr)
    return 2


@dataclass(frozen=True)
class Tool:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


TOOLS: dict[str, Tool] = {
    "protocols": Tool("list the --protocol presets: each metric's settings, reference code and deviations",
                      protocol_listing.add_arguments, protocol_listing.run),
    "compare": Tool("is B better than A? paired differences with CIs and p-values for every shared metric",
                    add_compare_arguments, run_compare),
    "power": Tool("sample-size guidance: the smallest difference a run's prompts can detect, the n for a target",
                  add_power_arguments, run_power),
    "agreement": Tool("correlation of the runs' metrics with human ratings of the same systems",
                      add_agreement_arguments, run_agreement),
}
