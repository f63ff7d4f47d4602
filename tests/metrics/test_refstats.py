import os
import pickle

import numpy as np
import pytest
import torch

from sa_util.ids import align_ids, read_csv
from metrics.files.refstats import (fd_stats_problem, kl_keys, read_fd_stats, read_kl_probs, write_fd_stats,
                                    write_kl_probs)
from benchmarks.captions import DATA as PROMPT_LISTS
from tests.conftest import DATA, needs_data

# stable-audio-metrics' PaSST reference probabilities of Song Describer's no-singing subset, as it ships them
SONG_DESCRIBER = DATA / "song_describer-nosinging__collectmean__reference_probabilities.pkl"
SONG_DESCRIBER_CSV = PROMPT_LISTS / "song_describer-nosinging.csv"


@needs_data(SONG_DESCRIBER, SONG_DESCRIBER_CSV)
def test_reads_real_stable_audio_metrics_pickle():
    probs = read_kl_probs(SONG_DESCRIBER)
    assert len(probs) == 586
    sums = np.array([p.sum() for p in probs.values()])
    assert np.allclose(sums, 1.0, atol=1e-5)
    assert all(p.shape == (527,) for p in probs.values())
    assert all(isinstance(k, int) for k in probs)  # pandas read the caption ids as int64
    # mapped to the CSV's string ids through the CSV: every caption id finds its probabilities
    ids = read_csv(SONG_DESCRIBER_CSV, "caption_id").ids
    matched, problems = align_ids(probs, ids)
    assert len(matched) == 586 and not problems


def test_kl_pickle_round_trip_keeps_reference_key_types(tmp_path):
    probs = {"3": np.full(527, 1 / 527), "107432": np.eye(527)[0]}
    write_kl_probs(tmp_path / "p.pkl", probs)
    with open(tmp_path / "p.pkl", "rb") as f:
        raw = pickle.load(f)  # trusted here: we just wrote it
    assert set(raw) == {3, 107432} and isinstance(raw[3], torch.Tensor)
    back = read_kl_probs(tmp_path / "p.pkl")
    np.testing.assert_allclose(back[107432], probs["107432"])
    write_kl_probs(tmp_path / "m.pkl", {"-kssA-FOzU": np.full(527, 1 / 527)})
    assert set(read_kl_probs(tmp_path / "m.pkl")) == {"-kssA-FOzU"}


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_hostile_pickle_is_refused(tmp_path):
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"a": Evil()}))
    with pytest.raises(ValueError, match=r"evil.pkl: .*refusing to unpickle posix.system"):
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


def test_saved_ids_read_back_as_the_same_ids(tmp_path):
    """'001' and '010' must not be written as 1 and 10; canonical int ids keep the reference's int keys."""
    probs = {"001": np.full(527, 1 / 527), "010": np.eye(527)[3]}
    write_kl_probs(tmp_path / "zeros.pkl", probs)
    back = read_kl_probs(tmp_path / "zeros.pkl")
    assert set(back) == {"001", "010"}
    assert set(align_ids(back, ["001", "010", "1"])[0]) == {"001", "010"}  # "1" does not take "001"'s entry
    write_kl_probs(tmp_path / "ints.pkl", {"1": probs["001"], "10": probs["010"]})
    assert set(read_kl_probs(tmp_path / "ints.pkl")) == {1, 10}
    assert kl_keys(["7", "-1"]) == ["7", "-1"] and kl_keys(["0", "12"]) == [0, 12]


def test_int_keys_match_csv_ids_only_through_the_csv():
    ref = {1: "one", 10: "ten", "abc": "s", 7: "seven"}
    matched, problems = align_ids(ref, ["001", "10", "abc", "x"])
    assert matched == {"001": "one", "10": "ten", "abc": "s"}  # 7 has no id; "x" no entry
    matched, problems = align_ids(ref, ["1", "01", "10"])
    assert matched == {"10": "ten"} and set(problems) == {"1", "01"} and "ambiguous" in problems["1"]


def test_kl_reference_saved_with_torch_save_is_read_safely(tmp_path):
    p = torch.softmax(torch.randn(527), 0)
    torch.save({5: p, "x": p}, tmp_path / "t.pkl")
    back = read_kl_probs(tmp_path / "t.pkl")
    assert set(back) == {5, "x"} and back[5].dtype == np.float64


def test_fd_stats_validation_accepts_real_covariances_and_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((300, 64)).astype(np.float32) @ rng.standard_normal((64, 64)).astype(np.float32)
    mu, sigma = frames.mean(0), np.cov(frames, rowvar=False).astype(np.float32)  # float32-rounded, rank-deficient ok
    write_fd_stats(tmp_path / "ok.npz", mu, sigma)
    assert read_fd_stats(tmp_path / "ok.npz", dim=64)[1].shape == (64, 64)
    with pytest.raises(ValueError, match=r"ok.npz: statistics of 64-d embeddings, this metric reads 1024-d"):
        read_fd_stats(tmp_path / "ok.npz", dim=1024)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text.npz: not usable FD statistics"):
        read_fd_stats(tmp_path / "text.npz")
    assert fd_stats_problem(np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]])).startswith("sigma_ref has eigenvalue")
