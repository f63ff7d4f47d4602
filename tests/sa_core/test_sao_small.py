"""stable-audio-open-small: the released layout (config translation, strict loading), info, and generation plumbing.

``data/sao_small_model_config.json`` is the release's stable-audio-tools config as assembled from its public copies
(sources in ``sa_core.config.PRESETS['stable-audio-open-small']``); the parity test against stable-audio-tools itself
is ``test_sao_small_parity.py``.
"""
import copy
import json
from pathlib import Path

import pytest
import torch

from sa_core.config import ConfigError, override, preset
from sa_core.generate import SamplerConfig, check_sampler, generate, recommended_sampler
from sa_core.info import main as info_main
from sa_core.model import build_model, from_sao_config, load_model, ours_to_sao
from sa_core.text_encoders import TextEncoder

RELEASE = json.loads((Path(__file__).parent / "data" / "sao_small_model_config.json").read_text())


def scaled_down(raw: dict) -> dict:
    """The release's structure (q/k LayerNorm, projected cond tokens, seconds_total only, rf_denoiser), small sizes
    (cond_dim stays T5-base's 768, so the prompt needs no projection, as in the release)."""
    raw = copy.deepcopy(raw)
    raw["sample_size"] = 4096
    pre = raw["model"]["pretransform"]["config"]
    for part in ("encoder", "decoder"):
        pre[part]["config"].update(channels=8, c_mults=[1, 2], strides=[2, 4])
    pre["encoder"]["config"]["latent_dim"] = 16
    pre["decoder"]["config"]["latent_dim"] = pre["latent_dim"] = 8
    pre["downsampling_ratio"] = 8
    raw["model"]["diffusion"]["config"].update(io_channels=8, embed_dim=128, depth=2, num_heads=2)
    raw["model"]["io_channels"] = 8
    return raw


class HashText(TextEncoder):
    """A deterministic stand-in text encoder (no weights): each prompt -> fixed random tokens."""

    def __init__(self, dim: int, length: int = 6):
        self.dim, self.length = dim, length

    def encode(self, texts, device="cpu"):
        out = [torch.randn(self.length, self.dim, generator=torch.Generator().manual_seed(sum(map(ord, t))))
               for t in texts]
        return torch.stack(out).to(device), torch.ones(len(texts), self.length, dtype=torch.bool, device=device)


