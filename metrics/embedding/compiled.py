"""``--compile``: the evaluator networks through ``torch.compile`` (inductor, weights frozen into the graph), for the
evaluators where it was measured to pay.

:data:`COMPILE_MEASURED` holds those evaluators and the figure that kept each: the network's forward pass, compiled
against eager, on the same batch, in one process (``benchmarks/speed/test_compile_speed.py``; BENCHMARKS.md "Fast
paths"), with the outputs' largest relative difference at the fp32 rounding level. An evaluator not in it runs eager
under ``--compile`` (its network is not a single ``module(batch)`` call, or the gain was not measured), and a run says
which ones were compiled. Compilation costs tens of seconds per evaluator and per batch shape (a run has two: full
batches and the last one), so it pays on large sets, not on a handful of files. Compiled outputs differ from eager
ones by rounding (up to 1.6e-6 relative measured), so they are cached under their own key; the metrics stay comparable
to published numbers (the same network and protocol, as on another BLAS or device).

The denoiser is not compiled: ``torch.compile`` of the stable-audio-open-small DiT was 1.10x per call on CPU after a
115 s compile (BENCHMARKS.md), which a sampling run does not pay back; generation keeps its exact cross-attention
reuse (:mod:`sa_core.context_cache`) instead.
"""
from __future__ import annotations

from typing import Any

# evaluator -> the measured speed-up of its compiled forward pass (``benchmarks/speed/test_compile_speed.py``, CPU, one
# thread, torch 2.14.1, random weights in the official formats, medians of 3; 2026-12-02). VGGish is left out: 1.00x
# there (5.13 s both ways; its convolutions already run channels-last through oneDNN).
COMPILE_MEASURED: dict[str, str] = {
    "openl3": "1.35x on 32 one-second windows (16.27 s -> 12.02 s), outputs within 7.1e-7 relative",
    "panns": "1.12x on 16 clips of 10 s over channels-last eager (8.94 s -> 7.96 s; 1.34x over the contiguous eager "
             "of the first measurement), outputs within 1.1e-6 relative",
}


def compile_module(module: Any) -> Any:
    """``module`` compiled for inference: static shapes (a new batch shape compiles once more) and frozen weights
    (constant-folded, e.g. batch norm into the convolution), so the module must stay in eval mode and unchanged."""
    import logging

    import torch

    # inductor's C++ toolchain probe logs "No CUDA runtime is found" on CPU-only machines; stderr stays for errors
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(module, dynamic=False, options={"freezing": True})
