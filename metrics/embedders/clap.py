"""LAION-CLAP audio and text embeddings for the CLAP score, through laion_clap, fully offline.

laion_clap reaches the Hugging Face hub at import (module-level tokenizers in ``training/data.py``) and at
construction (``RobertaModel.from_pretrained('roberta-base')``, ``RobertaTokenizer.from_pretrained``). We import and
build it inside :func:`offline_transformers`, which, for that block only, makes those calls build the RoBERTa
architecture from its config and return our tokenizer read from a local folder. Its text weights come from the CLAP
checkpoint itself. Nothing waits on the network, and the patches are undone on exit.

Audio, per file (stable-audio-metrics ``clap_score``, metrics-protocol.md §3.3): 48 kHz mono (mean downmix, soxr HQ),
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from metrics.audio import int16_roundtrip, load_mono
from sa_util.audio import AUDIO_RULES
from metrics.embedder import Embedder, load_checkpoint, load_state_strict

SR = 48000
TEXT_BATCH = 64  # stable-audio-metrics embeds captions 64 at a time
RULES = dataclasses.replace(AUDIO_RULES, model="CLAP", min_samples=1, model_rate=SR)

ROBERTA_BASE = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                    pad_token_id=1, bos_token_id=0, eos_token_id=2)


@dataclass(frozen=True)
class ClapCheckpoint:
    weights: str  # metrics.weights registry name
    fusion: bool
    amodel: str


CHECKPOINTS: dict[str, ClapCheckpoint] = {
    "630k-audioset-fusion": ClapCheckpoint("clap-630k-audioset-fusion", True, "HTSAT-tiny"),  # protocol default
    "music-audioset": ClapCheckpoint("clap-music-audioset", False, "HTSAT-base"),
    "music-speech-audioset": ClapCheckpoint("clap-music-speech-audioset", False, "HTSAT-base"),
}


def load_tokenizer(roberta_dir: Path) -> Any:
    """RoBERTa tokenizer from a local folder; refuses the silently empty tokenizer transformers can return."""
    from transformers import RobertaTokenizer

    tok = RobertaTokenizer.from_pretrained(str(roberta_dir), local_files_only=True)
    if len(tok("a dog barking")["input_ids"]) <= 2:
        raise ValueError(f"the tokenizer in {roberta_dir} is empty ({len(tok)} tokens): it needs tokenizer.json "
                         "(or vocab.json + merges.txt) of roberta-base; see `python -m metrics.weights list`")
    return tok


@contextlib.contextmanager
def offline_transformers(tokenizer: Any, roberta_config: dict[str, Any]) -> Iterator[None]:
    """Within the block, hub loaders of the classes laion_clap uses return local objects instead."""
    from transformers import BartTokenizer, BertTokenizer, RobertaConfig, RobertaModel, RobertaTokenizer

    replacements = {  # in transformers 5 some tokenizer names are one class: RobertaTokenizer must come last
        BertTokenizer: classmethod(lambda cls, *a, **k: None),  # training-only globals in laion_clap.training.data
        BartTokenizer: classmethod(lambda cls, *a, **k: None),
        RobertaModel: classmethod(lambda cls, *a, **k: RobertaModel(RobertaConfig(**roberta_config))),
        RobertaTokenizer: classmethod(lambda cls, *a, **k: tokenizer),
    }
    saved = {cls: cls.__dict__.get("from_pretrained") for cls in replacements}
    try:
        for cls, loader in replacements.items():
            cls.from_pretrained = loader
        yield
    finally:
        for cls, original in saved.items():
            if original is None:
                del cls.from_pretrained
            else:
                cls.from_pretrained = original


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


def load_clap_state_dict(path: Path, expected: str = "a laion_clap checkpoint") -> dict[str, torch.Tensor]:
    """Official laion_clap checkpoint -> model state dict (``weights_only``; 'module.' and position_ids dropped)."""
    ckpt = load_checkpoint(path, expected)
    state = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict; expected {expected}")
    state = {(k[7:] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in state.items()}
    state.pop("text_branch.embeddings.position_ids", None)  # a buffer, not a parameter, in transformers >= 4.31
    return state


class ClapEmbedder(Embedder):
    """``prepare`` -> ``[T]`` 48 kHz int16-quantised mono; ``embed`` -> ``[512]`` unit audio embedding per file."""

    sample_rate = SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 32, *,
                 checkpoint: str = "630k-audioset-fusion", roberta_dir: Path | None = None, seed: int = 0,
                 module: Any = None):
        super().__init__(weights_path, device, batch_size)
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"unknown CLAP checkpoint {checkpoint!r}; choose from {list(CHECKPOINTS)}")
        self.checkpoint, self.roberta_dir, self.seed = CHECKPOINTS[checkpoint], roberta_dir, seed
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
        tokenizer = load_tokenizer(self.roberta_dir)
        with offline_transformers(tokenizer, ROBERTA_BASE):
            import laion_clap

            module = laion_clap.CLAP_Module(enable_fusion=self.checkpoint.fusion, amodel=self.checkpoint.amodel,
                                            device=self.device)
        module.tokenize = tokenizer
        if self.weights_path is not None:
            from metrics.weights import REGISTRY

            expected = (f"the laion_clap checkpoint {REGISTRY[self.checkpoint.weights].filename} "
                        f"({self.checkpoint.amodel}, {'fusion' if self.checkpoint.fusion else 'no fusion'})")
            load_state_strict(module.model, load_clap_state_dict(self.weights_path, expected), self.weights_path,
                              expected)
        return module.eval()

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
