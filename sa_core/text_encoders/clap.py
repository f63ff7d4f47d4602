"""``clap``: LAION-CLAP's RoBERTa text branch, 77 tokens, the penultimate hidden layer by default (SA1), via laion_clap
offline (:func:`sa_util.clap.build_clap`, the network the CLAP score runs too). Checkpoint: ``TextConfig.path``;
tokenizer folder: ``TextConfig.roberta_dir``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sa_core.config import TextConfig
from sa_core.text_encoders.base import MissingTextEncoder, TextEncoder
from sa_core.text_encoders.hf import LAYERS


class ClapTextEncoder(TextEncoder):
    """CLAP's RoBERTa text branch, hidden state ``layer`` (the penultimate by default, as SA1 conditions), 77 tokens."""

    def __init__(self, cfg: TextConfig):
        if cfg.path is None or not Path(cfg.path).is_file() or cfg.roberta_dir is None:
            raise MissingTextEncoder(
                "CLAP text conditioning needs conditioning.text.path (a LAION-CLAP checkpoint, e.g. "
                "630k-audioset-fusion-best.pt) and conditioning.text.roberta_dir (roberta-base tokenizer); "
                "`python -m metrics.weights download clap-630k-audioset-fusion roberta-base` fetches both")
        self.path, self.roberta_dir = Path(cfg.path), Path(cfg.roberta_dir)
        self.max_length, self.dim, self.layer = cfg.max_length, 768, cfg.layer or "penultimate"
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
        return out["hidden_states"][LAYERS[self.layer]].float(), enc["attention_mask"].bool().to(device)
