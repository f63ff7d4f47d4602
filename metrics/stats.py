"""Bootstrap confidence intervals (percentile method, seeded), permutation p-values, Holm adjustment and power."""
from __future__ import annotations

import math
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


def permutation_pvalue(observed: float, null: np.ndarray) -> float:
    """Two-sided p of ``observed`` against ``null`` replicates ``[R]`` of the statistic under exchangeability:
    (1 + #{|null| >= |observed|}) / (1 + R), never 0 (Phipson & Smyth 2010). A zero difference gives 1."""
    null = np.asarray(null, np.float64)
    if len(null) == 0 or not np.isfinite(observed):
        return float("nan")
    tol = 1e-12 * max(1.0, abs(observed))  # replicates equal to the observed value up to rounding count as >=
    return float((1 + np.count_nonzero(np.abs(null) >= abs(observed) - tol)) / (1 + len(null)))


def sign_flips(n_items: int, n_perm: int, seed: int = 0) -> np.ndarray:
    """``[n_perm, n_items]`` random signs +-1: under "A and B are exchangeable on every item" each paired
    difference is as likely negated."""
    return np.random.default_rng(seed).choice(np.array([-1.0, 1.0]), size=(n_perm, n_items))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control, any dependence), in input order; NaN stays
    NaN and does not count towards the family size."""
    p = np.asarray(pvalues, np.float64)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))  # step-down: adjusted p never decreases
        out[i] = running
    return out.tolist()


def detectable_factor(alpha: float = 0.05, power: float = 0.8) -> float:
    """z_{1-alpha/2} + z_{power} (2.80 at alpha 0.05, 80% power): a paired two-sided test detects a true difference
    delta with that power when delta >= factor x SE(difference) (normal approximation)."""
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))


def minimum_detectable(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true difference a test with standard error ``se`` of the difference detects with ``power``."""
    return detectable_factor(alpha, power) * se


def n_needed(target: float, se_one: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Prompts needed to detect ``target`` when the difference's SE is ``se_one / sqrt(n)`` (``se_one``: the SD of
    the per-prompt differences, or sqrt(n0) x SE at n0 prompts)."""
    if not (target > 0 and se_one >= 0):
        raise ValueError(f"target difference must be > 0, got {target}")
    return max(2, math.ceil((detectable_factor(alpha, power) * se_one / target) ** 2))
