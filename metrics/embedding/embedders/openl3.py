"""OpenL3 (mel256, 512-d) in PyTorch: kapre front-end, the L3 audio CNN, and a reader for the official Keras .h5.

No TensorFlow. Reproduces openl3 0.4.2 + kapre 0.3.7 as stable-audio-metrics runs them (``src/openl3_fd.py``):

front-end, per 1 s window of 48 kHz audio (48000 samples):
  STFT 2048 / hop 242, periodic Hann, zero-padded at the end (tf.signal.stft pad_end=True, not centred) -> 199 frames
  |X| (magnitude, power 1) -> Slaney mel (256 bands, 0-24 kHz, Slaney area norm)
  10*log10(max(S, 1e-10)), minus the window's max, floored at -80 dB  -> [1, 256 mel, 199 t]
network (Keras channels_last, ported to channels_first):
  BN -> 4 blocks of (3x3 conv 'same', BN, ReLU) x2 with 2x2 max-pool after blocks 1-3 (64, 128, 256, 512 ch),
  the last conv ``audio_embedding_layer`` has no BN/ReLU -> max-pool over the whole 32x24 map -> 512-d.
framing (openl3.core): resampy kaiser_best to 48 kHz, 24000 zeros prepended (centre=True), zero-padded at the end so
  (len - 48000) is a multiple of the 24000 hop, windows of 48000 every 24000 samples; < 1 s -> one padded window.
stereo (stable-audio-metrics, channels=2): L and R embedded separately, concatenated per frame -> 1024-d;
  mono files are duplicated into L and R.
``prepare`` returns the padded signal; ``embed`` cuts its overlapping windows as views and feeds them ``batch_size``
at a time, so a long file never has all its windows copied at once. Any input of at least one sample at 48 kHz
can be embedded (shorter than 1 s: one zero-padded window).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedder import Embedder, embed_windows
from metrics.files.audio import peak_normalise, resample_kaiser_best
from sa_util.audio import AUDIO_RULES, check_length, read_audio, resample_soxr
from sa_util.cli import one_line

MODEL_SR = 48000
WINDOW = 48000  # 1 s
N_FFT = 2048
STFT_HOP = 242
N_MELS = 256
DB_FLOOR = -80.0
KERAS_BN_EPS = 1e-3
CHANNELS = (64, 128, 256, 512)
RULES = dataclasses.replace(AUDIO_RULES, model="OpenL3", min_samples=1, model_rate=MODEL_SR)


def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``[n_fft//2 + 1, n_mels]`` Slaney-scale, Slaney-normalised triangular filters (librosa.filters.mel htk=False).

    Mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).
    """
    fmax = sr / 2 if fmax is None else fmax
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
                        f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # band edges, Hz
    fft_f = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]  # [n_mels + 2, n_freq]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # [n_mels, n_freq]
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]  # Slaney: equal area
    return weights.T.astype(np.float32)


class KapreMelFrontend(nn.Module):
    """``[B, 48000]`` audio windows -> ``[B, 1, 256, 199]`` normalised log-mel (kapre 0.3.7 + openl3's dB)."""

    def __init__(self) -> None:
        super().__init__()
        n = torch.arange(N_FFT, dtype=torch.float64)
        self.register_buffer("window", (0.5 - 0.5 * torch.cos(2 * math.pi * n / N_FFT)).float())  # periodic Hann
        self.register_buffer("mel_fb", torch.from_numpy(slaney_mel_filterbank(MODEL_SR, N_FFT, N_MELS)))
        self.n_frames = -(-WINDOW // STFT_HOP)  # pad_end: ceil(48000 / 242) = 199

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape
        pad = (self.n_frames - 1) * STFT_HOP + N_FFT - T
        frames = nn.functional.pad(x, (0, pad)).unfold(-1, N_FFT, STFT_HOP)  # [B, 199, 2048]
        mag = torch.fft.rfft(frames * self.window, n=N_FFT).abs()  # [B, 199, 1025]
        mel = mag @ self.mel_fb  # [B, 199, 256]
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        db = (db - db.amax(dim=(1, 2), keepdim=True)).clamp_min(DB_FLOOR)
        return db.transpose(1, 2).unsqueeze(1)  # [B, 1, 256 mel, 199 t]


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out, eps=KERAS_BN_EPS), nn.ReLU()]


