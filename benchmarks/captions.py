"""Caption-set benchmarks (MusicCaps, AudioCaps, Song Describer) with the protocol's id handling.

``python -m benchmarks.musiccaps --ckpt DIR --out runs/mc [--limit 8]`` (and ``benchmarks.audiocaps``,
``benchmarks.songdescriber``): one file per prompt generated from ``--ckpt`` (ours or the
stable-audio-open-1.0 layout) with the settings below, or ``--gen-dir`` of audio from any model; then FD_openl3 /
KL_passt / CLAP / timing as stable-audio-metrics computes them:

* prompts: ``--captions CSV``, by default MusicCaps' ``musiccaps-public.csv`` / AudioCaps' ``audiocaps-test.csv`` as
  ``python -m benchmarks.data_files download musiccaps audiocaps-test`` stored them (sha256-checked), and Song
  Describer's ``song_describer.csv``, which ships in ``benchmarks/data`` (sources and licences in its README.md);
* ids: MusicCaps ``ytid``, AudioCaps ``audiocap_id``, Song Describer ``caption_id``; the no-singing subsets are
  their own CSVs;
* KL leaves out the unavailable ids (MusicCaps: a ytid list; AudioCaps: YouTube ids, mapped to their audiocap_ids);
* FD uses every generated file of the run (the protocol's folder glob) against reference statistics
  (``--ref-stats X.npz``) or reference audio (``--ref DIR``);
* generated audio is trimmed to ``seconds_total`` (10 s for MusicCaps and AudioCaps, 47 s for Song Describer, as the
  Stable Audio Open paper reports them) for FD/KL/CLAP; the whole window is kept in ``window/<id>.flac`` and the
  timing metric reads that, so it can see audio that runs past the request (``--gen-dir`` audio is used as given).

``--seconds-total`` must lie in (0, the checkpoint's window]; ``--limit`` and ``--batch-size`` are >= 1.

Under ``torchrun --nproc-per-node N`` every rank generates every N-th prompt; rank 0 evaluates after all finish.
Each run appends one row to ``--results-table`` (JSON lines).
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import data_files
from benchmarks.runner import (Prompt, add_generation_arguments, benchmark_config, check_prompts, check_run_folder,
                               fmt, generate_missing, run_benchmark, run_dirs, run_outputs, sampler_for,
                               window_seconds, write_prompts)
from metrics.protocols import DEFAULT_PROTOCOL, EMBEDDING_MODELS, PROTOCOLS
from metrics.run import warm_cache
from sa_core.generate import SamplerConfig
from sa_util.cli import ArgumentParser, guarded, positive_int
from sa_util.ids import IdError, check_id, read_id_list, read_table
from sa_util.paths import check_apart, check_file_target


DATA = Path(__file__).parent / "data"  # the shipped prompt lists (package data)


@dataclass(frozen=True)
class CaptionSet:
    name: str
    id_col: str
    seconds_total: float
    openl3_content: str  # protocol: music for music sets, env for AudioCaps
    captions: Path | str  # the shipped caption CSV, or the benchmarks.data_files entry a user downloads
    group_col: str | None = None  # the column the unavailable list names, when it is not the id


DATASETS: dict[str, CaptionSet] = {
    "musiccaps": CaptionSet("musiccaps", "ytid", 10.0, "music", "musiccaps"),  # musiccaps-public.csv
    "audiocaps": CaptionSet("audiocaps", "audiocap_id", 10.0, "env", "audiocaps-test",  # audiocaps-test.csv
                            group_col="youtube_id"),
    "songdescriber": CaptionSet("songdescriber", "caption_id", 47.0, "music", DATA / "song_describer.csv"),
}


def read_prompts(spec: CaptionSet, csv_path: Path, text_col: str, seconds: float, limit: int | None) -> list[Prompt]:
    """The first ``limit`` rows (all when None) as prompts; IdError naming how many ids cannot be file names."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    captions = read_table(csv_path, spec.id_col, text_col)
    bad = {}
    for i in captions:
        try:
            check_id(i)
        except IdError as exc:
            bad[i] = str(exc)
    if bad:
        first = next(iter(bad))
        raise IdError(f"{csv_path}: {len(bad)} id(s) cannot be file names, e.g. {first[:40]!r}: {bad[first]}")
    return [Prompt(i, c, seconds) for i, c in captions.items()][:limit]


def excluded_ids(spec: CaptionSet, csv_path: Path, unavailable: Path | None, out: Path) -> Path | None:
    """The unavailable list as ids of this set (AudioCaps: YouTube ids -> audiocap_ids), written into the run."""
    if unavailable is None:
        return None
    names = read_id_list(unavailable)
    if spec.group_col:
        groups = read_table(csv_path, spec.id_col, spec.group_col)
        names = {i for i, g in groups.items() if g in names}
    path = out / "excluded_ids.txt"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}\n" for i in sorted(names)))
    return path


