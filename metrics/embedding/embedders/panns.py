"""PANNs CNN14 (AudioSet tagger) as audioldm_eval runs it: one forward per file gives both the 2048-d clip
embedding (FD) and the 527 AudioSet logits (KL softmax / sigmoid, IS).

Reference: audioldm_eval 0.0.3 ``EvaluationHelper`` (CNN14 backbone) over PANNs' ``Cnn14``
(qiuqiangkong/audioset_tagging_cnn) with the torchlibrosa 0.1.0 front-end; other-protocols.md.
Our own port: no torchlibrosa, the official checkpoint loads strictly (``torch.load(weights_only=True)``).

Per file (audioldm_eval ``WaveDataset.read_from_file``), in :func:`prepare_panns`:
  decode -> first channel only -> minus its mean (DC) -> ``torchaudio.functional.resample`` to the model rate,
  called exactly as audioldm_eval calls it (defaults: sinc_interp_hann, lowpass_filter_width 6, rolloff 0.99)
  -> zero-padded at the end to at least 32,000 samples (2 s at 16 kHz, 1 s at 32 kHz). No gain change, no clipping.
Network (eval mode; ``Cnn14``), for the 16 kHz model (32 kHz: n_fft 1024, hop 320, fmax 14 kHz):
  STFT: reflect-pad n_fft/2 on both sides, frames every ``hop`` samples, periodic-Hann-windowed DFT as two Conv1d
    (torchlibrosa's layout; the kernels are the ones stored in the checkpoint) -> power ``re^2 + im^2``
  log-mel: power @ melW (Slaney mel 50 Hz..fmax, 64 bins, the checkpoint's matrix) -> 10 log10(max(., 1e-10))
    (ref 1.0, no top_db)
  bn0: BatchNorm over the 64 mel bins
  6 conv blocks of (3x3 conv, BN, ReLU) x 2 then 2x2 average pooling (1x1 after the last): 64 ... 2048 channels
  mean over mel -> max over time + mean over time -> fc1 -> ReLU  = the "2048" embedding
  fc_audioset(embedding)                                          = the "logits" [527]

Cached per-file output (one forward): a float32 vector ``[2575]`` = ``[embedding (2048) | logits (527)]``;
:func:`split_output` separates them. FD uses the embeddings, KL and IS the logits (metrics.scores.distances).

Batching: CNN14 pools over time, so zero-padding a file up to a longer batch-mate would change its output.
``embed`` puts files of exactly equal prepared length in one device batch and never pads files together.

Where we differ from audioldm_eval on purpose: decoding is libsndfile (``sa_util.audio.read_audio``), not
``torchaudio.load``; an unreadable, empty or silent file is an error recorded for that file, where audioldm_eval's
dataset silently substitutes the next file in the folder.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedder import Embedder, equal_length_batches
from metrics.embedding.embedders.openl3 import slaney_mel_filterbank
from sa_util.audio import read_audio
from sa_util.state_dict import load_state_strict, read_weights

MIN_SAMPLES = 32000  # audioldm_eval pad_short_audio: at the model rate
EMBED_DIM = 2048
N_CLASSES = 527
OUTPUT_DIM = EMBED_DIM + N_CLASSES
CHANNELS = (64, 128, 256, 512, 1024, 2048)
AMIN = 1e-10


@dataclass(frozen=True)
class Cnn14Config:
    """One CNN14 variant: the front-end settings and the weight file trained with them."""

    sample_rate: int
    n_fft: int  # = window size
    hop: int
    fmax: float
    weights: str  # metrics.embedding.weights.REGISTRY name
    mel_bins: int = 64
    fmin: float = 50.0
    classes: int = N_CLASSES


CONFIGS: dict[int, Cnn14Config] = {
    16000: Cnn14Config(16000, 512, 160, 8000.0, "panns-cnn14-16k"),  # Cnn14_16k_mAP=0.438.pth (default)
    32000: Cnn14Config(32000, 1024, 320, 14000.0, "panns-cnn14-32k"),  # Cnn14_mAP=0.431.pth
}


def config_for(sample_rate: int) -> Cnn14Config:
    try:
        return CONFIGS[sample_rate]
    except KeyError:
        raise ValueError(f"PANNs CNN14 runs at {' or '.join(map(str, CONFIGS))} Hz, not {sample_rate}") from None


def split_output(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[..., 2575]`` cached outputs -> (embeddings ``[..., 2048]``, logits ``[..., 527]``) (views)."""
    out = np.asarray(out)
    if out.shape[-1] != OUTPUT_DIM:
        raise ValueError(f"expected PANNs outputs of width {OUTPUT_DIM} (2048 embedding + 527 logits), "
                         f"got shape {out.shape}")
    return out[..., :EMBED_DIM], out[..., EMBED_DIM:]


