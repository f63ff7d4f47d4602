"""Text-to-audio generation: conditioning -> guided sampler over the latent window -> VAE decode -> trim.

The sampler follows the checkpoint's objective: DPM-Solver++ on k-diffusion sigmas for v models, Euler /
DPM-Solver++(2M) / pingpong on flow times for rectified-flow models; flags left out take the checkpoint's
recommended sampler (``recommended_sampler``: pingpong 8 steps without CFG for stable-audio-open-small).

``python -m sa_core.generate --ckpt DIR --prompt "..." --seconds-total 30 --steps 100 --cfg-scale 7 --seed 0
--out out.wav``, or many prompts from a CSV into ``--out-dir`` (one ``<id>.wav`` each; existing files are kept,
so an interrupted run resumes). Each prompt's noise comes from its own generator seeded with ``seed + row``, so
an item's audio does not depend on the batch it was generated in; results are deterministic for a seed on the
same device and dtype.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from metrics.cache import atomic_write
from sa_core.config import FlowShiftConfig
from sa_core.diffusion import cfg_velocity, denoiser_for, is_flow
from sa_core.flow_sampling import (FLOW_SAMPLERS, FLOW_SCHEDULES, STOCHASTIC_FLOW_SAMPLERS, get_t_linear,
                                   get_t_logsnr)
from sa_core.model import StableAudio, load_model
from sa_core.sampling import SAMPLERS, SCHEDULES


@dataclass(frozen=True)
class SamplerConfig:
    steps: int = 100
    cfg_scale: float = 7.0
    cfg_rescale: float = 0.0  # the reference's scale_phi (0.4 is the SA1 U-Net default)
    sampler: str = "dpmpp-3m-sde"
    schedule: str = "polyexponential"
    sigma_min: float = 0.3  # SAO model card: 0.3 .. 500, 100 steps, CFG 7, dpmpp-3m-sde
    sigma_max: float = 500.0
    rho: float = 1.0
    decode_chunk: int | None = 128  # latent frames per VAE decode window (flat memory); None: whole window


def recommended_sampler(objective: str) -> SamplerConfig:
    """A checkpoint's own sampler: v -> DPM-Solver++(3M) SDE 100 steps CFG 7 (the SAO 1.0 card); rectified_flow ->
    Euler 50 steps CFG 7 and rf_denoiser -> pingpong 8 steps CFG 1 (stable-audio-tools' defaults for those
    objectives), both on its logSNR grid from t = 1."""
    if objective == "rf_denoiser":
        return SamplerConfig(steps=8, cfg_scale=1.0, sampler="pingpong", schedule="logsnr", sigma_max=1.0)
    if is_flow(objective):
        return SamplerConfig(steps=50, cfg_scale=7.0, sampler="euler", schedule="logsnr", sigma_max=1.0)
    denoiser_for(objective, lambda *a: None)  # unknown objective: the one-line error
    return SamplerConfig()


def check_sampler(cfg: SamplerConfig, objective: str) -> None:
    """One-line error when ``cfg``'s sampler/schedule do not belong to ``objective``'s parameterisation."""
    samplers, schedules = (FLOW_SAMPLERS, FLOW_SCHEDULES) if is_flow(objective) else (SAMPLERS, tuple(SCHEDULES))
    if cfg.sampler not in samplers:
        raise ValueError(f"sampler {cfg.sampler!r} does not fit a {objective!r} model; expected one of {list(samplers)}")
    if cfg.schedule not in schedules:
        raise ValueError(f"schedule {cfg.schedule!r} does not fit a {objective!r} model; expected one of "
                         f"{list(schedules)}")


def sigmas_for(cfg: SamplerConfig, device: torch.device | str, objective: str = "v",
               flow_shift: FlowShiftConfig | None = None, seq_len: int | None = None) -> torch.Tensor:
    """The noise grid: k-diffusion sigmas (v) or flow times t (rectified flow; t_max = min(sigma_max, 1))."""
    if is_flow(objective):
        t_max = min(cfg.sigma_max, 1.0)
        if cfg.schedule == "logsnr":
            return get_t_logsnr(cfg.steps, t_max, device=device)
        return get_t_linear(cfg.steps, t_max, flow_shift, seq_len, device=device)
    kwargs = {"rho": cfg.rho} if cfg.schedule != "exponential" else {}
    return SCHEDULES[cfg.schedule](cfg.steps, cfg.sigma_min, cfg.sigma_max, device=device, **kwargs)


@torch.no_grad()
def generate_latents(model: StableAudio, prompts: list[str], seconds_total: list[float], seeds: list[int],
                     cfg: SamplerConfig = SamplerConfig(), seconds_start: list[float] | None = None,
                     latent_length: int | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, latent_dim, L]`` latents for a batch of prompts."""
    B = len(prompts)
    L = latent_length or model.cfg.latent_length
    cond = model.conditioner(prompts, seconds_start or [0.0] * B, seconds_total, device)
    objective = model.cfg.objective
    check_sampler(cfg, objective)
    velocity = cfg_velocity(model.velocity, model.null_conditioning(cond), cfg.cfg_scale, cfg.cfg_rescale)
    denoiser = denoiser_for(objective, velocity)
    generators = [torch.Generator(device).manual_seed(s) for s in seeds]
    sigmas = sigmas_for(cfg, device, objective, model.cfg.flow_shift, L)
    noise = torch.stack([torch.randn(model.latent_channels, L, generator=g, device=device) for g in generators])
    sampler = (FLOW_SAMPLERS if is_flow(objective) else SAMPLERS)[cfg.sampler]
    stochastic = cfg.sampler.endswith("sde") or cfg.sampler in STOCHASTIC_FLOW_SAMPLERS
    kwargs = {"generator": generators} if stochastic else {}
    return sampler(denoiser, noise * sigmas[0].to(noise.dtype), sigmas, extra_args={"cond": cond}, **kwargs)


