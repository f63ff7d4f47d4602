"""Generation speed: one denoiser call, a full 100-step CFG generation, VAE decode of the window, text encoding.

``pytest --benchmark-only benchmarks/speed/test_generation_speed.py --benchmark-json out.json``. CPU cases use the
``tiny`` preset; GPU cases (skipped without CUDA) use ``stable-audio-1.0`` (95 s window) and
``stable-audio-open-1.0`` (47 s) with random weights at batch 1 and 8 in bf16; ``stable-audio-open-small`` runs its
8-step pingpong without CFG on CPU (0.74 s window, batch 1) and on GPU (its 11.9 s window, batch 1 and 8, bf16). Each result carries device, dtype,
steps, seconds of audio and, where a FLOP count applies, achieved TFLOP/s; the sampler cases also record the
real-time factor and ms per step. ``eager_two_calls`` is the straightforward loop (conditional and unconditional
passes as two separate fp32 calls per step, the text tokens projected at every call) that our doubled-batch
sampler with its reused cross-attention keys/values is compared against side by side; the single-call cases run
both ways (``context``: ``recomputed`` / ``reused``).
"""
from __future__ import annotations

import contextlib

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from sa_core.config import override, preset
from sa_core.diffusion import FlowDenoiser, VDenoiser, cfg_velocity
from sa_core.flow_sampling import get_t_logsnr, sample_pingpong
from sa_core.model import build_model
from sa_core.sampling import get_sigmas_polyexponential, sample_dpmpp_2m

CUDA = torch.cuda.is_available()
CASES = [("tiny", 1, "cpu", torch.float32)] + [
    (name, batch, "cuda", torch.bfloat16) for name in ("stable-audio-1.0", "stable-audio-open-1.0") for batch in (1, 8)]
STEPS = 100
CONTEXT = ["recomputed", "reused"]  # the text tokens' keys/values per call, or once per run (sa_core.context_cache)


def case_id(case: tuple) -> str:
    return f"{case[0]}-b{case[1]}-{case[2]}"


# stable-audio-open-small, 8 pingpong steps without CFG (its release's sampler): on CPU a 0.74 s window (16
# latents) at batch 1 (3 rounds: its 156 M-parameter VAE decodes at the audio rate), on GPU its whole 11.9 s window (256 latents) at batch 1 and 8 (the paper's ~75 ms on an H100
# is batch 1)
SMALL_CASES = [("stable-audio-open-small", 1, "cpu", torch.float32, 16)] + [
    ("stable-audio-open-small", batch, "cuda", torch.bfloat16, None) for batch in (1, 8)]
SMALL_STEPS = 8


def make_setup(name: str, batch: int, device: str, dtype: torch.dtype, latent_length: int | None = None,
               overrides: dict | None = None) -> dict:
    """Random-weight model of preset ``name`` (with ``overrides``; built on ``device``), conditioning and a latent
    batch; also what ``python -m benchmarks.gpu`` measures."""
    if device == "cuda" and not CUDA:
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    cfg = override(preset(name), overrides or {})
    if latent_length is not None:
        cfg = override(cfg, {"sample_size": latent_length * cfg.autoencoder.downsampling_ratio})
    with torch.device(device):
        model = build_model(cfg)
    model = model.to(device, dtype).eval()
    text_len = cfg.conditioning.text.max_length
    tokens = torch.randn(batch, text_len, cfg.conditioning.text.dim, device=device)
    mask = torch.ones(batch, text_len, dtype=torch.bool, device=device)
    seconds = torch.full((batch,), cfg.max_seconds, device=device)
    cond = model.conditioner.embed(tokens, mask, torch.zeros(batch, device=device), seconds)
    x = torch.randn(batch, cfg.autoencoder.latent_dim, cfg.latent_length, device=device)
    return {"name": name, "batch": batch, "device": device, "dtype": dtype, "model": model, "cond": cond, "x": x,
            "seconds": cfg.max_seconds * batch}


@pytest.fixture(scope="module", params=CASES, ids=case_id)
def setup(request):
    return make_setup(*request.param)


