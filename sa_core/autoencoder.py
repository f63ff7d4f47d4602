"""Oobleck / DAC-style VAE: Snake activations, weight-normed convolutions, a Gaussian (VAE) bottleneck.

Module names reproduce stable-audio-tools' layout (``encoder.layers.{i}...``, ``weight_g``/``weight_v``,
``alpha``/``beta``), so the stable-audio-open-1.0 ``pretransform.model.*`` weights load by a prefix rename.

Shapes: audio ``[B, io_channels, T]`` <-> latents ``[B, latent_dim, T / downsampling_ratio]``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sa_core.config import AutoencoderConfig


def _norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


class WNConv1d(nn.Module):
    """Conv1d with weight norm written out: weight = g * v / ||v|| (norm over all dims but 0), as the legacy
    ``torch.nn.utils.weight_norm`` stores it (``weight_g`` [out, 1, 1], ``weight_v`` [out, in, k])."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 bias: bool = True):
        super().__init__()
        v = torch.empty(c_out, c_in, kernel)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(_norm_except_dim0(v).clone())
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def weight(self) -> torch.Tensor:
        return self.weight_g * self.weight_v / _norm_except_dim0(self.weight_v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class WNConvTranspose1d(WNConv1d):
    """Transposed conv with weight norm; dim 0 of a transposed weight is the *input* channels:
    ``weight_v`` [in, out, k], ``weight_g`` [in, 1, 1]."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__(c_out, c_in, kernel, stride, padding)  # builds v as [in, out, k]
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding)


class SnakeBeta(nn.Module):
    """x + 1/(b + 1e-9) * sin(a x)^2 with per-channel a = exp(alpha), b = exp(beta) (log-scale params)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha.exp()[None, :, None]
        b = self.beta.exp()[None, :, None]
        return x + (1.0 / (b + 1e-9)) * torch.sin(a * x).pow(2)


def activation(channels: int, use_snake: bool) -> nn.Module:
    return SnakeBeta(channels) if use_snake else nn.ELU()


class ResidualUnit(nn.Module):
    """x + [act, conv k7 dilated, act, conv k1](x)."""

    def __init__(self, channels: int, dilation: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(
            activation(channels, use_snake), WNConv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            activation(channels, use_snake), WNConv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class EncoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(
            *(ResidualUnit(c_in, d, use_snake) for d in (1, 3, 9)), activation(c_in, use_snake),
            WNConv1d(c_in, c_out, 2 * stride, stride=stride, padding=math.ceil(stride / 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DecoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(
            activation(c_in, use_snake),
            WNConvTranspose1d(c_in, c_out, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
            *(ResidualUnit(c_out, d, use_snake) for d in (1, 3, 9)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def streams(cfg: AutoencoderConfig) -> int:
    """How many networks' worth of audio one item is: each channel alone (``per_channel``) or all together."""
    return cfg.io_channels if cfg.per_channel else 1


def stream_channels(cfg: AutoencoderConfig) -> int:
    return cfg.io_channels // streams(cfg)


def stream_latents(cfg: AutoencoderConfig) -> int:
    if cfg.latent_dim % streams(cfg):
        raise ValueError(f"per_channel: latent_dim {cfg.latent_dim} is not divisible by {cfg.io_channels} channels")
    return cfg.latent_dim // streams(cfg)


class Encoder(nn.Module):
    """One stream ``[N, stream_channels * patch, T / patch] -> [N, 2 * stream_latents, T / ratio]`` (mean, scale)."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        ch = [cfg.channels * m for m in (1, *cfg.c_mults)]
        self.layers = nn.Sequential(
            WNConv1d(stream_channels(cfg) * cfg.patch_size, ch[0], 7, padding=3),
            *(EncoderBlock(ch[i], ch[i + 1], s, cfg.use_snake) for i, s in enumerate(cfg.strides)),
            activation(ch[-1], cfg.use_snake), WNConv1d(ch[-1], 2 * stream_latents(cfg), 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """One stream ``[N, stream_latents, L] -> [N, stream_channels * patch, L * ratio / patch]``."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        ch = [cfg.channels * m for m in (1, *cfg.c_mults)][::-1]
        self.layers = nn.Sequential(
            WNConv1d(stream_latents(cfg), ch[0], 7, padding=3),
            *(DecoderBlock(ch[i], ch[i + 1], s, cfg.use_snake) for i, s in enumerate(cfg.strides[::-1])),
            activation(ch[-1], cfg.use_snake),
            WNConv1d(ch[-1], stream_channels(cfg) * cfg.patch_size, 7, padding=3, bias=False),
            nn.Tanh() if cfg.final_tanh else nn.Identity())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


def patch(audio: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, C, T]`` -> ``[B, C * size, T / size]``: "b c (l h) -> b (c h) l"."""
    B, C, T = audio.shape
    return audio.reshape(B, C, T // size, size).transpose(2, 3).reshape(B, C * size, T // size)


def unpatch(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of :func:`patch`: ``[B, C * size, L]`` -> ``[B, C, L * size]``."""
    B, CH, L = x.shape
    return x.reshape(B, channels, CH // channels, L).transpose(2, 3).reshape(B, channels, -1)


def vae_sample(moments: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian bottleneck. ``moments`` [B, 2D, L] = (mean, scale); std = softplus(scale) + 1e-4.

    Returns (z [B, D, L], kl) with kl = sum over channels, mean over batch and time of (mean^2 + var - log var - 1)
    (no 1/2 factor, as the reference). ``deterministic`` returns the mean; ``noise`` supplies the N(0, I) draw.
    """
    mean, scale = moments.chunk(2, dim=1)
    std = F.softplus(scale) + 1e-4
    var = std * std
    kl = (mean * mean + var - var.log() - 1).sum(1).mean()
    if deterministic:
        return mean, kl
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + std * noise.to(mean), kl


class Autoencoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    @property
    def downsampling_ratio(self) -> int:
        return self.cfg.downsampling_ratio

    def encode_moments(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, C, T]`` -> ``[B, 2D, ceil(T / ratio)]`` (mean, scale); T is right-padded to a multiple of the ratio."""
        audio = F.pad(audio, (0, (-audio.shape[-1]) % self.downsampling_ratio))
        B, S = audio.shape[0], streams(self.cfg)
        moments = self.encoder(patch(audio.reshape(B * S, -1, audio.shape[-1]), self.cfg.patch_size))
        # [B*S, (mean, scale) x D/S, L] -> [B, (mean, scale) x D, L], streams in order within each half
        return moments.reshape(B, S, 2, -1, moments.shape[-1]).transpose(1, 2).reshape(B, -1, moments.shape[-1])

    def decode_frames(self, latents: torch.Tensor) -> torch.Tensor:
        """Unscaled latents ``[B, D, L]`` -> audio ``[B, C, L * ratio]`` (one pass, no chunking)."""
        B, S = latents.shape[0], streams(self.cfg)
        audio = unpatch(self.decoder(latents.reshape(B * S, -1, latents.shape[-1])), stream_channels(self.cfg))
        return audio.reshape(B, self.cfg.io_channels, -1)

    def latent_shape(self, audio_shape: torch.Size) -> torch.Size:
        """The latents' shape ``[B, D, ceil(T / ratio)]`` for audio ``[B, C, T]``."""
        return torch.Size((audio_shape[0], self.cfg.latent_dim, -(-audio_shape[-1] // self.downsampling_ratio)))

    def encode(self, audio: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, T]`` -> (latents ``[B, D, ceil(T / ratio)]`` / latent_scale, kl). Samples, as the reference
        (``noise``: the bottleneck's N(0, I) draw, shape :meth:`latent_shape`)."""
        z, kl = vae_sample(self.encode_moments(audio), deterministic, generator, noise)
        return z / self.cfg.latent_scale, kl

    def decode(self, latents: torch.Tensor, chunk: int | None = None, overlap: int = 32) -> torch.Tensor:
        """``[B, D, L]`` -> ``[B, C, L * ratio]``. With ``chunk`` (latent frames), decode overlapping windows and
        keep each window's centre (``overlap`` frames are shared by neighbours; half is dropped on each side),
        so memory stays flat for long audio."""
        latents = latents * self.cfg.latent_scale
        L = latents.shape[-1]
        if chunk is None or L <= chunk:
            return self.decode_frames(latents)
        if overlap >= chunk:
            raise ValueError(f"overlap ({overlap}) must be smaller than chunk ({chunk})")
        ratio, hop, half = self.downsampling_ratio, chunk - overlap, overlap // 2
        pieces = []
        for start in range(0, L, hop):
            lo, hi = max(0, start - half), min(L, start + hop + half)
            audio = self.decode_frames(latents[..., lo:hi])
            keep_lo = (start - lo) * ratio
            pieces.append(audio[..., keep_lo:keep_lo + (min(start + hop, L) - start) * ratio])
            if start + hop >= L:
                break
        return torch.cat(pieces, dim=-1)

    def forward(self, audio: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Reconstruction pass for training: ``{"audio", "latents", "loss/kl"}`` (``noise``: the bottleneck draw)."""
        z, kl = vae_sample(self.encode_moments(audio), noise=noise)
        return {"audio": self.decode_frames(z)[..., :audio.shape[-1]], "latents": z, "loss/kl": kl}
