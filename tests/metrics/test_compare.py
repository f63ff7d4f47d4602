"""Paired comparisons (metrics.comparison.compare), sample-size guidance (metrics.comparison.power) and their calibration.

The CLI acceptance case: two timing runs of 40 synthetic prompts; A's sound ends within the +-0.5 s tolerance
(0.15-0.3 s after the requested length, drawn per prompt), B is the same audio running 0.4 s longer on every other
prompt, which puts those prompts outside +-0.5 s. Calibration: a pool of synthetic clips whose true ends are drawn
around the requested length is measured once by the timing detector; two "runs" from the same generator with
different seeds draw different clips per prompt, so every comparison between them is a null comparison.
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from metrics.comparison import compare, power
from metrics.scores.evaluate import timing_result
from metrics.scores.stats import holm, minimum_detectable, n_needed, permutation_pvalue
from metrics.scores.timing import detect_end
from sa_fixtures.clips import write_wav

SR = 16000
N_PROMPTS = 40


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metrics", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def clip(sound_s: float, total_s: float, seed: int) -> np.ndarray:
    """``[T]`` a tone with a little noise for ``sound_s`` seconds, then digital silence up to ``total_s``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sound_s * SR)) / SR
    x = np.zeros(int(total_s * SR), np.float32)
    x[:len(t)] = 0.3 * np.sin(2 * np.pi * (220 + 10 * (seed % 30)) * t) + 0.01 * rng.standard_normal(len(t))
    return x


@pytest.fixture(scope="module")
def timing_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cmp")
    rng = np.random.default_rng(1)
    requested = rng.uniform(2.0, 4.0, N_PROMPTS)
    late = rng.uniform(0.15, 0.3, N_PROMPTS)  # "on time": inside the +-0.5 s tolerance
    with open(root / "prompts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ytid", "caption", "seconds"])
        w.writerows([f"p{i:02d}", "a tone", f"{requested[i]:.3f}"] for i in range(N_PROMPTS))
    for i in range(N_PROMPTS):
        end = requested[i] + late[i]
        write_wav(root / "a" / f"p{i:02d}.wav", clip(end, 6.0, i), SR)
        write_wav(root / "b" / f"p{i:02d}.wav", clip(end + 0.4 * (i % 2), 6.0, i), SR)
    out = {}
    for run in ("a", "b"):
        r = cli("timing", "--gen", root / run, "--captions", root / "prompts.csv", "--seconds-col", "seconds",
                "--out", root / f"{run}.json", "--no-progress", "--cache-dir", "none")
        assert r.returncode == 0, r.stderr
        out[run] = root / f"{run}.json"
    out["root"] = root
    return out


def _difference(cmp_json: Path, metric: str) -> dict:
    return next(d for d in json.loads(cmp_json.read_text())["differences"] if d["metric"] == metric)


def test_late_run_is_worse_on_within_half_second(timing_runs):
    out = timing_runs["root"] / "ab.json"
    r = cli("compare", timing_runs["a"], timing_runs["b"], "--out", out)
    assert r.returncode == 0, r.stderr
    d = _difference(out, "timing/within_0.5s")
    assert d["n"] == N_PROMPTS
    assert d["difference"] == pytest.approx(-0.5)  # every other prompt leaves the tolerance
    assert d["ci95"][1] < 0 and d["p"] < 0.01 and d["p_holm"] < 0.01
    assert d["better"] == "a"
    mae = _difference(out, "timing")
    assert mae["difference"] == pytest.approx(0.2, abs=0.03) and mae["better"] == "a"  # lower |error| is better
    assert "timing/within_0.5s" in r.stdout and "MDD80" in r.stdout


def test_swapped_runs_mirror(timing_runs):
    ab, ba = timing_runs["root"] / "ab2.json", timing_runs["root"] / "ba.json"
    assert cli("compare", timing_runs["a"], timing_runs["b"], "--out", ab).returncode == 0
    assert cli("compare", timing_runs["b"], timing_runs["a"], "--out", ba).returncode == 0
    for metric in ("timing", "timing/within_0.5s", "timing/within_1s"):
        x, y = _difference(ab, metric), _difference(ba, metric)
        assert y["difference"] == pytest.approx(-x["difference"])
        assert y["ci95"] == pytest.approx([-x["ci95"][1], -x["ci95"][0]], abs=1e-9)
        assert y["p"] == pytest.approx(x["p"]) and y["better"] == x["better"]


