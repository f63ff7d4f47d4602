"""DAC encoder embeddings (1024-d, 86 frames/s) as fadtk 1.1.0 computes them (``DACModel``, named ``dac-44kHz``): the
44.1 kHz Descript Audio Codec of tag 0.0.1 (``weights_44khz_8kbps_0.0.1.pth``, what
``dac.utils.load_model(tag='latest', model_type='44khz')`` loads).

Per file:
  the fadtk audio path (:func:`metrics.embedding.embedders.fadtk_audio.fadtk_mono`: channel mean, torchaudio
  kaiser-best to 44.1 kHz, 16-bit round trip; ``load_wav`` reads that file back with audiotools' ``AudioSignal``,
  which gives the same int16 / 32768 samples) -> ``_get_embedding``:
  ``normalize(-16)``: one gain to -16 LUFS by audiotools' BS.1770 meter (:mod:`metrics.files.loudness`) ->
  ``ensure_max_of_audio()``: scaled down to peak 1 where it exceeds 1 -> zero-padded at the end to a whole number k of
  5 s windows (220500 samples, already a multiple of 4) -> ``collect_windows(5 s, 2.5 s)``, whose preprocessing pads
  2.5 s of zeros on both sides: 2k + 1 windows of 5 s every 2.5 s (:func:`collect_windows`) -> the encoder alone
  (no quantiser) on each window: 430 frames of 1024 -> the windows' frames back to back, ``[(2k + 1) * 430, 1024]``,
  rounded through float16 as fadtk caches them.
The network is :mod:`metrics.embedding.embedders.dac_net`. fadtk encodes one window at a time; here the windows of
all files of a batch share device batches of at most :data:`MAX_WINDOWS`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.embedding.embedder import Embedder, embed_windows
from metrics.embedding.embedders.dac_net import DAC_44KHZ, DacEncoder, load_dac_encoder
from metrics.embedding.embedders.fadtk_audio import fadtk_mono
from metrics.files.loudness import normalize_loudness
from sa_util.audio import AUDIO_RULES

SAMPLE_RATE = DAC_44KHZ.sample_rate
TARGET_LUFS = -16.0
WINDOW = int(5.0 * SAMPLE_RATE) // 4 * 4  # fadtk: 5 s rounded down to a multiple of 4 samples (220500)
HOP = WINDOW // 2
MAX_WINDOWS = 8  # per device batch: the first stage holds 64 x 220500 floats (56 MB) per window and activation


def normalise(x: np.ndarray) -> np.ndarray:
    """``[T]`` -> ``[T]`` float32: ``normalize(-16)`` then ``ensure_max_of_audio()`` (peak at most 1)."""
    y = normalize_loudness(x[None], SAMPLE_RATE, TARGET_LUFS)[0]
    peak = float(np.abs(y).max())
    return (y / peak if peak > 1.0 else y).astype(np.float32)


def collect_windows(x: torch.Tensor) -> torch.Tensor:
    """``[T]`` -> ``[2k + 1, WINDOW]`` view, k = ceil(T / WINDOW): fadtk's ``zero_pad_to(k * WINDOW)`` then
    audiotools' ``collect_windows(WINDOW, HOP)`` (HOP zeros on both sides, windows every HOP)."""
    k = -(-len(x) // WINDOW)
    padded = torch.cat([x.new_zeros(HOP), x, x.new_zeros(k * WINDOW - len(x) + HOP)])
    return padded.unfold(0, WINDOW, HOP)


class DacEmbedder(Embedder):
    """``prepare`` -> ``[T]`` loudness-normalised 44.1 kHz mono; ``embed`` -> ``[(2k + 1) * 430, 1024]`` per file."""

    name = "dac-44kHz"
    sample_rate = SAMPLE_RATE

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = MAX_WINDOWS, *,
                 float16: bool = True, model: DacEncoder | None = None):
        super().__init__(weights_path, device, min(batch_size, MAX_WINDOWS))
        self.input_rules = dataclasses.replace(AUDIO_RULES, model="DAC 44.1 kHz", model_rate=SAMPLE_RATE)
        self.float16 = float16
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {"audio": "fadtk", "loudness_lufs": TARGET_LUFS, "meter": "audiotools 0.7.2 (BS.1770, IIR)",
                "peak_max": 1.0, "window": WINDOW, "hop": HOP, "edges": "hop of zeros", "float16": self.float16}

    def prepare(self, path: str) -> np.ndarray:
        return normalise(fadtk_mono(path, SAMPLE_RATE, self.input_rules))

    def build(self) -> DacEncoder:
        return load_dac_encoder(self.weights_path).to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()

        def forward(windows: torch.Tensor) -> torch.Tensor:  # [B, WINDOW] -> [B, 430, 1024]
            return model(windows[:, None]).transpose(1, 2)

        out = embed_windows(forward, [collect_windows(torch.from_numpy(p)) for p in prepared], self.batch_size,
                            self.device)
        frames = [o.reshape(-1, o.shape[-1]).numpy() for o in out]
        return [f.astype(np.float16).astype(np.float32) if self.float16 else f for f in frames]
