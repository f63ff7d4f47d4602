"""Pure math of the metrics: Gaussian statistics, Fréchet distance, KL divergence, CLAP cosine.

No I/O and no models here: arrays in, numbers out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import scipy.linalg

if TYPE_CHECKING:
    import torch


IMAG_TOLERANCE = 1e-3  # of |imag| on the diagonal of sqrtm(sigma1 sigma2), relative to its scale (frechet_distance)


@dataclass
class GaussianStats:
    """Streaming mean/covariance of embedding frames, as float64 sufficient statistics.

    ``update`` with any number of ``[N, D]`` blocks, then ``mean``/``cov``; the result equals
    ``np.mean(E, 0)`` and ``np.cov(E, rowvar=False)`` (unbiased, N-1) of all blocks stacked, so the full set never
    needs to sit in memory.
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
    (stable-audio-metrics, pytorch-fid). The 1e-3 is relative to sqrt(tr sigma1 tr sigma2) (the bound of
    tr sqrtm(sigma1 sigma2)) where that exceeds 1, so statistics on a large scale are not refused for rounding. Symmetric in its two arguments. Non-finite input (or a product that overflows)
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
        scale = max(1.0, float(np.sqrt(abs(np.trace(sigma1) * np.trace(sigma2)))))
        if np.abs(np.diagonal(covmean).imag).max() > IMAG_TOLERANCE * scale:
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag)):.3g} in sqrtm(sigma1 @ sigma2) "
                             f"(scale {scale:.3g})")
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


# --- FD against fixed reference statistics: FAD-inf and per-item FD (fadtk) -----------------------------------


@dataclass(frozen=True, eq=False)
class ReferenceGaussian:
    """Fixed reference statistics N(mu, sigma) with sigma^(1/2) computed once, for many FDs against one reference.

    tr sqrtm(sigma_ref @ sigma) = sum_i sqrt(lambda_i(A sigma A)) with A = sigma_ref^(1/2) symmetric PSD (one
    ``eigh`` in ``from_stats``), because A sigma A is similar to sigma_ref sigma and is itself symmetric PSD. Each
    ``frechet_distance`` is then one symmetric eigendecomposition (``eigvalsh``, D x D) instead of a general
    ``sqrtm`` (or fadtk's ``eig`` + inverse); the value equals ``frechet_distance`` up to rounding for PSD inputs.
    """

    mu: np.ndarray  # [D] float64
    sigma: np.ndarray  # [D, D] float64
    sqrt_sigma: np.ndarray  # [D, D] float64, symmetric PSD square root of sigma

    @classmethod
    def from_stats(cls, mu: np.ndarray, sigma: np.ndarray) -> "ReferenceGaussian":
        mu = np.atleast_1d(np.asarray(mu, np.float64))
        sigma = np.atleast_2d(np.asarray(sigma, np.float64))
        if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
            raise ValueError(f"reference statistics: mu {mu.shape} and sigma {sigma.shape} do not match")
        evals, evecs = np.linalg.eigh((sigma + sigma.T) / 2)
        root = (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T  # rounding can leave eigenvalues just < 0
        return cls(mu, sigma, root)

    @property
    def dim(self) -> int:
        return self.mu.size

    def frechet_distance(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """FD between N(mu, sigma) (``[D]``, ``[D, D]``) and the reference."""
        mu = np.atleast_1d(np.asarray(mu, np.float64))
        sigma = np.atleast_2d(np.asarray(sigma, np.float64))
        if mu.shape != self.mu.shape or sigma.shape != self.sigma.shape:
            raise ValueError(f"shape mismatch: mu {mu.shape} vs {self.mu.shape}, sigma {sigma.shape} vs "
                             f"{self.sigma.shape}")
        m = self.sqrt_sigma @ sigma @ self.sqrt_sigma
        tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
        return self.fd_from_parts(mu, np.trace(sigma), tr_covmean)

    def frechet_distance_of_frames(self, frames: np.ndarray, counts: np.ndarray | None = None) -> float:
        """FD between the Gaussian of ``frames`` ``[N, D]`` (row i counted ``counts[i]`` times, default once:
        ``np.mean`` / ``np.cov`` of the repeated rows, as fadtk computes them) and the reference.

        With k distinct counted rows and k < D, sigma = Z^T Z (Z ``[k, D]``: the centred rows scaled by
        sqrt(count / (n - 1))), so A sigma A = (Z A)^T (Z A) has the non-zero eigenvalues of the ``[k, k]`` Gram
        matrix (Z A)(Z A)^T: O(k D^2) instead of O(D^3) (a set of one vector per file, fewer files than
        dimensions). Otherwise through the ``[D, D]`` covariance. Both equal to rounding.
        """
        frames = np.asarray(frames)
        counts = np.ones(len(frames), np.int64) if counts is None else np.asarray(counts)
        rows = np.flatnonzero(counts)
        if len(rows) >= self.dim:
            return self.frechet_distance(*_weighted_stats(frames, counts))
        w = counts[rows].astype(np.float64)
        n = w.sum()
        x = np.asarray(frames if len(rows) == len(frames) else frames[rows], np.float64)  # no copy when all count
        mean = (w @ x) / n
        z = np.sqrt(w / (n - 1))[:, None] * (x - mean)  # [k, D]: sigma = z^T z
        return self.fd_from_parts(mean, float((z * z).sum()), gram_trace_sqrt(z @ self.sqrt_sigma))

    def fd_from_parts(self, mu: np.ndarray, trace_sigma: float, tr_covmean: float) -> float:
        """|mu - mu_ref|^2 + tr sigma + tr sigma_ref - 2 tr sqrtm(sigma_ref sigma)."""
        diff = mu - self.mu
        return float(diff @ diff + trace_sigma + np.trace(self.sigma) - 2.0 * tr_covmean)


def gram_trace_sqrt(g: np.ndarray) -> float:
    """tr (g^T g)^(1/2) for ``g`` ``[k, D]``, k < D: the sum of the square roots of the eigenvalues of the
    ``[k, k]`` Gram matrix g g^T (the non-zero eigenvalues of g^T g)."""
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(g @ g.T), 0.0, None)).sum())


