"""LAION-CLAP audio and text embeddings for the CLAP score, through laion_clap, fully offline (the network is built
by :func:`sa_util.clap.build_clap`; the checkpoints are :data:`metrics.embedding.embedders.CLAP_CHECKPOINTS`).

Audio, per file (stable-audio-metrics ``src/clap_score.py``): 48 kHz mono (mean downmix, soxr HQ),
peak -1 dBFS, int16 round trip, then laion_clap's ``get_audio_features`` (repeat-pad <= 10 s; for the fusion model,
> 10 s gets three random 1001-frame crops plus a shrunk global mel). The crops come from NumPy's global RNG, which
the reference never seeds (its scores move between runs); we seed it per file from the file's samples and the
run seed, and restore the global RNG state afterwards, so scores are reproducible and independent of batching.
The shrunk global mel uses ``torchvision.transforms.Resize``, whose default became antialiased in torchvision 0.17;
the protocol's torchvision 0.16 resized tensors without antialiasing, so we resize that way (``protocol_resize``).
Any input of at least one sample at 48 kHz can be embedded (repeat-padded to 10 s); ``embed`` takes ``batch_size``
files per forward.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders import CLAP_CHECKPOINTS, LAION_CHECKPOINTS
from metrics.files.audio import int16_roundtrip, load_mono
from sa_util.audio import AUDIO_RULES
from sa_util.clap import build_clap

SR = 48000
TEXT_BATCH = 64  # stable-audio-metrics embeds captions 64 at a time
RULES = dataclasses.replace(AUDIO_RULES, model="CLAP", min_samples=1, model_rate=SR)

@contextlib.contextmanager
def seeded_numpy(seed: int) -> Iterator[None]:
    """Seed NumPy's global RNG for a block and put the caller's state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


@contextlib.contextmanager
def protocol_resize() -> Iterator[None]:
    """Within the block, ``torchvision.transforms.Resize`` resizes tensors without antialiasing (torchvision 0.16,
    pinned by stable-audio-metrics); laion_clap shrinks the whole-clip mel of > 10 s audio with it."""
    import torchvision.transforms as transforms

    original = transforms.Resize
    transforms.Resize = functools.partial(original, antialias=False)
    try:
        yield
    finally:
        transforms.Resize = original


class ClapEmbedder(Embedder):
    """``prepare`` -> ``[T]`` 48 kHz int16-quantised mono; ``embed`` -> ``[512]`` unit audio embedding per file."""

    sample_rate = SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 32, *,
                 checkpoint: str = "630k-audioset-fusion", roberta_dir: Path | None = None, seed: int = 0,
                 module: Any = None):
        super().__init__(weights_path, device, batch_size)
        if checkpoint not in LAION_CHECKPOINTS:
            raise ValueError(f"unknown LAION CLAP checkpoint {checkpoint!r}; choose from {list(LAION_CHECKPOINTS)}")
        self.checkpoint, self.roberta_dir, self.seed = CLAP_CHECKPOINTS[checkpoint], roberta_dir, seed
        self.name = f"clap-{checkpoint}"
        self._model = module

    def settings(self) -> dict[str, Any]:
        return {"sr": SR, "peak_dbfs": -1.0, "int16": True, "fusion": self.checkpoint.fusion,
                "amodel": self.checkpoint.amodel, "seed": self.seed}

    def prepare(self, path: str) -> np.ndarray:
        return int16_roundtrip(load_mono(path, SR, self.input_rules))

    def build(self) -> Any:
        if self.roberta_dir is None:
            raise ValueError("CLAP needs a local roberta-base tokenizer folder (--roberta-dir)")
        return build_clap(self.checkpoint.fusion, self.checkpoint.amodel, self.roberta_dir, self.weights_path,
                          self.device, f"the laion_clap checkpoint {self.checkpoint.filename}")

    def audio_features(self, wave: np.ndarray) -> dict[str, torch.Tensor]:
        """laion_clap's per-clip input dict, with its crops drawn from an RNG seeded by this clip and the run."""
        from laion_clap.training.data import get_audio_features

        module = self.load()
        seed = zlib.crc32(wave.tobytes()) ^ self.seed
        with seeded_numpy(seed), protocol_resize():
            return get_audio_features({}, torch.from_numpy(wave).to(self.device), 480000,
                                      data_truncating="fusion" if self.checkpoint.fusion else "rand_trunc",
                                      data_filling="repeatpad", audio_cfg=module.model_cfg["audio_cfg"],
                                      require_grad=False)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        module = self.load()
        out = []
        for i in range(0, len(prepared), self.batch_size):
            feats = [self.audio_features(w) for w in prepared[i:i + self.batch_size]]
            out.append(module.model.get_audio_embedding(feats).float().cpu())
        return list(torch.cat(out).numpy())

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``[N, 512]`` unit text embeddings (RoBERTa, max 77 tokens)."""
        module = self.load()
        out = [module.get_text_embedding(texts[i:i + TEXT_BATCH], use_tensor=True)
               for i in range(0, len(texts), TEXT_BATCH)]
        return torch.cat(out).float().cpu().numpy()

    def logit_scale(self) -> float:
        """exp(logit_scale_a): laion_clap's audio-text temperature (PAM on a LAION checkpoint)."""
        return float(self.load().model.logit_scale_a.exp())