# ------------------------------------------------------------------------------------------------------------
# Input


def resample_torchaudio(x: torch.Tensor, sr_in: int, sr_out: int) -> torch.Tensor:
    """``[C, T]`` ``torchaudio.functional.resample`` with its defaults (audioldm_eval's call). Same rate: unchanged."""
    if sr_in == sr_out:
        return x
    import torchaudio.functional

    return torchaudio.functional.resample(x, orig_freq=sr_in, new_freq=sr_out)


def prepare_panns(path: str | Path, sample_rate: int) -> np.ndarray:
    """audioldm_eval's file loading: ``[T]`` float32 at ``sample_rate``, T >= 32000 (see module docstring).

    Raises sa_util.audio.AudioError on unreadable, empty, silent or non-finite files.
    """
    audio = read_audio(path)
    x = torch.from_numpy(audio.samples[0:1])  # [1, T]: first channel only
    x = x - x.mean()  # the same float32 torch reduction audioldm_eval runs
    x = resample_torchaudio(x, audio.sample_rate, sample_rate)
    if x.shape[-1] < MIN_SAMPLES:
        x = nn.functional.pad(x, (0, MIN_SAMPLES - x.shape[-1]))
    return np.ascontiguousarray(x[0].numpy(), dtype=np.float32)


# ------------------------------------------------------------------------------------------------------------
# Network (parameter names follow the official checkpoint's state dict)


