"""Peak memory of the metrics on one long file: a 5-minute stereo 44.1 kHz WAV.

``pytest --benchmark-only benchmarks/speed/test_metrics_memory.py --benchmark-json out.json``. Random-weight
evaluators in the official formats, the run's defaults (``--batch-size 32``, ``--files-per-batch 8``, decoding
in-process on CPU). Each case runs its work in a fresh process and measures that process tree from outside
(:mod:`benchmarks.speed.peak_rss`; recorded in the benchmark JSON as ``extra_info.peak_rss_gb``), weights and
interpreter included, so a case's figure is its own whatever ran before it in the same pytest session:

* ``openl3``, ``passt``, ``clap``: one evaluator embedding the file;
* ``cli-all``: ``python -m metrics all`` (the default protocol: FD_openl3, KL_passt, CLAP, timing) on that file
  against a reference folder holding the same file, as a user runs it; the evaluators are loaded one after another.

``SA_BENCH_DEVICE`` (default cpu) sets the device; on an accelerator the figure is host memory only.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.speed.peak_rss import measure

LIMIT_GB = 3.0
SECONDS = 300
DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")
ROOT = Path(__file__).resolve().parents[2]  # the repository


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sa_fixtures.random_weights import write_all

    return write_all(tmp_path_factory.mktemp("w"))["roberta-base"].parent


@pytest.fixture(scope="module")
def long_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``gen/long.wav`` (5 minutes), ``ref/long.wav`` (the same), ``captions.csv``."""
    root = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(0)
    t = np.arange(SECONDS * 44100) / 44100
    x = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 331 * t)], 1) * 0.3
    (root / "gen").mkdir()
    sf.write(root / "gen" / "long.wav", (x + 0.02 * rng.standard_normal(x.shape)).astype(np.float32), 44100)
    (root / "ref").mkdir()
    shutil.copy(root / "gen" / "long.wav", root / "ref" / "long.wav")
    (root / "captions.csv").write_text("id,caption\nlong,two steady sine tones with a little noise\n")
    return root


def child(model: str, weights: str, path: str, device: str) -> None:
    """In the measured process: embed ``path`` with ``model``."""
    from benchmarks.speed.test_metrics_speed import make
    from metrics.embedding.pipeline import embed_files

    embedder = make(model, Path(weights), device=device, batch_size=32)
    result = embed_files(embedder, [path], workers=0, files_per_batch=8)
    assert not result.skipped and np.isfinite(result.outputs[path]).all(), result.skipped


def command(case: str, weights: Path, root: Path, out: Path) -> list[str]:
    if case == "cli-all":
        return [sys.executable, "-m", "metrics", "all", "--gen", str(root / "gen"), "--ref", str(root / "ref"),
                "--captions", str(root / "captions.csv"), "--id-col", "id", "--seconds-total", str(SECONDS),
                "--weights-dir", str(weights), "--device", DEVICE, "--cache-dir", "none", "--no-progress",
                "--out", str(out)]
    code = f"from benchmarks.speed.test_metrics_memory import child; child({case!r}, {str(weights)!r}, " \
           f"{str(root / 'gen' / 'long.wav')!r}, {DEVICE!r})"
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("case", ["openl3", "passt", "clap", "cli-all"])
def test_peak_memory_of_a_five_minute_file(benchmark, weights, long_set, case, tmp_path):
    out = tmp_path / "results.json"

    def run() -> float:
        done = measure(command(case, weights, long_set, out), cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-2000:]
        return done.peak_gb

    benchmark.group = f"peak RSS, one {SECONDS // 60}-minute stereo 44.1 kHz file ({DEVICE})"
    peak = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({"peak_rss_gb": round(peak, 3), "limit_gb": LIMIT_GB, "seconds_of_audio": SECONDS,
                                 "device": DEVICE, "batch_size": 32})
    if case == "cli-all":
        results = json.loads(out.read_text())
        assert results["skipped_metrics"] == {} and set(results["metrics"]) == {"fd", "kl", "clap", "timing"}
    assert peak < LIMIT_GB
