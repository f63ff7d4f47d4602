"""Reuse of the DiT's cross-attention keys and values across the steps of one sampling run.

In a run the text tokens never change, yet every denoiser call recomputes ``to_cond_embed(cross)`` and each
layer's ``to_kv`` (+ ``k_norm``) over them: 130 tokens x 24 layers for stable-audio-open-1.0, 10 % of a call's
FLOPs at a 1.5 s window and 0.3 % at the full 47 s window, where the latent sequence dominates (31 % and 2.8 % for
stable-audio-open-small at 0.74 s and 11.9 s; BENCHMARKS.md). A
:class:`ContextCache` keeps the per-layer ``(k, v)`` of the last context it saw and returns them while the same
context comes back. Reuse is exact (bitwise): the stored tensors are what the same operations on the same input
give, and the check compares the whole input (values, shape, dtype, device) and the autocast state, never an
object's identity (CFG builds a new ``[cond; uncond]`` batch each step).

Valid only while the weights stay fixed: hold one for a sampling run (``StableAudio.reusing_context()``), never
across an optimiser or EMA step. Calls with autograd on never use it (a stored graph cannot be reused).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: k, v [B, H_kv, S, d]


def autocast_state(device: torch.device) -> tuple[bool, torch.dtype]:
    return torch.is_autocast_enabled(device.type), torch.get_autocast_dtype(device.type)


class ContextCache:
    """The last context's keys and values; ``hits``/``misses`` count reuses and recomputations."""

    def __init__(self) -> None:
        self._input: torch.Tensor | None = None
        self._state: Any = None
        self._kv: KV | None = None
        self.hits = 0
        self.misses = 0

    def get(self, cross: torch.Tensor, compute: Callable[[torch.Tensor], KV]) -> KV:
        """``compute(cross)``, or its stored result when ``cross`` [B, S, C] equals the last input exactly."""
        state = (cross.dtype, cross.device, autocast_state(cross.device))
        last = self._input  # set together with _kv and _state
        if last is not None and state == self._state and last.shape == cross.shape and torch.equal(last, cross):
            self.hits += 1
            return self._kv
        self.misses += 1
        self._kv, self._input, self._state = compute(cross), cross.detach().clone(), state
        return self._kv
