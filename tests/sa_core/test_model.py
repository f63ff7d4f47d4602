import json

import pytest
import torch

from sa_core.autoencoder import Autoencoder, WNConv1d, WNConvTranspose1d
from sa_core.config import AutoencoderConfig, override, preset, to_dict
from sa_core.model import (MissingCheckpoint, build_model, load_model, ours_to_sao, sao_state_dict, save_model)
from tests.conftest import DATA, needs_data

SAO_KEYS = DATA / "sao-state-dict-keys.tsv"  # stable-audio-open-1.0's released model.safetensors: key, shape
SA1_UNET_KEYS = DATA / "sa1-unet-state-dict-keys.tsv"  # Stable Audio 1.0's U-Net (audio-diffusion-pytorch UNet1d)


def read_key_list(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path)]
    return {r[0]: tuple(int(x) for x in r[1].strip("()").split(",") if x.strip()) for r in rows}


@needs_data(SAO_KEYS)
def test_sao_preset_matches_the_released_key_list():
    with torch.device("meta"):
        model = build_model(preset("stable-audio-open-1.0"))
    ours = {k: tuple(v.shape) for k, v in sao_state_dict(model).items()}
    assert ours == read_key_list(SAO_KEYS)  # 745 keys, every shape


@needs_data(SA1_UNET_KEYS)
def test_sa1_unet_matches_the_reference_key_list():
    with torch.device("meta"):
        model = build_model(preset("stable-audio-1.0"))
    ours = {"model.model." + k: tuple(v.shape) for k, v in model.backbone.state_dict().items()}
    assert ours == read_key_list(SA1_UNET_KEYS)  # 806 keys


def test_weight_norm_layout_and_value():
    conv = WNConv1d(3, 5, 7)
    assert conv.weight_g.shape == (5, 1, 1) and conv.weight_v.shape == (5, 3, 7)
    torch.testing.assert_close(conv.weight(), conv.weight_v)  # g initialised to ||v||
    up = WNConvTranspose1d(6, 4, 8, stride=4, padding=2)
    assert up.weight_g.shape == (6, 1, 1) and up.weight_v.shape == (6, 4, 8)  # dim 0 = input channels


