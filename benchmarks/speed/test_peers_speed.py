"""Side by side with the stacks users would pick instead, on the same random-weight stable-audio-open-1.0 checkpoint:
ms per denoiser step with CFG, and a whole generation (sampling + VAE decode) for the same steps, window and batch,
for ours, diffusers' ``StableAudioPipeline`` and stable-audio-tools' ``sample_diffusion``, in fp32 and under bf16
autocast (SDPA everywhere: all three call ``F.scaled_dot_product_attention``).

``pytest --benchmark-only benchmarks/speed/test_peers_speed.py --benchmark-json peers.json``, then
``python -m benchmarks.peers.report peers.json`` prints the table with ratios. CPU: the full 1.06 B-parameter DiT at a
1.5 s window, batch 1, 4 steps. GPU (skipped without CUDA): the 47.55 s window at batch 1 and 8, 100 steps.
A peer that is not installed skips with its install command. Stacks load one at a time (module-scoped fixture).

Samplers: ours and stable-audio-tools run DPM-Solver++(2M) (identical mathematics); diffusers runs its documented
``CosineDPMSolverMultistepScheduler`` (SDE-DPM-Solver++(2M)); every one makes one batched CFG network call per step,
so per-step costs are comparable, and the whole-generation figure includes each stack's decode.
"""
from __future__ import annotations

import gc
import statistics
import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.peers import STACKS, PeerMissing, stack_class
from benchmarks.peers.checkpoint import write_random_t5, write_sao_checkpoint
from benchmarks.peers.equality import CFG_SCALE
from sa_core.config import override, preset

CUDA = torch.cuda.is_available()
# (device, samples per window, batch, steps)
CASES = [("cpu", 32 * 2048, 1, 4)] + [("cuda", 2097152, b, 100) for b in (1, 8)]
DTYPES = {"fp32": torch.float32, "bf16-autocast": torch.bfloat16}


def case_id(case: tuple) -> str:
    device, samples, batch, steps = case
    return f"{device}-{samples / 44100:.1f}s-b{batch}-{steps}steps"


@pytest.fixture(scope="module", params=CASES, ids=case_id)
def case(request, tmp_path_factory):
    device, samples, batch, steps = request.param
    if device == "cuda" and not CUDA:
        pytest.skip("no CUDA device")
    root = tmp_path_factory.mktemp(f"peers-{samples}")
    cfg = override(preset("stable-audio-open-1.0"), {"sample_size": samples})
    ckpt = write_sao_checkpoint(root / "ckpt", cfg)
    t5 = write_random_t5(root / "t5")
    g = torch.Generator().manual_seed(0)
    S, C, L = cfg.conditioning.text.max_length, cfg.autoencoder.latent_dim, cfg.latent_length
    inputs = {"tokens": torch.randn(batch, S, 768, generator=g), "mask": torch.ones(batch, S, dtype=torch.bool),
              "seconds_start": torch.zeros(batch), "seconds_total": torch.full((batch,), cfg.max_seconds),
              "x": torch.randn(batch, C, L, generator=g), "t": torch.full((batch,), 0.5),
              "noise": torch.randn(batch, C, L, generator=g)}
    return {"device": device, "batch": batch, "steps": steps, "seconds": cfg.max_seconds, "ckpt": ckpt, "t5": t5,
            "inputs": {k: v.to(device) for k, v in inputs.items()}}


def open_stack(name: str, case: dict) -> tuple:
    """``(stack, its conditioning)`` on the case's checkpoint; raises PeerMissing when the peer is not installed."""
    stack_class(name).check()
    s = stack_class(name)(case["ckpt"], case["t5"], device=case["device"])
    i = case["inputs"]
    return s, s.prepare(i["tokens"], i["mask"], i["seconds_start"], i["seconds_total"])


