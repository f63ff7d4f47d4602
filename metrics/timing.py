"""Timing accuracy: where does a generated file's audio end, and how far is that from ``seconds_total``?

No public reference implements this (metrics-protocol.md §7); this is our documented detector.

Detector (``detect_end``):
1. Frame RMS over 2048-sample windows, hop 512 (at 44.1 kHz: 46 ms / 11.6 ms), max over channels, in dB.
2. Loud level ``hi`` = 95th percentile of frame dB, floor ``lo`` = the quietest frame (digital silence is clamped
   at -140 dB; RMS over 2048 samples makes a noise floor's frames steady, so the minimum is a stable estimate and
   still sees a tail of a few frames). If ``hi - lo < min_contrast_db`` (default 20 dB) the file has no silence to find: its end is its length.
3. Threshold = max(hi - dynamic_range_db, lo + floor_margin_db) (defaults 60 dB and 10 dB): the absolute rule of
   ``is_silence`` (-60 dB below the loud level) on clean silence, and 10 dB above the noise floor when the
   generator leaves hiss or dither in its "silent" tail.
4. The end is the end of the last run of frames above threshold that lasts at least ``min_event_s`` (default 50 ms),
   so isolated clicks in the tail are ignored, while pauses inside the content do not end it early (we look for the
   *last* activity, not the first silence).
Returned seconds are the end of that frame run (frame centre of its last frame + half a hop), capped at the file
length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIGITAL_SILENCE_DB = -140.0


@dataclass(frozen=True)
class EndDetector:
    frame: int = 2048
    hop: int = 512
    min_contrast_db: float = 20.0
    dynamic_range_db: float = 60.0
    floor_margin_db: float = 10.0
    min_event_s: float = 0.05


def frame_db(samples: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """``[C, T] -> [F]`` frame RMS in dB (max over channels), frames starting every ``hop`` samples."""
    x = np.asarray(samples, np.float64)
    length = x.shape[-1]
    n_frames = max(1, 1 + (length - frame) // hop) if length >= frame else 1
    pad = max(0, (n_frames - 1) * hop + frame - length)
    x = np.pad(x, ((0, 0), (0, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(x, frame, axis=-1)[:, ::hop][:, :n_frames]  # [C, F, frame]
    rms = np.sqrt((windows ** 2).mean(-1)).max(0)  # [F]
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-300)), DIGITAL_SILENCE_DB)


def detect_end(samples: np.ndarray, sample_rate: int, detector: EndDetector = EndDetector()) -> float:
    """Seconds from the start of ``samples`` ``[C, T]`` to the end of its last sustained activity."""
    length_s = samples.shape[-1] / sample_rate
    db = frame_db(samples, detector.frame, detector.hop)
    lo, hi = db.min(), np.percentile(db, 95)
    if hi - lo < detector.min_contrast_db:
        return length_s
    threshold = max(hi - detector.dynamic_range_db, lo + detector.floor_margin_db)
    active = db > threshold
    # any sound is seen by every window that overlaps it (frame/hop windows), so an event of min_event_s spans
    # frame/hop + min_event_s/hop frames; a click spans only ~frame/hop and is not counted
    min_frames = -(-detector.frame // detector.hop) + int(round(detector.min_event_s * sample_rate / detector.hop))
    last = _last_run_end(active, min_frames)
    if last < 0:
        return 0.0
    end_sample = last * detector.hop + detector.frame / 2 + detector.hop / 2
    return float(min(end_sample / sample_rate, length_s))


def _last_run_end(active: np.ndarray, min_len: int) -> int:
    """Index of the last frame of the last run of True of length >= min_len (-1 if none)."""
    run = 0
    best = -1
    for i, a in enumerate(active):
        run = run + 1 if a else 0
        if run >= min_len:
            best = i
    return best


def timing_errors(detected_s: np.ndarray, requested_s: np.ndarray) -> np.ndarray:
    """Signed error detected - requested, seconds."""
    return np.asarray(detected_s, np.float64) - np.asarray(requested_s, np.float64)


def timing_summary(errors: np.ndarray) -> dict[str, float]:
    """MAE, median |error|, mean (bias) and the fractions within +-0.5 s and +-1 s."""
    e = np.asarray(errors, np.float64)
    a = np.abs(e)
    return {
        "mae_s": float(a.mean()),
        "median_abs_error_s": float(np.median(a)),
        "bias_s": float(e.mean()),
        "within_0.5s": float((a <= 0.5).mean()),
        "within_1s": float((a <= 1.0).mean()),
    }
