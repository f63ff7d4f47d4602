"""Benchmark ids: captions CSVs, exclusion lists, and ids mapped to file names without ever escaping a folder."""
from __future__ import annotations

import csv
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


class IdError(ValueError):
    """An id that cannot name a file inside the evaluated folder."""


def check_id(item_id: str) -> str:
    """Return ``item_id`` if it is a plain file stem; raise IdError for anything that could leave the folder."""
    if (not item_id or item_id in (".", "..") or "/" in item_id or "\\" in item_id or "\x00" in item_id
            or item_id.startswith(".") or ":" in item_id):
        raise IdError(f"id {item_id!r} cannot be used as a file name (path separators, '..', leading dot or NUL)")
    return item_id


def id_path(folder: Path, item_id: str, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> Path | None:
    """The existing ``<folder>/<id><ext>`` for the first extension present, or None. Raises IdError for bad ids."""
    check_id(item_id)
    root = folder.resolve()
    for ext in extensions:
        candidate = (root / f"{item_id}{ext}")
        if candidate.resolve().parent != root:  # a symlink pointing elsewhere is not followed out of the folder
            raise IdError(f"id {item_id!r} resolves outside {root}")
        if candidate.is_file():
            return candidate
    return None


def read_table(path: str | Path, id_col: str, value_col: str) -> dict[str, str]:
    """``{id: value}`` from a CSV (ids kept as the strings in the file; the first row of a duplicated id wins)."""
    table: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (id_col, value_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; columns are {reader.fieldnames}")
        for row in reader:
            table.setdefault(row[id_col], row[value_col])
    if not table:
        raise ValueError(f"{path}: no rows")
    return table


def read_id_list(path: str | Path) -> set[str]:
    """One id per line (blank lines and '#' comments ignored)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}
