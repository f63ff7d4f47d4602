"""ITU-R BS.1770 integrated loudness and loudness normalisation as descript-audiotools 0.7.2 computes them
(``AudioSignal.loudness`` -> ``Meter.integrated_loudness``, ``AudioSignal.normalize(db)``), as pure NumPy functions.

audiotools' meter is pyloudnorm's algorithm tensorised, with its own block framing:
* K-weighting: pyloudnorm's two RBJ-cookbook biquads (high shelf +4 dB, Q 1/sqrt(2), 1500 Hz; high pass Q 0.5,
  38 Hz) designed for the signal's rate, applied in sequence (the CPU path: IIR ``lfilter``; on CUDA audiotools
  switches to a 512-tap FIR approximation, which fadtk never reaches: its signal is on the CPU when it normalises).
* gating blocks of 400 ms every 100 ms, framed with ``julius.core.unfold``: the end is zero-padded so the last
  samples get a (partial) block of their own, unlike pyloudnorm's.
* per block the mean square of each channel, the channel gains (1, 1, 1, 1.41, 1.41), the absolute gate -70 LUFS,
  the relative gate 10 LU below the absolutely gated mean, then the mean square of the blocks above both gates.
* ``loudness``: signals shorter than 0.5 s are measured zero-padded to 0.5 s; the result is at least -70 LUFS.
* ``normalize(db)``: one gain ``10 ** ((db - loudness) / 20)``.
audiotools runs the filters and the block sums in float32 (the gates in float64); here everything is float64.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

BLOCK_S = 0.4  # gating block, seconds
OVERLAP = 0.75  # of the block
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolutely gated loudness
MIN_LOUDNESS = -70.0  # AudioSignal.MIN_LOUDNESS
MIN_SECONDS = 0.5  # shorter signals are measured zero-padded to this
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs


def biquad(kind: str, gain_db: float, q: float, fc: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """pyloudnorm's ``IIRfilter(G, Q, fc, rate, kind)`` coefficients (``high_shelf`` or ``high_pass``), ``(b, a)``
    each ``[3]``, normalised by ``a[0]``."""
    amp = 10 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * (fc / rate)
    alpha, cos = np.sin(w0) / (2.0 * q), np.cos(w0)
    if kind == "high_shelf":
        root = 2 * np.sqrt(amp) * alpha
        b = amp * np.array([(amp + 1) + (amp - 1) * cos + root, -2 * ((amp - 1) + (amp + 1) * cos),
                            (amp + 1) + (amp - 1) * cos - root])
        a = np.array([(amp + 1) - (amp - 1) * cos + root, 2 * ((amp - 1) - (amp + 1) * cos),
                      (amp + 1) - (amp - 1) * cos - root])
    elif kind == "high_pass":
        b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
        a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    else:
        raise ValueError(f"unknown biquad {kind!r}")
    return b / a[0], a / a[0]


def k_weighting(x: np.ndarray, rate: int) -> np.ndarray:
    """``[C, T]`` -> ``[C, T]`` float64: the high shelf, then the high pass."""
    y = np.asarray(x, np.float64)
    for stage in (biquad("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0, rate), biquad("high_pass", 0.0, 0.5, 38.0, rate)):
        y = lfilter(*stage, y, axis=-1)
    return y


def block_mean_squares(y: np.ndarray, rate: int) -> np.ndarray:
    """``[C, T]`` -> ``[C, blocks]``: sum of squares over each 400 ms block every 100 ms, divided by the block's
    nominal length; the end zero-padded so that every sample is in a block (``julius.core.unfold``)."""
    size, step = int(BLOCK_S * rate), int(BLOCK_S * rate * (1.0 - OVERLAP))
    n = math.ceil((max(y.shape[-1], size) - size) / step) + 1
    padded = np.pad(y, ((0, 0), (0, (n - 1) * step + size - y.shape[-1])))
    blocks = np.lib.stride_tricks.sliding_window_view(padded, size, axis=-1)[:, ::step]
    return np.einsum("cbk,cbk->cb", blocks, blocks) * (1.0 / (BLOCK_S * rate))


def _lufs(mean_square: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``-0.691 + 10 log10(sum over channels of gain * mean square)`` (axis 0); silence gives -inf."""
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.tensordot(gains, mean_square, axes=(0, 0)))


def integrated_loudness(x: np.ndarray, rate: int) -> float:
    """``[C, T]`` (C <= 5) -> integrated gated loudness in LUFS (``Meter.integrated_loudness``); -inf when no block
    passes the absolute gate."""
    z = block_mean_squares(k_weighting(x, rate), rate)
    gains = np.asarray(CHANNEL_GAINS[:z.shape[0]])
    block = _lufs(z, gains)
    above = block > ABSOLUTE_GATE
    if not above.any():
        return -math.inf
    relative = _lufs(z[:, above].mean(axis=1), gains) + RELATIVE_GATE
    gated = above & (block > relative)
    return float(_lufs(z[:, gated].mean(axis=1), gains))


def loudness(x: np.ndarray, rate: int) -> float:
    """``AudioSignal.loudness()`` of ``[C, T]``: measured zero-padded to 0.5 s when shorter, at least -70 LUFS."""
    if x.shape[-1] / rate < MIN_SECONDS:
        x = np.pad(x, ((0, 0), (0, int((MIN_SECONDS - x.shape[-1] / rate) * rate))))
    return max(integrated_loudness(x, rate), MIN_LOUDNESS)


def normalize_loudness(x: np.ndarray, rate: int, target: float) -> np.ndarray:
    """``AudioSignal.normalize(target)`` of ``[C, T]``: one gain that brings :func:`loudness` to ``target`` LUFS;
    float64 ``[C, T]``."""
    return np.asarray(x, np.float64) * 10.0 ** ((target - loudness(x, rate)) / 20.0)
