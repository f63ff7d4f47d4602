"""What a comparison adds to the runs it compares: ``pytest --benchmark-only benchmarks/speed/test_compare_speed.py``.

Two runs of the default protocol's FD (OpenL3, random weights in the official format) over ``SA_BENCH_CLIPS``
(default 100) generated clips of 3 s each against the same 100 reference clips, each run timed end to end through
:func:`metrics.run.run` (the second one finds the reference embeddings in the cache, as a real second run would);
then ``python -m metrics compare`` on the two results files, which recomputes FD on 200 joint prompt resamples and
200 prompt-wise swaps from the cached embeddings. The case asserts the comparison costs under 10% of the runs.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from metrics.__main__ import main
from metrics.run import RunConfig, run, write_results
from sa_fixtures.clips import tone, write_wav

CLIPS = int(os.environ.get("SA_BENCH_CLIPS", "100"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], float]:
    from sa_fixtures.random_weights import write_all

    root = tmp_path_factory.mktemp("cmp-speed")
    weights = write_all(root / "w", seed=0)["roberta-base"].parent
    rng = np.random.default_rng(0)
    for i in range(CLIPS):
        f = 110 * 2 ** (rng.integers(0, 36) / 12)
        write_wav(root / "ref" / f"{i}.wav", tone(3.0, 44100, f, seed=i))
        write_wav(root / "a" / f"{i}.wav", tone(3.0, 44100, f * 1.01, seed=i + 1000))
        write_wav(root / "b" / f"{i}.wav", tone(3.0, 44100, f * 1.5, amp=0.1, seed=i + 2000))
    start = time.perf_counter()
    paths = []
    for name in ("a", "b"):
        cfg = RunConfig(gen=root / name, ref=root / "ref", metrics=("fd",), weights_dir=weights,
                        cache_dir=root / "cache", progress=False)
        write_results(root / f"{name}.json", run(cfg, strict=True))
        paths.append(root / f"{name}.json")
    return paths, time.perf_counter() - start


def test_compare_two_fd_runs_from_the_cache(benchmark, two_runs, tmp_path):
    paths, runs_s = two_runs
    out = tmp_path / "cmp.json"
    code = benchmark.pedantic(lambda: main(["compare", *map(str, paths), "--out", str(out)]),
                              rounds=1, iterations=1, warmup_rounds=0)
    compare_s = benchmark.stats.stats.mean
    benchmark.extra_info.update({"clips": CLIPS, "runs_s": runs_s, "compare_s": compare_s,
                                 "compare_over_runs": compare_s / runs_s})
    assert code == 0
    assert compare_s < 0.10 * runs_s, f"compare {compare_s:.1f} s vs runs {runs_s:.1f} s"
