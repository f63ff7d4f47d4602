"""One evaluation run: check every input (:mod:`metrics.inputs`), run the requested metrics, write one results JSON.

The CLI (``python -m metrics``) parses flags into :class:`RunConfig` and calls :func:`run`; the benchmark
runners call :func:`run` directly. Every metric reads the same files of the run (:func:`sa_util.ids.audio_files`):
FD all of them (the protocol's whole folder), the per-id metrics each id's file. A metric that fails while
computing is listed under ``skipped_metrics`` with its reason, and the others' results are kept.
"""
from __future__ import annotations

import collections
import datetime as dt
import gc
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from metrics.embedding import embedding_record
from metrics.embedding.cache import EmbeddingCache
from metrics.embedding.compiled import COMPILE_MEASURED
from metrics.scores.distances import (fad_inf, inception_score, kernel_audio_distance, kl_audioldm, kl_divergence,
                                      median_pairwise_distance, per_item_fd)
from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders import CLAP_MODELS, build, clap_name
from metrics.embedding.pipeline import EmbedResult, embed_files
from metrics.files.refstats import write_fd_stats, write_kl_probs
from metrics.inputs import METRICS, Inputs, check_inputs, output_part
from metrics.plan import RunConfig, UsageError
from metrics.protocols import MetricSpec
from metrics.scores.evaluate import (_mean_result, clap_result, fd_result, gaussian_stats, kl_result,
                                     segment_kl_result, timing_result)
from metrics.scores.pam import pam_file_score
from metrics.scores.mauve import MauveSettings, mad, max_pool, num_buckets
from metrics.scores.stats import set_bootstrap
from metrics.scores.timing import detect_end
from sa_util import strict_json
from sa_util.audio import AudioError, read_audio
from sa_util.cli import one_line
from sa_util.files import atomic_write_bytes
from sa_util.ids import FileSet, IdError, align_ids, check_id

__all__ = ["METRICS", "RunConfig", "UsageError", "MetricError", "run", "warm_cache", "write_results"]


@dataclass
class Items:
    """The evaluated ids and their generated files."""

    ids: list[str]
    gen: dict[str, str]  # id -> generated file
    problems: dict[str, str]  # id -> why it has no file


