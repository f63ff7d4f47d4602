"""``python -m sa_core.info PRESET|CKPT``: parameter counts per component, latent rate, maximum length.

Presets are built on the ``meta`` device (no memory, no weights), so even the 1.2 B-parameter models print at once.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from sa_core.config import PRESETS, ConfigError, ModelConfig, from_dict, preset
from sa_core.model import build_model, count_parameters, from_sao_config
from sa_util.cli import guarded


# Published parameter counts to compare against (millions): stable-audio-open-small's DiT is "341M parameters"
# (Stability AI's release announcement; arXiv 2505.08175), its VAE the SAO-1.0 Oobleck (156M, the SAO 1.0 paper).
PUBLISHED_M: dict[str, dict[str, float]] = {
    "stable-audio-open-small": {"backbone": 341.0, "autoencoder": 156.0},
}


def describe(cfg: ModelConfig) -> dict[str, object]:
    with torch.device("meta"):
        model = build_model(cfg)
    parts = {"backbone": model.backbone, "autoencoder": model.autoencoder, "conditioner": model.conditioner}
    counts = {name: count_parameters(m) for name, m in parts.items()}
    return {
        "name": cfg.name, "backbone": cfg.backbone, "parameters": counts, "total": sum(counts.values()),
        "text_encoder": f"{cfg.conditioning.text.kind} (frozen, not counted)",
        "sample_rate": cfg.sample_rate, "downsampling_ratio": cfg.autoencoder.downsampling_ratio,
        "latent_channels": cfg.autoencoder.latent_dim,
        "latent_rate_hz": cfg.sample_rate / cfg.autoencoder.downsampling_ratio,
        "latent_length": cfg.latent_length, "max_seconds": cfg.max_seconds, "objective": cfg.objective,
        "published_M": PUBLISHED_M.get(cfg.name, {}),
    }


def load_config(target: str) -> ModelConfig:
    if target in PRESETS:
        return preset(target)
    path = Path(target)
    path = path / "model_config.json" if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"{target!r} is neither a preset ({', '.join(PRESETS)}) nor a checkpoint folder/config")
    try:
        raw = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a model_config.json (not JSON: {exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: not a model_config.json (a JSON {type(raw).__name__}, expected an object)")
    return from_sao_config(raw) if "model_type" in raw else from_dict(ModelConfig, raw)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sa_core.info", description=__doc__.splitlines()[0])
    parser.add_argument("target", help=f"a preset ({', '.join(PRESETS)}) or a checkpoint folder / model_config.json")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    info = describe(load_config(args.target))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']} ({info['backbone']})")
    published = info["published_M"]
    for name, n in info["parameters"].items():
        ref = f"   published {published[name]:.0f} M" if name in published else ""
        print(f"  {name:12s} {n / 1e6:10.2f} M{ref}")
    print(f"  {'total':12s} {info['total'] / 1e6:10.2f} M   text encoder: {info['text_encoder']}")
    print(f"  latents: {info['latent_channels']} ch at {info['latent_rate_hz']:.2f} Hz "
          f"({info['downsampling_ratio']}x of {info['sample_rate']} Hz); window {info['latent_length']} latents = "
          f"{info['max_seconds']:.2f} s; objective {info['objective']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
