"""The shared benchmark job: prompts -> generated audio (resumable, verified) -> metrics -> results.json + report.

Every dataset runner (``benchmarks.synthcaps``, ``benchmarks.timing``, the caption sets) builds a list of
:class:`Prompt` rows and calls :func:`run_benchmark`. Every prompt is checked before anything is written or any
model loads (file-safe ids, lengths in (0, the model's window]).

A run folder holds ``prompts.csv``, ``audio/<id>.wav``, ``results.json``, ``items.csv`` and ``report.html``.
Runs that trim to ``seconds_total`` (the caption sets' protocol) also keep the whole generated window in
``window/<id>.flac`` (24-bit): FD/KL/CLAP read the trimmed ``audio/`` files as the protocol does, while the timing
metric reads the windows, since a file cut at ``seconds_total`` cannot show that the model runs long. A rerun
reuses an existing file only when it decodes to the model's channels, rate and expected length; anything else (an
interrupted write, an emptied or truncated file, another model's output) is regenerated, and ``results.json``
lists each regenerated id with the reason under ``generation.regenerated``.
"""
from __future__ import annotations

import argparse
import csv
import math
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from metrics.plan import plan
from metrics.run import RunConfig, run, write_results
from sa_core import generate as sa_generate
from sa_core.flow_sampling import FLOW_SAMPLERS
from sa_core.generate import SamplerConfig, SettingsError, check_seconds_total, sampler_from_args
from sa_core.model import read_model_config
from sa_core.sampling import SAMPLERS
from sa_util.cli import positive_int
from sa_util.device import check_device
from sa_util.files import file_sha256
from sa_util.ids import check_id
from sa_util.paths import check_apart, check_folder_target

AUDIO, WINDOW = "audio", "window"  # run-folder subfolders: evaluated audio; whole windows of trimmed runs


@dataclass(frozen=True)
class Prompt:
    id: str
    caption: str
    seconds_total: float


def add_generation_arguments(p: argparse.ArgumentParser) -> None:
    """The sampling and device flags every generating benchmark takes; sampler flags left out take the checkpoint's
    recommended value (``sa_core.generate.recommended_sampler``: DPM-Solver++ for v models, pingpong 8 steps for
    Stable Audio Open Small)."""
    p.add_argument("--steps", type=positive_int)
    p.add_argument("--cfg-scale", type=float)
    p.add_argument("--sampler", choices=[*SAMPLERS, *FLOW_SAMPLERS])
    p.add_argument("--sigma-min", type=float)
    p.add_argument("--sigma-max", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--text-path", help="local text-encoder files (T5 folder for stable-audio-open-1.0 checkpoints)")


def sampler_for(args: argparse.Namespace, ckpt: str | Path | None) -> SamplerConfig:
    """The flags on top of ``ckpt``'s recommended sampler (a v model's when there is no checkpoint to generate
    with); SettingsError (one line) for invalid settings."""
    return sampler_from_args(args, read_model_config(ckpt).objective if ckpt else "v")


def window_seconds(ckpt: str | Path) -> float:
    """The longest ``seconds_total`` the checkpoint can generate (its window), read without loading weights."""
    return read_model_config(ckpt).max_seconds


def check_prompts(prompts: list[Prompt], window_s: float | None) -> None:
    """Raise (IdError / SettingsError, one line) unless the prompts can be generated into one folder: at least one,
    file-safe and distinct ids, lengths in (0, ``window_s``]."""
    if not prompts:
        raise SettingsError("no prompts to run")
    seen: set[str] = set()
    for p in prompts:
        check_id(p.id)
        if p.id in seen:
            raise SettingsError(f"id {p.id!r} appears twice; each prompt needs its own file")
        seen.add(p.id)
    check_seconds_total({p.id: p.seconds_total for p in prompts}, window_s)


RUN_FILES = ("prompts.csv", "results.json", "items.csv", "report.html")  # what a run writes beside audio/ and window/


def check_run_folder(out: Path, inputs: list[tuple[str, Path | None]]) -> None:
    """PathError (one line) unless ``out`` can be a run folder that overwrites none of ``inputs`` (flag, path):
    a folder or none yet, not inside an input folder, and none of the files it writes is an input."""
    check_folder_target(out, "--out")
    check_apart(run_outputs(out), inputs)


def run_outputs(out: Path) -> dict[str, Path]:
    """The run folder and everything a run writes in it, by a name for messages."""
    return {"--out": out, **{f"--out ({name})": out / name for name in (*RUN_FILES, AUDIO, WINDOW)}}


def metric_inputs(metrics_cfg: dict[str, Any] | None) -> list[tuple[str, Path | None]]:
    """The files and folders the evaluation settings of a run read."""
    cfg = metrics_cfg or {}
    named = [(f"--{k.replace('_', '-')}", cfg.get(k)) for k in ("ref", "exclude_ids")]
    return named + [("--ref-stats", p) for p in cfg.get("ref_stats") or ()]


def write_prompts(path: Path, prompts: list[Prompt]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "caption", "seconds_total"])
        w.writeheader()
        w.writerows(asdict(p) for p in prompts)


def run_dirs(out: Path, trim: bool) -> tuple[Path, Path | None]:
    """(evaluated audio folder, whole-window folder or None when the audio is not trimmed) of a run folder."""
    return out / AUDIO, (out / WINDOW if trim else None)


