"""Pure math of the metrics: Gaussian statistics, Fréchet distance, KL divergence, CLAP cosine.

No I/O and no models here: arrays in, numbers out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg


@dataclass
class GaussianStats:
    """Streaming mean/covariance of embedding frames, as float64 sufficient statistics.

    ``update`` with any number of ``[N, D]`` blocks, then ``mean``/``cov``; the result equals
    ``np.mean(E, 0)`` and ``np.cov(E, rowvar=False)`` (unbiased, N-1) of all blocks stacked, so the full set never
    needs to sit in memory. Two accumulators ``merge`` (sum reduction across workers or ranks).
    """

    dim: int
    n: int = 0
    feat_sum: np.ndarray = field(init=False)  # [D]
    outer_sum: np.ndarray = field(init=False)  # [D, D]

    def __post_init__(self) -> None:
        self.feat_sum = np.zeros(self.dim, np.float64)
        self.outer_sum = np.zeros((self.dim, self.dim), np.float64)

    def update(self, frames: np.ndarray) -> None:
        """Add ``frames`` ``[N, D]``."""
        x = np.asarray(frames, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected frames of shape [N, {self.dim}], got {x.shape}")
        self.n += x.shape[0]
        self.feat_sum += x.sum(0)
        self.outer_sum += x.T @ x

    def merge(self, other: "GaussianStats") -> None:
        self.n += other.n
        self.feat_sum += other.feat_sum
        self.outer_sum += other.outer_sum

    @property
    def mean(self) -> np.ndarray:
        self._need_two()
        return self.feat_sum / self.n

    @property
    def cov(self) -> np.ndarray:
        self._need_two()
        mu = self.feat_sum / self.n
        return (self.outer_sum - self.n * np.outer(mu, mu)) / (self.n - 1)

    def _need_two(self) -> None:
        if self.n < 2:
            raise ValueError(f"Fréchet distance needs at least 2 embedding frames, got {self.n}")


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), as stable-audio-metrics computes it.

    FD = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrtm(sigma1 @ sigma2)).
    If sqrtm returns non-finite values, ``eps * I`` is added to both covariances and it is retried; a complex
    result whose diagonal has |imag| > 1e-3 raises ValueError, otherwise the real part is used
    (metrics-protocol.md §1.4). Symmetric in its two arguments. Non-finite input (or a product that overflows)
    raises ValueError before scipy sees it (scipy's sqrtm spins for minutes on NaN).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        product = sigma1 @ sigma2
    if not all(np.isfinite(x).all() for x in (mu1, mu2, sigma1, sigma2, product)):
        raise ValueError("Fréchet distance of non-finite statistics (NaN or inf in a mean or covariance)")
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(product)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in sqrtm(sigma1 @ sigma2)")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def kl_divergence(p_gen: np.ndarray, p_ref: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """KL(generated || reference) per item, eps on the reference only (stable-audio-metrics ``passt_kld``).

    sum_c p_gen[c] * (log p_gen[c] - log(p_ref[c] + eps)), with 0 * log 0 = 0.

    Args:
        p_gen, p_ref: ``[..., K]`` class probabilities (softmax outputs).
    Returns:
        ``[...]`` float64 divergences.
    """
    p = np.asarray(p_gen, np.float64)
    q = np.asarray(p_ref, np.float64) + eps
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return (plogp - p * np.log(q)).sum(-1)


def cosine_similarity(a: np.ndarray, b: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Row-wise cosine ``[N, D] x [N, D] -> [N]`` (torch.nn.functional.cosine_similarity semantics)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na = np.maximum(np.linalg.norm(a, axis=-1), eps)
    nb = np.maximum(np.linalg.norm(b, axis=-1), eps)
    return (a * b).sum(-1) / (na * nb)
