"""A transformers encoder + tokenizer read from a local folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch

from sa_core.text_encoders.base import MissingTextEncoder, TextEncoder

LAYERS = {"last": -1, "penultimate": -2}  # TextConfig.layer -> index into hidden_states


def folder_from(path: str | None, env: str | None, what: str, source: str) -> Path:
    """The model folder ``path`` (else ``$env``); MissingTextEncoder naming where it comes from when it holds no
    config.json."""
    raw = path or (os.environ.get(env) if env else None)
    if not raw or not (Path(raw).expanduser() / "config.json").is_file():
        hint = f" and set conditioning.text.path in the model config or ${env} to that folder" if env else \
            " and set conditioning.text.path to that folder"
        raise MissingTextEncoder(
            f"{what} not found ({'no path given' if not raw else f'no config.json in {raw}'}). It comes from "
            f"{source}; download it on a machine with internet (e.g. `huggingface-cli download "
            f"{source.split('/')[-1]} --local-dir DIR`){hint}.")
    return Path(raw).expanduser()


class HFEncoder(TextEncoder):
    """Padded to ``max_length`` tokens; conditions on hidden state ``layer`` (``last`` / ``penultimate``)."""

    def __init__(self, folder: Path, max_length: int, dtype: torch.dtype, model_cls: Callable[..., Any],
                 layer: str | None = None):
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        if (layer or "last") not in LAYERS:
            raise ValueError(f"text layer must be one of {list(LAYERS)}, got {layer!r}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar on stderr for a local file, even under --no-progress
        try:
            self.model = model_cls(str(folder), local_files_only=True).to(dtype).eval().requires_grad_(False)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        self.max_length, self.layer = max_length, LAYERS[layer or "last"]
        self.memo: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # text -> (tokens, mask), first in first out
        self.dim = self.model.config.hidden_size if hasattr(self.model.config, "hidden_size") else \
            self.model.config.d_model

    def _encode_one(self, text: str, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens ``[S, dim]``, mask ``[S]``) of one text."""
        self.model.to(device)
        enc = self.tokenizer([text], truncation=True, max_length=self.max_length, padding="max_length",
                             return_tensors="pt").to(device)
        out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                         output_hidden_states=self.layer != -1)
        hidden = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
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
