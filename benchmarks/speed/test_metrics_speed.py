"""Metrics throughput: the batched pipeline vs one clip at a time (the reference's way), same models, side by side.

``pytest --benchmark-only benchmarks/speed/test_metrics_speed.py --benchmark-json out.json``. Random-weight
evaluators in the official formats; clips are 10 s stereo 44.1 kHz. ``SA_BENCH_CLIPS`` (default 8, the size of the
published figures) sets the clip count and ``SA_BENCH_DEVICE`` (default cpu) the device. Each case runs once per round (pedantic) with no cache, so every
round embeds every clip.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders.clap import ClapEmbedder
from metrics.embedding.embedders.openl3 import OpenL3Embedder
from metrics.embedding.embedders.passt import PasstEmbedder
from metrics.embedding.pipeline import embed_files

CLIPS = int(os.environ.get("SA_BENCH_CLIPS", "8"))
DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sa_fixtures.random_weights import write_all

    return write_all(tmp_path_factory.mktemp("w"))["roberta-base"].parent


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    t = np.arange(10 * 44100) / 44100
    paths = []
    for i in range(CLIPS):
        x = np.stack([np.sin(2 * np.pi * (100 + 37 * i + 50 * c) * t) for c in (0, 1)], 1) * 0.3
        x += 0.02 * rng.standard_normal(x.shape)
        sf.write(folder / f"{i}.wav", x.astype(np.float32), 44100)
        paths.append(str(folder / f"{i}.wav"))
    return paths


def make(name: str, w: Path, device: str = DEVICE, batch_size: int | None = None) -> Embedder:
    """A random-weight evaluator in ``w``; ``batch_size`` None: 64 OpenL3 frames, 16 PaSST windows, 32 clips."""
    if name == "openl3":
        return OpenL3Embedder(w / "openl3_audio_mel256_music.h5", device, batch_size=batch_size or 64)
    if name == "passt":
        return PasstEmbedder(w / "passt-s-f128-p16-s10-ap.476-swa.pt", device, batch_size=batch_size or 16)
    return ClapEmbedder(w / "630k-audioset-fusion-best.pt", device, batch_size=batch_size or 32,
                        roberta_dir=w / "roberta-base")


def one_at_a_time(embedder: Embedder, paths: list[str]) -> list[np.ndarray]:
    """The reference's way: decode a file, run the model on it alone, next file."""
    return [embedder.embed([embedder.prepare(p)])[0] for p in paths]


@pytest.mark.parametrize("mode", ["one_at_a_time", "batched", "batched_2_workers"])
@pytest.mark.parametrize("model", ["openl3", "passt", "clap"])
def test_metric_throughput(benchmark, weights, clips, model, mode):
    embedder = make(model, weights)
    embedder.load()
    benchmark.group = f"{model} x {CLIPS} clips of 10 s stereo ({DEVICE})"
    benchmark.extra_info.update({"clips": CLIPS, "seconds_of_audio": 10 * CLIPS, "device": DEVICE})
    if mode.startswith("batched"):
        workers = 2 if mode == "batched_2_workers" else 0
        run = lambda: embed_files(embedder, clips, workers=workers, files_per_batch=8).outputs  # noqa: E731
    else:
        run = lambda: one_at_a_time(embedder, clips)  # noqa: E731
    out = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    assert len(out) == CLIPS