def generate_missing(ckpt: str | Path, prompts: list[Prompt], audio_dir: Path, sampler: SamplerConfig, seed: int,
                     batch_size: int, device: str, progress: bool = True, text_path: str | None = None,
                     window_dir: Path | None = None) -> dict[str, Any]:
    """:func:`sa_core.generate.generate_missing` for the prompts of a run: every prompt whose files are missing or
    fail verification is generated. ``window_dir`` None: ``audio_dir/<id>.wav`` is the whole generated window.
    Otherwise ``audio_dir/<id>.wav`` is cut at the prompt's ``seconds_total`` (the caption benchmarks' protocol) and
    ``window_dir/<id>.flac`` keeps the whole window for the timing metric."""
    check_prompts(prompts, window_seconds(ckpt))
    rows = [(p.id, p.caption, p.seconds_total) for p in prompts]
    return sa_generate.generate_missing(ckpt, rows, audio_dir, sampler, seed, batch_size, device,
                                        trim=window_dir is not None, window_dir=window_dir, text_path=text_path,
                                        progress=progress, status=progress)


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


def score_run(cfg: RunConfig, timing_dir: Path) -> dict[str, Any]:
    """``metrics.run.run`` on a run's audio, with the timing metric on ``timing_dir`` (the whole windows of a
    trimmed run) and every other metric on ``cfg.gen``: one results dict, skipped files of both folders."""
    kinds = tuple(dict.fromkeys(spec.kind for spec in plan(cfg)[1]))  # the protocol's own list when none is given
    if timing_dir == cfg.gen or "timing" not in kinds:
        return run(cfg, strict=False)
    timing = run(replace(cfg, gen=timing_dir, metrics=("timing",)), strict=False)
    protocol = tuple(k for k in kinds if k != "timing")
    if not protocol:
        return timing
    results = run(replace(cfg, metrics=protocol), strict=False)
    results["metrics"].update(timing["metrics"])
    results["skipped_metrics"].update(timing["skipped_metrics"])
    results["skipped_files"] += timing["skipped_files"]
    results["settings"]["timing_gen"] = str(timing_dir)
    return results


def _relative(path: Path, out: Path) -> str:
    """``path`` relative to the run folder when inside it (the report finds it wherever the run is moved)."""
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path.resolve())


def run_benchmark(name: str, prompts: list[Prompt], out: Path, *, ckpt: str | Path | None = None,
                  gen_dir: Path | None = None, sampler: SamplerConfig = SamplerConfig(), seed: int = 0,
                  batch_size: int = 8, device: str = "cpu", metrics_cfg: dict[str, Any] | None = None,
                  extra: Callable[[Path, list[Prompt], dict[str, Any]], dict[str, Any]] | None = None,
                  progress: bool = True, text_path: str | None = None, trim: bool = True,
                  inputs: list[tuple[str, Path | None]] = ()) -> dict[str, Any]:
    """Generate (unless ``gen_dir`` holds audio from another model), evaluate, write results and the report.

    ``trim``: generated files are cut at ``seconds_total`` and the windows kept for timing (see the module doc).
    ``extra(audio_dir, prompts, metrics)`` returns more metric entries (dataset-specific scores) to merge in.
    ``inputs``: (flag, path) of further files the caller read (a captions CSV), which the run must not overwrite.
    Returns the results as written to ``results.json`` (valid JSON: non-finite numbers are null).
    Raises (before writing anything or loading a model) on prompts the checkpoint cannot generate.
    """
    if (ckpt is None) == (gen_dir is None):
        raise SettingsError("give exactly one of a checkpoint to generate with and a folder of generated audio")
    check_device(device)
    check_prompts(prompts, window_seconds(ckpt) if ckpt is not None else None)
    check_run_folder(out, [("--ckpt", Path(ckpt) if ckpt is not None else None), ("--gen-dir", gen_dir),
                           ("--text-path", Path(text_path) if text_path else None), *inputs]
                     + metric_inputs(metrics_cfg))
    out.mkdir(parents=True, exist_ok=True)
    write_prompts(out / "prompts.csv", prompts)
    audio_dir, window_dir = (gen_dir, None) if gen_dir is not None else run_dirs(out, trim)
    generation = {"source": str(gen_dir)} if gen_dir is not None else generate_missing(
        ckpt, prompts, audio_dir, sampler, seed, batch_size, device, progress, text_path, window_dir)
    timing_dir = window_dir or audio_dir
    results = score_run(benchmark_config(out, audio_dir, device, progress, metrics_cfg), timing_dir)
    if extra is not None:
        results["metrics"].update(extra(audio_dir, prompts, results["metrics"]))
    results = write_results(out / "results.json", results, benchmark=name, checkpoint=str(ckpt) if ckpt else None,
                            checkpoint_sha256=checkpoint_id(ckpt) if ckpt else None, git_commit=git_commit(),
                            sampler=asdict(sampler), seed=seed, generation=generation,
                            audio={"evaluated": _relative(audio_dir, out), "timing": _relative(timing_dir, out)})
    write_item_table(out / "items.csv", results)
    from reports.html import write_report

    write_report([out], out / "report.html")
    return results


def fmt(value: Any, spec: str = ".3f") -> str:
    """A summary number, or "n/a" when a metric had no valid item (None) or is not finite."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "n/a"
    return format(value, spec)


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

