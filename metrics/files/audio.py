"""The protocol's audio preprocessing for the metrics, after a file is read: peak-normalise, downmix, resample.

Every metric of the protocol (stable-audio-metrics ``src/{openl3_fd,passt_kld,clap_score}.py``) starts from these
steps, in a metric-specific order:

* FD_openl3: read all channels -> peak-normalise -> soxr HQ to 44.1 kHz -> (per channel) resampy kaiser_best to 48 kHz.
* KL_passt:  read, mean downmix, soxr HQ to 32 kHz (librosa.load(sr=32000, mono=True)) -> peak-normalise.
* CLAP:      read, mean downmix, soxr HQ to 48 kHz (librosa.load(sr=48000, mono=True)) -> peak-normalise -> int16 round trip.

Reading and checking a file is :mod:`sa_util.audio` (shared with the model stack); this module holds the protocol's
preprocessing after it. Bad input raises :class:`sa_util.audio.AudioError` with a one-line reason, which the
pipeline records per file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sa_util.audio import (AUDIO_RULES, SILENCE_PEAK, AudioError, InputRules, check_length, read_audio,
                           resample_soxr)

PEAK_DBFS = -1.0  # pyloudnorm.normalize.peak(audio, -1.0), applied to every file (stable-audio-metrics)


def peak_normalise(x: np.ndarray, target_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """One gain for all channels so that max |x| = 10**(target/20) (pyloudnorm.normalize.peak)."""
    peak = float(np.abs(x).max())
    if peak < SILENCE_PEAK:
        raise AudioError("silent audio (cannot peak-normalise)")
    return (x * (10.0 ** (target_dbfs / 20.0) / peak)).astype(np.float32)


def to_mono(x: np.ndarray) -> np.ndarray:
    """``[C, T] -> [1, T]`` channel mean (librosa.to_mono)."""
    return x.mean(axis=0, keepdims=True, dtype=np.float32)


def resample_kaiser_best(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` resampy 0.2.2 ``kaiser_best`` (what openl3 0.4.2 runs before its model). Same rate: unchanged.

    resampy 0.4's kaiser_best is a different filter and moves OpenL3 embeddings by ~8 % (measured against openl3
    0.4.2), so this is resampy 0.2.2's own table and loop (:mod:`metrics.files.kaiser_best`), whatever resampy is installed.
    """
    if sr_in == sr_out:
        return x
    if int(x.shape[-1] * sr_out / sr_in) < 1:
        raise AudioError(f"too short to resample: {x.shape[-1]} samples at {sr_in} Hz give none at {sr_out} Hz")
    from metrics.files.kaiser_best import resample

    return np.ascontiguousarray(resample(x, sr_in, sr_out, axis=-1).astype(np.float32))


def resample_librosa(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``[C, T]`` as librosa.resample(res_type='soxr_hq'): soxr HQ, then zero-padded or cut to
    ``ceil(T * (sr_out / sr_in))`` computed in floating point (44.1 -> 48 kHz of 4 s gives 192001 samples)."""
    if sr_in == sr_out:
        return x
    y = resample_soxr(x, sr_in, sr_out)
    n = int(np.ceil(x.shape[-1] * (sr_out / sr_in)))
    return np.pad(y, ((0, 0), (0, max(0, n - y.shape[-1]))))[:, :n]


def load_mono(path: str | Path, sample_rate: int, rules: InputRules = AUDIO_RULES) -> np.ndarray:
    """librosa.load(path, sr=sample_rate, mono=True) then peak-normalise: ``[T]`` float32 (KL and CLAP paths).
    ``rules`` are checked on the header and on the resampled length."""
    audio = read_audio(path, rules)
    mono = resample_librosa(to_mono(audio.samples), audio.sample_rate, sample_rate)
    check_length(mono.shape[-1], sample_rate, rules)
    return peak_normalise(mono)[0]


def int16_roundtrip(x: np.ndarray) -> np.ndarray:
    """clip to [-1, 1], scale by 32767, truncate to int16, scale back (laion_clap's float32_to_int16 pair)."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / np.float32(32767.0)