@pytest.mark.parametrize("length", [1, 1000, 4097, 8192])
def test_vae_round_trip_shapes_for_odd_lengths(length):
    cfg = preset("tiny").autoencoder
    vae = Autoencoder(cfg).eval()
    x = torch.randn(2, 2, length)
    with torch.no_grad():
        z, kl = vae.encode(x)
        y = vae.decode(z)
    r = cfg.downsampling_ratio
    assert z.shape == (2, cfg.latent_dim, -(-length // r)) and y.shape == (2, 2, z.shape[-1] * r)
    assert kl.ndim == 0 and kl >= 0
    mean1, _ = vae.encode(x, deterministic=True)
    mean2, _ = vae.encode(x, deterministic=True)
    torch.testing.assert_close(mean1, mean2)


def test_patch_is_the_reference_rearrange_and_unpatch_inverts_it():
    from sa_core.autoencoder import patch, unpatch

    x = torch.randn(2, 2, 48)
    p = patch(x, 16)  # "b c (l h) -> b (c h) l"
    assert p.shape == (2, 32, 3)
    for c, h, l in [(0, 0, 0), (1, 5, 2), (0, 15, 1), (1, 0, 1)]:
        assert p[1, c * 16 + h, l] == x[1, c, l * 16 + h]
    assert torch.equal(unpatch(p, 2), x)


def test_per_channel_autoencoder_codes_each_channel_alone():
    cfg = AutoencoderConfig(channels=8, c_mults=(1, 2), strides=(2, 4), latent_dim=6, patch_size=4, per_channel=True)
    vae = Autoencoder(cfg).eval()
    x = torch.randn(2, 2, 640)
    quiet_right = x.clone()
    quiet_right[:, 1] = 0
    with torch.no_grad():
        z, _ = vae.encode(x, deterministic=True)
        z_quiet, _ = vae.encode(quiet_right, deterministic=True)
        y, y_quiet = vae.decode(z), vae.decode(z_quiet)
    assert z.shape == (2, 6, 20) and y.shape == x.shape
    torch.testing.assert_close(z[:, :3], z_quiet[:, :3])  # the left channel's latents ignore the right channel
    torch.testing.assert_close(y[:, 0], y_quiet[:, 0])
    assert not torch.allclose(z[:, 3:], z_quiet[:, 3:])
    with pytest.raises(ValueError, match="not divisible"):
        Autoencoder(AutoencoderConfig(channels=8, c_mults=(1,), strides=(2,), latent_dim=5, per_channel=True))


@pytest.mark.parametrize("patch_size", [1, 4])
def test_chunked_decode_matches_whole_decode(patch_size):
    vae = Autoencoder(AutoencoderConfig(channels=8, c_mults=(1, 2), strides=(2, 4), latent_dim=4,
                                        patch_size=patch_size)).eval()
    z = torch.randn(1, 4, 200)
    with torch.no_grad():
        whole = vae.decode(z)
        chunked = vae.decode(z, chunk=96, overlap=64)  # 32 frames of context each side > receptive field (~18)
        short = vae.decode(z, chunk=64, overlap=16)  # 8 frames: less than the receptive field
    assert chunked.shape == whole.shape == short.shape
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(short, whole, atol=1e-5, rtol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = build_model(preset("tiny"))
    save_model(model, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "model_config.json").read_text()) == to_dict(preset("tiny"))
    loaded = load_model(tmp_path / "ckpt")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    loaded2 = load_model(tmp_path / "ckpt" / "model_config.json", tmp_path / "ckpt" / "model.safetensors")
    assert loaded2.cfg == model.cfg


def small_sao_config():
    """The structure of stable-audio-open-1.0's model_config.json, with small sizes."""
    return {
        "model_type": "diffusion_cond", "sample_size": 16384, "sample_rate": 44100, "audio_channels": 2,
        "model": {
            "pretransform": {"type": "autoencoder", "iterate_batch": True, "config": {
                "encoder": {"type": "oobleck", "requires_grad": False, "config": {
                    "in_channels": 2, "channels": 8, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 16,
                    "use_snake": True}},
                "decoder": {"type": "oobleck", "config": {
                    "out_channels": 2, "channels": 8, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 8,
                    "use_snake": True, "final_tanh": False}},
                "bottleneck": {"type": "vae"}, "latent_dim": 8, "downsampling_ratio": 8, "io_channels": 2}},
            "conditioning": {"configs": [
                {"id": "prompt", "type": "t5", "config": {"t5_model_name": "t5-base", "max_length": 128}},
                {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}}],
                "cond_dim": 64},
            "diffusion": {"cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
                          "global_cond_ids": ["seconds_start", "seconds_total"], "type": "dit",
                          "config": {"io_channels": 8, "embed_dim": 128, "depth": 2, "num_heads": 2,
                                     "cond_token_dim": 64, "global_cond_dim": 128, "project_cond_tokens": False,
                                     "transformer_type": "continuous_transformer"}},
            "io_channels": 8},
    }


def test_loads_a_stable_audio_open_layout_checkpoint(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "sao"
    folder.mkdir()
    (folder / "model_config.json").write_text(json.dumps(small_sao_config()))
    torch.manual_seed(0)
    donor = load_model.__globals__["build_model"](load_model.__globals__["from_sao_config"](small_sao_config()))
    state = {ours_to_sao(k): v.clone() for k, v in donor.state_dict().items()}
    assert all(k.startswith(("model.model.", "conditioner.conditioners.", "pretransform.model.")) for k in state)
    save_file(state, str(folder / "model.safetensors"))
    model = load_model(folder)
    for k, v in donor.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # strict: a missing key or a wrong shape is an error naming it
    broken = dict(state)
    broken.pop("model.model.transformer.rotary_pos_emb.inv_freq")
    save_file(broken, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="1 missing"):
        load_model(folder)


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(MissingCheckpoint, match="model_config.json and model.safetensors"):
        load_model(tmp_path)


def test_timing_and_text_change_the_dit_output():
    torch.manual_seed(0)
    model = build_model(override(preset("tiny"), {"dit.depth": 1})).eval()
    for p in model.backbone.parameters():  # undo zero-init of the residual convs so every input matters
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    cond = model.conditioner
    tokens, mask = torch.randn(2, 32, 384), torch.ones(2, 32, dtype=torch.bool)
    c1 = cond.embed(tokens, mask, torch.tensor([0.0, 0.0]), torch.tensor([5.0, 5.0]))
    c2 = cond.embed(tokens, mask, torch.tensor([0.0, 0.0]), torch.tensor([9.0, 9.0]))
    assert c1.cross.shape == (2, 34, 128) and c1.global_cond.shape == (2, 256) and c1.cross_mask.all()
    x, t = torch.randn(2, 16, 64), torch.tensor([0.3, 0.7])
    with torch.no_grad():
        y1 = model.backbone(x, t, c1.cross, c1.global_cond)
        y2 = model.backbone(x, t, c2.cross, c2.global_cond)
        y_null = model.backbone(x, t, c1.null().cross, c1.global_cond)
    assert y1.shape == x.shape
    assert not torch.allclose(y1, y2) and not torch.allclose(y1, y_null)
    assert torch.equal(c1.null().cross, torch.zeros_like(c1.cross))
    assert torch.equal(c1.null().global_cond, c1.global_cond)  # CFG keeps global timing


def test_padding_tokens_are_zeroed_and_masked():
    model = build_model(preset("tiny"))
    tokens = torch.randn(1, 32, 384)
    mask = torch.zeros(1, 32, dtype=torch.bool)
    mask[:, :5] = True
    c = model.conditioner.embed(tokens, mask, torch.tensor([0.0]), torch.tensor([3.0]))
    assert c.cross[0, 5:32].abs().max() == 0 and c.cross_mask[0].sum() == 5 + 2


def test_unet_forward_small_and_learned_null():
    from sa_core.config import UNetConfig
    from sa_core.unet1d import UNet1d

    cfg = UNetConfig(in_channels=4, channels=32, multipliers=(1, 1, 2), factors=(1, 2), num_blocks=(1, 1),
                     attentions=(1, 1, 1), attention_heads=2, resnet_groups=4, context_features=16,
                     context_max_length=6)
    unet = UNet1d(cfg, cond_dim=16).eval()
    x, t = torch.randn(2, 4, 8), torch.rand(2)
    with torch.no_grad():
        y = unet(x, t, torch.randn(2, 6, 16))
        y_null = unet(x, t, unet.null_context(2))
    assert y.shape == x.shape and not torch.allclose(y, y_null)
    with pytest.raises(ValueError, match="not divisible by 2"):
        unet(torch.randn(1, 4, 7), t[:1], torch.randn(1, 6, 16))


def test_bf16_forward_is_finite():
    model = build_model(preset("tiny")).to(torch.bfloat16)
    c = model.conditioner.embed(torch.randn(1, 32, 384), torch.ones(1, 32, dtype=torch.bool),
                                torch.tensor([0.0]), torch.tensor([1.0]))
    with torch.no_grad():
        y = model.backbone(torch.randn(1, 16, 32), torch.tensor([0.5]), c.cross, c.global_cond)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
