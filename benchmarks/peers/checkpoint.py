"""The shared input of every peer comparison: one random-weight checkpoint in the stable-audio-open-1.0 layout and
a random T5 encoder in the Hugging Face folder layout.

``write_sao_checkpoint(folder, cfg)`` writes ``model_config.json`` in stable-audio-tools' ``diffusion_cond`` schema
(what ``sa_core.model.from_sao_config`` reads back, and what stable-audio-tools' ``create_model_from_config`` and
diffusers' ``scripts/convert_stable_audio.py`` read) and ``model.safetensors`` under the released key names
(``sa_core.model.sao_state_dict``). ``write_random_t5(folder)`` writes a randomly initialised T5 encoder with
t5-base's widths and a small word-level tokenizer (no network, no sentencepiece model).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from sa_core.config import ModelConfig, override, preset
from sa_core.model import build_model, sao_state_dict
from sa_util.files import atomic_write


def sao_config_dict(cfg: ModelConfig, t5_name: str = "t5-base") -> dict[str, Any]:
    """``cfg`` (a DiT + Oobleck + T5 + Fourier-timing config) as a stable-audio-open-1.0 ``model_config.json``."""
    ae, cond, dit = cfg.autoencoder, cfg.conditioning, cfg.dit
    if cfg.backbone != "dit" or dit is None or cond.text.kind != "t5" or cond.timing != "fourier" or \
            ae.patch_size != 1 or ae.per_channel:
        raise ValueError(f"{cfg.name}: only DiT + Oobleck + T5 + Fourier timing configs have a stable-audio-open "
                         "layout")
    oobleck = {"channels": ae.channels, "c_mults": list(ae.c_mults), "strides": list(ae.strides), "use_snake": True}
    number = {"min_val": cond.timing_min, "max_val": cond.timing_max}
    return {
        "model_type": "diffusion_cond", "sample_size": cfg.sample_size, "sample_rate": cfg.sample_rate,
        "audio_channels": ae.io_channels,
        "model": {
            "pretransform": {"type": "autoencoder", "iterate_batch": True, "config": {
                "encoder": {"type": "oobleck", "requires_grad": False, "config": {
                    "in_channels": ae.io_channels, "latent_dim": 2 * ae.latent_dim, **oobleck}},
                "decoder": {"type": "oobleck", "config": {
                    "out_channels": ae.io_channels, "latent_dim": ae.latent_dim, "final_tanh": ae.final_tanh,
                    **oobleck}},
                "bottleneck": {"type": "vae"}, "latent_dim": ae.latent_dim,
                "downsampling_ratio": ae.downsampling_ratio, "io_channels": ae.io_channels}},
            "conditioning": {"configs": [
                {"id": "prompt", "type": "t5", "config": {"t5_model_name": t5_name,
                                                          "max_length": cond.text.max_length}},
                {"id": "seconds_start", "type": "number", "config": dict(number)},
                {"id": "seconds_total", "type": "number", "config": dict(number)}],
                "cond_dim": cond.cond_dim},
            "diffusion": {"cross_attention_cond_ids": list(cond.cross_attention_ids),
                          "global_cond_ids": list(cond.global_ids), "type": "dit",
                          "config": {"io_channels": dit.io_channels, "embed_dim": dit.embed_dim, "depth": dit.depth,
                                     "num_heads": dit.num_heads, "cond_token_dim": dit.cond_token_dim,
                                     "global_cond_dim": dit.global_cond_dim, "project_cond_tokens": False,
                                     "transformer_type": "continuous_transformer"}},
            "io_channels": ae.io_channels},
        "training": {}, "sampling": {}}


def small_sao_config(sample_size: int = 16384) -> ModelConfig:
    """The stable-audio-open-1.0 structure (stereo, its whole 2048x Oobleck VAE, 64 latents, T5-base 768-d tokens,
    head dim 64; diffusers' ``AutoencoderOobleck`` ties the encoder's output width to ``channels``, so the VAE
    keeps SAO's 128 = 2 x 64) with a 2-block 768-wide DiT (12 query heads: cross-attention repeats the 12 K/V heads): fast enough for equality tests on 2 CPU cores."""
    return override(preset("stable-audio-open-1.0"), {
        "name": "sao-small", "sample_size": sample_size,
        "dit.embed_dim": 768, "dit.depth": 2, "dit.num_heads": 12})


def write_sao_checkpoint(folder: str | Path, cfg: ModelConfig, seed: int = 0) -> Path:
    """Random weights (``torch.manual_seed(seed)``; trained-like scales are not needed for equality or speed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():  # Snake alpha/beta start at 0 in log scale; nudge every parameter off its init pattern
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    state = {k: v.detach().contiguous() for k, v in sao_state_dict(model).items()}
    del model
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, tmp))
    text = json.dumps(sao_config_dict(cfg), indent=2)
    atomic_write(folder / "model_config.json", lambda tmp: Path(tmp).write_text(text))
    return folder


T5_BASE = {"d_model": 768, "d_kv": 64, "d_ff": 3072, "num_layers": 12, "num_heads": 12,
           "relative_attention_num_buckets": 32, "feed_forward_proj": "relu"}
WORDS = ("a an the of with and in on at dog bark bird rain piano guitar drum beat bass synth ambient noise "
         "loud soft slow fast calm city street crowd wind water engine music song voice").split()


def write_random_t5(folder: str | Path, seed: int = 0, num_layers: int = T5_BASE["num_layers"]) -> Path:
    """A T5 encoder with t5-base's widths (``num_layers`` may be cut for tests) and random weights, plus a
    word-level fast tokenizer (unknown words map to ``<unk>``, ``</s>`` is appended), loadable with
    ``T5EncoderModel.from_pretrained(folder)`` / ``AutoTokenizer.from_pretrained(folder)``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)
    fast.save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(vocab), **{**T5_BASE, "num_layers": num_layers}, pad_token_id=0,
                      eos_token_id=1, decoder_start_token_id=0)
    T5EncoderModel(config).save_pretrained(str(folder))
    return folder
