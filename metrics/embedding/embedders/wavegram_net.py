"""PANNs Wavegram-Logmel-CNN14 (Kong et al. 2020, the 32 kHz AudioSet tagger ``Wavegram_Logmel_Cnn14_mAP=0.439.pth``):
CNN14 whose second conv block also sees a learned time-frequency map of the waveform.

Reference: PANNs' ``Wavegram_Logmel_Cnn14`` (qiuqiangkong/audioset_tagging_cnn ``pytorch/models.py``, the copy kadtk
1.1.0 ships as ``kadtk/models/panns/models.py``) with the torchlibrosa front-end, in eval mode. Our own port: the
log-mel front-end, conv blocks and head are :mod:`metrics.embedding.embedders.panns`' CNN14; parameter names follow
the official checkpoint's state dict, which loads strictly.

Network, ``[B, T]`` audio at 32 kHz:
  wavegram: Conv1d(1 -> 64, kernel 11, stride 5, pad 5), BN, ReLU -> 3 blocks of (Conv1d k3, BN, ReLU, Conv1d k3
    dilation 2, BN, ReLU, max pool 4): 64, 128, 128 channels -> ``[B, 128, t]`` folded into ``[B, 4, t, 32]`` ->
    a CNN14 conv block (4 -> 64) pooled (2, 1): ``[B, 64, t/2, 32]``
  log-mel: CNN14's (n_fft 1024, hop 320, 64 mels 50 Hz..14 kHz, bn0) -> conv block 1: ``[B, 64, frames/2, 32]``
  both cut to the shorter time axis (the two differ by a frame at some lengths), concatenated -> ``[B, 128, t', 32]``
  -> CNN14 conv blocks 2 (128 -> 128) ... 6 -> CNN14's head: (embedding ``[B, 2048]``, logits ``[B, 527]``).

Shortest input: the wavegram has ceil(T / 5) // 128 frames after its first conv block and the log-mel
(1 + T // 320) // 2; four more 2x poolings need 16 of each, so T >= 5 * 2047 + 1 = 10236 samples (0.320 s).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from metrics.embedding.embedders.panns import CONFIGS, Cnn14, Cnn14Config, ConvBlock, fold_conv_bn, read_state_dict
from sa_util.state_dict import load_state_strict

CONFIG = dataclasses.replace(CONFIGS[32000], weights="panns-wavegram-logmel")
STRIDE = 5  # pre_conv0
WAVE_CHANNELS = (64, 128, 128)  # pre_block1 ... 3
WAVE_POOL = 4  # each pre-block's max pooling
WAVE_BINS = 32  # the wavegram's frequency axis: its 128 channels folded into 4 x 32
MIN_FRAMES = 16  # after conv block 1 / pre_block4: conv blocks 2 ... 5 halve time four times
MIN_SAMPLES = STRIDE * (MIN_FRAMES * 2 * WAVE_POOL ** 3 - 1) + 1  # 10236: the wavegram branch's (longer) minimum


class ConvPreWavBlock(nn.Module):
    """(Conv1d k3, BN, ReLU), (Conv1d k3 dilation 2, BN, ReLU), max pooling by ``pool``:
    ``[B, C_in, t] -> [B, C_out, t // pool]``."""

    def __init__(self, c_in: int, c_out: int, pool: int = WAVE_POOL):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=2, dilation=2, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.pool = pool

    def fold_batchnorm(self) -> None:
        """Both BNs folded into their convolutions (:func:`fold_conv_bn`)."""
        fold_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu_(self.bn1(self.conv1(x)))
        x = torch.relu_(self.bn2(self.conv2(x)))
        return nn.functional.max_pool1d(x, self.pool)


class WavegramLogmelCnn14(Cnn14):
    """``[B, T]`` audio at 32 kHz, T >= :data:`MIN_SAMPLES` -> (embedding ``[B, 2048]``, logits ``[B, 527]``).
    Inference only."""

    def __init__(self, cfg: Cnn14Config = CONFIG):
        super().__init__(cfg)
        self.pre_conv0 = nn.Conv1d(1, WAVE_CHANNELS[0], 11, stride=STRIDE, padding=5, bias=False)
        self.pre_bn0 = nn.BatchNorm1d(WAVE_CHANNELS[0])
        c_in = WAVE_CHANNELS[0]
        for i, c in enumerate(WAVE_CHANNELS, start=1):
            setattr(self, f"pre_block{i}", ConvPreWavBlock(c_in, c))
            c_in = c
        self.pre_block4 = ConvBlock(c_in // WAVE_BINS, 64, pool=(2, 1))
        self.conv_block2 = ConvBlock(128, 128, pool=2)  # CNN14's takes 64: here log-mel and wavegram, 64 each

    def wavegram(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> ``[B, 64, ceil(T / 5) // 128, 32]``."""
        a = torch.relu_(self.pre_bn0(self.pre_conv0(x[:, None, :])))
        for i in range(1, len(WAVE_CHANNELS) + 1):
            a = getattr(self, f"pre_block{i}")(a)  # [B, C, t]
        a = a.reshape(a.shape[0], -1, WAVE_BINS, a.shape[-1]).transpose(2, 3)  # [B, 4, t, 32]
        return self.pre_block4(a)

    def fold_batchnorm(self) -> None:
        """Every block's BNs (CNN14's folding reaches the pre-blocks too), and ``pre_bn0`` into ``pre_conv0``."""
        super().fold_batchnorm()
        fold_conv_bn(self, (("pre_conv0", "pre_bn0"),))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wave = self.wavegram(x)  # [B, 64, t_w, 32]
        mel = self.conv_block1(self.features(x))  # [B, 64, t_m, 32]
        t = min(wave.shape[2], mel.shape[2])
        x = torch.cat((mel[:, :, :t], wave[:, :, :t]), dim=1)  # [B, 128, t, 32]
        return self.head(self.conv_blocks(x, first=2))


def load_wavegram(path: Path) -> WavegramLogmelCnn14:
    """Wavegram-Logmel-CNN14 with the weights of ``path`` (the official ``.pth``) loaded strictly; a mismatch is a
    one-line ValueError."""
    state = read_state_dict(path)
    with torch.device("meta"):  # no random init of the parameters the file replaces
        model = WavegramLogmelCnn14()
    load_state_strict(model, state, path, "PANNs Wavegram-Logmel-CNN14 (32 kHz)")
    return model.eval().requires_grad_(False)


__all__ = ["CONFIG", "MIN_SAMPLES", "ConvPreWavBlock", "WavegramLogmelCnn14", "load_wavegram"]