def inference_body(body: nn.Sequential) -> nn.Sequential:
    """``body`` for inference only: each eval-mode BatchNorm that follows a convolution folded into that
    convolution's weights and bias (the same affine map, one pass over the activations fewer; outputs move by float
    rounding only), and the ReLUs in place."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers: list[nn.Module] = []
    for m in body:
        if isinstance(m, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            layers[-1] = fuse_conv_bn_eval(layers[-1], m)
        else:
            layers.append(nn.ReLU(inplace=True) if isinstance(m, nn.ReLU) else m)
    return nn.Sequential(*layers)


class OpenL3Net(nn.Module):
    """The L3 audio CNN: ``[B, 1, 256, 199]`` -> ``[B, 512]``."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.BatchNorm2d(1, eps=KERAS_BN_EPS)]
        c_in = 1
        for i, c in enumerate(CHANNELS):
            layers += _conv_bn_relu(c_in, c)
            if i < len(CHANNELS) - 1:
                layers += _conv_bn_relu(c, c) + [nn.MaxPool2d(2, 2)]
            c_in = c
        layers.append(nn.Conv2d(c_in, c_in, 3, padding=1))  # audio_embedding_layer: no BN, no activation
        self.body = nn.Sequential(*layers)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        y = self.body(spec)  # [B, 512, 32, 24]
        return y.amax(dim=(2, 3))  # MaxPooling2D((32, 24), 'same') over the whole map + Flatten


class OpenL3(nn.Module):
    """Front-end + CNN: ``[B, 48000]`` -> ``[B, 512]``."""

    def __init__(self) -> None:
        super().__init__()
        self.frontend = KapreMelFrontend()
        self.net = OpenL3Net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels_last convolutions: 1.38x on CPU (oneDNN; benchmarks/speed/test_compile_speed.py "other-layout"), the
        # layout tensor cores want on GPU
        return self.net(self.frontend(x).contiguous(memory_format=torch.channels_last))


# ------------------------------------------------------------------------------------------------------------
# Official Keras weights (.h5 written by Keras ``save_weights``; openl3 loads them positionally)


EXPECTED = "expected openl3_audio_mel256_{music,env}.h5 (Keras weights of the mel256 OpenL3 audio model)"


def _weighted_layers(model: OpenL3Net) -> list[nn.Module]:
    return [m for m in model.body if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]


