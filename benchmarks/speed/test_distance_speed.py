"""Distance speed on one embedding set: FD, FAD-inf (one eigvalsh per size vs fadtk's way) and KAD.

``pytest --benchmark-only benchmarks/speed/test_distance_speed.py --benchmark-json out.json``. Gaussian frames, a
reference set of the same size. ``SA_BENCH_FRAMES`` (default 5000) frames of ``SA_BENCH_DIM`` (default 512)
features; ``SA_BENCH_DEVICE`` (default cpu) is where KAD's tiles run; ``SA_BENCH_ROUNDS`` (default 3) rounds per
case (one for the slow fadtk-way FAD-inf). On CUDA the peak GPU memory of a KAD call goes into ``extra_info``.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from metrics.scores.distances import (GaussianStats, ReferenceGaussian, fad_inf, fad_inf_sizes, frechet_distance,
                                      kernel_audio_distance, median_pairwise_distance)

FRAMES = int(os.environ.get("SA_BENCH_FRAMES", "5000"))
DIM = int(os.environ.get("SA_BENCH_DIM", "512"))
DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")
ROUNDS = int(os.environ.get("SA_BENCH_ROUNDS", "3"))
GROUP = f"{FRAMES} x {DIM} frames"


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((DIM, DIM)) / np.sqrt(DIM)
    reference = (rng.standard_normal((FRAMES, DIM)) @ mix).astype(np.float32)
    evaluated = (rng.standard_normal((FRAMES, DIM)) @ mix * 1.1 + 0.05).astype(np.float32)
    stats = GaussianStats(DIM)
    stats.update(reference)
    return {"reference": reference, "evaluated": evaluated, "mu": stats.mean, "sigma": stats.cov}


def run(benchmark, fn, name: str, rounds: int = ROUNDS, **info):
    benchmark.group = GROUP
    benchmark.extra_info.update({"frames": FRAMES, "dim": DIM, "case": name, **info})
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


def test_fd_sqrtm(benchmark, data):
    """Plain FD as fd_result computes it: statistics of the set, then scipy sqrtm."""
    def fd() -> float:
        stats = GaussianStats(DIM)
        stats.update(data["evaluated"])
        return frechet_distance(stats.mean, stats.cov, data["mu"], data["sigma"])
    assert run(benchmark, fd, "fd_sqrtm") > 0


def test_fd_reference_gaussian(benchmark, data):
    """The same FD with sigma_ref^(1/2) precomputed: statistics, then one eigvalsh."""
    ref = ReferenceGaussian.from_stats(data["mu"], data["sigma"])
    stats = GaussianStats(DIM)
    stats.update(data["evaluated"])
    expected = frechet_distance(stats.mean, stats.cov, data["mu"], data["sigma"])

    def fd() -> float:
        s = GaussianStats(DIM)
        s.update(data["evaluated"])
        return ref.frechet_distance(s.mean, s.cov)
    assert run(benchmark, fd, "fd_reference_gaussian") == pytest.approx(expected, rel=1e-6)


def test_fad_inf(benchmark, data):
    out = run(benchmark, lambda: fad_inf(data["evaluated"], data["mu"], data["sigma"], seed=0), "fad_inf")
    assert len(out["points"]) == 25


def test_fad_inf_fadtk_way(benchmark, data):
    """fadtk's loop: copy the drawn frames, np.cov, a general matrix square root per size (here sqrtm)."""
    frames = data["evaluated"]

    def loop() -> list[float]:
        rng = np.random.RandomState(0)
        out = []
        for n in fad_inf_sizes(len(frames)):
            drawn = frames[rng.choice(len(frames), size=n, replace=True)]
            out.append(frechet_distance(drawn.mean(0), np.cov(drawn, rowvar=False), data["mu"], data["sigma"]))
        return out
    ours = [fd for _, fd in fad_inf(frames, data["mu"], data["sigma"], seed=0)["points"]]
    np.testing.assert_allclose(run(benchmark, loop, "fad_inf_fadtk_way", rounds=1), ours, rtol=1e-5)


@pytest.mark.parametrize("bandwidth", ["median", "given"])
def test_kad(benchmark, data, bandwidth):
    bw = None if bandwidth == "median" else median_pairwise_distance(data["evaluated"], device=DEVICE)
    cuda = DEVICE.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def kad() -> float:
        value = kernel_audio_distance(data["reference"], data["evaluated"], bandwidth=bw, device=DEVICE)
        if cuda:
            torch.cuda.synchronize()
        return value
    value = run(benchmark, kad, f"kad_{bandwidth}_bandwidth", device=DEVICE)
    if cuda:
        benchmark.extra_info["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    assert np.isfinite(value)
