"""VGGish (128-d, 0.96 s examples) in PyTorch, reading the torchvggish release weights, for FAD as fadtk computes it.

Weights: ``vggish-10086976.pth`` (the torchvggish v0.1 release, a plain state dict converted from Google's TF
``vggish_model.ckpt``) and, for the PCA variant only, ``vggish_pca_params-970ea276.pth`` (``pca_eigen_vectors``
[128, 128], ``pca_means`` [128], NumPy arrays). ``python -m metrics.weights download vggish vggish-pca``.

Default protocol ``fadtk`` (fadtk 1.1.0 ``VGGishModel(use_pca=False, use_activation=False)``), per file:
  read, channel mean -> 16 kHz with torchaudio's Resample (sinc_interp_kaiser, lowpass_filter_width 64,
  rolloff 0.9475937, beta 14.769656: librosa's "kaiser_best" numbers) -> 16-bit PCM round trip (fadtk caches the
  converted file as a PCM_S16 wav and reads it back as int16 / 32768) -> zero-padded at the end to 1 s if shorter
  -> VGGish log-mel examples -> network without the final ReLU, no PCA -> embeddings rounded to float16 (fadtk
  stores them as float16 .npy). Every example of every file is pooled for the FD.
  Resampler choice: fadtk's ``fad.py`` still holds a SoX/ffmpeg conversion (``sox -r 16000 -c 1 -b 16``, which
  dithers), but 1.1.0 hard-codes ``TORCHAUDIO_RESAMPLING = True``, so that branch never runs; we follow the code
  that runs. torchvggish's own resampy step then sees 16 kHz and does nothing.
  16-bit step: we round to nearest (x * 32768, clipped), as ffmpeg/TorchCodec write it; libsndfile 1.2.2 (the
  soundfile backend) floors instead. Either way the difference is one LSB (3e-5), about -90 dBFS.

Preset ``frechet-audio-distance`` (gudgud96/frechet-audio-distance 0.3.x; the same steps as torchvggish's own
``wavfile_to_examples`` / ``waveform_to_examples(x, sr)`` and audioldm_eval 0.0.3's FAD, which read int16 / 32768 in
float64 instead): read as float32, channel mean, resampy ``kaiser_best`` to 16 kHz (resampy 0.2.2 as
pinned here; resampy >= 0.4 changed that filter), no padding, no 16-bit step, float32 embeddings. A file shorter
than 0.975 s gives no example there and is silently dropped (and one shorter than 25 ms raises inside torchvggish);
here both are skipped with a one-line reason.

VGGish input features (torchvggish ``vggish_input`` / Google's ``mel_features``), at 16 kHz:
  frames of 400 samples (25 ms) every 160 (10 ms), no padding -> periodic Hann -> |rfft| with n_fft 512 ->
  64 HTK-mel triangles 125-7500 Hz (triangles linear in mel, DC bin zeroed) -> log(mel + 0.01) ->
  examples of 96 frames every 96 frames; an incomplete last example is dropped. n_examples = n_frames // 96.
Network: 3x3 conv 'same' + ReLU stages 64 | 128 | 256, 256 | 512, 512, each stage followed by 2x2 max-pool
  ([B, 1, 96, 64] -> [B, 512, 6, 4]), flattened in TF channels-last order, then fc 12288->4096 ReLU, 4096->4096
  ReLU, 4096->128 (``fc2``). Google's ``vggish_slim`` ``fc2`` has ``activation_fn=None``; torchvggish appends a
  ReLU, which fadtk, frechet-audio-distance and audioldm_eval drop (``use_activation=False``); torchvggish issue
  #24 reports the port then matches the TF embeddings. ``activation=True`` keeps it.
PCA (``pca=True``; the AudioSet release embeddings): (E - means) @ V.T, clipped to [-2, 2], quantised to 0..255.

How MusicGen's reported FAD differs (audiocraft ``metrics/fad.py`` -> google-research ``frechet_audio_distance``,
TensorFlow ``vggish_model.ckpt``): audio goes through julius ``resample_frac`` to 16 kHz mono, is written as wav
with audiocraft's peak normalisation, then read with scipy as raw int16 and divided by max(0.1, max(x)), so the
largest *positive* sample becomes 1; it is cut into 1 s windows every 0.5 s (``model_step_size`` 8000 samples)
and each window gives one example (its first 0.96 s), so windows overlap by half and files shorter than 1 s give
nothing; the network is the TF graph (same fc2 without ReLU, no PCA); the FD uses the TF tool's float64
mean/covariance accumulators.
None of those steps are reproduced here; the network weights are the same up to the conversion.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedder import Embedder
from metrics.files.audio import resample_kaiser_best, to_mono
from sa_util.audio import AudioError, read_audio
from sa_util.state_dict import load_state_strict, read_weights

SAMPLE_RATE = 16000
STFT_WINDOW = 400  # 25 ms
STFT_HOP = 160  # 10 ms
N_FFT = 512  # next power of two above the window
N_MELS = 64
MEL_FMIN, MEL_FMAX = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s; examples do not overlap
EMBEDDING_DIM = 128
MIN_EXAMPLE_SAMPLES = STFT_WINDOW + (EXAMPLE_FRAMES - 1) * STFT_HOP  # 15600 samples = 0.975 s
FEATURE_PLAN = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")  # conv widths, "M" = 2x2 max-pool
PCA_RANGE = (-2.0, 2.0)
WEIGHTS_NAME, PCA_WEIGHTS_NAME = "vggish", "vggish-pca"  # metrics.embedding.weights registry entries


# ------------------------------------------------------------------------------------------------------------
# Audio to log-mel examples (pure NumPy, float64 as Google's mel_features)


def htk_mel_matrix(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = MEL_FMIN,
                   fmax: float = MEL_FMAX) -> np.ndarray:
    """``[n_fft//2 + 1, n_mels]`` triangles on the HTK mel scale (1127 ln(1 + f/700)), linear in mel, peak 1,
    no area normalisation, DC bin zeroed (Google's ``spectrogram_to_mel_matrix``)."""
    if not 0.0 <= fmin < fmax <= sr / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sr / 2}, got fmin={fmin}, fmax={fmax}")
    hz_to_mel = lambda f: 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)  # noqa: E731
    bins_mel = hz_to_mel(np.linspace(0.0, sr / 2, n_fft // 2 + 1))[:, None]  # [n_freq, 1]
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)  # lower edge, centres..., upper edge
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (centre - lower)
    falling = (upper - bins_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights


def periodic_hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


@functools.lru_cache(maxsize=1)
def _frontend_constants() -> tuple[np.ndarray, np.ndarray]:
    return periodic_hann(STFT_WINDOW), htk_mel_matrix()


def log_mel(x: np.ndarray) -> np.ndarray:
    """16 kHz mono ``[T]`` -> ``[n_frames, 64]`` float64 log-mel, n_frames = 1 + (T - 400) // 160 (0 if T < 400)."""
    window, mel = _frontend_constants()
    x = np.asarray(x, np.float64)
    if x.shape[0] < STFT_WINDOW:
        return np.zeros((0, N_MELS))
    frames = np.lib.stride_tricks.sliding_window_view(x, STFT_WINDOW)[::STFT_HOP]  # [F, 400], a view
    magnitude = np.abs(np.fft.rfft(frames * window, N_FFT))  # [F, 257]
    return np.log(magnitude @ mel + LOG_OFFSET)


def log_mel_examples(x: np.ndarray) -> np.ndarray:
    """16 kHz mono ``[T]`` -> ``[n, 96, 64]`` float32 non-overlapping examples, n = n_frames // 96."""
    spec = log_mel(x)
    n = spec.shape[0] // EXAMPLE_FRAMES
    return spec[:n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, N_MELS).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _kaiser_best_resampler(sr_in: int, sr_out: int) -> nn.Module:
    import torchaudio

    return torchaudio.transforms.Resample(sr_in, sr_out, lowpass_filter_width=64, rolloff=0.9475937167399596,
                                          resampling_method="sinc_interp_kaiser", beta=14.769656459379492)


def resample_torchaudio_kaiser_best(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` float32 through ``torchaudio.transforms.Resample`` with fadtk 1.1.0's arguments (kernel built in
    float64, applied in float32; output length ceil(T * sr_out / sr_in)). Same rate: unchanged."""
    if sr_in == sr_out:
        return x
    with torch.no_grad():
        y = _kaiser_best_resampler(sr_in, sr_out)(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
    return y.numpy()


def quantise_pcm16(x: np.ndarray) -> np.ndarray:
    """Write-then-read as 16-bit PCM: round(x * 32768) clipped to int16, divided by 32768 (float32)."""
    return (np.clip(np.round(x * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


def pad_to_length(x: np.ndarray, n: int) -> np.ndarray:
    """``[C, T]`` zero-padded at the end to at least ``n`` samples (fadtk ``enforce_min_len``)."""
    return np.pad(x, ((0, 0), (0, max(0, n - x.shape[-1]))))


RESAMPLERS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "torchaudio-kaiser-best": resample_torchaudio_kaiser_best,  # fadtk 1.1.0
    "resampy-kaiser-best": resample_kaiser_best,  # torchvggish's waveform_to_examples, frechet-audio-distance
}


@dataclass(frozen=True)
class VGGishConfig:
    """Everything that changes the embeddings besides the weights (see the module docstring for the presets)."""

    resampler: str = "torchaudio-kaiser-best"  # a RESAMPLERS key; applied after the channel mean
    pcm16: bool = True  # 16-bit PCM round trip after resampling
    min_seconds: float = 1.0  # zero-pad shorter audio to this length (after resampling)
    activation: bool = False  # keep torchvggish's ReLU after fc2
    pca: bool = False  # PCA + 8-bit quantisation (needs vggish_pca_params-970ea276.pth)
    float16: bool = True  # round the embeddings through float16

    def __post_init__(self) -> None:
        if self.resampler not in RESAMPLERS:
            raise ValueError(f"unknown resampler {self.resampler!r}; choose from {sorted(RESAMPLERS)}")
        if not 0.0 <= self.min_seconds <= 600.0:
            raise ValueError(f"min_seconds must be in [0, 600], got {self.min_seconds}")


PRESETS: dict[str, VGGishConfig] = {
    "fadtk": VGGishConfig(),
    "frechet-audio-distance": VGGishConfig(resampler="resampy-kaiser-best", pcm16=False, min_seconds=0.0,
                                           float16=False),
}


def prepare_examples(samples: np.ndarray, sample_rate: int, config: VGGishConfig) -> np.ndarray:
    """``[C, T]`` audio at any rate -> ``[n, 96, 64]`` log-mel examples; AudioError if too short for one."""
    x = RESAMPLERS[config.resampler](to_mono(samples), sample_rate, SAMPLE_RATE)  # [1, T16]
    if config.pcm16:
        x = quantise_pcm16(x)
    x = pad_to_length(x, int(math.ceil(config.min_seconds * SAMPLE_RATE)))
    examples = log_mel_examples(x[0])
    if len(examples) == 0:
        raise AudioError(f"too short for VGGish: {x.shape[-1]} samples at 16 kHz, one 0.96 s example needs "
                         f"{MIN_EXAMPLE_SAMPLES} ({MIN_EXAMPLE_SAMPLES / SAMPLE_RATE:.5g} s)")
    return examples


# ------------------------------------------------------------------------------------------------------------
# Network


class VGGishNet(nn.Module):
    """``[B, 1, 96, 64]`` log-mel examples -> ``[B, 128]``; parameter names as in ``vggish-10086976.pth``."""

    def __init__(self, activation: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for width in FEATURE_PLAN:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(width), 3, padding=1), nn.ReLU(inplace=True)]
                c_in = int(width)
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
                                        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, EMBEDDING_DIM))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)  # [B, 512, 6, 4]
        y = self.embeddings(y.permute(0, 2, 3, 1).flatten(1))  # TF flattens channels-last: [B, 6 * 4 * 512]
        return torch.relu(y) if self.activation else y


class PcaQuantiser(nn.Module):
    """``[B, 128]`` -> ``[B, 128]`` in 0..255: V (E - means), clipped to [-2, 2], scaled to 8 bits and rounded."""

    def __init__(self, eigen_vectors: torch.Tensor, means: torch.Tensor):
        super().__init__()
        self.register_buffer("eigen_vectors", eigen_vectors.float().reshape(EMBEDDING_DIM, EMBEDDING_DIM))
        self.register_buffer("means", means.float().reshape(EMBEDDING_DIM, 1))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        lo, hi = PCA_RANGE
        projected = (self.eigen_vectors @ (e.t() - self.means)).t()
        return torch.round((projected.clamp(lo, hi) - lo) * (255.0 / (hi - lo)))


class VGGish(nn.Module):
    """Network, then the optional PCA: ``[B, 1, 96, 64]`` -> ``[B, 128]``."""

    def __init__(self, net: VGGishNet, pca: PcaQuantiser | None = None):
        super().__init__()
        self.net, self.pca = net, pca

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.net(x)
        return self.pca(e) if self.pca is not None else e


VGGISH_STATE = "the torchvggish state dict (features.*, embeddings.*; vggish-10086976.pth)"


def load_vggish_weights(net: VGGishNet, path: Path) -> None:
    """Load the torchvggish release state dict (``torch.load(weights_only=True)``) into ``net``, strictly, as
    float32. A ``net`` built on the meta device takes the loaded tensors as its parameters."""
    state = read_weights(path, VGGISH_STATE)
    if isinstance(state, dict):
        state = {key: value.float() if isinstance(value, torch.Tensor) else value for key, value in state.items()}
    load_state_strict(net, state, path, VGGISH_STATE)


def _numpy_array_globals() -> list[Any]:
    """What a pickled float NumPy array needs, for ``torch.serialization.safe_globals``."""
    from numpy.core.multiarray import _reconstruct

    return [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
            type(np.dtype(np.float64)), type(np.dtype(np.float32))]


def load_pca_params(path: Path) -> PcaQuantiser:
    """``vggish_pca_params-970ea276.pth``: ``{'pca_eigen_vectors': [128, 128], 'pca_means': [128]}``, NumPy arrays
    (as released) or tensors, read with ``torch.load(weights_only=True)`` allowing plain float arrays only."""
    params = read_weights(path, "pca_eigen_vectors [128, 128] and pca_means [128] (vggish_pca_params-970ea276.pth)",
                          _numpy_array_globals())
    sizes = {"pca_eigen_vectors": EMBEDDING_DIM ** 2, "pca_means": EMBEDDING_DIM}
    if not isinstance(params, dict) or any(np.size(params.get(k, ())) != n for k, n in sizes.items()):
        raise ValueError(f"{path}: expected pca_eigen_vectors [128, 128] and pca_means [128] "
                         "(vggish_pca_params-970ea276.pth)")
    return PcaQuantiser(torch.as_tensor(np.asarray(params["pca_eigen_vectors"])),
                        torch.as_tensor(np.asarray(params["pca_means"])))


# ------------------------------------------------------------------------------------------------------------
# Embedder


class VGGishEmbedder(Embedder):
    """FAD frames: ``prepare`` -> ``[n, 96, 64]`` examples; ``embed`` -> ``[n, 128]`` float32 per file."""

    sample_rate = SAMPLE_RATE

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 64, *,
                 config: VGGishConfig | str = "fadtk", pca_path: Path | None = None, model: VGGish | None = None):
        super().__init__(weights_path, device, batch_size)
        if isinstance(config, str):
            if config not in PRESETS:
                raise ValueError(f"unknown VGGish preset {config!r}; choose from {sorted(PRESETS)}")
            config = PRESETS[config]
        self.config = config
        if pca_path is None and weights_path is not None:
            from metrics.embedding.weights import REGISTRY

            pca_path = Path(weights_path).parent / REGISTRY[PCA_WEIGHTS_NAME].filename
        self.pca_path = pca_path if config.pca else None
        self.name = "vggish" + ("-relu" if config.activation else "") + ("-pca" if config.pca else "")
        self._model = model

    def settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def weights_id(self) -> str:
        if self._weights_id is None:
            from sa_util.files import file_sha256

            self._weights_id = super().weights_id()
            if self.pca_path is not None:
                self._weights_id += "+" + file_sha256(self.pca_path)
        return self._weights_id

    def prepare(self, path: str) -> np.ndarray:
        audio = read_audio(path)
        return prepare_examples(audio.samples, audio.sample_rate, self.config)

    def build(self) -> VGGish:
        with torch.device("meta"):  # no random init of 72M parameters that the file replaces anyway
            net = VGGishNet(activation=self.config.activation)
        load_vggish_weights(net, self.weights_path)
        pca = load_pca_params(self.pca_path) if self.pca_path is not None else None
        # channels_last convolutions: 1.32x on CPU (oneDNN; benchmarks/speed/test_compile_speed.py "other-layout"), the
        # layout tensor cores want on GPU
        return VGGish(net, pca).eval().to(self.device, memory_format=torch.channels_last)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        if not prepared:
            return []
        model = self.load()
        examples = torch.from_numpy(np.concatenate(prepared)).unsqueeze(1)  # [sum n, 1, 96, 64]
        batches = (examples[i:i + self.batch_size].to(self.device).contiguous(memory_format=torch.channels_last)
                   for i in range(0, len(examples), self.batch_size))
        out = torch.cat([model(b).float().cpu() for b in batches]).numpy()
        if self.config.float16:
            out = out.astype(np.float16).astype(np.float32)
        return np.split(out, np.cumsum([len(p) for p in prepared])[:-1])
