"""EnCodec's SEANet encoder (facebookresearch/encodec 0.1.1, ``encodec/modules/{seanet,conv,lstm}.py``) in PyTorch,
reading the released ``encodec_24khz-d7cc33bc.th`` / ``encodec_48khz-7e698e3e.th`` (the whole model's state dict;
only ``encoder.*`` is used).

Layout (``SEANetEncoder(channels, dimension=128, n_filters=32, n_residual_layers=1, ratios=[8, 5, 4, 2], ELU, kernel
7, residual kernel 3, compress 2, true_skip=False, lstm=2)``), ``model.<i>``:
  0: conv C -> 32, kernel 7
  1-12: per down-sampling ratio 2, 4, 5, 8 (width w doubling from 32): residual block (ELU, conv w -> w/2 kernel 3,
        ELU, conv w/2 -> w kernel 1; plus a kernel-1 conv shortcut), ELU, conv w -> 2w with kernel 2r and stride r
  13: 2-layer LSTM over time with a skip connection; 14: ELU; 15: conv 512 -> 128, kernel 7.
Every conv pads as ``SConv1d``: ``(k - 1) * dilation - (stride - 1)`` samples in all, plus what makes the last
window full; causal (24 kHz): all on the left; otherwise (48 kHz) the extra half on the left; reflect mode, with zeros
appended first where the input is shorter than the padding. Norms: ``weight_norm`` (24 kHz; ``weight_g``/``weight_v``,
the norm over all dims but 0) or ``time_group_norm`` (48 kHz: a plain conv followed by ``GroupNorm(1, C)``).
Output ``[B, 128, ceil(T / 320)]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from sa_util.state_dict import load_state_strict, read_weights

RATIOS = (2, 4, 5, 8)  # the encoder's order (ratios [8, 5, 4, 2] reversed)
HOP = 320
DIMENSION = 128
EXPECTED = "an EnCodec model state dict (encoder.model.*, quantizer.*, decoder.*) as in encodec_24khz-d7cc33bc.th"


@dataclass(frozen=True)
class EncodecVariant:
    sample_rate: int
    channels: int
    causal: bool
    norm: str  # "weight_norm" or "time_group_norm"
    segment_seconds: float | None  # the model's segment: fadtk encodes segments of this length one by one
    max_seconds: float  # fadtk cuts longer audio
    weights: str  # metrics.embedding.weights registry name


VARIANTS = {
    "24k": EncodecVariant(24000, 1, True, "weight_norm", None, 180.0, "encodec-24khz"),
    "48k": EncodecVariant(48000, 2, False, "time_group_norm", 1.0, 180.0, "encodec-48khz"),
}


def pad1d_reflect(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflect padding that also works on inputs shorter than the padding (zeros appended first, then removed)."""
    if left == right == 0:  # kernel-1 convs: no copy
        return x
    extra = max(0, max(left, right) - x.shape[-1] + 1)
    padded = F.pad(F.pad(x, (0, extra)) if extra else x, (left, right), mode="reflect")
    return padded[..., :padded.shape[-1] - extra] if extra else padded


class SConv(nn.Module):
    """One ``SConv1d``: padding as the module docstring says, then the normed conv. Keys ``conv.conv.*`` (+
    ``conv.norm.*`` for the time group norm)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, v: EncodecVariant, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Module()
        self.conv.conv = nn.Module()
        self.kernel, self.stride, self.dilation, self.causal = kernel, stride, dilation, v.causal
        inner = self.conv.conv
        if v.norm == "weight_norm":
            inner.weight_g = nn.Parameter(torch.empty(c_out, 1, 1))
            inner.weight_v = nn.Parameter(torch.empty(c_out, c_in, kernel))
            self.conv.norm = None
        else:
            inner.weight = nn.Parameter(torch.empty(c_out, c_in, kernel))
            self.conv.norm = nn.GroupNorm(1, c_out)
        inner.bias = nn.Parameter(torch.empty(c_out))

    def weight(self) -> torch.Tensor:
        inner = self.conv.conv
        if self.conv.norm is not None:
            return inner.weight
        v = inner.weight_v
        return inner.weight_g * v / v.norm(dim=(1, 2), keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel, self.stride
        total = (k - 1) * self.dilation - (s - 1)
        frames = (x.shape[-1] - k + total) / s + 1
        extra = (math.ceil(frames) - 1) * s + (k - total) - x.shape[-1]
        left = total if self.causal else total - total // 2
        x = pad1d_reflect(x, left, total - left + extra)
        y = F.conv1d(x, self.weight(), self.conv.conv.bias, stride=s, dilation=self.dilation)
        return self.conv.norm(y) if self.conv.norm is not None else y


class ResBlock(nn.Module):
    """ELU, conv k3, ELU, conv k1 (halved width inside), plus a kernel-1 conv shortcut. Keys ``block.{1,3}``,
    ``shortcut``."""

    def __init__(self, width: int, v: EncodecVariant):
        super().__init__()
        self.block = nn.Sequential(nn.ELU(), SConv(width, width // 2, 3, v), nn.ELU(), SConv(width // 2, width, 1, v))
        self.shortcut = SConv(width, width, 1, v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class SkipLSTM(nn.Module):
    """``[B, C, T]`` -> LSTM over T, plus the input."""

    def __init__(self, width: int):
        super().__init__()
        self.lstm = nn.LSTM(width, width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(2, 0, 1)
        y, _ = self.lstm(x)
        return (y + x).permute(1, 2, 0)


class EncodecEncoder(nn.Module):
    """``[B, C, T]`` -> ``[B, 128, ceil(T / 320)]``."""

    def __init__(self, v: EncodecVariant):
        super().__init__()
        layers: list[nn.Module] = [SConv(v.channels, 32, 7, v)]
        width = 32
        for r in RATIOS:
            layers += [ResBlock(width, v), nn.ELU(), SConv(width, 2 * width, 2 * r, v, stride=r)]
            width *= 2
        layers += [SkipLSTM(width), nn.ELU(), SConv(width, DIMENSION, 7, v)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def load_encodec_encoder(path: Path, variant: str) -> EncodecEncoder:
    """The encoder of a released EnCodec ``.th`` (its ``encoder.*`` entries; the file must also hold the quantizer
    and decoder the release has, so a truncated or foreign file is refused)."""
    state = read_weights(path, EXPECTED)
    if not isinstance(state, dict) or not any(str(k).startswith("decoder.") for k in state):
        raise ValueError(f"{path}: not a whole EnCodec model state dict; expected {EXPECTED}")
    encoder_state = {k[len("encoder."):]: v.float() for k, v in state.items()
                     if str(k).startswith("encoder.") and isinstance(v, torch.Tensor)}
    with torch.device("meta"):
        net = EncodecEncoder(VARIANTS[variant])
    load_state_strict(net, encoder_state, path, EXPECTED)
    return net.eval()
