"""Bootstrap confidence intervals (percentile method, seeded)."""
from __future__ import annotations

from typing import Callable

import numpy as np


def bootstrap_ci(values: np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean, *,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` over items ``values`` ``[N, ...]`` (resampled along axis 0).

    Returns (nan, nan) when there are fewer than 2 items or ``n_boot`` is 0.
    """
    v = np.asarray(values)
    if len(v) < 2 or n_boot <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    reps = np.array([statistic(v[i]) for i in idx], np.float64)
    return _percentiles(reps, level)


def bootstrap_indices(n_items: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``[n_boot, n_items]`` resampling indices, for statistics that are not a function of an item array."""
    return np.random.default_rng(seed).integers(0, n_items, size=(n_boot, n_items))


def _percentiles(reps: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of precomputed bootstrap replicates."""
    r = np.asarray(replicates, np.float64)
    if len(r) < 2:
        return float("nan"), float("nan")
    return _percentiles(r, level)
