"""SynthCaps: an offline text-to-audio set whose content is known exactly (generated on the fly, seeded).

Each item is a 44.1 kHz stereo window of ``WINDOW`` samples: one sound source at a known pitch and stereo
position that plays for ``seconds`` and is followed by silence, as Stable Audio trains with ``seconds_start`` /
``seconds_total``. Captions are sentences built from the attributes ("a plucked string playing A3, panned left").
The split is by caption: every attribute combination (source x note x position) is either train or test, so no
test caption is ever seen in training.

Sources: sine, square and sawtooth tones, a plucked string (Karplus-Strong), and a kick + hi-hat pattern at a
tempo over a soft shaker (no pitch). Durations are drawn per item from ``DURATIONS``.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sa_util.cli import guarded

SR = 44100
WINDOW = 163840  # 3.72 s = 160 latents of the 1024x SynthCaps VAE
TONAL = ("sine tone", "square wave", "sawtooth wave", "plucked string")
SOURCES = TONAL + ("drum pattern",)
NOTES = {"A2": 110.0, "C3": 130.81, "E3": 164.81, "A3": 220.0, "C4": 261.63, "E4": 329.63, "A4": 440.0,
         "C5": 523.25}
PANS = {"left": 0.1, "centre": 0.5, "right": 0.9}  # fraction of energy to the right channel
TEMPOS = (90, 120, 150)
DURATIONS = (1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class Item:
    id: str
    caption: str
    source: str
    note: str  # "" for drum patterns
    freq: float  # Hz, 0 for drum patterns
    tempo: int  # BPM, 0 for tonal sources
    pan: str
    seconds: float  # requested seconds_total; silence after it
    seed: int


def caption(source: str, note: str, tempo: int, pan: str) -> str:
    where = "in the centre" if pan == "centre" else f"panned {pan}"
    if source == "drum pattern":
        return f"a kick and hi-hat drum pattern at {tempo} BPM, {where}"
    return f"a {source} playing {note}, {where}"


def _split_of(text: str, test_fraction: float) -> str:
    h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def combos(split: str, test_fraction: float = 0.2) -> list[tuple[str, str, int, str]]:
    """Every (source, note, tempo, pan) of a split; the split is a fixed function of the caption."""
    tonal = [(s, n, 0, p) for s, n, p in itertools.product(TONAL, NOTES, PANS)]
    drums = [("drum pattern", "", t, p) for t, p in itertools.product(TEMPOS, PANS)]
    return [c for c in tonal + drums if _split_of(caption(*c), test_fraction) == split]


def items(split: str, n: int, seed: int = 0) -> list[Item]:
    """``n`` items of a split, cycling through its attribute combinations with seeded durations."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    pool = combos(split)
    order = rng.permutation(len(pool))
    out = []
    for k in range(n):
        source, note, tempo, pan = pool[order[k % len(pool)]]
        out.append(Item(f"{split}{k:05d}", caption(source, note, tempo, pan), source, note,
                        NOTES.get(note, 0.0), tempo, pan, float(rng.choice(DURATIONS)), int(rng.integers(2**31))))
    return out


def _tone(source: str, freq: float, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    phase = (freq * t) % 1.0
    if source == "sine tone":
        return np.sin(2 * np.pi * phase)
    if source == "square wave":
        return 0.5 * np.sign(np.sin(2 * np.pi * phase))
    if source == "sawtooth wave":
        return 0.5 * (2 * phase - 1)
    period = int(round(SR / freq))  # plucked string: Karplus-Strong
    buf = rng.uniform(-1, 1, period)
    out = np.empty(len(t))
    for i in range(len(t)):
        out[i] = buf[i % period]
        buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out / max(1e-9, np.abs(out[:period]).max())


def _drums(tempo: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = 0.05 * rng.standard_normal(len(t))  # a soft shaker under the hits, so the pattern sounds to its end
    beat = 60.0 / tempo
    for k, start in enumerate(np.arange(0, t[-1] if len(t) else 0, beat / 2)):
        i = int(start * SR)
        n = min(len(t) - i, int(0.15 * SR))
        tt = np.arange(n) / SR
        if k % 2 == 0:  # kick on the beat: a falling sine
            out[i:i + n] += np.sin(2 * np.pi * (50 + 100 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 18)
        else:  # hat off the beat: short noise
            out[i:i + n] += 0.4 * rng.standard_normal(n) * np.exp(-tt * 80)
    return out


def render(item: Item) -> np.ndarray:
    """``[2, WINDOW]`` float32 audio of an item (deterministic from its seed)."""
    rng = np.random.default_rng(item.seed)
    t = np.arange(int(item.seconds * SR)) / SR
    x = _drums(item.tempo, t, rng) if item.source == "drum pattern" else _tone(item.source, item.freq, t, rng)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    x = 0.5 * x * fade / max(1e-9, np.abs(x).max())
    right = PANS[item.pan]
    out = np.zeros((2, WINDOW), np.float32)
    out[0, :len(x)] = x * np.sqrt(1 - right)
    out[1, :len(x)] = x * np.sqrt(right)
    return out


def write_split(folder: Path, split: str, n: int, seed: int = 0, full_window: bool = False,
                dither_db: float | None = None) -> list[Item]:
    """Training files, ``captions.csv`` (file, caption) and ``items.csv`` (every attribute).

    Diffusion data (the default): each file cut to its sounding length, so the trainer's padding and
    ``seconds_total`` come from the file as for any dataset. Autoencoder data: ``full_window`` keeps the silence after
    the sound (random crops then see silence as often as the benchmark does) and ``dither_db`` adds independent
    Gaussian noise at that RMS level (dBFS) to both channels: a recording's noise floor, which keeps the
    log-magnitude term of the STFT loss from charging every bin of exact digital silence.
    """
    from sa_core.generate import write_audio

    folder.mkdir(parents=True, exist_ok=True)
    chosen = items(split, n, seed)
    for item in chosen:
        audio = render(item) if full_window else render(item)[:, :int(item.seconds * SR)]
        if dither_db is not None:
            noise = np.random.default_rng([item.seed, 1]).standard_normal(audio.shape)
            audio = (audio + 10 ** (dither_db / 20) * noise).astype(np.float32)
        write_audio(folder / f"{item.id}.wav", audio, SR)
    with open(folder / "captions.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "caption"])
        w.writeheader()
        w.writerows({"file": f"{i.id}.wav", "caption": i.caption} for i in chosen)
    write_items(folder / "items.csv", chosen)
    return chosen


def write_items(path: Path, chosen: list[Item]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(chosen[0])))
        w.writeheader()
        w.writerows(asdict(i) for i in chosen)


@guarded
def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.synthcaps_data", description=write_split.__doc__.splitlines()[0])
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--n", type=int, default=400, help="items (cycling through the split's captions)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--full-window", action="store_true", help="keep the silence after the sound (autoencoder data)")
    p.add_argument("--dither-db", type=float, help="add a noise floor at this RMS level in dBFS, e.g. -70")
    args = p.parse_args(argv)
    chosen = write_split(args.out, args.split, args.n, args.seed, args.full_window, args.dither_db)
    print(f"{len(chosen)} items ({len({i.caption for i in chosen})} captions) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
