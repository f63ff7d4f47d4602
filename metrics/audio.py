"""Audio input for the metrics: decode, validate, peak-normalise, resample.

Every metric of the protocol (metrics-protocol.md §0-§3) starts from these steps, in a metric-specific order:

* FD_openl3: read all channels -> peak-normalise -> soxr HQ to 44.1 kHz -> (per channel) resampy kaiser_best to 48 kHz.
* KL_passt:  read, mean downmix, soxr HQ to 32 kHz (librosa.load(sr=32000, mono=True)) -> peak-normalise.
* CLAP:      read, mean downmix, soxr HQ to 48 kHz (librosa.load(sr=48000, mono=True)) -> peak-normalise -> int16 round trip.

Arrays are channels-first: ``[C, T]`` float32. Bad input raises :class:`AudioError` with a one-line reason,
which the pipeline records per file; no NaN ever leaves this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

PEAK_DBFS = -1.0  # pyloudnorm.normalize.peak(audio, -1.0), applied to every file (protocol §0)
SILENCE_PEAK = 1e-8  # a file whose absolute peak is below this is "silent" (the reference would divide by ~0)


class AudioError(ValueError):
    """A file that cannot be evaluated; ``str(err)`` is the one-line reason shown in reports."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # [C, T] float32
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def read_audio(path: str | Path, max_channels: int = 2) -> Audio:
    """Decode WAV/FLAC/OGG/MP3 with libsndfile and validate it.

    Returns:
        Audio with samples ``[C, T]`` float32 (C = 1 or 2), at the file's own rate.
    Raises:
        AudioError: unreadable, empty, non-finite, silent, or more than ``max_channels`` channels.
    """
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [T, C]
    except Exception as exc:  # libsndfile raises several types; the message is what matters
        raise AudioError(f"unreadable audio ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})") from exc
    samples = np.ascontiguousarray(data.T)  # [C, T]
    check_audio(samples, sr, max_channels=max_channels)
    return Audio(samples, int(sr))


def check_audio(samples: np.ndarray, sample_rate: int, max_channels: int = 2) -> None:
    """Raise AudioError unless ``samples`` ``[C, T]`` is evaluable audio."""
    if sample_rate <= 0:
        raise AudioError(f"invalid sample rate {sample_rate}")
    if samples.ndim != 2:
        raise AudioError(f"expected [channels, time] audio, got shape {samples.shape}")
    channels, length = samples.shape
    if channels == 0 or length == 0:
        raise AudioError("empty audio (0 samples)")
    if channels > max_channels:
        raise AudioError(f"{channels} channels; only mono or stereo is supported")
    if not np.isfinite(samples).all():
        raise AudioError("audio contains NaN or infinite samples")
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        raise AudioError("silent audio (all samples are zero)")


def peak_normalise(x: np.ndarray, target_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """One gain for all channels so that max |x| = 10**(target/20) (pyloudnorm.normalize.peak)."""
    peak = float(np.abs(x).max())
    if peak < SILENCE_PEAK:
        raise AudioError("silent audio (cannot peak-normalise)")
    return (x * (10.0 ** (target_dbfs / 20.0) / peak)).astype(np.float32)


def to_mono(x: np.ndarray) -> np.ndarray:
    """``[C, T] -> [1, T]`` channel mean (librosa.to_mono)."""
    return x.mean(axis=0, keepdims=True, dtype=np.float32)


def resample_soxr(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` soxr 'HQ' resampling (python-soxr default; librosa's default ``soxr_hq``). Same rate: unchanged."""
    if sr_in == sr_out:
        return x
    import soxr

    return np.ascontiguousarray(soxr.resample(x.T, sr_in, sr_out, quality="HQ").T.astype(np.float32))


def resample_kaiser_best(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` resampy 0.2.2 ``kaiser_best`` (what openl3 0.4.2 runs before its model). Same rate: unchanged.

    resampy 0.4's kaiser_best is a different filter and moves OpenL3 embeddings by ~8 % (protocol §9), so the
    package pins resampy 0.2.2.
    """
    if sr_in == sr_out:
        return x
    import resampy

    return np.ascontiguousarray(resampy.resample(x, sr_in, sr_out, filter="kaiser_best", axis=-1).astype(np.float32))


def resample_librosa(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` as librosa.resample(res_type='soxr_hq'): soxr HQ, then zero-padded or cut to
    ``ceil(T * (sr_out / sr_in))`` computed in floating point (44.1 -> 48 kHz of 4 s gives 192001 samples)."""
    if sr_in == sr_out:
        return x
    y = resample_soxr(x, sr_in, sr_out)
    n = int(np.ceil(x.shape[-1] * (sr_out / sr_in)))
    return np.pad(y, ((0, 0), (0, max(0, n - y.shape[-1]))))[:, :n]


def load_mono(path: str | Path, sample_rate: int) -> np.ndarray:
    """librosa.load(path, sr=sample_rate, mono=True) then peak-normalise: ``[T]`` float32 (KL and CLAP paths)."""
    audio = read_audio(path)
    mono = resample_librosa(to_mono(audio.samples), audio.sample_rate, sample_rate)
    return peak_normalise(mono)[0]


def int16_roundtrip(x: np.ndarray) -> np.ndarray:
    """clip to [-1, 1], scale by 32767, truncate to int16, scale back (laion_clap's float32_to_int16 pair)."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / np.float32(32767.0)
