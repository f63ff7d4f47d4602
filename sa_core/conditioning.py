"""Conditioning: timing embedders, text-encoder adapters, routing to cross-attention / global, null conditioning.

Routing follows stable-audio-tools (``models/conditioners.py``, ``MultiConditioner``): cross-attention tokens are the
text tokens followed by one token per timing value (``[B, S + 2, cond_dim]``; SAO 128 + 2, SA1 77 + 2); the global
vector is the timing embeddings concatenated on channels (``[B, 2 * cond_dim]``; SAO only). CFG's null conditioning
replaces the cross-attention tokens (zeros for the DiT, a learned table for the U-Net) and keeps the global vector.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sa_core.config import ConditioningConfig
from sa_core.text_encoders import TextEncoder, build_text_encoder


class LearnedPositionalEmbedding(nn.Module):
    """Scalar ``x`` [B] -> ``[x, sin(2 pi x w), cos(2 pi x w)]`` [B, dim + 1], ``w`` learned (dim/2,)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, None]
        f = x * self.weights[None, :] * 2 * math.pi
        return torch.cat([x, f.sin(), f.cos()], dim=-1)


class NumberEmbedder(nn.Module):
    """SAO timing: seconds clamped to [min, max], scaled to [0, 1], Fourier features -> Linear -> ``[B, 1, D]``."""

    def __init__(self, out_dim: int, min_val: float = 0, max_val: float = 512, fourier_dim: int = 256):
        super().__init__()
        self.min_val, self.max_val = min_val, max_val
        self.embedding = nn.Sequential(LearnedPositionalEmbedding(fourier_dim), nn.Linear(fourier_dim + 1, out_dim))

    def forward(self, seconds: torch.Tensor) -> torch.Tensor:
        x = (seconds.float().clamp(self.min_val, self.max_val) - self.min_val) / (self.max_val - self.min_val)
        return self.embedding(x.to(self.embedding[1].weight.dtype))[:, None, :]


class IntEmbedder(nn.Module):
    """SA1 timing: a learned embedding per whole second in [min, max] -> ``[B, 1, D]``."""

    def __init__(self, out_dim: int, min_val: int = 0, max_val: int = 512):
        super().__init__()
        self.min_val, self.max_val = min_val, max_val
        self.int_embedder = nn.Embedding(max_val - min_val + 1, out_dim)

    def forward(self, seconds: torch.Tensor) -> torch.Tensor:
        idx = seconds.round().long().clamp(self.min_val, self.max_val) - self.min_val
        return self.int_embedder(idx)[:, None, :]


class NumberConditioner(nn.Module):
    """SAO's timing conditioner (keys ``embedder.embedding.{0.weights, 1.weight, 1.bias}``)."""

    def __init__(self, cfg: ConditioningConfig):
        super().__init__()
        self.embedder = NumberEmbedder(cfg.cond_dim, cfg.timing_min, cfg.timing_max)

    def forward(self, seconds: torch.Tensor) -> torch.Tensor:
        return self.embedder(seconds)


def timing_conditioner(cfg: ConditioningConfig) -> nn.Module:
    """SAO Fourier (``NumberConditioner``) or SA1 learned per-second (``IntEmbedder``, key ``int_embedder``)."""
    if cfg.timing == "fourier":
        return NumberConditioner(cfg)
    return IntEmbedder(cfg.cond_dim, cfg.timing_min, cfg.timing_max)