def collect_items(files: FileSet, ids: list[str]) -> Items:
    """Each id's file among the files of the run (:func:`sa_util.ids.audio_files`), or why it has none."""
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
    benchmarks/speed/test_metrics_speed.py); on an accelerator decoding is the bottleneck, so use the cores."""
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
        self._embedders: dict[tuple[str | None, Any], Embedder] = {}
        self._outputs: dict[int, tuple[dict[str, np.ndarray], set[str]]] = {}
        self.dims: dict[str, int] = {}  # metric key -> width of the embedder output part it read
        self.shard = shard  # (rank, world): embed only every world-th file (see warm_cache)
        self.digests: dict[str, str] = {}  # path -> sha256 of every file embedded (its cache entry)

    def embed(self, embedder: Embedder, paths: list[str], metric: str) -> EmbedResult:
        if self.shard is not None:
            paths = paths[self.shard[0]::self.shard[1]]
        res = embed_files(embedder, paths, cache=self.cache, workers=default_workers(self.cfg),
                          files_per_batch=self.cfg.files_per_batch, progress=self.cfg.progress)
        self.skipped_files += [{"metric": metric, "file": p, "reason": r} for p, r in sorted(res.skipped.items())]
        self.digests.update(res.digests)
        return res

    def _save_ref(self, name: str, write: Callable[[Path], None]) -> None:
        if self.cfg.save_ref_stats is not None and self.shard is None:
            write(self.cfg.save_ref_stats / name)

    # --- embeddings: one forward pass per file per embedder in a run ------------------------------------------
    def embedder(self, spec: MetricSpec) -> Embedder:
        """The run's embedder for ``spec`` (shared by every metric with the same model and options), its network
        loaded at once, so weights that do not load fail here, naming the file, and never as "model failed" on
        every audio file."""
        key = embedder_key(spec)
        if key not in self._embedders:
            main, files = self.inputs.embedder_weights[spec.key]
            extra: dict[str, Any] = dict(files)
            if spec.model in CLAP_MODELS:  # the seed of their crops of long audio
                extra["seed"] = self.cfg.seed
            emb = build(spec.model, main, self.cfg.device, self.cfg.batch_size, **spec.embedder_options(), **extra)
            emb.precision = self.cfg.precision
            emb.compiled = self.cfg.compile and spec.model in COMPILE_MEASURED
            try:
                emb.load()
            except Exception as exc:
                raise WeightsError(f"{main}: the {spec.model} network does not load from it "
                                   f"({one_line(exc, 300)})") from exc
            self._embedders[key] = emb
        return self._embedders[key]

    def release(self, spec: MetricSpec) -> None:
        """Drop ``spec``'s embedder and its outputs (no later metric reads them), so evaluators are held one at a
        time where the run allows it."""
        emb = self._embedders.pop(embedder_key(spec), None)
        if emb is not None:
            self._outputs.pop(id(emb), None)
            gc.collect()

    def outputs(self, spec: MetricSpec, paths: list[str], label: str) -> dict[str, np.ndarray]:
        """``{path: output}`` of ``spec``'s embedder (the part named by its ``output`` option), each file embedded at
        most once per run whatever the number of metrics reading it."""
        emb = self.embedder(spec)
        done, failed = self._outputs.setdefault(id(emb), ({}, set()))
        todo = [p for p in paths if p not in done and p not in failed]
        if todo:
            res = self.embed(emb, todo, label)
            done.update(res.outputs)
            failed.update(res.skipped)
        part = output_part(spec)
        out = {p: done[p][..., part] for p in paths if p in done}
        for p, v in out.items():  # a model that gives another width than its registry entry states is a bug
            if v.shape[-1] != part.stop - part.start:
                raise RuntimeError(f"{spec.key}: {emb.name} gave {done[p].shape[-1]} values per frame for {p}; "
                                   f"its '{spec.output}' part is [{part.start}:{part.stop}]")
            self.dims[spec.key] = v.shape[-1]
        return out

    def frames(self, spec: MetricSpec, paths: list[str], label: str) -> dict[str, np.ndarray]:
        """``{path: [n, D]}``: a one-vector-per-file embedder (PANNs, CLAP) gives one frame per file."""
        return {p: np.atleast_2d(v) for p, v in self.outputs(spec, paths, label).items()}

    def ref_frames(self, spec: MetricSpec) -> list[np.ndarray]:
        out = self.frames(spec, self.inputs.ref.paths(), f"{spec.key}-reference")
        if not out:
            raise UsageError(f"{spec.key}: no reference file in {self.cfg.ref} could be embedded")
        return [out[k] for k in sorted(out)]

    def ref_gaussian(self, spec: MetricSpec) -> tuple[np.ndarray, np.ndarray]:
        if spec.key in self.inputs.fd_ref:
            return self.inputs.fd_ref[spec.key]
        stats = gaussian_stats(self.ref_frames(spec))
        mu, sigma = stats.mean, stats.cov
        name = self.embedder(spec).name
        self._save_ref(f"fd_{name}.npz", lambda p: write_fd_stats(p, mu, sigma))
        return mu, sigma

    def gen_by_id(self, spec: MetricSpec, label: str) -> dict[str, np.ndarray]:
        out = self.outputs(spec, list(self.items.gen.values()), label)
        return {i: out[p] for i, p in self.items.gen.items() if p in out}

    def ref_by_id(self, spec: MetricSpec) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        ref_items = collect_items(self.inputs.ref, self.items.ids)
        out = self.outputs(spec, list(ref_items.gen.values()), f"{spec.key}-reference")
        return ({i: out[p] for i, p in ref_items.gen.items() if p in out},
                {i: f"reference: {why}" for i, why in ref_items.problems.items()})

    def described(self, spec: MetricSpec, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with the metric's label, embedder and every setting (protocol's and embedder's)."""
        extra: dict[str, Any] = {"label": spec.label, "protocol_metric": spec.settings()}
        if spec.model is not None:
            emb = self.embedder(spec)
            extra.update(model=emb.name, settings=emb.settings(), compiled=emb.compiled, output=spec.output,
                         dim=self.dims.get(spec.key))
            if (checkpoint := clap_name(spec.model, spec.embedder_options())) is not None:
                extra["clap_checkpoint"] = checkpoint  # a CLAP figure means nothing without its checkpoint
        if spec.kind in embedding_record.SET_KINDS:
            extra["embeddings"] = self.embedding_record(spec)
        return {**result, **extra}

    def embedding_record(self, spec: MetricSpec) -> dict[str, Any]:
        """Where this set metric's embeddings are (:mod:`metrics.embedding.embedding_record`), for compare and power."""
        emb, root = self.embedder(spec), self.cache.root
        done = self._outputs.get(id(emb), ({}, set()))[0]  # the files embedded (and so cached) in this run
        gen = {i: self.digests[str(p)] for i, p in self.inputs.gen.files.items() if str(p) in done}
        reference: dict[str, Any] | None = None
        if spec.key in self.inputs.fd_ref and root is not None:
            reference = {"gaussian": embedding_record.store_gaussian(root, emb.name, emb.cache_key(),
                                                                     *self.inputs.fd_ref[spec.key])}
        elif spec.kind != "is" and self.inputs.ref is not None:
            reference = {"files": [self.digests[p] for p in self.inputs.ref.paths() if p in done]}
        return embedding_record.record(root, emb.name, emb.cache_key(), output_part(spec), gen, reference)

    def call(self, key: str) -> dict[str, Any]:
        """Run the metric with result key ``key``; raises if it cannot give a value (nothing could be scored)."""
        spec = next(s for s in self.inputs.specs if s.key == key)
        result = self.described(spec, METRIC_FNS[spec.kind](self, spec))
        metric = key
        left_out = result.get("left_out", {})
        for i, why in left_out.items():  # say why an id has no generated file
            if why == "no generated output" and i in self.items.problems:
                left_out[i] = f"no generated output: {self.items.problems[i]}"
        if result.get("value") is None or result.get("n", result.get("n_files")) == 0:
            raise NoResult(f"{metric}: no id could be scored ({_reasons(result.get('left_out', {}))})")
        return result


