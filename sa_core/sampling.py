"""Noise schedules and DPM-Solver++ samplers, as pure functions of a denoiser (k-diffusion conventions).

A denoiser is ``D(x, sigma[B], **extra_args) -> x0_hat``. Schedules are 1-D tensors of decreasing sigmas ending
in 0. Samplers keep only local state (the last denoised values), never touch the network or the guidance, and
report progress through ``callback({"i", "x", "sigma", "denoised"})``.

Lower-order rule (the one place it lives, pinned by tests): a multistep solver uses as many past denoised values as
it has, so DPM-Solver++(2M) takes a first-order step first, and 3M-SDE first- then second-order steps; the final
step to sigma = 0 returns the denoised estimate itself (the exact limit of every order's update).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Callable

import torch
from tqdm import tqdm

Denoiser = Callable[..., torch.Tensor]
Callback = Callable[[dict[str, Any]], None] | None


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def get_sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Karras et al. (2022): sigma_i = (max^(1/rho) + i/(n-1) (min^(1/rho) - max^(1/rho)))^rho, then 0."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho).float().to(device)


def get_sigmas_polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0,
                               device: torch.device | str = "cpu") -> torch.Tensor:
    """log sigma follows a power ramp; rho = 1 is log-linear (stable-audio-tools' default schedule), then 0."""
    ramp = torch.linspace(1, 0, n, dtype=torch.float64) ** rho
    log_sigmas = ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)
    return _append_zero(log_sigmas.exp()).float().to(device)


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float,
                           device: torch.device | str = "cpu") -> torch.Tensor:
    return get_sigmas_polyexponential(n, sigma_min, sigma_max, 1.0, device)


def gaussian_like(x: torch.Tensor, generator: torch.Generator | list[torch.Generator] | None) -> torch.Tensor:
    """N(0, I) shaped like ``x``; a list of generators draws item by item, so an item's noise does not depend on
    the batch it is in."""
    if isinstance(generator, list):
        return torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype) for g in generator])
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _steps(n: int, disable: bool) -> Any:
    return tqdm(range(n), disable=disable, desc="sampling", unit="step")


def _log_steps(sigmas: torch.Tensor, disable: bool) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, Any]]:
    """``(i, sigma_i, sigma_{i+1}, h)`` of each step, ``h = log sigma_i - log sigma_{i+1}`` (the step in
    t = -log sigma); ``h`` is None for the step to sigma = 0, found on the host once rather than synced every step."""
    last = [v == 0 for v in sigmas[1:].tolist()]
    for i in _steps(len(sigmas) - 1, disable):
        yield i, sigmas[i], sigmas[i + 1], None if last[i] else sigmas[i].log() - sigmas[i + 1].log()


class DenoiserCalls:
    """The denoiser as every sampler calls it: ``D(x, level * ones[B], **extra_args)`` cast to ``work`` (the dtype
    of the sampler's updates: at least fp32, whatever the network runs in), each call reported to ``callback``."""

    def __init__(self, denoiser: Denoiser, x: torch.Tensor, extra_args: dict[str, Any] | None, callback: Callback):
        self.denoiser, self.extra_args, self.callback = denoiser, extra_args or {}, callback
        self.s_in = x.new_ones(x.shape[0])
        self.work = torch.promote_types(x.dtype, torch.float32)

    def __call__(self, i: int, x: torch.Tensor, level: torch.Tensor | float) -> torch.Tensor:
        denoised = self.denoiser(x, level * self.s_in, **self.extra_args).to(self.work)
        if self.callback is not None:
            self.callback({"i": i, "x": x, "sigma": level, "denoised": denoised})
        return denoised


@torch.no_grad()
def sample_dpmpp_2m(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                    extra_args: dict[str, Any] | None = None, callback: Callback = None,
                    disable_progress: bool = True) -> torch.Tensor:
    """DPM-Solver++(2M), Lu et al. 2022 (arXiv 2211.01095, Alg. 2), in t = -log sigma.

    x_{i+1} = (sigma_{i+1}/sigma_i) x_i - expm1(-h) D',  h = t_{i+1} - t_i,
    D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1} with r = h_{i-1}/h (first step: D' = D_i).
    """
    call = DenoiserCalls(denoiser, x, extra_args, callback)
    old_denoised, h_last = None, None
    for i, sigma, sigma_next, h in _log_steps(sigmas, disable_progress):
        denoised = call(i, x, sigma)
        if h is None:  # the step to sigma = 0
            x = denoised
            break
        d = denoised if old_denoised is None else (
            (1 + 1 / (2 * h_last / h)) * denoised - (1 / (2 * h_last / h)) * old_denoised)
        x = (sigma_next / sigma) * x.to(call.work) - torch.expm1(-h) * d
        old_denoised, h_last = denoised, h
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                        extra_args: dict[str, Any] | None = None, callback: Callback = None,
                        eta: float = 1.0, s_noise: float = 1.0,
                        generator: torch.Generator | list[torch.Generator] | None = None,
                        disable_progress: bool = True) -> torch.Tensor:
    """DPM-Solver++(3M) SDE (k-diffusion's ``sample_dpmpp_3m_sde``; Lu et al. 2022, SDE variant with eta).

    With h_eta = h (1 + eta): x <- e^{-h_eta} x + (1 - e^{-h_eta}) D, plus second/third-order corrections from
    the last two denoised values (phi_2 = expm1(-h_eta)/h_eta + 1, phi_3 = phi_2/h_eta - 1/2), plus fresh noise
    sigma_{i+1} sqrt(1 - e^{-2 h eta}) z. The reference draws z from torchsde's Brownian tree; we draw independent
    N(0, I) from ``generator``, which has the same distribution for a fixed schedule (not the same sample path).
    """
    call = DenoiserCalls(denoiser, x, extra_args, callback)
    d_1 = d_2 = h_1 = h_2 = None
    x = x.to(call.work)
    for i, sigma, sigma_next, h in _log_steps(sigmas, disable_progress):
        denoised = call(i, x, sigma)
        if h is None:  # the step to sigma = 0
            x = denoised
            break
        h_eta = h * (eta + 1)
        x = torch.exp(-h_eta) * x - torch.expm1(-h_eta) * denoised
        phi_2 = torch.expm1(-h_eta) / h_eta + 1
        if h_2 is not None:  # third order
            r0, r1 = h_1 / h, h_2 / h
            d1_0, d1_1 = (denoised - d_1) / r0, (d_1 - d_2) / r1
            d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
        elif h_1 is not None:  # second order
            x = x + phi_2 * (denoised - d_1) / (h_1 / h)
        if eta:
            z = gaussian_like(x, generator)
            x = x + z * sigma_next * (-torch.expm1(-2 * h * eta)).sqrt() * s_noise
        d_1, d_2, h_1, h_2 = denoised, d_1, h, h_1
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"dpmpp-2m": sample_dpmpp_2m, "dpmpp-3m-sde": sample_dpmpp_3m_sde}
SCHEDULES: dict[str, Callable[..., torch.Tensor]] = {"polyexponential": get_sigmas_polyexponential,
                                                    "karras": get_sigmas_karras,
                                                    "exponential": get_sigmas_exponential}
