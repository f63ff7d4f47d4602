"""Benchmark ids and the files of a run: captions CSVs, exclusion lists, and one definition of which audio files a
folder holds, shared by every metric (FD's whole-folder set and the per-id metrics see the same files).

The files of a run (:func:`audio_files`): the entries directly inside the folder whose extension (any case) is an
audio extension, that are regular files (or links to a regular file inside the folder; a link that leads out of the
folder is refused without being opened), and whose name without the extension is a valid id (:func:`check_id`).
Several files with one stem (``a.wav`` + ``a.flac``, ``a.wav`` + ``a.WAV``): the one whose extension comes first
in ``extensions`` is used (then the first name in code-point order); the others are reported as duplicates.
Every entry left out is reported with its reason, never silently dropped.
"""
from __future__ import annotations

import csv
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, TypeVar

from sa_util.audio import AUDIO_EXTENSIONS  # the formats of a run, in the order that settles duplicate stems
from sa_util.cli import one_line
from sa_util.paths import NAME_MAX

MAX_NAME_BYTES = NAME_MAX  # file-name limit of ext4/xfs/apfs/ntfs
MAX_ID_BYTES = MAX_NAME_BYTES - len(".flac")  # <id>.<ext> must stay a legal file name

T = TypeVar("T")


class IdError(ValueError):
    """An id that cannot name a file inside the evaluated folder."""


class TableError(ValueError):
    """A captions CSV or id list that cannot be used; the message names the file (and line)."""


def check_id(item_id: str) -> str:
    """Return ``item_id`` if it is a plain file stem; raise IdError for anything that could leave the folder or
    is too long to be a file name with an audio extension."""
    if (not item_id or item_id in (".", "..") or "/" in item_id or "\\" in item_id or "\x00" in item_id
            or item_id.startswith(".") or ":" in item_id):
        raise IdError(f"id {item_id!r} cannot be used as a file name (path separators, '..', leading dot or NUL)")
    if len(item_id.encode("utf-8", "surrogateescape")) > MAX_ID_BYTES:
        raise IdError(f"id {item_id[:40]!r}... is {len(item_id.encode('utf-8', 'surrogateescape'))} bytes; "
                      f"ids longer than {MAX_ID_BYTES} bytes cannot name a file")
    return item_id


# --- the files of a run -------------------------------------------------------------------------------------------
@dataclass
class FileSet:
    """The audio files of one folder, by id (see module docstring)."""

    folder: Path  # resolved
    files: dict[str, Path] = field(default_factory=dict)  # id -> file inside ``folder``
    problems: dict[str, str] = field(default_factory=dict)  # file left out -> why
    refused: dict[str, str] = field(default_factory=dict)  # id whose only file was left out -> why

    def paths(self) -> list[str]:
        """Every file of the run, sorted (FD's set: the protocol uses the whole folder)."""
        return sorted(str(p) for p in self.files.values())


