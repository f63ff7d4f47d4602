"""Synthetic signals with known ends, and the acceptance check of the timing detector (:mod:`metrics.scores.timing`).

``python -m sa_fixtures.timing_cases`` builds the grid (kinds x noise floors x variants, each case at gains 0, -20, -40
and -60 dB), runs ``detect_end`` on every rendering and prints the fraction of ends within 0.1 s of the truth, by
floor and by kind, and the largest errors. ``tests/metrics/test_timing_cases.py`` asserts the acceptance figures.

Each case is clean content (the sounds), plus a noise floor (white or pink hiss, independent per channel, at a known
power set in dB under the content's loud level; ``None`` = digital silence), plus for the ``clicks`` kind a few
clicks (1-100 samples) in the tail, which are not sound. Renderings are float32 like audio read from a file.

**Truth.** The end as defined in :mod:`metrics.scores.timing`'s docstring, measured on what the detector never sees: the
clean content and the floor's nominal power. Level = power over 20 ms windows at 1 ms steps (content plus floor power,
louder channel); loud = the loudest content level held for 0.1 s; line = ``end_threshold(loud, floor)``; the end is
the end (window centre) of the last stretch of at least 50 ms above the line, or the file length when that stretch
reaches it. A sound that stops ends where it stops; a decay (chord, pluck, kick) ends where it falls 60 dB under the
loud level or sinks to within a quarter of the loud-to-floor distance of the floor.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from metrics.scores.timing import (EndDetector, block_energy, detect_end, end_threshold, last_run_end, sustained_max,
                                   windowed_sums)
from sa_fixtures.clips import add, drum_hit, envelope, noise, note, pluck, scale_chord
from sa_util.cli import guarded

GAINS_DB = (0.0, -20.0, -40.0, -60.0)
FLOORS_DB = (None, -80.0, -70.0, -60.0, -50.0, -40.0)  # floor power in dB under the content's loud level
RATES = (16000, 22050, 32000, 44100, 48000)
TOLERANCE_S = 0.1
TRUTH_WINDOW_S, TRUTH_STEP_S, TRUTH_HOLD_S = 0.02, 0.001, 0.1  # truth level: 20 ms windows every 1 ms; loud held 0.1 s


@dataclass(frozen=True)
class Case:
    kind: str
    floor_db: float | None
    seed: int
    sample_rate: int
    clean: np.ndarray  # [C, T] content, peak 0.9
    clicks: np.ndarray | None  # [C, T] clicks (not sound)
    floor_power: float  # mean square of the floor per channel (0 for digital silence)
    floor_colour: str
    truth_s: float
    floor_wobble_db: float = 0.0  # the floor's level swings this much either way, slowly (0.2-1 Hz)

    def mix(self) -> np.ndarray:
        """``[C, T]`` float64: content + clicks + floor."""
        x = self.clean.copy()
        if self.clicks is not None:
            x += self.clicks
        if self.floor_power > 0:
            rng = np.random.default_rng([self.seed, 7])
            floor = np.sqrt(self.floor_power) * noise(x.shape, rng, self.floor_colour)
            if self.floor_wobble_db:
                t = np.arange(x.shape[-1]) / self.sample_rate
                floor *= 10 ** (self.floor_wobble_db / 20 * np.sin(2 * np.pi * rng.uniform(0.2, 1) * t
                                                                    + rng.uniform(0, 2 * np.pi)))
            x += floor
        return x

    def render(self, gain_db: float = 0.0, mix: np.ndarray | None = None) -> np.ndarray:
        """``[C, T]`` float32: the mix times the gain, as read from a float file."""
        return ((self.mix() if mix is None else mix) * 10.0 ** (gain_db / 20.0)).astype(np.float32)


# -- content kinds: (rng, sample rate) -> (mono content [T], clicks [T] or None) ------------------------------------

Content = tuple[np.ndarray, "np.ndarray | None"]


def _tonal(rng: np.random.Generator, dur_s: float, sr: int) -> np.ndarray:
    """A steady tone of ``dur_s`` (55-1250 Hz, sine, square-like or saw-like) with a short attack and release."""
    return note(110 * 2 ** rng.uniform(-1, 3.5), dur_s, sr, rng, str(rng.choice(["sine", "odd", "saw"])),
                rng.uniform(0.002, 0.05), rng.uniform(0.005, 0.05))


def _burst(rng: np.random.Generator, dur_s: float, sr: int, max_release_s: float = 0.2) -> np.ndarray:
    """White or pink noise for ``dur_s``, 5 ms attack, a release of up to ``max_release_s``."""
    n = int(dur_s * sr)
    return noise((n,), rng, str(rng.choice(["white", "pink"]))) * envelope(n, sr, 0.005,
                                                                          rng.uniform(0.005, max_release_s))


def _source(rng: np.random.Generator, dur_s: float, sr: int) -> np.ndarray:
    """A steady tone (60 %) or a noise burst."""
    return _tonal(rng, dur_s, sr) if rng.random() < 0.6 else _burst(rng, dur_s, sr)


def tone(rng: np.random.Generator, sr: int) -> Content:
    dur, lead, tail = rng.uniform(0.5, 6), rng.uniform(0, 1), rng.uniform(0.5, 4)
    x = np.zeros(int((lead + dur + tail) * sr))
    add(x, _tonal(rng, dur, sr), lead, sr)
    return x, None


def short_in_long(rng: np.random.Generator, sr: int) -> Content:
    dur, total = [(0.3, 10.0), (1.0, 47.0), (2.0, 47.0)][int(rng.integers(3))]
    x = np.zeros(int(total * sr))
    add(x, _source(rng, dur, sr), rng.uniform(0, 2), sr)
    return x, None


def noise_burst(rng: np.random.Generator, sr: int) -> Content:
    dur, lead, tail = rng.uniform(0.3, 5), rng.uniform(0, 1), rng.uniform(0.5, 4)
    x = np.zeros(int((lead + dur + tail) * sr))
    add(x, _burst(rng, dur, sr, 0.3), lead, sr)
    return x, None


def _pattern(rng: np.random.Generator, sr: int, bars: float, shaker: bool) -> np.ndarray:
    """Kick/snare/hat on eighth notes at 80-160 BPM for ``bars`` bars, ending on a kick or snare."""
    eighth = 30.0 / rng.uniform(80, 160)
    steps = max(2, int(bars * 8))
    x = np.zeros(int((steps * eighth + 1.5) * sr))
    for s in range(steps):
        kind = "kick" if s % 4 == 0 else "snare" if s % 4 == 2 else "hat"
        if s == steps - 1:
            kind = str(rng.choice(["kick", "snare"]))
        elif kind == "hat" and rng.random() < 0.3:
            continue
        add(x, drum_hit(kind, sr, rng), s * eighth, sr)
    if shaker:
        n = int((steps * eighth) * sr)
        add(x, 0.05 * noise((n,), rng) * envelope(n, sr, 0.01, 0.05), 0, sr)
    return x


def drums(rng: np.random.Generator, sr: int) -> Content:
    x = _pattern(rng, sr, rng.uniform(0.5, 3), rng.random() < 0.5)
    return np.concatenate([np.zeros(int(rng.uniform(0, 0.5) * sr)), x, np.zeros(int(rng.uniform(0, 1.5) * sr))]), None


def chord(rng: np.random.Generator, sr: int) -> Content:
    t60 = rng.uniform(0.6, 3.0)
    dur = 2 * t60  # rings out to -120 dB
    if rng.random() < 0.5:  # damped: the keys are let go before it has rung out
        dur = rng.uniform(0.4, t60)
    lead = rng.uniform(0.1, 1)
    x = np.zeros(int((lead + dur + rng.uniform(0.5, 2)) * sr))
    for f in scale_chord(rng, n=int(rng.integers(3, 5))):
        add(x, note(f, dur, sr, rng, str(rng.choice(["sine", "saw"])), 0.003, 0.15 if dur < 2 * t60 else 0.01,
                    t60), lead, sr)
    return x, None


def plucks(rng: np.random.Generator, sr: int) -> Content:
    starts = np.cumsum(rng.uniform(0.1, 0.5, int(rng.integers(3, 10))))
    t60s = rng.uniform(0.3, 1.5, len(starts))
    x = np.zeros(int((starts[-1] + 2 * t60s.max() + rng.uniform(0.5, 1.5)) * sr))
    for at, t60 in zip(starts, t60s):
        add(x, pluck(80 * 2 ** rng.uniform(0, 3.3), sr, rng, t60), at, sr)
    return x, None


def _gate(n: int, sr: int, points: list[tuple[float, float]]) -> np.ndarray:
    """``[n]`` piecewise-linear gain through (seconds, gain) points, held flat outside them."""
    ts, gs = zip(*points)
    return np.interp(np.arange(n) / sr, ts, gs)


def music(rng: np.random.Generator, sr: int, to_the_end: bool = False) -> Content:
    """A pad fading in (a quiet intro), then drums, bass plucks and a melody, maybe a pause inside (everything stops
    for 0.3-1.5 s), and an ending that stops, rings out on a chord or fades out; ``to_the_end`` cuts the window while
    everything still plays."""
    intro, body = rng.uniform(0.5, 3), rng.uniform(2, 6)
    pause = rng.uniform(0.3, 1.5) if rng.random() < 0.5 else 0.0
    end = intro + body + pause
    ending = "cut" if to_the_end else str(rng.choice(["stop", "ring", "fade"]))
    ring_t60 = rng.uniform(0.5, 2)
    fade = rng.uniform(0.5, min(3.0, body - 1)) if ending == "fade" else 0.0
    total = end if to_the_end else end + (2 * ring_t60 if ending == "ring" else 0) + rng.uniform(0.5, 2.5)
    n = int(total * sr)
    x = np.zeros(n)
    notes = scale_chord(rng, 150, 400)
    fade_in = np.minimum(1, np.arange(n) / (intro * sr)) ** 2
    x += 10 ** (rng.uniform(-25, -12) / 20) * sum(note(f, total, sr, rng, "odd", 0.01, 0.01) for f in notes) * fade_in
    add(x, _pattern(rng, sr, (total - intro) / 2 + 1, rng.random() < 0.5), intro, sr)
    beat, bass, lead = 60 / rng.uniform(80, 160), 10 ** (rng.uniform(-10, -3) / 20), 10 ** (rng.uniform(-12, -4) / 20)
    for at in np.arange(intro, total, beat):
        add(x, bass * pluck(notes[0] / 2, sr, rng, rng.uniform(0.3, 0.8)), at, sr)
    at = intro
    while at < total:
        dur = rng.uniform(0.1, 0.5)
        add(x, lead * note(notes[int(rng.integers(3))] * 2, dur, sr, rng, "saw", 0.01, 0.03), at, sr)
        at += dur + rng.uniform(0, 0.2)
    gate = [(0.0, 1.0)]
    if pause:
        p0 = rng.uniform(intro + 0.5, end - pause - max(0.5, fade))  # the pause ends before any fade-out
        gate += [(p0, 1.0), (p0 + 0.02, 0.0), (p0 + pause, 0.0), (p0 + pause + 0.01, 1.0)]
    if ending == "fade":
        gate += [(end - fade, 1.0), (end, 0.0)]
    elif ending != "cut":
        gate += [(end - rng.uniform(0.02, 0.1), 1.0), (end, 0.0)]
    x *= _gate(n, sr, sorted(gate))
    if ending == "ring":
        add(x, sum(note(f, 2 * ring_t60, sr, rng, "saw", 0.003, 0.01, ring_t60) for f in notes), end - 0.02, sr)
    return x, None


def fade_in(rng: np.random.Generator, sr: int) -> Content:
    """A long fade-in (linear amplitude, or linear in dB from -60 dB) or a quiet intro 20-35 dB down, then the sound
    at full level and a release or a decay."""
    rise, sustain, lead, tail = rng.uniform(1, 4), rng.uniform(0.5, 3), rng.uniform(0, 1), rng.uniform(1, 3)
    n = int((rise + sustain) * sr)
    src = _source(rng, rise + sustain + 0.05, sr)[:n]
    t = np.arange(n) / sr
    shape = str(rng.choice(["linear", "db", "intro"]))
    if shape == "linear":
        gain = np.minimum(1, t / rise)
    elif shape == "db":
        gain = 10 ** (np.minimum(0, 60 * (t / rise - 1)) / 20)
    else:
        gain = np.where(t < rise, 10 ** (-rng.uniform(20, 35) / 20), 1.0)
    release = rng.uniform(0.01, 0.3)
    x = np.zeros(int((lead + rise + sustain + tail) * sr))
    add(x, src * gain * envelope(n, sr, 0.001, release), lead, sr)
    return x, None


def pauses(rng: np.random.Generator, sr: int) -> Content:
    """2-4 sounds (tones, noise, drum hits) with pauses of 0.15-2 s between them; the last one 0.1-1 s long."""
    at = rng.uniform(0, 0.5)
    parts = []
    for k in range(int(rng.integers(2, 5))):
        if rng.random() < 0.25:
            parts.append((at, drum_hit(str(rng.choice(["kick", "snare"])), sr, rng)))
        else:
            parts.append((at, _source(rng, rng.uniform(0.1, 1.0) if k else rng.uniform(0.3, 2), sr)))
        at += len(parts[-1][1]) / sr + rng.uniform(0.15, 2)
    x = np.zeros(int((at + rng.uniform(0.3, 2)) * sr))
    for start, part in parts:
        add(x, part, start, sr)
    return x, None


def clicks(rng: np.random.Generator, sr: int) -> Content:
    """A sound, then 1-4 clicks (1-100 samples, up to twice the sound's peak) in the silence after it."""
    dur, lead = rng.uniform(0.5, 4), rng.uniform(0, 0.5)
    tail = rng.uniform(2, 5)
    x = np.zeros(int((lead + dur + tail) * sr))
    add(x, _source(rng, dur, sr), lead, sr)
    peak = np.abs(x).max()
    extra = np.zeros_like(x)
    at = lead + dur + 0.15
    for _ in range(int(rng.integers(1, 5))):  # at least 0.1 s apart
        at += rng.uniform(0.1, max(0.1, (lead + dur + tail - at) / 2))
        width = int(rng.integers(1, 101))
        add(extra, rng.uniform(0.1, 2) * peak * rng.choice([-1, 1], width), at, sr)
    return x, extra


def to_the_end(rng: np.random.Generator, sr: int) -> Content:
    """Sound still playing when the window ends: music, a steady sound, or a ringing chord cut 5-15 dB down."""
    choice = int(rng.integers(3))
    if choice == 0:
        return music(rng, sr, to_the_end=True)
    lead = rng.uniform(0, 2)
    if choice == 1:
        dur = rng.uniform(1, 8)
        x = np.zeros(int((lead + dur) * sr))
        add(x, _source(rng, dur + 0.1, sr), lead, sr)
        return x, None
    t60 = rng.uniform(1, 3)
    dur = t60 * rng.uniform(5, 15) / 60
    x = np.zeros(int((lead + dur) * sr))
    for f in scale_chord(rng):
        add(x, note(f, dur + 0.1, sr, rng, "saw", 0.003, 0.01, t60), lead, sr)
    return x, None


KINDS: dict[str, Callable[[np.random.Generator, int], Content]] = {
    "tone": tone, "short_in_long": short_in_long, "noise_burst": noise_burst, "drums": drums, "chord": chord,
    "plucks": plucks, "music": music, "fade_in": fade_in, "pauses": pauses, "clicks": clicks, "to_the_end": to_the_end,
}


# -- truth, cases, evaluation -----------------------------------------------------------------------------------------

def true_end(clean: np.ndarray, sr: int, floor_power: float, rule: EndDetector = EndDetector()) -> tuple[float, float]:
    """(truth seconds, loud level dB) of ``clean`` ``[C, T]`` over a floor of ``floor_power`` per channel (0: none),
    by the rule of the module docstring."""
    step = max(1, int(round(TRUTH_STEP_S * sr)))
    width = int(round(TRUTH_WINDOW_S / TRUTH_STEP_S))
    e, c = windowed_sums(*block_energy(clean, step), width, 1)
    power = e / c  # [C, W]
    loud = sustained_max(10 * np.log10(np.maximum(power.max(0), 1e-30)), int(round(TRUTH_HOLD_S * sr / step)))
    line = end_threshold(loud, 10 * np.log10(floor_power) if floor_power > 0 else None, rule)
    level = 10 * np.log10(np.maximum((power + floor_power).max(0), 1e-30))
    last = last_run_end(level > line, int(round(rule.min_event_s * sr / step)))
    length = clean.shape[-1] / sr
    if last < 0:
        return 0.0, loud
    if last == len(level) - 1:  # sounding in the last window: to the end
        return length, loud
    return min((last + width / 2) * step / sr, length), loud


def build(kind: str, floor_db: float | None, seed: int, floor_wobble_db: float = 0.0) -> Case:
    """One case: content of ``kind`` drawn from ``seed``, panned (or mono), peak 0.9, with its floor and truth. A
    wobbling floor's truth takes the floor at its loudest."""
    rng = np.random.default_rng(seed)
    sr = 44100 if kind == "short_in_long" else int(rng.choice(RATES))
    mono, extra = KINDS[kind](rng, sr)
    if rng.random() < 0.2:
        pan = np.ones((1, 1))
    else:
        p = rng.uniform(0, 1)
        pan = np.array([[np.cos(p * np.pi / 2)], [np.sin(p * np.pi / 2)]])
    clean = pan * mono[None]
    scale = 0.9 / np.abs(clean).max()
    clean *= scale
    extra_c = None if extra is None else np.repeat(extra[None] * scale, len(pan), 0)
    _, loud = true_end(clean, sr, 0.0)
    floor_power = 0.0 if floor_db is None else 10 ** ((loud + floor_db) / 10)
    truth, _ = true_end(clean, sr, floor_power * 10 ** (floor_wobble_db / 10))
    return Case(kind, floor_db, seed, sr, clean, extra_c, floor_power, str(rng.choice(["white", "pink"])), truth,
                floor_wobble_db)


def grid(variants: int = 3, kinds: tuple[str, ...] = tuple(KINDS)) -> Iterator[Case]:
    """Every kind x floor x ``variants`` cases, each from its own fixed seed."""
    for kind in kinds:
        for f, floor_db in enumerate(FLOORS_DB):
            for v in range(variants):
                yield build(kind, floor_db, 10000 * list(KINDS).index(kind) + 100 * f + v)


@dataclass(frozen=True)
class Row:
    kind: str
    floor_db: float | None
    gain_db: float
    seed: int
    truth_s: float
    detected_s: float
    length_s: float

    @property
    def error_s(self) -> float:
        return self.detected_s - self.truth_s


def detect_cases(cases: Iterable[Case], gains: tuple[float, ...] = GAINS_DB, detector: EndDetector = EndDetector()
                 ) -> list[Row]:
    """``detect_end`` on every case at every gain."""
    rows = []
    for c in cases:
        mix = c.mix()
        rows += [Row(c.kind, c.floor_db, g, c.seed, c.truth_s, detect_end(c.render(g, mix), c.sample_rate, detector),
                     c.clean.shape[-1] / c.sample_rate) for g in gains]
    return rows


def summary(rows: list[Row], tolerance_s: float = TOLERANCE_S) -> dict[str, dict[str, float]]:
    """Fraction within ``tolerance_s`` and max |error| overall, then by floor, by gain and by kind."""
    groups: dict[str, list[float]] = {"all": [abs(r.error_s) for r in rows]}
    for name, key in (("floor", lambda r: "none" if r.floor_db is None else f"{r.floor_db:g} dB"),
                      ("gain", lambda r: f"{r.gain_db:g} dB"), ("kind", lambda r: r.kind)):
        for r in rows:
            groups.setdefault(f"{name} {key(r)}", []).append(abs(r.error_s))
    return {k: {"n": len(v), "within": float(np.mean(np.array(v) <= tolerance_s)), "max_abs_s": float(max(v))}
            for k, v in groups.items()}


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sa_fixtures.timing_cases", description=__doc__.splitlines()[0])
    p.add_argument("--variants", type=int, default=3, help="cases per kind and floor (default 3)")
    p.add_argument("--worst", type=int, default=5, help="list this many largest errors")
    args = p.parse_args(argv)
    if args.variants < 1:
        print("error: --variants must be >= 1", file=sys.stderr)
        return 2
    rows = detect_cases(grid(args.variants))
    for key, s in summary(rows).items():
        print(f"{key:>20s}: {s['within']:6.1%} within ±{TOLERANCE_S:g} s, max |error| {s['max_abs_s']:.3f} s"
              f" (n={s['n']})")
    for r in sorted(rows, key=lambda r: -abs(r.error_s))[:args.worst]:
        print(f"worst: {r.kind} floor {r.floor_db} gain {r.gain_db:g} seed {r.seed}: truth {r.truth_s:.3f} s, "
              f"detected {r.detected_s:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
