"""Equality of every stack against ours on the same checkpoint and the same inputs: the DiT's v-prediction without
and with CFG, the VAE decode, and (where the peer's sampler is the same mathematics) a whole short generation.

Stacks run one after another and only their outputs are kept (never two SAO-size models in memory at once).
Figures are max relative differences, ``max |theirs - ours| / max |ours|``.

``python -m benchmarks.peers.equality [--size small|sao] [--seconds 1.5] [--steps 4]`` prints the table
(``sao``: the full 1.06 B-parameter DiT and 156 M VAE at random weights; ``small``: 2 DiT blocks, same widths).
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.peers import STACKS, PeerMissing, stack_class
from benchmarks.peers.checkpoint import small_sao_config, write_random_t5, write_sao_checkpoint
from sa_core.config import ModelConfig, override, preset
from sa_util.cli import guarded

CFG_SCALE = 7.0


@dataclass(frozen=True)
class Inputs:
    """The shared inputs: text-encoder output ``tokens`` [B, S, 768] (item 1 padded after 40 tokens) with ``mask``,
    timings [B] (one value for the batch: diffusers' pipeline takes one), latents ``x`` [B, C, L] at times ``t`` [B],
    latents to decode ``z`` [1, C, L], unit ``noise`` [B, C, L] for a generation of ``steps`` steps."""

    tokens: torch.Tensor
    mask: torch.Tensor
    seconds_start: torch.Tensor
    seconds_total: torch.Tensor
    x: torch.Tensor
    t: torch.Tensor
    z: torch.Tensor
    noise: torch.Tensor
    steps: int

    @classmethod
    def make(cls, cfg: ModelConfig, batch: int = 2, steps: int = 4, seed: int = 0) -> "Inputs":
        g = torch.Generator().manual_seed(seed)
        S, D = cfg.conditioning.text.max_length, cfg.conditioning.text.dim
        C, L = cfg.autoencoder.latent_dim, cfg.latent_length
        mask = torch.ones(batch, S, dtype=torch.bool)
        mask[1:, 40:] = False
        tokens = torch.randn(batch, S, D, generator=g) * mask[..., None]
        seconds = torch.full((batch,), round(cfg.max_seconds * 0.9, 3))
        return cls(tokens, mask, torch.zeros(batch), seconds, torch.randn(batch, C, L, generator=g),
                   torch.rand(batch, generator=g) * 0.9 + 0.05, torch.randn(1, C, L, generator=g),
                   torch.randn(batch, C, L, generator=g), steps)


def outputs(name: str, ckpt: Path, t5_dir: Path, inp: Inputs) -> dict[str, torch.Tensor]:
    """Load stack ``name``, compute its outputs on ``inp``, free it. Raises PeerMissing where it is absent."""
    stack = stack_class(name)(ckpt, t5_dir)
    try:
        cond = stack.prepare(inp.tokens, inp.mask, inp.seconds_start, inp.seconds_total)
        out = {"dit": stack.velocity(inp.x, inp.t, cond), "dit_cfg": stack.velocity(inp.x, inp.t, cond, CFG_SCALE),
               "vae_decode": stack.decode(inp.z)}
        if stack.sampler.same_as_ours:
            out["generation"] = stack.sample(cond, inp.noise, inp.steps, CFG_SCALE)
        return out
    finally:
        stack.release()
        del stack
        gc.collect()


def rel_diff(theirs: torch.Tensor, ours: torch.Tensor) -> float:
    if theirs.shape != ours.shape:
        raise ValueError(f"shapes differ: {tuple(theirs.shape)} vs {tuple(ours.shape)}")
    return float((theirs.double() - ours.double()).abs().max() / ours.double().abs().max())


def compare(ckpt: Path, t5_dir: Path, inp: Inputs) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """({peer: {output: rel diff}}, {peer: why skipped})."""
    ours = outputs("ours", ckpt, t5_dir, inp)
    table, skipped = {}, {}
    for name in STACKS:
        if name == "ours":
            continue
        try:
            theirs = outputs(name, ckpt, t5_dir, inp)
        except PeerMissing as exc:
            skipped[name] = str(exc)
            continue
        table[name] = {k: rel_diff(v, ours[k]) for k, v in theirs.items()}
    return table, skipped


@guarded
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "sao"), default="small")
    ap.add_argument("--seconds", type=float, default=1.5, help="window length (rounded to whole latents)")
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args(argv)
    sample_size = max(1, round(args.seconds * 44100 / 2048)) * 2048
    cfg = small_sao_config(sample_size) if args.size == "small" else \
        override(preset("stable-audio-open-1.0"), {"sample_size": sample_size})
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = write_sao_checkpoint(Path(tmp) / "ckpt", cfg)
        t5 = write_random_t5(Path(tmp) / "t5", num_layers=2)
        table, skipped = compare(ckpt, t5, Inputs.make(cfg, steps=args.steps))
    print(f"max relative difference vs ours ({args.size}, {sample_size} samples, fp32, CFG {CFG_SCALE}, "
          f"{args.steps} steps dpmpp-2m)")
    keys = ("dit", "dit_cfg", "vae_decode", "generation")
    print("peer".ljust(20) + "".join(k.rjust(12) for k in keys))
    for name, row in table.items():
        print(name.ljust(20) + "".join((f"{row[k]:.2e}" if k in row else "n/a").rjust(12) for k in keys))
    for name, why in skipped.items():
        print(f"{name}: skipped: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
