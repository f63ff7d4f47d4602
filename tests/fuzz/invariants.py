"""Run a CLI on hostile input and check what every run must satisfy ("no input loses a run").

* exit status 0 or 2; never an exception escaping ``main`` or a ``Traceback`` on stderr/stdout;
* exit 2: stderr is exactly one line ``error: ...`` (warnings emitted by libraries are not counted);
* exit 0: every file of the evaluated folder is scored or named with a reason (:func:`check_accounted`);
* every JSON file written is strict JSON (no NaN/Infinity), every JSON-lines file line by line;
* nothing is created, changed or removed outside the output folder (:class:`Sandbox` snapshots the rest);
* time-bounded: in-process runs under a SIGALRM watchdog, subprocesses under a timeout.

CLIs run in-process (``main(argv)``) for speed; :func:`run_module` runs the real entry point in a subprocess.
"""
from __future__ import annotations

import contextlib
import faulthandler
import importlib
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

REPO = Path(__file__).resolve().parents[2]
MEMORY_GIB = 4.0  # what one run may allocate beyond what the test process already holds
SUBPROCESS_BASE_GIB = 6.0  # address space of a fresh interpreter with torch and the evaluators loaded


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so that no ``except Exception`` in the code under test eats it."""


def _captions_main(dataset: str) -> Callable[[list[str]], int]:
    def main(argv: list[str]) -> int:
        from benchmarks.captions import main as captions

        return captions(dataset, argv)
    return main


def _module_main(module: str) -> Callable[[list[str]], int]:
    def main(argv: list[str]) -> int:
        return importlib.import_module(module).main(argv)
    return main


# python -m <key>  ->  the function its __main__ calls
CLIS: dict[str, Callable[[list[str]], int]] = {
    "metrics": _module_main("metrics.__main__"),
    "metrics.weights": _module_main("metrics.weights"),
    "sa_core.generate": _module_main("sa_core.generate"),
    "sa_core.info": _module_main("sa_core.info"),
    "benchmarks.synthcaps": _module_main("benchmarks.synthcaps"),
    "benchmarks.timing": _module_main("benchmarks.timing"),
    "benchmarks.autoencoder": _module_main("benchmarks.autoencoder"),
    "benchmarks.musiccaps": _captions_main("musiccaps"),
    "benchmarks.audiocaps": _captions_main("audiocaps"),
    "benchmarks.songdescriber": _captions_main("songdescriber"),
    "benchmarks.ablate": _module_main("benchmarks.ablate"),
    "reports": _module_main("reports.__main__"),
}


@dataclass
class Outcome:
    cli: str
    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float

    def describe(self) -> str:
        return (f"python -m {self.cli} {' '.join(map(repr, self.argv))}\n-> exit {self.code} after "
                f"{self.seconds:.1f} s\n--- stderr ---\n{self.err[-4000:]}\n--- stdout ---\n{self.out[-2000:]}")


# Where a hang that even SIGALRM cannot interrupt is reported before the process ends: the terminal's stderr as
# pytest saved it before capturing (set by tests/fuzz/conftest.py), else sys.__stderr__.
HANG_STREAM: Any = None


@contextlib.contextmanager
def watchdog(seconds: float, what: str = "") -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after ``seconds``. A run stuck in C code (where no signal handler
    runs) is reported with every thread's stack and ends the process a minute later, rather than hang CI."""
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds:.0f} s")

    stream = HANG_STREAM or sys.__stderr__
    note = threading.Timer(seconds + 55, lambda: (stream.write(
        f"\nfuzz watchdog: stuck in C code, ending the test process: {what}\n"), stream.flush()))
    note.daemon = True
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds + 60, exit=True, file=stream)
    note.start()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()
        note.cancel()


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_cap(extra_gib: float = MEMORY_GIB) -> Iterator[None]:
    """Cap this process's address space at its current size + ``extra_gib`` while the block runs, so that an input
    that makes the code allocate without bound (a WAV claiming a 1 Hz rate, hours of audio) fails inside the run
    (MemoryError) instead of exhausting a shared machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + int(extra_gib * 2**30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _cap_child() -> None:
    cap = int((SUBPROCESS_BASE_GIB + MEMORY_GIB) * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@contextlib.contextmanager
def environment(cwd: Path | None = None, env: dict[str, str] | None = None) -> Iterator[None]:
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update(env or {})
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def run_in_process(cli: str, argv: list[str], limit: float = 300, cwd: Path | None = None,
                   env: dict[str, str] | None = None) -> Outcome:
    """``main(argv)`` of ``python -m cli`` with stdout/stderr captured, under the watchdog. An exception escaping
    ``main`` (other than SystemExit) or a hang fails the calling test with the command and the traceback."""
    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    old_argv = sys.argv
    try:
        with environment(cwd, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                memory_cap(), watchdog(limit, f"python -m {cli} {' '.join(argv)}"):
            sys.argv = [f"python -m {cli}", *argv]
            try:
                code = CLIS[cli](argv)
            except SystemExit as exc:  # argparse and parsers that exit
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    err.write(exc.code + "\n")
    except Hang as exc:
        raise AssertionError(f"hang: python -m {cli} {' '.join(map(repr, argv))}: {exc}\n"
                             f"--- stderr so far ---\n{err.getvalue()[-3000:]}") from None
    except Exception:  # noqa: BLE001  the finding itself: an exception escaped main
        raise AssertionError(f"exception escaped main: python -m {cli} {' '.join(map(repr, argv))}\n"
                             f"{traceback.format_exc()}\n--- stderr ---\n{err.getvalue()[-3000:]}") from None
    finally:
        sys.argv = old_argv
    return Outcome(cli, argv, int(code if code is not None else 0), out.getvalue(), err.getvalue(),
                   time.monotonic() - started)


def run_module(cli: str, argv: list[str], limit: float = 300, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> Outcome:
    """``python -m cli argv`` in a subprocess (the real entry point), killed after ``limit`` seconds."""
    argv = [str(a) for a in argv]
    full_env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                **(env or {})}
    started = time.monotonic()
    try:
        r = subprocess.run([sys.executable, "-m", cli, *argv], capture_output=True, text=True, timeout=limit,
                           cwd=cwd, env=full_env, errors="replace", preexec_fn=_cap_child)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"hang: python -m {cli} {' '.join(map(repr, argv))} still running after {limit} s\n"
                             f"--- stderr ---\n{(exc.stderr or b'')[-3000:]!r}") from None
    return Outcome(cli, argv, r.returncode, r.stdout, r.stderr, time.monotonic() - started)


# --- checks ------------------------------------------------------------------------------------------------------
_WARNING = re.compile(r"^\S.*:\d+: \w*(Warning|Deprecated)\w*: ")


def error_lines(err: str) -> list[str]:
    """stderr without library warnings (``file:line: XWarning: msg`` and the indented source line after it)."""
    lines, skip_indented = [], False
    for line in err.splitlines():
        if _WARNING.match(line):
            skip_indented = True
            continue
        if skip_indented and line.startswith((" ", "\t")):
            continue
        skip_indented = False
        if line.strip():
            lines.append(line)
    return lines


def check_outcome(o: Outcome, allowed: Iterable[int] = (0, 2)) -> None:
    """Exit status, no traceback, and the one-line error on exit 2."""
    assert "Traceback (most recent call last)" not in o.err + o.out, f"traceback printed:\n{o.describe()}"
    assert o.code in tuple(allowed), f"exit status {o.code}, expected one of {tuple(allowed)}:\n{o.describe()}"
    lines = error_lines(o.err)
    if o.code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), \
            f"exit 2 must print exactly one line 'error: ...' on stderr:\n{o.describe()}"
        assert len(lines[0]) <= 2000, f"an error line of {len(lines[0])} characters:\n{o.describe()}"
    else:
        assert not any(line.startswith("error:") for line in lines), f"exit {o.code} with an error line:\n" \
                                                                   f"{o.describe()}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity (Python writes them; JSON has none)."""
    return json.loads(text, parse_constant=_refuse_constant)


