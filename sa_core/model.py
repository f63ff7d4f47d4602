"""The assembled model (autoencoder + conditioner + backbone), its one factory, and checkpoints.

Our checkpoint: a folder with ``model_config.json`` (``sa_core.config.to_dict``) and ``model.safetensors``.
The stable-audio-open-1.0 and stable-audio-open-small releases (its ``model_config.json`` + ``model.safetensors``, or ``model.ckpt``) loads too:
its config is translated and its keys renamed by prefix (``model.model.`` <-> ``backbone.``,
``conditioner.conditioners.`` <-> ``conditioner.``, ``pretransform.model.`` <-> ``autoencoder.``), then loaded
strictly: every key present, every shape equal. Nothing is unpickled: safetensors, or ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from sa_core.autoencoder import Autoencoder
from sa_core.conditioning import Conditioner, Conditioning
from sa_core.context_cache import ContextCache
from sa_util.files import atomic_write
from sa_core.config import (AutoencoderConfig, ConditioningConfig, ConfigError, DiTConfig, FlowShiftConfig, ModelConfig,
                            TextConfig, from_dict, to_dict)
from sa_core.text_encoders import TextEncoder
from sa_util.state_dict import load_state_strict, read_weights

SAO_PREFIXES = (("model.model.", "backbone."), ("conditioner.conditioners.", "conditioner."),
                ("pretransform.model.", "autoencoder."))


class StableAudio(nn.Module):
    def __init__(self, cfg: ModelConfig, text_encoder: TextEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.autoencoder = Autoencoder(cfg.autoencoder)
        self.conditioner = Conditioner(cfg.conditioning, text_encoder)
        self.backbone = build_backbone(cfg)

    @property
    def latent_channels(self) -> int:
        return self.cfg.autoencoder.latent_dim

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """The backbone as a velocity function ``(x [B, C, L], t [B], cond) -> v`` for ``VDenoiser``."""
        if self.cfg.backbone == "unet":  # the U-Net zeroes K/V of masked context tokens; the DiT uses no mask
            return self.backbone(x, t, cond.cross, cond.global_cond, cond.cross_mask)
        return self.backbone(x, t, cond.cross, cond.global_cond)

    @contextlib.contextmanager
    def reusing_context(self, cache: ContextCache | None = None) -> Iterator[ContextCache | None]:
        """Within the block the DiT reuses its cross-attention keys/values while the text tokens repeat (one
        sampling run: :mod:`sa_core.context_cache`); exact, and a no-op for the U-Net. Yields the cache in use."""
        if not hasattr(self.backbone, "context_cache"):
            yield None
            return
        previous, self.backbone.context_cache = self.backbone.context_cache, cache or ContextCache()
        try:
            yield self.backbone.context_cache
        finally:
            self.backbone.context_cache = previous

    def null_conditioning(self, cond: Conditioning) -> Conditioning:
        """CFG's unconditional input: zero tokens (DiT) or the learned table (U-Net); global timing kept."""
        if self.cfg.backbone == "unet":
            B = cond.cross.shape[0]
            table = self.backbone.null_context(B).to(cond.cross.dtype)
            return Conditioning(table, torch.ones(table.shape[:2], dtype=torch.bool, device=table.device),
                                cond.global_cond)
        return cond.null()

    def drop_conditioning(self, cond: Conditioning, drop: torch.Tensor) -> Conditioning:
        """Training-time CFG dropout: items where ``drop`` [B] is True get the null cross-attention input."""
        return cond.where(~drop, self.null_conditioning(cond))


def build_backbone(cfg: ModelConfig) -> nn.Module:
    if cfg.backbone == "dit":
        from sa_core.dit import DiT

        if cfg.dit is None:
            raise ConfigError("backbone 'dit' needs a 'dit' section")
        return DiT(cfg.dit)
    from sa_core.unet1d import UNet1d

    if cfg.unet is None:
        raise ConfigError("backbone 'unet' needs a 'unet' section")
    return UNet1d(cfg.unet, cfg.conditioning.cond_dim)