def dft_kernels(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Periodic-Hann-windowed DFT rows as Conv1d kernels: (real, imag), each ``[n_fft//2 + 1, 1, n_fft]`` float32.

    real[k, 0, n] = w[n] cos(2 pi k n / N), imag[k, 0, n] = -w[n] sin(2 pi k n / N) (torchlibrosa's STFT layout);
    ``k n mod N`` is taken before the angle, in float64, so the large-argument rounding stays out.
    """
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)  # periodic Hann (scipy get_window fftbins=True)
    angle = 2.0 * np.pi * ((k[:, None] * n[None, :]) % n_fft) / n_fft
    real = (np.cos(angle) * window)[:, None, :]
    imag = (-np.sin(angle) * window)[:, None, :]
    return real.astype(np.float32), imag.astype(np.float32)


class DftConv(nn.Module):
    """``[B, T]`` -> real, imag ``[B, F, frames]``: centred (reflect-padded) framed DFT as two strided Conv1d."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft = n_fft
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        real, imag = dft_kernels(n_fft)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(real))
            self.conv_imag.weight.copy_(torch.from_numpy(imag))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = nn.functional.pad(x[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        return self.conv_real(x), self.conv_imag(x)


class PowerSpectrogram(nn.Module):
    """``[B, T]`` -> ``[B, 1, frames, F]`` power spectrogram (holds ``stft.conv_real`` / ``stft.conv_imag``)."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.stft = DftConv(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real, imag = self.stft(x)  # [B, F, frames]
        return (real ** 2 + imag ** 2).transpose(1, 2)[:, None]


class LogMel(nn.Module):
    """``[B, 1, frames, F]`` power -> ``[B, 1, frames, mels]`` 10 log10(max(power @ melW, 1e-10)) (ref 1, no top_db)."""

    def __init__(self, cfg: Cnn14Config):
        super().__init__()
        mel = slaney_mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.mel_bins, cfg.fmin, cfg.fmax)
        self.register_buffer("melW", torch.from_numpy(mel))  # [F, mels]

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=AMIN))


def fold_conv_bn(module: nn.Module, pairs: tuple[tuple[str, str], ...] = (("conv1", "bn1"), ("conv2", "bn2"))) -> None:
    """For inference (eval mode): each batch norm ``module.<bn>`` folded into the convolution ``module.<conv>`` before
    it and replaced by an identity, the same affine map with one pass over the activations fewer (outputs move by
    float rounding only)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for conv, bn in pairs:
        setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, bn)))
        setattr(module, bn, nn.Identity())


class ConvBlock(nn.Module):
    """(3x3 conv, BN, ReLU) x 2 then average pooling by ``pool`` (p x p, or (p_t, p_f)):
    ``[B, C_in, t, f] -> [B, C_out, t/p_t, f/p_f]``."""

    def __init__(self, c_in: int, c_out: int, pool: int | tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pool = (pool, pool) if isinstance(pool, int) else pool

    def fold_batchnorm(self) -> None:
        """Both BNs folded into their convolutions (:func:`fold_conv_bn`)."""
        fold_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu_(self.bn1(self.conv1(x)))  # in place: a fresh tensor, and saves a [B, C, t, f] allocation
        x = torch.relu_(self.bn2(self.conv2(x)))
        return nn.functional.avg_pool2d(x, self.pool) if self.pool != (1, 1) else x


class Cnn14(nn.Module):
    """``[B, T]`` audio at ``cfg.sample_rate`` -> (embedding ``[B, 2048]``, logits ``[B, 527]``). Inference only."""

    def __init__(self, cfg: Cnn14Config):
        super().__init__()
        self.cfg = cfg
        self.spectrogram_extractor = PowerSpectrogram(cfg.n_fft, cfg.hop)
        self.logmel_extractor = LogMel(cfg)
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        c_in = 1
        for i, c in enumerate(CHANNELS, start=1):
            setattr(self, f"conv_block{i}", ConvBlock(c_in, c, pool=2 if i < len(CHANNELS) else 1))
            c_in = c
        self.fc1 = nn.Linear(EMBED_DIM, EMBED_DIM)
        self.fc_audioset = nn.Linear(EMBED_DIM, cfg.classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> ``[B, 1, frames, mels]`` bn0-normalised log-mel."""
        x = self.logmel_extractor(self.spectrogram_extractor(x))
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)  # BN over the mel axis

    def conv_blocks(self, x: torch.Tensor, first: int = 1) -> torch.Tensor:
        """``[B, C, t, f]`` -> ``[B, 2048, t / 2^k, f / 2^k]``: conv blocks ``first`` ... 6 (k of them pool)."""
        for i in range(first, len(CHANNELS) + 1):
            x = getattr(self, f"conv_block{i}")(x)
        return x

    def head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 2048, t, f]`` -> (embedding ``[B, 2048]``, logits ``[B, classes]``)."""
        x = x.mean(dim=3)  # [B, 2048, t]: over mel
        x = x.amax(dim=2) + x.mean(dim=2)  # over time
        embedding = torch.relu(self.fc1(x))
        return embedding, self.fc_audioset(embedding)

    def fold_batchnorm(self) -> None:
        """Every sub-block that can fold its BNs into its convolutions does (:meth:`ConvBlock.fold_batchnorm`, and
        any other block with a ``fold_batchnorm``)."""
        for block in [m for m in self.modules() if m is not self and hasattr(m, "fold_batchnorm")]:
            block.fold_batchnorm()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.conv_blocks(self.features(x)))


# ------------------------------------------------------------------------------------------------------------
# Official checkpoint


def _numpy_globals() -> list[Any]:
    """numpy's array/scalar/dtype constructors, allowlisted for ``weights_only`` loading under both module names
    (training checkpoints may carry numpy data beside the state dict; these rebuild data, never run code)."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:
        from numpy.core import multiarray
    out: list[Any] = [np.ndarray, np.dtype]
    for name in ("_reconstruct", "scalar"):
        fn = getattr(multiarray, name)
        out += [(fn, f"numpy.core.multiarray.{name}"), (fn, f"numpy._core.multiarray.{name}")]
    out += [getattr(np.dtypes, d) for d in dir(np.dtypes) if d.endswith("DType")]
    return out


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of an official PANNs ``.pth`` (``{'model': ..., 'iteration': ..., ...}``), or of a
    plain state dict file, loaded with ``torch.load(weights_only=True)``."""
    ckpt = read_weights(path, "a PANNs checkpoint", _numpy_globals())
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a PANNs checkpoint with a 'model' state dict")
    return state


def _front_end_hint(state: dict[str, torch.Tensor], cfg: Cnn14Config) -> str:
    """Where ``state``'s front-end belongs to another sample rate's CNN14, a note saying to pick that rate."""
    kernel = state.get("spectrogram_extractor.stft.conv_real.weight")
    bins = kernel.shape[0] if kernel is not None else cfg.n_fft // 2 + 1
    other = [c.sample_rate for c in CONFIGS.values() if c.n_fft // 2 + 1 == bins != cfg.n_fft // 2 + 1]
    return f" (its front-end is the {other[0]} Hz model's: pick that sample rate)" if other else ""


def load_cnn14(path: Path, cfg: Cnn14Config) -> Cnn14:
    """CNN14 for ``cfg`` with the weights of ``path`` loaded strictly; a mismatch is a one-line ValueError."""
    state = read_state_dict(path)
    with torch.device("meta"):  # no random init of 80 M parameters that the file replaces anyway
        model = Cnn14(cfg)
    load_state_strict(model, state, path, f"CNN14 at {cfg.sample_rate} Hz{_front_end_hint(state, cfg)}")
    return model.eval().requires_grad_(False)


# ------------------------------------------------------------------------------------------------------------
# Embedder


class PannsEmbedder(Embedder):
    """``prepare`` -> ``[T]`` audio at 16 (or 32) kHz; ``embed`` -> ``[2575]`` = [embedding 2048 | logits 527]."""

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 16, *,
                 sample_rate: int = 16000, model: Cnn14 | None = None):
        super().__init__(weights_path, device, batch_size)
        self.cfg = config_for(sample_rate)
        self.sample_rate = self.cfg.sample_rate
        self.name = f"panns-cnn14-{self.cfg.sample_rate // 1000}k"
        self._model = model

    def settings(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self.cfg).items() if k != "weights"}, "channel": "first",
                "dc": "subtract-mean", "resampler": "torchaudio.functional.resample(defaults)",
                "min_samples": MIN_SAMPLES, "output": "embedding2048+logits527", "layout": "channels_last",
                "batchnorm": "folded"}

    def prepare(self, path: str) -> np.ndarray:
        return prepare_panns(path, self.sample_rate)

    def network(self) -> Cnn14:
        """The network with the weights of ``weights_path``, on the CPU, eval mode."""
        return load_cnn14(self.weights_path, self.cfg)

    def build(self) -> Cnn14:
        # channels-last convolutions: 1.22x on CPU (oneDNN; benchmarks/speed/test_compile_speed.py "other-layout"), the
        # layout tensor cores want on GPU; outputs move by rounding only (1.1e-6 relative), cached under "layout"
        model = self.network()
        model.fold_batchnorm()  # as the reference's eval mode computes it, one pass fewer per block
        return model.to(self.device, memory_format=torch.channels_last)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        results: list[np.ndarray | None] = [None] * len(prepared)
        # equal lengths only: padding would change the time pooling
        for chunk in equal_length_batches(prepared, self.batch_size):
            x = torch.from_numpy(np.stack([prepared[i] for i in chunk])).to(self.device)  # [b, T]
            emb, logits = model(x)
            out = torch.cat([emb, logits], dim=1).float().cpu().numpy()  # [b, 2575]
            for i, row in zip(chunk, out):
                results[i] = row
        return results  # type: ignore[return-value]


__all__ = ["CONFIGS", "Cnn14", "Cnn14Config", "EMBED_DIM", "N_CLASSES", "OUTPUT_DIM", "PannsEmbedder",
           "config_for", "dft_kernels", "load_cnn14", "prepare_panns", "read_state_dict", "split_output"]
