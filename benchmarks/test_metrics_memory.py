"""Peak memory of the metrics on one long file: a 5-minute stereo 44.1 kHz WAV through OpenL3, PaSST and CLAP.

``pytest --benchmark-only benchmarks/test_metrics_memory.py --benchmark-json out.json``. Random-weight evaluators in
the official formats, the run's defaults (``--batch-size 32``, ``--files-per-batch 8``, decoding in-process on CPU).
Each case runs in a fresh Python process, so its peak resident set size (``ru_maxrss``, recorded in the benchmark
JSON as ``extra_info.peak_rss_gb``) is that case's alone, weights and interpreter included; ``all`` runs the three
one after another as ``python -m metrics all`` does. ``SA_BENCH_DEVICE`` (default cpu) sets the device; on an
accelerator the figure is host memory only. Before issue #11 the ``all`` case peaked at 6.7 GB.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

LIMIT_GB = 3.0
SECONDS = 300
DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from metrics.random_weights import write_all

    return write_all(tmp_path_factory.mktemp("w"))["roberta-base"].parent


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "five_minutes.wav"
    rng = np.random.default_rng(0)
    t = np.arange(SECONDS * 44100) / 44100
    x = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 331 * t)], 1) * 0.3
    sf.write(path, (x + 0.02 * rng.standard_normal(x.shape)).astype(np.float32), 44100)
    return path


def child(models: list[str], weights: str, path: str, device: str) -> None:
    """In the measured process: embed ``path`` with each model in turn, print the peak RSS as JSON."""
    import resource

    from benchmarks.test_metrics_speed import make
    from metrics.pipeline import embed_files

    for name in models:
        embedder = make(name, Path(weights), device=device, batch_size=32)
        result = embed_files(embedder, [path], workers=0, files_per_batch=8)
        assert not result.skipped and np.isfinite(result.outputs[path]).all(), result.skipped
        del embedder, result
    print(json.dumps({"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))  # KiB on Linux


@pytest.mark.parametrize("model", ["openl3", "passt", "clap", "all"])
def test_peak_memory_of_a_five_minute_file(benchmark, weights, long_file, model):
    models = ["openl3", "passt", "clap"] if model == "all" else [model]
    code = (f"from benchmarks.test_metrics_memory import child; "
            f"child({models!r}, {str(weights)!r}, {str(long_file)!r}, {DEVICE!r})")

    def run() -> dict[str, float]:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    benchmark.group = f"peak RSS, one {SECONDS // 60}-minute stereo 44.1 kHz file ({DEVICE})"
    out = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({"peak_rss_gb": round(out["peak_rss_gb"], 3), "limit_gb": LIMIT_GB,
                                 "seconds_of_audio": SECONDS, "device": DEVICE, "batch_size": 32})
    assert out["peak_rss_gb"] < LIMIT_GB
