"""Audio files as every layer reads them: check the header, decode, validate.

Arrays are channels-first: ``[C, T]`` float32. Bad input raises :class:`AudioError` with a one-line reason; no NaN or
infinity ever leaves this module. What a file may claim (rate, channels, length) is checked on its header with
``soundfile.info`` before a sample is decoded, against :class:`InputRules` (``AUDIO_RULES``; each evaluator of
:mod:`metrics` narrows them, see ``metrics.embedding.embedder.Embedder.input_rules``).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sa_util.cli import one_line

# What the metric runs pick up in a folder: every container/codec libsndfile decodes that people store audio in.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".caf", ".w64", ".rf64", ".au")

SILENCE_PEAK = 1e-8  # a file whose absolute peak is below this is "silent" (the reference would divide by ~0)
# A float file may hold samples up to 3.4e38; above this peak it is scaled by a power of two to a peak <= 1 (exact,
# and every metric is scale-invariant), so no later sum, mean or filter can overflow float32.
HEADROOM_PEAK = 2.0 ** 32


class AudioError(ValueError):
    """A file that cannot be evaluated; ``str(err)`` is the one-line reason shown in reports."""


@dataclass(frozen=True)
class InputRules:
    """What an evaluator accepts, as data. The header limits are checked before anything is allocated; the
    minimum is also checked on the length the model receives after resampling."""

    model: str = "the metrics"  # who states the rules, for reasons ("shorter than PaSST's minimum ...")
    min_rate: int = 8_000  # Hz: the lowest rate in common use (telephone band)
    max_rate: int = 384_000  # Hz: the highest rate common converters record
    max_channels: int = 2
    max_seconds: float = 20 * 60.0  # longer than any clip of the protocol's sets (Song Describer: ~2 min)
    max_samples: int = 2 * 48_000 * 20 * 60  # frames x channels: 20 min of stereo 48 kHz, 461 MB as float32
    min_samples: int = 1  # at ``model_rate``: the shortest input the model can take
    model_rate: int | None = None  # the rate the model receives (None: the file's own)

    def model_samples(self, frames: int, file_rate: int) -> int:
        """The length ``frames`` at ``file_rate`` has at the model's rate (librosa.resample's ceil)."""
        return frames if self.model_rate is None else int(np.ceil(frames * (self.model_rate / file_rate)))

    def minimum(self) -> str:
        """The shortest accepted input in words, e.g. "0.150 s (4801 samples at 32 kHz)"."""
        samples = f"{self.min_samples} sample" + ("s" if self.min_samples > 1 else "")
        if self.model_rate is None:
            return samples
        return f"{_seconds(self.min_samples / self.model_rate)} ({samples} at {self.model_rate / 1000:g} kHz)"

    def describe(self) -> str:
        """One line for docs: the limits in words."""
        return (f"{self.model}: {self.min_rate / 1000:g}-{self.max_rate / 1000:g} kHz, 1-{self.max_channels} "
                f"channels, from {self.minimum()} to {self.max_seconds / 60:g} min and at most "
                f"{self.max_samples:,} samples over all channels")


AUDIO_RULES = InputRules()  # the limits every read applies; evaluators narrow them with dataclasses.replace


def _seconds(s: float) -> str:
    return f"{s:.3f} s" if s >= 0.01 else f"{s * 1e3:.3g} ms"


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # [C, T] float32
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def read_header(path: str | Path, rules: InputRules = AUDIO_RULES) -> Any:
    """``soundfile.info`` of ``path`` checked against ``rules`` (nothing decoded). Raises AudioError."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types; the message is what matters
        raise AudioError(f"unreadable audio ({one_line(exc, typed=True)})") from exc
    claimed = wav_claimed_frames(path)
    if claimed is not None and claimed > info.frames:
        raise AudioError(f"truncated: header says {claimed} frames, file holds {info.frames}")
    check_header(info.samplerate, info.channels, info.frames, rules)
    return info


def check_header(sample_rate: int, channels: int, frames: int, rules: InputRules = AUDIO_RULES) -> None:
    """Raise AudioError unless a file of these header values is within ``rules``."""
    if not rules.min_rate <= sample_rate <= rules.max_rate:
        raise AudioError(f"sample rate {sample_rate} Hz outside {rules.min_rate}-{rules.max_rate} Hz")
    if channels > rules.max_channels:
        raise AudioError(f"{channels} channels; only mono or stereo is supported")
    if frames <= 0 or channels <= 0:
        raise AudioError("empty audio (0 samples)")
    seconds = frames / sample_rate
    if seconds > rules.max_seconds:
        raise AudioError(f"{seconds / 60:.1f} min: longer than the maximum of {rules.max_seconds / 60:g} min")
    if frames * channels > rules.max_samples:
        longest = rules.max_samples / channels / sample_rate / 60
        raise AudioError(f"{frames * channels:,} samples: more than the maximum of {rules.max_samples:,} "
                         f"({longest:.1f} min of {channels} channels at {sample_rate} Hz)")
    if rules.model_samples(frames, sample_rate) < rules.min_samples:
        raise AudioError(too_short(seconds, rules))


