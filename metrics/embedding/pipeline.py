"""Run an embedder over many files: decode in worker processes, batch many files on the device, cache each file.

Order of work per file: content hash -> cache hit? done : ``prepare`` in a worker -> joins a batch of
``files_per_batch`` files (or fewer, once the batch holds ``batch_bytes`` of prepared audio) -> one ``embed`` call
-> each file's output is cached at once. A run killed at any point loses at most the batch in flight; the rerun
skips every cached file.

No input loses a run: a file that fails at any stage is recorded with a one-line reason and the run goes on.
``prepare`` errors are per file already; a batch whose ``embed`` call raises is retried one file at a time, and a
file that still fails, or whose output holds NaN or infinity, is skipped (never cached).
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
from tqdm import tqdm

from metrics.embedding.cache import EmbeddingCache
from metrics.embedding.embedder import Embedder
from sa_util.audio import AudioError
from sa_util.cli import one_line
from sa_util.files import file_sha256

T = TypeVar("T")
R = TypeVar("R")

BATCH_BYTES = 256 * 2**20  # a batch is embedded once it holds this much prepared audio, however few files


@dataclass
class EmbedResult:
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # path -> model output
    skipped: dict[str, str] = field(default_factory=dict)  # path -> one-line reason
    cache_hits: int = 0
    digests: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the file (its cache entry's name)


def _prepare(embedder: Embedder, path: str) -> tuple[np.ndarray | None, str | None]:
    """Worker entry point: (prepared, None) or (None, reason)."""
    try:
        return embedder.prepare(path), None
    except AudioError as exc:
        return None, str(exc)
    except Exception as exc:  # a decoder/resampler failure on one file must not end the run
        return None, f"could not process ({one_line(exc, typed=True)})"


def _check_output(out: object) -> str | None:
    """Why a model output cannot be used, or None."""
    if not isinstance(out, np.ndarray) or not np.issubdtype(out.dtype, np.number):
        return f"model returned {type(out).__name__}, not an array"
    if not np.isfinite(out).all():
        return "model output contains NaN or infinite values"
    return None


def embed_isolated(embedder: Embedder, prepared: list[np.ndarray]) -> list[np.ndarray | str]:
    """``embedder.embed(prepared)``, one entry per file: its output, or a one-line reason it has none. If the batch
    call raises, each file is retried alone, so one file the model cannot take never costs the others."""
    try:
        with embedder.autocast():
            outs = list(embedder.embed(prepared))
        if len(outs) != len(prepared):
            raise RuntimeError(f"{len(outs)} outputs for {len(prepared)} inputs")
    except Exception as exc:
        if len(prepared) > 1:
            return [embed_isolated(embedder, [p])[0] for p in prepared]
        return [f"model failed ({one_line(exc, typed=True)})"]
    return [_check_output(out) or out for out in outs]


def bounded_map(fn: Callable[[T], R], items: Iterable[T], executor: cf.Executor | None,
                max_in_flight: int) -> Iterator[R]:
    """``map`` in input order with at most ``max_in_flight`` pending tasks (bounded memory); inline if no executor."""
    if executor is None:
        yield from map(fn, items)
        return
    pending: deque[cf.Future[R]] = deque()
    for item in items:
        pending.append(executor.submit(fn, item))
        if len(pending) >= max_in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _quiet_worker() -> None:
    """Decode workers print nothing: dependencies' import warnings (resampy's pkg_resources note) would reach stderr,
    where a run's error must be the only line; the parent process records its own warnings in the results."""
    warnings.simplefilter("ignore")


class _PrepareCall:
    """Picklable ``path -> _prepare(embedder, path)``."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def __call__(self, path: str) -> tuple[np.ndarray | None, str | None]:
        return _prepare(self.embedder, path)


def _from_cache(paths: list[str], cache: EmbeddingCache, name: str, key: str,
                result: EmbedResult) -> list[tuple[str, str]]:
    """Fill ``result`` with every file's digest and the outputs cached under (``name``, ``key``); the (path, digest)
    pairs still to embed."""
    todo: list[tuple[str, str]] = []
    for path in paths:
        try:
            digest = file_sha256(path)
        except OSError as exc:
            result.skipped[path] = f"cannot read file ({exc.strerror or exc})"
            continue
        result.digests[path] = digest
        hit = cache.get(name, key, digest)
        if hit is not None:
            result.outputs[path] = hit
            result.cache_hits += 1
        else:
            todo.append((path, digest))
    return todo


def embed_files(embedder: Embedder, paths: list[str], *, cache: EmbeddingCache | None = None, workers: int = 2,
                files_per_batch: int = 8, batch_bytes: int = BATCH_BYTES, progress: bool = False) -> EmbedResult:
    """Model outputs for ``paths`` (see module docstring). ``workers=0`` decodes in this process."""
    cache = cache or EmbeddingCache(None)
    result = EmbedResult()
    name = embedder.name
    key = embedder.cache_key() if cache.root is not None else ""  # hashes the weight file: only when caching
    todo = _from_cache(paths, cache, name, key, result)
    if not todo:
        return result

    batch: list[tuple[str, str, np.ndarray]] = []

    def flush() -> None:
        for (path, digest, _), out in zip(batch, embed_isolated(embedder, [p for _, _, p in batch])):
            if isinstance(out, str):
                result.skipped[path] = out
            else:
                cache.put(name, key, digest, out)
                result.outputs[path] = out
        batch.clear()

    executor = (cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_quiet_worker) if workers > 0 else None)
    try:
        prepared = bounded_map(_PrepareCall(embedder), [p for p, _ in todo], executor, max(2, 2 * files_per_batch))
        bar = tqdm(total=len(todo), desc=embedder.name, unit="file", disable=not progress)
        for (path, digest), (array, reason) in zip(todo, prepared):
            bar.update()
            if array is None:
                result.skipped[path] = reason or "unknown error"
                continue
            batch.append((path, digest, array))
            if len(batch) >= files_per_batch or sum(a.nbytes for _, _, a in batch) >= batch_bytes:
                flush()
        if batch:
            flush()
        bar.close()
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    return result

