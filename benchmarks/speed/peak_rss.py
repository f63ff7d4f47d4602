"""Peak resident memory of a command and every process it starts (Linux ``/proc``), for the memory benchmarks.

``getrusage(...).ru_maxrss`` cannot serve: Linux keeps a process's ``maxrss`` across ``fork`` and ``exec``, so a
command started from a large process (a pytest run that has already loaded models) reports its parent's peak.
Here the command's process tree is sampled from outside every ``interval`` seconds: the figure is the larger of
the highest sum of the tree's current RSS and the highest single ``VmHWM`` (a process's own peak, which starts
afresh at ``exec``), so a short peak of the main process between two samples is still counted.

``python -m benchmarks.speed.peak_rss -- python -m metrics all ...`` prints the command's output, then the peak in GB.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sa_util.cli import guarded


@dataclass(frozen=True)
class Measured:
    returncode: int
    peak_gb: float
    seconds: float
    stdout: str
    stderr: str


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            kids += [int(k) for k in text.split()]
    except OSError:
        pass
    return kids


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def measure(cmd: list[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None,
            interval: float = 0.02, timeout: float | None = None) -> Measured:
    """Run ``cmd`` to the end and return its exit code, peak memory (GB, process tree), wall time and output."""
    started = time.perf_counter()
    with open(os.devnull, "rb") as stdin:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    peak_kib = 0
    streams: dict[str, str] = {}

    def drain(name: str, stream) -> None:  # noqa: ANN001  pipes are read concurrently so the child never blocks
        streams[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    while proc.poll() is None:
        pids = _tree(proc.pid)
        peak_kib = max(peak_kib, sum(_status_kib(p, "VmRSS") for p in pids),
                       max((_status_kib(p, "VmHWM") for p in pids), default=0))
        if timeout is not None and time.perf_counter() - started > timeout:
            proc.kill()
        time.sleep(interval)
    for r in readers:
        r.join()
    return Measured(proc.returncode, peak_kib / 2**20, time.perf_counter() - started, streams.get("out", ""),
                    streams.get("err", ""))


@guarded
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[1:] if argv[:1] == ["--"] else argv
    if not cmd:
        print("error: usage: python -m benchmarks.speed.peak_rss -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    m = measure(cmd)
    sys.stdout.write(m.stdout)
    sys.stderr.write(m.stderr)
    print(f"peak RSS (process tree): {m.peak_gb:.3f} GB; wall {m.seconds:.1f} s; exit {m.returncode}")
    return m.returncode


if __name__ == "__main__":
    sys.exit(main())
