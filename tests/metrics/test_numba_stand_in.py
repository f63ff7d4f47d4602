"""Without numba, the stand-in lets librosa's filters (what torchlibrosa calls for CLAP and PANNs) import and give
the same arrays, and kaiser_best falls back to its numpy kernel."""
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import importlib.util, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "numba" else real(name, *a)  # numba not installed
import metrics.embedding.embedders  # installs the stand-in
import numba
from metrics.files.numba_stand_in import is_stand_in
assert is_stand_in(numba)
import librosa.filters, numpy as np
from metrics.files.kaiser_best import _resample_numpy, kernel
assert kernel("auto") is _resample_numpy
np.savez(sys.argv[1], window=librosa.filters.get_window("hann", 1024, fftbins=True),
         mel=librosa.filters.mel(sr=48000, n_fft=1024, n_mels=64, fmin=50, fmax=14000))
"""


def test_librosa_filters_and_kaiser_best_without_numba(tmp_path):
    import librosa.filters

    out = tmp_path / "child.npz"
    subprocess.run([sys.executable, "-c", CHILD, str(out)], cwd=ROOT, check=True, timeout=300)
    child = np.load(out)
    np.testing.assert_array_equal(child["window"], librosa.filters.get_window("hann", 1024, fftbins=True))
    np.testing.assert_array_equal(child["mel"], librosa.filters.mel(sr=48000, n_fft=1024, n_mels=64, fmin=50,
                                                                     fmax=14000))
