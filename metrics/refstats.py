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


# --- fadtk's statistics files: one .npz, keys "<model>.mu" [D] and "<model>.cov" [D, D], several models per file ---


def _checked_gaussian(path: str | Path, model: str, mu: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 (mu [D], cov [D, D]) after checking shapes, finiteness and symmetry; one-line ValueError naming the
    file otherwise."""
    mu, cov = np.asarray(mu), np.asarray(cov)
    if mu.ndim != 1 or cov.shape != (mu.size, mu.size):
        raise ValueError(f"{path}: {model}.mu {mu.shape} and {model}.cov {cov.shape} do not match")
    mu, cov = mu.astype(np.float64), cov.astype(np.float64)
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        raise ValueError(f"{path}: {model} statistics contain NaN or inf")
    if np.abs(cov - cov.T).max(initial=0.0) > 1e-6 * max(np.abs(cov).max(initial=0.0), 1e-12):
        raise ValueError(f"{path}: {model}.cov is not symmetric")
    return mu, cov


def fadtk_stats_models(path: str | Path) -> list[str]:
    """Names of the models a fadtk statistics ``.npz`` holds (both ``<model>.mu`` and ``<model>.cov``)."""
    keys = set(_npz_keys(path))
    return sorted(k[:-3] for k in keys if k.endswith(".mu") and f"{k[:-3]}.cov" in keys)


def _npz_keys(path: str | Path) -> list[str]:
    import zipfile

    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds a single array, expected a fadtk statistics .npz")
    with data:
        return list(data.files)


def read_fadtk_stats(path: str | Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mu [D], cov [D, D])`` float64 of ``model`` (e.g. ``"vggish"``) from a fadtk statistics ``.npz`` (the
    format of fadtk's shipped ``stats/fma_pop.npz`` and what fadtk's ``load_stats`` reads)."""
    models = fadtk_stats_models(path)
    if model not in models:
        raise ValueError(f"{path}: no statistics for model {model!r} (it has: {', '.join(models) or 'none'})")
    with np.load(path, allow_pickle=False) as data:
        return _checked_gaussian(path, model, data[f"{model}.mu"], data[f"{model}.cov"])


def write_fadtk_stats(path: str | Path, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write ``{model: (mu [D], cov [D, D])}`` as a fadtk statistics ``.npz`` (float64), checked first."""
    if not stats:
        raise ValueError(f"{path}: no statistics to write")
    arrays: dict[str, np.ndarray] = {}
    for model, (mu, cov) in stats.items():
        arrays[f"{model}.mu"], arrays[f"{model}.cov"] = _checked_gaussian(path, model, mu, cov)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(path), buf.getvalue())
