"""Side-by-side table of a ``benchmarks/test_peers_speed.py`` pytest-benchmark JSON: per group, each stack's median
and its ratio to ours (> 1: the peer is slower). ``python -m benchmarks.peers.report peers.json``."""
from __future__ import annotations

import json
import sys
from collections import defaultdict


def table(data: dict) -> list[str]:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for b in data["benchmarks"]:
        groups[b["group"]][b["extra_info"]["stack"]] = b["stats"]["median"]
    lines = []
    for group, medians in groups.items():
        lines.append(group)
        ours = medians.get("ours")
        for name, median in medians.items():
            ratio = f"{median / ours:.2f}x ours" if ours else "n/a"
            lines.append(f"  {name:<20} {median * 1000:>10.0f} ms   {ratio}")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("error: usage: python -m benchmarks.peers.report PYTEST_BENCHMARK.json", file=sys.stderr)
        return 2
    try:
        data = json.loads(open(argv[0]).read())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read {argv[0]}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(table(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