def write_release(folder: Path, raw: dict, seed: int = 0) -> dict:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_config.json").write_text(json.dumps(raw))
    torch.manual_seed(seed)
    donor = build_model(from_sao_config(raw))
    state = {ours_to_sao(k): v.clone() for k, v in donor.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    return state


def test_release_config_translates_to_the_preset():
    assert from_sao_config(RELEASE) == preset("stable-audio-open-small")


def test_full_size_layout_has_the_reference_keys_and_shapes():
    with torch.device("meta"):
        model = build_model(preset("stable-audio-open-small"))
    sd = {ours_to_sao(k): tuple(v.shape) for k, v in model.state_dict().items()}
    p = "model.model.transformer.layers.0."
    assert sd["model.model.to_cond_embed.0.weight"] == (1024, 768)  # project_cond_tokens
    assert sd["model.model.to_global_embed.0.weight"] == (1024, 768)  # seconds_total only
    assert sd[p + "cross_attn.to_kv.weight"] == (2048, 1024)
    for attn in ("self_attn", "cross_attn"):
        for norm in ("q_norm", "k_norm"):
            assert sd[f"{p}{attn}.{norm}.weight"] == sd[f"{p}{attn}.{norm}.bias"] == (128,)
    assert sd["model.model.transformer.rotary_pos_emb.inv_freq"] == (32,)
    assert "conditioner.conditioners.seconds_total.embedder.embedding.1.weight" in sd
    assert not any("seconds_start" in k for k in sd)
    assert sum(k.startswith("model.model.transformer.layers.") and k.endswith("pre_norm.gamma") for k in sd) == 16


def test_loads_the_release_layout_strictly(tmp_path):
    raw = scaled_down(RELEASE)
    state = write_release(tmp_path / "small", raw)
    model = load_model(tmp_path / "small")
    assert model.cfg.objective == "rf_denoiser" and model.cfg.conditioning.global_ids == ("seconds_total",)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[ours_to_sao(k)]), k
    # a checkpoint of another layout (SAO 1.0's: seconds_start, unnormalised q/k) is a one-line error naming keys
    sao1 = copy.deepcopy(raw)
    d = sao1["model"]["diffusion"]
    d["config"].pop("attn_kwargs")
    d["config"]["project_cond_tokens"] = False
    write_release(tmp_path / "sao1", sao1)
    (tmp_path / "sao1" / "model_config.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"missing keys \(backbone.*q_norm.*expected the weights of the model") as err:
        load_model(tmp_path / "sao1")
    assert "\n" not in str(err.value) and "wrong shape" in str(err.value)


def test_unknown_objective_and_layout_errors_are_one_line():
    bad = copy.deepcopy(RELEASE)
    bad["model"]["diffusion"]["diffusion_objective"] = "edm"
    with pytest.raises(ConfigError, match=r"diffusion_objective 'edm' is not supported; expected one of \['v', "
                                          r"'rectified_flow', 'rf_denoiser'\]"):
        from_sao_config(bad)
    bad = copy.deepcopy(RELEASE)
    bad["model"]["diffusion"]["config"]["attn_kwargs"]["qk_norm"] = "l2"
    with pytest.raises(ConfigError, match="qk_norm 'l2' is not supported"):
        from_sao_config(bad)
    with pytest.raises(ConfigError, match=r"objective: 'flow' is not one of"):
        override(preset("tiny"), {"objective": "flow"})


def test_info_prints_counts_beside_the_published_ones(capsys):
    assert info_main(["stable-audio-open-small"]) == 0
    out = capsys.readouterr().out
    assert "backbone         340.88 M   published 341 M" in out and "objective rf_denoiser" in out


def test_recommended_samplers_and_mismatch_errors():
    assert recommended_sampler("rf_denoiser") == SamplerConfig(steps=8, cfg_scale=1.0, sampler="pingpong",
                                                               schedule="logsnr", sigma_max=1.0)
    assert recommended_sampler("rectified_flow").sampler == "euler"
    assert recommended_sampler("v") == SamplerConfig()
    with pytest.raises(ValueError, match=r"sampler 'pingpong' does not fit a 'v' model; expected one of \["):
        check_sampler(SamplerConfig(sampler="pingpong"), "v")
    with pytest.raises(ValueError, match=r"sampler 'dpmpp-3m-sde' does not fit a 'rf_denoiser' model"):
        check_sampler(SamplerConfig(), "rf_denoiser")
    with pytest.raises(ValueError, match=r"schedule 'karras' does not fit"):
        check_sampler(SamplerConfig(sampler="euler", schedule="karras"), "rectified_flow")


@pytest.mark.parametrize("sampler", ["pingpong", "euler", "dpmpp"])
def test_rf_model_generates_per_item_deterministically(sampler):
    cfg = override(preset("tiny"), {"sample_size": 16384, "objective": "rf_denoiser", "dit.depth": 1})
    torch.manual_seed(0)
    model = build_model(cfg, HashText(cfg.conditioning.text.dim)).eval()
    sc = SamplerConfig(steps=4, cfg_scale=1.0, sampler=sampler, schedule="logsnr", sigma_max=1.0)
    a = generate(model, ["a tone", "noise"], [0.2, 0.3], [7, 8], sc)
    alone = generate(model, ["noise"], [0.3], [8], sc)[0]
    assert [x.shape for x in a] == [(2, 8820), (2, 13230)]
    torch.testing.assert_close(torch.from_numpy(a[1]), torch.from_numpy(alone), atol=1e-5, rtol=0)