def build_model(cfg: ModelConfig, text_encoder: TextEncoder | None = None) -> StableAudio:
    """The one place a config becomes modules."""
    return StableAudio(cfg, text_encoder)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------------------------
# stable-audio-open-1.0 format


SAO_OBJECTIVES = ("v", "rectified_flow", "rf_denoiser")


def from_sao_config(raw: dict[str, Any]) -> ModelConfig:
    """Translate a stable-audio-tools ``diffusion_cond`` ``model_config.json`` (DiT + Oobleck + T5/number): the
    stable-audio-open-1.0 and stable-audio-open-small layouts (and smaller configs of the same structure)."""
    try:
        model = raw["model"]
        pre = model["pretransform"]["config"]
        enc, dec = pre["encoder"]["config"], pre["decoder"]["config"]
        cond = model["conditioning"]
        diff = model["diffusion"]
        if raw.get("model_type") != "diffusion_cond" or diff["type"] != "dit" or enc.get("use_snake") is not True:
            raise ConfigError("only diffusion_cond models with a 'dit' backbone and an Oobleck VAE are supported")
        objective = diff.get("diffusion_objective", "v")
        if objective not in SAO_OBJECTIVES:
            raise ConfigError(f"diffusion_objective {objective!r} is not supported; expected one of "
                              f"{list(SAO_OBJECTIVES)}")
        prompt = next(c for c in cond["configs"] if c["id"] == "prompt")
        if prompt["type"] != "t5":
            raise ConfigError(f"prompt conditioner {prompt['type']!r} is not supported (expected 't5')")
        numbers = [c for c in cond["configs"] if c["id"] in ("seconds_start", "seconds_total")]
        if not numbers or any(c["type"] != "number" for c in numbers):
            raise ConfigError("expected 'number' conditioners for seconds_start / seconds_total")
        d = diff["config"]
        qk_norm = d.get("attn_kwargs", {}).get("qk_norm", "none")
        if qk_norm not in ("none", "ln"):
            raise ConfigError(f"attn_kwargs.qk_norm {qk_norm!r} is not supported; expected 'none' or 'ln'")
        shift = diff.get("distribution_shift_options")
        name = "stable-audio-open-small" if d["embed_dim"] == 1024 and d["depth"] == 16 else "stable-audio-open-1.0"
        return ModelConfig(
            name=name, sample_rate=raw["sample_rate"], sample_size=raw["sample_size"],
            autoencoder=AutoencoderConfig(io_channels=enc["in_channels"], channels=enc["channels"],
                                          c_mults=tuple(enc["c_mults"]), strides=tuple(enc["strides"]),
                                          latent_dim=dec["latent_dim"], use_snake=True,
                                          final_tanh=dec.get("final_tanh", True)),
            conditioning=ConditioningConfig(
                cond_dim=cond["cond_dim"],
                text=TextConfig(kind="t5", max_length=prompt["config"].get("max_length", 128)),
                timing="fourier", timing_min=numbers[0]["config"]["min_val"],
                timing_max=numbers[0]["config"]["max_val"],
                cross_attention_ids=tuple(diff["cross_attention_cond_ids"]),
                global_ids=tuple(diff.get("global_cond_ids", ()))),
            backbone="dit",
            dit=DiTConfig(io_channels=d["io_channels"], embed_dim=d["embed_dim"], depth=d["depth"],
                          num_heads=d["num_heads"], cond_token_dim=d["cond_token_dim"],
                          global_cond_dim=d["global_cond_dim"], qk_norm=qk_norm,
                          project_cond_tokens=bool(d.get("project_cond_tokens", True))),
            objective=objective,
            flow_shift=None if shift is None else from_dict(FlowShiftConfig, dict(shift), "distribution_shift_options"))
    except (KeyError, StopIteration, IndexError, TypeError) as exc:
        raise ConfigError(f"not a stable-audio-tools diffusion_cond config: missing {exc}") from exc


