"""resampy 0.2.2's ``resample(x, sr_in, sr_out, filter="kaiser_best")``, ported so that no resampy is installed.

The protocols fix resampy 0.2.2's kaiser_best (openl3 0.4.2 and torchvggish run it): resampy >= 0.4 ships a
different table and moves OpenL3 embeddings by ~8 % (measured against openl3 0.4.2), and resampy 0.2.2 itself imports
``pkg_resources``, which forces ``setuptools<81`` on every environment. Here the table is resampy 0.2.2's own
``data/kaiser_best.npz`` (shipped unchanged as ``metrics/files/data/resampy-0.2.2-kaiser_best.npz``, ISC licence beside
it) and the kernel is resampy 0.2.2's numba loop, line for line, so the output is bit-equal whatever numpy, scipy
or resampy is installed (``tests/metrics/test_kaiser_best.py`` compares both kernels against resampy 0.2.2).

Where numba is absent (the CUDA image: llvmlite's wheel alone exceeds what may travel there) the same loop runs
vectorised over output samples in numpy (:func:`_resample_numpy`): each output sample still sums the same float64
products in the same order, so it is bit-equal too, at a few times the cost.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from typing import Callable

import numpy as np

TABLE = Path(__file__).parent / "data" / "resampy-0.2.2-kaiser_best.npz"


@lru_cache(maxsize=1)
def kaiser_best_table() -> tuple[np.ndarray, int]:
    """``(half_window float64 [32769], samples per zero crossing 512)``, read-only."""
    with np.load(TABLE) as data:
        window = data["half_window"]
        window.setflags(write=False)
        return window, int(data["precision"])


def _resample_f(x, y, sample_ratio, interp_win, interp_delta, num_table):  # resampy 0.2.2 interpn.resample_f
    scale = min(1.0, sample_ratio)
    time_increment = 1.0 / sample_ratio
    index_step = int(scale * num_table)
    time_register = 0.0
    nwin = interp_win.shape[0]
    n_orig = x.shape[0]
    n_out = y.shape[0]
    n_channels = y.shape[1]
    for t in range(n_out):
        n = int(time_register)
        frac = scale * (time_register - n)
        index_frac = frac * num_table
        offset = int(index_frac)
        eta = index_frac - offset
        i_max = min(n + 1, (nwin - offset) // index_step)
        for i in range(i_max):
            weight = (interp_win[offset + i * index_step] + eta * interp_delta[offset + i * index_step])
            for j in range(n_channels):
                y[t, j] += weight * x[n - i, j]
        frac = scale - frac
        index_frac = frac * num_table
        offset = int(index_frac)
        eta = index_frac - offset
        k_max = min(n_orig - n - 1, (nwin - offset) // index_step)
        for k in range(k_max):
            weight = (interp_win[offset + k * index_step] + eta * interp_delta[offset + k * index_step])
            for j in range(n_channels):
                y[t, j] += weight * x[n + k + 1, j]
        time_register += time_increment


def _resample_numpy(x, y, sample_ratio, interp_win, interp_delta, num_table):  # noqa: ANN001 (as _resample_f)
    """:func:`_resample_f` with the loop over output samples vectorised: per output sample the same operations in
    the same order (time register by sequential float64 accumulation, weights, then left- and right-wing products
    added one tap at a time)."""
    scale = min(1.0, sample_ratio)
    index_step = int(scale * num_table)
    nwin, n_orig, n_out = interp_win.shape[0], x.shape[0], y.shape[0]
    steps = np.full(n_out, 1.0 / sample_ratio)
    steps[0] = 0.0
    time_register = np.cumsum(steps)  # add.accumulate: sequential, as the loop's time_register += time_increment
    n = time_register.astype(np.int64)
    frac = scale * (time_register - n)
    for wing, direction in ((0, -1), (1, 1)):
        if wing:
            frac = scale - frac
        index_frac = frac * num_table
        offset = index_frac.astype(np.int64)
        eta = index_frac - offset
        limit = (nwin - offset) // index_step
        taps = np.minimum(n + 1, limit) if not wing else np.minimum(n_orig - n - 1, limit)
        for i in range(int(taps.max(initial=0))):
            rows = np.nonzero(taps > i)[0]
            idx = offset[rows] + i * index_step
            weight = interp_win[idx] + eta[rows] * interp_delta[idx]
            src = n[rows] - i if not wing else n[rows] + i + 1
            y[rows] += weight[:, None] * x[src]


@lru_cache(maxsize=None)
def kernel(name: str = "auto") -> Callable[..., None]:
    """``numba``: resampy's jitted loop; ``numpy``: :func:`_resample_numpy`; ``auto``: numba where installed."""
    if name == "numpy":
        return _resample_numpy
    from metrics.files.numba_stand_in import is_stand_in

    try:
        import numba
    except ImportError:
        numba = None
    if numba is None or is_stand_in(numba):
        if name == "numba":
            raise ImportError("numba is not installed")
        return _resample_numpy
    return numba.jit(nopython=True, nogil=True)(_resample_f)


def resample(x: np.ndarray, sr_orig: float, sr_new: float, axis: int = -1, kernel_name: str = "auto") -> np.ndarray:
    """resampy 0.2.2 ``resample(x, sr_orig, sr_new, axis, filter="kaiser_best")``: same dtype, same length rule
    (``int(n * sr_new / sr_orig)``), same accumulation order."""
    if sr_orig <= 0 or sr_new <= 0:
        raise ValueError(f"invalid sample rates {sr_orig} -> {sr_new}")
    sample_ratio = float(sr_new) / sr_orig
    shape = list(x.shape)
    shape[axis] = int(shape[axis] * sample_ratio)
    if shape[axis] < 1:
        raise ValueError(f"input signal length={x.shape[axis]} is too small to resample from {sr_orig}->{sr_new}")
    y = np.zeros(shape, dtype=x.dtype, order="F" if x.flags["F_CONTIGUOUS"] else "C")
    window, precision = kaiser_best_table()
    interp_win = window * sample_ratio if sample_ratio < 1 else window.copy()
    interp_delta = np.zeros_like(interp_win)
    interp_delta[:-1] = np.diff(interp_win)
    x_2d = x.swapaxes(0, axis).reshape((x.shape[axis], -1))
    y_2d = y.swapaxes(0, axis).reshape((y.shape[axis], -1))
    kernel(kernel_name)(x_2d, y_2d, sample_ratio, interp_win, interp_delta, precision)
    return y
