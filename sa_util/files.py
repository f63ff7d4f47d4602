"""Files written whole or not at all, and their content hashes."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from sa_util.paths import NAME_MAX


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to disk, then rename it into place: readers
    see the old file or the whole new one, and a failure leaves no partial file. ``suffix`` is the temporary
    file's extension, for writers that infer the format from it (soundfile). Any legal file name works: the
    temporary name ``.<name>.<random>.<suffix>`` is cut to fit the 255-byte limit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name, suffix), suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temp_prefix(name: str, suffix: str, limit: int = NAME_MAX, random_chars: int = 8) -> str:
    """``.<name>.`` shortened (whole UTF-8 characters) so that prefix + mkstemp's 8 random characters + suffix
    fit in ``limit`` bytes."""
    room = limit - random_chars - len(suffix.encode()) - 2  # the leading and trailing dots
    short = name.encode("utf-8", "surrogateescape")[:max(room, 0)].decode("utf-8", "ignore")
    return f".{short}."


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
