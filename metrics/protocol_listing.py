"""``python -m metrics protocols [NAME ...] [--json]``: the ``--protocol`` presets, each metric with its settings,
the reference code it mirrors and where it deviates (read from :data:`metrics.protocols.PROTOCOLS`, so a new
preset lists itself)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from metrics.plan import UsageError
from metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", help=f"presets (default: all): {', '.join(PROTOCOLS)}")
    p.add_argument("--json", action="store_true", help="every setting as JSON")


def _options(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def describe(name: str) -> list[str]:
    """The lines that list one preset."""
    p = PROTOCOLS[name]
    lines = [f"{name}{' (default)' if name == DEFAULT_PROTOCOL else ''}: {p.title}", f"  source: {p.source}"]
    for m in p.metrics:
        s = m.settings()
        lines.append(f"  {m.key}: {m.label} = {m.kind} on {m.model or '(audio)'}"
                     + (f" [{_options(s['embedder'])}]" if s["embedder"] else "")
                     + (f" {{{_options(s['distance'])}}}" if s["distance"] else "")
                     + (" (higher is better)" if m.higher_is_better else ""))
        if m.reference:
            lines.append(f"      reference: {m.reference}")
        lines += [f"      deviation: {d}" for d in m.deviations]
    lines += [f"  note: {n}" for n in p.notes]
    return lines


def run(args: argparse.Namespace) -> int:
    unknown = [n for n in args.names if n not in PROTOCOLS]
    if unknown:
        raise UsageError(f"unknown protocol(s) {unknown}; choose from {list(PROTOCOLS)}")
    names = args.names or list(PROTOCOLS)
    if args.json:
        print(json.dumps({n: PROTOCOLS[n].settings() for n in names}, indent=2, default=str))
    else:
        print("\n".join(line for n in names for line in describe(n)))
    return 0
