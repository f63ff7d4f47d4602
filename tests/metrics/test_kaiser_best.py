"""The kaiser_best port against resampy 0.2.2 itself (a test dependency: ``resampy==0.2.2``, which imports
``pkg_resources``): bit-equal outputs on the rates, dtypes, layouts and lengths the protocols use."""
import numpy as np
import pytest

from metrics.files.audio import resample_kaiser_best
from metrics.files.kaiser_best import kaiser_best_table, resample


@pytest.fixture(scope="module")
def resampy():
    """The reference (the test extra installs it where it builds: Python < 3.12)."""
    return pytest.importorskip("resampy", reason="the reference: pip install resampy==0.2.2 'setuptools<81'")


def signal(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 0.3).astype(dtype)


def test_reference_is_resampy_0_2_2(resampy):
    assert resampy.__version__ == "0.2.2"
    from resampy.filters import load_filter

    window, precision, _ = load_filter("kaiser_best")
    ours, ours_precision = kaiser_best_table()
    assert precision == ours_precision == 512
    np.testing.assert_array_equal(ours, window)


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rates", [(44100, 48000), (44100, 16000), (48000, 44100), (32000, 48000), (16000, 16001)])
def test_bit_equal_to_resampy_0_2_2(rates, dtype, kernel, resampy):
    x = signal((2, 9001), dtype)
    for axis, data in ((-1, x), (0, np.ascontiguousarray(x.T)), (-1, np.asfortranarray(x))):
        ours = resample(data, *rates, axis=axis, kernel_name=kernel)
        ref = resampy.resample(data, *rates, axis=axis, filter="kaiser_best")
        assert ours.dtype == ref.dtype and ours.shape == ref.shape and ours.flags["F_CONTIGUOUS"] == ref.flags["F_CONTIGUOUS"]
        np.testing.assert_array_equal(ours, ref)


def test_metrics_path_is_the_port(resampy):
    x = signal((2, 4410), np.float32, seed=1)
    np.testing.assert_array_equal(resample_kaiser_best(x, 44100, 48000),
                                  resampy.resample(x, 44100, 48000, axis=-1, filter="kaiser_best"))
    with pytest.raises(ValueError, match="too small"):
        resample(x[:, :1], 44100, 16000)


def test_numpy_kernel_on_a_long_clip():
    """10 s of stereo at 44.1 kHz, the length the protocols resample, both kernels (no reference needed)."""
    pytest.importorskip("numba")
    x = signal((2, 441000), np.float32, seed=2)
    np.testing.assert_array_equal(resample(x, 44100, 48000, kernel_name="numpy"),
                                  resample(x, 44100, 48000, kernel_name="numba"))
    with pytest.raises(ValueError, match="invalid"):
        resample(x, 0, 16000)
