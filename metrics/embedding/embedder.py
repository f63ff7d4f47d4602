"""The small interface every evaluator model sits behind (the registry of them: :mod:`metrics.embedding.embedders`).

An embedder has two halves:
* ``prepare(path)``: CPU work on one file (decode, check, normalise, resample, window). Pure, picklable, run in
  worker processes. It never touches the model.
* ``embed(prepared)``: the model on a batch of prepared files (many files' frames/windows in one device batch).
  ``load()`` builds the model on first use; heavy packages are imported there, never at import time.

``settings()`` lists everything that changes the output; with the weights' identity it forms the cache key.
``input_rules`` states, as data, what the model can take (rates, channels, shortest and longest input); ``prepare``
enforces them (sa_util.audio checks the header before decoding and the length after resampling), so the model never
sees an input it cannot take.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from sa_util.audio import AUDIO_RULES, InputRules

if TYPE_CHECKING:
    import torch


class Embedder(ABC):
    name: str  # cache namespace, e.g. "openl3-mel256-music"
    sample_rate: int  # the rate ``prepare`` delivers
    input_rules: InputRules = AUDIO_RULES  # what ``prepare`` accepts; each model states its own minimum
    precision: str = "fp32"  # metrics.embedding.precision: the forward pass of ``embed`` runs in this (set by the run)
    compiled: bool = False  # metrics.embedding.compiled: ``load`` returns the network through torch.compile (set by the run)

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 32):
        self.weights_path = weights_path  # None only for injected in-memory models (tests)
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._weights_id: str | None = None

    # --- CPU side -------------------------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, path: str) -> np.ndarray:
        """Decode and pre-process one file; raises sa_util.audio.AudioError on bad input."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Every setting that changes ``embed``'s output (JSON-able)."""

    # --- model side -----------------------------------------------------------------------------------------
    @abstractmethod
    def build(self) -> Any:
        """Construct the model and load ``self.weights_path`` into it (called once by ``load``)."""

    @abstractmethod
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        """Model outputs for a list of prepared files, one array per file."""

    def load(self) -> Any:
        if self._model is None:
            self._model = self.build()
            if self.compiled:
                from metrics.embedding.compiled import compile_module

                self._model = compile_module(self._model)
        return self._model

    def weights_id(self) -> str:
        """sha256 of the weight file (computed once), so a cache never mixes outputs of different weights."""
        if self._weights_id is None:
            from sa_util.files import file_sha256

            self._weights_id = file_sha256(self.weights_path) if self.weights_path else "in-memory"
        return self._weights_id

    def autocast(self) -> Any:
        """The context ``embed`` runs in (:func:`metrics.embedding.precision.autocast`)."""
        from metrics.embedding.precision import autocast

        return autocast(self.precision, self.device)

    def cache_key(self) -> str:
        key = {"name": self.name, "settings": self.settings(), "weights": self.weights_id()}
        if self.precision != "fp32":  # fp32 keys stay those of every cache written before precisions existed
            key["precision"] = self.precision
        if self.compiled:  # compiled outputs differ from eager ones by rounding: never mixed in one cache entry
            key["compiled"] = True
        blob = json.dumps(key, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # workers only run ``prepare``; never ship the model to them
        return state


def equal_length_batches(prepared: list[np.ndarray], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``prepared`` in device batches of at most ``batch_size`` files of exactly equal length (for models
    whose output a zero-padded batch-mate would change: pooling over time, attention over every frame)."""
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prepared):
        by_length.setdefault(len(p), []).append(i)
    for members in by_length.values():
        for start in range(0, len(members), batch_size):
            yield members[start:start + batch_size]


def embed_windows(model: Callable[[torch.Tensor], torch.Tensor], segments: list[torch.Tensor], batch_size: int,
                  device: str) -> list[torch.Tensor]:
    """``model`` over the rows of every segment (``[n_i, W]``; strided views such as ``unfold`` are fine), in device
    batches of at most ``batch_size`` rows taken across segments in order. Only one device batch of windows is ever
    copied, however long the files, so memory is bounded by ``batch_size``.

    Returns:
        per segment, its ``[n_i, D]`` float32 outputs on the CPU.
    """
    import torch

    outputs: list[list[torch.Tensor]] = [[] for _ in segments]
    pending: list[tuple[int, torch.Tensor]] = []  # (segment index, rows) of the next device batch

    def run() -> None:
        out = model(torch.cat([rows for _, rows in pending]).to(device)).float().cpu()
        for (i, rows), part in zip(pending, out.split([len(rows) for _, rows in pending])):
            outputs[i].append(part)
        pending.clear()

    filled = 0
    for i, seg in enumerate(segments):
        start = 0
        while start < len(seg):
            rows = seg[start:start + batch_size - filled]
            pending.append((i, rows))
            filled += len(rows)
            start += len(rows)
            if filled == batch_size:
                run()
                filled = 0
    if pending:
        run()
    return [torch.cat(parts) if parts else torch.empty(0) for parts in outputs]

