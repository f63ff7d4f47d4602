"""Rectified-flow time grids and samplers, as pure functions of a flow denoiser.

Flow convention (``sa_core.diffusion.FlowDenoiser``): ``x_t = (1 - t) x0 + t eps``, t in [0, 1], t = 1 pure noise.
A flow denoiser is ``D(x, t[B], **extra_args) -> x0_hat``; the velocity it implies is ``v = (x - D) / t``. A time grid
is a 1-D float64 tensor of decreasing t from ``t_max`` (<= 1) down to exactly 0. Samplers keep only local state,
never touch the network or the guidance, and report through ``callback({"i", "x", "sigma", "denoised"})`` (sigma = t).

* ``euler``: x <- x + (t_next - t) v (first order; the step to t = 0 lands on D itself).
* ``dpmpp``: DPM-Solver++(2M) in the flow parameterisation (Lu et al. 2022, in lambda = logSNR = log((1 - t) / t)):
  x <- (t_next / t) x - (1 - t_next) expm1(-h) D', h = lambda_next - lambda, with the 2M correction
  D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1}, r = h_{i-1} / h; first step and the step to t = 0 are first order.
* ``pingpong``: denoise fully, then re-noise to the next level with fresh noise: x <- (1 - t_next) D + t_next z
  (the sampler of adversarially post-trained / distilled flow models; the last step returns D).

Schedules: ``logsnr`` is stable-audio-tools' grid for RF models (logSNR linear from -6.2 to 2, t = sigmoid(-logSNR),
first value t_max, last 0), ``linear`` is t = linspace(t_max, 0), optionally warped by the sequence-length time shift
(``time_shift``; stable-audio-tools' ``DistributionShift``, which the reference applies when it builds a linear grid).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from sa_core.config import FlowShiftConfig
from sa_core.sampling import Callback, Denoiser, DenoiserCalls, _steps, gaussian_like


def time_shift(t: torch.Tensor, seq_len: int, shift: FlowShiftConfig) -> torch.Tensor:
    """Sequence-length-dependent warp of t: t' = 1 - e^mu / (e^mu + 1/(1 - t) - 1), with
    mu = -(base + (max - base) (L - Lmin) / (Lmax - Lmin)), L = seq_len clamped to [Lmin, Lmax].
    Keeps t = 0 and t = 1 fixed; longer sequences spend more steps at high noise."""
    L = min(max(seq_len, shift.min_length), shift.max_length)
    mu = -(shift.base_shift + (shift.max_shift - shift.base_shift) * (L - shift.min_length)
           / (shift.max_length - shift.min_length))
    t = t.double()
    odds = torch.where(t < 1, 1 / (1 - t).clamp_min(1e-300) - 1, torch.full_like(t, math.inf))
    return 1 - math.exp(mu) / (math.exp(mu) + odds)


def get_t_logsnr(n: int, t_max: float = 1.0, logsnr_start: float = -6.2, logsnr_end: float = 2.0, *,
                 rate: float = 0.0, anchor_length: int = 2000, seq_len: int | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """stable-audio-tools' RF grid (0.0.20 ``LogSNRShift`` over ``linspace(t_max, 0, n + 1)``; its default for models
    whose config sets no ``sampling_distribution_shift_options``, e.g. stable-audio-open-small): u -> logSNR =
    end - u (end - start), t = sigmoid(-logSNR); t[0] = t_max, t[n] = 0. With ``rate`` > 0 the start drops by
    ``rate`` per doubling of ``seq_len`` beyond ``anchor_length`` (the sequence-length shift; 0 for the release).
    (stable-audio-tools <= 0.0.19 used start -6 on a logSNR linspace: ``logsnr_start=-6.0``.) ``[n + 1]`` float64."""
    if rate:
        if seq_len is None:
            raise ValueError("a sequence-length logSNR shift needs the sequence length")
        logsnr_start = logsnr_start - rate * math.log2(max(seq_len, 1) / anchor_length)
    u = torch.linspace(t_max, 0, n + 1, dtype=torch.float64)
    t = torch.sigmoid(-(logsnr_end - u * (logsnr_end - logsnr_start)))
    t[0], t[-1] = t_max, 0.0
    return t.to(device)


def get_t_linear(n: int, t_max: float = 1.0, shift: FlowShiftConfig | None = None, seq_len: int | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """t = linspace(t_max, 0, n + 1), warped by ``time_shift`` when ``shift`` is given (needs ``seq_len``)."""
    t = torch.linspace(t_max, 0, n + 1, dtype=torch.float64)
    if shift is not None:
        if seq_len is None:
            raise ValueError("a time-shifted schedule needs the sequence length")
        t = time_shift(t, seq_len, shift)
    return t.to(device)


def _grid(ts: torch.Tensor) -> list[float]:
    t = [float(v) for v in ts]
    if any(b >= a for a, b in zip(t, t[1:])) or t[-1] != 0 or not 0 < t[0] <= 1:
        raise ValueError(f"a flow time grid must decrease from (0, 1] to exactly 0, got {t[:3]}...{t[-2:]}")
    return t


@torch.no_grad()
def sample_flow_euler(denoiser: Denoiser, x: torch.Tensor, ts: torch.Tensor, *,
                      extra_args: dict[str, Any] | None = None, callback: Callback = None,
                      disable_progress: bool = True) -> torch.Tensor:
    """Euler on the flow ODE dx/dt = v. ``x`` [B, ...] at t = ts[0]; returns the sample at t = 0."""
    call = DenoiserCalls(denoiser, x, extra_args, callback)
    t = _grid(ts)
    x = x.to(call.work)
    for i in _steps(len(t) - 1, disable_progress):
        denoised = call(i, x, t[i])
        v = (x - denoised) / t[i]
        x = x + (t[i + 1] - t[i]) * v
    return x


@torch.no_grad()
def sample_flow_dpmpp(denoiser: Denoiser, x: torch.Tensor, ts: torch.Tensor, *,
                      extra_args: dict[str, Any] | None = None, callback: Callback = None,
                      disable_progress: bool = True) -> torch.Tensor:
    """DPM-Solver++(2M) in the flow parameterisation (module docstring). Step coefficients are computed on the
    host in float64, so t = 1 (logSNR = -inf) and t = 0 (+inf) are handled exactly."""
    call = DenoiserCalls(denoiser, x, extra_args, callback)
    t = _grid(ts)
    x = x.to(call.work)

    def lam(v: float) -> float:
        return math.inf if v == 0 else (-math.inf if v == 1 else math.log((1 - v) / v))

    old_denoised, h_last = None, None
    for i in _steps(len(t) - 1, disable_progress):
        t_cur, t_next = t[i], t[i + 1]
        denoised = call(i, x, t_cur)
        if t_next == 0:
            x = denoised
            break
        h = lam(t_next) - lam(t_cur)
        coef = -(1 - t_next) * math.expm1(-h)  # (1 - t_next)(1 - e^-h); e^-h = 0 when t_cur = 1
        if old_denoised is None or not math.isfinite(h_last):
            d = denoised
        else:
            r = h_last / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (t_next / t_cur) * x + coef * d
        old_denoised, h_last = denoised, h
    return x


@torch.no_grad()
def sample_pingpong(denoiser: Denoiser, x: torch.Tensor, ts: torch.Tensor, *,
                    extra_args: dict[str, Any] | None = None, callback: Callback = None,
                    generator: torch.Generator | list[torch.Generator] | None = None,
                    disable_progress: bool = True) -> torch.Tensor:
    """Ping-pong sampling: x <- (1 - t_next) D(x, t) + t_next z, z ~ N(0, I) from ``generator`` (a list: one per
    item, so an item does not depend on its batch); the last step returns D."""
    call = DenoiserCalls(denoiser, x, extra_args, callback)
    t = _grid(ts)
    x = x.to(call.work)
    for i in _steps(len(t) - 1, disable_progress):
        denoised = call(i, x, t[i])
        if t[i + 1] == 0:
            return denoised
        x = (1 - t[i + 1]) * denoised + t[i + 1] * gaussian_like(denoised, generator)
    return x


FLOW_SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": sample_flow_euler, "dpmpp": sample_flow_dpmpp,
                                                         "pingpong": sample_pingpong}
STOCHASTIC_FLOW_SAMPLERS = frozenset({"pingpong"})  # take ``generator``
FLOW_SCHEDULES = ("logsnr", "linear")
