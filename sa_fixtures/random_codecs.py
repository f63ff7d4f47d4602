"""Random-weight MERT hub folders and EnCodec checkpoints in their official formats (tests, demo).

MERT: ``config.json`` with the released MERT-v1 fields (``MERTModel``, ``mert_model``, its ``auto_map``),
``preprocessor_config.json`` (Wav2Vec2FeatureExtractor at 24 kHz), ``pytorch_model.bin`` with the keys MERTModel saves
(``masked_spec_embed`` and the positional conv's ``weight_g``/``weight_v`` included). EnCodec: the ``.th`` files
``EncodecModel._get_pretrained`` reads, a plain state dict of the whole model (encoder, quantizer, decoder), written
by the ``encodec`` package itself (so the tests that use them need it installed). DAC: the 44.1 kHz ``.pth`` that
``dac.utils.load_model`` reads, ``{'state_dict', 'metadata': {'kwargs'}}``, written by ``descript-audio-codec``'s own
``DAC(...).save(path, package=False)`` (audiotools' ``BaseModel.save``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

MERT_CONFIGS: dict[str, dict[str, Any]] = {
    "v1-95M": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
               "feat_extract_norm": "group", "conv_bias": False, "do_stable_layer_norm": False},
    "v1-330M": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
                "feat_extract_norm": "layer", "conv_bias": True, "do_stable_layer_norm": True},
}
_MERT_COMMON = {"architectures": ["MERTModel"], "model_type": "mert_model",
                "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
                "conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
                "feat_proj_layer_norm": True, "feature_extractor_cqt": False, "feature_extractor_cqt_bins": 336,
                "deepnorm": False, "attention_relax": -1.0, "num_conv_pos_embeddings": 128,
                "num_conv_pos_embedding_groups": 16, "layer_norm_eps": 1e-5, "hidden_act": "gelu",
                "feat_extract_activation": "gelu", "mask_time_prob": 0.05, "sample_rate": 24000,
                "torch_dtype": "float32"}
MERT_PREPROCESSOR = {"do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
                     "padding_side": "right", "padding_value": 0, "return_attention_mask": True,
                     "sampling_rate": 24000}


def mert_config(size: str) -> dict[str, Any]:
    return {**_MERT_COMMON, **MERT_CONFIGS[size]}


def write_mert_folder(folder: Path, size: str = "v1-95M", seed: int = 0) -> Path:
    """A random MERT-``size`` hub folder. Weights ~ N(0, 0.02) (norm gains 1 + N(0, 0.1)), the positional conv's
    gain around 1, so hidden states neither vanish nor blow up through the layers."""
    from metrics.embedding.embedders.mert_net import MertConfig, MertNet

    folder.mkdir(parents=True, exist_ok=True)
    config = mert_config(size)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps(MERT_PREPROCESSOR, indent=2))
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MertNet(MertConfig.from_json(folder / "config.json")).state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        noise = torch.randn(shape, generator=gen)
        if "norm" in key and key.endswith("weight"):
            state[key] = 1.0 + 0.1 * noise
        elif key.endswith("weight_g"):
            state[key] = 1.0 + 0.1 * noise.abs()
        elif "conv_layers" in key and key.endswith("conv.weight"):
            state[key] = noise * (2.0 / shape[1:].numel()) ** 0.5
        else:
            state[key] = 0.02 * noise
    state["masked_spec_embed"] = torch.rand(config["hidden_size"], generator=gen)
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def write_encodec_th(path: Path, variant: str = "24k", seed: int = 0) -> Path:
    """A random EnCodec model (``encodec_model_24khz`` / ``encodec_model_48khz`` architecture) saved as the released
    ``encodec_24khz-d7cc33bc.th`` / ``encodec_48khz-7e698e3e.th``: the whole model's state dict. Norm gains get noise
    so a port that skips the time-group norm is caught; the 24 kHz model's last conv gain is raised so its latents are
    O(1) like the 48 kHz model's (default initialisation leaves them near 0.05, where float16 storage dominates FAD)."""
    from encodec import EncodecModel

    torch.manual_seed(seed)
    model = (EncodecModel.encodec_model_24khz if variant == "24k" else EncodecModel.encodec_model_48khz)(
        pretrained=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.add_(0.2 * torch.randn_like(m.weight))
                m.bias.add_(0.1 * torch.randn_like(m.bias))
        if variant == "24k":
            model.encoder.model[15].conv.conv.weight_g.mul_(30.0)
    torch.save(model.state_dict(), path)
    return path


def write_dac_pth(path: Path, seed: int = 0, encoder_dim: int = 64, decoder_dim: int = 1536) -> Path:
    """A random DAC 44.1 kHz model (``dac.DAC()``, the default configuration the 0.0.1 release was trained with, or
    the same geometry at other widths: ``latent_dim`` stays 1024) saved as the released
    ``weights_44khz_8kbps_0.0.1.pth``. Snake alphas, weight-norm gains and biases get noise, so
    a port that mixes them up is caught; the last encoder conv's gain is raised so the latents are O(1) (default
    initialisation leaves them near 0.02)."""
    import dac

    torch.manual_seed(seed)
    model = dac.DAC(encoder_dim=encoder_dim, latent_dim=1024, decoder_dim=decoder_dim)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.mul_(torch.exp(0.3 * torch.randn_like(p)))
            elif name.endswith("weight_g"):
                p.mul_(torch.exp(0.1 * torch.randn_like(p)))
            elif name.endswith("bias"):
                p.add_(0.02 * torch.randn_like(p))
        model.encoder.block[-1].weight_g.mul_(20.0)
    model.save(str(path), package=False)
    return path
