"""``python -m benchmarks.gpu --budget 480 --out DIR [--device cpu]``: see :mod:`benchmarks.gpu`."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.gpu.cases import SCALES, cases
from benchmarks.gpu.environment import check
from benchmarks.gpu.report import write
from benchmarks.gpu.worker import Outcome, Worker
from sa_util.cli import guarded

MIN_BOX_S = 15.0  # a case is not started with less than this left of the budget


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split(":")[0])
    p.add_argument("--budget", type=float, default=480.0, help="seconds for all cases (the environment check apart)")
    p.add_argument("--out", type=Path, required=True, help="folder for gpu.json and gpu.md")
    p.add_argument("--device", choices=sorted(SCALES), default="cuda", help="cpu: every case at tiny sizes (smoke)")
    p.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    p.add_argument("--work", type=Path, default=None, help="scratch folder for weights and clips (default: temporary)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    env = check(args.device)
    print(env.line(), flush=True)
    if env.problems and args.device == "cuda" and env.card is None:
        return 2
    scale = SCALES[args.device]
    todo = [c for c in cases(scale) if args.only is None or args.only in c.name]
    outcomes: list[Outcome] = []
    data = {"scale": scale.name, "budget_s": args.budget, "environment": env.to_dict(), "cases": [], "used_s": 0.0}
    with tempfile.TemporaryDirectory(prefix="sa-bench-gpu-") as tmp:
        worker = Worker(scale, args.device, args.work or Path(tmp))
        try:
            for case in todo:
                left = args.budget - (time.perf_counter() - started)
                if left < MIN_BOX_S:
                    outcomes.append(Outcome(case, "not run", reason=f"budget spent ({left:.0f} s left)"))
                    continue
                outcome = worker.run(case, min(scale.box_s or case.box_s, left))
                outcomes.append(outcome)
                print(f"{case.name}: {outcome.status} in {outcome.seconds:.1f} s"
                      + (f" ({outcome.reason.splitlines()[0]})" if outcome.reason else ""), flush=True)
                data.update(cases=[o.to_dict() for o in outcomes], used_s=time.perf_counter() - started)
                write(args.out, data)  # after every case: a killed run keeps what it measured
        finally:
            worker.close()
    data.update(cases=[o.to_dict() for o in outcomes], used_s=time.perf_counter() - started)
    write(args.out, data)
    print((args.out / "gpu.md").read_text())
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
