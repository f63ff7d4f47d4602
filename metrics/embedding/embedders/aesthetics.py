"""Meta Audiobox Aesthetics (Tjandra et al. 2025, arXiv 2502.05139): four per-item scores, production quality (PQ),
production complexity (PC), content enjoyment (CE) and content usefulness (CU), on the released ``checkpoint.pt``.

What the reference computes (facebookresearch/audiobox-aesthetics 0.0.4, ``infer.py`` ``AesPredictor.forward`` and
``model/aes.py`` ``AesMultiOutput``), and what :class:`AestheticsEmbedder` does the same way:

* Input: the file's channels averaged, resampled to 16 kHz with ``torchaudio.functional.resample`` (its default
  sinc filter), no normalisation of level.
* Windows of 10 s every 10 s starting at 0 (``make_inference_batch``); the last one zero-padded to 10 s, with a
  mask of its true samples, and its score weighted by its true length / 10 s in the file's weighted mean.
* Network: WavLM-base (12 layers, 768 wide, gated relative position bias), its 13 hidden states (after the
  positional convolution and each layer) summed with per-axis softmax weights, mean-pooled over the frames the
  mask keeps (a frame is dropped when all of its 320 samples are padding), L2-normalised, one linear head per
  axis; each head's output de-normalised with the checkpoint's ``target_transform`` (``x * std + mean``).

The WavLM encoder is transformers' ``WavLM`` modules (feature encoder, projection, encoder layers), run layer by
layer here so that the reference's frame mask and every hidden state are used; the checkpoint's keys (the
reference's own module names under ``model.``) are renamed onto them (:func:`to_ours`).

Precision: float32 by default, on every device. The reference runs its forward pass under ``torch.autocast`` to the
precision the checkpoint's ``model_cfg`` names (``"32"``: none); ``--precision bf16`` gives the bf16 autocast.

Shortest input: 1 sample at 16 kHz (the reference pads every window to 10 s; one true sample keeps one frame).

Memory: each 10 s window in a batch holds the first convolution's ``[512, 31999]`` output and its group norm (about
65 MB each, float32), so ``--batch-size`` windows peak at roughly 0.2 GB each (an estimate from the tensor sizes).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders import AESTHETICS_AXES as AXES
from sa_util.audio import AUDIO_RULES, check_length, read_audio
from sa_util.state_dict import load_state_strict, read_weights

SR = 16000
WINDOW = 10 * SR  # samples per window, and the hop between windows
FRAME = 320  # samples per WavLM frame (the product of the feature encoder's strides)
EXPECTED = ("the Audiobox Aesthetics checkpoint.pt (facebook/audiobox-aesthetics): a dict with 'state_dict' "
            "(keys 'model.*'), 'model_cfg' and 'target_transform'")
RULES = dataclasses.replace(AUDIO_RULES, model="Audiobox Aesthetics", min_samples=1, model_rate=SR)
UNUSED_KEYS = ("wavlm_model.mask_emb",)  # WavLM's training-time mask embedding: not used at inference


@dataclass(frozen=True)
class AestheticsConfig:
    """The checkpoint's ``model_cfg`` entries that shape the network (``AesMultiOutput``'s fields)."""

    proj_num_layer: int = 1
    proj_ln: bool = False
    proj_act_fn: str = "gelu"
    proj_dropout: float = 0.0
    nth_layer: int = 13
    use_weighted_layer_sum: bool = True
    precision: str = "32"
    normalize_embed: bool = True
    output_dim: int = 1

    @classmethod
    def from_checkpoint(cls, model_cfg: dict[str, Any]) -> AestheticsConfig:
        return cls(**{f.name: model_cfg[f.name] for f in dataclasses.fields(cls)})


def wavlm_config() -> Any:
    """transformers' ``WavLMConfig`` of the reference's ``DEFAULT_AUDIO_CFG`` (WavLM-base, eval mode)."""
    from transformers import WavLMConfig

    return WavLMConfig(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
        feat_extract_norm="group", feat_extract_activation="gelu", conv_dim=(512,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_bias=False,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, num_buckets=320, max_bucket_distance=800,
        do_stable_layer_norm=False, layer_norm_eps=1e-5, hidden_dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0)


def mlp_head(width: int, cfg: AestheticsConfig) -> nn.Sequential:
    """One axis head as the reference's ``create_mlp_block`` lays it out (its module indices are state-dict keys)."""
    layers: list[nn.Module] = []
    for i in range(cfg.proj_num_layer):
        if i == cfg.proj_num_layer - 1:
            layers.append(nn.Linear(width, cfg.output_dim))
            continue
        layers.append(nn.Linear(width, width))
        if cfg.proj_ln:
            layers.append(nn.LayerNorm(width))
        if cfg.proj_act_fn != "gelu":
            raise ValueError(f"proj_act_fn {cfg.proj_act_fn!r}: the reference builds only 'gelu'")
        layers.append(nn.GELU())
        if cfg.proj_dropout:
            layers.append(nn.Dropout(cfg.proj_dropout))
    return nn.Sequential(*layers)


