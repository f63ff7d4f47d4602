"""The real entry points (``python -m ...`` in a subprocess, time-bounded): hostile input ends in exit 0 or a
one-line error, never a traceback or a hang. The in-process tests cover the rest; these prove the wiring."""
from __future__ import annotations

import pytest

from tests.fuzz import hostile
from tests.fuzz.invariants import Sandbox, check_accounted


@pytest.fixture
def sb(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def test_metrics_timing_on_a_hostile_folder(sb):
    gen = sb.inp / "gen"
    hostile.tone_wav(gen / "good.wav", 2.0)
    for kind in ("empty", "random_bytes", "nan_samples", "folder", "one_hz_rate", "six_channels"):
        hostile.write_broken(gen, f"{kind}.wav", kind)
    hostile.symlink(gen / "passwd.wav", sb.victim)
    sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "r.json", "--cache-dir",
                       "none", "--no-progress"], allowed=(0,), subprocess_=True, limit=300)
    check_accounted(sb.results(sb.out / "r.json"), gen, hostile.AUDIO_SUFFIXES)


def test_metrics_fd_with_nan_in_sigma_ref_ends(sb, weights_dir):
    """NaN in the reference covariance once made scipy's sqrtm spin forever."""
    gen = sb.inp / "gen"
    hostile.tone_wav(gen / "a.wav", 2.0)
    hostile.tone_wav(gen / "b.wav", 2.0, seed=1)
    npz = hostile.write_npz(sb.inp / "fd.npz", **hostile.fd_stats("nan_sigma"))
    o = sb.run("metrics", ["fd", "--gen", gen, "--ref-stats", npz, "--weights-dir", weights_dir, "--out",
                           sb.out / "r.json", "--cache-dir", "none", "--no-progress"], subprocess_=True, limit=300)
    assert o.code == 2, o.describe()


def test_generate_with_nan_cfg_scale(sb, tiny_ckpt):
    o = sb.run("sa_core.generate", ["--ckpt", tiny_ckpt, "--prompt", "x", "--cfg-scale", "nan", "--out",
                                    sb.out / "x.wav", "--device", "cpu"], subprocess_=True, limit=300)
    assert o.code == 2 and not (sb.out / "x.wav").exists(), o.describe()


def test_synthcaps_with_no_prompts(sb):
    o = sb.run("benchmarks.synthcaps", ["--n", "0", "--out", sb.out / "sc"], subprocess_=True, limit=300)
    assert o.code == 2, o.describe()


def test_reports_on_a_corrupt_results_file(sb):
    run = sb.inp / "run"
    run.mkdir()
    (run / "results.json").write_text('{"metrics": NaN')
    o = sb.run("reports", [run, "--out", sb.out / "r.html"], subprocess_=True, limit=300)
    assert o.code == 2, o.describe()
