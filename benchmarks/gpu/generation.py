"""Generation cases: a whole generation (sampler steps with the preset's own sampler, then the VAE decode of the
window) of a random-weight model, and the same through a peer stack (:mod:`benchmarks.peers`)."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from benchmarks.gpu.cases import Scale
from benchmarks.peers.equality import CFG_SCALE
from benchmarks.precision_study import VARIANTS, set_tf32
from sa_core.config import preset
from sa_core.diffusion import FlowDenoiser, VDenoiser, cfg_velocity
from sa_core.flow_sampling import get_t_logsnr, sample_pingpong
from sa_core.sampling import get_sigmas_polyexponential, sample_dpmpp_2m

WARM_UP_STEPS = 2  # the warm-up call builds the kernels for the case's shapes; its step count does not matter
DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}


def _sample_v(s: dict, steps: int) -> torch.Tensor:
    """DPM-Solver++(2M), 100 steps, CFG 7 as one doubled-batch call per step (stable-audio-1.0 / open-1.0)."""
    model, cond = s["model"], s["cond"]
    sigmas = get_sigmas_polyexponential(steps, 0.3, 500.0, device=s["device"])
    denoiser = VDenoiser(cfg_velocity(model.velocity, model.null_conditioning(cond), CFG_SCALE))
    with model.reusing_context():
        return sample_dpmpp_2m(denoiser, s["x"] * sigmas[0], sigmas, extra_args={"cond": cond})


def _sample_pingpong(s: dict, steps: int) -> torch.Tensor:
    """8 pingpong steps without CFG (stable-audio-open-small's release sampler)."""
    generators = [torch.Generator(s["device"]).manual_seed(k) for k in range(s["batch"])]
    with s["model"].reusing_context():
        return sample_pingpong(FlowDenoiser(s["model"].velocity), s["x"], get_t_logsnr(steps),
                               extra_args={"cond": s["cond"]}, generator=generators)


SAMPLERS: dict[str, Callable[[dict, int], torch.Tensor]] = {"v": _sample_v, "rf_denoiser": _sample_pingpong}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_rounds(fn: Callable[[bool], Any], device: str, rounds: int, box_s: float) -> list[float]:
    """A short warm-up call (``fn(True)``: same shapes, fewer steps), then up to ``rounds`` timed full calls while
    they fit in about half of ``box_s``."""
    started = time.perf_counter()
    fn(True)
    sync(device)
    times: list[float] = []
    while len(times) < rounds:
        t0 = time.perf_counter()
        fn(False)
        sync(device)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - started + times[-1] > box_s * 0.6:
            break
    return times


def _figures(times: list[float], seconds_of_audio: float, steps: int, device: str) -> dict[str, Any]:
    median = statistics.median(times)
    out = {"seconds": median, "rounds": len(times), "all_seconds": times, "steps": steps,
           "seconds_of_audio": seconds_of_audio, "real_time_factor": seconds_of_audio / median,
           "steps_per_second": steps / median, "ms_per_step": 1000 * median / steps}
    if device == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


def measure(params: dict, scale: Scale, device: str, work: Path, box_s: float) -> dict[str, Any]:
    from benchmarks.speed.test_generation_speed import make_setup

    name, batch, precision = params["preset"], min(params["batch"], scale.max_batch), params["precision"]
    cfg = preset(name)
    set_tf32(VARIANTS[precision].tf32)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    s = make_setup(name, batch, device, DTYPES[precision], scale.latents, scale.overrides.get(cfg.backbone))
    steps = scale.steps[cfg.objective]
    sampler = SAMPLERS[cfg.objective]

    def generate(warm_up: bool) -> None:
        x = sampler(s, min(steps, WARM_UP_STEPS) if warm_up else steps)
        with torch.no_grad():
            s["model"].autoencoder.decode(x.to(DTYPES[precision]), chunk=128)

    times = timed_rounds(generate, device, scale.rounds, box_s)
    window = s["x"].shape[-1] * cfg.autoencoder.downsampling_ratio / cfg.sample_rate
    return {"preset": name, "batch": batch, "precision": precision, "window_s": window,
            "sampler": sampler.__name__.lstrip("_"), **_figures(times, window * batch, steps, device)}


def measure_peer(params: dict, scale: Scale, device: str, work: Path, box_s: float) -> dict[str, Any]:
    """A peer's whole generation (its sampler + decode) on a random-weight stable-audio-open-1.0 checkpoint in the
    official layout written here; raises PeerMissing (reported as not run, with its install command) if absent."""
    from benchmarks.peers import stack_class
    from benchmarks.peers.checkpoint import write_random_t5, write_sao_checkpoint
    from sa_core.config import override

    stack_class(params["stack"]).check()
    cfg = preset("stable-audio-open-1.0")
    if scale.latents is not None:
        cfg = override(cfg, {"sample_size": scale.latents * cfg.autoencoder.downsampling_ratio,
                             **scale.overrides.get("dit", {})})
    ckpt = write_sao_checkpoint(work / "peer-ckpt", cfg)
    t5 = write_random_t5(work / "peer-t5")
    stack = stack_class(params["stack"])(ckpt, t5, device=device)
    batch, steps = min(params["batch"], scale.max_batch), scale.steps["v"]
    g = torch.Generator().manual_seed(0)
    S, C, L = cfg.conditioning.text.max_length, cfg.autoencoder.latent_dim, cfg.latent_length
    tokens = torch.randn(batch, S, 768, generator=g).to(device)
    cond = stack.prepare(tokens, torch.ones(batch, S, dtype=torch.bool, device=device), torch.zeros(batch, device=device),
                         torch.full((batch,), cfg.max_seconds, device=device))
    noise = torch.randn(batch, C, L, generator=g).to(device)
    set_tf32(VARIANTS[params["precision"]].tf32)

    def generate(warm_up: bool) -> None:
        with stack.precision(DTYPES[params["precision"]]):
            stack.generate(cond, noise, min(steps, WARM_UP_STEPS) if warm_up else steps, CFG_SCALE)

    times = timed_rounds(generate, device, scale.rounds, box_s)
    return {"stack": params["stack"], "batch": batch, "precision": params["precision"],
            **_figures(times, cfg.max_seconds * batch, steps, device)}
