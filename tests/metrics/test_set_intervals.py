"""Confidence intervals of set metrics (FD and the others recomputed on resampled sets): they contain their own
estimate by construction and cover the truth at about their level, measured on Gaussian sets whose FD is known.

Resampling files with replacement duplicates files, which inflates a plug-in FD, so the percentile interval of
the replicates lies above the estimate on small sets; the bias-corrected interval subtracts that bias
(:func:`metrics.scores.stats.set_interval`). ``SA_BENCH_COVERAGE=long`` runs 1,000 seeds instead of 200.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from metrics.scores.distances import ReferenceGaussian
from metrics.scores.evaluate import fd_result
from metrics.scores.stats import percentile_interval, set_bootstrap, set_interval

SEEDS = 1000 if os.environ.get("SA_BENCH_COVERAGE") == "long" else 200


def gaussian_case(dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """A generator N(mu, sigma) and fixed reference statistics N(0, I), and their exact FD."""
    rng = np.random.default_rng(dim)
    mu = np.full(dim, 1.0 / np.sqrt(dim))
    half = rng.normal(size=(dim, dim)) / np.sqrt(dim) * 0.5
    sigma = 0.8 * np.eye(dim) + half @ half.T
    mu_ref, sigma_ref = np.zeros(dim), np.eye(dim)
    truth = ReferenceGaussian.from_stats(mu_ref, sigma_ref).frechet_distance(mu, sigma)
    return mu, sigma, mu_ref, sigma_ref, truth


def coverage(dim: int, n_files: int, frames_per_file: int, n_boot: int) -> tuple[float, int, int]:
    """(share of intervals covering the true FD, intervals containing their estimate, seeds) over ``SEEDS`` sets of
    ``n_files`` files of ``frames_per_file`` frames each, through :func:`metrics.scores.evaluate.fd_result`."""
    mu, sigma, mu_ref, sigma_ref, truth = gaussian_case(dim)
    covered = contained = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(1000 + seed)
        files = rng.multivariate_normal(mu, sigma, size=(n_files, frames_per_file))
        res = fd_result({f"{i:03d}": f for i, f in enumerate(files)}, mu_ref, sigma_ref, n_boot=n_boot, seed=seed)
        lo, hi = res["ci95"]
        covered += lo <= truth <= hi
        contained += lo <= res["value"] <= hi
    return covered / SEEDS, contained, SEEDS


def test_fd_interval_covers_the_true_fd_at_its_level():
    share, contained, seeds = coverage(dim=4, n_files=40, frames_per_file=5, n_boot=100)
    assert contained == seeds
    assert 0.92 <= share <= 0.98, share


def test_fd_interval_on_a_small_set_contains_its_estimate_and_stays_conservative():
    """20 one-frame files in 8 dimensions: the bias is larger than the spread. The percentile interval covered the
    truth in 0 of 200 such sets; the bias-corrected interval, widened to its estimate, covers at least 95 %."""
    share, contained, seeds = coverage(dim=8, n_files=20, frames_per_file=1, n_boot=100)
    assert contained == seeds
    assert share >= 0.95, share


def test_percentile_interval_of_an_inflated_fd_would_exclude_the_estimate():
    """The case the correction exists for: every replicate above the estimate."""
    replicates = np.linspace(1.1, 2.0, 50)
    assert percentile_interval(replicates)[0] > 1.0
    lo, hi = set_interval(replicates, 1.0, n_items=20)
    assert lo < 1.0 <= hi
    half = 1.96 * replicates.std(ddof=1) * np.sqrt(20 / 19)
    assert lo == pytest.approx(2 * 1.0 - replicates.mean() - half, rel=1e-3)


def test_set_bootstrap_without_replicates_or_items_gives_no_interval():
    for n_items, n_boot in ((1, 50), (10, 0)):
        res = set_bootstrap(n_items, None if n_boot == 0 else (lambda idx: 0.0), 1.0, n_boot=n_boot)
        assert res["ci_replicates"] == 0 and all(np.isnan(res["ci95"]))


@pytest.mark.parametrize("frames_per_file", [2, 40])  # 24 frames in 64 dims: the Gram form; 480 in 16: D space
def test_weighted_fd_equals_the_fd_of_the_repeated_frames(frames_per_file):
    from metrics.scores.evaluate import WeightedFD

    rng = np.random.default_rng(frames_per_file)
    dim = 16 if frames_per_file == 40 else 64
    files = [rng.normal(size=(frames_per_file, dim)) + rng.normal(size=dim) * 0.3 for _ in range(12)]
    half = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    mu_ref, sigma_ref = rng.normal(size=dim) * 0.1, half @ half.T + 0.5 * np.eye(dim)
    ref = ReferenceGaussian.from_stats(mu_ref, sigma_ref)
    wfd = WeightedFD(files, ref)
    assert (wfd.Y is not None) is (frames_per_file == 2)
    for weights in (np.ones(12, int), rng.integers(0, 3, size=12)):
        stacked = np.concatenate([f for f, k in zip(files, weights) for _ in range(k)])
        want = ref.frechet_distance(stacked.mean(0), np.cov(stacked, rowvar=False))
        assert wfd(weights) == pytest.approx(want, rel=1e-5)
