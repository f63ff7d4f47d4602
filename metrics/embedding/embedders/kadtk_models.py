"""PaSST and PANNs CNN14 embeddings for KAD / FD as kadtk 1.1.0 computes them (``kadtk/model_loader.py``
``PaSSTModel``, ``PANNsModel``; ``kadtk/emb_loader.py`` ``EmbeddingLoader.load_audio``), under kadtk's names: the
models of the KAD paper (Chung et al. 2025, arXiv 2502.15602).

Audio, every model (:func:`metrics.embedding.embedders.fadtk_audio.fadtk_mono`; kadtk's ``load_audio`` is fadtk's):
channel mean -> torchaudio's Resample to the model rate with fadtk's kaiser arguments (``TORCHAUDIO_RESAMPLING =
True``) -> a 16-bit PCM wav read back (int16 / 32768).

PaSST, 32 kHz (``passt-base-10s`` / ``-20s`` / ``-30s``: the AudioSet PaSST-S SWA releases; ``passt-openmic``,
``passt-fsd50k``): ``PaSSTModel.load_wav`` zero-pads the file at the end to S s or keeps its first S s (S = 10, 20, 30
for ``base-<S>s``, 10 for the others) -> hear21passt ``get_scene_embeddings`` on ``get_basic_model(mode="all")`` with
the variant's net: S = 10 is one forward; S > 10 is longer than the wrapper's ``max_model_window`` (10 s), so
``get_timestamp_embeddings``: reflect-padded by 5 s on both sides, 10 s windows every 2.5 s (9 for 20 s, 13 for
30 s), each forwarded, the outputs averaged. The 20 s and 30 s nets see 10 s windows too (their time encoding cut to
the window), as kadtk runs them. Output (mode "all"): ``[logits (527 / 20 / 200) | features (768)]``, the features
being the mean of the class and distillation tokens, rounded to float16 as kadtk stores it.

PANNs CNN14 (``panns-cnn14-16k`` / ``-32k``): the whole converted file in one forward of ``Cnn14`` (no padding, no DC
removal, no first-channel pick: the audioldm_eval path of :mod:`metrics.embedding.embedders.panns` does those), its
``"2048"`` embedding ReLU(fc1), float16. CNN14 halves time five times, so it needs 32 STFT frames: 31 hops (0.31 s)
at the model rate; shorter files are skipped with that reason (kadtk raises on them).

PANNs Wavegram-Logmel-CNN14 (``panns-wavegram-logmel``, 32 kHz): the same, on
:mod:`metrics.embedding.embedders.wavegram_net` (``forward(audio)["embedding"]``, ReLU(fc1) as well). Its wavegram
branch needs ceil(T / 5) >= 2048, so 10236 samples (0.320 s) are the shortest file it takes.

Every file gives one frame: ``embed`` returns ``[1, D]`` per file; KAD and FD pool the files.
Networks: ours, on the same official files (:func:`metrics.embedding.embedders.passt.build_passt`, hear21passt's
modules with fused attention; :mod:`metrics.embedding.embedders.panns`' CNN14 port and its Wavegram-Logmel extension).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.embedding.embedder import Embedder, embed_windows
from metrics.embedding.embedders import KADTK_PANNS, KADTK_PASST
from metrics.embedding.embedders.fadtk_audio import fadtk_float16, fadtk_mono
from metrics.embedding.embedders.panns import EMBED_DIM, PannsEmbedder, config_for
from metrics.embedding.embedders.passt import SR, WINDOW, build_passt, use_fused_attention
from metrics.embedding.embedders.wavegram_net import MIN_SAMPLES as WAVEGRAM_MIN_SAMPLES
from metrics.embedding.embedders.wavegram_net import WavegramLogmelCnn14, load_wavegram
from sa_util.audio import AUDIO_RULES, InputRules

SCENE_HOP = SR * 5 // 2  # hear21passt PasstBasicWrapper: scene_hop 2500 ms
CNN14_MIN_HOPS = 31  # 1 + T // hop >= 32 frames: five 2x2 poolings leave one


def kadtk_passt_windows(x: torch.Tensor) -> torch.Tensor:
    """``[L]`` (the file at its kadtk length) -> ``[n, W]``: ``x`` itself for L <= 10 s (W = L), else hear21passt's
    scene windows (``get_timestamp_embeddings``): reflect-padded by 5 s on both sides, 10 s every 2.5 s (a view)."""
    if len(x) <= WINDOW:
        return x[None]
    padded = torch.nn.functional.pad(x[None, None], (WINDOW // 2, WINDOW // 2), mode="reflect")[0, 0]
    return padded.unfold(0, WINDOW, SCENE_HOP)


class PasstKadtkEmbedder(Embedder):
    """``prepare`` -> ``[S * 32000]`` kadtk-converted mono; ``embed`` -> ``[1, classes + 768]`` per file."""

    sample_rate = SR

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 8, *,
                 kadtk_model: str = "passt-base-10s", model: torch.nn.Module | None = None):
        super().__init__(weights_path, device, batch_size)
        if kadtk_model not in KADTK_PASST:
            raise ValueError(f"unknown kadtk PaSST model {kadtk_model!r}; choose from {list(KADTK_PASST)}")
        self.name, self.spec = kadtk_model, KADTK_PASST[kadtk_model]
        self.length = self.spec.seconds * SR
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {"audio": "kadtk", "sr": SR, "seconds": self.spec.seconds, "window_s": 10, "hop_s": 2.5,
                "pad": "reflect 5 s", "output": "logits+features", "float16": True}

    def prepare(self, path: str) -> np.ndarray:
        x = fadtk_mono(path, SR, self.input_rules)[:self.length]
        return np.pad(x, (0, self.length - len(x)))

    def build(self) -> torch.nn.Module:
        model = build_passt(self.weights_path, net=self.spec.weights, mode="all")
        return use_fused_attention(model).to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        windows = [kadtk_passt_windows(torch.from_numpy(p)) for p in prepared]  # [n, W] views
        out = embed_windows(model, windows, self.batch_size, self.device)  # [n, D] per file
        return [fadtk_float16(o.mean(0, keepdim=True).numpy()) for o in out]


def kadtk_panns_rules(sample_rate: int) -> InputRules:
    """CNN14's shortest input at ``sample_rate``: 31 hops."""
    return dataclasses.replace(AUDIO_RULES, model="PANNs CNN14 (kadtk)", model_rate=sample_rate,
                               min_samples=CNN14_MIN_HOPS * config_for(sample_rate).hop)


