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

audiocraft's KL (``audiocraft/metrics/kld.py`` ``PasstKLDivergenceMetric``, ``segments="audiocraft"``): the file's
channels resampled to 32 kHz with julius' sinc resampler (:mod:`metrics.files.sinc_resample`), then averaged; no
level normalisation; cut into back-to-back segments of the model's length (``torch.split``: 20 s for
``pretrained_length=20``, hear21passt ``base20sec``, the PaSST-S 20 s SWA model ``passt_20sec``), each segment of
more than 4800 samples (0.15 s) kept, unpadded; ``embed`` gives each kept segment's softmax ``[n_segments, 527]``
(audiocraft compares segment k of a generated file with segment k of its reference).

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
from sa_util.audio import AUDIO_RULES, AudioError, read_audio
from sa_util.state_dict import load_state_strict, read_weights

SR = 32000
WINDOW = 10 * SR
STEP = 5 * SR
MIN_PAD = int(0.15 * WINDOW)  # windows longer than this (1.5 s) are padded to 10 s
ARCH = "passt_s_swa_p16_128_ap476"
EXPECTED = "the PaSST-S SWA AudioSet state dict passt-s-f128-p16-s10-ap.476-swa.pt"


@dataclasses.dataclass(frozen=True)
class PasstNet:
    """One released PaSST network: hear21passt's ``get_model`` arch, the mel frames of its time positional encoding
    (``input_tdim``), its classes, and the release's state dict (named in errors)."""

    arch: str
    tdim: int
    expected: str
    classes: int = 527


# metrics.embedding.weights registry name -> the network its file holds (the tdim and classes kadtk 1.1.0 builds
# each with: the OpenMIC and FSD50K models with hear21passt's default 998 frames)
NETS = {"passt-s-swa-ap476": PasstNet(ARCH, 998, EXPECTED),
        "passt-s-20sec-swa-ap474": PasstNet("passt_20sec", 2000, "the PaSST-S 20 s SWA AudioSet state dict "
                                            "passt-s-f128-20sec-p16-s10-ap.474-swa.pt"),
        "passt-s-30sec-swa-ap473": PasstNet("passt_30sec", 3000, "the PaSST-S 30 s SWA AudioSet state dict "
                                            "passt-s-f128-30sec-p16-s10-ap.473-swa.pt"),
        "passt-openmic-ap85": PasstNet("openmic", 998, "the PaSST-S OpenMIC-2008 state dict "
                                       "openmic-passt-s-f128-10sec-p16-s10-ap.85.pt", classes=20),
        "passt-fsd50k-ap655": PasstNet("fsd50k", 998, "the PaSST-S FSD50K state dict "
                                       "fsd50k-passt-s-f128-p16-s10-ap.655.pt", classes=200)}
MODELS = {10: "passt-s-swa-ap476", 20: "passt-s-20sec-swa-ap474"}  # pretrained_length (s) -> NETS key
AUDIOCRAFT_MIN = int(0.15 * SR)  # audiocraft keeps a segment only when it is longer than this
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


def build_passt(weights_path: Path | None, pretrained_length: int = 10, *, net: str | None = None,
                mode: str = "logits") -> torch.nn.Module:
    """hear21passt's mel + net as ``PasstBasicWrapper(mode=mode)``, weights from a local official ``.pt``; the
    10 s model, or the 20 s one (hear21passt ``base20sec``) for ``pretrained_length=20``, or any :data:`NETS`
    entry by name. ``mode='all'``: ``[B, classes + 768]`` = [logits | features] (kadtk's PaSST output)."""
    spec = NETS[net or MODELS[pretrained_length]]
    state = read_weights(weights_path, spec.expected) if weights_path is not None else None  # fails fast if damaged
    with contextlib.redirect_stdout(io.StringIO()):  # hear21passt prints banners while building
        from hear21passt.models import passt as passt_module
        from hear21passt.models.preprocess import AugmentMelSTFT
        from hear21passt.wrapper import PasstBasicWrapper

        model = passt_module.get_model(arch=spec.arch, pretrained=False, n_classes=spec.classes, in_channels=1,
                                       fstride=10, tstride=10, input_fdim=128, input_tdim=spec.tdim, u_patchout=0,
                                       s_patchout_t=0, s_patchout_f=0)
    if weights_path is not None:
        try:
            state = passt_module.checkpoint_filter_fn(state, model)
        except Exception as exc:  # it indexes and reshapes whatever it is given
            raise ValueError(f"{weights_path}: not a PaSST state dict ({type(exc).__name__}); expected "
                             f"{spec.expected}") from exc
        load_state_strict(model, state, weights_path, spec.expected)
    passt_module.first_RUN = False  # silences its debug prints on the first forward
    with contextlib.redirect_stdout(io.StringIO()):  # "Warning: FMAX is None setting to 15000" on stdout
        mel = AugmentMelSTFT(n_mels=128, sr=SR, win_length=800, hopsize=320, n_fft=1024, freqm=48, timem=192,
                             htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10, fmax_aug_range=2000)
    return PasstBasicWrapper(mel=mel, net=model, mode=mode).eval()


