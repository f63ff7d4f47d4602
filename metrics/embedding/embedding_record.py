"""Where a run's embeddings are: the record a results file keeps for each set metric, and reading it back.

Set metrics (FD, KAD, FAD-inf, IS, MAD) are functions of a whole set of files, so comparing two runs on resampled prompt
sets (:mod:`metrics.comparison.compare`) or sizing a study (:mod:`metrics.comparison.power`) means recomputing them from the per-file
model outputs. Those are already in the embedding cache (:mod:`metrics.embedding.cache`); the record says how to find them
again without the audio or the model::

    "embeddings": {"cache_dir": "...", "embedder": "openl3-mel256-music", "cache_key": "3f2a...",
                   "part": null | [start, stop],          # the slice of the cached output the metric reads
                   "gen": {"<id>": "<sha256 of its file>", ...},
                   "reference": null                       # IS: no reference
                              | {"files": ["<sha256>", ...]}     # reference audio, embedded by the same model
                              | {"gaussian": "<sha256>"}}        # given statistics, stored in the cache as
                                                                 # [1 + D, D]: the mean row, then the covariance
A run without a cache (``--cache-dir none``) records ``"cache_dir": null``; a cache cleared or moved since is
reported by :class:`EmbeddingsGone` with the number of entries missing.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metrics.embedding.cache import entry_path
from sa_util.files import atomic_write_bytes

SET_KINDS = ("fd", "kad", "fad-inf", "is", "mad")  # metric kinds whose value is a function of the whole set of files


class EmbeddingsGone(ValueError):
    """A results file's embeddings cannot be read back; the message says why and what to do."""


def store_gaussian(cache_dir: Path, embedder: str, cache_key: str, mu: np.ndarray, sigma: np.ndarray) -> str:
    """Write reference statistics ``mu [D]``, ``sigma [D, D]`` into the cache (content-addressed); their digest."""
    stacked = np.vstack([np.asarray(mu, np.float64)[None], np.asarray(sigma, np.float64)])  # [1 + D, D]
    buf = io.BytesIO()
    np.save(buf, stacked, allow_pickle=False)
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    path = entry_path(cache_dir, embedder, cache_key, digest)
    if not path.is_file():
        atomic_write_bytes(path, buf.getvalue())
    return digest


def record(cache_dir: Path | None, embedder: str, cache_key: str, part: slice | None, gen: dict[str, str],
           reference: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON-able record of one set metric (see module docstring)."""
    return {"cache_dir": None if cache_dir is None else str(cache_dir), "embedder": embedder, "cache_key": cache_key,
            "part": None if part is None else [part.start, part.stop], "gen": dict(sorted(gen.items())),
            "reference": reference}


@dataclass
class SetInputs:
    """What a set metric is recomputed from: per-id outputs and the fixed reference."""

    gen: dict[str, np.ndarray]  # id -> [frames, D] (one row for one-vector-per-file models)
    ref_files: list[np.ndarray] | None = None  # reference audio, file by file: [n_j, D] each (MAD pools per file)
    mu_ref: np.ndarray | None = None  # [D]
    sigma_ref: np.ndarray | None = None  # [D, D]

    @property
    def ref_frames(self) -> np.ndarray | None:
        """Every reference frame ``[N_ref, D]`` (the files' frames back to back)."""
        return None if self.ref_files is None else np.concatenate(self.ref_files)

    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference mean and covariance (from the given statistics, else from the reference frames)."""
        if self.mu_ref is None:
            frames = self.ref_frames
            if frames is None:
                raise EmbeddingsGone("this metric has no reference in its results file")
            self.mu_ref, self.sigma_ref = frames.mean(0), np.cov(frames, rowvar=False)
        return self.mu_ref, self.sigma_ref


def load(rec: dict[str, Any] | None, what: str) -> SetInputs:
    """Read a record's arrays back from the cache; :class:`EmbeddingsGone` (naming ``what``) if it cannot."""
    if not rec:
        raise EmbeddingsGone(f"{what}: the results file records no cached embeddings (rerun the metric to write "
                             "them)")
    if rec.get("cache_dir") is None:
        raise EmbeddingsGone(f"{what}: the run had no embedding cache (--cache-dir none); rerun it with a cache")
    root, part = Path(rec["cache_dir"]), rec.get("part")
    missing: list[str] = []

    def read(digest: str) -> np.ndarray | None:
        path = entry_path(root, rec["embedder"], rec["cache_key"], digest)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            missing.append(digest)
            return None

    def frames(digest: str) -> np.ndarray | None:
        out = read(digest)
        return None if out is None else np.atleast_2d(out if part is None else out[..., part[0]:part[1]])

    gen = {i: frames(d) for i, d in rec["gen"].items()}
    ref = rec.get("reference") or {}
    inputs = SetInputs({i: v for i, v in gen.items() if v is not None})
    if "files" in ref:
        blocks = [frames(d) for d in ref["files"]]
        if not missing:
            inputs.ref_files = blocks
    elif "gaussian" in ref:
        stacked = read(ref["gaussian"])
        if stacked is not None:
            inputs.mu_ref, inputs.sigma_ref = stacked[0], stacked[1:]
    if missing:
        total = len(rec["gen"]) + len(ref.get("files", ())) + ("gaussian" in ref)
        raise EmbeddingsGone(f"{what}: {len(missing)} of {total} cached embeddings are gone from {root} (cache "
                             "cleared or moved); rerun the metric with that --cache-dir to compare it")
    return inputs
