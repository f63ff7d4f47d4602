"""``python -m metrics demo``: a small offline set with known content and lengths, evaluated end to end.

Generated and reference sets are synthesised here (stereo 44.1 kHz, 10 s windows): tones, chords and noise bursts
that stop at a known time and are followed by silence (some with a -70 dBFS noise floor), with captions and the
requested ``seconds_total``. Timing accuracy is real; FD/KL/CLAP need evaluator weights: the official files if they
are in the weights folder, or, with ``--random-weights``, random-weight files written in the official formats
(their numbers mean nothing; they show every stage running).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from metrics.run import RunConfig, run, write_results

SR = 44100
WINDOW_S = 10.0
SOURCES = ("sine tone", "square wave", "noise burst", "major chord")
NOTES = {"A3": 220.0, "C4": 261.63, "E4": 329.63, "A4": 440.0}


def synth_clip(rng: np.random.Generator, source: str, freq: float, seconds: float, pan: float,
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


def write_set(folder: Path, n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n):
        source, note = SOURCES[k % len(SOURCES)], list(NOTES)[(k // 2) % len(NOTES)]
        seconds = float(rng.choice([3.0, 4.5, 6.0, 7.5, 9.0]))
        pan = float(rng.choice([0.1, 0.5, 0.9]))
        side = {0.1: "left", 0.5: "centre", 0.9: "right"}[pan]
        clip_id = f"clip{k:03d}"
        sf.write(folder / f"{clip_id}.wav", synth_clip(rng, source, NOTES[note], seconds, pan, k % 3 == 0), SR)
        rows.append({"id": clip_id, "caption": f"a {source} at {note}, panned {side}", "seconds_total": seconds})
    return rows


def run_demo(out: Path, n: int, random_weights: bool, weights_dir: Path | None,
             protocol: str = "stable-audio") -> tuple[dict[str, Any], Path]:
    rows = write_set(out / "gen", n, seed=1)
    write_set(out / "ref", n, seed=2)
    captions = out / "captions.csv"
    with open(captions, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "caption", "seconds_total"])
        writer.writeheader()
        writer.writerows(rows)
    if random_weights:
        from metrics.random_weights import write_all

        weights_dir = out / "random-weights"
        write_all(weights_dir)
    cfg = RunConfig(gen=out / "gen", ref=out / "ref", captions=captions, id_col="id", text_col="caption",
                    seconds_col="seconds_total", weights_dir=weights_dir, cache_dir=out / "cache",
                    fd_bootstrap=20, protocol=protocol,
                    clap_checkpoint="630k-audioset-fusion" if random_weights else None)
    results = run(cfg, strict=False)
    results["random_weights"] = random_weights
    path = out / "results.json"
    write_results(path, results)
    return results, path
