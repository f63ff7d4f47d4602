"""Per-file model outputs cached on disk, keyed by the file's content and every setting that changes them.

Layout: ``<root>/<embedder name>/<settings+weights key>/<sha[:2]>/<sha256 of the file>.npy``. The key comes from
:meth:`metrics.embedder.Embedder.cache_key`, so another hop size, channel mode, seed or weight file never reuses an
entry, while renaming or moving an audio file does. File names never enter cache paths (hostile ids are harmless).
Writes go to a temporary file in the same folder and are renamed into place, so a run killed at any point leaves
only whole entries; a rerun computes only what is missing.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from metrics.embedder import Embedder


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


def _temp_prefix(name: str, suffix: str, limit: int = 255, random_chars: int = 8) -> str:
    """``.<name>.`` shortened (whole UTF-8 characters) so that prefix + mkstemp's 8 random characters + suffix
    fit in ``limit`` bytes."""
    room = limit - random_chars - len(suffix.encode()) - 2  # the leading and trailing dots
    short = name.encode("utf-8", "surrogateescape")[:max(room, 0)].decode("utf-8", "ignore")
    return f".{short}."


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def entry_path(root: Path, name: str, key: str, content_hash: str) -> Path:
    """Where the output of embedder ``name`` with cache key ``key`` for content ``content_hash`` lives (results
    files record these three, so later tools find a run's embeddings without the audio or the model)."""
    return root / name / key / content_hash[:2] / f"{content_hash}.npy"


class EmbeddingCache:
    """Skip-if-present store of per-file arrays. ``root=None`` disables caching."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None

    def path(self, embedder: Embedder, content_hash: str) -> Path | None:
        if self.root is None:
            return None
        return entry_path(self.root, embedder.name, embedder.cache_key(), content_hash)

    def get(self, embedder: Embedder, content_hash: str) -> np.ndarray | None:
        path = self.path(embedder, content_hash)
        if path is None or not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)  # unreadable entry (should not happen with atomic writes): recompute
            return None

    def put(self, embedder: Embedder, content_hash: str, value: np.ndarray) -> None:
        path = self.path(embedder, content_hash)
        if path is None:
            return
        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
