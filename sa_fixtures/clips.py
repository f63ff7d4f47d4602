"""Synthetic audio: every clip generator of the demo, the tests and the speed suites, and one writer.

Sections: general clips (``tone``, ``write_wav``); the demo's set (tones, chords and noise bursts that stop at a
known time, with captions); the metric-peers clips (decaying harmonic notes); the precision study's music-like
mixtures; and the building blocks of the timing cases (:mod:`sa_fixtures.timing_cases`). Every generator is seeded:
the same arguments give the same samples.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

SR = 44100  # the rate of the demo, peers and precision-study clips


# --- general clips --------------------------------------------------------------------------------------------------
def tone(seconds: float, sr: int = 44100, freq: float = 440.0, channels: int = 2, amp: float = 0.3,
         seed: int = 0) -> np.ndarray:
    """``[T, C]`` float32: a tone plus a little noise (distinct per channel)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    cols = [amp * np.sin(2 * np.pi * freq * (1 + 0.5 * c) * t) + 0.01 * rng.standard_normal(len(t))
            for c in range(channels)]
    return np.stack(cols, 1).astype(np.float32)


def write_wav(path: Path, data: np.ndarray, sr: int = 44100, subtype: str | None = None) -> Path:
    """``data`` ``[T, C]`` (or ``[T]``) as a sound file (the extension's default subtype unless given); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


# --- the demo set: a known source, length and pan per clip ----------------------------------------------------------

WINDOW_S = 10.0
SOURCES = ("sine tone", "square wave", "noise burst", "major chord")
NOTES = {"A3": 220.0, "C4": 261.63, "E4": 329.63, "A4": 440.0}


def demo_clip(rng: np.random.Generator, source: str, freq: float, seconds: float, pan: float,
              noise_floor: bool) -> np.ndarray:
    """``[T, 2]`` float32: ``source`` for ``seconds`` (10 ms fades), then silence to 10 s."""
    t = np.arange(int(seconds * SR)) / SR
    if source == "sine tone":
        x = np.sin(2 * np.pi * freq * t)
    elif source == "square wave":
        x = 0.6 * np.sign(np.sin(2 * np.pi * freq * t))
    elif source == "noise burst":
        x = rng.standard_normal(len(t)) * 0.3
    else:
        x = sum(np.sin(2 * np.pi * freq * r * t) for r in (1.0, 1.26, 1.5)) / 3
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    out = np.zeros((int(WINDOW_S * SR), 2))
    out[:len(t), 0] = x * fade * np.sqrt(1 - pan)
    out[:len(t), 1] = x * fade * np.sqrt(pan)
    if noise_floor:
        out += rng.standard_normal(out.shape) * 10 ** (-70 / 20)
    return (0.5 * out).astype(np.float32)


def write_demo_set(folder: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """``folder/clip<k>.wav`` for k < n (16-bit) and their rows: id, caption, seconds_total."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n):
        source, pitch = SOURCES[k % len(SOURCES)], list(NOTES)[(k // 2) % len(NOTES)]
        seconds = float(rng.choice([3.0, 4.5, 6.0, 7.5, 9.0]))
        pan = float(rng.choice([0.1, 0.5, 0.9]))
        side = {0.1: "left", 0.5: "centre", 0.9: "right"}[pan]
        clip_id = f"clip{k:03d}"
        write_wav(folder / f"{clip_id}.wav", demo_clip(rng, source, NOTES[pitch], seconds, pan, k % 3 == 0), SR)
        rows.append({"id": clip_id, "caption": f"a {source} at {pitch}, panned {side}", "seconds_total": seconds})
    return rows


# --- metric peers: decaying harmonic notes over a little noise ------------------------------------------------------

def harmonic_clip(seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    """``[T, 2]`` float32: a few decaying harmonic notes over a little noise, different per seed, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    x = np.zeros((len(t), 2))
    for onset in np.sort(rng.uniform(0, max(seconds - 0.2, 0.01), 4)):
        f0, env = rng.uniform(80, 800), np.exp(-rng.uniform(1, 5) * np.maximum(t - onset, 0)) * (t >= onset)
        for h in range(1, 4):
            for c in range(2):
                x[:, c] += env / h * np.sin(2 * np.pi * f0 * h * (1 + 0.002 * c) * t)
    x += 0.01 * rng.standard_normal(x.shape)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def write_harmonic_clips(folder: Path, n: int, seconds: float, seed: int = 0) -> list[str]:
    """``n`` stereo 44.1 kHz wav files in ``folder``; their paths, sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"clip_{i:03d}.wav"
        write_wav(path, harmonic_clip(seconds, seed + i), SR)
        paths.append(str(path))
    return paths


# --- precision study: music-like mixtures ---------------------------------------------------------------------------

def music_like_clip(rng: np.random.Generator, seconds: float, pitch_shift: float) -> np.ndarray:
    """``[2, n]`` float32: a chord of 1-3 decaying harmonic tones (MIDI pitch 45-75 + ``pitch_shift``), maybe a
    noise burst and a click pattern, random stereo placement, peak about -3 dBFS."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    mono = np.zeros(n)
    for _ in range(rng.integers(1, 4)):
        f0 = 440.0 * 2 ** ((rng.uniform(45, 75) + pitch_shift - 69) / 12)
        start = rng.uniform(0, seconds / 2)
        env = np.where(t >= start, np.exp(-(t - start) * rng.uniform(0.3, 3.0)), 0.0)
        mono += env * sum(np.sin(2 * np.pi * f0 * k * t) / k ** rng.uniform(1, 2) for k in range(1, 6))
    if rng.random() < 0.5:
        start = int(rng.uniform(0, seconds - 0.5) * SR)
        mono[start:start + SR // 4] += rng.uniform(0.1, 0.5) * rng.standard_normal(len(mono[start:start + SR // 4]))
    if rng.random() < 0.5:
        period = int(rng.uniform(0.2, 0.6) * SR)
        mono[::period] += rng.uniform(1, 3)
    pan = rng.uniform(0.2, 0.8)
    stereo = np.stack([mono * (1 - pan), mono * pan]) + 0.003 * rng.standard_normal((2, n))
    return (0.7 * stereo / (np.abs(stereo).max() + 1e-9)).astype(np.float32)


def write_music_like_clips(folder: Path, n: int, seconds: float, seed: int, pitch_shift: float) -> list[str]:
    """``folder/id{k}.wav`` for k < n (kept if already there): the clip set of one side."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        clip = music_like_clip(rng, seconds, pitch_shift)
        path = folder / f"id{k}.wav"
        if not path.is_file():
            write_wav(path, clip.T, SR, "FLOAT")
        paths.append(str(path))
    return paths


# --- timing-case building blocks ------------------------------------------------------------------------------------

def noise(shape: tuple[int, ...], rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    """Unit-RMS Gaussian noise ``shape`` (last axis time); pink = 1/f power, shaped in the frequency domain."""
    n = shape[-1]
    if colour == "pink" and n > 1:
        size = 1 << (n - 1).bit_length()  # a power of two: fast FFT
        spec = np.fft.rfft(rng.standard_normal((*shape[:-1], size)), axis=-1)
        spec[..., 1:] /= np.sqrt(np.arange(1, spec.shape[-1]))
        spec[..., 0] = 0
        x = np.fft.irfft(spec, n=size, axis=-1)[..., :n]
    else:
        x = rng.standard_normal(shape)
    return x / max(1e-30, float(np.sqrt((x ** 2).mean())))


def envelope(n: int, sr: int, attack_s: float = 0.005, release_s: float = 0.01) -> np.ndarray:
    """``[n]`` amplitude 1 with raised-cosine attack and release ramps (cut short when ``n`` is shorter)."""
    a, r = max(1, int(attack_s * sr)), max(1, int(release_s * sr))
    env = np.ones(n)
    env[:min(a, n)] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a))[:n]
    env[max(0, n - r):] *= (0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r))[max(0, r - n):]
    return env


def note(f0: float, dur_s: float, sr: int, rng: np.random.Generator, timbre: str = "sine", attack_s: float = 0.005,
         release_s: float = 0.01, t60_s: float | None = None) -> np.ndarray:
    """``[n]`` additive tone: sine, odd harmonics (square-like) or all harmonics (saw-like), partial k at 1/k below
    0.45 x the rate. Steady: up to 10 partials, read from a one-period table. With ``t60_s``: up to 6 partials, partial
    k decaying ``1 + 0.4 (k - 1)`` times faster than the fundamental, like a string, each until it is 120 dB down."""
    n = max(1, int(dur_s * sr))
    ks = [1] if timbre == "sine" else [k for k in range(1, 20) if k * f0 < 0.45 * sr and (timbre == "saw" or k % 2)]
    phases = rng.uniform(0, 2 * np.pi, len(ks))
    if t60_s is None:
        grid = np.arange(4097) / 4096
        table = sum(np.sin(2 * np.pi * k * grid + p) / k for k, p in zip(ks[:10], phases))
        return np.interp((f0 / sr * np.arange(n)) % 1.0, grid, table) * envelope(n, sr, attack_s, release_s)
    out = np.zeros(n)
    for k, p in zip(ks[:6], phases):
        rate = 3.0 * np.log(10) * (1 + 0.4 * (k - 1)) / t60_s / sr  # per sample, in nepers
        m = min(n, int(6.0 * np.log(10) / rate) + 1)
        i = np.arange(m)
        out[:m] += np.sin(2 * np.pi * k * f0 / sr * i + p) / k * np.exp(-rate * i)
    return out * envelope(n, sr, attack_s, release_s)


def pluck(f0: float, sr: int, rng: np.random.Generator, t60_s: float) -> np.ndarray:
    """A plucked string: a 5 ms noise click into harmonics that decay over ``t60_s`` (cut at -120 dB)."""
    x = note(f0, 2 * t60_s, sr, rng, "saw", 0.001, 0.001, t60_s)
    x[:int(0.005 * sr)] += 0.3 * noise((int(0.005 * sr),), rng) * envelope(int(0.005 * sr), sr, 0.0005, 0.004)
    return x


def drum_hit(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Kick (falling sine), snare (noise + 190 Hz) or hat (short noise); each decays to -120 dB."""
    rate = {"kick": rng.uniform(14, 25), "snare": rng.uniform(20, 35), "hat": rng.uniform(60, 100)}[kind]
    n = int(sr * 13.8 / rate)  # amplitude exp(-rate t) reaches -120 dB at t = 13.8 / rate
    t = np.arange(n) / sr
    env = np.exp(-rate * t) * envelope(n, sr, 0.001, 0.002)
    if kind == "kick":
        return np.sin(2 * np.pi * (45 * t + 100 / 30 * (1 - np.exp(-30 * t)))) * env
    body = noise((n,), rng)
    if kind == "snare":
        body = 0.6 * body + np.sin(2 * np.pi * 190 * t)
    return (0.5 if kind == "hat" else 0.8) * body * env


def add(track: np.ndarray, x: np.ndarray, at_s: float, sr: int) -> None:
    """Mix ``x`` ``[n]`` into ``track`` ``[T]`` from ``at_s`` on (cut at the end of the track)."""
    i = int(round(at_s * sr))
    n = min(len(x), len(track) - i)
    if n > 0:
        track[i:i + n] += x[:n]


def scale_chord(rng: np.random.Generator, low: float = 180.0, high: float = 900.0, n: int = 3) -> list[float]:
    """``n`` notes of a major or minor triad plus octave (equal temperament) on a root drawn (log-uniform) from the
    lower half of ``low``-``high``."""
    root = low * (high / low) ** rng.uniform(0, 0.5)
    steps = [0, 4, 7, 12] if rng.random() < 0.5 else [0, 3, 7, 12]
    return [root * 2 ** (s / 12) for s in steps[:n]]
