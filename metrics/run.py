"""One evaluation run: check every input (:mod:`metrics.inputs`), run the requested metrics, write one results JSON.

The CLI (``python -m metrics``) parses flags into :class:`RunConfig` and calls :func:`run`; the benchmark
runners call :func:`run` directly. Every metric reads the same files of the run (:func:`metrics.ids.audio_files`):
FD all of them (the protocol's whole folder), the per-id metrics each id's file. A metric that fails while
computing is listed under ``skipped_metrics`` with its reason, and the others' results are kept.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import math
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
from metrics.ids import FileSet, IdError, align_ids, check_id, one_line
from metrics.inputs import METRICS, Inputs, UsageError, check_inputs
from metrics.openl3 import OpenL3Embedder
from metrics.passt import PasstEmbedder
from metrics.pipeline import EmbedResult, embed_files
from metrics.refstats import write_fd_stats, write_kl_probs
from metrics.timing import detect_end

__all__ = ["METRICS", "RunConfig", "UsageError", "MetricError", "run", "warm_cache", "write_results"]


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


@dataclass
class Items:
    """The evaluated ids and their generated files."""

    ids: list[str]
    gen: dict[str, str]  # id -> generated file
    problems: dict[str, str]  # id -> why it has no file


def collect_items(files: FileSet, ids: list[str]) -> Items:
    """Each id's file among the files of the run (:func:`metrics.ids.audio_files`), or why it has none."""
    gen, problems = {}, {}
    for i in ids:
        try:
            check_id(i)
        except IdError as exc:
            problems[i] = str(exc)
            continue
        if i in files.files:
            gen[i] = str(files.files[i])
        else:
            problems[i] = files.refused.get(i, f"no audio file named {i}.<audio extension> in {files.folder}")
    return Items(ids, gen, problems)


def default_workers(cfg: RunConfig) -> int:
    """On CPU the models saturate the cores and worker processes only add start-up and contention (measured in
    benchmarks/test_metrics_speed.py); on an accelerator decoding is the bottleneck, so use the cores."""
    if cfg.workers is not None:
        return cfg.workers
    return 0 if cfg.device == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))


class Runner:
    """The metrics of one run over checked :class:`~metrics.inputs.Inputs`; each method returns a result dict or
    raises (too few frames, corrupt weights, no scorable id, ...)."""

    def __init__(self, cfg: RunConfig, inputs: Inputs, shard: tuple[int, int] | None = None):
        self.cfg = cfg
        self.inputs = inputs
        self.items = collect_items(inputs.gen, inputs.ids)
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

    def _save_ref(self, name: str, write: Callable[[Path], None]) -> None:
        if self.cfg.save_ref_stats is not None and self.shard is None:
            write(self.cfg.save_ref_stats / name)

    # --- metrics ----------------------------------------------------------------------------------------------
    def fd(self) -> dict[str, Any]:
        cfg, inputs = self.cfg, self.inputs
        name = f"openl3-mel256-{cfg.openl3_content}"
        embedder = OpenL3Embedder(inputs.weights[name], cfg.device, cfg.batch_size, content_type=cfg.openl3_content)
        if inputs.fd_ref is not None:
            mu_ref, sigma_ref = inputs.fd_ref
        else:
            ref = self.embed(embedder, inputs.ref.paths(), "fd-reference").outputs
            if len(ref) == 0:
                raise UsageError(f"FD: no reference file in {cfg.ref} could be embedded")
            stats = gaussian_stats([ref[k] for k in sorted(ref)])
            mu_ref, sigma_ref = stats.mean, stats.cov
            self._save_ref(f"fd_{embedder.name}.npz", lambda p: write_fd_stats(p, mu_ref, sigma_ref))
        gen = self.embed(embedder, inputs.gen.paths(), "fd").outputs
        result = fd_result(gen, mu_ref, sigma_ref, n_boot=cfg.fd_bootstrap, seed=cfg.seed)
        return {**result, "model": embedder.name, "settings": embedder.settings()}

    def kl(self) -> dict[str, Any]:
        cfg, inputs, items = self.cfg, self.inputs, self.items
        embedder = PasstEmbedder(inputs.weights["passt-s-swa-ap476"], cfg.device, cfg.batch_size)
        if inputs.kl_ref is not None:
            ref_probs, ref_problems = align_ids(inputs.kl_ref, items.ids)
        else:
            ref_items = collect_items(inputs.ref, items.ids)
            out = self.embed(embedder, list(ref_items.gen.values()), "kl-reference").outputs
            ref_probs = {i: out[p] for i, p in ref_items.gen.items() if p in out}
            ref_problems = {i: f"reference: {why}" for i, why in ref_items.problems.items()}
            self._save_ref("kl_passt_reference_probabilities.pkl", lambda p: write_kl_probs(p, ref_probs))
        out = self.embed(embedder, list(items.gen.values()), "kl").outputs
        gen_probs = {i: out[p] for i, p in items.gen.items() if p in out}
        result = kl_result(gen_probs, ref_probs, items.ids, exclude=inputs.exclude, ref_problems=ref_problems,
                           n_boot=cfg.bootstrap, seed=cfg.seed)
        return {**result, "model": embedder.name, "settings": embedder.settings()}

    def clap(self) -> dict[str, Any]:
        cfg, inputs, items = self.cfg, self.inputs, self.items
        embedder = ClapEmbedder(inputs.weights[CHECKPOINTS[cfg.clap_checkpoint].weights], cfg.device,
                                cfg.batch_size, checkpoint=cfg.clap_checkpoint,
                                roberta_dir=inputs.weights["roberta-base"], seed=cfg.seed)
        out = self.embed(embedder, list(items.gen.values()), "clap").outputs
        audio = {i: out[p] for i, p in items.gen.items() if p in out}
        ids = [i for i in items.ids if i in inputs.captions]
        text_emb = dict(zip(ids, embedder.embed_text([inputs.captions[i] for i in ids])))
        result = clap_result(audio, text_emb, ids, n_boot=cfg.bootstrap, seed=cfg.seed)
        return {**result, "model": embedder.name, "settings": embedder.settings()}

    def timing(self) -> dict[str, Any]:
        detected = {}
        for i, path in self.items.gen.items():
            try:
                audio = read_audio(path)
            except AudioError as exc:
                self.skipped_files.append({"metric": "timing", "file": path, "reason": str(exc)})
                continue
            detected[i] = detect_end(audio.samples, audio.sample_rate)
        return timing_result(detected, self.inputs.requested, self.items.ids, n_boot=self.cfg.bootstrap,
                             seed=self.cfg.seed)

    def call(self, metric: str) -> dict[str, Any]:
        """Run one metric; raises if it cannot give a value (no file or id could be scored)."""
        result = getattr(self, metric)()
        left_out = result.get("left_out", {})
        for i, why in left_out.items():  # say why an id has no generated file
            if why == "no generated output" and i in self.items.problems:
                left_out[i] = f"no generated output: {self.items.problems[i]}"
        if result.get("value") is None or result.get("n", result.get("n_files")) == 0:
            raise NoResult(f"{metric}: no id could be scored ({_reasons(result.get('left_out', {}))})")
        return result


