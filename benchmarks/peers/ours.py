"""Our stack on the shared checkpoint: ``sa_core.model.load_model`` (stable-audio-open layout), ``cfg_velocity``,
``VDenoiser`` + ``sample_dpmpp_2m`` on the polyexponential (rho = 1) schedule, ``Autoencoder.decode``.

As in ``sa_core.generate``, a sampling run reuses the DiT's cross-attention keys/values across steps
(:mod:`sa_core.context_cache`, bitwise the same output); :meth:`velocity` keeps one cache for the stack, so a
repeated single step costs what a step inside a run costs."""
from __future__ import annotations

from typing import Any

import torch

from benchmarks.peers.stack import SamplerSpec, Stack
from sa_core.conditioning import Conditioning
from sa_core.context_cache import ContextCache
from sa_core.diffusion import VDenoiser, cfg_velocity
from sa_core.model import load_model
from sa_core.sampling import get_sigmas_polyexponential, sample_dpmpp_2m


class OursStack(Stack):
    name = "ours"
    sampler = SamplerSpec("dpmpp-2m", True, "DPM-Solver++(2M), polyexponential rho=1 schedule")

    def __init__(self, ckpt: Any, t5_dir: Any, device: str = "cpu"):
        super().__init__(ckpt, t5_dir, device)
        self.model = load_model(self.ckpt, text_path=str(self.t5_dir)).to(device)
        self.step_cache = ContextCache()

    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor, seconds_start: torch.Tensor,
                seconds_total: torch.Tensor) -> Conditioning:
        return self.model.conditioner.embed(tokens, mask, seconds_start, seconds_total)

    @torch.no_grad()
    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning, cfg_scale: float = 1.0) -> torch.Tensor:
        fn = cfg_velocity(self.model.velocity, self.model.null_conditioning(cond), cfg_scale)
        with self.model.reusing_context(self.step_cache):
            return fn(x, t, cond).float()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.model.autoencoder.decode(latents, chunk=None).float()

    @torch.no_grad()
    def sample(self, cond: Conditioning, noise: torch.Tensor, steps: int, cfg_scale: float, sigma_min: float = 0.3,
               sigma_max: float = 500.0) -> torch.Tensor:
        sigmas = get_sigmas_polyexponential(steps, sigma_min, sigma_max, 1.0, device=noise.device)
        denoiser = VDenoiser(cfg_velocity(self.model.velocity, self.model.null_conditioning(cond), cfg_scale))
        with self.model.reusing_context():
            return sample_dpmpp_2m(denoiser, noise * sigmas[0], sigmas, extra_args={"cond": cond})
