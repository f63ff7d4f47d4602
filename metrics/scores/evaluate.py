"""The four metrics, from model outputs to result dicts with per-item scores and bootstrap 95% CIs.

Each function takes what the pipeline produced (per-file arrays keyed by path or id) and reference data, and
returns a JSON-able dict. Set handling follows stable-audio-metrics (``src/*.py``, ``examples/*_no-audio.py``):
* FD_openl3 pools every frame of every generated file (the protocol globs the whole folder); the CI resamples
  generated *files* (the reference statistics are fixed), percentile bootstrap.
* KL_passt: mean over the ids that are not excluded and have both a generated file and a reference; every id
  left out is listed with why.
* CLAP: mean cosine over ids with a generated file and a caption.
* Timing: detected end vs requested ``seconds_total`` per id.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from metrics.scores.distances import (GaussianStats, ReferenceGaussian, cosine_similarity, frechet_distance,
                                      gram_trace_sqrt, kl_divergence)
from metrics.scores.stats import bootstrap_ci, set_bootstrap
from metrics.scores.timing import timing_summary


def gaussian_stats(frames: list[np.ndarray]) -> GaussianStats:
    """Pooled statistics of per-file frame blocks ``[n_i, D]``."""
    stats = GaussianStats(frames[0].shape[1])
    for f in frames:
        stats.update(f)
    return stats


class WeightedFD:
    """FD against fixed reference statistics of weighted versions of one set of files: a weight vector
    ``[n_files]`` counts file ``i`` ``w[i]`` times (a bootstrap resample, a subset, one side of a permutation).
    Everything that does not depend on the weights is computed once.

    The FD is |mu - mu_r|^2 + tr S + tr S_r - 2 tr sqrtm(S S_r), with tr sqrtm(S S_r) = sum sqrt(eig(A S A)) and
    A = S_r^(1/2) (:class:`ReferenceGaussian`). The weighted covariance S is (n - 1)^-1 Z^T Z with the rows of Z
    the centred frames scaled by sqrt(weight); so when a set has fewer frames than dimensions the eigenvalues are
    taken in frame space, from the Gram matrix (Z A)(Z A)^T / (n - 1) ``[N, N]``, which has the same non-zero
    eigenvalues as A S A ``[D, D]`` and costs N^2 D instead of D^3 (N: the frames of the files with a weight; the
    centred, whitened frames ``Y = E_c A`` are formed once, for sets of up to 4 D frames). Otherwise S is formed
    in D space (float32 products of centred frames, float64 eigenvalues). Both forms agree to rounding
    (tests/metrics/test_set_intervals.py).
    """

    def __init__(self, frames: list[np.ndarray], ref: ReferenceGaussian):
        self.n_files = len(frames)
        self.file_of_frame = np.repeat(np.arange(len(frames)), [len(f) for f in frames])  # [N]
        E = np.concatenate(frames).astype(np.float64)  # [N, D]
        self.centre = E.mean(0)
        self.Ec = E - self.centre
        self.ref = ref
        self.dim = E.shape[1]
        self.Y = self.Ec @ self.ref.sqrt_sigma if len(E) <= 4 * self.dim else None  # [N, D]

    def __call__(self, weights: np.ndarray) -> float:
        """FD of the set with file ``i`` counted ``weights[i]`` times ``[n_files]``."""
        w = np.asarray(weights, np.float64)[self.file_of_frame]  # [N]
        keep = w > 0
        w, Ec = w[keep], self.Ec[keep]
        n = w.sum()
        mean_c = (w @ Ec) / n
        if self.Y is None or len(w) >= self.dim:
            x = torch.from_numpy(Ec.astype(np.float32))
            second = ((x * torch.from_numpy(w.astype(np.float32))[:, None]).T @ x).double().numpy()  # [D, D]
            cov = (second - n * np.outer(mean_c, mean_c)) / (n - 1)
            return self.ref.frechet_distance(mean_c + self.centre, cov)
        root_w = np.sqrt(w)[:, None]
        Z = root_w * (self.Y[keep] - mean_c @ self.ref.sqrt_sigma)  # [N_kept, D]
        tr_cov = float((w * ((Ec - mean_c) ** 2).sum(1)).sum() / (n - 1))
        return self.ref.fd_from_parts(mean_c + self.centre, tr_cov, gram_trace_sqrt(Z / np.sqrt(n - 1)))

    def many(self, weights: np.ndarray) -> np.ndarray:
        """``[R]`` FDs, one per row of ``weights`` ``[R, n_files]``."""
        return np.array([self(row) for row in np.asarray(weights)])

    def resampled(self, idx: np.ndarray) -> float:
        """FD of the resample that draws files ``idx`` ``[n_files]`` (repeats allowed)."""
        return self(np.bincount(idx, minlength=self.n_files))


def fd_result(gen_frames: dict[str, np.ndarray], mu_ref: np.ndarray, sigma_ref: np.ndarray, *,
              n_boot: int = 50, seed: int = 0) -> dict[str, Any]:
    if not gen_frames:
        raise ValueError("FD: no generated file could be embedded")
    frames = [gen_frames[k] for k in sorted(gen_frames)]
    stats = gaussian_stats(frames)
    value = frechet_distance(stats.mean, stats.cov, mu_ref, sigma_ref)
    resampled = (WeightedFD(frames, ReferenceGaussian.from_stats(mu_ref, sigma_ref)).resampled
                 if n_boot > 0 and len(frames) > 1 else None)
    ci = set_bootstrap(len(frames), resampled, value, n_boot=n_boot, seed=seed)
    return {"value": value, **ci, "n_files": len(frames), "n_frames": stats.n}


def kl_result(gen_probs: dict[str, np.ndarray], ref_probs: dict[str, np.ndarray], ids: list[str], *,
              exclude: set[str] = frozenset(), ref_problems: dict[str, str] | None = None, n_boot: int = 1000,
              seed: int = 0, divergence: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict[str, Any]:
    """``ref_problems``: why an id has no reference probabilities, where known (else a generic reason).
    ``divergence(gen, ref)``: the per-item KL (default stable-audio-metrics' KL(gen || ref + eps))."""
    divergence = divergence or kl_divergence
    paired, left_out = pair_ids(gen_probs, ref_probs, ids, exclude, ref_problems)
    per_item = {i: float(divergence(gen_probs[i], ref_probs[i])) for i in paired}
    result = _mean_result(per_item, left_out, n_boot, seed)
    negative = sum(v < 0 for v in per_item.values())
    if negative:
        result["note"] = (f"{negative} per-item KL value(s) below 0: the reference code smooths one side with +eps "
                          f"only, so KL of near-equal distributions can dip just under 0; kept as it computes them")
    return result


def pair_ids(gen: dict[str, Any], ref: dict[str, Any], ids: list[str], exclude: set[str] = frozenset(),
             ref_problems: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The ids with a generated and a reference output (and not excluded), and why each other id is left out."""
    ref_problems = ref_problems or {}
    paired: list[str] = []
    left_out: dict[str, str] = {}
    for i in ids:
        if i in exclude:
            left_out[i] = "excluded (unavailable id)"
        elif i not in gen:
            left_out[i] = "no generated output"
        elif i not in ref:
            left_out[i] = ref_problems.get(i, "no reference probabilities")
        else:
            paired.append(i)
    return paired, left_out


def segment_kl_result(gen: dict[str, np.ndarray], ref: dict[str, np.ndarray], ids: list[str], *,
                      forward: bool, eps: float, exclude: set[str] = frozenset(),
                      ref_problems: dict[str, str] | None = None, n_boot: int = 1000, seed: int = 0
                      ) -> dict[str, Any]:
    """audiocraft's KL (``audiocraft/metrics/kld.py``) from per-segment probabilities ``[n_segments, K]`` per id:
    segment k of the generated file against segment k of the reference (up to the shorter count), each pair one
    sample. ``forward``: KL(gen || ref + eps) (audiocraft's ``kld_qp``), else KL(ref || gen + eps) (``kld_pq``).
    The value is the mean over every pair of every id, per item the mean over its pairs; the CI resamples ids."""
    paired, left_out = pair_ids(gen, ref, ids, exclude, ref_problems)
    if not paired:
        return {"value": None, "n": 0, "per_item": {}, "left_out": left_out}
    counts = np.array([min(len(gen[i]), len(ref[i])) for i in paired])
    sums = np.array([(kl_divergence(gen[i][:n], ref[i][:n], eps) if forward else
                      kl_divergence(ref[i][:n], gen[i][:n], eps)).sum() for i, n in zip(paired, counts)])
    value = float(sums.sum() / counts.sum())
    ci = set_bootstrap(len(paired), lambda idx: float(sums[idx].sum() / counts[idx].sum()), value, n_boot=n_boot,
                       seed=seed)
    unequal = sum(len(gen[i]) != len(ref[i]) for i in paired)
    note = {"note": f"{unequal} id(s) with a different number of segments generated and reference: paired up to the "
                    "shorter"} if unequal else {}
    return {"value": value, **ci, "n": len(paired), "n_segments": int(counts.sum()),
            "per_item": {i: float(v / n) for i, v, n in zip(paired, sums, counts)}, "left_out": left_out, **note}


def clap_result(audio_emb: dict[str, np.ndarray], text_emb: dict[str, np.ndarray], ids: list[str], *,
                n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    per_item: dict[str, float] = {}
    left_out: dict[str, str] = {}
    for i in ids:
        if i not in audio_emb:
            left_out[i] = "no generated output"
        else:
            clips = np.atleast_2d(audio_emb[i])  # [k, D]: one row per clip (MS-CLAP), one for LAION CLAP
            per_item[i] = float(cosine_similarity(clips, np.broadcast_to(text_emb[i], clips.shape)).mean())
    return _mean_result(per_item, left_out, n_boot, seed)


def timing_result(detected: dict[str, float], requested: dict[str, float], ids: list[str], *,
                  n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    rows = {i: {"requested_s": requested[i], "detected_s": detected[i], "error_s": detected[i] - requested[i]}
            for i in ids if i in detected and i in requested}
    left_out = {i: ("no generated output" if i not in detected else "no requested length")
                for i in ids if i not in rows}
    if not rows:
        return {"value": None, "n": 0, "per_item": {}, "left_out": left_out}
    errors = np.array([r["error_s"] for r in rows.values()])
    summary = timing_summary(errors)
    abs_err = np.abs(errors)
    return {"value": summary["mae_s"], **summary, "n": len(rows),
            "ci95": list(bootstrap_ci(abs_err, n_boot=n_boot, seed=seed)),
            "within_1s_ci95": list(bootstrap_ci((abs_err <= 1.0).astype(float), n_boot=n_boot, seed=seed)),
            "per_item": rows, "left_out": left_out}


def _mean_result(per_item: dict[str, float], left_out: dict[str, str], n_boot: int, seed: int) -> dict[str, Any]:
    values = np.array(list(per_item.values()))
    return {"value": float(values.mean()) if len(values) else None, "n": len(values),
            "ci95": list(bootstrap_ci(values, n_boot=n_boot, seed=seed)), "per_item": per_item,
            "left_out": left_out}
