"""Where a command may write: outputs never land on, or inside, what the command reads, and each output path must
be writable as the kind of path it is (a file, or a folder), checked before any work.

Every check raises :class:`PathError` (a ValueError: the CLIs print it as one line and exit 2) naming the flag.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

NAME_MAX = 255  # bytes in one path component on Linux and macOS file systems


class PathError(ValueError):
    """An output path that would overwrite an input or cannot be written."""


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path.expanduser()))


def check_apart(outputs: Mapping[str, Path | None], inputs: Iterable[tuple[str, Path | None]]) -> None:
    """Raise unless every output (flag -> path) stays off every input (flag, path): not the same path (links
    followed), not inside an existing input folder."""
    inputs = list(inputs)
    for out_flag, out in outputs.items():
        if out is None:
            continue
        target = _resolved(out)
        for in_flag, inp in inputs:
            if inp is None:
                continue
            source = _resolved(inp)
            if target == source:
                raise PathError(f"{out_flag} {out} is the {in_flag} input {inp}; it would be overwritten")
            if source.is_dir() and target.is_relative_to(source):
                raise PathError(f"{out_flag} {out} lies inside the {in_flag} input folder {inp}; write it elsewhere")


def _check_names(path: Path, flag: str) -> None:
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise PathError(f"{flag} {str(path)[:80]}...: a name in it is longer than {NAME_MAX} bytes")


def _first_existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def check_file_target(path: Path, flag: str = "--out") -> None:
    """Raise unless a file can be written at ``path``: not a folder, its folder creatable and writable."""
    _check_names(path, flag)
    if path.is_dir():
        raise PathError(f"{flag} {path}: is a folder; give a file name such as {path / 'results.json'}")
    parent = _first_existing_parent(path)
    if not parent.is_dir():
        raise PathError(f"{flag} {path}: {parent} is a file, so the folder cannot be created")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PathError(f"{flag} {path}: {parent} is not writable")


def check_folder_target(path: Path, flag: str) -> None:
    """Raise unless ``path`` is, or can be created as, a writable folder (nothing is created)."""
    _check_names(path, flag)
    if path.exists() and not path.is_dir():
        raise PathError(f"{flag} {path}: exists and is not a folder")
    where = path if path.is_dir() else _first_existing_parent(path)
    if not where.is_dir():
        raise PathError(f"{flag} {path}: {where} is a file, so the folder cannot be created")
    if not os.access(where, os.W_OK | os.X_OK):
        raise PathError(f"{flag} {path}: {where} is not writable")
