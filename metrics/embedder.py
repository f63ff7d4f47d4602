"""The small interface every evaluator model sits behind (the registry of them: :mod:`metrics.embedders`).

An embedder has two halves:
* ``prepare(path)``: CPU work on one file (decode, check, normalise, resample, window). Pure, picklable, run in
  worker processes. It never touches the model.
* ``embed(prepared)``: the model on a batch of prepared files (many files' frames/windows in one device batch).
  ``load()`` builds the model on first use; heavy packages are imported there, never at import time.

``settings()`` lists everything that changes the output; with the weights' identity it forms the cache key.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np


class Embedder(ABC):
    name: str  # cache namespace, e.g. "openl3-mel256-music"
    sample_rate: int  # the rate ``prepare`` delivers

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 32):
        self.weights_path = weights_path  # None only for injected in-memory models (tests)
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._weights_id: str | None = None

    # --- CPU side -------------------------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, path: str) -> np.ndarray:
        """Decode and pre-process one file; raises metrics.audio.AudioError on bad input."""

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
        return self._model

    def weights_id(self) -> str:
        """sha256 of the weight file (computed once), so a cache never mixes outputs of different weights."""
        if self._weights_id is None:
            from metrics.weights import sha256_file

            self._weights_id = sha256_file(self.weights_path) if self.weights_path else "in-memory"
        return self._weights_id

    def cache_key(self) -> str:
        blob = json.dumps({"name": self.name, "settings": self.settings(), "weights": self.weights_id()},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # workers only run ``prepare``; never ship the model to them
        return state