@torch.no_grad()
def generate(model: StableAudio, prompts: list[str], seconds_total: list[float], seeds: list[int],
             cfg: SamplerConfig = SamplerConfig(), device: torch.device | str = "cpu",
             trim: bool = True) -> list[np.ndarray]:
    """Audio per prompt, ``[channels, samples]`` float32, trimmed to its ``seconds_total`` (``trim``) or the whole
    window (what a timing evaluation needs: a file cut at ``seconds_total`` cannot show that it runs long)."""
    latents = generate_latents(model, prompts, seconds_total, seeds, cfg, device=device)
    ae = model.autoencoder
    audio = ae.decode(latents.to(next(ae.parameters()).dtype), chunk=cfg.decode_chunk).float().cpu().numpy()
    sr = model.cfg.sample_rate
    return [a[:, :min(a.shape[-1], int(round(s * sr)))] if trim else a for a, s in zip(audio, seconds_total)]


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Atomic float WAV write (``[C, T]``)."""
    import soundfile as sf

    atomic_write(path, lambda tmp: sf.write(tmp, audio.T, sample_rate, subtype="FLOAT"), suffix=".wav")


def read_prompts(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """(id, prompt, seconds_total) rows from --prompt or --prompts-csv."""
    if args.prompt is not None:
        return [("out", args.prompt, args.seconds_total)]
    from metrics.ids import check_id, read_table

    texts = read_table(args.prompts_csv, args.id_col, args.text_col)
    seconds = read_table(args.prompts_csv, args.id_col, args.seconds_col) if args.seconds_col else {}
    return [(check_id(i), t, float(seconds.get(i, args.seconds_total))) for i, t in texts.items()]


def sampler_from_args(args: argparse.Namespace, objective: str) -> SamplerConfig:
    """The checkpoint's recommended sampler with the flags that were given on top; checked against the objective."""
    given = {k: getattr(args, k) for k in ("steps", "cfg_scale", "cfg_rescale", "sampler", "schedule", "sigma_min",
                                           "sigma_max", "rho") if getattr(args, k, None) is not None}
    base = recommended_sampler(objective)
    if "sampler" in given and given["sampler"] != base.sampler and "schedule" not in given:
        given["schedule"] = base.schedule  # a sampler of the same family keeps the family's grid
    cfg = replace(base, **given)
    check_sampler(cfg, objective)
    return cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sa_core.generate", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="checkpoint folder (ours or stable-audio-open-1.0)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt")
    src.add_argument("--prompts-csv", type=Path)
    p.add_argument("--id-col", default="id")
    p.add_argument("--text-col", default="caption")
    p.add_argument("--seconds-col")
    p.add_argument("--seconds-total", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=Path("out.wav"))
    p.add_argument("--out-dir", type=Path, default=Path("generated"))
    p.add_argument("--text-path", help="local folder/file of the text encoder (T5 folder, CLAP checkpoint)")
    # sampler flags left out take the checkpoint's recommended value (recommended_sampler)
    p.add_argument("--steps", type=int)
    p.add_argument("--cfg-scale", type=float)
    p.add_argument("--cfg-rescale", type=float)
    p.add_argument("--sampler", choices=[*SAMPLERS, *FLOW_SAMPLERS])
    p.add_argument("--schedule", choices=[*SCHEDULES, *FLOW_SCHEDULES])
    p.add_argument("--sigma-min", type=float)
    p.add_argument("--sigma-max", type=float)
    p.add_argument("--rho", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    args = p.parse_args(argv)
    try:
        rows = read_prompts(args)
        model = load_model(args.ckpt, text_path=args.text_path).to(args.device, getattr(torch, args.dtype))
        cfg = sampler_from_args(args, model.cfg.objective)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sr = model.cfg.sample_rate
    if args.prompt is not None:
        write_wav(args.out, generate(model, [args.prompt], [args.seconds_total], [args.seed], cfg, args.device)[0], sr)
        print(args.out)
        return 0
    todo = [(k, r) for k, r in enumerate(rows) if not (args.out_dir / f"{r[0]}.wav").exists()]
    print(f"{len(rows) - len(todo)} of {len(rows)} already generated; {len(todo)} to go", file=sys.stderr)
    for start in range(0, len(todo), args.batch_size):
        batch = todo[start:start + args.batch_size]
        audio = generate(model, [r[1] for _, r in batch], [r[2] for _, r in batch],
                         [args.seed + k for k, _ in batch], cfg, args.device)
        for (_, (item_id, _, _)), a in zip(batch, audio):
            write_wav(args.out_dir / f"{item_id}.wav", a, sr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
