"""The four metrics, from model outputs to result dicts with per-item scores and bootstrap 95% CIs.

Each function takes what the pipeline produced (per-file arrays keyed by path or id) and reference data, and
returns a JSON-able dict. Set handling follows stable-audio-metrics (metrics-protocol.md):
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

from metrics.distances import GaussianStats, cosine_similarity, frechet_distance, kl_divergence
from metrics.stats import bootstrap_ci, bootstrap_indices, percentile_interval
from metrics.timing import timing_summary


def gaussian_stats(frames: list[np.ndarray]) -> GaussianStats:
    """Pooled statistics of per-file frame blocks ``[n_i, D]``."""
    stats = GaussianStats(frames[0].shape[1])
    for f in frames:
        stats.update(f)
    return stats


def fd_bootstrap(frames: list[np.ndarray], mu_ref: np.ndarray, sigma_ref: np.ndarray, n_boot: int,
                 seed: int = 0) -> list[float]:
    """FD of ``n_boot`` file-level resamples of the generated set against fixed reference statistics."""
    if n_boot <= 0 or len(frames) < 2:
        return []
    idx = bootstrap_indices(len(frames), n_boot, seed)  # [n_boot, n_files]
    counts = np.stack([np.bincount(i, minlength=len(frames)) for i in idx])
    return fd_of_weights(frames, mu_ref, sigma_ref, counts)


def fd_of_weights(frames: list[np.ndarray], mu_ref: np.ndarray, sigma_ref: np.ndarray,
                  weights: np.ndarray) -> list[float]:
    """FD of each weighting of the files against fixed reference statistics: row ``r`` of ``weights``
    ``[R, n_files]`` counts file ``i`` ``weights[r, i]`` times (a bootstrap resample, a subset, a permutation).

    tr sqrtm(S_g S_r) = sum_i sqrt(lambda_i(A S_g A)) with A = S_r^(1/2) (symmetric PSD), computed once.
    Frames are centred on their pooled mean before the weighted second moments are formed (float32 matmul).
    """
    counts_per_file = torch.tensor([len(f) for f in frames])
    file_of_frame = torch.repeat_interleave(torch.arange(len(frames)), counts_per_file)
    E = torch.from_numpy(np.concatenate(frames).astype(np.float32))  # [N, D]
    centre = E.double().mean(0)
    Ec = (E.double() - centre).float()
    sr = torch.from_numpy(np.asarray(sigma_ref, np.float64))
    evals, evecs = torch.linalg.eigh(sr)
    A = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T  # S_r^(1/2)
    mu_r = torch.from_numpy(np.asarray(mu_ref, np.float64))
    out = []
    for row in np.asarray(weights, np.float64):
        w = torch.from_numpy(row)[file_of_frame]  # [N]
        n = w.sum()
        mean_c = (w @ Ec.double()) / n
        second = (Ec * w.float()[:, None]).T @ Ec  # [D, D]
        cov = (second.double() - n * torch.outer(mean_c, mean_c)) / (n - 1)
        tr_covmean = torch.linalg.eigvalsh(A @ cov @ A).clamp_min(0).sqrt().sum()
        diff = mean_c + centre - mu_r
        out.append(float(diff @ diff + cov.trace() + sr.trace() - 2 * tr_covmean))
    return out


def fd_result(gen_frames: dict[str, np.ndarray], mu_ref: np.ndarray, sigma_ref: np.ndarray, *,
              n_boot: int = 50, seed: int = 0) -> dict[str, Any]:
    if not gen_frames:
        raise ValueError("FD: no generated file could be embedded")
    frames = [gen_frames[k] for k in sorted(gen_frames)]
    stats = gaussian_stats(frames)
    value = frechet_distance(stats.mean, stats.cov, mu_ref, sigma_ref)
    reps = fd_bootstrap(frames, mu_ref, sigma_ref, n_boot, seed)
    return {"value": value, "ci95": list(percentile_interval(np.array(reps))), "ci_replicates": len(reps),
            "n_files": len(frames), "n_frames": stats.n}


def kl_result(gen_probs: dict[str, np.ndarray], ref_probs: dict[str, np.ndarray], ids: list[str], *,
              exclude: set[str] = frozenset(), ref_problems: dict[str, str] | None = None, n_boot: int = 1000,
              seed: int = 0, divergence: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict[str, Any]:
    """``ref_problems``: why an id has no reference probabilities, where known (else a generic reason).
    ``divergence(gen, ref)``: the per-item KL (default stable-audio-metrics' KL(gen || ref + eps))."""
    divergence = divergence or kl_divergence
    ref_problems = ref_problems or {}
    per_item: dict[str, float] = {}
    left_out: dict[str, str] = {}
    for i in ids:
        if i in exclude:
            left_out[i] = "excluded (unavailable id)"
        elif i not in gen_probs:
            left_out[i] = "no generated output"
        elif i not in ref_probs:
            left_out[i] = ref_problems.get(i, "no reference probabilities")
        else:
            per_item[i] = float(divergence(gen_probs[i], ref_probs[i]))
    return _mean_result(per_item, left_out, n_boot, seed)


def clap_result(audio_emb: dict[str, np.ndarray], text_emb: dict[str, np.ndarray], ids: list[str], *,
                n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    per_item: dict[str, float] = {}
    left_out: dict[str, str] = {}
    for i in ids:
        if i not in audio_emb:
            left_out[i] = "no generated output"
        else:
            per_item[i] = float(cosine_similarity(audio_emb[i][None], text_emb[i][None])[0])
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
