"""FLOPs one denoiser call skips when the text tokens' keys/values are reused (``sa_core.context_cache``), counted
with ``torch.utils.flop_counter`` on the meta device (no weights, no compute: seconds on any machine).

``python -m benchmarks.context_flops`` prints the table BENCHMARKS.md quotes: per preset, window and batch, the
GFLOP of a whole DiT call and of :meth:`sa_core.dit.DiT.context_kv` (the part a sampling run computes once).
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from sa_core.config import preset
from sa_core.dit import DiT
from sa_util.cli import guarded

# (preset, latents, batch): CFG doubles the batch of the v models; stable-audio-open-small runs without CFG
CASES = [("stable-audio-open-1.0", 32, 2), ("stable-audio-open-1.0", 1024, 2), ("stable-audio-open-small", 16, 1),
         ("stable-audio-open-small", 256, 1), ("stable-audio-open-small", 256, 8), ("tiny", 160, 2)]


def gflop(fn) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops() / 1e9


def row(name: str, latents: int, batch: int) -> tuple[float, float, int]:
    """(GFLOP per call, GFLOP of the context's keys/values, context tokens) for one case."""
    cfg = preset(name)
    d = cfg.dit
    tokens = cfg.conditioning.text.max_length + 2  # text tokens + seconds_start/seconds_total tokens
    with torch.device("meta"):
        dit = DiT(d).eval()
        x, t = torch.randn(batch, d.io_channels, latents), torch.rand(batch)
        cross, g = torch.randn(batch, tokens, d.cond_token_dim), torch.randn(batch, d.global_cond_dim)
        return gflop(lambda: dit(x, t, cross, g)), gflop(lambda: dit.context_kv(cross)), tokens


@guarded
def main() -> int:
    print("| model | latents | batch | tokens | GFLOP per call | of which the text tokens' K/V | saved |")
    print("|---|---|---|---|---|---|---|")
    for name, latents, batch in CASES:
        total, context, tokens = row(name, latents, batch)
        print(f"| {name} | {latents} | {batch} | {tokens} | {total:.3f} | {context:.3f} | {100 * context / total:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
