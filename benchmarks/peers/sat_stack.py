"""stable-audio-tools on the shared checkpoint: ``create_model_from_config`` on the stable-audio-open-1.0
``model_config.json`` (its T5 conditioner reads the local random T5 folder instead of the hub), the safetensors
weights loaded strictly under their released names, ``DiTWrapper`` (batched CFG, ``apg_scale=0``: plain CFG) and
``sample_diffusion`` with k-diffusion's ``dpmpp-2m`` (the vendored ``sample_dpmpp_2m``; same mathematics as ours:
DPM-Solver++(2M) in log sigma, first-order first step, the last step to sigma = 0 returns the denoised estimate).

stable-audio-tools 0.0.20 pins torch 2.7.1 and Python < 3.11; it installs here with ``--no-deps`` (see
``benchmarks.peers.INSTALL``). Its DiT module imports ``pytorch_lightning`` only for a LoRA training callback; where
that package is absent, a stand-in module with the two base classes that import reads (``Callback``, ``callbacks.ModelCheckpoint``) is registered (never called).
"""
from __future__ import annotations

import sys
import types
from typing import Any

import torch

from benchmarks.peers.stack import PeerMissing, SamplerSpec, Stack, local_t5


def _lightning_stand_in() -> None:
    """Register ``pytorch_lightning`` with a ``Callback`` base (the LoRA callback module subclasses it at import)."""
    try:
        import pytorch_lightning  # noqa: F401
        return
    except ImportError:
        pass
    pl = types.ModuleType("pytorch_lightning")
    callbacks = types.ModuleType("pytorch_lightning.callbacks")

    class Callback:  # base classes only: stable-audio-tools' LoRA training callbacks are never built here
        pass

    class ModelCheckpoint(Callback):
        pass

    pl.Callback = callbacks.Callback = Callback
    callbacks.ModelCheckpoint = ModelCheckpoint
    pl.callbacks = callbacks
    sys.modules.setdefault("pytorch_lightning", pl)
    sys.modules.setdefault("pytorch_lightning.callbacks", callbacks)


def _import_sat() -> tuple[Any, Any]:
    from benchmarks.peers import INSTALL

    _lightning_stand_in()
    try:
        from stable_audio_tools.inference.sampling import sample_diffusion
        from stable_audio_tools.models.factory import create_model_from_config
    except ImportError as exc:
        raise PeerMissing(f"stable-audio-tools is not importable ({exc}); install: "
                          f"{INSTALL['stable-audio-tools']}") from exc
    return create_model_from_config, sample_diffusion


class SATStack(Stack):
    name = "stable-audio-tools"
    sampler = SamplerSpec("dpmpp-2m", True, "k-diffusion sample_dpmpp_2m via sample_diffusion(sampler_type="
                                            "'dpmpp-2m', rho=1)")

    @classmethod
    def check(cls) -> None:
        _import_sat()

    def __init__(self, ckpt: Any, t5_dir: Any, device: str = "cpu"):
        super().__init__(ckpt, t5_dir, device)
        create_model_from_config, self._sample_diffusion = _import_sat()
        from safetensors.torch import load_file

        with local_t5(self.t5_dir), torch.device("meta"):
            model = create_model_from_config(self.raw_config)
        # the T5 conditioner keeps its encoder outside the module tree; everything else was built on meta
        state = load_file(str(self.ckpt / "model.safetensors"))
        own = model.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"stable-audio-tools' model and {self.ckpt} disagree: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
        model.load_state_dict(state, strict=True, assign=True)
        self.model = model.to(device).eval().requires_grad_(False)

    @torch.no_grad()
    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor, seconds_start: torch.Tensor,
                seconds_total: torch.Tensor) -> dict[str, Any]:
        conds = self.model.conditioner.conditioners
        tensors = {"prompt": (tokens, mask),
                   "seconds_start": conds["seconds_start"](seconds_start.tolist(), self.device),
                   "seconds_total": conds["seconds_total"](seconds_total.tolist(), self.device)}
        return self.model.get_conditioning_inputs(tensors)

    @torch.no_grad()
    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: dict[str, Any], cfg_scale: float = 1.0
                 ) -> torch.Tensor:
        return self.model.model(x, t, **cond, cfg_scale=cfg_scale, batch_cfg=True, apg_scale=0.0).float()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.model.pretransform.decode(latents).float()

    @torch.no_grad()
    def sample(self, cond: dict[str, Any], noise: torch.Tensor, steps: int, cfg_scale: float, sigma_min: float = 0.3,
               sigma_max: float = 500.0) -> torch.Tensor:
        return self._sample_diffusion(
            model=self.model.model, noise=noise, cond_inputs=cond, diffusion_objective="v", steps=steps,
            cfg_scale=cfg_scale, sampler_type="dpmpp-2m", sigma_min=sigma_min, sigma_max=sigma_max, rho=1.0,
            batch_cfg=True, rescale_cfg=True, apg_scale=0.0, decode=False, disable_tqdm=True).float()
