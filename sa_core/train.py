"""``python -m sa_core.train {vae,diffusion,encode} --config CFG.json --data DIR --out RUN``: training.

* ``diffusion``: the model config's objective (``objective``: v, or rectified flow with its optional sequence-length
  time shift) through its denoiser's ``loss`` on VAE latents, t ~ U(0, 1), 10 % conditioning dropout for
  CFG, AdamW + InverseLR (the SAO recipe), gradient clipping, EMA of the trained weights (exported as the model).
  The autoencoder comes from ``autoencoder`` (a trained checkpoint folder) and stays frozen; with ``latents``
  (from ``encode``) the VAE is not run at all.
* ``vae``: stereo MR-STFT + KL + multi-scale STFT discriminator (hinge, feature matching), generator and
  discriminator updated on alternate steps.
* ``encode``: pre-encode a data folder with a trained autoencoder into ``latents.safetensors`` + ``latents.json``.

Resumable: ``RUN/train_state.pt`` (weights, optimisers, schedulers, EMA, step; tensors only, loaded with
``weights_only=True``) is written atomically every ``checkpoint_every`` steps with the exported checkpoint beside
it; restarting the same command continues from it. Batches are a pure function of (seed, step), so a resumed run is
the same run. Multi-GPU/multi-process: launch the same command with ``torchrun --nproc-per-node N``; each rank
takes every N-th item of the global batch and DDP averages the gradients.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from sa_core.autoencoder import vae_sample
from sa_core.config import ConfigError, ModelConfig, from_dict, override, preset, to_dict
from sa_core.data import Batch, Clip, batch_for_step, load_clips
from sa_core.diffusion import denoiser_for, is_flow
from sa_core.flow_sampling import time_shift
from sa_core.losses import (MultiScaleSTFTDiscriminator, discriminator_hinge_loss, generator_losses,
                            stereo_mrstft_loss)
from sa_core.model import StableAudio, build_model, load_model, save_model
from sa_util.cli import guarded
from sa_util.files import atomic_write


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-5
    betas: tuple[float, ...] = (0.9, 0.999)
    weight_decay: float = 1e-3
    inv_gamma: float = 1e6  # InverseLR: lr * (1 - warmup^(step+1)) * (1 + step / inv_gamma)^-power
    power: float = 0.5
    warmup: float = 0.99


@dataclass(frozen=True)
class TrainConfig:
    model: str = "tiny"  # a preset name or a model_config.json
    model_overrides: dict[str, Any] = field(default_factory=dict)  # dotted keys, e.g. {"dit.depth": 4}
    steps: int = 1000
    batch_size: int = 8  # global, across processes
    seed: int = 42
    optim: OptimConfig = field(default_factory=OptimConfig)
    disc_optim: OptimConfig = field(default_factory=lambda: OptimConfig(3e-4, (0.8, 0.99), 1e-3, 2e5, 0.5, 0.999))
    grad_clip: float = 1.0
    ema_beta: float = 0.9999
    ema_power: float = 0.75  # EMA decay = min(beta, 1 - (1 + step)^-power)
    cfg_dropout: float = 0.1
    kl_weight: float = 1e-4
    mrstft_weight: float = 1.0
    l1_weight: float = 0.0  # VAE time-domain L1 (off in the reference configs)
    l2_weight: float = 0.0  # VAE time-domain MSE: learns pitch and phase in hundreds of steps where the
    # log-magnitude MR-STFT term alone needs many thousands (measured on SynthCaps; off in the reference configs)
    adversarial_weight: float = 0.1
    feature_matching_weight: float = 5.0
    disc_filters: int = 64
    autoencoder: str | None = None  # diffusion: trained VAE checkpoint folder (frozen); None: untrained VAE
    latents: str | None = None  # diffusion: folder written by `encode`
    checkpoint_every: int = 500
    log_every: int = 10
    precision: Literal["fp32", "bf16"] = "fp32"


def model_config(cfg: TrainConfig) -> ModelConfig:
    base = preset(cfg.model) if not cfg.model.endswith(".json") else from_dict(
        ModelConfig, json.loads(Path(cfg.model).read_text()))
    return override(base, cfg.model_overrides) if cfg.model_overrides else base


def inverse_lr(step: int, o: OptimConfig) -> float:
    return (1 - o.warmup ** (step + 1)) * (1 + step / o.inv_gamma) ** -o.power


def ema_update(ema: nn.Module, online: nn.Module, step: int, beta: float, power: float) -> None:
    decay = min(beta, 1 - (1 + step) ** -power)
    with torch.no_grad():
        for e, p in zip(ema.parameters(), online.parameters()):
            e.lerp_(p.detach(), 1 - decay)
        for e, b in zip(ema.buffers(), online.buffers()):
            e.copy_(b)


def optimizer(params: Any, o: OptimConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    opt = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: inverse_lr(step, o))


# ---------------------------------------------------------------------------------------------------------------
# the two objectives


class DiffusionObjective(nn.Module):
    """Backbone + conditioner (trained), autoencoder (frozen): one step's loss."""

    def __init__(self, model: StableAudio, cfg: TrainConfig):
        super().__init__()
        self.backbone, self.conditioner = model.backbone, model.conditioner
        self.__dict__["model"] = model  # not a submodule: DDP must only see the trained parts
        self.cfg = cfg

    def forward(self, latents: torch.Tensor, batch: Batch, draws: "GlobalDraws") -> dict[str, torch.Tensor]:
        model = self.__dict__["model"]
        cond = model.conditioner(batch.captions, batch.seconds_start.tolist(), batch.seconds_total.tolist(),
                                 latents.device)
        cond = model.drop_conditioning(cond, draws.uniform(latents.device) < self.cfg.cfg_dropout)
        t = draws.uniform(latents.device)
        if model.cfg.flow_shift is not None and is_flow(model.cfg.objective):
            t = time_shift(t, latents.shape[-1], model.cfg.flow_shift).to(t.dtype)
        noise = draws.normal(latents.shape, latents.device)
        return {"loss": denoiser_for(model.cfg.objective, model.velocity).loss(latents, noise, t, cond=cond).mean()}


