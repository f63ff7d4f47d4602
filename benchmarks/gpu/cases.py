"""The GPU cases, in order of importance, and the two scales they run at (full on CUDA, tiny for the CPU smoke).

A case is data: its kind (a key of :data:`KINDS`, the function that measures it), its parameters and its time box
at full scale. Adding a case is one line in :func:`cases`; adding a kind of measurement is one module function and
one line in :data:`KINDS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# kind -> "module:function(params: dict, scale: Scale, device: str, work: Path) -> dict of figures"
KINDS: dict[str, str] = {
    "generation": "benchmarks.gpu.generation:measure",
    "protocol": "benchmarks.gpu.evaluators:protocol_throughput",
    "kad": "benchmarks.gpu.evaluators:kad_frames",
    "precision": "benchmarks.gpu.evaluators:precision_rows",
    "peer": "benchmarks.gpu.generation:measure_peer",
}
MUSICCAPS_CLIPS = 5521  # the evaluators' throughput is extrapolated to a MusicCaps-sized set


@dataclass(frozen=True)
class Scale:
    """Sizes of one run of the cases."""

    name: str
    latents: int | None = None  # generation window in latents; None: the preset's own
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # backbone -> sa_core.config overrides
    steps: dict[str, int] = field(default_factory=lambda: {"v": 100, "rf_denoiser": 8})  # objective -> steps
    max_batch: int = 8
    rounds: int = 3  # timed rounds at most (after one warm-up), fewer when the box runs short
    clip_seconds: float = 10.0
    protocol_clips: tuple[int, int] = (4, 24)  # two set sizes: per-clip cost from the difference, fixed cost apart
    kad_frames: int = 100_000
    kad_dim: int = 512
    precision_clips: int = 16
    precision_models: tuple[str, ...] = ("openl3", "passt", "clap", "vggish", "panns")
    protocols: tuple[str, ...] = ("stable-audio", "musicgen", "audioldm", "audioldm2", "fadtk", "audiocraft", "tta-bench",
                                  "pam", "mad")  # most important first
    box_s: float | None = None  # one box for every case (None: each case's own, sized for a GPU)


FULL = Scale("full")
_TINY_AE = {"autoencoder.channels": 8}
SMOKE = Scale(
    "smoke", latents=16,
    overrides={"dit": {"dit.depth": 1, **_TINY_AE},
               "unet": {"unet.channels": 32, "unet.num_blocks": [1, 1, 1, 1],
                        **_TINY_AE}},
    steps={"v": 2, "rf_denoiser": 2}, max_batch=2, rounds=1, clip_seconds=2.0, protocol_clips=(1, 2),
    kad_frames=2000, kad_dim=64, precision_clips=4, precision_models=("vggish",),
    protocols=("fadtk",),  # the same code path as every protocol, on VGGish alone: the CI smoke stays short
    box_s=120.0)  # tiny cases on a CPU: the budget bounds the run, a box only catches a hang
SCALES: dict[str, Scale] = {"cuda": FULL, "cpu": SMOKE}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    params: dict[str, Any]
    box_s: float

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": self.params, "box_s": self.box_s}


def _gen(preset: str, batch: int, precision: str, box: float) -> Case:
    return Case(f"generation {preset} b{batch} {precision}", "generation",
                {"preset": preset, "batch": batch, "precision": precision}, box)


PRESETS = ("stable-audio-open-1.0", "stable-audio-1.0", "stable-audio-open-small")


def cases(scale: Scale = FULL) -> list[Case]:
    """Every case, most important first: the paper's headline figures (batch 1, bf16), the main protocol's
    throughput, batch 8, TF32 and fp32, KAD at 100k frames, the precision study's TF32 rows, the other protocols,
    then the peers."""
    out = [_gen(p, 1, "bf16", 60) for p in PRESETS]
    protocols = [Case(f"evaluators {p}", "protocol", {"protocol": p}, 120) for p in scale.protocols]
    out += protocols[:1]
    out += [_gen(p, 8, "bf16", 90) for p in PRESETS]
    out += [_gen(p, 1, "tf32", 60) for p in PRESETS] + [_gen(p, 1, "fp32", 120) for p in PRESETS]
    out.append(Case("KAD 100k frames", "kad", {}, 30))
    out.append(Case("precision study TF32 rows", "precision", {"other": "tf32"}, 120))
    out += protocols[1:]
    out += [Case(f"peer {s} stable-audio-open-1.0 b1 bf16", "peer", {"stack": s, "batch": 1, "precision": "bf16"}, 90)
            for s in ("diffusers", "stable-audio-tools")]
    return out
