"""Reference statistics in the formats stable-audio-metrics ships, so no reference audio is needed.

* FD: ``.npz`` with ``mu_ref`` [D] and ``sigma_ref`` [D, D].
* KL: a pickled ``{id: torch.FloatTensor[527]}`` of PaSST probabilities. Pickles can run code, so they are read
  with a restricted unpickler that admits only what such a file holds: tensors (rebuilt through
  ``torch.load(weights_only=True)``), ``OrderedDict`` and plain containers; any other class is refused.
Ids are returned as strings (the reference pickles key AudioCaps/Song Describer ids as int).
"""
from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from metrics.cache import atomic_write_bytes


def read_fd_stats(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        missing = {"mu_ref", "sigma_ref"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: missing {sorted(missing)} (expected stable-audio-metrics FD stats)")
        mu, sigma = data["mu_ref"], data["sigma_ref"]
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: mu_ref {mu.shape} and sigma_ref {sigma.shape} do not match")
    return mu.astype(np.float64), sigma.astype(np.float64)


def write_fd_stats(path: str | Path, mu: np.ndarray, sigma: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, mu_ref=mu, sigma_ref=sigma)
    atomic_write_bytes(Path(path), buf.getvalue())


def _tensor_from_bytes(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class _TensorUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        import torch._utils

        allowed = {
            ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("torch.storage", "_load_from_bytes"): _tensor_from_bytes,
            ("collections", "OrderedDict"): collections.OrderedDict,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only tensors and containers")
        return allowed[(module, name)]


def read_kl_probs(path: str | Path) -> dict[str, np.ndarray]:
    """``{id (str): probs [527] float64}`` from a stable-audio-metrics reference pickle."""
    with open(path, "rb") as f:
        raw = _TensorUnpickler(f).load()
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of id -> probabilities, got {type(raw).__name__}")
    return {str(k): np.asarray(v, np.float64).reshape(-1) for k, v in raw.items()}


def write_kl_probs(path: str | Path, probs: dict[str, np.ndarray]) -> None:
    """Write the reference format. Keys become int when every id is all digits (pandas reads such a column as
    int64: AudioCaps, Song Describer), else stay str (MusicCaps)."""
    import torch

    int_keys = all(k.isdigit() for k in probs)
    data = {(int(k) if int_keys else k): torch.as_tensor(np.asarray(v, np.float32)) for k, v in probs.items()}
    atomic_write_bytes(Path(path), pickle.dumps(data))
