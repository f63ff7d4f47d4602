"""The shared benchmark job: prompts -> generated audio (resumable) -> metrics -> results.json + report.

Every dataset runner (``benchmarks.synthcaps``; MusicCaps/AudioCaps use the same path) builds a list of
:class:`Prompt` rows and calls :func:`run_benchmark`. A run folder holds ``prompts.csv``, ``audio/<id>.wav``,
``results.json``, ``items.csv`` and ``report.html``; a rerun keeps every file already generated.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from metrics.cache import file_sha256
from metrics.ids import check_id
from metrics.run import RunConfig, run, write_results
from sa_core.generate import SamplerConfig, generate, write_wav


@dataclass(frozen=True)
class Prompt:
    id: str
    caption: str
    seconds_total: float


def add_generation_arguments(p: argparse.ArgumentParser) -> None:
    """The sampling and device flags every generating benchmark takes (defaults: ``SamplerConfig``)."""
    d = SamplerConfig()
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--cfg-scale", type=float, default=d.cfg_scale)
    p.add_argument("--sampler", default=d.sampler)
    p.add_argument("--sigma-min", type=float, default=d.sigma_min)
    p.add_argument("--sigma-max", type=float, default=d.sigma_max)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--text-path", help="local text-encoder files (T5 folder for stable-audio-open-1.0 checkpoints)")


def sampler_from_args(args: argparse.Namespace) -> SamplerConfig:
    return SamplerConfig(steps=args.steps, cfg_scale=args.cfg_scale, sampler=args.sampler,
                         sigma_min=args.sigma_min, sigma_max=args.sigma_max)


def write_prompts(path: Path, prompts: list[Prompt]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "caption", "seconds_total"])
        w.writeheader()
        w.writerows(asdict(p) for p in prompts)


def generate_missing(ckpt: str | Path, prompts: list[Prompt], audio_dir: Path, sampler: SamplerConfig, seed: int,
                     batch_size: int, device: str, progress: bool = True,
                     text_path: str | None = None, trim: bool = True) -> dict[str, Any]:
    """Generate every prompt whose ``<id>.wav`` is missing; returns timing figures. A prompt's noise seed is
    ``seed + crc32(id)``, so its audio does not depend on sharding, ``--limit`` or batch composition. ``trim``: cut
    each file at its ``seconds_total`` (the caption benchmarks' protocol); off, the whole window is kept, so the
    timing metric sees whether the audio really stops."""
    from tqdm import tqdm

    from sa_core.model import load_model

    todo = [(k, p) for k, p in enumerate(prompts) if not (audio_dir / f"{check_id(p.id)}.wav").exists()]
    if not todo:
        return {"generated": 0, "seconds": 0.0, "trimmed_to_seconds_total": trim}
    model = load_model(ckpt, text_path=text_path).to(device)
    started = time.time()
    for start in tqdm(range(0, len(todo), batch_size), disable=not progress, desc="generating", unit="batch"):
        batch = todo[start:start + batch_size]
        audio = generate(model, [p.caption for _, p in batch], [p.seconds_total for _, p in batch],
                         [(seed + zlib.crc32(p.id.encode())) % 2**63 for _, p in batch], sampler, device, trim)
        for (_, p), a in zip(batch, audio):
            write_wav(audio_dir / f"{p.id}.wav", a, model.cfg.sample_rate)
    return {"generated": len(todo), "seconds": time.time() - started, "trimmed_to_seconds_total": trim}


def checkpoint_id(ckpt: str | Path) -> str:
    path = Path(ckpt)
    weights = path / "model.safetensors" if path.is_dir() else path
    return file_sha256(weights)[:16] if weights.is_file() else "unknown"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


DEFAULT_CACHE = Path("~/.cache/sa-bench/embeddings").expanduser()


def benchmark_config(out: Path, audio_dir: Path, device: str, progress: bool,
                     metrics_cfg: dict[str, Any] | None) -> RunConfig:
    """The evaluation settings of a run folder (``prompts.csv`` ids, captions and lengths; the shared cache)."""
    settings = {"cache_dir": DEFAULT_CACHE, **(metrics_cfg or {})}
    return RunConfig(gen=audio_dir, captions=out / "prompts.csv", id_col="id", text_col="caption",
                     seconds_col="seconds_total", device=device, progress=progress, **settings)


def run_benchmark(name: str, prompts: list[Prompt], out: Path, *, ckpt: str | Path | None = None,
                  gen_dir: Path | None = None, sampler: SamplerConfig = SamplerConfig(), seed: int = 0,
                  batch_size: int = 8, device: str = "cpu", metrics_cfg: dict[str, Any] | None = None,
                  extra: Callable[[Path, list[Prompt], dict[str, Any]], dict[str, Any]] | None = None,
                  progress: bool = True, text_path: str | None = None, trim: bool = True) -> dict[str, Any]:
    """Generate (unless ``gen_dir`` holds audio from another model), evaluate, write results and the report.

    ``extra(audio_dir, prompts, metrics)`` returns more metric entries (dataset-specific scores) to merge in.
    """
    out.mkdir(parents=True, exist_ok=True)
    write_prompts(out / "prompts.csv", prompts)
    audio_dir = gen_dir or out / "audio"
    generation = {"source": str(gen_dir)} if gen_dir else generate_missing(
        ckpt, prompts, audio_dir, sampler, seed, batch_size, device, progress, text_path, trim)
    results = run(benchmark_config(out, audio_dir, device, progress, metrics_cfg), strict=False)
    results.update(benchmark=name, checkpoint=str(ckpt) if ckpt else None,
                   checkpoint_sha256=checkpoint_id(ckpt) if ckpt else None, git_commit=git_commit(),
                   sampler=asdict(sampler), seed=seed, generation=generation)
    if extra is not None:
        results["metrics"].update(extra(audio_dir, prompts, results["metrics"]))
    write_results(out / "results.json", results)
    write_item_table(out / "items.csv", results)
    from reports.html import write_report

    write_report([out], out / "report.html")
    return results


def write_item_table(path: Path, results: dict[str, Any]) -> None:
    """One row per id with every per-item score of every metric."""
    rows: dict[str, dict[str, Any]] = {}
    for metric, res in results["metrics"].items():
        for item_id, value in (res.get("per_item") or {}).items():
            row = rows.setdefault(item_id, {"id": item_id})
            if isinstance(value, dict):
                row.update({f"{metric}.{k}": v for k, v in value.items()})
            else:
                row[metric] = value
    columns = ["id"] + sorted({k for r in rows.values() for k in r if k != "id"})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, restval="")
        w.writeheader()
        w.writerows(rows[k] for k in sorted(rows))

