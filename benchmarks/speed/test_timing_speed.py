"""Timing detector speed: ``pytest --benchmark-only benchmarks/speed/test_timing_speed.py``.

The SAO case: a 47 s stereo 44.1 kHz float32 window with 2 s of sound over a hiss floor (the target is well under a
second per file; measured here about 0.07 s).
"""
from __future__ import annotations

import numpy as np
import pytest

from metrics.scores.timing import detect_end

SR = 44100


def test_detect_end_47_s_stereo(benchmark):
    rng = np.random.default_rng(0)
    x = 10 ** (-70 / 20) * rng.standard_normal((2, 47 * SR))
    x[:, SR:3 * SR] += 0.3 * np.sin(2 * np.pi * 220 * np.arange(2 * SR) / SR)
    x = x.astype(np.float32)
    assert benchmark(detect_end, x, SR) == pytest.approx(3.0, abs=0.03)
