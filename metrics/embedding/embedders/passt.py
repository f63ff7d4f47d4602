"""PaSST-S (``passt_s_swa_p16_128_ap476``) AudioSet class probabilities for KL_passt.

Architecture and mel front-end are hear21passt's own (built without its download); the official ``.pt`` state
dict is loaded with ``weights_only=True`` through hear21passt's ``checkpoint_filter_fn`` and a strict load.

Per file (stable-audio-metrics ``src/passt_kld.py``, ``return_probabilities``): 32 kHz mono (mean downmix,
soxr HQ), peak -1 dBFS, 10 s windows every 5 s starting at ``range(0, max(step, len - step), step)``; a window
shorter than 10 s is zero-padded to 10 s when it is longer than 1.5 s and fed unpadded otherwise. ``prepare`` returns
the zero-padded signal (not its windows, which overlap by half); ``embed`` cuts the windows of many files as views
and feeds them ``batch_size`` at a time; per file the logits are averaged over its windows, then softmaxed.

Memory: hear21passt's attention materialises a [heads, 1190, 1190] score matrix per 10 s window and layer, twice
(68 MB each): 32 windows at a time peaked at 6.7 GB. The embedder runs the same attention through torch's fused
``scaled_dot_product_attention`` (:class:`FusedAttention`), which never holds those matrices; ``build_passt`` keeps
hear21passt's own forward as the reference the tests compare against (agreement: float32 rounding).

Shortest input: 4801 samples at 32 kHz (0.150 s). hear21passt's patch embedding needs 16 mel frames (one 16x16
patch; hop 320 after a one-sample pre-emphasis), and raises on anything shorter (measured: 4800 fails, 4801 runs).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.embedding.embedder import Embedder, embed_windows
from metrics.files.audio import load_mono
from sa_util.audio import AUDIO_RULES
from sa_util.state_dict import load_state_strict, read_weights

SR = 32000
WINDOW = 10 * SR
STEP = 5 * SR
MIN_PAD = int(0.15 * WINDOW)  # windows longer than this (1.5 s) are padded to 10 s
ARCH = "passt_s_swa_p16_128_ap476"
EXPECTED = "the PaSST-S SWA AudioSet state dict passt-s-f128-p16-s10-ap.476-swa.pt"
RULES = dataclasses.replace(AUDIO_RULES, model="PaSST", min_samples=4801, model_rate=SR)


def passt_signal(x: np.ndarray) -> np.ndarray:
    """``[T]`` 32 kHz audio -> ``[L]``: ``x`` itself if T <= 1.5 s (one unpadded window), else ``x`` zero-padded to
    ``L = (n - 1) * STEP + WINDOW`` for the protocol's n windows. Every window of more than 1.5 s is then full: the
    last start is below T - 5 s (or 0), so each window holds more than 1.5 s of audio and is padded to 10 s."""
    if len(x) <= MIN_PAD:
        return x.astype(np.float32, copy=False)
    n = len(range(0, max(STEP, len(x) - STEP), STEP))
    return np.pad(x, (0, (n - 1) * STEP + WINDOW - len(x))).astype(np.float32)


def signal_windows(signal: torch.Tensor) -> torch.Tensor:
    """``[L]`` from :func:`passt_signal` -> ``[n_windows, W]`` view (W = 320000, or L for a lone short window)."""
    return signal[None] if len(signal) < WINDOW else signal.unfold(0, WINDOW, STEP)


def passt_windows(x: np.ndarray) -> np.ndarray:
    """``[T]`` 32 kHz audio -> ``[n_windows, W]`` windows (W = 320000, or T for a lone window of <= 1.5 s)."""
    return signal_windows(torch.from_numpy(passt_signal(x))).numpy()


class FusedAttention(torch.nn.Module):
    """hear21passt's ``Attention`` in eval mode (no dropout) through ``F.scaled_dot_product_attention``: the same
    projections (shared, not copied) and scale, without materialising the ``[B, heads, N, N]`` scores."""

    def __init__(self, attn: torch.nn.Module):
        super().__init__()
        self.num_heads, self.scale, self.qkv, self.proj = attn.num_heads, attn.scale, attn.qkv, attn.proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=self.scale)  # [B, heads, N, C/heads]
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


def use_fused_attention(wrapper: torch.nn.Module) -> torch.nn.Module:
    """Swap every transformer block's attention of a :func:`build_passt` model for :class:`FusedAttention`."""
    for block in wrapper.net.blocks:
        block.attn = FusedAttention(block.attn)
    return wrapper


def build_passt(weights_path: Path | None) -> torch.nn.Module:
    """hear21passt's mel + net as ``PasstBasicWrapper(mode='logits')``, weights from a local official ``.pt``."""
    state = read_weights(weights_path, EXPECTED) if weights_path is not None else None  # fails fast if damaged
    with contextlib.redirect_stdout(io.StringIO()):  # hear21passt prints banners while building
        from hear21passt.models import passt as passt_module
        from hear21passt.models.preprocess import AugmentMelSTFT
        from hear21passt.wrapper import PasstBasicWrapper

        net = passt_module.get_model(arch=ARCH, pretrained=False, n_classes=527, in_channels=1, fstride=10,
                                     tstride=10, input_fdim=128, input_tdim=998, u_patchout=0, s_patchout_t=0,
                                     s_patchout_f=0)
    if weights_path is not None:
        try:
            state = passt_module.checkpoint_filter_fn(state, net)
        except Exception as exc:  # it indexes and reshapes whatever it is given
            raise ValueError(f"{weights_path}: not a PaSST state dict ({type(exc).__name__}); expected {EXPECTED}") \
                from exc
        load_state_strict(net, state, weights_path, EXPECTED)
    passt_module.first_RUN = False  # silences its debug prints on the first forward
    with contextlib.redirect_stdout(io.StringIO()):  # "Warning: FMAX is None setting to 15000" on stdout
        mel = AugmentMelSTFT(n_mels=128, sr=SR, win_length=800, hopsize=320, n_fft=1024, freqm=48, timem=192,
                             htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10, fmax_aug_range=2000)
    return PasstBasicWrapper(mel=mel, net=net, mode="logits").eval()


class PasstEmbedder(Embedder):
    """``prepare`` -> ``[L]`` padded 32 kHz signal; ``embed`` -> ``[527]`` class probabilities per file."""

    name = "passt-s-swa-ap476"
    sample_rate = SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 16, *,
                 model: torch.nn.Module | None = None):
        super().__init__(weights_path, device, batch_size)
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {"sr": SR, "window_s": 10, "hop_s": 5, "pad_rule": ">1.5s", "collect": "mean-logits-softmax"}

    def prepare(self, path: str) -> np.ndarray:
        return passt_signal(load_mono(path, SR, self.input_rules))

    def build(self) -> torch.nn.Module:
        return use_fused_attention(build_passt(self.weights_path)).to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        windows = [signal_windows(torch.from_numpy(p)) for p in prepared]  # each [n, W], views
        logits: list[torch.Tensor | None] = [None] * len(prepared)
        by_length: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_length.setdefault(w.shape[1], []).append(i)
        for members in by_length.values():  # same-length windows share device batches
            outs = embed_windows(model, [windows[i] for i in members], self.batch_size, self.device)
            for i, out in zip(members, outs):
                logits[i] = out  # [n, 527]
        return [torch.softmax(lg.mean(0), dim=0).numpy() for lg in logits]  # mean logits, then one softmax