def test_run_against_itself_is_zero_with_p_one(timing_runs):
    out = timing_runs["root"] / "aa.json"
    r = cli("compare", timing_runs["a"], timing_runs["a"], "--out", out)
    assert r.returncode == 0, r.stderr
    for d in json.loads(out.read_text())["differences"]:
        assert d["difference"] == 0 and d["p"] == 1 and d["p_holm"] == 1 and d["better"] is None


def test_compare_misuse_is_one_line(timing_runs, tmp_path):
    r = cli("compare", timing_runs["a"])
    assert r.returncode == 2 and r.stderr.startswith("error: compare needs at least two results files")
    (tmp_path / "bad.json").write_text("[]")
    r = cli("compare", timing_runs["a"], tmp_path / "bad.json")
    assert r.returncode == 2 and "not a results file" in r.stderr and r.stderr.count("\n") == 1


def test_power_cli_prints_guidance(timing_runs):
    r = cli("power", timing_runs["a"], "--target", "0.1")
    assert r.returncode == 0, r.stderr
    assert "timing/within_0.5s" in r.stdout and "for 0.1" in r.stdout


# --- the math ------------------------------------------------------------------------------------------------
def test_holm_matches_hand_computation():
    assert holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([0.01, float("nan")])[1])


def test_permutation_p_of_zero_difference_is_one():
    assert permutation_pvalue(0.0, np.array([0.0, 0.1, -0.2])) == 1.0
    assert permutation_pvalue(1.0, np.zeros(99)) == pytest.approx(1 / 100)


def test_paired_items_detects_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    diff, ci, p, sd = compare.paired_items(a, a + 0.3 + 0.1 * rng.normal(size=200), 2000, 2000)
    assert ci[0] < 0.3 < ci[1] and p < 1e-3 and sd == pytest.approx(0.1, rel=0.2)


def test_paired_sets_fd_self_comparison_and_shift():
    """Set path with FD from frames: B = A gives 0 and p = 1; B shifted away from the reference is worse."""
    rng = np.random.default_rng(0)
    files_a = [rng.normal(size=(5, 4)) for _ in range(30)]
    ref = compare.embedding_record.SetInputs({}, ref_files=[rng.normal(size=(400, 4))])
    stat = compare.SET_STATISTICS["fd"](ref, {})
    va, vb, ci, p, sd = compare.paired_sets(stat, files_a, files_a, 50)
    assert va == vb and ci == (0.0, 0.0) and p == 1.0
    files_b = [f + 1.0 for f in files_a]
    va, vb, ci, p, sd = compare.paired_sets(stat, files_a, files_b, 50)
    assert vb - va > 0.5 and ci[0] > 0 and p < 0.05


def test_minimum_detectable_and_n_needed_are_inverse():
    se1 = 0.8  # SD of the per-prompt differences
    n = n_needed(0.2, se1)
    assert minimum_detectable(se1 / math.sqrt(n)) <= 0.2 < minimum_detectable(se1 / math.sqrt(n - 1))
    with pytest.raises(ValueError, match="target difference must be > 0"):
        n_needed(0.0, se1)


# --- calibration with synthetic audio --------------------------------------------------------------------------
POOL_SEEDS = 8  # clips per prompt in the generator pool


@pytest.fixture(scope="module")
def detected_pool() -> tuple[np.ndarray, np.ndarray]:
    """Requested lengths ``[P]`` and the detector's ends ``[P, POOL_SEEDS]`` of clips whose true end is the requested
    length plus N(0, 0.4 s) (one generator, several seeds per prompt)."""
    rng = np.random.default_rng(7)
    requested = rng.uniform(1.5, 2.5, N_PROMPTS)
    ends = np.empty((N_PROMPTS, POOL_SEEDS))
    for i in range(N_PROMPTS):
        for s in range(POOL_SEEDS):
            true_end = float(np.clip(requested[i] + rng.normal(0, 0.4), 0.3, 3.9))
            ends[i, s] = detect_end(clip(true_end, 4.0, 100 * i + s), SR)
    return requested, ends


