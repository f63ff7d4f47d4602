"""Reference statistics in the formats stable-audio-metrics ships, so no reference audio is needed.

* FD: ``.npz`` with ``mu_ref`` [D] and ``sigma_ref`` [D, D].
* KL: a pickled ``{id: torch.FloatTensor[527]}`` of PaSST probabilities. Pickles can run code, so they are read
  with a restricted unpickler that admits only what such a file holds: tensors (rebuilt through
  ``torch.load(weights_only=True)``), ``OrderedDict`` and plain containers; any other class is refused. The same
  dict saved with ``torch.save`` (a zip archive) is read with ``torch.load(weights_only=True)``.

Every file is validated on reading, and anything wrong is one ValueError naming the file: finite values, the right
shapes, a symmetric positive semi-definite covariance, probabilities in [0, 1] over 527 classes summing to 1.
KL ids are returned as the file keys them (int or str); :func:`sa_util.ids.align_ids` maps them to our ids.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sa_util.cli import one_line
from sa_util.files import atomic_write_bytes

N_CLASSES = 527  # AudioSet classes of PaSST
SUM_TOLERANCE = 1e-3  # the shipped float32 probabilities sum to 1 within 4e-7
SYMMETRY_TOLERANCE = 1e-5  # relative to max |sigma|
PSD_TOLERANCE = 1e-4  # smallest eigenvalue >= -PSD_TOLERANCE * largest (float32 rounding of a 1024-d covariance)
# statistics of float32 embeddings whose values are O(1)-O(100): anything near this is not such statistics, and would
# overflow or lose all precision in the FD after the (long) embedding of the generated set
MAX_MAGNITUDE = 1e30


def read_fd_stats(path: str | Path, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mu [D], sigma [D, D])`` float64 from an FD statistics ``.npz``, validated (``dim``: the expected D)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu_ref", "sigma_ref"} - set(data.files)
            if missing:
                raise ValueError(f"missing {sorted(missing)} (expected stable-audio-metrics FD stats)")
            mu, sigma = _real_array(data["mu_ref"], "mu_ref"), _real_array(data["sigma_ref"], "sigma_ref")
    except Exception as exc:  # zip, zlib, format and our own errors: all mean "not usable FD statistics"
        raise ValueError(f"{path}: not usable FD statistics ({one_line(exc)})") from exc
    problem = fd_stats_problem(mu, sigma, dim)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return mu, sigma


def _real_array(x: np.ndarray, name: str) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} has dtype {x.dtype}, expected real numbers")
    return x.astype(np.float64)


def fd_stats_problem(mu: np.ndarray, sigma: np.ndarray, dim: int | None = None,
                     names: tuple[str, str] = ("mu_ref", "sigma_ref")) -> str | None:
    """Why ``(mu, sigma)`` cannot be the statistics of an evaluator's embeddings, or None (``dim``: the expected D;
    ``names``: how the file calls the two arrays)."""
    m, s = names
    if mu.ndim != 1 or mu.size == 0 or sigma.shape != (mu.size, mu.size):
        return f"{m} {mu.shape} and {s} {sigma.shape}: expected [D] and [D, D]"
    if dim is not None and mu.size != dim:
        return f"statistics of {mu.size}-d embeddings, this metric reads {dim}-d frames"
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        return f"{m} or {s} holds NaN or infinite values"
    largest = max(float(np.abs(mu).max()), float(np.abs(sigma).max()))
    if largest > MAX_MAGNITUDE:
        return f"{m} or {s} holds values up to {largest:.3g}, far beyond any evaluator's embeddings"
    scale = max(float(np.abs(sigma).max()), np.finfo(np.float64).tiny)
    if float(np.abs(sigma - sigma.T).max()) > SYMMETRY_TOLERANCE * scale:
        return f"{s} is not symmetric, so not a covariance"
    eig = np.linalg.eigvalsh(sigma)
    if eig[0] < -PSD_TOLERANCE * max(float(eig[-1]), 0.0) or eig[-1] < 0:
        return f"{s} has eigenvalue {eig[0]:.3g} < 0, so not a covariance"
    return None


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


def _load_pickle(path: Path) -> Any:
    if zipfile.is_zipfile(path):  # torch.save's format
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    with open(path, "rb") as f:
        return _TensorUnpickler(f).load()


def read_kl_probs(path: str | Path) -> dict[int | str, np.ndarray]:
    """``{id (as keyed in the file): probs [527] float64}`` from a stable-audio-metrics reference pickle, validated."""
    try:
        raw = _load_pickle(Path(path))
    except Exception as exc:  # truncated, random, refused class, torch errors: one line naming the file
        raise ValueError(f"{path}: not a usable KL reference pickle ({one_line(exc)})") from exc
    if not isinstance(raw, dict) or not raw:
        what = f"an empty {type(raw).__name__}" if isinstance(raw, dict) else f"a {type(raw).__name__}"
        raise ValueError(f"{path}: expected a dict of id -> probabilities [{N_CLASSES}], got {what}")
    probs = {}
    for key, value in raw.items():
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise ValueError(f"{path}: key {key!r} is a {type(key).__name__}; ids must be int or str")
        p = _as_float_array(value)
        problem = probs_problem(p)
        if problem:
            raise ValueError(f"{path}: id {str(key)[:80]!r}: {problem}")
        probs[key] = p
    return probs


def _as_float_array(value: Any) -> np.ndarray | None:
    """float64 array of real numbers, or None (complex values are refused, not cast: a cast drops the imaginary
    part)."""
    try:
        if hasattr(value, "detach"):  # a tensor (any dtype, e.g. bfloat16, that numpy cannot take directly)
            if value.is_complex():
                return None
            value = value.detach().cpu().double().numpy()
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            return None
        return arr.astype(np.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def probs_problem(p: np.ndarray | None) -> str | None:
    """Why ``p`` is not a [527] probability vector, or None."""
    if p is None:
        return "not an array of real numbers"
    if p.shape != (N_CLASSES,):
        return f"shape {p.shape}, expected ({N_CLASSES},) class probabilities"
    if not np.isfinite(p).all():
        return "probabilities hold NaN or infinite values"
    if p.min() < 0 or p.max() > 1 + 1e-6:
        return f"probabilities outside [0, 1] (min {p.min():.3g}, max {p.max():.3g})"
    if abs(p.sum() - 1) > SUM_TOLERANCE:
        return f"probabilities sum to {p.sum():.6g}, not 1"
    return None


def kl_keys(ids: list[str]) -> list[int | str]:
    """The keys :func:`write_kl_probs` writes: int (as stable-audio-metrics keys AudioCaps/Song Describer, whose id
    columns pandas reads as int64) when every id is an int's canonical spelling, so the key reads back as the same
    id; otherwise every id stays str ("001" would come back as 1)."""
    canonical = all(i.isascii() and i.isdigit() and str(int(i)) == i for i in ids)
    return [int(i) for i in ids] if canonical else list(ids)


def write_kl_probs(path: str | Path, probs: dict[str, np.ndarray]) -> None:
    """Write the reference format (keys: :func:`kl_keys`)."""
    import torch

    keys = kl_keys(list(probs))
    data = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in zip(keys, probs.values())}
    atomic_write_bytes(Path(path), pickle.dumps(data))


# --- fadtk's statistics files: one .npz, keys "<model>.mu" [D] and "<model>.cov" [D, D], several models per file ---


def _checked_gaussian(path: str | Path, model: str, mu: np.ndarray, cov: np.ndarray,
                      dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """float64 (mu [D], cov [D, D]) after :func:`fd_stats_problem`; one-line ValueError naming the file otherwise."""
    mu, cov = _real_array(np.asarray(mu), f"{model}.mu"), _real_array(np.asarray(cov), f"{model}.cov")
    problem = fd_stats_problem(mu, cov, dim, names=(f"{model}.mu", f"{model}.cov"))
    if problem:
        raise ValueError(f"{path}: {problem}")
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


def read_fadtk_stats(path: str | Path, model: str, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mu [D], cov [D, D])`` float64 of ``model`` (e.g. ``"vggish"``) from a fadtk statistics ``.npz`` (the
    format of fadtk's shipped ``stats/fma_pop.npz`` and what fadtk's ``load_stats`` reads); ``dim``: the expected D."""
    models = fadtk_stats_models(path)
    if model not in models:
        raise ValueError(f"{path}: no statistics for model {model!r} (it has: {', '.join(models) or 'none'})")
    with np.load(path, allow_pickle=False) as data:
        return _checked_gaussian(path, model, data[f"{model}.mu"], data[f"{model}.cov"], dim)


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
