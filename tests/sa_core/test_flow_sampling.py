"""Rectified flow: the objective, the time grids and the samplers, on Gaussian data where everything is closed form.

Data x0 ~ N(mu, diag(s^2)); x_t = (1 - t) x0 + t eps is N(m_t, sd_t^2) with m_t = (1 - t) mu,
sd_t^2 = (1 - t)^2 s^2 + t^2. The exact denoiser is E[x0 | x_t] = mu + (1 - t) s^2 / sd_t^2 (x_t - m_t), the exact
probability-flow ODE keeps (x_t - m_t) / sd_t constant, so the sample reached from x_1 = z is mu + s z.
"""
import math

import numpy as np
import pytest
import torch

from sa_core.config import FlowShiftConfig
from sa_core.diffusion import FlowDenoiser, OBJECTIVES, VDenoiser, denoiser_for
from sa_core.flow_sampling import (get_t_linear, get_t_logsnr, sample_flow_dpmpp, sample_flow_euler,
                                   sample_pingpong, time_shift)
from sa_core.sampling import sample_dpmpp_2m

torch.set_default_dtype(torch.float32)


def gaussian(dims: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(dims, generator=g, dtype=torch.float64)
    s = 0.3 + 1.7 * torch.rand(dims, generator=g, dtype=torch.float64)
    return mu, s


def exact_denoiser(mu, s):
    def D(x, t):
        t = t.to(torch.float64)[:, None]
        var = (1 - t) ** 2 * s ** 2 + t ** 2
        return mu + (1 - t) * s ** 2 / var * (x - (1 - t) * mu)
    return D


def posterior_sampler(mu, s, generator):
    """A denoiser that returns a draw from p(x0 | x_t): what a few-step (ARC / distilled) flow model approximates."""
    mean = exact_denoiser(mu, s)

    def D(x, t):
        tt = t.to(torch.float64)[:, None]
        post_var = s ** 2 * tt ** 2 / ((1 - tt) ** 2 * s ** 2 + tt ** 2)
        return mean(x, t) + post_var.sqrt() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return D


def ode_error(sampler, n: int, mu, s) -> float:
    z = torch.randn(64, mu.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = sampler(exact_denoiser(mu, s), z.clone(), get_t_linear(n))
    return (out - (mu + s * z)).abs().max().item()


@pytest.mark.parametrize("sampler, order", [(sample_flow_euler, 1), (sample_flow_dpmpp, 2)])
def test_flow_ode_samplers_converge_at_their_order(sampler, order):
    mu, s = gaussian()
    ns = [16, 32, 64, 128]
    errs = [ode_error(sampler, n, mu, s) for n in ns]
    slopes = -np.diff(np.log(errs)) / np.diff(np.log(ns))
    assert errs[-1] < errs[0] / 2 ** (order * 3 - 1), errs
    # measured: Euler 0.97, 0.99, 0.99; DPM++(2M) 1.70, 1.73, 1.76 (its first two steps, from t = 1 where the
    # logSNR step is infinite, are first order, which costs a little at small n)
    assert (abs(slopes - order) < 0.35).all(), (errs, slopes)


def test_flow_dpmpp_is_k_diffusion_dpmpp_2m_on_rescaled_variables():
    """x / (1 - t) at sigma = t / (1 - t) is the VE process; DPM-Solver++(2M) there and here must agree."""
    mu, s = gaussian(8)
    D = exact_denoiser(mu, s)
    ts = get_t_linear(10, t_max=0.98)
    x = 0.98 * torch.randn(5, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ours = sample_flow_dpmpp(D, x.clone(), ts)

    def D_ve(xv, sigma):
        t = sigma / (1 + sigma)
        return D(xv * (1 - t)[:, None], t)

    sigmas = (ts / (1 - ts)).to(torch.float64)
    theirs = sample_dpmpp_2m(D_ve, x / (1 - ts[0]), sigmas)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_pingpong_with_a_posterior_sampler_keeps_the_data_moments():
    mu, s = gaussian(4, seed=3)
    N = 20000
    g = torch.Generator().manual_seed(4)
    x = torch.randn(N, 4, generator=g, dtype=torch.float64)
    out = sample_pingpong(posterior_sampler(mu, s, g), x, get_t_logsnr(8), generator=g)
    se_mean, se_var = s / math.sqrt(N), s ** 2 * math.sqrt(2 / N)
    assert ((out.mean(0) - mu).abs() < 5 * se_mean).all()
    assert ((out.var(0) - s ** 2).abs() < 5 * se_var).all()
    # the posterior *mean* is not enough: re-noising means of means shrinks the variance (why ARC matters)
    shrunk = sample_pingpong(exact_denoiser(mu, s), x, get_t_logsnr(8), generator=g)
    assert (shrunk.var(0) < 0.9 * s ** 2).all()


def test_pingpong_noise_is_per_item_and_the_last_step_returns_the_denoised_value():
    mu, s = gaussian(6)
    D = exact_denoiser(mu, s)
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ts = get_t_logsnr(8)
    batch = sample_pingpong(D, x.clone(), ts, generator=[torch.Generator().manual_seed(k) for k in (10, 11, 12)])
    alone = sample_pingpong(D, x[1:2].clone(), ts, generator=[torch.Generator().manual_seed(11)])
    torch.testing.assert_close(batch[1:2], alone, rtol=0, atol=0)
    other = sample_pingpong(D, x[1:2].clone(), ts, generator=[torch.Generator().manual_seed(13)])
    assert not torch.allclose(other, alone)
    seen = []
    last = sample_pingpong(D, x.clone(), ts, generator=torch.Generator().manual_seed(0),
                           callback=lambda d: seen.append(d["denoised"]))
    assert len(seen) == 8 and torch.equal(last, seen[-1])


def test_logsnr_grid_is_stable_audio_tools_and_linear_grid_shift():
    t = get_t_logsnr(8)
    assert t.dtype == torch.float64 and t.shape == (9,) and t[0] == 1 and t[-1] == 0
    expected = [1 / (1 + math.exp(-6.2 + 8.2 * k / 8)) for k in range(1, 8)]  # logSNR -6.2 .. 2, t = sigmoid(-.)
    np.testing.assert_allclose(t[1:-1].numpy(), expected, rtol=1e-12)
    half = get_t_logsnr(4, t_max=0.5)
    assert half[0] == 0.5 and half[1] == pytest.approx(1 / (1 + math.exp(2 - 8.2 * 0.375)))
    longer = get_t_logsnr(8, rate=1.0, seq_len=4000)  # one doubling past the anchor: start -7.2
    assert longer[1] == pytest.approx(1 / (1 + math.exp(-7.2 + 9.2 / 8)))
    shift = FlowShiftConfig()
    lin = get_t_linear(4)
    short, long = get_t_linear(4, shift=shift, seq_len=10), get_t_linear(4, shift=shift, seq_len=10 ** 6)
    assert short[0] == 1 and short[-1] == 0 and (short[1:-1] > lin[1:-1]).all() and (long[1:-1] > short[1:-1]).all()
    # at the shortest length mu = -base_shift: t' = 1 / (1 + e^-0.5) at t = 0.5
    assert time_shift(torch.tensor([0.5]), 256, shift).item() == pytest.approx(1 / (1 + math.exp(-0.5)))
    with pytest.raises(ValueError, match="sequence length"):
        get_t_linear(4, shift=shift)
    with pytest.raises(ValueError, match="decrease"):
        sample_flow_euler(lambda x, t: x, torch.zeros(1, 2), torch.tensor([1.0, 0.5, 0.1]))


def test_flow_objective_round_trip_and_registry():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    t = torch.tensor([0.1, 0.5, 0.9])
    oracle = lambda x, tt: eps - x0  # noqa: E731  the velocity target itself
    den = FlowDenoiser(oracle)
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
    torch.testing.assert_close(den(xt, t), x0)
    assert den.loss(x0, eps, t).abs().max() < 1e-12
    assert (FlowDenoiser(lambda x, tt: torch.zeros_like(x)).loss(x0, eps, t) > 0.1).all()
    assert OBJECTIVES["rectified_flow"] is OBJECTIVES["rf_denoiser"] is FlowDenoiser
    assert isinstance(denoiser_for("v", oracle), VDenoiser)
    with pytest.raises(ValueError, match=r"unknown diffusion objective 'eps'; expected one of \['rectified_flow'"):
        denoiser_for("eps", oracle)


def test_training_goes_through_the_configs_objective():
    """sa_core.train's diffusion loss is the objective's own: the flow MSE for rectified_flow (with its time shift),
    the v MSE for v, on the same draws."""
    from sa_core.config import override, preset
    from sa_core.data import Batch
    from sa_core.model import build_model
    from sa_core.train import DiffusionObjective, GlobalDraws, TrainConfig
    from tests.sa_core.test_sao_small import HashText

    base = override(preset("tiny"), {"dit.depth": 1, "sample_size": 16384})
    z = torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(0))
    batch = Batch(torch.zeros(2, 2, 16384), ["a tone", "noise"], torch.zeros(2), torch.tensor([0.2, 0.3]),
                  torch.ones(2, 16384, dtype=torch.bool))
    losses = {}
    for objective, shift in (("v", None), ("rectified_flow", None), ("rectified_flow", FlowShiftConfig())):
        cfg = override(base, {"objective": objective, "flow_shift": None if shift is None else
                              {"min_length": shift.min_length, "max_length": shift.max_length}})
        torch.manual_seed(1)
        model = build_model(cfg, HashText(384))
        obj = DiffusionObjective(model, TrainConfig(cfg_dropout=0.0))
        loss = obj(z, batch, GlobalDraws(5, 0, 2, 0, 1))["loss"].item()
        # recompute by hand from the same draws
        draws = GlobalDraws(5, 0, 2, 0, 1)
        cond = model.conditioner(batch.captions, [0.0, 0.0], [0.2, 0.3])
        draws.uniform("cpu")  # the dropout draw
        t = draws.uniform("cpu")
        if shift is not None:
            t = time_shift(t, z.shape[-1], shift).float()
        noise = draws.normal(z.shape, "cpu")
        expected = denoiser_for(objective, model.velocity).loss(z, noise, t, cond=cond).mean().item()
        assert loss == pytest.approx(expected, rel=1e-6)
        losses[(objective, shift is not None)] = loss
    assert len(set(losses.values())) == 3
