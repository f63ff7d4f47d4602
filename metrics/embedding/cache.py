"""Per-file model outputs cached on disk, keyed by the file's content and every setting that changes them.

Layout: ``<root>/<embedder name>/<settings+weights key>/<sha[:2]>/<sha256 of the file>.npy``. The key comes from
:meth:`metrics.embedding.embedder.Embedder.cache_key`, so another hop size, channel mode, seed or weight file never reuses an
entry, while renaming or moving an audio file does. File names never enter cache paths (hostile ids are harmless).
Writes go to a temporary file in the same folder and are renamed into place, so a run killed at any point leaves
only whole entries; a rerun computes only what is missing.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from sa_util.files import atomic_write_bytes


def entry_path(root: Path, name: str, key: str, content_hash: str) -> Path:
    """Where the output of embedder ``name`` with cache key ``key`` for content ``content_hash`` lives (results
    files record these three, so later tools find a run's embeddings without the audio or the model)."""
    return root / name / key / content_hash[:2] / f"{content_hash}.npy"


class EmbeddingCache:
    """Skip-if-present store of per-file arrays. ``root=None`` disables caching."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None

    def path(self, name: str, key: str, content_hash: str) -> Path | None:
        """See :func:`entry_path`; None when caching is off."""
        if self.root is None:
            return None
        return entry_path(self.root, name, key, content_hash)

    def get(self, name: str, key: str, content_hash: str) -> np.ndarray | None:
        path = self.path(name, key, content_hash)
        if path is None or not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)  # unreadable entry (should not happen with atomic writes): recompute
            return None

    def put(self, name: str, key: str, content_hash: str, value: np.ndarray) -> None:
        path = self.path(name, key, content_hash)
        if path is None:
            return
        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
