"""The Stable Audio 1.0 U-Net (stable-audio-tools ``models/adp.py``; audio-diffusion-pytorch's UNet1d as
stable-audio-tools configures it), with the reference's key names.

x ``[B, 64, L]`` (L divisible by the total downsampling, 16), t ``[B]`` in [0, 1], context ``[B, 79, 768]``
(77 CLAP tokens + seconds_start + seconds_total) -> v ``[B, 64, L]``.

Time -> mapping (Fourier features, 2 GELU MLP) drives every ResnetBlock's scale/shift. Each down level: strided
conv (k = 2f + 1), ResnetBlocks and a Transformer1d (self-attention, cross-attention, FF), keeping every block's
output as a skip; the bottleneck is ResnetBlock, Transformer1d, ResnetBlock; each up level concatenates skips
(scaled by 2^-1/2) into its ResnetBlocks, then attends, then upsamples (transposed conv k = 2f). The null context
for classifier-free guidance is a learned table (``fixed_embedding``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sa_core.conditioning import LearnedPositionalEmbedding
from sa_core.config import UNetConfig


class Conv1d(nn.Conv1d):
    """Conv1d with automatic padding: total k - stride, right half = total // 2, so L -> L / stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.kernel_size[0] - self.stride[0]
        return super().forward(F.pad(x, (total - total // 2, total // 2)))


class ConvTranspose1d(nn.ConvTranspose1d):
    """Transposed conv trimmed by k - stride (the same split) so L -> L * stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        total = self.kernel_size[0] - self.stride[0]
        return y[..., total - total // 2: y.shape[-1] - total // 2]


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.groupnorm = nn.GroupNorm(groups, c_in)
        self.project = Conv1d(c_in, c_out, 3)

    def forward(self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.groupnorm(x)
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return self.project(F.silu(x))


class MappingToScaleShift(nn.Module):
    def __init__(self, features: int, channels: int):
        super().__init__()
        self.to_scale_shift = nn.Sequential(nn.SiLU(), nn.Linear(features, 2 * channels))

    def forward(self, mapping: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self.to_scale_shift(mapping)[..., None].chunk(2, dim=1)
        return scale, shift


class ResnetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, groups: int, mapping_features: int):
        super().__init__()
        self.block1 = ConvBlock(c_in, c_out, groups)
        self.to_scale_shift = MappingToScaleShift(mapping_features, c_out)
        self.block2 = ConvBlock(c_out, c_out, groups)
        self.to_out = Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        h = self.block2(self.block1(x), self.to_scale_shift(mapping))
        return h + self.to_out(x)


class Patcher(nn.Module):
    """``to_in`` / ``to_out``: a ResnetBlock with one group (patch size 1)."""

    def __init__(self, c_in: int, c_out: int, mapping_features: int):
        super().__init__()
        self.block = ResnetBlock(c_in, c_out, 1, mapping_features)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        return self.block(x, mapping)


class AttentionOut(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.to_out = nn.Linear(features, features)


class Attention(nn.Module):
    """Pre-LayerNorm attention of ``x`` [B, L, C] over ``context`` [B, S, Cc] (x itself for self-attention).
    Masked context tokens get zero keys and values (the reference's masking)."""

    def __init__(self, features: int, heads: int, context_features: int | None = None):
        super().__init__()
        context_features = context_features or features
        self.heads = heads
        self.norm = nn.LayerNorm(features)
        self.norm_context = nn.LayerNorm(context_features)
        self.to_q = nn.Linear(features, features, bias=False)
        self.to_kv = nn.Linear(context_features, 2 * features, bias=False)
        self.attention = AttentionOut(features)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(x)
        context = self.norm_context(x if context is None else context)
        q, (k, v) = self.to_q(x), self.to_kv(context).chunk(2, dim=-1)
        if mask is not None:
            k, v = k * mask[..., None], v * mask[..., None]
        B, L, C = q.shape
        q, k, v = (t.view(B, -1, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, C)
        return self.attention.to_out(out)


class TransformerBlock(nn.Module):
    def __init__(self, features: int, heads: int, multiplier: int, context_features: int):
        super().__init__()
        self.attention = Attention(features, heads)
        self.cross_attention = Attention(features, heads, context_features)
        self.feed_forward = nn.Sequential(nn.Linear(features, multiplier * features), nn.GELU(),
                                          nn.Linear(multiplier * features, features))

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attention(x)
        x = x + self.cross_attention(x, context, mask)
        return x + self.feed_forward(x)


class Transformer1d(nn.Module):
    """``[B, C, L]``: GroupNorm + 1x1 conv in, transformer blocks over time, 1x1 conv out."""

    def __init__(self, layers: int, channels: int, heads: int, multiplier: int, context_features: int):
        super().__init__()
        self.to_in = nn.Sequential(nn.GroupNorm(32, channels, eps=1e-6), Conv1d(channels, channels, 1))
        self.blocks = nn.ModuleList(TransformerBlock(channels, heads, multiplier, context_features)
                                    for _ in range(layers))
        self.to_out = nn.Sequential(nn.Identity(), Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.to_in(x).transpose(1, 2)  # [B, L, C]
        for block in self.blocks:
            h = block(h, context, mask)
        return self.to_out(h.transpose(1, 2))


class DownsampleBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, factor: int, n_blocks: int, n_attn: int, cfg: UNetConfig, mf: int):
        super().__init__()
        self.downsample = Conv1d(c_in, c_out, factor * cfg.kernel_multiplier_downsample + 1, stride=factor)
        self.blocks = nn.ModuleList(ResnetBlock(c_out, c_out, cfg.resnet_groups, mf) for _ in range(n_blocks))
        self.transformer = Transformer1d(n_attn, c_out, cfg.attention_heads, cfg.attention_multiplier,
                                         cfg.context_features) if n_attn else None

    def forward(self, x: torch.Tensor, mapping: torch.Tensor, context: torch.Tensor,
                mask: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.downsample(x)
        skips = []
        for block in self.blocks:
            x = block(x, mapping)
            skips.append(x)
        if self.transformer is not None:
            x = self.transformer(x, context, mask)
            skips.append(x)
        return x, skips


class UpsampleBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, factor: int, n_blocks: int, n_attn: int, cfg: UNetConfig, mf: int):
        super().__init__()
        self.skip_scale = 2 ** -0.5 if cfg.use_skip_scale else 1.0
        self.blocks = nn.ModuleList(ResnetBlock(2 * c_in, c_in, cfg.resnet_groups, mf) for _ in range(n_blocks))
        self.transformer = Transformer1d(n_attn, c_in, cfg.attention_heads, cfg.attention_multiplier,
                                         cfg.context_features) if n_attn else None
        self.upsample = (ConvTranspose1d(c_in, c_out, 2 * factor, stride=factor) if factor > 1
                         else Conv1d(c_in, c_out, 3))

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor], mapping: torch.Tensor, context: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        for block in self.blocks:
            x = block(torch.cat([x, skips.pop() * self.skip_scale], dim=1), mapping)
        if self.transformer is not None:
            x = self.transformer(x, context, mask)
        return self.upsample(x)


class Bottleneck(nn.Module):
    def __init__(self, channels: int, n_attn: int, cfg: UNetConfig, mf: int):
        super().__init__()
        self.pre_block = ResnetBlock(channels, channels, cfg.resnet_groups, mf)
        self.transformer = Transformer1d(n_attn, channels, cfg.attention_heads, cfg.attention_multiplier,
                                         cfg.context_features)
        self.post_block = ResnetBlock(channels, channels, cfg.resnet_groups, mf)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor, context: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        return self.post_block(self.transformer(self.pre_block(x, mapping), context, mask), mapping)


class FixedEmbedding(nn.Module):
    def __init__(self, length: int, features: int):
        super().__init__()
        self.embedding = nn.Embedding(length, features)

    def forward(self, batch: int) -> torch.Tensor:
        return self.embedding.weight[None].expand(batch, -1, -1)  # [B, length, features]


class UNet1d(nn.Module):
    def __init__(self, cfg: UNetConfig, cond_dim: int = 768):
        super().__init__()
        if cfg.context_features != cond_dim:
            raise ValueError(f"unet.context_features ({cfg.context_features}) must equal cond_dim ({cond_dim})")
        self.cfg = cfg
        ch = [cfg.channels * m for m in cfg.multipliers]
        mf = ch[0]  # mapping features
        self.to_time = nn.Sequential(nn.Sequential(LearnedPositionalEmbedding(256), nn.Linear(257, mf)), nn.GELU())
        self.to_mapping = nn.Sequential(nn.Linear(mf, mf), nn.GELU(), nn.Linear(mf, mf), nn.GELU())
        self.to_in = Patcher(cfg.in_channels, ch[0], mf)
        n = len(cfg.factors)
        self.downsamples = nn.ModuleList(
            DownsampleBlock(ch[i], ch[i + 1], cfg.factors[i], cfg.num_blocks[i], cfg.attentions[i], cfg, mf)
            for i in range(n))
        self.bottleneck = Bottleneck(ch[-1], cfg.attentions[-1], cfg, mf)
        self.upsamples = nn.ModuleList(
            UpsampleBlock(ch[i + 1], ch[i], cfg.factors[i], cfg.num_blocks[i] + 1, cfg.attentions[i], cfg, mf)
            for i in reversed(range(n)))
        self.to_out = Patcher(ch[0], cfg.in_channels, mf)
        self.fixed_embedding = FixedEmbedding(cfg.context_max_length, cfg.context_features)

    @property
    def total_factor(self) -> int:
        out = 1
        for f in self.cfg.factors:
            out *= f
        return out

    def null_context(self, batch: int) -> torch.Tensor:
        """The learned unconditional context ``[B, 79, 768]`` (CFG and conditioning dropout)."""
        return self.fixed_embedding(batch)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross: torch.Tensor,
                global_cond: torch.Tensor | None = None, cross_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, C, L] (L divisible by ``total_factor``), ``t`` [B], ``cross`` [B, 79, 768] -> v [B, C, L]."""
        if x.shape[-1] % self.total_factor:
            raise ValueError(f"U-Net input length {x.shape[-1]} is not divisible by {self.total_factor}")
        dtype = self.to_mapping[0].weight.dtype
        x, cross = x.to(dtype), cross.to(dtype)
        mapping = self.to_mapping(self.to_time(t.to(dtype)))  # [B, 1024]
        mask = None if cross_mask is None else cross_mask.to(dtype)
        x = self.to_in(x, mapping)
        skips = [x]
        for down in self.downsamples:
            x, s = down(x, mapping, cross, mask)
            skips += s
        x = self.bottleneck(x, mapping, cross, mask)
        for up in self.upsamples:
            x = up(x, skips, mapping, cross, mask)
        return self.to_out(x + skips.pop(), mapping)
