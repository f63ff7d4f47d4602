"""``gpu.json`` and ``gpu.md``: the environment, then one row per case with its headline figure, the published
figure where one exists, and the cases that did not run."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from benchmarks.gpu.cases import MUSICCAPS_CLIPS

# published figures set beside ours (preset -> text): the SA 1.0 paper (Evans et al. 2024) and the SAO Small release
PUBLISHED: dict[str, str] = {
    "stable-audio-1.0": "95 s of stereo in 8 s on an A100 (100 steps, batch 1)",
    "stable-audio-open-1.0": "20 steps/s on an H100",
    "stable-audio-open-small": "75 ms on an H100 (8 steps, batch 1)",
}


def _generation(f: dict[str, Any]) -> str:
    return (f"{f['seconds']:.3g} s for {f['seconds_of_audio']:.1f} s of audio ({f['steps']} steps): "
            f"{f['steps_per_second']:.1f} steps/s, {f['real_time_factor']:.1f}x real time")


def _protocol(f: dict[str, Any]) -> str:
    hours = f[f"extrapolated_{MUSICCAPS_CLIPS}_clips_s"] / 3600
    return (f"{f['seconds_per_clip']:.3g} s per {f['clip_seconds']:g} s clip + {f['fixed_seconds']:.1f} s fixed: "
            f"{hours:.2f} h for {MUSICCAPS_CLIPS} clips ({', '.join(f['metrics_run'])})")


def _kad(f: dict[str, Any]) -> str:
    return f"{f['seconds']:.3g} s for {f['frames']:,} x {f['dim']} frames per side"


def _precision(f: dict[str, Any]) -> str:
    models = f["study"]["models"]
    return "; ".join(f"{m}: worst diff/CI {v['worst_ratio']:.3f}" for m, v in models.items())


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "generation": _generation, "peer": _generation, "protocol": _protocol, "kad": _kad, "precision": _precision}


def markdown(data: dict[str, Any]) -> str:
    env = data["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(env["versions"].items()))
    lines = [f"# GPU cases ({data['scale']} scale, budget {data['budget_s']:.0f} s, used {data['used_s']:.0f} s)", "",
             f"Card: {env['card']}; driver {env['driver']}; CUDA {env['cuda']}; Python {env['python']}; {versions}",
             "", "| case | status | figure | published | wall s |", "|---|---|---|---|---|"]
    for o in data["cases"]:
        figure = SUMMARIES[o["kind"]](o["figures"]) if o["status"] == "ok" else (o["reason"] or "").splitlines()[0]
        published = PUBLISHED.get(o["params"].get("preset", ""), "") if o["params"].get("batch") == 1 else ""
        lines.append(f"| {o['name']} | {o['status']} | {figure} | {published} | {o['wall_s']:.1f} |")
    tables = [o["figures"]["table"] for o in data["cases"] if o["status"] == "ok" and o["kind"] == "precision"]
    return "\n".join(lines + [""] + tables) + "\n"


def write(out: Path, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(data, indent=1, default=str))
    (out / "gpu.md").write_text(markdown(data))