class GlobalDraws:
    """Random draws for the whole global batch of a step from one (seed, step) generator, sliced to this rank's
    items: N processes see exactly the numbers one process would (DDP equals single-process training)."""

    def __init__(self, seed: int, step: int, global_batch: int, rank: int, world: int):
        self.g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        self.n, self.rank, self.world = global_batch, rank, world

    def uniform(self, device: torch.device) -> torch.Tensor:
        return torch.rand(self.n, generator=self.g)[self.rank::self.world].to(device)

    def normal(self, local_shape: torch.Size, device: torch.device) -> torch.Tensor:
        return torch.randn(self.n, *local_shape[1:], generator=self.g)[self.rank::self.world].to(device)


def latents_for(model: StableAudio, batch: Batch, draws: GlobalDraws, device: torch.device) -> torch.Tensor:
    """Sampled VAE latents of the batch (frozen autoencoder), divided by ``latent_scale`` as the backbone sees them."""
    audio = batch.audio.to(device)
    with torch.no_grad():
        return model.autoencoder.encode(audio, noise=draws.normal(model.autoencoder.latent_shape(audio.shape),
                                                                  device))[0]


# ---------------------------------------------------------------------------------------------------------------
# the loop


class Trainer:
    def __init__(self, kind: str, cfg: TrainConfig, data: Path, out: Path, device: str):
        self.kind, self.cfg, self.out, self.device = kind, cfg, out, torch.device(device)
        self.rank, self.world = dist.get_rank() if dist.is_initialized() else 0, (
            dist.get_world_size() if dist.is_initialized() else 1)
        if cfg.batch_size % self.world:
            raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by {self.world} processes")
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.mcfg = model_config(cfg)
        self.model = build_model(self.mcfg).to(self.device)
        if cfg.autoencoder:
            self.model.autoencoder.load_state_dict(load_model(cfg.autoencoder).autoencoder.state_dict())
        self.clips = self._data(data)
        self.adversarial = kind == "vae" and (cfg.adversarial_weight > 0 or cfg.feature_matching_weight > 0)
        if kind == "vae":
            self.trained: nn.Module = self.model.autoencoder
        else:
            self.model.autoencoder.requires_grad_(False).eval()
            self.trained = DiffusionObjective(self.model, cfg)
        if self.adversarial:  # with both weights 0 there is no discriminator and every step trains the VAE
            self.disc = MultiScaleSTFTDiscriminator(self.mcfg.autoencoder.io_channels, cfg.disc_filters).to(device)
            self.d_opt, self.d_sched = optimizer(self.disc.parameters(), cfg.disc_optim)
        self.opt, self.sched = optimizer(self.trained.parameters(), cfg.optim)
        self.ema = self._ema_copy()
        self.step = 0
        self._resume()
        unused = self.mcfg.backbone == "unet"  # its learned null context only gets gradients on dropped items
        self.ddp = (nn.parallel.DistributedDataParallel(self.trained, find_unused_parameters=unused)
                    if self.world > 1 else self.trained)
        self.ddp_disc = (nn.parallel.DistributedDataParallel(self.disc) if self.world > 1 and self.adversarial
                         else getattr(self, "disc", None))

    def _ema_copy(self) -> nn.Module:
        """A second copy of the trained parts (built fresh: the frozen text encoder is not duplicated)."""
        twin = build_model(self.mcfg).to(self.device)
        twin.load_state_dict(self.model.state_dict())
        ema = (twin.autoencoder if self.kind == "vae" else
               nn.ModuleDict({"backbone": twin.backbone, "conditioner": twin.conditioner}))
        return ema.requires_grad_(False)

    def _data(self, data: Path) -> list[Clip]:
        if self.cfg.latents:
            blob = torch.load(Path(self.cfg.latents) / "latents.pt", weights_only=True)
            meta = json.loads((Path(self.cfg.latents) / "latents.json").read_text())
            return [Clip(blob[str(i)].numpy(), m["caption"], m["seconds"]) for i, m in enumerate(meta)]
        return load_clips(data, self.mcfg.sample_rate, self.mcfg.autoencoder.io_channels)

    def _batch(self) -> Batch:
        if self.cfg.latents:  # crops in latent frames; timing in seconds of audio
            rate = self.mcfg.sample_rate / self.mcfg.autoencoder.downsampling_ratio
            return batch_for_step(self.clips, self.step, self.cfg.batch_size, self.mcfg.latent_length, rate,
                                  self.cfg.seed, self.rank, self.world)
        return batch_for_step(self.clips, self.step, self.cfg.batch_size, self.mcfg.sample_size,
                              self.mcfg.sample_rate, self.cfg.seed, self.rank, self.world)

    def state(self) -> dict[str, Any]:
        s = {"step": torch.tensor(self.step), "trained": self.trained.state_dict(), "ema": self.ema.state_dict(),
             "opt": self.opt.state_dict(), "sched": self.sched.state_dict()}
        if self.adversarial:
            s.update(disc=self.disc.state_dict(), d_opt=self.d_opt.state_dict(), d_sched=self.d_sched.state_dict())
        return s

    def _resume(self) -> None:
        path = self.out / "train_state.pt"
        if not path.is_file():
            return
        saved = json.loads((self.out / "train_config.json").read_text())
        if {k: v for k, v in saved.items() if k != "steps"} != {k: v for k, v in to_dict(self.cfg).items()
                                                                if k != "steps"}:
            raise ConfigError(f"{self.out} holds a run with another config; use a new --out or the same config")
        s = torch.load(path, map_location=self.device, weights_only=True)
        self.trained.load_state_dict(s["trained"])
        self.ema.load_state_dict(s["ema"])
        self.opt.load_state_dict(s["opt"])
        self.sched.load_state_dict(s["sched"])
        if self.adversarial:
            self.disc.load_state_dict(s["disc"])
            self.d_opt.load_state_dict(s["d_opt"])
            self.d_sched.load_state_dict(s["d_sched"])
        self.step = int(s["step"])

    def checkpoint(self) -> None:
        if self.rank:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "train_config.json").write_text(json.dumps(to_dict(self.cfg), indent=2))
        atomic_write(self.out / "train_state.pt", lambda tmp: torch.save(self.state(), tmp))
        exported = build_model(self.mcfg)
        exported.load_state_dict(self.model.state_dict())
        if self.kind == "vae":
            exported.autoencoder.load_state_dict(self.ema.state_dict())
        else:
            exported.backbone.load_state_dict(self.ema["backbone"].state_dict())
            exported.conditioner.load_state_dict(self.ema["conditioner"].state_dict())
        save_model(exported, self.out)

    def train_step(self) -> dict[str, float]:
        batch = self._batch()
        draws = GlobalDraws(self.cfg.seed, self.step, self.cfg.batch_size, self.rank, self.world)
        autocast = torch.autocast(self.device.type, torch.bfloat16, enabled=self.cfg.precision == "bf16")
        if self.kind == "diffusion":
            latents = (batch.audio.to(self.device) / self.mcfg.autoencoder.latent_scale if self.cfg.latents
                       else latents_for(self.model, batch, draws, self.device))
            with autocast:
                losses = self.ddp(latents, batch, draws)
            return self._update(self.opt, self.sched, self.trained, losses)
        audio = batch.audio.to(self.device)
        with autocast:
            out = self.ddp(audio, noise=draws.normal(self.model.autoencoder.latent_shape(audio.shape), self.device))
            if self.adversarial and self.step % 2 == 1:  # discriminator step
                losses = {"loss": discriminator_hinge_loss(self.ddp_disc(audio), self.ddp_disc(out["audio"].detach()))}
                return self._update(self.d_opt, self.d_sched, self.disc, losses, ema=False)
            zero = audio.new_zeros(())
            gen = (generator_losses(self.ddp_disc(audio), self.ddp_disc(out["audio"])) if self.adversarial else
                   {"loss/adversarial": zero, "loss/feature_matching": zero})
            losses = {"loss/mrstft": stereo_mrstft_loss(out["audio"], audio), "loss/kl": out["loss/kl"],
                      "loss/l1": (out["audio"] - audio).abs().mean(), "loss/l2": (out["audio"] - audio).pow(2).mean(),
                      **gen}
            weights = {"loss/mrstft": self.cfg.mrstft_weight, "loss/kl": self.cfg.kl_weight,
                       "loss/l1": self.cfg.l1_weight, "loss/l2": self.cfg.l2_weight,
                       "loss/adversarial": self.cfg.adversarial_weight,
                       "loss/feature_matching": self.cfg.feature_matching_weight}
            losses["loss"] = sum(weights[k] * v for k, v in losses.items())
        return self._update(self.opt, self.sched, self.trained, losses)

    def _update(self, opt: torch.optim.Optimizer, sched: Any, module: nn.Module, losses: dict[str, torch.Tensor],
                ema: bool = True) -> dict[str, float]:
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.cfg.grad_clip)
        opt.step()
        sched.step()
        if ema:
            ema_update(self.ema, self.trained, self.step, self.cfg.ema_beta, self.cfg.ema_power)
        return {k: float(v.detach()) for k, v in losses.items()}

    def run(self, progress: bool = True) -> list[dict[str, float]]:
        log: list[dict[str, float]] = []
        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=not progress or self.rank > 0, unit="step")
        started = time.time()
        while self.step < self.cfg.steps:
            row = {"step": self.step, **self.train_step()}
            log.append(row)
            self.step += 1
            bar.update()
            bar.set_postfix(loss=f"{row['loss']:.4f}")
            if self.rank == 0 and (self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps):
                self._log(row, time.time() - started)
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps:
                self.checkpoint()
        bar.close()
        return log

    LOG_COLUMNS = {"diffusion": ["step", "elapsed_s", "loss"],
                   "vae": ["step", "elapsed_s", "loss", "loss/mrstft", "loss/kl", "loss/l1", "loss/l2", "loss/adversarial",
                           "loss/feature_matching"]}  # VAE rows without loss/mrstft are discriminator steps

    def _log(self, row: dict[str, float], elapsed: float) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "train_log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.LOG_COLUMNS[self.kind], restval="", extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({**row, "elapsed_s": round(elapsed, 2)})