def _run_from(detected: np.ndarray, requested: np.ndarray) -> dict:
    ids = [f"p{i:02d}" for i in range(len(requested))]
    res = timing_result(dict(zip(ids, detected.tolist())), dict(zip(ids, requested.tolist())), ids, n_boot=0)
    return {"metrics": {"timing": {**res, "protocol_metric": {"kind": "timing", "higher_is_better": False}}}}


def _null_pvalues(requested: np.ndarray, ends: np.ndarray, comparisons: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cfg = compare.CompareConfig(n_boot=200, n_perm=999, metrics=("timing",))
    ps = []
    for k in range(comparisons):
        pick = np.array([rng.choice(POOL_SEEDS, 2, replace=False) for _ in range(N_PROMPTS)])  # [P, 2] seeds
        a = compare.Run("a", _run_from(ends[np.arange(N_PROMPTS), pick[:, 0]], requested))
        b = compare.Run("b", _run_from(ends[np.arange(N_PROMPTS), pick[:, 1]], requested))
        ps.append(compare.compare_pair(a, b, compare.CompareConfig(**{**cfg.__dict__, "seed": k}))[0][0].p)
    return np.array(ps)


def _inside_binomial_ci(hits: int, trials: int, rate: float) -> bool:
    lo, hi = binom.ppf(0.025, trials, rate), binom.ppf(0.975, trials, rate)
    return lo <= hits <= hi


def test_false_positive_rate_under_the_null(detected_pool):
    """Two runs of one generator with different seeds: p < 0.05 in about 5% of 200 comparisons."""
    requested, ends = detected_pool
    n = int(os.environ.get("SA_BENCH_CALIBRATION_COMPARISONS", "200"))  # e.g. 5000 for the long version
    p = _null_pvalues(requested, ends, n, seed=3)
    hits = int((p < 0.05).sum())
    assert _inside_binomial_ci(hits, n, 0.05), f"{hits} of {n} null comparisons had p < 0.05"


def test_known_effect_detected_with_the_predicted_power(detected_pool):
    """An effect of exactly the MDD80 that power guidance predicts for 40 prompts is detected in ~80% of runs."""
    requested, ends = detected_pool
    errors = np.abs(ends - requested[:, None])  # [P, S] the metric's per-item scores
    one = _run_from(ends[:, 0], requested)
    guide = {g.metric: g for g in power.run_guidance(one)[0]}["timing"]
    rng = np.random.default_rng(5)
    n = int(os.environ.get("SA_BENCH_CALIBRATION_COMPARISONS", "200"))
    # the guidance assumes independent systems whose per-item SD is the population's; check with that population
    sd_pop = errors.std(ddof=1)
    effect = minimum_detectable(math.sqrt(2) * sd_pop / math.sqrt(N_PROMPTS))
    assert guide.mdd80 == pytest.approx(effect, rel=0.35)  # one run's SD estimates the population's
    detected = 0
    for k in range(n):
        pick = np.array([rng.choice(POOL_SEEDS, 2, replace=False) for _ in range(N_PROMPTS)])
        a = errors[np.arange(N_PROMPTS), pick[:, 0]]
        b = errors[np.arange(N_PROMPTS), pick[:, 1]] + effect  # B is worse by exactly the effect
        detected += compare.paired_items(a, b, 0, 999, seed=k)[2] < 0.05
    assert _inside_binomial_ci(detected, n, 0.80), f"detected {detected} of {n}, predicted 80%"


def test_run_labels_are_short_and_unique():
    p = [Path("runs/ablate/text_encoder=none/eval/results.json"), Path("runs/ablate/text_encoder=mpnet/eval/results.json")]
    assert compare.run_labels(p) == ["text_encoder=none/eval", "text_encoder=mpnet/eval"]
    assert compare.run_labels([Path("x/a.json"), Path("y/a.json"), Path("run/results.json")]) == ["x/a", "y/a", "run"]
    assert compare.run_labels([Path("a.json"), Path("a.json")]) == ["a #1", "a #2"]
