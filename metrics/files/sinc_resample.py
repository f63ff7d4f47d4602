"""The windowed-sinc fractional resampler of julius 0.2 (``julius.resample_frac``, zeros 24, rolloff 0.945), which
audiocraft's ``convert_audio`` runs before its metrics (``audiocraft/data/audio_utils.py``).

Both rates are divided by their gcd, giving ``old`` input and ``new`` output samples per period. Output phase ``i``
of a period is a dot product of the input around it with a sinc lowpass at ``rolloff * min(old, new) / 2`` times a
raised-cosine window over ``zeros`` crossings, normalised to unit sum. The input is edge-padded (replicate) by the
kernel's half width ``w`` before and ``w + old`` after; the output keeps ``floor(T * new / old)`` samples.
"""
from __future__ import annotations

import math

import torch

ZEROS = 24
ROLLOFF = 0.945


def sinc_kernels(old: int, new: int, zeros: int = ZEROS, rolloff: float = ROLLOFF) -> tuple[torch.Tensor, int]:
    """``([new, 1, 2 w + old], w)``: one filter per output phase (rates already divided by their gcd)."""
    cutoff = min(old, new) * rolloff
    width = math.ceil(zeros * old / cutoff)
    taps = torch.arange(-width, width + old).float() / old  # input positions, in periods
    phases = torch.arange(new).float()[:, None] / new  # [new, 1]
    t = ((taps[None] - phases) * cutoff).clamp(-zeros, zeros) * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    kernel = sinc * torch.cos(t / zeros / 2) ** 2
    return (kernel / kernel.sum(1, keepdim=True))[:, None], width


def resample_sinc(x: torch.Tensor, sr_in: int, sr_out: int) -> torch.Tensor:
    """``[..., T]`` float32 at ``sr_in`` -> ``[..., floor(T * sr_out / sr_in)]`` at ``sr_out``; same rate: ``x``."""
    g = math.gcd(sr_in, sr_out)
    old, new = sr_in // g, sr_out // g
    if old == new:
        return x
    kernel, width = sinc_kernels(old, new)
    shape, length = x.shape[:-1], x.shape[-1]
    padded = torch.nn.functional.pad(x.reshape(-1, 1, length), (width, width + old), mode="replicate")
    y = torch.nn.functional.conv1d(padded, kernel, stride=old)  # [N, new, periods]
    y = y.transpose(1, 2).reshape(*shape, -1)
    return y[..., :int(new * length / old)]
