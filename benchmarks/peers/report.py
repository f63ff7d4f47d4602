"""Side-by-side table of a ``benchmarks/speed/test_peers_speed.py`` pytest-benchmark JSON: per group, each stack's
median and its ratio to ours (> 1: the peer is slower). ``python -m benchmarks.peers.report peers.json``."""
from __future__ import annotations

import json
import sys
from collections import defaultdict

from sa_util.cli import guarded


def table(data: dict) -> list[str]:
    """Per group, each stack's median, its ratio to ours and, where recorded, the GFLOP one step executed."""
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for b in data["benchmarks"]:
        groups[b["group"]][b["extra_info"]["stack"]] = b
    lines = []
    for group, runs in groups.items():
        lines.append(group)
        ours = runs["ours"]["stats"]["median"] if "ours" in runs else None
        for name, b in runs.items():
            inside = b["extra_info"].get("ms_per_step", b["extra_info"].get("ms_per_generation"))
            if isinstance(inside, dict):  # an interleaved case: every stack inside
                for peer, ms in inside.items():
                    lines.append(f"  {peer:<20} {ms:>10.0f} ms   {b['extra_info']['ratio_to_ours'][peer]:.2f}x ours "
                                 f"(median of {b['extra_info']['rounds']} interleaved rounds)")
                continue
            median = b["stats"]["median"]
            ratio = f"{median / ours:.2f}x ours" if ours else "n/a"
            gflop = b["extra_info"].get("gflop_per_step")
            work = f"   {gflop:.1f} GFLOP/step" if gflop else ""
            lines.append(f"  {name:<20} {median * 1000:>10.0f} ms   {ratio}{work}")
    return lines


@guarded
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
