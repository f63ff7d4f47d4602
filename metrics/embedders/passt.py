"""PaSST-S (``passt_s_swa_p16_128_ap476``) AudioSet class probabilities for KL_passt.

Architecture and mel front-end are hear21passt's own (built without its download); the official ``.pt`` state
dict is loaded with ``weights_only=True`` through hear21passt's ``checkpoint_filter_fn`` and a strict load.

Per file (stable-audio-metrics ``return_probabilities``, metrics-protocol.md §2.2): 32 kHz mono (mean downmix,
soxr HQ), peak -1 dBFS, 10 s windows every 5 s starting at ``range(0, max(step, len - step), step)``; a window
shorter than 10 s is zero-padded to 10 s when it is longer than 1.5 s and fed unpadded otherwise. Windows of many
files go through the model in one batch; per file the logits are averaged over its windows, then softmaxed.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.audio import load_mono
from metrics.embedder import Embedder

SR = 32000
WINDOW = 10 * SR
STEP = 5 * SR
MIN_PAD = int(0.15 * WINDOW)  # windows longer than this (1.5 s) are padded to 10 s
ARCH = "passt_s_swa_p16_128_ap476"


def passt_windows(x: np.ndarray) -> np.ndarray:
    """``[T]`` 32 kHz audio -> ``[n_windows, W]`` windows (W = 320000, or T for a lone window of <= 1.5 s)."""
    windows = []
    for start in range(0, max(STEP, len(x) - STEP), STEP):
        w = x[start:start + WINDOW]
        if len(w) < WINDOW and len(w) > MIN_PAD:
            w = np.pad(w, (0, WINDOW - len(w)))
        windows.append(w)
    return np.stack(windows).astype(np.float32)


def build_passt(weights_path: Path | None) -> torch.nn.Module:
    """hear21passt's mel + net as ``PasstBasicWrapper(mode='logits')``, weights from a local official ``.pt``."""
    with contextlib.redirect_stdout(io.StringIO()):  # hear21passt prints banners while building
        from hear21passt.models import passt as passt_module
        from hear21passt.models.preprocess import AugmentMelSTFT
        from hear21passt.wrapper import PasstBasicWrapper

        net = passt_module.get_model(arch=ARCH, pretrained=False, n_classes=527, in_channels=1, fstride=10,
                                     tstride=10, input_fdim=128, input_tdim=998, u_patchout=0, s_patchout_t=0,
                                     s_patchout_f=0)
    if weights_path is not None:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        net.load_state_dict(passt_module.checkpoint_filter_fn(state, net), strict=True)
    passt_module.first_RUN = False  # silences its debug prints on the first forward
    mel = AugmentMelSTFT(n_mels=128, sr=SR, win_length=800, hopsize=320, n_fft=1024, freqm=48, timem=192,
                         htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10, fmax_aug_range=2000)
    return PasstBasicWrapper(mel=mel, net=net, mode="logits").eval()


class PasstEmbedder(Embedder):
    """``prepare`` -> ``[n_windows, W]``; ``embed`` -> ``[527]`` class probabilities per file."""

    name = "passt-s-swa-ap476"
    sample_rate = SR

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 16, *,
                 model: torch.nn.Module | None = None):
        super().__init__(weights_path, device, batch_size)
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {"sr": SR, "window_s": 10, "hop_s": 5, "pad_rule": ">1.5s", "collect": "mean-logits-softmax"}

    def prepare(self, path: str) -> np.ndarray:
        return passt_windows(load_mono(path, SR))

    def build(self) -> torch.nn.Module:
        return build_passt(self.weights_path).to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        logits: list[torch.Tensor | None] = [None] * len(prepared)
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(prepared):
            by_length.setdefault(p.shape[1], []).append(i)
        for length, members in by_length.items():  # same-length windows share device batches
            windows = torch.from_numpy(np.concatenate([prepared[i] for i in members]))  # [sum n, W]
            out = torch.cat([model(windows[j:j + self.batch_size].to(self.device)).float().cpu()
                             for j in range(0, len(windows), self.batch_size)])  # [sum n, 527]
            start = 0
            for i in members:
                n = prepared[i].shape[0]
                logits[i] = out[start:start + n]
                start += n
        return [torch.softmax(lg.mean(0), dim=0).numpy() for lg in logits]  # mean logits, then one softmax
