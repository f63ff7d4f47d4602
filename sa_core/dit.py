"""Diffusion Transformer of Stable Audio Open (stable-audio-tools ``models/dit.py``, ``models/transformer.py``),
with the reference's key names.

x ``[B, io, L]`` latents, t ``[B]`` in [0, 1] (v-diffusion time), conditioning: cross-attention tokens
``[B, S, cond_token_dim]`` and a global vector ``[B, global_cond_dim]`` -> v ``[B, io, L]``.

global token = to_global_embed(global) + to_timestep_embed(Fourier(t)), *prepended* to the sequence (L + 1 tokens);
24 pre-norm blocks: self-attention with partial RoPE (first 32 dims of each 64-d head), cross-attention whose
K/V heads (cond_dim / 64) are repeated to the query heads, SwiGLU feed-forward; bias-less LayerNorms whose zero
``beta`` is a buffer. Attention runs through ``F.scaled_dot_product_attention``; cross-attention is unmasked, as in
the released model. The text tokens' keys and values (``to_cond_embed`` + each layer's ``to_kv``/``k_norm``) are one
function of the context, :meth:`DiT.context_kv`, which a sampling run computes once (``context_cache``,
:mod:`sa_core.context_cache`).

stable-audio-open-small adds (``DiTConfig``): ``qk_norm="ln"``, an affine ``nn.LayerNorm(head_dim, eps=1e-6)`` on
q and k of both attentions (keys ``q_norm``/``k_norm``), applied before RoPE; and ``project_cond_tokens``, which makes
``to_cond_embed`` map the text tokens to ``embed_dim``, so cross-attention K/V have as many heads as the queries.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sa_core.config import DiTConfig
from sa_core.context_cache import KV, ContextCache


class LayerNorm(nn.Module):
    """LayerNorm with a learned ``gamma`` and a fixed zero ``beta`` buffer (saved in the checkpoint)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.gamma, self.beta, self.eps)


class FourierFeatures(nn.Module):
    """``t`` [B, 1] -> [cos(2 pi t W^T), sin(2 pi t W^T)] [B, out]; W [out/2, 1] learned."""

    def __init__(self, out_features: int, std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, 1) * std)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * t @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding over the first ``dim`` channels of each head (base 10000)."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / base ** (torch.arange(0, dim, 2).float() / dim))  # persistent

    def forward(self, length: int, device: torch.device) -> torch.Tensor:
        """``[length, dim]`` angles, fp32."""
        freqs = torch.arange(length, device=device, dtype=torch.float32)[:, None] * self.inv_freq.float()[None]
        return torch.cat([freqs, freqs], dim=-1)


def apply_rotary(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``angles.shape[-1]`` channels of ``x`` [B, H, L, D] (rotate-half convention), in fp32."""
    rot = angles.shape[-1]
    x_rot, x_pass = x[..., :rot].float(), x[..., rot:]
    x1, x2 = x_rot.chunk(2, dim=-1)
    rotated = x_rot * angles.cos() + torch.cat([-x2, x1], dim=-1) * angles.sin()
    return torch.cat([rotated.to(x.dtype), x_pass], dim=-1)


def split_heads(x: torch.Tensor, dim_head: int) -> torch.Tensor:
    B, L, D = x.shape
    return x.view(B, L, D // dim_head, dim_head).transpose(1, 2)  # [B, H, L, d]


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, H, L, d = x.shape
    return x.transpose(1, 2).reshape(B, L, H * d)


def qk_norms(kind: str, dim_head: int) -> tuple[nn.Module, nn.Module]:
    """(q_norm, k_norm) over each head's channels: affine LayerNorm (eps 1e-6) for ``ln``, parameter-free identities
    for ``none`` (so a model without q/k normalisation has no such keys)."""
    if kind == "ln":
        return nn.LayerNorm(dim_head, eps=1e-6), nn.LayerNorm(dim_head, eps=1e-6)
    if kind == "none":
        return nn.Identity(), nn.Identity()
    raise ValueError(f"unknown qk_norm {kind!r}; expected 'none' or 'ln'")


class SelfAttention(nn.Module):
    def __init__(self, dim: int, dim_head: int, qk_norm: str = "none"):
        super().__init__()
        self.dim_head = dim_head
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.q_norm, self.k_norm = qk_norms(qk_norm, dim_head)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(t, self.dim_head) for t in self.to_qkv(x).chunk(3, dim=-1))
        q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rotary(q, angles), apply_rotary(k, angles)
        return self.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    """Queries from the sequence, keys/values from the context with ``cond_dim / dim_head`` heads, repeated
    (``repeat_interleave``) to the query heads."""

    def __init__(self, dim: int, cond_dim: int, dim_head: int, qk_norm: str = "none"):
        super().__init__()
        self.dim_head = dim_head
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(cond_dim, 2 * cond_dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.q_norm, self.k_norm = qk_norms(qk_norm, dim_head)

    def kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``context`` [B, S, C] -> normalised keys and values [B, C / dim_head, S, dim_head] (what a
        :class:`~sa_core.context_cache.ContextCache` keeps)."""
        k, v = (split_heads(t, self.dim_head) for t in self.to_kv(context).chunk(2, dim=-1))
        return self.k_norm(k), v

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q = self.q_norm(split_heads(self.to_q(x), self.dim_head))
        k, v = kv
        repeat = q.shape[1] // k.shape[1]
        if repeat > 1:
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        return self.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class GLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.silu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.ff = nn.Sequential(GLU(dim, mult * dim), nn.Identity(), nn.Linear(mult * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, dim_head: int, cond_dim: int, ff_mult: int, qk_norm: str = "none"):
        super().__init__()
        self.pre_norm = LayerNorm(dim)
        self.self_attn = SelfAttention(dim, dim_head, qk_norm)
        self.cross_attend_norm = LayerNorm(dim)
        self.cross_attn = CrossAttention(dim, cond_dim, dim_head, qk_norm)
        self.ff_norm = LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], angles: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.pre_norm(x), angles)
        x = x + self.cross_attn(self.cross_attend_norm(x), kv)
        return x + self.ff(self.ff_norm(x))