def encode_folder(ckpt: str, data: Path, out: Path, device: str = "cpu", window: int | None = None) -> Path:
    """Pre-encode every clip of ``data`` with the autoencoder of ``ckpt``: the deterministic mean latents, unscaled
    (the diffusion run divides by its own ``autoencoder.latent_scale``).

    A clip shorter than the model window is encoded with silence after it, up to the window: the latent crops past
    its end are then the autoencoder's own code for silence (as when the trainer pads audio and encodes), not
    zeros; ``seconds`` keeps the clip's real length for ``seconds_total``. ``window``: the diffusion model's window
    in samples (default: the checkpoint's ``sample_size``)."""
    model = load_model(ckpt).to(device)
    window = window or model.cfg.sample_size
    clips = load_clips(data, model.cfg.sample_rate, model.cfg.autoencoder.io_channels)
    latents, meta = {}, []
    with torch.no_grad():
        for i, clip in enumerate(clips):
            audio = torch.from_numpy(clip.audio)[None].to(device)
            audio = torch.nn.functional.pad(audio, (0, max(0, window - audio.shape[-1])))
            moments = model.autoencoder.encode_moments(audio)
            z, _ = vae_sample(moments, deterministic=True)
            latents[str(i)] = z[0].cpu()
            meta.append({"caption": clip.caption, "seconds": clip.audio.shape[-1] / model.cfg.sample_rate})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "latents.pt", lambda tmp: torch.save(latents, tmp))
    (out / "latents.json").write_text(json.dumps(meta, indent=1))
    return out


def read_config(path: Path | None, sets: list[str]) -> TrainConfig:
    data = json.loads(path.read_text()) if path else {}
    for item in sets:
        key, _, value = item.partition("=")
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[last] = json.loads(value)  # numbers, booleans, lists, mappings
        except ValueError:
            node[last] = value  # a plain string; from_dict checks the type
    return from_dict(TrainConfig, data)


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sa_core.train", description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=["vae", "diffusion", "encode"])
    p.add_argument("--config", type=Path, help="TrainConfig JSON (unknown keys are errors)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. steps=200")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ckpt", help="encode: the checkpoint whose autoencoder encodes")
    p.add_argument("--window", type=int, help="encode: pad short clips to this many samples (default: the "
                   "checkpoint's sample_size; give the diffusion model's when the autoencoder trained on crops)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.kind == "encode":
            if not args.ckpt:
                raise ConfigError("encode needs --ckpt")
            print(encode_folder(args.ckpt, args.data, args.out, args.device, args.window))
            return 0
        cfg = read_config(args.config, args.set)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dist.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
            if args.device.startswith("cuda"):
                args.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        Trainer(args.kind, cfg, args.data, args.out, args.device).run(progress=not args.no_progress)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
