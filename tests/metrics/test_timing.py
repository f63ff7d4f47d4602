import numpy as np
import pytest

from metrics.timing import detect_end, timing_errors, timing_summary

SR = 44100


def signal(segments, total_s, noise_db=None, seed=0):
    """Stereo ``[2, T]``: noise-like content in each (start, end) segment, silence (or a noise floor) elsewhere."""
    rng = np.random.default_rng(seed)
    x = np.zeros((2, int(total_s * SR)))
    for start, end in segments:
        a, b = int(start * SR), int(end * SR)
        x[:, a:b] = 0.3 * np.sin(2 * np.pi * 330 * np.arange(b - a) / SR) + 0.05 * rng.standard_normal((2, b - a))
    if noise_db is not None:
        x += rng.standard_normal(x.shape) * 10 ** (noise_db / 20)
    return x


@pytest.mark.parametrize("end", [1.0, 4.2, 7.5, 9.9])
def test_clean_silence(end):
    assert detect_end(signal([(0, end)], 10), SR) == pytest.approx(end, abs=0.05)


@pytest.mark.parametrize("noise_db", [-80, -60, -45])
def test_noise_floor(noise_db):
    assert detect_end(signal([(0, 5.0)], 10, noise_db), SR) == pytest.approx(5.0, abs=0.05)


def test_pause_inside_content_does_not_end_it():
    assert detect_end(signal([(0, 2.0), (2.8, 6.0)], 10), SR) == pytest.approx(6.0, abs=0.05)


def test_click_in_the_tail_is_ignored():
    x = signal([(0, 3.0)], 10)
    x[:, int(8 * SR):int(8 * SR) + 40] = 0.9
    assert detect_end(x, SR) == pytest.approx(3.0, abs=0.05)


def test_content_to_the_end_returns_length():
    assert detect_end(signal([(0, 10.0)], 10), SR) == pytest.approx(10.0, abs=1e-6)


def test_late_start_and_mono():
    x = signal([(2.0, 6.0)], 8)[:1]
    assert detect_end(x, SR) == pytest.approx(6.0, abs=0.05)


def test_summary():
    errors = timing_errors([10.0, 9.2, 12.0, 5.0], [10.0, 10.0, 10.0, 5.5])
    s = timing_summary(errors)
    assert s["mae_s"] == pytest.approx((0 + 0.8 + 2 + 0.5) / 4)
    assert s["within_1s"] == 0.75 and s["within_0.5s"] == 0.5
    assert s["bias_s"] == pytest.approx((0 - 0.8 + 2 - 0.5) / 4)
