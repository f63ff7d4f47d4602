"""Weight-free prompt-adherence metrics for audio whose requested content is known (SynthCaps).

* Pitch: f0 of the sounding part by YIN (de Cheveigne & Kawahara 2002: cumulative-mean-normalised difference,
  absolute threshold 0.15, parabolic refinement) over 60-1200 Hz, on the mono mix of the first 0.5 s after onset;
  error in cents against the caption's note; correct when within +-50 cents (the nearest semitone).
* Stereo position: energy balance b = (E_R - E_L) / (E_R + E_L) in [-1, 1]; left below -1/3, right above 1/3,
  centre between.
* Timing: :mod:`metrics.scores.timing`.
"""
from __future__ import annotations

import numpy as np

YIN_THRESHOLD = 0.15
FMIN, FMAX = 60.0, 1200.0


def yin_f0(x: np.ndarray, sr: int, fmin: float = FMIN, fmax: float = FMAX) -> float:
    """f0 in Hz of a mono frame ``[T]`` (T >= 2 * sr / fmin), or nan if no period is found."""
    tau_min, tau_max = int(sr / fmax), int(sr / fmin)
    w = len(x) - tau_max
    if w <= tau_min:
        return float("nan")
    x = x.astype(np.float64)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    # d(tau) = sum_j (x_j - x_{j+tau})^2 over a window of w samples, via energies and a correlation
    corr = np.correlate(x[:w + tau_max], x[:w], mode="valid")[:tau_max + 1]
    taus = np.arange(tau_max + 1)
    d = energy[w] + (energy[taus + w] - energy[taus]) - 2 * corr
    cmnd = np.ones_like(d)
    cmnd[1:] = d[1:] * taus[1:] / np.maximum(np.cumsum(d[1:]), 1e-12)
    below = np.nonzero(cmnd[tau_min:] < YIN_THRESHOLD)[0]
    if len(below) == 0:
        return float("nan")
    tau = tau_min + below[0]
    while tau + 1 <= tau_max and cmnd[tau + 1] < cmnd[tau]:  # walk down to the local minimum
        tau += 1
    if 0 < tau < tau_max:  # parabolic interpolation
        a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
        denom = a - 2 * b + c
        tau = tau + (0.5 * (a - c) / denom if abs(denom) > 1e-12 else 0.0)
    return float(sr / tau)


def onset(samples: np.ndarray, sr: int, rel_db: float = -30.0) -> int:
    """First sample whose 10 ms RMS is within ``rel_db`` of the loudest 10 ms block (0 if none)."""
    mono = samples.mean(0)
    hop = max(1, sr // 100)
    n = len(mono) // hop
    if n == 0:
        return 0
    rms = np.sqrt((mono[:n * hop].reshape(n, hop) ** 2).mean(1))
    loud = np.nonzero(20 * np.log10(np.maximum(rms, 1e-12) / max(rms.max(), 1e-12)) > rel_db)[0]
    return int(loud[0] * hop) if len(loud) else 0


def pitch_of(samples: np.ndarray, sr: int, analysis_s: float = 0.5) -> float:
    """f0 (Hz) of ``[C, T]`` audio from the first ``analysis_s`` after its onset (+20 ms to skip the attack)."""
    start = onset(samples, sr) + int(0.02 * sr)
    frame = samples.mean(0)[start:start + int(analysis_s * sr)]
    return yin_f0(frame, sr) if len(frame) > 2 * sr / FMIN else float("nan")


def cents(f0: float, target_hz: float) -> float:
    return float(1200.0 * np.log2(f0 / target_hz)) if f0 > 0 and np.isfinite(f0) else float("nan")


def stereo_balance(samples: np.ndarray) -> float:
    """(E_R - E_L) / (E_R + E_L) for ``[2, T]``; 0 for mono."""
    if samples.shape[0] < 2:
        return 0.0
    e_l, e_r = float((samples[0] ** 2).sum()), float((samples[1] ** 2).sum())
    return (e_r - e_l) / max(e_r + e_l, 1e-12)


def position_of(balance: float) -> str:
    return "left" if balance < -1 / 3 else "right" if balance > 1 / 3 else "centre"
