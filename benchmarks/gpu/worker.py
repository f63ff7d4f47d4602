"""Time boxes: the cases run one after another in a worker process; a case that overruns its box is stopped by
ending the worker (a CUDA kernel cannot be interrupted otherwise), recorded as timed out, and the next case gets a
fresh worker."""
from __future__ import annotations

import importlib
import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.gpu.cases import KINDS, Case, Scale


@dataclass
class Outcome:
    case: Case
    status: str  # ok | failed | timed out | not run
    seconds: float = 0.0
    figures: dict[str, Any] | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.case.describe(), "status": self.status, "wall_s": self.seconds, "figures": self.figures,
                "reason": self.reason}


PRELOAD = ("torch", "sa_core.model", "metrics.run")  # imported before a worker says it is ready
START_S = 300.0  # a worker's start-up (interpreter, imports) is not part of any case's box


def _serve(conn: Any, scale: Scale, device: str, work: str) -> None:
    for module in PRELOAD:
        importlib.import_module(module)
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        target, params, box_s = message
        try:
            module, fn = target.split(":")
            figures = getattr(importlib.import_module(module), fn)(params, scale, device, Path(work), box_s)
            conn.send(("ok", figures, None))
        except Exception as exc:  # noqa: BLE001  one case's failure is reported, the others go on
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            status = "not run" if type(exc).__name__ == "PeerMissing" else "failed"
            conn.send((status, None, why + ("" if status == "not run" else "\n" + traceback.format_exc(limit=4))))


class Worker:
    """One spawned process that runs cases on request; replaced after a case overruns."""

    def __init__(self, scale: Scale, device: str, work: Path):
        self.args = (scale, device, str(work))
        self.ctx = mp.get_context("spawn")
        self.proc: Any = None

    def _start(self) -> bool:
        """A fresh worker, past its imports; False if it did not get there within START_S."""
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_serve, args=(child, *self.args), daemon=True)
        self.proc.start()
        try:
            return self.conn.poll(START_S) and self.conn.recv() == "ready"
        except EOFError:
            return False

    def run(self, case: Case, box_s: float) -> Outcome:
        if (self.proc is None or not self.proc.is_alive()) and not self._start():
            self.stop()
            return Outcome(case, "failed", reason=f"the worker process did not start within {START_S:.0f} s")
        started = time.perf_counter()
        self.conn.send((KINDS[case.kind], case.params, box_s))
        if self.conn.poll(box_s):
            try:
                status, figures, reason = self.conn.recv()
            except EOFError:  # the worker died (e.g. killed for memory)
                self.stop()
                return Outcome(case, "failed", time.perf_counter() - started, reason="worker process died")
            return Outcome(case, status, time.perf_counter() - started, figures, reason)
        self.stop()
        return Outcome(case, "timed out", time.perf_counter() - started, reason=f"over its {box_s:.0f} s box")

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(10)
        self.stop()
