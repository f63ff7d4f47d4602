"""MAUVE (Pillutla et al., NeurIPS 2021; the ``mauve-text`` 0.4.0 package's ``compute_mauve`` on given features) and
MAD, the MAUVE Audio Divergence (mad-metric 0.0.6 ``compute_mad``: ``-log MAUVE(p = evaluated, q = reference)`` on
MERT-v1-330M layer-24 hidden states max-pooled over time).

The steps, each as ``compute_mauve`` takes them with its defaults:
  rows of ``vstack([q, p])`` scaled to unit L2 norm -> PCA (scikit-learn, all components, ``random_state=seed + 1``)
  fitted on all rows -> the first components that explain ``explained_variance`` (0.9) of the variance (the first k
  whose cumulative ratio reaches it) -> float32 -> faiss k-means (``num_buckets`` clusters: 'auto' is
  max(2, round(min(n_p, n_q) / 10)); ``niter=max_iter`` 500, ``nredo=num_redo`` 5, ``seed=seed + 2``) -> each row's
  nearest centroid -> the two normalised histograms -> the divergence curve at ``discretization`` (25) mixture
  weights in [1e-6, 1 - 1e-6]: points exp(-c KL(q || r)), exp(-c KL(p || r)) with r = w p + (1 - w) q, c = 5, plus
  the two extreme points -> MAUVE = the mean of the areas under the curve taken along each axis (trapezoids).
faiss is the clustering the reference runs (its k-means initialisation is faiss's own), so the same features give the
same clusters and the same number; scikit-learn's PCA likewise.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MauveSettings:
    num_buckets: int | str = "auto"
    explained_variance: float = 0.9
    num_redo: int = 5
    max_iter: int = 500
    discretization: int = 25
    scaling: float = 5.0
    seed: int = 25

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MauveSettings:
        """The settings among a metric spec's distance options (others, e.g. ``output``, ignored)."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})


def max_pool(frames: np.ndarray) -> np.ndarray:
    """``[n, D]`` -> ``[D]``: the maximum over frames (mad-metric's ``aggregation='max'``)."""
    return np.asarray(frames).max(axis=0)


def num_buckets(n_p: int, n_q: int, setting: int | str) -> int:
    if setting == "auto":
        return max(2, int(round(min(n_p, n_q) / 10)))
    return int(setting)


def _kmeans_labels(data: np.ndarray, k: int, s: MauveSettings) -> np.ndarray:
    try:
        import faiss
    except ImportError:
        raise RuntimeError("MAUVE clusters with faiss, as the reference does; install it: pip install faiss-cpu") \
            from None
    # min_points_per_centroid only decides whether faiss prints a warning on stderr for small sets
    kmeans = faiss.Kmeans(data.shape[1], k, niter=s.max_iter, verbose=False, nredo=s.num_redo, update_index=True,
                          seed=s.seed + 2, min_points_per_centroid=1)
    kmeans.train(data)
    return kmeans.index.search(data, 1)[1].reshape(-1)


def quantise(p: np.ndarray, q: np.ndarray, k: int, s: MauveSettings) -> tuple[np.ndarray, np.ndarray]:
    """``p [n_p, D]``, ``q [n_q, D]`` -> their histograms over ``k`` shared clusters (each summing to 1)."""
    from sklearn.decomposition import PCA

    data = np.vstack([q, p])
    data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), np.finfo(data.dtype).tiny)
    pca = PCA(n_components=None, whiten=False, random_state=s.seed + 1).fit(data)
    keep = int(np.argmax(np.cumsum(pca.explained_variance_ratio_) >= s.explained_variance)) + 1
    labels = _kmeans_labels(pca.transform(data)[:, :keep].astype(np.float32), k, s)
    counts = [np.bincount(part, minlength=k)[:k] for part in (labels[len(q):], labels[:len(q)])]
    return counts[0] / counts[0].sum(), counts[1] / counts[1].sum()


def kl_multinomial(p: np.ndarray, q: np.ndarray) -> float:
    if np.any((p != 0) & (q == 0)):
        return np.inf
    both = (p != 0) & (q != 0)
    return float(np.sum(p[both] * np.log(p[both] / q[both])))


def divergence_curve(p: np.ndarray, q: np.ndarray, s: MauveSettings) -> np.ndarray:
    """``[discretization + 2, 2]`` points (exp(-c KL(q || r)), exp(-c KL(p || r)))."""
    points = [[0.0, np.inf]]
    for w in np.linspace(1e-6, 1 - 1e-6, s.discretization):
        r = w * p + (1 - w) * q
        points.append([kl_multinomial(q, r), kl_multinomial(p, r)])
    points.append([np.inf, 0.0])
    return np.exp(-s.scaling * np.asarray(points))


def _area(x: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(x)  # the reference's sort (ties keep its order)
    return float(np.trapezoid(y[order], x[order]) if hasattr(np, "trapezoid") else np.trapz(y[order], x[order]))


def mauve(p: np.ndarray, q: np.ndarray, settings: MauveSettings = MauveSettings()) -> float:
    """MAUVE between feature sets ``p [n_p, D]`` (evaluated) and ``q [n_q, D]`` (reference), in (0, 1]."""
    p, q = np.asarray(p), np.asarray(q)
    if p.ndim != 2 or q.ndim != 2 or p.shape[1] != q.shape[1] or len(p) == 0 or len(q) == 0:
        raise ValueError(f"MAUVE needs two non-empty [n, D] sets of one width, got {p.shape} and {q.shape}")
    k = num_buckets(len(p), len(q), settings.num_buckets)
    if k > len(p) + len(q):
        raise ValueError(f"MAUVE with {k} clusters needs at least {k} files in all, got {len(p) + len(q)}")
    p_hist, q_hist = quantise(p, q, k, settings)
    x, y = divergence_curve(p_hist, q_hist, settings).T
    return 0.5 * (_area(x, y) + _area(y, x))


def mad(p: np.ndarray, q: np.ndarray, settings: MauveSettings = MauveSettings()) -> float:
    """MAD = -log MAUVE(p, q): 0 for indistinguishable sets, larger when they differ."""
    return float(-np.log(mauve(p, q, settings)))
