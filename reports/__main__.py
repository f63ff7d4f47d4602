"""``python -m reports RUN_DIR [RUN_DIR ...] [--out report.html]``: one HTML report, runs side by side."""
from __future__ import annotations

import sys
from pathlib import Path

from reports.html import write_report
from sa_util.cli import ArgumentParser, guarded


@guarded
def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("report.html"))
    args = p.parse_args(argv)
    missing = [str(r) for r in args.runs if not (r / "results.json").is_file()]
    if missing:
        print(f"error: no results.json in {', '.join(missing)}", file=sys.stderr)
        return 2
    print(write_report(args.runs, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
