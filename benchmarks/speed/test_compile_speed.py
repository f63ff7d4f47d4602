"""Fast paths: each evaluator network's forward pass eager vs through ``metrics.embedding.compiled.compile_module``, and eager
in the other memory layout (channels-last <-> contiguous convolutions), on the same batch in one run, side by side;
each case records its outputs' largest relative difference from eager and the compiled one its one-off compile time
(``extra_info``). "eager" is the network as the embedder loads it (channels-last convolutions); "other-layout" runs
them contiguous (NCHW): the comparison behind that choice.

``pytest --benchmark-only benchmarks/speed/test_compile_speed.py --benchmark-json compile.json``. Random weights in the
official formats. Batches: OpenL3 32 one-second windows (48 kHz), VGGish 160 examples (16 clips of 10 s), PANNs 16
clips of 10 s at 16 kHz; stable-audio-open-small's DiT (random init) one call at batch 2 on 16 latents.
``SA_BENCH_DEVICE`` (default cpu). An evaluator enters ``COMPILE_MEASURED`` only when its compiled case here is
faster; the DiT case is why generation is not compiled.
"""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from metrics.embedding.compiled import compile_module
from metrics.embedding.embedders import build
from sa_core.config import preset
from sa_core.dit import DiT

DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")


def evaluator(name: str, file: str, batch: Callable[[torch.Generator], torch.Tensor], **options: Any) -> Callable:
    """A case: the evaluator's loaded network (random weights in the official format) and its batch."""
    def make(weights: dict[str, Path], g: torch.Generator) -> tuple[torch.nn.Module, tuple]:
        return build(name, weights[file], DEVICE, 32, **options).load(), (batch(g).to(DEVICE),)
    return make


def sao_small_dit(weights: dict[str, Path], g: torch.Generator) -> tuple[torch.nn.Module, tuple]:
    """stable-audio-open-small's DiT (random init) on a 16-latent window, one call at batch 2."""
    cfg = preset("stable-audio-open-small").dit
    net = DiT(cfg).eval().to(DEVICE)
    inputs = (torch.randn(2, cfg.io_channels, 16, generator=g), torch.rand(2, generator=g),
              torch.randn(2, 66, cfg.cond_token_dim, generator=g), torch.randn(2, cfg.global_cond_dim, generator=g))
    return net, tuple(x.to(DEVICE) for x in inputs)


# name -> (weights, generator) -> (network, its inputs)
CASES: dict[str, Callable] = {
    "openl3": evaluator("openl3", "openl3-mel256-music", lambda g: 0.1 * torch.randn(32, 48000, generator=g),
                        content_type="music"),
    "vggish": evaluator("vggish", "vggish", lambda g: torch.randn(160, 1, 96, 64, generator=g).contiguous(
        memory_format=torch.channels_last)),
    "panns": evaluator("panns", "panns-cnn14-16k", lambda g: 0.1 * torch.randn(16, 160000, generator=g)),
    "sao-small-dit": sao_small_dit,
}


class ContiguousOpenL3(torch.nn.Module):
    """OpenL3 with contiguous (NCHW) convolutions: its own forward makes the spectrogram channels-last."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.frontend, self.net = model.frontend, copy.deepcopy(model.net).to(memory_format=torch.contiguous_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.frontend(x).contiguous())


def other_layout(name: str, net: torch.nn.Module, inputs: tuple) -> tuple[torch.nn.Module, tuple]:
    """The network and inputs with contiguous (NCHW) convolutions; the embedders load them channels-last."""
    if name == "openl3":
        return ContiguousOpenL3(net), inputs
    if name in ("vggish", "panns"):  # PANNs takes 2-D waveforms: its weights alone set the convolutions' layout
        return copy.deepcopy(net).to(memory_format=torch.contiguous_format), tuple(x.contiguous() for x in inputs)
    pytest.skip(f"{name}: no 4-D convolutions to lay out")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from sa_fixtures.random_weights import write_all

    return write_all(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module", params=list(CASES))
def network(request, weights):
    torch.manual_seed(0)
    net, inputs = CASES[request.param](weights, torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = net(*inputs)
    return request.param, net, inputs, reference


def first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("mode", ["eager", "compiled", "other-layout"])
def test_forward(benchmark, network, mode):
    name, eager, inputs, reference = network
    model, compile_seconds = eager, None
    if mode == "other-layout":
        model, inputs = other_layout(name, eager, inputs)
    if mode == "compiled":
        model = compile_module(eager)
        started = time.perf_counter()
        with torch.no_grad():
            model(*inputs)  # compiles for this shape
        compile_seconds = time.perf_counter() - started

    def forward():
        with torch.no_grad():
            out = model(*inputs)
        if DEVICE.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    benchmark.group = f"{name} forward, {DEVICE}, batch {len(inputs[0])}"
    out = benchmark.pedantic(forward, rounds=3, warmup_rounds=1)
    a, b = first(reference), first(out)
    benchmark.extra_info.update({"network": name, "mode": mode, "device": DEVICE, "threads": torch.get_num_threads(),
                                 "torch": torch.__version__, "compile_seconds": compile_seconds,
                                 "max_rel_diff": float((a - b).abs().max() / a.abs().max())})
