"""Cost of adding KAD and FAD-inf to an FD run over cached embeddings, against the embedding time.

``pytest --benchmark-only benchmarks/speed/test_protocol_speed.py -s``: random-weight VGGish in the official format,
``SA_BENCH_CLIPS`` (default 16, the size of the published figures) generated and as many reference clips of 10 s
stereo 44.1 kHz. Prints and records (``extra_info``) the embedding time of a cold FD run, the time of the same FD run from the cache, and the time of
FD + KAD + FAD-inf from the cache; the target is (FD+KAD+FAD-inf - FD) / embedding time < 10 %.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from metrics.run import RunConfig, run

CLIPS = int(os.environ.get("SA_BENCH_CLIPS", "16"))
DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from sa_fixtures.random_weights import write_vggish_pth
    from metrics.embedding.weights import REGISTRY

    root = tmp_path_factory.mktemp("speed")
    weights = root / "w"
    weights.mkdir()
    write_vggish_pth(weights / REGISTRY["vggish"].filename)
    rng = np.random.default_rng(0)
    t = np.arange(10 * 44100) / 44100
    for side, shift in (("gen", 0), ("ref", 13)):
        (root / side).mkdir()
        for i in range(CLIPS):
            x = np.stack([np.sin(2 * np.pi * (100 + 37 * i + shift + 50 * c) * t) for c in (0, 1)], 1) * 0.3
            sf.write(root / side / f"{i}.wav", (x + 0.02 * rng.standard_normal(x.shape)).astype(np.float32), 44100)
    return root / "gen", root / "ref", weights


def timed(cfg: RunConfig) -> tuple[float, dict]:
    start = time.perf_counter()
    results = run(cfg, strict=True)
    return time.perf_counter() - start, results


def test_kad_and_fad_inf_on_cached_embeddings(benchmark, folders, tmp_path):
    gen, ref, weights = folders
    base = dict(gen=gen, ref=ref, protocol="fadtk", weights_dir=weights, cache_dir=tmp_path / "cache",
                device=DEVICE, fd_bootstrap=0, bootstrap=0, progress=False)
    embed_s, _ = timed(RunConfig(metrics=("fd",), **base))  # cold cache: every file embedded
    fd_s, _ = timed(RunConfig(metrics=("fd",), **base))
    all_cfg = RunConfig(metrics=("fd", "kad", "fad-inf"), **base)
    out = benchmark.pedantic(lambda: timed(all_cfg), rounds=3, iterations=1, warmup_rounds=0)
    all_s = min(benchmark.stats.stats.data)
    extra = max(0.0, all_s - fd_s) / embed_s
    n_frames = out[1]["metrics"]["kad"]["n_frames"]
    benchmark.extra_info.update({"clips": CLIPS, "frames": n_frames, "embed_s": embed_s, "fd_cached_s": fd_s,
                                 "fd_kad_fadinf_cached_s": all_s, "extra_over_embedding": extra})
    print(f"\n{CLIPS} + {CLIPS} clips ({n_frames} VGGish frames): embedding (cold FD run) {embed_s:.2f} s; FD from "
          f"cache {fd_s:.2f} s; FD + KAD + FAD-inf from cache {all_s:.2f} s; extra = {100 * extra:.1f} % of the "
          "embedding time")
    assert extra < 0.10
