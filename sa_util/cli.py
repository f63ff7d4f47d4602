"""What every command line of the project shares: one-line errors, exit codes, and count arguments.

Misuse (a bad flag value, a missing file, an input the run cannot use: a ValueError or OSError) prints one line
``error: ...`` on stderr and exits 2; an unexpected failure prints one line ``error: unexpected <Type>: ...`` and
exits 1. Neither prints a traceback unless ``SA_BENCH_TRACEBACK=1`` is set (then the exception propagates as usual).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Callable, NoReturn

Main = Callable[..., int]
ERROR_CHARS = 1000  # longest error line printed (a state-dict mismatch can list hundreds of keys)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with its errors (unknown flags, bad types, missing required flags) on one line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse type of a count (``--limit``, ``--n``, ``--batch-size``): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def one_line(exc: BaseException, limit: int | None = None, *, typed: bool = False) -> str:
    """The message of ``exc`` on one line, cut to ``limit`` characters: the whole message with its whitespace
    collapsed (its type name if it has none), or, ``typed``, ``"Type: first line of the message"`` (how per-file
    and per-weight-file reasons quote an exception: a library's multi-line message starts with what went wrong)."""
    if typed:
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0].strip() if lines else ''}"
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def first_reasons(reasons: dict[str, str], k: int = 3) -> str:
    """``id: reason`` of the first ``k`` entries and how many more, for one-line messages."""
    shown = "; ".join(f"{i}: {why}" for i, why in list(reasons.items())[:k])
    return shown + (f"; and {len(reasons) - k} more" if len(reasons) > k else "")


def guarded(main: Main) -> Main:
    """Wrap a CLI ``main(argv) -> exit code`` so that no exception leaves it as a traceback (see module doc)."""

    @functools.wraps(main)
    def wrapper(*args: object, **kwargs: object) -> int:
        if os.environ.get("SA_BENCH_TRACEBACK") == "1":
            return main(*args, **kwargs)
        try:
            return main(*args, **kwargs)
        except BrokenPipeError:  # the reader closed our stdout (`| head`): it has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at the exit flush
            return 0
        except (ValueError, OSError) as exc:  # ConfigError, AudioError, IdError, UsageError, missing files...
            print(f"error: {one_line(exc, ERROR_CHARS)}", file=sys.stderr)
            return 2
        except Exception as exc:  # a last resort: still one line, and how to see more
            where = "(SA_BENCH_TRACEBACK=1 shows where)"
            print(f"error: unexpected {type(exc).__name__}: {one_line(exc, ERROR_CHARS)} {where}", file=sys.stderr)
            return 1

    return wrapper