@dataclass
class Conditioning:
    """What the backbone receives. ``cross`` [B, S, D], ``cross_mask`` [B, S] bool, ``global_cond`` [B, G] or None."""

    cross: torch.Tensor
    cross_mask: torch.Tensor
    global_cond: torch.Tensor | None

    def null(self) -> "Conditioning":
        """CFG's unconditional input: zero tokens (DiT convention), global timing kept."""
        return Conditioning(torch.zeros_like(self.cross), self.cross_mask, self.global_cond)

    def cat(self, other: "Conditioning") -> "Conditioning":
        """Batch concatenation (the doubled CFG batch)."""
        g = None if self.global_cond is None else torch.cat([self.global_cond, other.global_cond])
        return Conditioning(torch.cat([self.cross, other.cross]), torch.cat([self.cross_mask, other.cross_mask]), g)

    def where(self, keep: torch.Tensor, other: "Conditioning") -> "Conditioning":
        """Per item: this conditioning where ``keep`` [B] is True, ``other``'s cross-attention input elsewhere."""
        k = keep[:, None, None].to(self.cross.device)
        return Conditioning(torch.where(k, self.cross, other.cross.to(self.cross.dtype)),
                            torch.where(k[..., 0], self.cross_mask, other.cross_mask), self.global_cond)

    def to(self, dtype: torch.dtype) -> "Conditioning":
        g = None if self.global_cond is None else self.global_cond.to(dtype)
        return Conditioning(self.cross.to(dtype), self.cross_mask, g)


TIMING_IDS = ("seconds_start", "seconds_total")


class Conditioner(nn.Module):
    """Text + timing -> :class:`Conditioning`. The text encoder is frozen and kept out of the state dict; only
    its output projection (when its width differs from ``cond_dim``) and the timing embedders are parameters. A timing
    embedder exists only for the timing ids the config routes somewhere (SAO-small: ``seconds_total`` alone)."""

    def __init__(self, cfg: ConditioningConfig, text_encoder: TextEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        used = set(cfg.cross_attention_ids) | set(cfg.global_ids)
        unknown = sorted(used - {"prompt", *TIMING_IDS})
        if unknown:
            raise ValueError(f"unknown conditioning id(s) {unknown}; expected 'prompt' and {list(TIMING_IDS)}")
        self.timing_ids = tuple(k for k in TIMING_IDS if k in used)  # SAO-small has seconds_total only
        for name in self.timing_ids:
            setattr(self, name, timing_conditioner(cfg))
        self.prompt_proj = nn.Linear(cfg.text.dim, cfg.cond_dim) if cfg.text.dim != cfg.cond_dim else nn.Identity()
        self.__dict__["_text_encoder"] = text_encoder  # not a submodule: frozen, loaded from its own files

    @property
    def text_encoder(self) -> TextEncoder:
        if self.__dict__["_text_encoder"] is None:
            self.__dict__["_text_encoder"] = build_text_encoder(self.cfg.text)
        return self.__dict__["_text_encoder"]

    def embed(self, prompt_tokens: torch.Tensor, prompt_mask: torch.Tensor, seconds_start: torch.Tensor,
              seconds_total: torch.Tensor) -> Conditioning:
        """From text-encoder output ``[B, S, text_dim]`` and timings ``[B]`` (seconds)."""
        dtype = next(self.parameters()).dtype
        values = {"seconds_start": seconds_start, "seconds_total": seconds_total}
        parts = {"prompt": self.prompt_proj(prompt_tokens.to(dtype)) * prompt_mask[..., None].to(dtype)}
        masks = {"prompt": prompt_mask.bool()}
        for name in self.timing_ids:
            parts[name] = getattr(self, name)(values[name])
            masks[name] = torch.ones(len(values[name]), 1, dtype=torch.bool, device=prompt_mask.device)
        cross = torch.cat([parts[k] for k in self.cfg.cross_attention_ids], dim=1)
        mask = torch.cat([masks[k] for k in self.cfg.cross_attention_ids], dim=1)
        glob = torch.cat([parts[k][:, 0] for k in self.cfg.global_ids], dim=-1) if self.cfg.global_ids else None
        return Conditioning(cross, mask, glob)

    def forward(self, prompts: list[str], seconds_start: list[float], seconds_total: list[float],
                device: torch.device | str = "cpu") -> Conditioning:
        tokens, mask = self.text_encoder.encode(prompts, device)
        t = lambda v: torch.as_tensor(v, dtype=torch.float32, device=device)  # noqa: E731
        return self.embed(tokens, mask, t(seconds_start), t(seconds_total))
