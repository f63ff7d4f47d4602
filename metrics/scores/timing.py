"""Timing accuracy: where does a generated file's audio end, and how far is that from ``seconds_total``?

No public reference implements this (none of stable-audio-metrics, stable-audio-tools, audiocraft, fadtk,
audioldm_eval does); this is our documented detector.

**What "the end" means.** The *level* of the audio at a time is its RMS over a 46 ms frame (4 hops of 11.6 ms, i.e.
2048/512 samples at 44.1 kHz; the same durations at any rate), in dB, on the louder channel. The end is the end of
the last stretch of at least ``min_event_s`` (50 ms) over which the level stays above the *line*

    line = max(loud - 60 dB, floor + max(6 dB, (loud - floor) / 4))

where ``loud`` is the loudest level the file holds for a whole ``min_event_s`` run (not its loudest click) and
``floor`` is its noise floor (none when the file has digital silence or no steady quiet stretch). So a decaying
sound (a chord, a pluck, a reverb tail) ends where it falls 60 dB under the content's loud level (the T60 convention)
or where it sinks into the noise floor, whichever comes first; "into the floor" is a quarter of the way from the floor
up to the loud level (10 dB above a floor 40 dB down, 15 dB above one 60 dB down), a margin that also clears the slow
wandering of real generated tails. Both levels come from the content, never from percentiles of the whole file, so the
answer does not depend on how much of the window the sound fills (0.3 s of tone in 10 s, 1 s in 47 s) and, since
levels are taken relative to the peak sample, not on the playback gain either (the same end at any gain, to float
rounding).

**Detector** (``detect_end``), all levels relative to the peak sample, digital silence clamped at -140 dB:
1. Block energies over hops, frame levels over 4 consecutive hops (exact sums: no cancellation after loud content).
2. ``loud`` = max over frames of the min level over the run of frames that an event of ``min_event_s`` spans.
3. ``floor`` = the quietest *steady* stretch: windows of ``floor_window_s`` (0.2 s of frame starts) whose levels stay
   within ``floor_steady_db`` (4 dB) are steady (hiss, hum and digital silence are; a decay faster than ~20 dB/s and
   music with onsets are not); the floor is the mean power of the steady windows whose median is within 3 dB of the
   lowest one. It counts only if at least ``min_contrast_db`` (25 dB) under ``loud``; otherwise the file has no
   silence to find and only the 60 dB rule applies.
4. Frames above the line (and above digital silence) form runs; the end is in the last run spanning at least
   ``min_event_s`` plus a frame, so an isolated click (a few ms) in the tail is ignored, and pauses inside the content
   do not end it early (we look for the *last* activity, not the first silence).
5. The end is refined to hop resolution: the end of the last hop block above the line within that run's last frame.
   Capped at the file length; 0.0 for a silent file or one with no sustained sound (only clicks).

Measured on ``python -m sa_fixtures.timing_cases`` (tones, noise bursts, drums, ringing chords, plucks, music-like
mixtures with quiet intros and pauses, fade-ins, clicks, sound to the end; floors none and 80..40 dB under the
content; gains 0..-60 dB; 16-48 kHz, mono and stereo): every end within 0.1 s of the truth defined above.

**Limits** (by construction; those marked * are pinned in tests/metrics/test_timing.py):
- * A floor is found only if it holds steady for ~0.25 s somewhere in the file. Sound that fills the file but for a
  shorter tail of hiss reads as running to the end.
- * Floors less than 25 dB under the content are not seen: the end is then late, often the file length.
- * A steady sound that is the quietest thing in the file and 25 dB or more under the loud level (a soft pad, a room
  tone) is taken as the floor, so content at that level counts as silence; likewise a decay slower than ~20 dB/s cut
  off by the end of the file once it is 25 dB down.
- * One floor per file, the quietest: if one part is digital silence and the tail is hiss, the hiss counts as sound.
- Noise that swings by more than ~4 dB within 0.2 s is not a floor; bursts of clicks closer than ~50 ms are sound.
NaN samples count as silence and infinite ones as full-scale peaks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIGITAL_SILENCE_DB = -140.0
_SILENCE_POWER = 10.0 ** (DIGITAL_SILENCE_DB / 10.0)


@dataclass(frozen=True)
class EndDetector:
    hop_s: float = 512 / 44100  # frame step (11.6 ms); frames are `frame_hops` hops long
    frame_hops: int = 4  # 46 ms frames: long enough for steady levels of 40 Hz tones and of noise
    min_event_s: float = 0.05  # sound shorter than this (clicks) is not sound
    dynamic_range_db: float = 60.0  # without a floor, sound ends this far under the loud level
    floor_margin_db: float = 6.0  # ... and with one, at least this far above the floor
    floor_fraction: float = 0.25  # ... and this fraction of the way from the floor up to the loud level (dB)
    min_contrast_db: float = 25.0  # a steady stretch is a floor only this far under the loud level
    floor_window_s: float = 0.2  # a floor holds steady for this long (of frame starts)
    floor_steady_db: float = 4.0  # ... with its frame levels within this range

    def __post_init__(self) -> None:
        if not (self.hop_s > 0 and self.frame_hops >= 1 and self.min_event_s >= 0 and self.floor_window_s >= 0):
            raise ValueError(f"EndDetector needs hop_s > 0, frame_hops >= 1 and non-negative durations: {self}")

    def hop(self, sample_rate: float) -> int:
        return max(1, int(round(self.hop_s * sample_rate)))


def _as_channels(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """``[T]`` or ``[C, T]`` -> (``[C, T]`` float64 with NaN -> 0 and +-inf -> +-(largest finite magnitude or 1),
    peak magnitude)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"audio must be [T] or [C, T], got shape {x.shape}")
    top, bottom = float(x.max(initial=0.0)), float(x.min(initial=0.0))  # NaN or inf anywhere shows here
    if not (np.isfinite(top) and np.isfinite(bottom)):
        finite = np.isfinite(x)
        big = float(np.abs(x[finite]).max(initial=0.0)) or 1.0
        x = np.nan_to_num(x, nan=0.0, posinf=big, neginf=-big)
        top, bottom = float(x.max(initial=0.0)), float(x.min(initial=0.0))
    return x, max(top, -bottom)


