"""Training data: a folder of audio with captions, cropped as the paper trains (timing conditioning).

Captions come from ``captions.csv`` in the folder (columns ``file``, ``caption``) or from a JSON sidecar per file
(``x.wav`` + ``x.json`` with ``"prompt"`` or ``"caption"``). Every clip is resampled to the model rate and channel
count once, when the dataset is opened, and kept in memory (fine for the small sets this trainer targets; large
sets pre-encode latents with ``python -m sa_core.train encode``).

Crops (``PadCrop`` in stable-audio-tools): a window of ``sample_size`` samples at a random offset; past the end of
the file it is zero-padded, with ``seconds_start = floor(offset / sr)`` and ``seconds_total`` = the file's length,
so the model learns to stop when ``seconds_total - seconds_start`` has passed. Difference from the reference: it
rounds ``seconds_total`` up to whole seconds, which teaches a model to stop up to 1 s before the length it is
given; we keep the exact length (the learned per-second table of the SA1 preset rounds it anyway). Batches are a pure function of
(seed, step, rank): resuming or changing the process count never changes which examples a step sees.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sa_util.audio import AudioError, read_audio, resample_soxr

AUDIO = (".wav", ".flac", ".ogg", ".mp3")


@dataclass
class Clip:
    audio: np.ndarray  # [C, T] float32 at the model rate (or [D, L] latents)
    caption: str
    seconds: float | None = None  # sounding length when ``audio`` carries silence after it; None: all of it


def _captions(folder: Path) -> dict[str, str]:
    table = folder / "captions.csv"
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            return {row["file"]: row["caption"] for row in csv.DictReader(f)}
    out = {}
    for sidecar in folder.glob("*.json"):
        meta = json.loads(sidecar.read_text())
        out_key = next((sidecar.with_suffix(e).name for e in AUDIO if sidecar.with_suffix(e).exists()), None)
        if out_key is not None:
            out[out_key] = meta.get("prompt", meta.get("caption", ""))
    return out


def load_clips(folder: str | Path, sample_rate: int, channels: int) -> list[Clip]:
    """Every captioned audio file in ``folder``; unreadable or silent files raise with the file named."""
    folder = Path(folder)
    captions = _captions(folder)
    if not captions:
        raise ValueError(f"{folder}: no captions.csv (columns file, caption) and no JSON sidecars")
    clips = []
    for name, caption in sorted(captions.items()):
        try:
            audio = read_audio(folder / name)
        except AudioError as exc:
            raise ValueError(f"{folder / name}: {exc}") from exc
        x = resample_soxr(audio.samples, audio.sample_rate, sample_rate)
        x = np.repeat(x, channels, axis=0) if x.shape[0] == 1 and channels > 1 else x[:channels]
        clips.append(Clip(np.ascontiguousarray(x, dtype=np.float32), caption))
    return clips


@dataclass
class Batch:
    audio: torch.Tensor  # [B, C, sample_size]
    captions: list[str]
    seconds_start: torch.Tensor  # [B]
    seconds_total: torch.Tensor  # [B]
    padding_mask: torch.Tensor  # [B, sample_size] bool, True where the file has audio


def crop(clip: Clip, sample_size: int, rng: np.random.Generator,
         sample_rate: float) -> tuple[np.ndarray, int, float, np.ndarray]:
    """(window [C, sample_size], seconds_start, seconds_total, mask [sample_size])."""
    length = clip.audio.shape[-1]
    offset = int(rng.integers(0, max(0, length - sample_size) + 1))
    window = clip.audio[:, offset:offset + sample_size]
    mask = np.zeros(sample_size, bool)
    mask[:window.shape[-1]] = True
    window = np.pad(window, ((0, 0), (0, sample_size - window.shape[-1])))
    total = clip.seconds if clip.seconds is not None else length / sample_rate
    return window, math.floor(offset / sample_rate), total, mask


def batch_for_step(clips: list[Clip], step: int, global_batch: int, sample_size: int, sample_rate: float, seed: int,
                   rank: int = 0, world: int = 1) -> Batch:
    """This rank's share (every ``world``-th item) of the global batch of ``step``."""
    rng = np.random.default_rng([seed, step])
    picks = rng.integers(0, len(clips), size=global_batch)
    crops = [crop(clips[i], sample_size, np.random.default_rng([seed, step, k]), sample_rate)
             for k, i in enumerate(picks)][rank::world]
    return Batch(torch.from_numpy(np.stack([c[0] for c in crops])),
                 [clips[i].caption for i in picks[rank::world]],
                 torch.tensor([c[1] for c in crops], dtype=torch.float32),
                 torch.tensor([c[2] for c in crops], dtype=torch.float32),
                 torch.from_numpy(np.stack([c[3] for c in crops])))