@pytest.fixture(scope="module", params=SMALL_CASES, ids=case_id)
def small_setup(request):
    return make_setup(*request.param)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def flops_of(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def record(benchmark, s, flops: int | None = None, steps: int | None = None) -> None:
    benchmark.extra_info.update({"preset": s["name"], "batch": s["batch"], "device": s["device"],
                                 "gpu": torch.cuda.get_device_name() if s["device"] == "cuda" else None,
                                 "dtype": str(s["dtype"]), "torch": torch.__version__,
                                 "seconds_of_audio": s["seconds"], "steps": steps})
    median = benchmark.stats.stats.median if benchmark.stats else None
    if median and flops:
        benchmark.extra_info["achieved_tflops"] = flops / median / 1e12
    if median and steps:
        benchmark.extra_info["ms_per_step"] = 1000 * median / steps
        benchmark.extra_info["real_time_factor"] = s["seconds"] / median


def bench_denoiser_call(benchmark, s, denoiser, level: float, group: str) -> None:
    """One denoiser call on the setup's batch at noise level ``level`` (rounds 5, one warm-up), with its FLOPs."""
    levels = torch.full((s["batch"],), level, device=s["device"])

    def call():
        with torch.no_grad():
            denoiser(s["x"], levels, cond=s["cond"])
        sync(s["device"])

    call()
    benchmark.group = f"{group} {case_id((s['name'], s['batch'], s['device']))}"
    benchmark.pedantic(call, rounds=5, warmup_rounds=1)
    record(benchmark, s, flops_of(call))


def context_scope(s: dict, context: str) -> contextlib.AbstractContextManager:
    """``reused``: the calls share one :class:`~sa_core.context_cache.ContextCache`, as the steps of a sampling run
    do (the first, untimed call fills it); ``recomputed``: every call projects the text tokens again."""
    return s["model"].reusing_context() if context == "reused" else contextlib.nullcontext()


@pytest.mark.parametrize("context", CONTEXT)
def test_denoiser_call_cfg(benchmark, setup, context):
    s = setup
    velocity = cfg_velocity(s["model"].velocity, s["model"].null_conditioning(s["cond"]), 7.0)
    with context_scope(s, context):
        bench_denoiser_call(benchmark, s, VDenoiser(velocity), 1.0, "denoiser call")
    benchmark.extra_info["context"] = context


@pytest.mark.parametrize("loop", ["ours_doubled_batch", "eager_two_calls"])
def test_generation_100_steps(benchmark, setup, loop):
    s = setup
    model, cond = s["model"], s["cond"]
    uncond = model.null_conditioning(cond)
    sigmas = get_sigmas_polyexponential(STEPS, 0.3, 500.0, device=s["device"])
    if loop == "ours_doubled_batch":
        denoiser = VDenoiser(cfg_velocity(model.velocity, uncond, 7.0))
    else:  # the straightforward loop: two separate calls per step, fp32 mixing
        def two_calls(x, t, cond):
            c, u = model.velocity(x, t, cond).float(), model.velocity(x, t, uncond).float()
            return u + (c - u) * 7.0
        denoiser = VDenoiser(two_calls)

    def run():
        with context_scope(s, "reused" if loop == "ours_doubled_batch" else "recomputed"):
            x = sample_dpmpp_2m(denoiser, s["x"] * sigmas[0], sigmas, extra_args={"cond": cond})
        with torch.no_grad():
            model.autoencoder.decode(x.to(s["dtype"]), chunk=128)
        sync(s["device"])

    benchmark.group = f"100-step generation with CFG + decode {case_id((s['name'], s['batch'], s['device']))}"
    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    record(benchmark, s, steps=STEPS)


def test_vae_decode_window(benchmark, setup):
    s = setup

    def decode():
        with torch.no_grad():
            s["model"].autoencoder.decode(s["x"].to(s["dtype"]), chunk=128)
        sync(s["device"])

    decode()
    benchmark.group = f"VAE decode of the window {case_id((s['name'], s['batch'], s['device']))}"
    benchmark.pedantic(decode, rounds=3, warmup_rounds=0)
    record(benchmark, s)


def test_sao_small_pingpong_8_steps(benchmark, small_setup):
    """stable-audio-open-small's generation: 8 pingpong steps, no CFG (one DiT call per step), then VAE decode."""
    s = small_setup
    model, cond = s["model"], s["cond"]
    denoiser = FlowDenoiser(model.velocity)
    ts = get_t_logsnr(SMALL_STEPS)
    generators = [torch.Generator(s["device"]).manual_seed(k) for k in range(s["batch"])]

    def run():
        with s["model"].reusing_context():
            x = sample_pingpong(denoiser, s["x"], ts, extra_args={"cond": cond}, generator=generators)
        with torch.no_grad():
            model.autoencoder.decode(x.to(s["dtype"]), chunk=128)
        sync(s["device"])

    run()
    benchmark.group = f"8-step pingpong generation + decode {case_id((s['name'], s['batch'], s['device']))}"
    benchmark.pedantic(run, rounds=5 if s["device"] == "cuda" else 3, warmup_rounds=int(s["device"] == "cuda"))
    record(benchmark, s, steps=SMALL_STEPS)


@pytest.mark.parametrize("context", CONTEXT)
def test_sao_small_dit_call(benchmark, small_setup, context):
    s = small_setup
    with context_scope(s, context):
        bench_denoiser_call(benchmark, s, FlowDenoiser(s["model"].velocity), 0.5, "DiT call")
    benchmark.extra_info["context"] = context


def test_text_encoding_minilm(benchmark):
    from sa_core.config import TextConfig
    from sa_core.text_encoders import build_text_encoder

    encoder = build_text_encoder(TextConfig(kind="minilm", max_length=32, dim=384))
    prompts = ["a warm analog synth pad with slow attack"] * 8
    encoder.encode(prompts)
    benchmark.group = "text encoding"
    benchmark.pedantic(lambda: encoder.encode(prompts), rounds=5, warmup_rounds=1)
    benchmark.extra_info.update({"encoder": "minilm", "batch": 8, "device": "cpu"})
