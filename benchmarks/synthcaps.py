"""``python -m benchmarks.synthcaps [--out DIR]``: the embedded offline benchmark, end to end.

SynthCaps test prompts -> generation with the checkpoint shipped in the package (a ``tiny`` model trained on
SynthCaps train by ``sa_core.train``) -> timing accuracy, pitch accuracy and stereo-position accuracy against the
known content (no pretrained evaluator needed; FD/KL/CLAP run too when their weights are present, otherwise they
are listed as skipped with the command to get them) -> ``results.json`` and ``report.html``.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.runner import Prompt, check_prompts, fmt, run_benchmark, window_seconds
from benchmarks.synthcaps_data import NOTES, PANS, SR, Item, items, render
from metrics.scores.adherence import cents, pitch_of, position_of, stereo_balance
from metrics.scores.stats import bootstrap_ci
from sa_core.diffusion import is_flow
from sa_core.flow_sampling import FLOW_SAMPLERS
from sa_core.generate import SamplerConfig, check_sampler, recommended_sampler, write_audio
from sa_core.model import read_model_config
from sa_core.sampling import SAMPLERS
from sa_util.audio import AudioError, read_audio
from sa_util.cli import ArgumentParser, guarded, positive_int
from sa_util.device import check_device

SHIPPED = Path(__file__).resolve().parents[1] / "sa_core" / "checkpoints" / "synthcaps-tiny"
PITCH_TOLERANCE_CENTS = 50.0


def adherence(audio_dir: Path, test_items: list[Item], n_boot: int = 1000) -> dict[str, Any]:
    """Pitch accuracy (tonal prompts) and stereo-position accuracy (all prompts) of the generated files. Each
    per-item entry holds its ``hit`` (1 or 0: the items of the value, which paired comparisons read) and the
    measurement behind it (``cents`` off the prompt's note, NaN where no pitch was found; stereo ``balance``)."""
    pitch: dict[str, dict[str, float]] = {}
    position: dict[str, dict[str, float]] = {}
    for it in test_items:
        try:
            audio = read_audio(audio_dir / f"{it.id}.wav")
        except AudioError:
            continue  # reported by the timing metric's skipped files
        b = stereo_balance(audio.samples)
        position[it.id] = {"hit": float(position_of(b) == it.pan), "balance": b}
        if it.freq:
            c = cents(pitch_of(audio.samples, audio.sample_rate), it.freq)
            pitch[it.id] = {"hit": float(np.isfinite(c) and abs(c) <= PITCH_TOLERANCE_CENTS), "cents": c}
    hits = np.array([r["hit"] for r in pitch.values()])
    pos = np.array([r["hit"] for r in position.values()])
    finite = [abs(r["cents"]) for r in pitch.values() if np.isfinite(r["cents"])]
    return {
        "pitch": {"value": float(hits.mean()) if len(hits) else None, "n": len(hits),
                  "ci95": list(bootstrap_ci(hits, n_boot=n_boot)), "chance": 1 / len(NOTES),
                  "tolerance_cents": PITCH_TOLERANCE_CENTS,
                  "median_abs_cents": float(np.median(finite)) if finite else None,
                  "no_pitch_found": len(pitch) - len(finite), "per_item": pitch},
        "position": {"value": float(pos.mean()) if len(pos) else None, "n": len(pos),
                     "ci95": list(bootstrap_ci(pos, n_boot=n_boot)), "chance": 1 / len(PANS),
                     "per_item": position},
    }


def write_references(folder: Path, test_items: list[Item]) -> None:
    """The ground-truth render of each prompt, rewritten every run (cheap, deterministic): a file damaged by an
    interrupted run can never leak into the FD/KL reference set."""
    for it in test_items:
        write_audio(folder / f"{it.id}.wav", render(it), SR)


def synthcaps_sampler(objective: str, args: Any) -> SamplerConfig:
    """v checkpoints: DPM-Solver++(2M) on Karras sigmas 0.03..80 (tuned on the shipped model), 50 steps; flow
    checkpoints: their recommended sampler (``recommended_sampler``) on the logSNR grid; --steps/--sampler override,
    --cfg-scale applies to both."""
    if is_flow(objective):
        base = recommended_sampler(objective)
        cfg = replace(base, steps=args.steps or base.steps, cfg_scale=args.cfg_scale,
                      sampler=args.sampler or base.sampler)
    else:
        cfg = SamplerConfig(steps=args.steps or 50, cfg_scale=args.cfg_scale, sigma_min=0.03, sigma_max=80.0,
                            sampler=args.sampler or "dpmpp-2m", schedule="karras", rho=7.0)
    check_sampler(cfg, objective)
    return cfg


@guarded
def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m benchmarks.synthcaps", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/synthcaps"))
    p.add_argument("--ckpt", type=Path, default=SHIPPED, help="default: the checkpoint shipped in the package")
    p.add_argument("--n", type=positive_int, default=40, help="test prompts")
    p.add_argument("--steps", type=positive_int,
                   help="default: 50 for a v checkpoint, the recommended count for a flow one")
    p.add_argument("--sampler", choices=[*SAMPLERS, *FLOW_SAMPLERS],
                   help="default: dpmpp-2m (Karras sigmas) for v, the checkpoint's recommended one for flow")
    p.add_argument("--cfg-scale", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights-dir", type=Path, help="evaluator weights for FD/KL/CLAP (optional)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    check_device(args.device)
    if not (args.ckpt / "model.safetensors").is_file():
        print(f"error: no checkpoint at {args.ckpt}", file=sys.stderr)
        return 2
    sampler = synthcaps_sampler(read_model_config(args.ckpt).objective, args)
    test = items("test", args.n, seed=args.seed)
    prompts = [Prompt(i.id, i.caption, i.seconds) for i in test]
    check_prompts(prompts, window_seconds(args.ckpt))  # before anything is written
    reference = args.out / "reference"  # the ground truth of each prompt: FD/KL references when weights exist
    write_references(reference, test)
    results = run_benchmark("synthcaps", prompts, args.out, ckpt=args.ckpt, sampler=sampler, seed=args.seed,
                            batch_size=args.batch_size, device=args.device, trim=False,  # timing sees the window
                            metrics_cfg={"weights_dir": args.weights_dir, "ref": reference},
                            extra=lambda audio_dir, _prompts, _metrics: adherence(audio_dir, test),
                            progress=not args.no_progress)
    m = results["metrics"]
    if "timing" in m:  # otherwise listed below with the reason it was skipped
        t = m["timing"]
        print(f"timing: within ±0.5 s {fmt(t['within_0.5s'], '.1%')}, MAE {fmt(t['mae_s'])} s (n={t['n']})")
    print(f"pitch: {fmt(m['pitch']['value'], '.1%')} within ±50 cents (chance {m['pitch']['chance']:.1%}, "
          f"n={m['pitch']['n']})")
    print(f"position: {fmt(m['position']['value'], '.1%')} (chance {m['position']['chance']:.1%}, "
          f"n={m['position']['n']})")
    for name, why in results["skipped_metrics"].items():
        print(f"{name}: skipped: {why}")
    print(f"report: {args.out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
