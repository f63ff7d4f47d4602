"""One evaluation run: resolve inputs and weights, run the requested metrics, write one results JSON.

The CLI (``python -m metrics``) parses flags into :class:`RunConfig` and calls :func:`run`; the benchmark
runners call :func:`run` directly.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from metrics.audio import AudioError, read_audio
from metrics.cache import EmbeddingCache, atomic_write_bytes
from metrics.clap import CHECKPOINTS, ClapEmbedder
from metrics.embedder import Embedder
from metrics.evaluate import clap_result, fd_result, gaussian_stats, kl_result, timing_result
from metrics.ids import IdError, id_path, read_id_list, read_table
from metrics.openl3 import OpenL3Embedder
from metrics.passt import PasstEmbedder
from metrics.pipeline import EmbedResult, embed_files, paths_in
from metrics.refstats import read_fd_stats, read_kl_probs, write_fd_stats, write_kl_probs
from metrics.timing import detect_end
from metrics.weights import MissingWeights, resolve

METRICS = ("fd", "kl", "clap", "timing")


@dataclass
class RunConfig:
    gen: Path
    metrics: tuple[str, ...] = METRICS
    ref: Path | None = None
    ref_stats: list[Path] = field(default_factory=list)  # .npz (FD) and/or .pkl (KL)
    captions: Path | None = None
    id_col: str = "ytid"
    text_col: str = "caption"
    seconds_col: str | None = None
    seconds_total: float | None = None
    exclude_ids: Path | None = None
    device: str = "cpu"
    batch_size: int = 32
    files_per_batch: int = 8
    workers: int | None = None  # decode processes; None: 0 on CPU (compute-bound), else up to 8
    cache_dir: Path | None = None
    weights_dir: Path | None = None
    openl3_weights: Path | None = None
    passt_weights: Path | None = None
    clap_weights: Path | None = None
    roberta_dir: Path | None = None
    openl3_content: str = "music"
    clap_checkpoint: str = "630k-audioset-fusion"
    seed: int = 0
    bootstrap: int = 1000
    fd_bootstrap: int = 50
    save_ref_stats: Path | None = None
    progress: bool = True


class UsageError(ValueError):
    """Inputs that make a requested metric impossible; the CLI prints it as one line and exits 2."""


@dataclass
class Items:
    """The evaluated ids and their generated files."""

    ids: list[str]
    gen: dict[str, str]  # id -> generated file
    problems: dict[str, str]  # id -> why it has no file


def collect_items(cfg: RunConfig, folder: Path, ids: list[str]) -> Items:
    gen, problems = {}, {}
    for i in ids:
        try:
            path = id_path(folder, i)
        except IdError as exc:
            problems[i] = str(exc)
            continue
        if path is None:
            problems[i] = f"no audio file named {i}.wav/.flac/.ogg/.mp3 in {folder}"
        else:
            gen[i] = str(path)
    return Items(ids, gen, problems)


def _ids(cfg: RunConfig) -> list[str]:
    if cfg.captions:
        return list(read_table(cfg.captions, cfg.id_col, cfg.text_col))
    return [Path(p).stem for p in paths_in(cfg.gen)]


def default_workers(cfg: RunConfig) -> int:
    """On CPU the models saturate the cores and worker processes only add start-up and contention (measured in
    benchmarks/test_metrics_speed.py); on an accelerator decoding is the bottleneck, so use the cores."""
    if cfg.workers is not None:
        return cfg.workers
    return 0 if cfg.device == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))


class Runner:
    def __init__(self, cfg: RunConfig, shard: tuple[int, int] | None = None):
        self.cfg = cfg
        self.cache = EmbeddingCache(cfg.cache_dir)
        self.skipped_files: list[dict[str, str]] = []
        self.shard = shard  # (rank, world): embed only every world-th file (see warm_cache)

    def embed(self, embedder: Embedder, paths: list[str], metric: str) -> EmbedResult:
        if self.shard is not None:
            paths = paths[self.shard[0]::self.shard[1]]
        res = embed_files(embedder, paths, cache=self.cache, workers=default_workers(self.cfg),
                          files_per_batch=self.cfg.files_per_batch, progress=self.cfg.progress)
        self.skipped_files += [{"metric": metric, "file": p, "reason": r} for p, r in sorted(res.skipped.items())]
        return res

    def weights(self, name: str, explicit: Path | None) -> Path:
        return resolve(name, explicit, self.cfg.weights_dir)

    # --- metrics ----------------------------------------------------------------------------------------------
    def fd(self) -> dict[str, Any]:
        cfg = self.cfg
        npz = [p for p in cfg.ref_stats if p.suffix == ".npz"]
        if not npz and cfg.ref is None:
            raise UsageError("FD needs --ref DIR (reference audio) or --ref-stats FILE.npz")
        embedder = OpenL3Embedder(self.weights(f"openl3-mel256-{cfg.openl3_content}", cfg.openl3_weights),
                                  cfg.device, cfg.batch_size, content_type=cfg.openl3_content)
        if npz:
            mu_ref, sigma_ref = read_fd_stats(npz[0])
        else:
            ref = self.embed(embedder, paths_in(cfg.ref), "fd-reference").outputs
            if len(ref) == 0:
                raise UsageError(f"FD: no reference file in {cfg.ref} could be embedded")
            stats = gaussian_stats([ref[k] for k in sorted(ref)])
            mu_ref, sigma_ref = stats.mean, stats.cov
            if cfg.save_ref_stats:
                write_fd_stats(cfg.save_ref_stats / f"fd_{embedder.name}.npz", mu_ref, sigma_ref)
        gen = self.embed(embedder, paths_in(cfg.gen), "fd").outputs
        result = fd_result(gen, mu_ref, sigma_ref, n_boot=cfg.fd_bootstrap, seed=cfg.seed)
        return {**result, "model": embedder.name, "settings": embedder.settings()}

    def kl(self, items: Items) -> dict[str, Any]:
        cfg = self.cfg
        pkl = [p for p in cfg.ref_stats if p.suffix == ".pkl"]
        if not pkl and cfg.ref is None:
            raise UsageError("KL needs --ref DIR (reference audio named <id>.wav) or --ref-stats FILE.pkl")
        embedder = PasstEmbedder(self.weights("passt-s-swa-ap476", cfg.passt_weights), cfg.device, cfg.batch_size)
        if pkl:
            ref_probs = read_kl_probs(pkl[0])
        else:
            ref_items = collect_items(cfg, cfg.ref, items.ids)
            out = self.embed(embedder, list(ref_items.gen.values()), "kl-reference").outputs
            ref_probs = {i: out[p] for i, p in ref_items.gen.items() if p in out}
            if cfg.save_ref_stats:
                write_kl_probs(cfg.save_ref_stats / "kl_passt_reference_probabilities.pkl", ref_probs)
        out = self.embed(embedder, list(items.gen.values()), "kl").outputs
        gen_probs = {i: out[p] for i, p in items.gen.items() if p in out}
        exclude = read_id_list(cfg.exclude_ids) if cfg.exclude_ids else set()
        result = kl_result(gen_probs, ref_probs, items.ids, exclude=exclude, n_boot=cfg.bootstrap, seed=cfg.seed)
        return {**result, "model": embedder.name, "settings": embedder.settings()}

    def clap(self, items: Items) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.captions is None:
            raise UsageError("CLAP needs --captions CSV with --id-col and --text-col")
        texts = read_table(cfg.captions, cfg.id_col, cfg.text_col)
        weights = self.weights(CHECKPOINTS[cfg.clap_checkpoint].weights, cfg.clap_weights)
        roberta = self.weights("roberta-base", cfg.roberta_dir)
        embedder = ClapEmbedder(weights, cfg.device, cfg.batch_size, checkpoint=cfg.clap_checkpoint,
                                roberta_dir=roberta, seed=cfg.seed)
        out = self.embed(embedder, list(items.gen.values()), "clap").outputs
        audio = {i: out[p] for i, p in items.gen.items() if p in out}
        ids = [i for i in items.ids if i in texts]
        text_emb = dict(zip(ids, embedder.embed_text([texts[i] for i in ids])))
        result = clap_result(audio, text_emb, ids, n_boot=cfg.bootstrap, seed=cfg.seed)
        return {**result, "model": embedder.name, "settings": embedder.settings()}

    def timing(self, items: Items) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.seconds_total is not None:
            requested = {i: float(cfg.seconds_total) for i in items.ids}
        elif cfg.seconds_col and cfg.captions:
            requested = {i: float(v) for i, v in read_table(cfg.captions, cfg.id_col, cfg.seconds_col).items()}
        else:
            raise UsageError("timing needs --seconds-total S or --captions CSV with --seconds-col")
        detected = {}
        for i, path in items.gen.items():
            try:
                audio = read_audio(path)
            except AudioError as exc:
                self.skipped_files.append({"metric": "timing", "file": path, "reason": str(exc)})
                continue
            detected[i] = detect_end(audio.samples, audio.sample_rate)
        return timing_result(detected, requested, items.ids, n_boot=cfg.bootstrap, seed=cfg.seed)


def metric_calls(runner: Runner, items: Items) -> dict[str, Callable[[], dict[str, Any]]]:
    return {"fd": runner.fd, "kl": lambda: runner.kl(items), "clap": lambda: runner.clap(items),
            "timing": lambda: runner.timing(items)}


def warm_cache(cfg: RunConfig, rank: int, world: int) -> None:
    """Multi-process evaluation: embed this rank's share (every ``world``-th file) of every metric's inputs into the
    shared cache, so that the full run that follows on one rank only reads cached outputs. The partial aggregates
    computed on the way are discarded."""
    if cfg.cache_dir is None:
        raise UsageError("sharded evaluation needs a cache folder shared by all ranks")
    runner = Runner(cfg, shard=(rank, world))
    calls = metric_calls(runner, collect_items(cfg, cfg.gen, _ids(cfg)))
    for name in cfg.metrics:
        try:
            calls[name]()
        except (UsageError, MissingWeights, ValueError):
            pass  # the full run reports why a metric cannot run; too few items in a share is expected here


def run(cfg: RunConfig, strict: bool) -> dict[str, Any]:
    """Run ``cfg.metrics``. ``strict``: a metric that cannot run raises; otherwise it is listed as skipped."""
    if not cfg.gen.is_dir():
        raise UsageError(f"--gen {cfg.gen} is not a folder")
    for p in cfg.ref_stats:
        if p.suffix not in (".npz", ".pkl") or not p.is_file():
            raise UsageError(f"--ref-stats {p}: expected an existing .npz (FD) or .pkl (KL) file")
    if cfg.clap_checkpoint not in CHECKPOINTS:
        raise UsageError(f"--clap-checkpoint must be one of {list(CHECKPOINTS)}")
    if cfg.save_ref_stats:
        cfg.save_ref_stats.mkdir(parents=True, exist_ok=True)
    runner = Runner(cfg)
    items = collect_items(cfg, cfg.gen, _ids(cfg))
    calls = metric_calls(runner, items)
    results: dict[str, Any] = {}
    skipped_metrics: dict[str, str] = {}
    for name in cfg.metrics:
        try:
            results[name] = calls[name]()
        except (UsageError, MissingWeights) as exc:
            if strict:
                raise
            skipped_metrics[name] = str(exc)
    return {
        "tool": "sa-bench metrics", "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv, "environment": environment(cfg.device),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "metrics": results, "skipped_metrics": skipped_metrics,
        "ids": {"n": len(items.ids), "with_audio": len(items.gen), "without_audio": items.problems},
        "skipped_files": runner.skipped_files,
    }


def environment(device: str) -> dict[str, str]:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "platform": platform.platform(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Atomic JSON write; non-finite floats (e.g. a CI over one item) become null."""
    atomic_write_bytes(path, json.dumps(_finite(results), indent=2, default=_json_default).encode())


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