def check_json_tree(root: Path) -> list[Path]:
    """Every ``*.json`` under ``root`` parses strictly, every ``*.jsonl`` line by line; returns the files read."""
    read = []
    if not root.exists():
        return read
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if path.suffix == ".json":
            try:
                strict_loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise AssertionError(f"{path} is not strict JSON: {exc}") from None
            read.append(path)
        elif path.suffix == ".jsonl":
            for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                try:
                    strict_loads(line)
                except ValueError as exc:
                    raise AssertionError(f"{path} line {k + 1} is not strict JSON: {exc}: {line[:300]}") from None
            read.append(path)
    return read


# --- the files of a run, accounted for ---------------------------------------------------------------------------
def run_entries(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    """Entries directly in ``folder`` whose extension (any case) is an audio extension (files, links, folders)."""
    suffixes = {s.lower() for s in suffixes}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)


def _same_entry(reported: str, entry: Path) -> bool:
    """``reported`` (a path in a results file) names ``entry`` (compared without following the entry's link)."""
    r = Path(reported)
    return r.name == entry.name and os.path.realpath(r.parent) == os.path.realpath(entry.parent)


def named_in_skipped(results: dict[str, Any], entry: Path, metrics: Iterable[str] | None = None) -> list[str]:
    """Reasons given for ``entry`` in ``skipped_files`` (optionally only by the given metric labels)."""
    wanted = None if metrics is None else set(metrics)
    return [s.get("reason", "") for s in results.get("skipped_files", [])
            if _same_entry(str(s.get("file", "")), entry) and (wanted is None or s.get("metric") in wanted)]