def audiocraft_signal(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[C, T]`` as read -> ``[T']`` 32 kHz: julius' resampler per channel, then the channel mean
    (audiocraft ``convert_audio(wav, sr, 32000, to_channels=1)``)."""
    from metrics.files.sinc_resample import resample_sinc

    y = resample_sinc(torch.from_numpy(np.ascontiguousarray(x, np.float32)), sample_rate, SR)
    return y.mean(0).numpy()


def audiocraft_segments(signal: torch.Tensor, length: int) -> list[torch.Tensor]:
    """``[T]`` -> the back-to-back ``length``-sample segments of more than 4800 samples (``torch.split``, views)."""
    return [s for s in torch.split(signal, length) if len(s) > AUDIOCRAFT_MIN]


class PasstEmbedder(Embedder):
    """``prepare`` -> ``[L]`` padded 32 kHz signal; ``embed`` -> ``[527]`` class probabilities per file.

    ``pretrained_length=20, segments="audiocraft"``: audiocraft's KL input (module docstring); ``embed`` gives
    ``[n_segments, 527]`` per file."""

    name = "passt-s-swa-ap476"
    sample_rate = SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 16, *,
                 model: torch.nn.Module | None = None, pretrained_length: int = 10, segments: str = "sam"):
        super().__init__(weights_path, device, batch_size)
        if pretrained_length not in MODELS or segments not in ("sam", "audiocraft"):
            raise ValueError(f"PaSST: pretrained_length {pretrained_length!r} (10 or 20), segments {segments!r} "
                             "(sam or audiocraft)")
        self._model = model
        self.pretrained_length, self.segments = pretrained_length, segments
        if (pretrained_length, segments) != (10, "sam"):
            self.name = f"passt-{pretrained_length}s-{segments}"

    def settings(self) -> dict[str, Any]:
        if self.segments == "audiocraft":
            return {"sr": SR, "model_s": self.pretrained_length, "segments": "back to back, unpadded",
                    "min_segment_samples": AUDIOCRAFT_MIN + 1, "resampler": "julius sinc", "downmix": "after",
                    "level": "as read", "collect": "softmax per segment"}
        return {"sr": SR, "window_s": 10, "hop_s": 5, "pad_rule": ">1.5s", "collect": "mean-logits-softmax",
                **({"model_s": self.pretrained_length} if self.pretrained_length != 10 else {})}

    def prepare(self, path: str) -> np.ndarray:
        if self.segments == "sam":
            return passt_signal(load_mono(path, SR, self.input_rules))
        audio = read_audio(path, self.input_rules)
        x = audiocraft_signal(audio.samples, audio.sample_rate)
        if not audiocraft_segments(torch.from_numpy(x), self.pretrained_length * SR):
            raise AudioError(f"no segment longer than 0.15 s at 32 kHz ({len(x)} samples): audiocraft's KL drops "
                             "such audio")
        return x

    def build(self) -> torch.nn.Module:
        return use_fused_attention(build_passt(self.weights_path, self.pretrained_length)).to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        if self.segments == "audiocraft":
            length = self.pretrained_length * SR
            pieces = [(i, seg[None]) for i, p in enumerate(prepared)
                      for seg in audiocraft_segments(torch.from_numpy(p), length)]
        else:
            pieces = [(i, signal_windows(torch.from_numpy(p))) for i, p in enumerate(prepared)]  # [n, W] views
        per_file: list[list[torch.Tensor]] = [[] for _ in prepared]
        for (i, _), out in zip(pieces, self.logits([w for _, w in pieces])):
            per_file[i].append(out)
        logits = [torch.cat(parts) for parts in per_file]  # [n, 527] per file, in time order
        if self.segments == "audiocraft":
            return [torch.softmax(lg, dim=-1).numpy() for lg in logits]  # one distribution per segment
        return [torch.softmax(lg.mean(0), dim=0).numpy() for lg in logits]  # mean logits, then one softmax

    def logits(self, windows: list[torch.Tensor]) -> list[torch.Tensor]:
        """``[n_i, W_i]`` row blocks -> their ``[n_i, 527]`` logits; blocks of one width share device batches."""
        model = self.load()
        out: list[torch.Tensor | None] = [None] * len(windows)
        by_length: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_length.setdefault(w.shape[1], []).append(i)
        for members in by_length.values():
            for i, lg in zip(members, embed_windows(model, [windows[i] for i in members], self.batch_size,
                                                    self.device)):
                out[i] = lg
        return out
