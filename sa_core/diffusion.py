"""The diffusion objectives (v and rectified flow), one class each, and classifier-free guidance as a wrapper.

Noise levels are k-diffusion sigmas (``x = x0 + sigma * eps``, sigma_data = 1); the network works in v-diffusion
time t = 2 atan(sigma) / pi, i.e. alpha = cos(t pi / 2) = 1 / sqrt(1 + sigma^2), sigma_v = sin(t pi / 2).

``VDenoiser`` turns a velocity network ``f(x, t, cond) -> v`` into a denoiser ``D(x, sigma, cond) -> x0_hat`` with
    c_skip = 1 / (sigma^2 + 1),  c_out = -sigma / sqrt(sigma^2 + 1),  c_in = 1 / sqrt(sigma^2 + 1),
    D = c_skip x + c_out f(c_in x, t(sigma)),
and its ``loss`` is the MSE between f and the target v = alpha eps - sigma_v x0 (the same identity solved for f).
Training and sampling both go through it, so the parameterisation lives in this one class.

``FlowDenoiser`` is the rectified flow: x_t = (1 - t) x0 + t eps (t in [0, 1]), the network predicts v = eps - x0,
D(x_t, t) = x_t - t f(x_t, t), and its ``loss`` is the MSE to eps - x0. stable-audio-tools' ``rectified_flow`` and
``rf_denoiser`` share this math (same target, same network call); ``rf_denoiser`` marks a model post-trained
(ARC) to be sampled in a few ping-pong steps without CFG, which is why the two names map to the same class here and
differ only in their recommended sampler (``sa_core.generate.recommended_sampler``).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

VelocityFn = Callable[..., torch.Tensor]  # (x [B, C, L], t [B], cond) -> v [B, C, L]


def sigma_to_t(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.atan() * (2 / math.pi)


def t_to_sigma(t: torch.Tensor) -> torch.Tensor:
    return (t * (math.pi / 2)).tan()


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


class VDenoiser(nn.Module):
    def __init__(self, velocity: VelocityFn):
        super().__init__()
        self.velocity = velocity

    @staticmethod
    def get_scalings(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(c_skip, c_out, c_in) for sigma_data = 1."""
        c_skip = 1.0 / (sigma ** 2 + 1)
        c_out = -sigma / (sigma ** 2 + 1).sqrt()
        c_in = 1.0 / (sigma ** 2 + 1).sqrt()
        return c_skip, c_out, c_in

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, **cond: Any) -> torch.Tensor:
        """``x`` [B, C, L] at noise ``sigma`` [B] -> denoised estimate [B, C, L]."""
        c_skip, c_out, c_in = (_bcast(c, x) for c in self.get_scalings(sigma))
        v = self.velocity(x * c_in, sigma_to_t(sigma), **cond)
        return v.float() * c_out + x * c_skip

    def loss(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, **cond: Any) -> torch.Tensor:
        """Per-item MSE ``[B]`` of the predicted v at time ``t`` [B] (alpha x0 + sigma_v eps is the input)."""
        alpha, sigma_v = _bcast((t * math.pi / 2).cos(), x0), _bcast((t * math.pi / 2).sin(), x0)
        target = alpha * noise - sigma_v * x0
        v = self.velocity(alpha * x0 + sigma_v * noise, t, **cond)
        return (v.float() - target).pow(2).flatten(1).mean(1)


class FlowDenoiser(nn.Module):
    """Rectified flow around a velocity network; the noise level is t itself (t = 1: pure noise)."""

    def __init__(self, velocity: VelocityFn):
        super().__init__()
        self.velocity = velocity

    def forward(self, x: torch.Tensor, t: torch.Tensor, **cond: Any) -> torch.Tensor:
        """``x`` [B, C, L] at time ``t`` [B] -> denoised estimate x - t v [B, C, L]."""
        v = self.velocity(x, t, **cond)
        return x - _bcast(t, x).to(x.dtype) * v.float()

    def loss(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, **cond: Any) -> torch.Tensor:
        """Per-item MSE ``[B]`` of the predicted v = eps - x0 at the input (1 - t) x0 + t eps, ``t`` [B]."""
        tb = _bcast(t, x0)
        v = self.velocity((1 - tb) * x0 + tb * noise, t, **cond)
        return (v.float() - (noise - x0)).pow(2).flatten(1).mean(1)


OBJECTIVES: dict[str, type[nn.Module]] = {"v": VDenoiser, "rectified_flow": FlowDenoiser, "rf_denoiser": FlowDenoiser}


def denoiser_for(objective: str, velocity: VelocityFn) -> nn.Module:
    """The denoiser of ``objective`` (``OBJECTIVES``) around ``velocity``; unknown names are a one-line error."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown diffusion objective {objective!r}; expected one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[objective](velocity)


def is_flow(objective: str) -> bool:
    return OBJECTIVES.get(objective) is FlowDenoiser


def cfg_velocity(velocity: VelocityFn, uncond: Any, scale: float, rescale: float = 0.0) -> VelocityFn:
    """Classifier-free guidance around a velocity network: one call on the doubled batch [cond; uncond],
    out = u + scale (c - u). With ``rescale`` = phi > 0 the result's per-item std over channels is pulled back
    towards the conditional one: phi * out * std(c) / std(out) + (1 - phi) * out (the reference's ``scale_phi``).
    ``scale == 1`` returns ``velocity`` itself (no doubled batch). ``cond``/``uncond`` must support ``.cat``.
    """
    if scale == 1.0:
        return velocity

    def guided(x: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        c, u = velocity(torch.cat([x, x]), torch.cat([t, t]), cond.cat(uncond)).float().chunk(2)
        out = u + (c - u) * scale
        if rescale:
            ratio = c.std(dim=1, keepdim=True) / out.std(dim=1, keepdim=True).clamp_min(1e-12)
            out = rescale * out * ratio + (1 - rescale) * out
        return out

    return guided