def kadtk_wavegram_rules() -> InputRules:
    """Wavegram-Logmel-CNN14's shortest input (32 kHz): 10236 samples."""
    return dataclasses.replace(AUDIO_RULES, model="PANNs Wavegram-Logmel-CNN14 (kadtk)", model_rate=SR,
                               min_samples=WAVEGRAM_MIN_SAMPLES)


class PannsKadtkEmbedder(PannsEmbedder):
    """``prepare`` -> ``[T]`` kadtk-converted mono at 16 or 32 kHz; ``embed`` -> ``[1, 2048]`` per file."""

    input_rules = kadtk_panns_rules(16000)

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 16, *,
                 kadtk_model: str = "panns-cnn14-16k", model: torch.nn.Module | None = None):
        mine = [m for m, spec in KADTK_PANNS.items() if spec.embedder == type(self).__name__]
        if kadtk_model not in mine:
            raise ValueError(f"unknown kadtk {type(self).__name__} model {kadtk_model!r}; choose from {mine}")
        super().__init__(weights_path, device, batch_size, sample_rate=KADTK_PANNS[kadtk_model].rate, model=model)
        self.name = kadtk_model
        self.input_rules = self.rules()

    def rules(self) -> InputRules:
        """This network's shortest input at its rate."""
        return kadtk_panns_rules(self.sample_rate)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "audio": "kadtk", "channel": "mean", "dc": "kept",
                "resampler": "torchaudio-kaiser-best", "pcm16": True, "min_samples": self.input_rules.min_samples,
                "output": "embedding2048", "float16": True}

    def prepare(self, path: str) -> np.ndarray:
        return fadtk_mono(path, self.sample_rate, self.input_rules)

    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        return [fadtk_float16(out[None, :EMBED_DIM]) for out in super().embed(prepared)]


class WavegramKadtkEmbedder(PannsKadtkEmbedder):
    """``prepare`` -> ``[T]`` kadtk-converted mono at 32 kHz, T >= 10236; ``embed`` -> ``[1, 2048]`` per file."""

    input_rules = kadtk_wavegram_rules()

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 16, *,
                 kadtk_model: str = "panns-wavegram-logmel", model: torch.nn.Module | None = None):
        super().__init__(weights_path, device, batch_size, kadtk_model=kadtk_model, model=model)

    def rules(self) -> InputRules:
        return kadtk_wavegram_rules()

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "network": "wavegram-logmel-cnn14"}

    def network(self) -> WavegramLogmelCnn14:
        return load_wavegram(self.weights_path)
