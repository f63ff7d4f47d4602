"""The DiT's cross-attention keys/values reused across a sampling run: bitwise what recomputing gives, recomputed
whenever the text tokens, their dtype or the autocast state change, never used with autograd on."""
import contextlib

import pytest
import torch

from sa_core.config import DiTConfig, preset
from sa_core.context_cache import ContextCache
from sa_core.dit import DiT
from sa_core.generate import SamplerConfig, generate_latents
from sa_core.model import StableAudio, build_model

CONFIGS = {  # stable-audio-open-1.0's structure (K/V heads repeated) and -small's (q/k LayerNorm, projected tokens)
    "sao": DiTConfig(io_channels=8, embed_dim=128, depth=3, num_heads=2, cond_token_dim=64, global_cond_dim=16),
    "sao-small": DiTConfig(io_channels=8, embed_dim=128, depth=3, num_heads=2, cond_token_dim=64, global_cond_dim=16,
                           qk_norm="ln", project_cond_tokens=True),
}


def inputs(cfg: DiTConfig, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, cfg.io_channels, 12, generator=g), torch.rand(2, generator=g),
            torch.randn(2, 7, cfg.cond_token_dim, generator=g), torch.randn(2, cfg.global_cond_dim, generator=g))


@pytest.fixture(params=list(CONFIGS))
def dit(request):
    torch.manual_seed(0)
    net = DiT(CONFIGS[request.param]).eval()
    for conv in (net.preprocess_conv, net.postprocess_conv):  # non-zero, so every path shows in the output
        torch.nn.init.normal_(conv.weight, std=0.1)
    return net


@torch.no_grad()
def test_reused_keys_and_values_give_bitwise_the_recomputed_output(dit):
    x, t, cross, g = inputs(dit.cfg)
    fresh = [dit(x + k, t * 0.5 ** k, cross, g) for k in range(3)]
    dit.context_cache = cache = ContextCache()
    cached = [dit(x + k, t * 0.5 ** k, cross.clone(), g) for k in range(3)]  # a new tensor each call, as CFG makes
    assert (cache.misses, cache.hits) == (1, 2)
    for a, b in zip(fresh, cached):
        assert torch.equal(a, b)


@torch.no_grad()
def test_other_tokens_dtype_or_autocast_are_recomputed(dit):
    x, t, cross, g = inputs(dit.cfg)
    other = inputs(dit.cfg, seed=1)[2]
    expected = dit(x, t, other, g)
    dit.context_cache = cache = ContextCache()
    dit(x, t, cross, g)
    assert torch.equal(dit(x, t, other, g), expected) and cache.misses == 2
    shorter = cross[:, :5]
    dit.context_cache = None
    expected_shorter = dit(x, t, shorter, g)
    dit.context_cache = cache
    assert torch.equal(dit(x, t, shorter, g), expected_shorter)
    cache.misses = 0
    dit(x, t, cross.double(), g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = dit(x, t, cross, g)
    assert cache.misses == 2
    dit.context_cache = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(bf16, dit(x, t, cross, g))


def test_autograd_never_uses_the_cache(dit):
    x, t, cross, g = inputs(dit.cfg)
    dit.context_cache = cache = ContextCache()
    for _ in range(2):
        dit(x, t, cross, g).square().mean().backward()  # a reused graph would fail the second backward
    assert (cache.hits, cache.misses) == (0, 0)
    assert dit.to_cond_embed[0].weight.grad is not None


@pytest.mark.parametrize("sampler", ["dpmpp-2m", "dpmpp-3m-sde"])
def test_generation_with_the_cache_is_bitwise_generation_without(monkeypatch, sampler):
    torch.manual_seed(0)
    model = build_model(preset("tiny")).eval()
    torch.nn.init.normal_(model.backbone.postprocess_conv.weight, std=0.1)
    run = SamplerConfig(sampler=sampler, steps=6, cfg_scale=4.0)
    caches = []
    original = StableAudio.reusing_context

    def spy(self, cache=None):
        caches.append(cache := cache or ContextCache())
        return original(self, cache)

    monkeypatch.setattr(StableAudio, "reusing_context", spy)
    with_cache = generate_latents(model, ["a dog barks", "rain"], [2.0, 3.0], [0, 1], run, latent_length=16)
    assert caches[0].misses == 1 and caches[0].hits >= 5  # one computation, every later step reused
    monkeypatch.setattr(StableAudio, "reusing_context", lambda self, cache=None: contextlib.nullcontext())
    without = generate_latents(model, ["a dog barks", "rain"], [2.0, 3.0], [0, 1], run, latent_length=16)
    assert torch.equal(with_cache, without)
    assert model.backbone.context_cache is None  # nothing outlives the run


def test_context_flops_table_counts_what_a_reused_call_skips():
    # benchmarks.context_flops counts context_kv on the meta device; a real call with the keys/values reused must
    # skip exactly that much work (totals differ by device: the CPU attention kernel is not counted, the meta one is)
    from benchmarks.context_flops import gflop, row

    _, context, tokens = row("tiny", 160, 2)
    torch.manual_seed(0)
    cfg = preset("tiny").dit
    net = DiT(cfg).eval()
    x, t = torch.randn(2, cfg.io_channels, 160), torch.rand(2)
    cross, g = torch.randn(2, tokens, cfg.cond_token_dim), torch.randn(2, cfg.global_cond_dim)
    recomputed = gflop(lambda: net(x, t, cross, g))
    net.context_cache = ContextCache()
    with torch.no_grad():
        net(x, t, cross, g)  # fills the cache
    assert context > 0 and recomputed - gflop(lambda: net(x, t, cross, g)) == pytest.approx(context)
