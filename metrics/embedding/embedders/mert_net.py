"""MERT-v1 inference (m-a-p/MERT-v1-95M, MERT-v1-330M) in PyTorch, reading the hub folder's own files.

MERT's model code ships beside its weights (``modeling_MERT.py``, loaded with ``trust_remote_code``); this is a port of
the inference path that code runs for the released configurations, which are HuBERT's:
  conv feature encoder (7 convs, 320x down-sampling: 75 frames/s at 24 kHz; ``feat_extract_norm`` "group": GroupNorm
  after the first conv only, "layer": LayerNorm after every conv; GELU) -> feature projection (LayerNorm when
  ``feat_proj_layer_norm``, Linear to ``hidden_size``) -> encoder: padded frames zeroed, + weight-normed grouped
  positional conv (kernel 128, 16 groups, last frame dropped, GELU) -> post-norm layers (``do_stable_layer_norm``
  false: LayerNorm after the sum, then 12 post-norm blocks) or pre-norm layers (true: blocks, then a final LayerNorm).
``hidden_states`` are HuBERT's: index 0 the encoder input (after its LayerNorm in the post-norm case), index i the
output of block i (the last one after the final LayerNorm in the pre-norm case, as the transformers 4.x encoder MERT's
code imports returned it; transformers >= 5's ``HubertModel`` returns it before that LayerNorm).

What MERT's code would run differently, and is refused here: ``feature_extractor_cqt`` (a CQT branch, off in the
released v1 configs) and ``deepnorm`` (scaled residuals). ``attention_relax`` only acts in the deepnorm encoder, so it
is ignored exactly as MERT's code ignores it. The attention mask of a padded batch is HuBERT's: padded keys get the
dtype's minimum, padded frames are zeroed before the positional conv.

Weights: ``pytorch_model.bin`` (``torch.load(weights_only=True)``) or ``model.safetensors``, keys as MERTModel saves
them (``feature_extractor.*``, ``feature_projection.*``, ``encoder.*``; ``masked_spec_embed`` is a training-only
parameter and is dropped); the positional conv's weight norm as ``weight_g``/``weight_v`` or as
``parametrizations.weight.original0``/``original1``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from sa_util.state_dict import load_state_strict, read_weights

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # the hub's names, the first one present is read
EXPECTED = "a MERT-v1 state dict (feature_extractor.*, feature_projection.*, encoder.*) as the hub folder holds it"


@dataclass(frozen=True)
class MertConfig:
    """The ``config.json`` fields inference reads (others are training settings)."""

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    conv_dim: tuple[int, ...] = (512,) * 7
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    feat_proj_layer_norm: bool = True
    do_stable_layer_norm: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    deepnorm: bool = False
    feature_extractor_cqt: bool = False
    sample_rate: int = 24000

    @classmethod
    def from_json(cls, path: Path) -> MertConfig:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: not a JSON object")
        values = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        config = cls(**values)
        config.check(path)
        return config

    def check(self, path: Path) -> None:
        if self.feature_extractor_cqt or self.deepnorm:
            raise ValueError(f"{path}: feature_extractor_cqt / deepnorm are set; no released MERT-v1 config sets "
                             "them and this port does not run them")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"{path}: feat_extract_norm {self.feat_extract_norm!r} is neither 'group' nor 'layer'")
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride)):
            raise ValueError(f"{path}: conv_dim, conv_kernel and conv_stride differ in length")

    def frames(self, n_samples: int) -> int:
        """Output frames of the conv encoder for ``n_samples`` inputs (0 when too short for one)."""
        for k, s in zip(self.conv_kernel, self.conv_stride):
            n_samples = (n_samples - k) // s + 1 if n_samples >= k else 0
        return max(0, n_samples)

    def receptive_field(self) -> int:
        """The fewest samples that give one frame."""
        n = 1
        for k, s in reversed(list(zip(self.conv_kernel, self.conv_stride))):
            n = (n - 1) * s + k
        return n


class ConvLayer(nn.Module):
    """One conv of the feature encoder: conv -> (GroupNorm | LayerNorm over channels | nothing) -> GELU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, bias: bool, norm: str | None):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride, bias=bias)
        self.norm = norm
        if norm == "group":
            self.layer_norm = nn.GroupNorm(c_out, c_out, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, elementwise_affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm == "group":
            x = self.layer_norm(x)
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return F.gelu(x)


class FeatureEncoder(nn.Module):
    """``[B, T]`` -> ``[B, conv_dim[-1], frames]``."""

    def __init__(self, c: MertConfig):
        super().__init__()
        dims = (1,) + c.conv_dim
        norms = [("group" if i == 0 else None) if c.feat_extract_norm == "group" else "layer"
                 for i in range(len(c.conv_dim))]
        self.conv_layers = nn.ModuleList(ConvLayer(dims[i], dims[i + 1], c.conv_kernel[i], c.conv_stride[i],
                                                   c.conv_bias, norms[i]) for i in range(len(c.conv_dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class FeatureProjection(nn.Module):
    def __init__(self, c: MertConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(c.conv_dim[-1], eps=c.layer_norm_eps) if c.feat_proj_layer_norm else None
        self.projection = nn.Linear(c.conv_dim[-1], c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.layer_norm(x) if self.layer_norm is not None else x)


class PositionalConv(nn.Module):
    """Grouped conv with weight norm over dim 2 (``weight = g * v / ||v||``, the norm over dims 0 and 1), 'same'
    padding with the last frame dropped for an even kernel, GELU. ``[B, N, H]`` -> ``[B, N, H]``."""

    def __init__(self, c: MertConfig):
        super().__init__()
        self.conv = nn.Module()
        k, h, g = c.num_conv_pos_embeddings, c.hidden_size, c.num_conv_pos_embedding_groups
        self.conv.weight_g = nn.Parameter(torch.empty(1, 1, k))
        self.conv.weight_v = nn.Parameter(torch.empty(h, h // g, k))
        self.conv.bias = nn.Parameter(torch.empty(h))
        self.kernel, self.groups = k, g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.conv.weight_v
        weight = self.conv.weight_g * v / v.norm(dim=(0, 1), keepdim=True)
        y = F.conv1d(x.transpose(1, 2), weight, self.conv.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[..., :-1]
        return F.gelu(y).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.k_proj, self.v_proj = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.q_proj, self.out_proj = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, N, H = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, N, self.heads, H // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)),
                                             attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, N, H))


class FeedForward(nn.Module):
    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.intermediate_dense, self.output_dense = nn.Linear(hidden, inner), nn.Linear(inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    """HuBERT's block: post-norm (``pre_norm`` false) or pre-norm ("stable layer norm")."""

    def __init__(self, c: MertConfig):
        super().__init__()
        self.attention = Attention(c.hidden_size, c.num_attention_heads)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.feed_forward = FeedForward(c.hidden_size, c.intermediate_size)
        self.final_layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.pre_norm = c.do_stable_layer_norm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attention(self.layer_norm(x), mask)
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.attention(x, mask))
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    def __init__(self, c: MertConfig):
        super().__init__()
        self.pos_conv_embed = PositionalConv(c)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.num_hidden_layers))
        self.pre_norm = c.do_stable_layer_norm

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None, last: int) -> list[torch.Tensor]:
        """``[B, N, H]`` and ``[B, N]`` bool (None: all valid) -> hidden states 0..``last``."""
        mask = None
        if valid is not None:
            x = x.masked_fill(~valid[..., None], 0.0)
            mask = torch.zeros(valid.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(~valid, torch.finfo(x.dtype).min)[:, None, None, :]
        x = x + self.pos_conv_embed(x)
        if not self.pre_norm:
            x = self.layer_norm(x)
        states = [x]
        for i, layer in enumerate(self.layers[:last]):
            x = layer(x, mask)
            if self.pre_norm and i == len(self.layers) - 1:
                x = self.layer_norm(x)
            states.append(x)
        return states


class MertNet(nn.Module):
    """``[B, T]`` 24 kHz input values (and per-row lengths) -> hidden states ``[B, N, H]``, index 0 to ``last``."""

    def __init__(self, config: MertConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureEncoder(config)
        self.feature_projection = FeatureProjection(config)
        self.encoder = Encoder(config)

    def forward(self, x: torch.Tensor, lengths: list[int] | None = None, last: int | None = None
                ) -> list[torch.Tensor]:
        features = self.feature_extractor(x).transpose(1, 2)  # [B, N, C]
        valid = None
        if lengths is not None and any(n != x.shape[1] for n in lengths):
            frames = torch.tensor([self.config.frames(n) for n in lengths], device=x.device)
            valid = torch.arange(features.shape[1], device=x.device)[None] < frames[:, None]
        last = self.config.num_hidden_layers if last is None else last
        return self.encoder(self.feature_projection(features), valid, last)


def _renamed(state: dict[str, Any]) -> dict[str, Any]:
    """The hub state dict with the training-only ``masked_spec_embed`` dropped and the positional conv's weight norm
    under the ``weight_g``/``weight_v`` names."""
    out = {}
    for key, value in state.items():
        if key == "masked_spec_embed":
            continue
        key = key.replace("parametrizations.weight.original0", "weight_g")
        out[key.replace("parametrizations.weight.original1", "weight_v")] = value
    return out


def weight_file(folder: Path) -> Path:
    """The weight file of a hub folder (``model.safetensors`` or ``pytorch_model.bin``)."""
    for name in WEIGHT_FILES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise FileNotFoundError(f"{folder}: neither {' nor '.join(WEIGHT_FILES)} is there")


def load_mert(folder: Path) -> MertNet:
    """The network of a MERT hub folder (``config.json`` + weights), float32, eval mode."""
    config = MertConfig.from_json(Path(folder) / "config.json")
    path = weight_file(folder)
    state = read_weights(path, EXPECTED)
    if isinstance(state, dict):
        state = {k: v.float() if isinstance(v, torch.Tensor) else v for k, v in _renamed(state).items()}
    with torch.device("meta"):
        net = MertNet(config)
    load_state_strict(net, state, path, EXPECTED)
    return net.eval()