def read_keras_h5(path: Path) -> list[list[np.ndarray]]:
    """The weight arrays of each layer that has weights, in the file's layer order. A file that is not HDF5, not a
    Keras weights file or damaged (e.g. truncated) raises a one-line ValueError naming it."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path} is not a readable HDF5 file ({one_line(exc, typed=True)}); {EXPECTED}") from exc
    with f:
        try:
            root = f["model_weights"] if "model_weights" in f else f  # full-model saves nest the weights
            if "layer_names" not in root.attrs:
                raise ValueError(f"{path} has no 'layer_names' attribute: not a Keras weights file; {EXPECTED}")
            layers = []
            for raw in root.attrs["layer_names"]:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                names = [w.decode() if isinstance(w, bytes) else str(w)
                         for w in root[name].attrs.get("weight_names", [])]
                if names:
                    layers.append([np.asarray(root[name][w]) for w in names])
        except (OSError, KeyError, RuntimeError, TypeError) as exc:  # h5py's errors for damaged files
            raise ValueError(f"{path} is a damaged HDF5 file ({one_line(exc, typed=True)}); {EXPECTED}") from exc
        return layers


def load_keras_weights(model: OpenL3Net, path: Path) -> None:
    """Copy the official openl3 ``.h5`` weights into ``model`` (positional, as Keras ``load_weights`` does).

    Conv2D: [kernel (kh, kw, in, out), bias]; BatchNormalization: [gamma, beta, moving_mean, moving_variance].
    """
    arrays = read_keras_h5(path)
    targets = _weighted_layers(model)
    if len(arrays) != len(targets):
        raise ValueError(f"{path}: {len(arrays)} layers with weights, the mel256 OpenL3 CNN has {len(targets)}; "
                         f"{EXPECTED}")
    with torch.no_grad():
        for module, weights in zip(targets, arrays):
            if isinstance(module, nn.Conv2d):
                kernel, bias = weights
                tensors = {"weight": torch.from_numpy(kernel).permute(3, 2, 0, 1), "bias": torch.from_numpy(bias)}
            else:
                gamma, beta, mean, var = weights
                tensors = {"weight": torch.from_numpy(gamma), "bias": torch.from_numpy(beta),
                           "running_mean": torch.from_numpy(mean), "running_var": torch.from_numpy(var)}
            for key, value in tensors.items():
                target = getattr(module, key)
                if target.shape != value.shape:
                    raise ValueError(f"{path}: shape {tuple(value.shape)} for {type(module).__name__}.{key}, "
                                     f"expected {tuple(target.shape)}")
                target.copy_(value)


# ------------------------------------------------------------------------------------------------------------
# Framing


def frame_signal(x: np.ndarray, hop_s: float = 0.5) -> np.ndarray:
    """openl3.core framing of 48 kHz audio ``[C, T]`` -> centre/end padded ``[C, L]`` with L = 48000 + k*hop."""
    hop = int(hop_s * MODEL_SR)
    x = np.pad(x, ((0, 0), (WINDOW // 2, 0)))  # centre=True
    length = x.shape[-1]
    pad = WINDOW - length if length < WINDOW else -(-(length - WINDOW) // hop) * hop - (length - WINDOW)
    return np.pad(x, ((0, 0), (0, pad))).astype(np.float32)


def n_windows(padded_length: int, hop_s: float = 0.5) -> int:
    return 1 + (padded_length - WINDOW) // int(hop_s * MODEL_SR)


class OpenL3Embedder(Embedder):
    """FD_openl3 frames: ``prepare`` -> ``[C, L]`` padded 48 kHz signal; ``embed`` -> ``[n_frames, C*512]``."""

    sample_rate = MODEL_SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 64, *,
                 content_type: str = "music", channels: int = 2, input_sr: int = 44100, hop_s: float = 0.5,
                 model: OpenL3 | None = None):
        super().__init__(weights_path, device, batch_size)
        if content_type not in ("music", "env"):
            raise ValueError(f"content_type must be 'music' or 'env', got {content_type!r}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.content_type, self.channels, self.input_sr, self.hop_s = content_type, channels, input_sr, hop_s
        self.name = f"openl3-mel256-{content_type}-512"
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {"channels": self.channels, "input_sr": self.input_sr, "hop_s": self.hop_s, "peak_dbfs": -1.0,
                "resampler": "soxr-HQ+resampy0.2.2-kaiser_best", "batchnorm": "folded"}

    def prepare(self, path: str) -> np.ndarray:
        audio = read_audio(path, self.input_rules)
        x = resample_soxr(peak_normalise(audio.samples), audio.sample_rate, self.input_sr)  # [C, T]
        if self.channels == 2 and x.shape[0] == 1:
            x = np.repeat(x, 2, axis=0)  # "fake stereo": the mono signal as L and R
        elif self.channels == 1:
            x = x.mean(0, keepdims=True)  # openl3's own downmix
        x = resample_kaiser_best(x, self.input_sr, MODEL_SR)
        check_length(x.shape[-1], MODEL_SR, self.input_rules)
        return frame_signal(x, self.hop_s)

    def build(self) -> OpenL3:
        model = OpenL3().eval()
        load_keras_weights(model.net, self.weights_path)
        model.net.body = inference_body(model.net.body)  # as TensorFlow's grappler runs it: BN fused into the convs
        return model.to(self.device, memory_format=torch.channels_last)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        hop = int(self.hop_s * MODEL_SR)
        # one segment per (file, channel): [n, 48000] views of the padded signal
        segments = [torch.from_numpy(channel).unfold(-1, WINDOW, hop) for p in prepared for channel in p]
        outs = iter(embed_windows(model, segments, self.batch_size, self.device))  # each [n, 512]
        return [torch.cat([next(outs) for _ in p], dim=1).numpy() for p in prepared]  # [n, C*512]: L then R
