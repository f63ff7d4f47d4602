"""EnCodec encoder embeddings (128-d, 75 frames/s) as fadtk 1.1.0 computes them (``EncodecEmbModel``): ``encodec-emb``
(24 kHz model, ``encodec_24khz-d7cc33bc.th``) and ``encodec-emb-48k`` (48 kHz model, ``encodec_48khz-7e698e3e.th``).

Per file: the fadtk audio path (:func:`metrics.embedding.embedders.fadtk_audio.fadtk_mono`: channel mean,
torchaudio kaiser-best to the model rate, 16-bit round trip), then ``load_wav``'s ``convert_audio`` to the model's
channels (the 48 kHz model gets the mono signal on both channels), cut to the first 3 min; the continuous encoder
output (no quantiser, no ``normalize`` scaling: fadtk calls ``model.encoder`` directly) of the whole file (24 kHz) or of
each 1 s segment separately, back to back, the last one shorter (48 kHz: ``segment_length`` steps); frames ``[n,
128]`` rounded through float16 as fadtk caches them. The network is :mod:`metrics.embedding.embedders.encodec_net`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders.encodec_net import VARIANTS, EncodecEncoder, load_encodec_encoder
from metrics.embedding.embedders.fadtk_audio import fadtk_float16, fadtk_mono
from sa_util.audio import AUDIO_RULES


class EncodecEmbedder(Embedder):
    """``prepare`` -> ``[T]`` mono at the model rate; ``embed`` -> ``[ceil(T / 320) (per segment), 128]`` frames."""

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 8, *, variant: str = "24k",
                 float16: bool = True, model: EncodecEncoder | None = None):
        super().__init__(weights_path, device, batch_size)
        if variant not in VARIANTS:
            raise ValueError(f"EnCodec variant must be one of {list(VARIANTS)}, not {variant!r}")
        self.variant, self.spec, self.float16 = variant, VARIANTS[variant], float16
        self.sample_rate = self.spec.sample_rate
        self.input_rules = dataclasses.replace(AUDIO_RULES, model=f"EnCodec {variant}", model_rate=self.sample_rate)
        self.name = "encodec-emb" if variant == "24k" else f"encodec-emb-{variant}"
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {"variant": self.variant, "audio": "fadtk", "max_seconds": self.spec.max_seconds,
                "segment_seconds": self.spec.segment_seconds, "float16": self.float16}

    def prepare(self, path: str) -> np.ndarray:
        return fadtk_mono(path, self.sample_rate, self.input_rules)[:int(self.spec.max_seconds * self.sample_rate)]

    def build(self) -> EncodecEncoder:
        return load_encodec_encoder(self.weights_path, self.variant).to(self.device)

    def segments(self, x: np.ndarray) -> list[np.ndarray]:
        """The pieces the encoder sees one at a time: the whole file, or back-to-back segments."""
        if self.spec.segment_seconds is None:
            return [x]
        step = int(self.spec.segment_seconds * self.sample_rate)
        return [x[i:i + step] for i in range(0, len(x), step)]

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        out = []
        for x in prepared:  # files differ in length; full 1 s segments of one file share a batch
            pieces = self.segments(x)
            frames: list[torch.Tensor] = []
            full = [p for p in pieces if len(p) == len(pieces[0])]
            for start in range(0, len(full), self.batch_size):
                batch = torch.from_numpy(np.stack(full[start:start + self.batch_size]))
                frames += list(self.encode(model, batch))
            frames += [self.encode(model, torch.from_numpy(p)[None])[0] for p in pieces[len(full):]]
            y = torch.cat(frames).numpy()
            out.append(fadtk_float16(y) if self.float16 else y)
        return out

    def encode(self, model: EncodecEncoder, x: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` mono -> ``[B, frames, 128]`` (the mono signal on every channel of the model)."""
        x = x[:, None].expand(-1, self.spec.channels, -1).to(self.device)
        return model(x).transpose(1, 2).float().cpu()
