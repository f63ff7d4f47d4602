import os
import pickle

import numpy as np
import pytest
import torch

from metrics.refstats import read_fd_stats, read_kl_probs, write_fd_stats, write_kl_probs
from tests.conftest import SHARED_DATA

SONG_DESCRIBER = SHARED_DATA / "reference-stats" / "song_describer__collectmean__reference_probabilities.pkl"


@pytest.mark.skipif(not SONG_DESCRIBER.exists(), reason="../shared/data not present")
def test_reads_real_stable_audio_metrics_pickle():
    probs = read_kl_probs(SONG_DESCRIBER)
    assert len(probs) == 1106
    sums = np.array([p.sum() for p in probs.values()])
    assert np.allclose(sums, 1.0, atol=1e-5)
    assert all(p.shape == (527,) for p in probs.values())
    assert all(k.isdigit() for k in probs)  # int caption ids in the file, str here


def test_kl_pickle_round_trip_keeps_reference_key_types(tmp_path):
    probs = {"3": np.full(527, 1 / 527), "107432": np.eye(527)[0]}
    write_kl_probs(tmp_path / "p.pkl", probs)
    with open(tmp_path / "p.pkl", "rb") as f:
        raw = pickle.load(f)  # trusted here: we just wrote it
    assert set(raw) == {3, 107432} and isinstance(raw[3], torch.Tensor)
    back = read_kl_probs(tmp_path / "p.pkl")
    np.testing.assert_allclose(back["107432"], probs["107432"])
    write_kl_probs(tmp_path / "m.pkl", {"-kssA-FOzU": np.full(527, 1 / 527)})
    assert set(read_kl_probs(tmp_path / "m.pkl")) == {"-kssA-FOzU"}


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_hostile_pickle_is_refused(tmp_path):
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"a": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        read_kl_probs(tmp_path / "evil.pkl")


def test_fd_npz_round_trip_and_validation(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3) * 2
    write_fd_stats(tmp_path / "s.npz", mu, sigma)
    m, s = read_fd_stats(tmp_path / "s.npz")
    np.testing.assert_array_equal(m, mu)
    np.testing.assert_array_equal(s, sigma)
    np.savez(tmp_path / "bad.npz", mu=mu)
    with pytest.raises(ValueError, match="missing"):
        read_fd_stats(tmp_path / "bad.npz")