class ContinuousTransformer(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        dim_head = cfg.embed_dim // cfg.num_heads
        self.project_in = nn.Linear(cfg.io_channels, cfg.embed_dim, bias=False)
        self.project_out = nn.Linear(cfg.embed_dim, cfg.io_channels, bias=False)
        self.rotary_pos_emb = RotaryEmbedding(max(dim_head // 2, 32))
        context_dim = cfg.embed_dim if cfg.project_cond_tokens else cfg.cond_token_dim
        self.layers = nn.ModuleList(
            TransformerBlock(cfg.embed_dim, dim_head, context_dim, cfg.ff_mult, cfg.qk_norm) for _ in range(cfg.depth))

    def context_kv(self, context: torch.Tensor) -> KV:
        """Every layer's cross-attention keys and values of ``context`` [B, S, C]."""
        return [layer.cross_attn.kv(context) for layer in self.layers]

    def forward(self, x: torch.Tensor, prepend: torch.Tensor, kvs: KV) -> torch.Tensor:
        """``x`` [B, L, io], ``prepend`` [B, P, E], ``kvs`` (:meth:`context_kv`) -> [B, P + L, io]."""
        x = torch.cat([prepend, self.project_in(x)], dim=1)
        angles = self.rotary_pos_emb(x.shape[1], x.device)
        for layer, kv in zip(self.layers, kvs):
            x = layer(x, kv, angles)
        return self.project_out(x)


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        E, C, G = cfg.embed_dim, cfg.cond_token_dim, cfg.global_cond_dim
        self.timestep_features = FourierFeatures(256)
        self.to_timestep_embed = nn.Sequential(nn.Linear(256, E), nn.SiLU(), nn.Linear(E, E))
        Cp = E if cfg.project_cond_tokens else C
        self.to_cond_embed = nn.Sequential(nn.Linear(C, Cp, bias=False), nn.SiLU(), nn.Linear(Cp, Cp, bias=False))
        self.to_global_embed = nn.Sequential(nn.Linear(G, E, bias=False), nn.SiLU(), nn.Linear(E, E, bias=False))
        self.preprocess_conv = nn.Conv1d(cfg.io_channels, cfg.io_channels, 1, bias=False)
        self.postprocess_conv = nn.Conv1d(cfg.io_channels, cfg.io_channels, 1, bias=False)
        nn.init.zeros_(self.preprocess_conv.weight)
        nn.init.zeros_(self.postprocess_conv.weight)
        self.transformer = ContinuousTransformer(cfg)
        self.context_cache: ContextCache | None = None  # set for a sampling run by StableAudio.reusing_context

    def context_kv(self, cross: torch.Tensor) -> KV:
        """Per-layer cross-attention keys and values of the text tokens ``cross`` [B, S, C] (model dtype)."""
        return self.transformer.context_kv(self.to_cond_embed(cross.to(self.preprocess_conv.weight.dtype)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross: torch.Tensor,
                global_cond: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, io, L], ``t`` [B], ``cross`` [B, S, C], ``global_cond`` [B, G] -> v [B, io, L]."""
        dtype = self.preprocess_conv.weight.dtype
        x = x.to(dtype)
        g = self.to_timestep_embed(self.timestep_features(t.to(dtype)[:, None]))  # [B, E]
        if global_cond is not None:
            g = g + self.to_global_embed(global_cond.to(dtype))
        x = self.preprocess_conv(x) + x
        cache = None if torch.is_grad_enabled() else self.context_cache
        kvs = cache.get(cross, self.context_kv) if cache is not None else self.context_kv(cross)
        y = self.transformer(x.transpose(1, 2), g[:, None], kvs)  # [B, 1 + L, io]
        y = y[:, 1:].transpose(1, 2)  # drop the prepended global token
        return self.postprocess_conv(y) + y