@pytest.fixture(scope="module", params=list(STACKS))
def stack(request, case):
    try:
        s, cond = open_stack(request.param, case)
    except PeerMissing as exc:
        pytest.skip(str(exc))
    yield s, cond
    s.release()
    gc.collect()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def record(benchmark, case, s, dtype: str, steps: int | None) -> None:
    benchmark.extra_info.update({"stack": s.name, "dtype": dtype, "device": case["device"], "batch": case["batch"],
                                 "seconds_of_audio": case["seconds"], "steps": steps, "sampler": s.sampler.name,
                                 "torch": torch.__version__})
    median = benchmark.stats.stats.median if benchmark.stats else None
    if median and steps:
        benchmark.extra_info["ms_per_step"] = 1000 * median / steps


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_denoiser_step_cfg(benchmark, case, stack, dtype):
    s, cond = stack
    i = case["inputs"]

    def step():
        with s.precision(DTYPES[dtype]):
            s.velocity(i["x"], i["t"], cond, CFG_SCALE)
        sync(case["device"])

    benchmark.group = f"denoiser step with CFG, {dtype}, {case['device']} b{case['batch']} {case['seconds']:.1f}s"
    benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    record(benchmark, case, s, dtype, 1)
    with FlopCounterMode(display=False) as flops:  # the work of one more step, as the timed ones did it
        step()
    benchmark.extra_info["gflop_per_step"] = flops.get_total_flops() / 1e9


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_generation(benchmark, case, stack, dtype):
    s, cond = stack
    i = case["inputs"]

    def run():
        with s.precision(DTYPES[dtype]):
            s.generate(cond, i["noise"], case["steps"], CFG_SCALE)
        sync(case["device"])

    benchmark.group = (f"generation ({case['steps']} steps, CFG, decode), {dtype}, {case['device']} b{case['batch']} "
                       f"{case['seconds']:.1f}s")
    # 3 rounds after a warm-up on CPU too: single first runs of a 4-step generation spread by ±30 % here
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    record(benchmark, case, s, dtype, case["steps"])


INTERLEAVED_ROUNDS = 5


def interleaved(benchmark, case: dict, dtype: str, what: str) -> None:
    """``what`` ("step": one denoiser step with CFG; "generation": sampling + decode) of every installed stack taken
    in turn (the order rotated each round), all stacks loaded at once, so slow drift of a shared machine's speed,
    and the process's memory history (the separate cases load ours first, into a heap no stack has used yet), fall
    on all stacks alike; per-stack medians and ratios to ours go to ``extra_info``. (The benchmark's own figure is
    one whole round, every stack once.)"""
    stacks = {}
    for name in STACKS:
        try:
            stacks[name] = open_stack(name, case)
        except PeerMissing:
            continue
    if len(stacks) < 2:
        pytest.skip("needs ours and at least one peer installed")
    times: dict[str, list[float]] = {name: [] for name in stacks}
    order = list(stacks)
    i = case["inputs"]
    work = {"step": lambda s, cond: s.velocity(i["x"], i["t"], cond, CFG_SCALE),
            "generation": lambda s, cond: s.generate(cond, i["noise"], case["steps"], CFG_SCALE)}[what]

    def one_round():
        for name in order:
            s, cond = stacks[name]
            started = time.perf_counter()
            with s.precision(DTYPES[dtype]):
                work(s, cond)
            sync(case["device"])
            times[name].append(time.perf_counter() - started)
        order.append(order.pop(0))

    one_round()  # warm-up: every stack's first call (and ours' key/value cache) before timing
    for t in times.values():
        t.clear()
    label = "denoiser steps with CFG" if what == "step" else f"generations ({case['steps']} steps, CFG, decode)"
    benchmark.group = f"interleaved {label}, {dtype}, {case['device']} b{case['batch']}"
    rounds = INTERLEAVED_ROUNDS if what == "step" else 3
    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=0)
    medians = {name: statistics.median(t) for name, t in times.items()}
    benchmark.extra_info.update({"stack": "all", "dtype": dtype, "device": case["device"], "batch": case["batch"],
                                 "seconds_of_audio": case["seconds"], "rounds": rounds,
                                 f"ms_per_{what}": {n: 1000 * m for n, m in medians.items()},
                                 "ratio_to_ours": {n: m / medians["ours"] for n, m in medians.items()}})
    for s, _ in stacks.values():
        s.release()
    gc.collect()


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_denoiser_step_cfg_interleaved(benchmark, case, dtype):
    interleaved(benchmark, case, dtype, "step")


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_generation_interleaved(benchmark, case, dtype):
    interleaved(benchmark, case, dtype, "generation")
