"""Fast paths: each evaluator network's forward pass eager vs through ``metrics.compiled.compile_module``, on the
same batch in one run, side by side; the compiled case records its one-off compile time and its outputs' largest
relative difference from eager (``extra_info``).

``pytest --benchmark-only benchmarks/test_compile_speed.py --benchmark-json compile.json``. Random weights in the
official formats. Batches: OpenL3 32 one-second windows (48 kHz), VGGish 160 examples (16 clips of 10 s), PANNs 16
clips of 10 s at 16 kHz; ``SA_BENCH_DEVICE`` (default cpu). An evaluator enters ``COMPILE_MEASURED`` only when
its compiled case here is faster.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from metrics.compiled import compile_module
from metrics.embedders import build

DEVICE = os.environ.get("SA_BENCH_DEVICE", "cpu")
# evaluator -> (weight file, build options, the batch its network takes)
CASES = {
    "openl3": ("openl3-mel256-music", {"content_type": "music"}, lambda g: 0.1 * torch.randn(32, 48000, generator=g)),
    "vggish": ("vggish", {}, lambda g: torch.randn(160, 1, 96, 64, generator=g).contiguous(
        memory_format=torch.channels_last)),
    "panns": ("panns-cnn14-16k", {}, lambda g: 0.1 * torch.randn(16, 160000, generator=g)),
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from metrics.random_weights import write_all

    return write_all(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module", params=list(CASES))
def network(request, weights):
    name = request.param
    file, options, batch = CASES[name]
    emb = build(name, weights[file], DEVICE, 32, **options)
    eager = emb.load()
    x = batch(torch.Generator().manual_seed(0)).to(DEVICE)
    with torch.no_grad():
        reference = eager(x)
    return name, eager, x, reference


def first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_forward(benchmark, network, mode):
    name, eager, x, reference = network
    model, compile_seconds = eager, None
    if mode == "compiled":
        model = compile_module(eager)
        started = time.perf_counter()
        with torch.no_grad():
            model(x)  # compiles for this shape
        compile_seconds = time.perf_counter() - started

    def forward():
        with torch.no_grad():
            out = model(x)
        if DEVICE.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    benchmark.group = f"{name} forward, {DEVICE}, batch {len(x)}"
    out = benchmark.pedantic(forward, rounds=3, warmup_rounds=1)
    a, b = first(reference), first(out)
    benchmark.extra_info.update({"evaluator": name, "mode": mode, "device": DEVICE, "threads": torch.get_num_threads(),
                                 "torch": torch.__version__, "compile_seconds": compile_seconds,
                                 "max_rel_diff": float((a - b).abs().max() / a.abs().max())})