# --- the metric registry: kind -> function of (runner, spec); no per-model branches -----------------------------
def _concat(frames: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([frames[k] for k in sorted(frames)])


def fd_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    gen = r.frames(spec, r.inputs.gen.paths(), spec.key)
    mu, sigma = r.ref_gaussian(spec)
    return fd_result(gen, mu, sigma, n_boot=r.cfg.fd_bootstrap, seed=r.cfg.seed)


def _file_frames(r: Runner, spec: MetricSpec) -> list[np.ndarray]:
    """The generated files' frame blocks ``[n_i, D]`` in file order (the items a set metric's CI resamples)."""
    gen = r.frames(spec, r.inputs.gen.paths(), spec.key)
    if not gen:
        raise ValueError(f"{spec.key}: no generated file could be embedded")
    return [gen[k] for k in sorted(gen)]


def _set_ci(r: Runner, blocks: list[np.ndarray], value: float, of_frames: Callable[[np.ndarray], float]
            ) -> dict[str, Any]:
    """CI of a set metric ``of_frames(frames [N, D])`` over file-level resamples of ``blocks``."""
    return set_bootstrap(len(blocks), lambda idx: of_frames(np.concatenate([blocks[i] for i in idx])), value,
                         n_boot=r.cfg.fd_bootstrap, seed=r.cfg.seed)


def kad_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    """KAD (kadtk); its bandwidth (the evaluated set's median distance unless the spec fixes one) is held fixed in
    the CI's replicates."""
    o = spec.distance_options()
    blocks = _file_frames(r, spec)
    ref, y = np.concatenate(r.ref_frames(spec)), np.concatenate(blocks)
    bandwidth = o["bandwidth"] if o["bandwidth"] is not None else median_pairwise_distance(y, device=r.cfg.device)

    def kad(frames: np.ndarray) -> float:
        return kernel_audio_distance(ref, frames, bandwidth=bandwidth, kernel=o["kernel"], device=r.cfg.device)

    value = kad(y)
    return {"value": value, **_set_ci(r, blocks, value, kad), "n_files": len(blocks), "n_frames": len(y),
            "n_ref_frames": len(ref), "bandwidth": bandwidth}


def fad_inf_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    """fadtk's FAD-inf (draws with replacement) as ``value``; the extrapolation of draws without replacement (to the
    population FD) as ``value_unbiased`` where the set has enough frames."""
    o = spec.distance_options()
    blocks = _file_frames(r, spec)
    frames, (mu, sigma) = np.concatenate(blocks), r.ref_gaussian(spec)
    kw = dict(seed=o["seed"], steps=o["steps"], min_n=o["min_n"])
    result = {**fad_inf(frames, mu, sigma, replace=o["replace"], **kw), "n_files": len(blocks),
              "value_is": "fadtk score_inf: frames drawn with replacement (parity with fadtk)"}
    result.update(_set_ci(r, blocks, result["value"],
                          lambda f: fad_inf(f, mu, sigma, replace=o["replace"], **kw)["value"]))
    try:
        unbiased = fad_inf(frames, mu, sigma, replace=False, **kw)
        result.update(value_unbiased=unbiased["value"], slope_unbiased=unbiased["slope"], r2_unbiased=unbiased["r2"],
                      value_unbiased_is="frames drawn without replacement: extrapolates to the population FD")
    except ValueError as exc:
        result.update(value_unbiased=None, value_unbiased_is=f"not computed: {one_line(exc)}")
    return result


def fd_per_song_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    gen = {i: np.atleast_2d(v) for i, v in r.gen_by_id(spec, spec.key).items()}
    mu, sigma = r.ref_gaussian(spec)
    per_item = per_item_fd(gen, mu, sigma)
    left_out = {i: ("no generated output" if i not in gen else "fewer than 2 frames")
                for i in r.items.ids if i not in per_item}
    return _mean_result(per_item, left_out, r.cfg.bootstrap, r.cfg.seed)


def _kl_divergence(spec: MetricSpec):  # noqa: ANN202  (gen, ref) -> KL per the spec's direction and activation
    o = spec.distance_options()
    if spec.model == "passt":  # probabilities already
        if o["direction"] == "gen||ref":
            return lambda g, ref: kl_divergence(g, ref, o["eps"])
        return lambda g, ref: kl_divergence(ref, g, o["eps"])  # KL(ref || gen), eps on the generated side
    return lambda g, ref: float(kl_audioldm(g[None], ref[None], o.get("activation", "softmax"), o["eps"])[0])


def kl_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    if r.inputs.kl_ref is not None and spec.model == "passt":
        ref, ref_problems = align_ids(r.inputs.kl_ref, r.items.ids)
    else:
        ref, ref_problems = r.ref_by_id(spec)
        if spec.model == "passt":
            r._save_ref("kl_passt_reference_probabilities.pkl", lambda p: write_kl_probs(p, ref))
    gen = r.gen_by_id(spec, spec.key)
    return kl_result(gen, ref, r.items.ids, exclude=r.inputs.exclude, ref_problems=ref_problems,
                     n_boot=r.cfg.bootstrap, seed=r.cfg.seed, divergence=_kl_divergence(spec))


def segment_kl_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    """audiocraft's KL on per-segment PaSST probabilities (:func:`metrics.scores.evaluate.segment_kl_result`)."""
    o = spec.distance_options()
    ref, ref_problems = r.ref_by_id(spec)
    return segment_kl_result(r.gen_by_id(spec, spec.key), ref, r.items.ids, forward=o["direction"] == "gen||ref",
                             eps=o["eps"], exclude=r.inputs.exclude, ref_problems=ref_problems,
                             n_boot=r.cfg.bootstrap, seed=r.cfg.seed)


def is_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    o = spec.distance_options()
    logits = r.gen_by_id(spec, spec.key)
    ids = [i for i in r.items.ids if i in logits]
    x = np.stack([logits[i] for i in ids])
    score = inception_score(x, splits=o["splits"], seed=o["shuffle_seed"])
    ci = set_bootstrap(len(ids), lambda idx: inception_score(x[idx], splits=o["splits"], seed=o["shuffle_seed"]).mean,
                       score.mean, n_boot=r.cfg.fd_bootstrap, seed=r.cfg.seed)
    return {"value": score.mean, **ci, "std": score.std, "split_scores": list(score.splits), "n": len(ids),
            "left_out": {i: "no generated output" for i in r.items.ids if i not in logits}}


def mad_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    """MAD (mad-metric): -log MAUVE between the generated and the reference files, each file one max-pooled vector;
    the CI resamples the generated files (MAUVE's clustering is redone per replicate)."""
    o = spec.distance_options()
    settings = MauveSettings.from_options(o)
    gen = np.stack([max_pool(b) for b in _file_frames(r, spec)])
    ref = np.stack([max_pool(b) for b in r.ref_frames(spec)])
    value = mad(gen, ref, settings)
    ci = set_bootstrap(len(gen), lambda idx: mad(gen[idx], ref, settings), value, n_boot=r.cfg.fd_bootstrap,
                       seed=r.cfg.seed)
    return {"value": value, **ci, "n_files": len(gen), "n_ref_files": len(ref),
            "num_buckets": num_buckets(len(gen), len(ref), settings.num_buckets)}


def clap_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    audio = r.gen_by_id(spec, spec.key)
    ids = [i for i in r.items.ids if i in r.inputs.captions]
    text_emb = dict(zip(ids, r.embedder(spec).embed_text([r.inputs.captions[i] for i in ids])))
    return clap_result(audio, text_emb, ids, n_boot=r.cfg.bootstrap, seed=r.cfg.seed)


def pam_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    """PAM per generated file (mean over its clips, or its first clip in ``repro`` mode), mean over files, CI."""
    o = spec.distance_options()
    emb = r.embedder(spec)
    audio = r.gen_by_id(spec, spec.key)
    texts = [o["prompt_clean"], o["prompt_noisy"]]  # the score is the first one's probability
    prompts, scale = emb.embed_text(texts), emb.logit_scale()
    per_item = {i: pam_file_score(np.atleast_2d(a)[:1] if o["repro"] else np.atleast_2d(a), prompts, scale)
                for i, a in audio.items()}
    return {**_per_file_mean(r, per_item), "prompts": texts, "logit_scale": scale, "repro": o["repro"]}


def timing_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    detected = {}
    for i, path in r.items.gen.items():
        try:
            audio = read_audio(path)
        except AudioError as exc:
            r.skipped_files.append({"metric": spec.key, "file": path, "reason": str(exc)})
            continue
        detected[i] = detect_end(audio.samples, audio.sample_rate)
    return timing_result(detected, r.inputs.requested, r.items.ids, n_boot=r.cfg.bootstrap, seed=r.cfg.seed)


def aesthetics_metric(r: Runner, spec: MetricSpec) -> dict[str, Any]:
    """One Audiobox Aesthetics axis (the spec's ``output`` part): per file its score, and their mean with a
    bootstrap CI (TTA-Bench-tools averages the files' scores per axis)."""
    return _per_file_mean(r, {i: float(s[0]) for i, s in r.gen_by_id(spec, spec.key).items()})


def _per_file_mean(r: Runner, per_item: dict[str, float]) -> dict[str, Any]:
    """A score per generated file -> their mean with a bootstrap CI; every id without a score is left out as
    "no generated output"."""
    left_out = {i: "no generated output" for i in r.items.ids if i not in per_item}
    return _mean_result({i: per_item[i] for i in r.items.ids if i in per_item}, left_out, r.cfg.bootstrap,
                        r.cfg.seed)


METRIC_FNS: dict[str, Callable[[Runner, MetricSpec], dict[str, Any]]] = {
    "fd": fd_metric, "kad": kad_metric, "fad-inf": fad_inf_metric, "fd-per-song": fd_per_song_metric,
    "kl": kl_metric, "kl-segments": segment_kl_metric, "is": is_metric, "clap": clap_metric, "timing": timing_metric,
    "aesthetics": aesthetics_metric, "pam": pam_metric, "mad": mad_metric}


class NoResult(ValueError):
    """A metric ran but had nothing to score."""


class WeightsError(ValueError):
    """An evaluator's weight file read but the network does not load from it (wrong keys or shapes)."""


def embedder_key(spec: MetricSpec) -> tuple[str | None, Any]:
    """Metrics with equal keys share one embedder (and each file's forward pass)."""
    return spec.model, spec.embedder


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
    for spec in inputs.specs:
        if spec.key in inputs.unavailable:
            continue
        try:
            runner.call(spec.key)
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
    todo = [spec for spec in inputs.specs if spec.key not in skipped_metrics]
    last_use = {embedder_key(spec): i for i, spec in enumerate(todo)}
    for i, spec in enumerate(todo):
        try:
            results[spec.key] = runner.call(spec.key)
        except Exception as exc:  # noqa: BLE001  one metric's failure must not lose the others' finished work
            if strict:
                raise MetricError(f"{spec.key}: {one_line(exc)}") from exc
            skipped_metrics[spec.key] = f"{type(exc).__name__}: {one_line(exc)}"
        if last_use[embedder_key(spec)] == i:
            runner.release(spec)
    folders = [inputs.gen] + ([inputs.ref] if inputs.ref is not None else [])
    input_problems = [{"metric": "input", "file": f, "reason": why} for fs in folders for f, why in fs.problems.items()]
    return {
        "tool": "sa-bench metrics", "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv, "environment": environment(cfg.device),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "protocol": {**inputs.protocol.settings(), "metrics": {spec.key: spec.settings() for spec in inputs.specs}},
        "metrics": results, "skipped_metrics": skipped_metrics,
        "ids": {"n": len(runner.items.ids), "with_audio": len(runner.items.gen),
                "without_audio": runner.items.problems},
        "skipped_files": input_problems + runner.skipped_files,
    }


class MetricError(ValueError):
    """A single requested metric failed while computing; the CLI prints it as one line and exits 2."""


def environment(device: str) -> dict[str, str]:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "platform": platform.platform(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def write_results(path: Path, results: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``results`` (:func:`run`'s) with the caller's top-level ``fields`` (command, benchmark, ...) added, written
    atomically as always-valid JSON, and returned as written: non-finite numbers (e.g. a CI over one item) are
    null, numpy values plain Python. Summaries print from the returned dict."""
    results.update(fields)
    written = strict_json.ready(results)
    atomic_write_bytes(path, strict_json.encode(written))
    return written