def too_short(seconds: float, rules: InputRules) -> str:
    return f"{_seconds(seconds)}: shorter than {rules.model}'s minimum of {rules.minimum()}"


def check_length(n_samples: int, sample_rate: int, rules: InputRules) -> None:
    """Raise AudioError if ``n_samples`` at ``sample_rate`` (what the model receives) is shorter than ``rules``."""
    if n_samples < rules.min_samples:
        raise AudioError(too_short(n_samples / sample_rate, rules))


def wav_claimed_frames(path: str | Path) -> int | None:
    """Frames a RIFF/WAVE file's ``data`` chunk claims (libsndfile silently shortens it to what the file holds), or
    None for other files and for the 0 / 0xFFFFFFFF sizes that streaming writers leave."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            endian = "<" if head[:4] == b"RIFF" else ">"
            block_align = 0
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(min(size, 16))
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack(endian + "H", fmt[12:14])[0]
                    f.seek(size + (size & 1) - len(fmt), 1)
                elif cid == b"data":
                    if block_align == 0 or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    f.seek(size + (size & 1), 1)
    except OSError:
        return None


def read_audio(path: str | Path, rules: InputRules = AUDIO_RULES) -> Audio:
    """Decode WAV/FLAC/OGG (Vorbis, Opus)/MP3/AIFF with libsndfile and validate it.

    Returns:
        Audio with samples ``[C, T]`` float32 (C = 1 or 2), at the file's own rate.
    Raises:
        AudioError: unreadable, outside ``rules`` (checked on the header first), truncated, empty, non-finite or
        silent.
    """
    info = read_header(path, rules)
    wide = info.subtype == "DOUBLE"  # float64 samples may lie beyond float32's range: scale them down first
    try:
        data, sr = sf.read(str(path), dtype="float64" if wide else "float32", always_2d=True)  # [T, C]
    except Exception as exc:
        raise AudioError(f"unreadable audio ({one_line(exc, typed=True)})") from exc
    if data.shape[0] < info.frames:
        raise AudioError(f"truncated: header says {info.frames} frames, file holds {data.shape[0]}")
    samples = np.ascontiguousarray(data.T)  # [C, T]
    check_audio(samples, sr, rules)
    return Audio(headroom(samples).astype(np.float32, copy=False), int(sr))


def check_audio(samples: np.ndarray, sample_rate: int, rules: InputRules = AUDIO_RULES) -> None:
    """Raise AudioError unless ``samples`` ``[C, T]`` is evaluable audio."""
    if samples.ndim != 2:
        raise AudioError(f"expected [channels, time] audio, got shape {samples.shape}")
    check_header(sample_rate, samples.shape[0], samples.shape[1], rules)
    if not np.isfinite(samples).all():
        raise AudioError("audio contains NaN or infinite samples")
    peak = float(np.abs(samples).max())
    if peak < SILENCE_PEAK:
        raise AudioError("silent audio (all samples are zero)" if peak == 0 else
                         f"silent audio (peak {peak:.3g}, below {SILENCE_PEAK:g}: denormal or rounding noise only)")


def headroom(x: np.ndarray) -> np.ndarray:
    """``x`` unchanged if its peak is at most HEADROOM_PEAK, else scaled by a power of two to a peak <= 1."""
    peak = float(np.abs(x).max())
    if peak <= HEADROOM_PEAK:
        return x
    return np.ldexp(x, -math.ceil(math.log2(peak)))  # a power of two: exact in float32 and float64


def resample_soxr(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` soxr 'HQ' resampling (python-soxr default; librosa's default ``soxr_hq``). Same rate: unchanged."""
    if sr_in == sr_out:
        return x
    import soxr

    # [T, C] view: soxr's split-channel path, no copy; one frame's view has ambiguous strides that soxr refuses
    y = soxr.resample(x.T if x.shape[-1] > 1 else x.T.copy(), sr_in, sr_out, quality="HQ")
    if y.shape[0] == 0:
        raise AudioError(f"too short to resample: {x.shape[-1]} samples at {sr_in} Hz give none at {sr_out} Hz")
    return np.ascontiguousarray(y.T.astype(np.float32))