class NoResult(ValueError):
    """A metric ran but had nothing to score."""


def _reasons(left_out: dict[str, str], shown: int = 3) -> str:
    counts = collections.Counter(left_out.values()).most_common()
    if not counts:
        return "no ids"
    text = "; ".join(f"{n} x {why}" for why, n in counts[:shown])
    return text + (f"; {len(counts) - shown} other reasons" if len(counts) > shown else "")


def warm_cache(cfg: RunConfig, rank: int, world: int) -> None:
    """Multi-process evaluation: embed this rank's share (every ``world``-th file) of every metric's inputs into the
    shared cache, so that the full run that follows on one rank only reads cached outputs. The partial aggregates
    computed on the way are discarded."""
    if cfg.cache_dir is None:
        raise UsageError("sharded evaluation needs a cache folder shared by all ranks")
    inputs = check_inputs(cfg)
    runner = Runner(cfg, inputs, shard=(rank, world))
    for name in cfg.metrics:
        if name in inputs.unavailable:
            continue
        try:
            runner.call(name)
        except Exception:  # noqa: BLE001  the full run reports why a metric fails; a small share may have too few items
            pass


def run(cfg: RunConfig, strict: bool) -> dict[str, Any]:
    """Check every input (:func:`metrics.inputs.check_inputs`), then run ``cfg.metrics``.

    ``strict``: a metric that cannot run or fails raises (one line). Otherwise it is listed under
    ``skipped_metrics`` with its reason and the others' results are kept.
    """
    inputs = check_inputs(cfg)
    if strict and inputs.unavailable:
        raise UsageError(next(iter(inputs.unavailable.values())))
    runner = Runner(cfg, inputs)
    results: dict[str, Any] = {}
    skipped_metrics: dict[str, str] = dict(inputs.unavailable)
    for name in cfg.metrics:
        if name in skipped_metrics:
            continue
        try:
            results[name] = runner.call(name)
        except Exception as exc:  # noqa: BLE001  one metric's failure must not lose the others' finished work
            if strict:
                raise MetricError(f"{name}: {one_line(exc)}") from exc
            skipped_metrics[name] = f"{type(exc).__name__}: {one_line(exc)}"
    folders = [inputs.gen] + ([inputs.ref] if inputs.ref is not None else [])
    input_problems = [{"metric": "input", "file": f, "reason": why} for fs in folders for f, why in fs.problems.items()]
    return {
        "tool": "sa-bench metrics", "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv, "environment": environment(cfg.device),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "metrics": results, "skipped_metrics": skipped_metrics,
        "ids": {"n": len(runner.items.ids), "with_audio": len(runner.items.gen),
                "without_audio": runner.items.problems},
        "skipped_files": input_problems + runner.skipped_files,
    }


class MetricError(RuntimeError):
    """A single requested metric failed while computing; the CLI prints it as one line and exits 2."""


def environment(device: str) -> dict[str, str]:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "platform": platform.platform(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Atomic JSON write, always valid JSON: non-finite numbers (e.g. a CI over one item) become null."""
    text = json.dumps(_finite(results), indent=2, allow_nan=False)
    atomic_write_bytes(path, text.encode())


def _finite(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values, paths as str, and NaN/inf as None."""
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_finite(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
