"""MERT-v1 hidden states of one layer, per frame (75 frames/s at 24 kHz), for FAD/KAD as fadtk computes them and for
MAD (mad-metric), from a local copy of the hub folder (``config.json``, ``preprocessor_config.json``,
``pytorch_model.bin`` or ``model.safetensors``). The network is :mod:`metrics.embedding.embedders.mert_net`.

Presets (``config``):
* ``fadtk`` (fadtk 1.1.0 ``MERTModel(size='v1-95M', layer=12, limit_minutes=6)``): the fadtk audio path
  (:func:`metrics.embedding.embedders.fadtk_audio.fadtk_mono`: channel mean, torchaudio kaiser-best to 24 kHz, 16-bit
  round trip), cut to the first 6 min, the preprocessor (below), hidden state ``layer`` of every frame, rounded
  through float16 as fadtk caches it. fadtk names it ``MERT-v1-95M`` for layer 12 and ``MERT-v1-95M-<L>`` otherwise.
* ``mad`` (mad-metric 0.0.6 ``featurize``: ``librosa.load(sr=24000)`` then ``MERT330M.get_embedding``): mean downmix,
  soxr HQ to 24 kHz (librosa's length rule), no cut, the preprocessor, hidden state ``layer`` of every frame in
  float32. MAD max-pools them over time in the metric (:func:`metrics.scores.mauve.max_pool`), so FD/KAD on the same
  embedder share each file's forward pass.

Preprocessor: transformers' ``Wav2Vec2FeatureExtractor`` as the folder's ``preprocessor_config.json`` sets it:
with ``do_normalize`` each file is scaled to zero mean and unit variance (``(x - mean) / sqrt(var + 1e-7)``, float32).

Batching: a file is embedded alone or with files of exactly its length, so no file is padded (the attention of a
padded batch reaches every frame, and padded frames would enter MAD's max-pool). mad-metric instead pads batches of 3
files in directory order: the ``mad`` protocol states that deviation, and ``tests/metrics/test_mad.py`` measures it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.embedding.embedder import Embedder, equal_length_batches
from metrics.embedding.embedders.fadtk_audio import fadtk_mono
from metrics.embedding.embedders.mert_net import MertNet, load_mert, weight_file
from metrics.files.audio import resample_librosa, to_mono
from sa_util.audio import AUDIO_RULES, check_length, read_audio

SAMPLE_RATE = 24000
MIN_SAMPLES = 400  # the conv encoder's receptive field: one frame
NORM_EPS = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm
RULES = dataclasses.replace(AUDIO_RULES, model="MERT", min_samples=MIN_SAMPLES, model_rate=SAMPLE_RATE)
SIZES = {"v1-95M": (12, 768), "v1-330M": (24, 1024)}  # layers, width


@dataclass(frozen=True)
class MertSettings:
    """Everything besides the weights that changes the output (presets in :data:`PRESETS`)."""

    audio: str = "fadtk"  # "fadtk" (fadtk_mono) or "librosa" (librosa.load(sr=24000, mono=True))
    max_seconds: float | None = 360.0  # cut to the first this many seconds (fadtk's limit_minutes=6)
    float16: bool = True  # round the hidden states through float16 (fadtk's cached .npy)


PRESETS = {"fadtk": MertSettings(), "mad": MertSettings(audio="librosa", max_seconds=None, float16=False)}


def normalise(x: np.ndarray) -> np.ndarray:
    """``Wav2Vec2FeatureExtractor``'s ``do_normalize`` on one unpadded ``[T]`` float32 vector."""
    x = x.astype(np.float32, copy=False)
    return ((x - x.mean()) / np.sqrt(x.var() + NORM_EPS)).astype(np.float32)


def read_preprocessor(folder: Path) -> bool:
    """``do_normalize`` of the folder's ``preprocessor_config.json`` (Wav2Vec2FeatureExtractor's default: true)."""
    path = Path(folder) / "preprocessor_config.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or int(raw.get("sampling_rate", SAMPLE_RATE)) != SAMPLE_RATE:
        raise ValueError(f"{path}: expected a Wav2Vec2FeatureExtractor config at {SAMPLE_RATE} Hz")
    return bool(raw.get("do_normalize", True))


class MertEmbedder(Embedder):
    """``prepare`` -> ``[T]`` 24 kHz input values; ``embed`` -> ``[frames, H]`` hidden state ``layer`` per file.
    ``weights_path`` is the hub folder."""

    sample_rate = SAMPLE_RATE
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 8, *,
                 size: str = "v1-95M", layer: int | None = None, config: str = "fadtk",
                 model: MertNet | None = None, do_normalize: bool | None = None):
        super().__init__(weights_path, device, batch_size)
        if size not in SIZES or config not in PRESETS:
            raise ValueError(f"MERT size must be one of {list(SIZES)} and config one of {list(PRESETS)}")
        layers = SIZES[size][0]
        self.size, self.layer, self.preset = size, layers if layer is None else int(layer), config
        if not 0 <= self.layer <= layers:
            raise ValueError(f"MERT-{size} has hidden states 0..{layers}, not {self.layer}")
        self.settings_ = PRESETS[config]
        self.name = f"MERT-{size}" + ("" if self.layer == layers else f"-{self.layer}") + (
            "" if config == "fadtk" else f"-{config}")
        self._model = model
        if do_normalize is None:
            do_normalize = read_preprocessor(weights_path) if weights_path is not None else True
        self.do_normalize = do_normalize

    def settings(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.settings_), "preset": self.preset, "size": self.size, "layer": self.layer,
                "do_normalize": self.do_normalize}

    def weights_id(self) -> str:
        if self._weights_id is None:
            from sa_util.files import file_sha256

            self._weights_id = (file_sha256(weight_file(self.weights_path)) + "+"
                                + file_sha256(Path(self.weights_path) / "config.json")
                                if self.weights_path else "in-memory")
        return self._weights_id

    def prepare(self, path: str) -> np.ndarray:
        if self.settings_.audio == "fadtk":
            x = fadtk_mono(path, SAMPLE_RATE, self.input_rules)
        else:
            audio = read_audio(path, self.input_rules)
            x = resample_librosa(to_mono(audio.samples), audio.sample_rate, SAMPLE_RATE)[0]
            check_length(x.shape[-1], SAMPLE_RATE, self.input_rules)
        if self.settings_.max_seconds is not None:
            x = x[:int(self.settings_.max_seconds * SAMPLE_RATE)]
        return normalise(x) if self.do_normalize else x.astype(np.float32)

    def build(self) -> MertNet:
        net = load_mert(self.weights_path)
        if net.config.num_hidden_layers != SIZES[self.size][0] or net.config.hidden_size != SIZES[self.size][1]:
            raise ValueError(f"{self.weights_path}: config.json describes {net.config.num_hidden_layers} layers of "
                             f"{net.config.hidden_size}, not MERT-{self.size}")
        return net.to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        out: list[np.ndarray | None] = [None] * len(prepared)
        for chunk in equal_length_batches(prepared, self.batch_size):  # nothing is padded
            x = torch.from_numpy(np.stack([prepared[i] for i in chunk])).to(self.device)
            hidden = model(x, last=self.layer)[self.layer].float().cpu().numpy()
            for i, h in zip(chunk, hidden):
                out[i] = h.astype(np.float16).astype(np.float32) if self.settings_.float16 else h
        return out  # type: ignore[return-value]