def _entry_problem(root: Path, entry: os.DirEntry) -> str | None:
    """Why ``entry`` is not a file of the run, or None. Never opens the file (a link is resolved first)."""
    if entry.is_symlink():
        target = Path(os.path.realpath(entry.path))
        if not target.is_relative_to(root):
            return f"symbolic link to {target}, outside {root}: refused (not opened)"
    try:
        mode = os.stat(entry.path).st_mode  # follows a link that stays inside the folder
    except OSError as exc:
        return f"cannot stat ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def audio_files(folder: str | Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> FileSet:
    """The files of a run in ``folder`` (module docstring). Raises NotADirectoryError if it is not a folder."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    root = root.resolve()
    rank = {ext.lower(): k for k, ext in enumerate(extensions)}
    candidates: dict[str, list[tuple[int, str]]] = {}
    out = FileSet(root)
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise NotADirectoryError(f"{folder} cannot be listed ({exc.strerror or exc})") from exc
    for entry in entries:
        stem, ext = os.path.splitext(entry.name)
        if ext.lower() not in rank:
            if entry.name.lower().endswith(tuple(rank)):  # e.g. "...flac": splitext sees no extension
                out.problems[str(root / entry.name)] = "its name is not a usable id (nothing before the extension)"
            continue
        try:
            check_id(stem)
            problem = _entry_problem(root, entry)
        except IdError as exc:
            problem = f"its name is not a usable id: {exc}"
        if problem is not None:
            out.problems[str(root / entry.name)] = problem
            out.refused.setdefault(stem, f"{entry.name}: {problem}")
            continue
        candidates.setdefault(stem, []).append((rank[ext.lower()], entry.name))
    for stem, names in candidates.items():
        chosen, *others = [name for _, name in sorted(names)]
        out.files[stem] = root / chosen
        out.refused.pop(stem, None)
        for name in others:
            out.problems[str(root / name)] = f"duplicate of id {stem!r}: {chosen} is used (extension order " \
                                             f"{', '.join(extensions)})"
    _one_id_per_file(out)
    return out


def _one_id_per_file(files: FileSet) -> None:
    """Links (symbolic or hard) that make one file stand under several ids: the file counts once, under the id
    whose entry is not a link (else the first), and each other name is left out with the reason."""
    by_file: dict[tuple[int, int], list[str]] = {}
    for stem, path in files.files.items():
        st = os.stat(path)
        by_file.setdefault((st.st_dev, st.st_ino), []).append(stem)
    for stems in by_file.values():
        if len(stems) < 2:
            continue
        keep = min(stems, key=lambda s: (files.files[s].is_symlink(), s))
        for stem in stems:
            if stem != keep:
                path = files.files.pop(stem)
                why = f"the same file as {files.files[keep].name} (a link): counted once, under id {keep!r}"
                files.problems[str(path)] = why
                files.refused[stem] = f"{path.name}: {why}"


def paths_in(folder: str | Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[str]:
    """Every audio file of the run in ``folder``, sorted (the protocol's glob of the generated folder)."""
    return audio_files(folder, extensions).paths()


def align_ids(reference: Mapping[int | str, T], ids: Iterable[str]) -> tuple[dict[str, T], dict[str, str]]:
    """Match reference keys to our string ids.

    A string key matches the identical id. An int key (stable-audio-metrics keys AudioCaps/Song Describer by the
    int pandas read from the CSV) matches the one id of ``ids`` made of ASCII digits with that value (``"001"`` ->
    1), only through ``ids``; when several ids read as the same int (``"1"`` and ``"001"``), none is matched.
    Returns ``({id: value}, {id: why unmatched})`` (only ids with a problem other than "absent" are listed).
    """
    ids = list(ids)
    by_int: dict[int, list[str]] = {}
    for i in ids:
        if i.isascii() and i.isdigit():
            by_int.setdefault(int(i), []).append(i)
    matched: dict[str, T] = {}
    problems: dict[str, str] = {}
    for key, value in reference.items():
        if isinstance(key, str):
            matched.setdefault(key, value)
        elif len(by_int.get(key, [])) == 1:
            matched.setdefault(by_int[key][0], value)
        elif key in by_int:
            for i in by_int[key]:
                problems[i] = f"ambiguous: ids {by_int[key]} all read as the reference's int key {key}"
    wanted = set(ids)
    return {i: v for i, v in matched.items() if i in wanted and i not in problems}, problems


# --- tables -------------------------------------------------------------------------------------------------------
@dataclass
class Table:
    """A captions CSV: rows by id, in file order."""

    path: Path
    rows: dict[str, dict[str, str]]  # id -> row
    lines: dict[str, int]  # id -> line number in the file

    @property
    def ids(self) -> list[str]:
        return list(self.rows)

    def column(self, name: str) -> dict[str, str]:
        return {i: row[name] for i, row in self.rows.items()}


def read_csv(path: str | Path, id_col: str, columns: Iterable[str] = ()) -> Table:
    """Rows of a UTF-8 CSV (a byte-order mark is accepted) keyed by ``id_col``; ids stay the strings in the file.

    Raises TableError (one line, naming the file and line) if the file cannot be read, a named column is missing,
    a row lacks one of those fields or has an empty id, or an id appears twice.
    """
    path = Path(path)
    needed = [id_col, *[c for c in columns if c != id_col]]
    if not path.is_file():
        raise TableError(f"{path}: not a file")
    rows: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in needed if c not in (reader.fieldnames or [])]
            if missing:
                raise TableError(f"{path}: no column(s) {missing}; columns are {reader.fieldnames}")
            for row in reader:
                line = reader.line_num
                absent = [c for c in needed if row.get(c) is None]
                if absent:
                    raise TableError(f"{path} line {line}: missing field(s) {absent}")
                item_id = row[id_col]
                if not item_id.strip():
                    raise TableError(f"{path} line {line}: empty id in column {id_col!r}")
                if item_id in rows:
                    raise TableError(f"{path} line {line}: id {item_id[:80]!r} already on line {lines[item_id]}")
                rows[item_id], lines[item_id] = row, line
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"{path}: cannot read as a UTF-8 CSV ({one_line(exc)})") from exc
    if not rows:
        raise TableError(f"{path}: no rows")
    return Table(path, rows, lines)


def read_table(path: str | Path, id_col: str, value_col: str) -> dict[str, str]:
    """``{id: value}`` from a CSV (see :func:`read_csv`; a duplicated id is an error)."""
    return read_csv(path, id_col, (value_col,)).column(value_col)


def read_id_list(path: str | Path) -> set[str]:
    """One id per line (blank lines and '#' comments ignored). Raises TableError naming the file."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read the id list ({one_line(exc)})") from exc
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}