def per_item_fd(frames_by_id: dict[str, np.ndarray], mu_ref: np.ndarray, sigma_ref: np.ndarray) -> dict[str, float]:
    """Per-item FD (fadtk ``--indiv``): each item's own frame statistics against the reference statistics.

    Args:
        frames_by_id: ``{id: frames [n_i, D]}``.
        mu_ref, sigma_ref: ``[D]``, ``[D, D]``.
    Returns:
        ``{id: FD}`` in input order. Items with fewer than 2 frames are left out of the result, as fadtk leaves
        them out of its CSV (its ``calc_embd_statistics`` asserts >= 2 frames; ``score_individual`` logs the error
        and drops the file); the caller lists them as left out. Statistics as fadtk: ``np.mean`` and ``np.cov``
        (N - 1) of the item's frames.
    """
    ref = ReferenceGaussian.from_stats(mu_ref, sigma_ref)
    scores: dict[str, float] = {}
    for key, frames in frames_by_id.items():
        f = np.asarray(frames, np.float64)
        if f.ndim != 2 or f.shape[1] != ref.dim:
            raise ValueError(f"{key}: expected frames of shape [n, {ref.dim}], got {f.shape}")
        if len(f) >= 2:
            scores[key] = ref.frechet_distance_of_frames(f)
    return scores


def fad_inf_sizes(n_frames: int, steps: int = 25, min_n: int = 500) -> list[int]:
    """fadtk's FAD-inf schedule: ``int`` of ``np.linspace(min_n, n_frames, steps)``.

    Sizes count frames, not files. Like fadtk, a set smaller than ``min_n`` gives a descending schedule (the draws
    are with replacement, so sizes above ``n_frames`` are still possible).
    """
    return [int(n) for n in np.linspace(min_n, n_frames, steps)]