def sao_to_ours(key: str) -> str:
    for theirs, ours in SAO_PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    raise KeyError(f"unexpected key {key!r} in a stable-audio-open checkpoint")


def ours_to_sao(key: str) -> str:
    for theirs, ours in SAO_PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    raise KeyError(key)


def sao_state_dict(model: StableAudio) -> dict[str, torch.Tensor]:
    """Our weights under the stable-audio-open key names (identity projections have no keys there either)."""
    return {ours_to_sao(k): v for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------------------------
# loading and saving


class MissingCheckpoint(FileNotFoundError):
    pass


def _resolve(path: str | Path, weights: str | Path | None) -> tuple[Path, Path]:
    p = Path(path).expanduser()
    if not p.exists():
        raise MissingCheckpoint(f"checkpoint {p} does not exist (expected a folder with model_config.json and "
                                "model.safetensors, ours or a stable-audio-open release's)")
    if p.is_dir():
        config = p / "model_config.json"
        candidates = [p / "model.safetensors", p / "model.ckpt"]
        found = next((c for c in candidates if c.is_file()), None)
        if not config.is_file() or found is None:
            raise MissingCheckpoint(
                f"{p} is not a checkpoint folder: it needs model_config.json and model.safetensors (ours, or "
                "stabilityai/stable-audio-open-1.0's or -small's, from https://huggingface.co/stabilityai)")
        return config, found
    if weights is None or not p.is_file() or not Path(weights).is_file():
        raise MissingCheckpoint(f"give a checkpoint folder, or an existing config and weights pair (got {path}, "
                                f"{weights})")
    return p, Path(weights)


def _read_config(config_path: Path) -> tuple[ModelConfig, bool]:
    """(config, whether it is in the stable-audio-open-1.0 layout)."""
    try:
        raw = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid JSON ({exc})") from exc
    sao = isinstance(raw, dict) and "model_type" in raw
    return (from_sao_config(raw) if sao else from_dict(ModelConfig, raw)), sao


def read_model_config(path: str | Path, weights: str | Path | None = None) -> ModelConfig:
    """The config of a checkpoint (ours or stable-audio-open-1.0's) without reading its weights: what callers need
    to check a request (window length, sample rate, channels) before paying for a model load."""
    return _read_config(_resolve(path, weights)[0])[0]


def load_model(path: str | Path, weights: str | Path | None = None, *, text_encoder: TextEncoder | None = None,
               text_path: str | None = None) -> StableAudio:
    """Load our checkpoint folder or the stable-audio-open-1.0 release (folder, or config + weights pair).

    ``text_path`` points the (frozen, separately stored) text encoder at its local files. The model comes back in
    eval mode with every parameter frozen (``requires_grad`` False; ``requires_grad_(True)`` to fine-tune): under
    bf16 autocast, weights that require grad have their bf16 copies cached for the whole autocast region, which held
    2 GB of copies of stable-audio-open-1.0's DiT per step and made each step fault in all of it anew (a bf16 step
    took 2.32 s, 1.08 s frozen: ``benchmarks/speed/test_peers_speed.py -k cpu``, BENCHMARKS.md, 2026-12-02).
    """
    config_path, weights_path = _resolve(path, weights)
    cfg, sao = _read_config(config_path)
    if text_path is not None:
        from sa_core.config import override

        cfg = override(cfg, {"conditioning.text.path": text_path})
    model = build_model(cfg, text_encoder)
    expected = f"the weights of the model built from {config_path}"
    state = read_weights(weights_path, expected)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if sao and isinstance(state, dict):
        state = {sao_to_ours(k): v for k, v in state.items()}
    load_state_strict(model, state, weights_path, expected)
    return model.eval().requires_grad_(False)


def save_model(model: StableAudio, folder: str | Path) -> Path:
    """Write ``model_config.json`` + ``model.safetensors`` atomically into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, tmp))
    text = json.dumps(to_dict(model.cfg), indent=2)
    atomic_write(folder / "model_config.json", lambda tmp: Path(tmp).write_text(text))
    return folder
