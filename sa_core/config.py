"""Typed configs for every component, strict loading, and the named presets.

Each component has one dataclass with defaults in code. ``from_dict`` builds it from JSON-like data and raises on
unknown keys and wrong types, so a typo in a config never silently falls back to a default. A checkpoint stores
``to_dict(config)`` and loading rebuilds the model from it.

Presets: ``stable-audio-1.0`` (the paper: 1024x DAC-style VAE, U-Net, CLAP text, learned per-second timing),
``stable-audio-open-1.0`` (Oobleck 2048x VAE, DiT 1536x24, T5-base, Fourier timing), ``stable-audio-open-small``
(the same VAE, DiT 1024x16 with q/k LayerNorm, T5-base 64 tokens, seconds_total only, rectified flow) and ``tiny`` (same code, small
enough to train and sample on 2 CPU cores, MiniLM text).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class AutoencoderConfig:
    """Oobleck/DAC-style VAE: Snake activations, weight-normed convs, a Gaussian bottleneck."""

    io_channels: int = 2
    channels: int = 128
    c_mults: tuple[int, ...] = (1, 2, 4, 8, 16)
    strides: tuple[int, ...] = (2, 4, 4, 8, 8)  # product x patch_size = downsampling ratio (SAO 2048, SA1 1024)
    patch_size: int = 1  # >1: fold that many samples into channels before the encoder (stable-audio-tools'
    # "patched" pretransform, "b c (l h) -> b (c h) l"), so no convolution runs at the audio rate
    per_channel: bool = False  # code each audio channel with one mono network, as DAC codes stereo; latent_dim
    # counts all channels' latents (latent_dim / io_channels each), so left/right levels are kept by construction
    latent_dim: int = 64  # the encoder emits 2 * latent_dim (mean, scale)
    use_snake: bool = True
    final_tanh: bool = False
    latent_scale: float = 1.0  # diffusion sees latents / latent_scale (the reference's pretransform scale; SAO 1)

    @property
    def downsampling_ratio(self) -> int:
        ratio = self.patch_size
        for s in self.strides:
            ratio *= s
        return ratio


@dataclass(frozen=True)
class TextConfig:
    """A frozen text encoder; its weights live outside our checkpoint and are read from ``path``."""

    kind: Literal["t5", "clap", "minilm", "minilm-l3", "mpnet", "none"] = "t5"  # sa_core.text_encoders.TEXT_ENCODERS
    path: str | None = None  # local folder (HF encoders) or CLAP checkpoint (clap); None: the kind's default
    max_length: int = 128  # tokens; SAO T5 pads to 128, CLAP to 77
    dim: int = 768  # the encoder's hidden size (t5-base 768, MiniLM 384, CLAP-RoBERTa 768)
    roberta_dir: str | None = None  # clap only: the roberta-base tokenizer folder
    layer: Literal["last", "penultimate"] | None = None  # hidden state conditioned on; None: the kind's own


@dataclass(frozen=True)
class ConditioningConfig:
    cond_dim: int = 768
    text: TextConfig = field(default_factory=TextConfig)
    timing: Literal["fourier", "learned"] = "fourier"  # SAO NumberConditioner / SA1 per-second IntConditioner
    timing_min: int = 0
    timing_max: int = 512  # seconds; values are clamped into [min, max]
    cross_attention_ids: tuple[str, ...] = ("prompt", "seconds_start", "seconds_total")
    global_ids: tuple[str, ...] = ("seconds_start", "seconds_total")


@dataclass(frozen=True)
class DiTConfig:
    io_channels: int = 64
    embed_dim: int = 1536
    depth: int = 24
    num_heads: int = 24  # head dim 64
    cond_token_dim: int = 768
    global_cond_dim: int = 1536
    ff_mult: int = 4  # SwiGLU hidden = ff_mult * embed_dim
    qk_norm: Literal["none", "ln"] = "none"  # "ln": LayerNorm (affine, eps 1e-6) over each head's q and k
    project_cond_tokens: bool = False  # True: to_cond_embed maps the tokens to embed_dim (the reference's default)


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 64
    channels: int = 256
    multipliers: tuple[int, ...] = (4, 4, 4, 5, 5)  # channels per level: 1024, 1024, 1024, 1280, 1280
    factors: tuple[int, ...] = (1, 2, 2, 4)  # downsampling per level (total 16)
    num_blocks: tuple[int, ...] = (2, 2, 2, 2)
    attentions: tuple[int, ...] = (1, 3, 3, 3, 3)  # transformer layers per level; last = bottleneck
    attention_heads: int = 16
    attention_multiplier: int = 4
    resnet_groups: int = 16
    kernel_multiplier_downsample: int = 2
    use_skip_scale: bool = True
    context_features: int = 768
    context_max_length: int = 79  # 77 CLAP tokens + seconds_start + seconds_total


@dataclass(frozen=True)
class FlowShiftConfig:
    """stable-audio-tools' ``DistributionShift``: the sequence-length time shift of rectified-flow models."""

    base_shift: float = 0.5
    max_shift: float = 1.15
    min_length: int = 256
    max_length: int = 4096