def inverse_n_fit(ns: list[int], values: list[float]) -> dict[str, float]:
    """Least-squares line of ``values`` against 1/n (``np.polyfit``, degree 1) and its R^2, as fadtk fits FAD-inf.

    Returns ``{"value": intercept (the n -> infinity extrapolation), "slope": ..., "r2": ...}``.
    """
    xs = 1.0 / np.asarray(ns, np.float64)
    ys = np.asarray(values, np.float64)
    if len(np.unique(xs)) < 2:
        raise ValueError(f"a fit against 1/n needs at least 2 distinct sizes, got {sorted(set(ns))}")
    slope, intercept = np.polyfit(xs, ys, 1)
    r2 = 1.0 - np.sum((ys - (slope * xs + intercept)) ** 2) / np.sum((ys - ys.mean()) ** 2)
    return {"value": float(intercept), "slope": float(slope), "r2": float(r2)}


def _weighted_stats(frames: np.ndarray, counts: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` of ``frames`` ``[N, D]`` with row i repeated ``counts[i]``
    times, i.e. ``np.mean``/``np.cov`` of ``frames[idx]`` for ``counts = bincount(idx)``, without the copy.

    Rows with a zero count are skipped; the rest are centred on their weighted mean in float64, ``block`` rows at
    a time. O(#distinct rows x D^2) time, O(block x D + D^2) memory.
    """
    rows = np.flatnonzero(counts)
    w = counts[rows].astype(np.float64)
    n = w.sum()
    mean = np.zeros(frames.shape[1])
    for s in range(0, len(rows), block):
        mean += w[s:s + block] @ np.asarray(frames[rows[s:s + block]], np.float64)
    mean /= n
    second = np.zeros((frames.shape[1], frames.shape[1]))
    root_w = np.sqrt(w)
    for s in range(0, len(rows), block):
        z = (np.asarray(frames[rows[s:s + block]], np.float64) - mean) * root_w[s:s + block, None]  # [b, D]
        second += z.T @ z  # one operand's transpose: BLAS's symmetric rank-k update, half the flops of a product
    return mean, second / (n - 1)


def fad_inf(evaluated: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, *, seed: int = 0, steps: int = 25,
            min_n: int = 500, replace: bool = True, draws: list[np.ndarray] | None = None) -> dict:
    """FAD-inf (fadtk ``score_inf``): FD of random subsets of the evaluated frames at growing sizes n, extrapolated
    to n -> infinity by a least-squares line against 1/n.

    As fadtk: sizes ``fad_inf_sizes(N, steps, min_n)`` (frames, not files), each subset drawn independently from
    all N frames, ``np.cov`` statistics, FD against the fixed reference, ``inverse_n_fit``. fadtk draws
    ``np.random.choice(N, n, replace=True)`` from the unseeded global RNG; here the draws come from
    ``np.random.RandomState(seed)`` in the same calls, so ``seed=s`` reproduces fadtk after ``np.random.seed(s)``
    and a rerun gives the same number.

    ``replace=True`` (fadtk) resamples the fixed set, so the line extrapolates to the FD of those N frames' own
    empirical distribution: the value stays close to plain FD and keeps its finite-N bias.
    ``replace=False`` draws subsets without replacement (the procedure of Chong & Forsyth's FID-inf; needs
    ``N >= max(sizes)``): the line then extrapolates to the population FD, removing the O(1/N) bias.

    Args:
        evaluated: frames ``[N, D]`` of the whole evaluated set, pooled.
        mu_ref, sigma_ref: reference statistics ``[D]``, ``[D, D]``.
        draws: optional injected draws, one index array ``[n_k]`` per size (overrides ``seed`` and ``replace``).
    Returns:
        ``{"value": FAD-inf (intercept), "slope", "r2", "points": [[n, FD], ...], "n_frames": N, "seed",
        "replace"}`` (seed and replace None when the draws were injected).
    Cost: ``steps`` x (O(k D^2) statistics + one D x D ``eigvalsh``, k the distinct frames drawn; with k < D one
    k x k ``eigvalsh`` instead); memory O(N + D^2) beyond the frames.
    """
    frames = np.asarray(evaluated)
    ref = ReferenceGaussian.from_stats(mu_ref, sigma_ref)
    if frames.ndim != 2 or frames.shape[1] != ref.dim or len(frames) < 2:
        raise ValueError(f"FAD-inf: expected evaluated frames of shape [N >= 2, {ref.dim}], got {frames.shape}")
    if not np.isfinite(frames).all():
        raise ValueError("FAD-inf: evaluated frames contain NaN or inf")
    injected = draws is not None
    ns = fad_inf_sizes(len(frames), steps, min_n)
    if draws is None:
        if not replace and max(ns) > len(frames):
            raise ValueError(f"FAD-inf without replacement needs at least {max(ns)} frames, got {len(frames)}")
        rng = np.random.RandomState(seed)
        draws = [rng.choice(len(frames), size=n, replace=replace) for n in ns]
    elif [len(d) for d in draws] != ns:
        raise ValueError(f"FAD-inf: injected draws have sizes {[len(d) for d in draws]}, expected {ns}")
    points = []
    for n, idx in zip(ns, draws):
        points.append([n, ref.frechet_distance_of_frames(frames, np.bincount(idx, minlength=len(frames)))])
    fit = inverse_n_fit(ns, [fd for _, fd in points])
    return {**fit, "points": points, "n_frames": len(frames), "seed": None if injected else seed,
            "replace": None if injected else replace}


# --- KAD (kadtk): unbiased kernel MMD^2 over embedding frames, computed tile by tile ---------------------------

KAD_SCALE = 100.0  # kadtk's SCALE_FACTOR
KAD_EPS = 1e-8  # kadtk's eps in gamma = 1 / (2 bandwidth^2 + eps)

# kadtk's kernels as functions of t = gamma * |a - b|^2 (its 'gaussian', 'iq', 'imq'; kadtk 1.1.0 has no others).
# They work in place on t (a scratch tile): the tiles are the memory traffic that dominates KAD's time.
KAD_KERNELS: dict[str, Callable[["torch.Tensor"], "torch.Tensor"]] = {
    "gaussian": lambda t: t.neg_().exp_(),  # exp(-|a-b|^2 / (2 bw^2))
    "iq": lambda t: t.add_(1.0).reciprocal_(),  # inverse quadratic 1 / (1 + t)
    "imq": lambda t: t.add_(1.0).rsqrt_(),  # inverse multiquadric 1 / sqrt(1 + t)
}


def _sq_dist_tiles(a: "torch.Tensor", b: "torch.Tensor | None", block: int
                   ) -> Iterator[tuple["torch.Tensor", bool]]:
    """Squared Euclidean distances between the rows of ``a`` ``[M, D]`` and ``b`` ``[N, D]``, float64, one
    ``[<=block, <=block]`` tile at a time (|a|^2 + |b|^2 - 2 a.b, clamped at 0).

    With ``b`` None the pairs are within ``a`` and only tiles on or above the diagonal come out; each tile comes
    with ``True`` when it sits on the diagonal (its own diagonal holds the i == i pairs).
    """
    import torch

    symmetric = b is None
    other = a if b is None else b
    for i in range(0, len(a), block):
        ai = a[i:i + block].to(torch.float64)
        ni = (ai * ai).sum(1)
        for j in range(i if symmetric else 0, len(other), block):
            bj = other[j:j + block].to(torch.float64)
            d2 = torch.addmm((bj * bj).sum(1)[None, :], ai, bj.T, alpha=-2.0).add_(ni[:, None])  # [bi, bj]
            yield d2.clamp_min_(0.0), symmetric and i == j


def _pair_distance_bits(x: "torch.Tensor", block: int) -> Iterator["torch.Tensor"]:
    """int32 bit patterns of the float32 distances of all pairs i < j of ``x`` rows, tile by tile (1-D)."""
    import torch

    for d2, on_diagonal in _sq_dist_tiles(x, None, block):
        d = d2.sqrt_().to(torch.float32)  # float64 root, rounded once
        if on_diagonal:
            d = d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)]
        yield d.reshape(-1).view(torch.int32)  # non-negative floats sort as their int32 patterns


def _select_bin(hist: "torch.Tensor", k: int) -> tuple[int, int]:
    """The bin holding the k-th (0-based) smallest value, and k's rank within that bin."""
    cum = hist.cumsum(0)
    b = int((cum <= k).sum())
    return b, k - (int(cum[b - 1]) if b else 0)


def median_pairwise_distance(x: "np.ndarray | torch.Tensor", *, block: int = 2048,
                             device: "str | torch.device" = "cpu") -> float:
    """Lower median of the n(n-1)/2 pairwise Euclidean distances of the rows of ``x`` ``[n, D]``, as kadtk's
    ``median_pairwise_distance`` (``torch.median(torch.pdist(x))`` in float32; ``torch.median`` takes the lower of
    the two middle values) without holding the pairs: distances are computed in float64 tile by tile, rounded to
    float32, and the median is found exactly by a two-pass radix select on their bit patterns (pass 1 counts the
    high 16 bits, pass 2 the low 16 bits inside the bin holding the median).

    Time: 2 passes of n^2/2 length-D dot products; memory O(block^2 + (n + 2^16)) beyond ``x``.
    """
    import torch

    x = _as_frames(x, "median_pairwise_distance", device)
    n_pairs = len(x) * (len(x) - 1) // 2
    k = (n_pairs - 1) // 2
    hist_hi = torch.zeros(1 << 15, dtype=torch.int64, device=x.device)  # sign bit is 0: high half < 2^15
    for bits in _pair_distance_bits(x, block):
        hist_hi += torch.bincount(bits >> 16, minlength=1 << 15)
    hi, k_in_bin = _select_bin(hist_hi, k)
    hist_lo = torch.zeros(1 << 16, dtype=torch.int64, device=x.device)
    for bits in _pair_distance_bits(x, block):
        hist_lo += torch.bincount(bits[(bits >> 16) == hi] & 0xFFFF, minlength=1 << 16)
    lo, _ = _select_bin(hist_lo, k_in_bin)
    return float(torch.tensor([(hi << 16) | lo], dtype=torch.int32).view(torch.float32))


def _kernel_mean(a: "torch.Tensor", b: "torch.Tensor | None", gamma: float,
                 kernel: Callable[["torch.Tensor"], "torch.Tensor"], block: int) -> float:
    """Mean of kernel(gamma |a_i - b_j|^2) over all pairs (i, j); with ``b`` None over the pairs i != j of ``a``
    (the unbiased within-set mean: the diagonal is left out). float64 tiles and accumulation."""
    total = 0.0
    for d2, on_diagonal in _sq_dist_tiles(a, b, block):
        k = kernel(d2.mul_(gamma))
        if b is not None:
            total += float(k.sum())
        elif on_diagonal:
            total += float(k.sum() - k.diagonal().sum())
        else:
            total += 2.0 * float(k.sum())  # the mirrored tile below the diagonal
    pairs = len(a) * (len(a) - 1) if b is None else len(a) * len(b)
    return total / pairs


def _as_frames(x: "np.ndarray | torch.Tensor", what: str, device: "str | torch.device") -> "torch.Tensor":
    import torch

    t = torch.as_tensor(x, device=device)
    if t.ndim != 2 or len(t) < 2:
        raise ValueError(f"{what}: expected frames of shape [N >= 2, D], got {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what}: frames contain NaN or inf")
    return t


def kernel_audio_distance(reference: "np.ndarray | torch.Tensor", evaluated: "np.ndarray | torch.Tensor",
                          bandwidth: float | None = None, kernel: str = "gaussian", *, block: int = 2048,
                          device: "str | torch.device" = "cpu") -> float:
    """KAD as kadtk 1.1.0's ``calc_kernel_audio_distance(x=reference, y=evaluated)`` computes it.

    KAD = 100 x (mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)), the unbiased
    MMD^2, with k = ``KAD_KERNELS[kernel]`` of gamma |a - b|^2, gamma = 1 / (2 bandwidth^2 + 1e-8). Without a
    ``bandwidth`` it is the median pairwise distance of the **evaluated** set (kadtk:
    ``bandwidth = median_pairwise_distance(y)``), so the bandwidth changes with the system being scored.

    kadtk builds the three full kernel matrices at once (and ``torch.pdist`` for the median), in float32 by
    default; here every sum runs over ``block x block`` float64 tiles, so 10k-100k frames fit in memory.

    Args:
        reference: background frames ``[m, D]`` (kadtk's x).
        evaluated: evaluated frames ``[n, D]`` (kadtk's y).
    Time: (m^2/2 + m n + n^2/2) length-D dot products and kernel evaluations, plus n^2 dot products for the
    median when ``bandwidth`` is None. Memory: O(block^2) beyond the inputs.
    """
    if kernel not in KAD_KERNELS:
        raise ValueError(f"unknown KAD kernel {kernel!r}; choose from {sorted(KAD_KERNELS)}")
    x = _as_frames(reference, "KAD reference", device)
    y = _as_frames(evaluated, "KAD evaluated", device)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"KAD: reference frames have {x.shape[1]} features, evaluated {y.shape[1]}")
    if bandwidth is None:
        bandwidth = median_pairwise_distance(y, block=block, device=device)
    gamma = 1.0 / (2.0 * bandwidth ** 2 + KAD_EPS)
    fn = KAD_KERNELS[kernel]
    mmd2 = (_kernel_mean(x, None, gamma, fn, block) + _kernel_mean(y, None, gamma, fn, block)
            - 2.0 * _kernel_mean(x, y, gamma, fn, block))
    return KAD_SCALE * mmd2


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def kl_audioldm(gen_logits: np.ndarray, ref_logits: np.ndarray, kind: str = "softmax",
                eps: float = 1e-6) -> np.ndarray:
    """audioldm_eval's KL per item: KL(reference || generated), eps on the *generated* side.

    With ``act`` = softmax over classes (``kind="softmax"``) or elementwise sigmoid (``kind="sigmoid"``),
    q = act(ref), p = act(gen):  sum_c q[c] * (log q[c] - log(p[c] + eps)), with 0 * log 0 = 0
    (``torch.nn.functional.kl_div(log(p + eps), q)``). The sigmoid variant sums over the 527 per-class
    probabilities as they are (no 1 - p terms), as audioldm_eval does. This is the opposite direction to
    :func:`kl_divergence` (stable-audio-metrics). audioldm_eval's reported figure is the mean of these over the
    files paired by name (``reduction="sum"`` / N).

    Args:
        gen_logits, ref_logits: ``[N, K]`` logits of paired files (same order).
    Returns:
        ``[N]`` float64 divergences.
    """
    g, r = np.asarray(gen_logits, np.float64), np.asarray(ref_logits, np.float64)
    if g.shape != r.shape or g.ndim != 2:
        raise ValueError(f"expected paired [N, K] logits, got {g.shape} and {r.shape}")
    if kind == "softmax":
        p, q = _softmax(g), _softmax(r)
    elif kind == "sigmoid":
        from scipy.special import expit

        p, q = expit(g), expit(r)
    else:
        raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")
    qlogq = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
    return (qlogq - q * np.log(p + eps)).sum(-1)


@dataclass(frozen=True)
class InceptionScore:
    mean: float
    std: float  # population std (ddof 0) over the splits
    splits: tuple[float, ...]  # the per-split scores


def inception_score(logits: np.ndarray, splits: int = 10, seed: int | None = 2020) -> InceptionScore:
    """Inception score of generated ``[N, K]`` logits as audioldm_eval's ``calculate_isc`` computes it.

    Rows shuffled with ``np.random.RandomState(seed).permutation(N)`` (``seed=None``: not shuffled), cut into
    ``splits`` chunks ``[i*N//splits, (i+1)*N//splits)``; per chunk exp(mean_i KL(p_i || mean_j p_j)) with
    p = softmax(logits) in float64; mean and population std over the chunks. audioldm_eval's "ISc" is this
    figure. Raises ValueError when a chunk would be empty (N < splits), where the reference gives NaN.
    """
    x = np.asarray(logits, np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected [N, K] logits, got shape {x.shape}")
    n = x.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"inception score with {splits} splits needs at least {splits} files, got {n}")
    if seed is not None:
        x = x[np.random.RandomState(seed).permutation(n)]
    p, log_p = _softmax(x), _log_softmax(x)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(0, keepdims=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - np.log(q))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return InceptionScore(float(np.mean(scores)), float(np.std(scores)), tuple(scores))