def frame_mask(valid: torch.Tensor, n_samples: int, n_frames: int) -> torch.Tensor:
    """``[B]`` true lengths -> ``[B, n_frames]`` True where a frame holds at least one true sample.

    The reference drops the last ``n_samples % n_frames`` samples, splits the rest into ``n_frames`` equal runs and
    pads a frame when its whole run is padding; with runs of ``r`` samples that is frame ``j`` kept iff ``j * r``
    is below the true length."""
    run = n_samples // n_frames
    starts = torch.arange(n_frames, device=valid.device) * run
    return starts[None, :] < valid[:, None]


class AestheticsNet(nn.Module):
    """WavLM-base and the four axis heads. ``forward(wav [B, W], valid [B])`` -> ``[B, 4]`` normalised scores in
    :data:`AXES` order (``W`` = 10 s at 16 kHz; ``valid``: true samples of each row)."""

    def __init__(self, cfg: AestheticsConfig):
        super().__init__()
        from transformers.models.wavlm import modeling_wavlm as hf

        wcfg = wavlm_config()
        self.cfg = cfg
        self.feature_extractor = hf.WavLMFeatureEncoder(wcfg)
        self.feature_projection = hf.WavLMFeatureProjection(wcfg)
        self.encoder = hf.WavLMEncoder(wcfg)
        width = wcfg.hidden_size
        self.proj_layer = nn.ModuleDict({a: mlp_head(width, cfg) for a in AXES})
        if not cfg.use_weighted_layer_sum:  # the reference's other branch indexes its [T, B, C, L] stack oddly
            raise ValueError("use_weighted_layer_sum False: only the released checkpoints' weighted layer sum is "
                             "ported")
        self.layer_weights = nn.ParameterDict(
                {a: nn.Parameter(torch.ones(cfg.nth_layer) / cfg.nth_layer) for a in AXES})

    def hidden_states(self, wav: torch.Tensor, keep: torch.Tensor | None) -> list[torch.Tensor]:
        """The first ``nth_layer`` hidden states ``[B, T, 768]``: after the positional convolution and layer norm,
        then after each transformer layer."""
        features = self.feature_extractor(wav).transpose(1, 2)
        x, _ = self.feature_projection(features)
        enc = self.encoder
        if keep is not None:
            x = x.masked_fill(~keep[..., None], 0.0)
        x = enc.layer_norm(x + enc.pos_conv_embed(x))
        states, bias = [x], None
        for layer in enc.layers[:self.cfg.nth_layer - 1]:
            x, bias = layer(x, attention_mask=keep, position_bias=bias)
            states.append(x)
        return states

    def forward(self, wav: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        n_frames = self.feature_extractor_frames(wav.shape[1])
        keep = frame_mask(valid, wav.shape[1], n_frames)
        states = torch.stack(self.hidden_states(wav, keep), dim=-1)  # [B, T, C, L]
        weight = keep[..., None].to(states.dtype)  # [B, T, 1]
        out = []
        for a in AXES:
            embed = states @ torch.softmax(self.layer_weights[a], dim=-1).to(states.dtype)  # [B, T, C]
            pooled = (embed * weight).sum(1) / weight.sum(1).clamp(min=1)
            if self.cfg.normalize_embed:
                pooled = nn.functional.normalize(pooled, dim=-1)
            out.append(self.proj_layer[a](pooled)[:, 0])
        return torch.stack(out, dim=1)

    @staticmethod
    def feature_extractor_frames(n_samples: int) -> int:
        """Frames the feature encoder gives for ``n_samples`` (each convolution unpadded)."""
        n = n_samples
        for kernel, stride in zip((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)):
            n = (n - kernel) // stride + 1
        return n


# --- the checkpoint's key names (the reference's modules) onto ours -------------------------------------------------
_RENAMES = (  # (pattern of a reference key without "model.", replacement), applied in order
    (r"^wavlm_model\.feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"^wavlm_model\.feature_extractor\.conv_layers\.0\.2\.", r"feature_extractor.conv_layers.0.layer_norm."),
    (r"^wavlm_model\.layer_norm\.", "feature_projection.layer_norm."),
    (r"^wavlm_model\.post_extract_proj\.", "feature_projection.projection."),
    (r"^wavlm_model\.encoder\.pos_conv\.0\.weight_g$", "encoder.pos_conv_embed.conv.{g}"),
    (r"^wavlm_model\.encoder\.pos_conv\.0\.weight_v$", "encoder.pos_conv_embed.conv.{v}"),
    (r"^wavlm_model\.encoder\.pos_conv\.0\.bias$", "encoder.pos_conv_embed.conv.bias"),
    (r"^wavlm_model\.encoder\.layer_norm\.", "encoder.layer_norm."),
    (r"\.self_attn\.relative_attention_bias\.", ".attention.rel_attn_embed."),
    (r"\.self_attn\.grep_linear\.", ".attention.gru_rel_pos_linear."),
    (r"\.self_attn\.grep_a$", ".attention.gru_rel_pos_const"),
    (r"\.self_attn\.", ".attention."),
    (r"\.self_attn_layer_norm\.", ".layer_norm."),
    (r"\.fc1\.", ".feed_forward.intermediate_dense."),
    (r"\.fc2\.", ".feed_forward.output_dense."),
    (r"^wavlm_model\.encoder\.layers\.", "encoder.layers."),
)


def _weight_norm_names(net: AestheticsNet) -> dict[str, str]:
    """The names of the positional convolution's weight-norm magnitude and direction in this torch/transformers."""
    own = net.encoder.pos_conv_embed.conv.state_dict()
    if "parametrizations.weight.original0" in own:
        return {"g": "parametrizations.weight.original0", "v": "parametrizations.weight.original1"}
    return {"g": "weight_g", "v": "weight_v"}


def to_ours(state: dict[str, torch.Tensor], net: AestheticsNet) -> dict[str, torch.Tensor]:
    """The checkpoint's ``state_dict`` (``model.``-prefixed reference names) renamed onto :class:`AestheticsNet`."""
    names = _weight_norm_names(net)
    out = {}
    for key, value in state.items():
        key = re.sub(r"^model\.", "", key)
        if key in UNUSED_KEYS:
            continue
        for pattern, repl in _RENAMES:
            key = re.sub(pattern, repl.format(**names), key)
        out[key] = value
    return out


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], AestheticsConfig, dict[str, tuple[float, float]]]:
    """``checkpoint.pt`` -> (its state dict, its network config, axis -> (mean, std) of the targets)."""
    ckpt = read_weights(path, EXPECTED)
    try:
        cfg = AestheticsConfig.from_checkpoint(ckpt["model_cfg"])
        transform = {a: (float(ckpt["target_transform"][a]["mean"]), float(ckpt["target_transform"][a]["std"]))
                     for a in AXES}
        state = ckpt["state_dict"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: no {exc} entry where {EXPECTED} has one") from exc
    return state, cfg, transform


def build_aesthetics(path: Path) -> tuple[AestheticsNet, torch.Tensor, torch.Tensor]:
    """The network with the checkpoint's weights (strict), and the per-axis target ``mean``, ``std`` ``[4]``."""
    state, cfg, transform = read_checkpoint(path)
    net = AestheticsNet(cfg)
    load_state_strict(net, to_ours(state, net), path, EXPECTED)
    mean = torch.tensor([transform[a][0] for a in AXES], dtype=torch.float64)
    std = torch.tensor([transform[a][1] for a in AXES], dtype=torch.float64)
    return net.eval(), mean, std


def resample_16k(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[C, T]`` -> ``[T]`` at 16 kHz: channel mean, then ``torchaudio.functional.resample`` (the reference's)."""
    import torchaudio

    mono = torch.from_numpy(np.ascontiguousarray(x)).mean(0, keepdim=True)
    if sample_rate != SR:
        mono = torchaudio.functional.resample(mono, orig_freq=sample_rate, new_freq=SR)
    return mono[0].numpy()


def windows(n: int) -> list[tuple[int, int]]:
    """(start, true length) of the 10 s windows of an ``n``-sample signal (the reference's ``range(0, n, hop)``)."""
    return [(s, min(WINDOW, n - s)) for s in range(0, n, WINDOW)]


class AestheticsEmbedder(Embedder):
    """``prepare`` -> ``[T]`` 16 kHz mono; ``embed`` -> ``[4]`` de-normalised scores per file in :data:`AXES` order,
    each the mean of its windows' scores weighted by their true lengths."""

    name = "audiobox-aesthetics"
    sample_rate = SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 8):
        super().__init__(weights_path, device, batch_size)
        self._scale: tuple[torch.Tensor, torch.Tensor] | None = None

    def settings(self) -> dict[str, Any]:
        return {"sr": SR, "window_s": 10, "hop_s": 10, "last_window": "zero-padded, weighted by its length",
                "resampler": "torchaudio sinc", "downmix": "mean", "axes": list(AXES)}

    def prepare(self, path: str) -> np.ndarray:
        audio = read_audio(path, self.input_rules)
        x = resample_16k(audio.samples, audio.sample_rate)
        check_length(len(x), SR, self.input_rules)
        return x.astype(np.float32, copy=False)

    def build(self) -> AestheticsNet:
        net, mean, std = build_aesthetics(self.weights_path)
        self._scale = (mean, std)
        return net.to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        mean, std = self._scale
        rows = [(i, s, n) for i, x in enumerate(prepared) for s, n in windows(len(x))]
        preds = []
        for b in range(0, len(rows), self.batch_size):
            batch = rows[b:b + self.batch_size]
            wav = torch.zeros(len(batch), WINDOW)
            for r, (i, s, n) in enumerate(batch):
                wav[r, :n] = torch.from_numpy(prepared[i][s:s + n])
            valid = torch.tensor([n for _, _, n in batch], device=self.device)
            with self.autocast():
                preds.append(model(wav.to(self.device), valid).float().cpu())
        scores = torch.cat(preds).double() * std + mean  # [n_windows, 4]
        owner = torch.tensor([i for i, _, _ in rows])
        weight = torch.tensor([n / WINDOW for _, _, n in rows], dtype=torch.float64)
        return [((scores[owner == i] * weight[owner == i, None]).sum(0) / weight[owner == i].sum()).numpy()
                for i in range(len(prepared))]