Objective = Literal["v", "rectified_flow", "rf_denoiser"]


@dataclass(frozen=True)
class ModelConfig:
    name: str = "stable-audio-open-1.0"
    sample_rate: int = 44100
    sample_size: int = 2097152  # audio samples per window (SAO 47.55 s)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    backbone: Literal["dit", "unet"] = "dit"
    dit: DiTConfig | None = field(default_factory=DiTConfig)
    unet: UNetConfig | None = None
    objective: Objective = "v"  # sa_core.diffusion.OBJECTIVES; rf_denoiser = rectified flow post-trained for few steps
    flow_shift: FlowShiftConfig | None = None  # training-time t warp of flow objectives (None: t ~ U(0, 1))

    @property
    def latent_length(self) -> int:
        return self.sample_size // self.autoencoder.downsampling_ratio

    @property
    def max_seconds(self) -> float:
        return self.sample_size / self.sample_rate


class ConfigError(ValueError):
    """A config that does not match the dataclass it is read into."""


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}; valid keys are {sorted(names)}")
    values = {k: _convert(hints[k], v, f"{where or cls.__name__}.{k}") for k, v in data.items()}
    return cls(**values)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: None is not allowed")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-able dict of a config (tuples become lists); ``from_dict`` reads it back equal."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(config))


def override(config: T, changes: dict[str, Any]) -> T:
    """A copy of ``config`` with dotted-key changes (``{"dit.depth": 2}``), checked like ``from_dict``."""
    data = to_dict(config)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
            node = node[p]
        if last not in node:
            raise ConfigError(f"override {dotted!r}: unknown key {last!r}")
        node[last] = value
    return from_dict(type(config), data)


PRESETS: dict[str, ModelConfig] = {
    "stable-audio-open-1.0": ModelConfig(),
    "stable-audio-1.0": ModelConfig(
        name="stable-audio-1.0", sample_size=4194304,  # 95.1 s
        autoencoder=AutoencoderConfig(strides=(4, 4, 8, 8), c_mults=(2, 4, 8, 16)),  # 1024x; DAC encoder widths
        conditioning=ConditioningConfig(text=TextConfig(kind="clap", max_length=77), timing="learned",
                                        global_ids=()),
        backbone="unet", dit=None, unet=UNetConfig()),
    # stabilityai/stable-audio-open-small (arXiv 2505.08175). The release's model_config.json is gated; its fields
    # are taken from two public copies: the DiT and conditioner configs of the converted release
    # (huggingface.co/FastVideo/stable-audio-open-small-Diffusers: transformer/config.json, conditioner/config.json:
    # embed 1024, depth 16, 8 heads, qk_norm "ln", project_cond_tokens/global_cond true, T5-base 64 tokens,
    # seconds_total 0..256) and the stable-audio-tools config a fine-tune of it ships
    # (huggingface.co/thepatch/jerry_grunge base_model_config.json: sample_size 524288, the SAO-1.0 Oobleck VAE,
    # cross [prompt, seconds_total], global [seconds_total], distribution_shift_options 256..4096); the objective
    # "rf_denoiser" (8-step pingpong, CFG 1) is what stable-audio-tools reports for the release.
    "stable-audio-open-small": ModelConfig(
        name="stable-audio-open-small", sample_size=524288,  # 11.89 s = 256 latents
        conditioning=ConditioningConfig(text=TextConfig(kind="t5", max_length=64), timing_max=256,
                                        cross_attention_ids=("prompt", "seconds_total"), global_ids=("seconds_total",)),
        dit=DiTConfig(embed_dim=1024, depth=16, num_heads=8, cond_token_dim=768, global_cond_dim=768, qk_norm="ln",
                      project_cond_tokens=True),
        objective="rf_denoiser", flow_shift=FlowShiftConfig(min_length=256, max_length=4096)),
    "tiny": ModelConfig(
        name="tiny", sample_size=163840,  # 3.72 s at 44.1 kHz = 160 latents: the SynthCaps window
        autoencoder=AutoencoderConfig(channels=32, c_mults=(1, 2, 4), strides=(4, 4, 4), patch_size=16,
                                      latent_dim=16, per_channel=True),  # 16 x 64 = 1024x; 8 latents per channel
        conditioning=ConditioningConfig(cond_dim=128, text=TextConfig(kind="minilm", max_length=32, dim=384),
                                        timing_max=8),  # seconds: the 3.72 s window, finely resolved
        dit=DiTConfig(io_channels=16, embed_dim=128, depth=4, num_heads=2, cond_token_dim=128,
                      global_cond_dim=256)),
}


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {list(PRESETS)}")
    return PRESETS[name]
