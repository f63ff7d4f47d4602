"""Evaluator cases: each protocol's evaluation throughput over synthetic 10 s clips, extrapolated to MusicCaps'
5,521 clips; KAD over 100k frames; the precision study's TF32 rows."""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.gpu.cases import MUSICCAPS_CLIPS, Scale


def _clips(work: Path, n: int, seconds: float) -> Path:
    """``n`` synthetic stereo 44.1 kHz clips (benchmarks.metric_peers' music-like mixtures) and a captions.csv."""
    from sa_fixtures.clips import write_harmonic_clips

    folder = work / f"clips-{n}x{seconds:g}s"
    if not (folder / "captions.csv").exists():
        write_harmonic_clips(folder / "audio", n, seconds)
        with open(folder / "captions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "caption"])
            w.writerows([Path(p).stem, f"a synthetic chord, number {i}"] for i, p in
                        enumerate(sorted((folder / "audio").iterdir())))
    return folder


def _weights(work: Path, protocol: str) -> Path:
    """Random-weight files in the official formats for every evaluator ``protocol`` loads (written once)."""
    from metrics.embedding.embedders import entry
    from metrics.protocols import get, shared_embedders
    from sa_fixtures.random_weights import write_named

    folder = work / "weights"
    needs = [[entry(m).weights(dict(o)), *entry(m).extras(dict(o)).values()]
             for m, o in shared_embedders(get(protocol)).items()]
    write_named(folder, [name for names in needs for name in names])
    return folder


def _evaluate(protocol: str, clips: Path, seconds: float, weights: Path, device: str,
              cache: Path) -> tuple[float, dict]:
    from metrics.run import RunConfig, run

    cfg = RunConfig(gen=clips / "audio", ref=clips / "audio", captions=clips / "captions.csv", id_col="id",
                    protocol=protocol, weights_dir=weights, device=device, cache_dir=cache, bootstrap=0,
                    fd_bootstrap=0, progress=False, seconds_total=seconds)
    started = time.perf_counter()
    results = run(cfg, strict=False)
    return time.perf_counter() - started, results


def protocol_throughput(params: dict, scale: Scale, device: str, work: Path, box_s: float) -> dict[str, Any]:
    """The protocol's whole run (every metric; the reference side is the same files, read from the cache) on two
    set sizes: the per-clip cost from their difference, the fixed cost (loading evaluators) apart."""
    protocol = params["protocol"]
    weights = _weights(work, protocol)
    small, large = scale.protocol_clips
    timings, results = {}, {}
    for n in (small, large):
        clips = _clips(work, n, scale.clip_seconds)
        timings[n], results[n] = _evaluate(protocol, clips, scale.clip_seconds, weights, device,
                                           work / f"cache-{protocol}-{n}")
    per_clip = max(0.0, (timings[large] - timings[small]) / (large - small))
    fixed = max(0.0, timings[small] - per_clip * small)
    done = results[large]
    return {"protocol": protocol, "clip_seconds": scale.clip_seconds, "set_sizes": [small, large],
            "run_seconds": [timings[small], timings[large]], "seconds_per_clip": per_clip, "fixed_seconds": fixed,
            f"extrapolated_{MUSICCAPS_CLIPS}_clips_s": fixed + per_clip * MUSICCAPS_CLIPS,
            "metrics_run": sorted(done["metrics"]), "metrics_skipped": done["skipped_metrics"]}


def kad_frames(params: dict, scale: Scale, device: str, work: Path, box_s: float) -> dict[str, Any]:
    """KAD between two sets of ``scale.kad_frames`` Gaussian frames (median bandwidth), as the distance speed suite."""
    import torch

    from metrics.scores.distances import kernel_audio_distance

    rng = np.random.default_rng(0)
    n, dim = scale.kad_frames, scale.kad_dim
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    reference = (rng.standard_normal((n, dim)) @ mix).astype(np.float32)
    evaluated = (rng.standard_normal((n, dim)) @ mix * 1.1 + 0.05).astype(np.float32)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    value = kernel_audio_distance(reference, evaluated, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    out = {"frames": n, "dim": dim, "seconds": time.perf_counter() - started, "kad": value}
    if device == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


def precision_rows(params: dict, scale: Scale, device: str, work: Path, box_s: float) -> dict[str, Any]:
    """benchmarks.precision_study with fp32 against ``params['other']`` (tf32) on the device; its table as text."""
    from benchmarks.precision_study import study, table

    results = study(work / "precision", scale.precision_clips, scale.clip_seconds, 0, list(scale.precision_models),
                    work / "weights", device=device, other=params["other"])
    return {"study": results, "table": table(results)}
