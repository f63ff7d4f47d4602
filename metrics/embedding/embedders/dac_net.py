"""The Descript Audio Codec encoder (descriptinc/descript-audio-codec 1.0.0, ``dac/model/dac.py`` ``Encoder``,
``dac/nn/layers.py``) in PyTorch, reading the released 44.1 kHz checkpoint ``weights.pth`` of tag 0.0.1 (cached by
``dac`` as ``weights_44khz_8kbps_0.0.1.pth``).

The file is what audiotools' ``BaseModel.save(path, package=False)`` writes: ``{"state_dict": the whole DAC's state
dict (encoder, quantizer, decoder), "metadata": {"kwargs": the constructor's arguments}}``. The metadata holds only
plain Python values (ints, lists, bools), so ``torch.load(weights_only=True)`` reads it; the kwargs are checked
against the 44.1 kHz geometry below (rate, strides, latent width; the width ``encoder_dim`` is read from them) and
only ``encoder.*`` is used.

Layout (``Encoder(d_model=64, strides=[2, 4, 8, 8], d_latent=1024)``), ``block.<i>``:
  0: conv 1 -> 64, kernel 7, padding 3
  1-4: per stride s in 2, 4, 8, 8 (width w = 64, 128, 256, 512 in, 2w out): three residual units on w channels
       with dilations 1, 3, 9 (Snake, conv kernel 7 padding 3d, Snake, conv kernel 1; plus the input), Snake,
       conv w -> 2w with kernel 2s, stride s, padding ceil(s / 2)
  5: Snake on 1024; 6: conv 1024 -> 1024, kernel 3, padding 1.
Every conv is weight-normed (``weight_g`` [out, 1, 1], ``weight_v``; the norm over all dims but 0) with a bias:
:class:`sa_core.autoencoder.WNConv1d`, the Oobleck VAE's.
Snake: ``x + sin(alpha x)^2 / (alpha + 1e-9)`` with one alpha per channel. Output ``[B, 1024, frames]``; a
5 s window (220500 samples) gives 430 frames (hop 512, plus the strided convs' edges).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sa_core.autoencoder import WNConv1d  # the Oobleck VAE's: the same weight_g / weight_v conv
from sa_util.state_dict import load_state_strict, read_weights

EXPECTED = ("a DAC checkpoint as descript-audio-codec saves it ({'state_dict': encoder.*, quantizer.*, decoder.*, "
            "'metadata': {'kwargs': ...}}) of the 44.1 kHz model, as in weights_44khz_8kbps_0.0.1.pth")
DILATIONS = (1, 3, 9)


@dataclass(frozen=True)
class DacConfig:
    """The encoder's part of ``DAC(...)``'s constructor arguments."""

    encoder_dim: int = 64
    encoder_rates: tuple[int, ...] = (2, 4, 8, 8)
    latent_dim: int = 1024
    sample_rate: int = 44100


DAC_44KHZ = DacConfig()


class Snake(nn.Module):
    """``x + sin(alpha x)^2 / (alpha + 1e-9)``, alpha ``[1, C, 1]`` (key ``alpha``); shape preserved."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.empty(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)
        # the same operations in the same order, in one buffer (the elementwise passes cost as much as the convs)
        y = torch.sin(self.alpha * x)
        return y.square_().mul_((self.alpha + 1e-9).reciprocal()).add_(x)


class ResidualUnit(nn.Module):
    """Snake, conv k7 (dilation d, same length), Snake, conv k1, plus the input (key ``block.{1,3}``)."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(Snake(width), WNConv1d(width, width, 7, dilation=dilation, padding=3 * dilation),
                                   Snake(width), WNConv1d(width, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    """Residual units on ``width`` channels, then Snake and the strided conv to ``2 * width`` (key ``block.<i>``):
    ``[B, width, T]`` -> ``[B, 2 * width, T']``."""

    def __init__(self, width: int, stride: int):
        super().__init__()
        self.block = nn.Sequential(*(ResidualUnit(width, d) for d in DILATIONS), Snake(width),
                                   WNConv1d(width, 2 * width, 2 * stride, stride=stride, padding=math.ceil(stride / 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DacEncoder(nn.Module):
    """``[B, 1, T]`` -> ``[B, latent_dim, frames]`` (keys as ``DAC.encoder``'s without the ``encoder.`` prefix)."""

    def __init__(self, config: DacConfig = DAC_44KHZ):
        super().__init__()
        width = config.encoder_dim
        layers: list[nn.Module] = [WNConv1d(1, width, 7, padding=3)]
        for stride in config.encoder_rates:
            layers.append(EncoderBlock(width, stride))
            width *= 2
        layers += [Snake(width), WNConv1d(width, config.latent_dim, 3, padding=1)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def read_config(kwargs: Any, path: Path) -> DacConfig:
    """The :class:`DacConfig` of a checkpoint's ``metadata["kwargs"]`` (``latent_dim`` None means ``encoder_dim * 2 **
    len(encoder_rates)``, as ``DAC.__init__`` takes it); one line unless it has the 44.1 kHz model's geometry: its
    rate, strides (hop 512) and 1024-d latent. The encoder's width is read as ``DAC.load`` reads it (the release's is
    64; the tests' pipeline runs use a narrower random model in the same format)."""
    if not isinstance(kwargs, dict):
        raise ValueError(f"{path}: no metadata['kwargs'] with the model's arguments; expected {EXPECTED}")
    dim = kwargs.get("encoder_dim", DAC_44KHZ.encoder_dim)
    rates = tuple(kwargs.get("encoder_rates", DAC_44KHZ.encoder_rates))
    latent = kwargs.get("latent_dim")
    config = DacConfig(dim, rates, dim * 2 ** len(rates) if latent is None else latent,
                       kwargs.get("sample_rate", DAC_44KHZ.sample_rate))
    if not isinstance(dim, int) or dim < 1 or dataclasses.replace(config, encoder_dim=DAC_44KHZ.encoder_dim) != DAC_44KHZ:
        raise ValueError(f"{path}: a DAC of {config}, not the 44.1 kHz model dac-44kHz runs ({DAC_44KHZ})")
    return config


def load_dac_encoder(path: Path) -> DacEncoder:
    """The encoder of a released DAC ``.pth`` (its ``state_dict``'s ``encoder.*`` entries; the file must also hold
    the decoder the release has, so a truncated or foreign file is refused)."""
    raw = read_weights(path, EXPECTED)
    if not isinstance(raw, dict) or not isinstance(raw.get("state_dict"), dict):
        raise ValueError(f"{path}: not a DAC checkpoint (no 'state_dict'); expected {EXPECTED}")
    state = raw["state_dict"]
    if not any(str(k).startswith("decoder.") for k in state):
        raise ValueError(f"{path}: not a whole DAC model state dict; expected {EXPECTED}")
    config = read_config((raw.get("metadata") or {}).get("kwargs"), path)
    encoder_state = {k[len("encoder."):]: v.float() for k, v in state.items()
                     if str(k).startswith("encoder.") and isinstance(v, torch.Tensor)}
    with torch.device("meta"):
        net = DacEncoder(config)
    load_state_strict(net, encoder_state, path, EXPECTED)
    return net.eval()