def block_energy(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``[C, T]`` -> (``[C, B]`` sum of squares over consecutive blocks of ``size`` samples, ``[B]`` samples in each;
    the last block may be short). At least one block."""
    channels, length = x.shape
    full = length // size
    energy = np.einsum("cbk,cbk->cb", *[x[:, :full * size].reshape(channels, full, size)] * 2)
    count = np.full(full, size, np.float64)
    if length > full * size or full == 0:
        rest = x[:, full * size:]
        energy = np.concatenate([energy, np.einsum("ck,ck->c", rest, rest)[:, None]], 1)
        count = np.append(count, max(1, length - full * size))
    return energy, count


def windowed_sums(energy: np.ndarray, count: np.ndarray, width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``width`` consecutive blocks every ``step`` blocks: ``[C, B], [B] -> [C, F], [F]`` (F >= 1; a file
    shorter than one window is one window)."""
    if energy.shape[-1] < width:
        return energy.sum(-1, keepdims=True), count.sum(keepdims=True)
    e = np.lib.stride_tricks.sliding_window_view(energy, width, axis=-1)[:, ::step].sum(-1)
    n = np.lib.stride_tricks.sliding_window_view(count, width)[::step].sum(-1)
    return e, n


def _db(energy: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``[C, N], [N] -> [N]``: mean power in dB on the louder channel, clamped at digital silence."""
    power = (energy / count).max(0)
    return 10.0 * np.log10(np.maximum(power, _SILENCE_POWER))


def frame_db(samples: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """``[C, T] -> [F]`` frame RMS in dBFS (max over channels), frames of ``frame`` samples every ``hop`` samples
    (the last frames may run past the end; their RMS is over the samples that exist). Exact block sums, any level."""
    x, _ = _as_channels(samples)
    size = int(np.gcd(frame, hop))
    energy, count = block_energy(x, size)
    return _db(*windowed_sums(energy, count, frame // size, hop // size))


def sustained_max(db: np.ndarray, run: int) -> float:
    """The loudest level held over ``run`` consecutive frames: max over starts of the min over the run."""
    run = min(run, len(db))
    return float(np.lib.stride_tricks.sliding_window_view(db, run).min(-1).max())


def steady_floor(db: np.ndarray, window: int, steady_db: float, band_db: float = 3.0) -> float | None:
    """The level of the quietest steady stretch, or None if nothing is steady.

    Windows of ``window`` frames whose levels span at most ``steady_db`` are steady; those whose median lies within
    ``band_db`` of the lowest median are the floor, and its level is the mean power of their frames (in dB), so that
    a floor that wanders by a few dB is measured at its typical level rather than at its quietest moment."""
    w = max(1, min(window, len(db)))
    windows = np.lib.stride_tricks.sliding_window_view(db, w)
    steady = np.flatnonzero(windows.max(-1) - windows.min(-1) <= steady_db)
    if not len(steady):
        return None
    medians = np.median(windows[steady], -1)
    starts = steady[medians <= medians.min() + band_db]
    covered = np.zeros(len(db) + 1, np.int64)  # frames of the chosen windows: +1 at each start, -1 after each end
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + w, -1)
    frames = np.cumsum(covered[:-1]) > 0
    return float(10.0 * np.log10(np.mean(10.0 ** (db[frames] / 10.0))))


def end_threshold(loud: float, floor: float | None, detector: EndDetector) -> float:
    """The line of the module docstring: loud - dynamic range, raised to floor + margin when there is a floor."""
    line = loud - detector.dynamic_range_db
    if floor is not None and loud - floor >= detector.min_contrast_db:
        line = max(line, floor + max(detector.floor_margin_db, detector.floor_fraction * (loud - floor)))
    return line


def detect_end(samples: np.ndarray, sample_rate: float, detector: EndDetector = EndDetector()) -> float:
    """Seconds from the start of ``samples`` (``[C, T]`` or ``[T]``) to the end of its last sustained sound."""
    if not (np.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive number, got {sample_rate!r}")
    x, peak = _as_channels(samples)
    length = x.shape[-1]
    if peak == 0.0:
        return 0.0
    hop, k = detector.hop(sample_rate), detector.frame_hops
    # levels relative to the peak sample: the answer does not depend on the gain (divide the samples first only
    # where squaring them would overflow or underflow)
    scaled = not 1e-150 < peak < 1e150
    energy, count = block_energy(x / peak if scaled else x, hop)
    if not scaled:
        energy /= peak * peak
    block_db = _db(energy, count)  # [B]
    db = _db(*windowed_sums(energy, count, k, 1))  # [F], frame f = blocks f .. f+k-1
    # an event of min_event_s is seen by k + min_event_s/hop frames; a click by about k
    run = min(len(db), k + int(round(detector.min_event_s * sample_rate / hop)))
    loud = sustained_max(db, run)
    floor = steady_floor(db, int(round(detector.floor_window_s * sample_rate / hop)), detector.floor_steady_db)
    line = end_threshold(loud, floor, detector)
    last = last_run_end((db > line) & (db > DIGITAL_SILENCE_DB), run)
    if last < 0:
        return 0.0
    blocks = block_db[last:last + k]
    block = last + int(np.flatnonzero((blocks > line) & (blocks > DIGITAL_SILENCE_DB))[-1])
    return float(min((block + 1) * hop, length) / sample_rate)


def last_run_end(active: np.ndarray, min_len: int) -> int:
    """Index of the last element of the last run of True of length >= min_len (-1 if none)."""
    edges = np.diff(np.concatenate(([0], np.asarray(active, np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # ends exclusive
    long_enough = np.flatnonzero(ends - starts >= max(1, min_len))
    return int(ends[long_enough[-1]] - 1) if len(long_enough) else -1


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