def per_item_metrics(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m: r for m, r in results.get("metrics", {}).items() if isinstance(r.get("per_item"), dict)}


def check_metric_results(results: dict[str, Any]) -> None:
    """Every metric that is reported has a value, and no item was scored with a missing (NaN) score."""
    for name, res in results.get("metrics", {}).items():
        if "value" in res and (res.get("n", res.get("n_files")) or 0) > 0:
            assert res["value"] is not None, f"{name}: n > 0 but no value: {str(res)[:500]}"
        for item, value in (res.get("per_item") or {}).items():
            values = value.values() if isinstance(value, dict) else [value]
            assert all(v is not None for v in values), f"{name}: {item!r} scored with a missing value: {value}"
        left = res.get("left_out") or {}
        assert not set(left) & set(res.get("per_item") or {}), f"{name}: ids both scored and left out"
        assert all(isinstance(w, str) and w.strip() for w in left.values()), f"{name}: left_out without a reason"
    for why in results.get("skipped_metrics", {}).values():
        assert isinstance(why, str) and why.strip()
    for s in results.get("skipped_files", []):
        assert isinstance(s.get("reason"), str) and s["reason"].strip(), f"skipped file without a reason: {s}"


def check_accounted(results: dict[str, Any], gen: Path, suffixes: Iterable[str],
                    caption_ids: Iterable[str] | None = None) -> None:
    """Every file of ``gen`` is scored (its id in a metric's ``per_item`` or in a set metric's ``embeddings`` record of
    the ids it read, or counted by FD) or named with a reason (``skipped_files``, ``ids.without_audio``, a metric's
    ``left_out``); of several files with one id, at most one is used and the others are named. With captions, every
    caption id appears in every per-item metric."""
    check_metric_results(results)
    entries = run_entries(gen, suffixes)
    per_item = per_item_metrics(results)
    embedded = {i for r in results.get("metrics", {}).values() for i in ((r.get("embeddings") or {}).get("gen") or {})}
    without = results.get("ids", {}).get("without_audio", {}) or {}
    caption_ids = None if caption_ids is None else list(caption_ids)
    # a whole-folder metric (FD, MAD) scores every file it does not name
    fd_key, fd = next(((k, results["metrics"][k]) for k in ("fd", "mad") if k in results.get("metrics", {})),
                      (None, None))
    unaccounted = []
    for entry in entries:
        stem = entry.stem
        if caption_ids is not None and stem not in caption_ids and fd is None:
            continue  # not an evaluated id and no whole-folder metric ran: nothing to account for
        named = [r for r in named_in_skipped(results, entry) if r.strip()]
        scored = stem in embedded or any(stem in r["per_item"] for r in per_item.values())
        listed = bool(str(without.get(stem, "")).strip()) or any(
            str((r.get("left_out") or {}).get(stem, "")).strip() for r in per_item.values())
        if not (named or scored or listed or fd is not None):
            unaccounted.append(entry.name)
    assert not unaccounted, (f"files neither scored nor named with a reason: {unaccounted}\n"
                             f"skipped_files: {results.get('skipped_files')}\nwithout_audio: {without}")
    by_stem: dict[str, list[Path]] = {}
    for entry in entries:
        by_stem.setdefault(entry.stem, []).append(entry)
    for stem, group in by_stem.items():
        if len(group) > 1:
            unnamed = [e.name for e in group if not named_in_skipped(results, e)]
            assert len(unnamed) <= 1, f"several files for id {stem!r} and more than one used silently: {unnamed}"
    if fd is not None:  # FD pools the whole folder: its count is every file not named as left out of FD
        counted = [e for e in entries if not named_in_skipped(results, e, (fd_key, "input"))]
        assert fd.get("n_files") == len(counted), (
            f"{fd_key} counted {fd.get('n_files')} files; the folder holds {len(counted)} not named as skipped by FD: "
            f"{[e.name for e in counted]}\nskipped_files: {results.get('skipped_files')}")
    if caption_ids is not None:
        for name, res in per_item.items():
            missing = [i for i in caption_ids if i not in res["per_item"] and i not in (res.get("left_out") or {})]
            assert not missing, f"{name}: caption ids neither scored nor left out: {missing[:10]}"