def shard_work(args: argparse.Namespace, spec: CaptionSet, prompts: list[Prompt], sampler: SamplerConfig,
               metrics_cfg: dict[str, Any], rank: int, world: int) -> bool:
    """This rank's share of generation and embedding under torchrun; True on ranks other than 0 (they are done)."""
    import torch.distributed as dist

    dist.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
    device = f"cuda:{int(os.environ['LOCAL_RANK'])}" if args.device.startswith("cuda") else args.device
    audio_dir, window_dir = run_dirs(args.out, trim=True)
    audio_dir = args.gen_dir or audio_dir
    if args.ckpt:
        generate_missing(args.ckpt, prompts[rank::world], audio_dir, sampler, args.seed, args.batch_size, device,
                         progress=not args.no_progress and rank == 0, text_path=args.text_path,
                         window_dir=window_dir)
    dist.barrier()  # every file exists before anyone embeds
    if rank == 0:
        write_prompts(args.out / "prompts.csv", prompts)
    dist.barrier()
    warm_cache(benchmark_config(args.out, audio_dir, device, False, metrics_cfg), rank, world)
    dist.barrier()
    dist.destroy_process_group()
    return rank != 0


def append_row(table: Path, results: dict[str, Any]) -> None:
    """One JSON line per run: what ran, on what, with which settings, and every metric with its CI. ``results`` as
    :func:`run_benchmark` returns them (read back from results.json, so no NaN reaches the table)."""
    row = {k: results.get(k) for k in ("benchmark", "created", "git_commit", "checkpoint", "checkpoint_sha256",
                                       "sampler", "seed", "environment")}
    row["run"] = results["settings"]["gen"]
    row["metrics"] = {m: {k: v for k, v in r.items() if k not in ("per_item", "left_out")}
                      for m, r in results["metrics"].items()}
    row["skipped_metrics"] = results["skipped_metrics"]
    table.parent.mkdir(parents=True, exist_ok=True)
    with open(table, "a") as f:
        f.write(json.dumps(row, default=str, allow_nan=False) + "\n")


def parser(dataset: str) -> ArgumentParser:
    spec = DATASETS[dataset]
    p = ArgumentParser(prog=f"python -m benchmarks.{dataset}", description=__doc__.splitlines()[0])
    p.add_argument("--captions", type=Path, help="the dataset's caption CSV (default: " + (
        f"the shipped {spec.captions.name})" if isinstance(spec.captions, Path) else
        f"the copy `python -m benchmarks.data_files download {spec.captions}` stores)"))
    p.add_argument("--text-col", default="caption")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", type=Path, help="generate with this checkpoint (ours or stable-audio-open-1.0)")
    src.add_argument("--gen-dir", type=Path, help="evaluate audio from any model: <id>.wav per prompt")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limit", type=positive_int, help="first N prompts (quick runs)")
    p.add_argument("--seconds-total", type=float, default=spec.seconds_total,
                   help="in (0, the checkpoint's window]")
    p.add_argument("--unavailable", type=Path, help="ids (AudioCaps: YouTube ids) the protocol leaves out of KL")
    p.add_argument("--ref", type=Path, help="reference audio folder")
    p.add_argument("--ref-stats", type=Path, action="append", default=[], help=".npz (FD) / .pkl (KL)")
    p.add_argument("--weights-dir", type=Path)
    p.add_argument("--protocol", choices=list(PROTOCOLS), default=DEFAULT_PROTOCOL,
                   help="metrics of one paper or tool (metrics.protocols); the report sets them beside its numbers")
    p.add_argument("--model", choices=list(EMBEDDING_MODELS), help="embedding of the embedding distances, by hand")
    p.add_argument("--results-table", type=Path, default=Path("runs/results.jsonl"))
    add_generation_arguments(p)
    return p


@guarded
def main(dataset: str, argv: list[str] | None = None) -> int:
    spec = DATASETS[dataset]
    args = parser(dataset).parse_args(argv)
    # every check before anything is written or a model loads
    if args.captions is None:
        args.captions = spec.captions if isinstance(spec.captions, Path) else data_files.stored(spec.captions)
    sampler = sampler_for(args, args.ckpt)
    prompts = read_prompts(spec, args.captions, args.text_col, args.seconds_total, args.limit)
    check_prompts(prompts, window_seconds(args.ckpt) if args.ckpt else None)
    read = [("--captions", args.captions), ("--unavailable", args.unavailable)]
    check_run_folder(args.out, read)
    check_file_target(args.results_table, "--results-table")
    check_apart({"--results-table": args.results_table}, [*read, *run_outputs(args.out).items()])
    excluded = excluded_ids(spec, args.captions, args.unavailable, args.out)
    metrics_cfg = {"ref": args.ref, "ref_stats": args.ref_stats, "weights_dir": args.weights_dir,
                   "exclude_ids": excluded, "openl3_content": spec.openl3_content, "protocol": args.protocol,
                   "model": args.model}
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world > 1:  # each rank generates and embeds every world-th item; rank 0 then evaluates from the cache
        if shard_work(args, spec, prompts, sampler, metrics_cfg, rank, world):
            return 0
    results = run_benchmark(dataset, prompts, args.out, ckpt=args.ckpt, gen_dir=args.gen_dir, sampler=sampler,
                            seed=args.seed, batch_size=args.batch_size, device=args.device,
                            metrics_cfg=metrics_cfg, progress=not args.no_progress, text_path=args.text_path,
                            inputs=read)
    append_row(args.results_table, results)
    for name, res in results["metrics"].items():
        print(f"{name}: {fmt(res.get('value'), '.4g')} (n={res.get('n', res.get('n_files'))})")
    for name, why in results["skipped_metrics"].items():
        print(f"{name}: skipped: {why}")
    print(f"report: {args.out / 'report.html'}")
    return 0
