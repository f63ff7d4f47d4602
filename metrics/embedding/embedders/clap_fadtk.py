"""LAION-CLAP embeddings for FAD / KAD as fadtk 1.1.0 computes them (``fadtk/model_loader.py`` ``CLAPLaionModel``):
``clap-laion-audio`` (630k-audioset-best.pt, HTSAT-tiny) and ``clap-laion-music``
(music_audioset_epoch_15_esc_90.14.pt, HTSAT-base), both without fusion, 512-d.

Per file:
  fadtk's conversion (``FrechetAudioDistance.load_audio``, ``TORCHAUDIO_RESAMPLING = True``): channel mean ->
  48 kHz with torchaudio's Resample and fadtk's kaiser arguments -> a 16-bit PCM wav read back as int16 / 32768
  (the steps of :mod:`metrics.embedding.embedders.vggish`'s fadtk preset) -> ``CLAPLaionModel._get_embedding``:
  int16 quantisation ``(clip(x, -1, 1) * 32767).astype(int16) / 32767`` (truncating, in float64) -> windows of
  10 s starting every 1 s from 0 while the start is inside the audio (ceil(T / 48000) windows), each zero-padded
  at the end to 10 s -> laion_clap's ``get_audio_embedding_from_data`` on each (exactly 480000 samples: no crop, no
  repeat-pad) -> unit embeddings rounded to float16 (fadtk stores float16 ``.npy``).
Every window of every file is one frame of the FD / KAD.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.embedding.embedder import embed_windows
from metrics.embedding.embedders import FADTK_CLAP
from metrics.embedding.embedders.clap import SR, ClapEmbedder
from metrics.embedding.embedders.fadtk_audio import fadtk_float16
from metrics.embedding.embedders.vggish import quantise_pcm16, resample_torchaudio_kaiser_best
from metrics.files.audio import to_mono
from sa_util.audio import read_audio

WINDOW = 10 * SR
HOP = SR


def fadtk_int16(x: np.ndarray) -> np.ndarray:
    """fadtk's ``int16_to_float32(float32_to_int16(x))``: truncating int16 quantisation, float64 arithmetic."""
    q = (np.clip(np.asarray(x, np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
    return (q / 32767.0).astype(np.float32)


def fadtk_windows(x: torch.Tensor) -> torch.Tensor:
    """``[T]`` -> ``[ceil(T / 48000), 480000]`` view of 10 s windows every 1 s, zero-padded at the end."""
    n = -(-len(x) // HOP)
    padded = torch.cat([x, x.new_zeros(WINDOW)])
    return padded.unfold(0, WINDOW, HOP)[:n]


class ClapFadtkEmbedder(ClapEmbedder):
    """``prepare`` -> ``[T]`` 48 kHz fadtk-quantised mono; ``embed`` -> ``[ceil(T / 48000), 512]`` per file."""

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 32, *,
                 fadtk_model: str = "clap-laion-audio", roberta_dir: Path | None = None, seed: int = 0,
                 module: Any = None):
        if fadtk_model not in FADTK_CLAP:
            raise ValueError(f"unknown fadtk CLAP model {fadtk_model!r}; choose from {list(FADTK_CLAP)}")
        super().__init__(weights_path, device, batch_size, checkpoint=FADTK_CLAP[fadtk_model],
                         roberta_dir=roberta_dir, seed=seed, module=module)
        self.name = fadtk_model

    def settings(self) -> dict[str, Any]:
        return {"sr": SR, "resampler": "torchaudio-kaiser-best", "pcm16": True, "int16": "fadtk truncating",
                "window_s": 10, "hop_s": 1, "amodel": self.checkpoint.amodel, "float16": True}

    def prepare(self, path: str) -> np.ndarray:
        audio = read_audio(path, self.input_rules)
        x = quantise_pcm16(resample_torchaudio_kaiser_best(to_mono(audio.samples), audio.sample_rate, SR))[0]
        return fadtk_int16(x)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        module = self.load()

        def forward(windows: torch.Tensor) -> torch.Tensor:
            return module.model.get_audio_embedding([self.audio_features(w.cpu().numpy()) for w in windows])

        out = embed_windows(forward, [fadtk_windows(torch.from_numpy(p)) for p in prepared], self.batch_size,
                            self.device)
        return [fadtk_float16(o.numpy()) for o in out]