# --- the sandbox -------------------------------------------------------------------------------------------------
def snapshot(root: Path, skip: Iterable[Path] = ()) -> dict[str, tuple]:
    """``relative path -> (kind, size, mtime_ns, link target)`` of everything under ``root`` except ``skip``."""
    skip = {os.path.realpath(p) for p in skip}
    state: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if os.path.realpath(dirpath) in skip:
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if os.path.realpath(os.path.join(dirpath, d)) not in skip
                       or os.path.islink(os.path.join(dirpath, d))]
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            link = os.readlink(path) if os.path.islink(path) else None
            kind = "link" if link is not None else ("dir" if os.path.isdir(path) else "file")
            state[os.path.relpath(path, root)] = (kind, st.st_size if kind == "file" else 0,
                                                  st.st_mtime_ns if kind == "file" else 0, link)
    return state


def diff_snapshots(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = [f"created {p}" for p in sorted(set(after) - set(before))]
    changes += [f"removed {p}" for p in sorted(set(before) - set(after))]
    changes += [f"changed {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return changes


class Sandbox:
    """A scratch tree for one run: ``in/`` inputs, ``out/`` where outputs may go, ``home/`` ($HOME: default caches),
    ``cwd/`` the working directory, ``outside/`` files that links point at. A run may write only under ``out/`` and
    ``home/``; :meth:`run` checks that with snapshots, and checks the outcome and every JSON file in ``out/``."""

    def __init__(self, root: Path):
        self.root = root
        self.inp, self.out, self.home, self.cwd, self.outside = (root / n for n in ("in", "out", "home", "cwd",
                                                                                      "outside"))
        for d in (self.inp, self.out, self.home, self.cwd, self.outside):
            d.mkdir(parents=True, exist_ok=True)
        self.victim = self.outside / "victim.txt"
        self.victim.write_text("a file outside every folder a run may write to\n")

    @classmethod
    @contextlib.contextmanager
    def temporary(cls, base: Path | None = None) -> Iterator["Sandbox"]:
        root = Path(tempfile.mkdtemp(prefix="fuzz-", dir=base))
        try:
            yield cls(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def run(self, cli: str, argv: list[Any], limit: float = 300, allowed: Iterable[int] = (0, 2),
            subprocess_: bool = False, env: dict[str, str] | None = None) -> Outcome:
        before = snapshot(self.root, skip=(self.out, self.home))
        env = {"HOME": str(self.home), **(env or {})}
        runner = run_module if subprocess_ else run_in_process
        o = runner(cli, [str(a) for a in argv], limit=limit, cwd=self.cwd, env=env)
        check_outcome(o, allowed)
        changes = diff_snapshots(before, snapshot(self.root, skip=(self.out, self.home)))
        assert not changes, f"the run wrote outside {self.out}: {changes[:20]}\n{o.describe()}"
        check_json_tree(self.out)
        return o

    def results(self, path: Path) -> dict[str, Any]:
        return strict_loads(path.read_text(encoding="utf-8"))
