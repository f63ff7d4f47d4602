"""What bf16 autocast does to every evaluator's scores: the same clips embedded in fp32 and in bf16, each metric
computed both ways, the movement set against the metric's bootstrap 95 % CI width (fp32).

``python -m benchmarks.precision_study --clips 100 --out runs/precision`` writes ``precision.json`` and
``precision.md`` (the table BENCHMARKS.md quotes). Evaluators run on random weights in the official formats
(written into ``--weights-dir``, default ``OUT/weights``, where no file is there yet: put the official files there
under their official names to study the real networks); the clips are synthetic music-like
mixtures (chords with decays, noise bursts, clicks), a generated and a reference set drawn from shifted
distributions so that every distance is well away from zero. Random weights are not the released networks: the
figures say how far bf16 moves *these* networks' scores; rerun with real weights before trusting bf16 on them.

Per metric: value in fp32 and in bf16, |bf16 - fp32|, the width of the fp32 percentile-bootstrap 95 % CI over the
generated files (the reference set fixed, as the protocols state their CIs), their ratio, and whether the ratio is
under :data:`metrics.embedding.precision.HARMLESS_FRACTION` once the width is projected to a MusicCaps-sized set
(:func:`metrics.embedding.precision.ratio_at`: bf16's movement does not shrink with the set, the CI does). Per evaluator:
median and max relative difference of its outputs, and its embedding time per clip in each precision (no cache). The verdict per evaluator is the largest ratio
over the metrics it feeds; ``metrics.embedding.precision.BF16_CLEARED`` is set from it by hand, with the figure.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from metrics.scores.distances import (cosine_similarity, fad_inf, frechet_distance, inception_score, kernel_audio_distance,
                                      kl_audioldm, kl_divergence)
from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders import build, entry
from metrics.embedding.pipeline import embed_files
from metrics.embedding.precision import HARMLESS_FRACTION, VERDICT_FILES, ratio_at
from metrics.scores.evaluate import gaussian_stats
from metrics.scores.stats import bootstrap_indices, percentile_interval
from sa_fixtures.clips import write_music_like_clips
from sa_util.cli import guarded, positive_int


# --- metrics over outputs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One metric of the study: ``fn(gen_outputs [files], ref_outputs [files]) -> value`` on the outputs of model
    ``model`` (the part named ``output`` of a multi-part output), its bootstrap replicates over generated files."""

    metric: str
    model: str
    fn: Callable[[list[np.ndarray], list[np.ndarray]], float]
    n_boot: int
    output: str | None = None
    options: tuple[tuple[str, Any], ...] = ()


def fd(gen: list[np.ndarray], ref: list[np.ndarray]) -> float:
    g, r = gaussian_stats([np.atleast_2d(x) for x in gen]), gaussian_stats([np.atleast_2d(x) for x in ref])
    return frechet_distance(g.mean, g.cov, r.mean, r.cov)


def kad(gen: list[np.ndarray], ref: list[np.ndarray]) -> float:
    return kernel_audio_distance(np.concatenate(ref), np.concatenate(gen))


def fad_inf_value(gen: list[np.ndarray], ref: list[np.ndarray]) -> float:
    r = gaussian_stats(ref)
    return fad_inf(np.concatenate(gen), r.mean, r.cov, min_n=min(500, sum(len(x) for x in gen) // 2))["value"]


def kl_passt(gen: list[np.ndarray], ref: list[np.ndarray]) -> float:
    return float(np.mean([kl_divergence(g, r) for g, r in zip(gen, ref)]))


def kl_panns(kind: str) -> Callable[[list[np.ndarray], list[np.ndarray]], float]:
    return lambda gen, ref: float(kl_audioldm(np.stack(gen), np.stack(ref), kind).mean())


def inception(gen: list[np.ndarray], ref: list[np.ndarray]) -> float:
    return inception_score(np.stack(gen), splits=10, seed=2020).mean


def clap_score(gen: list[np.ndarray], texts: list[np.ndarray]) -> float:
    """Mean cosine of each clip's audio embedding with its caption's text embedding (the "reference" side)."""
    return float(np.mean(cosine_similarity(np.stack(gen), np.stack(texts))))


def cases() -> list[Case]:
    """Every metric the protocols compute, on the evaluator and output each uses."""
    return [
        Case("FD_openl3", "openl3", fd, 30, options=(("content_type", "music"),)),
        Case("KL_passt", "passt", kl_passt, 1000),
        Case("CLAP_score", "clap", clap_score, 1000, options=(("checkpoint", "630k-audioset-fusion"),)),
        Case("FAD_vggish", "vggish", fd, 30),
        Case("KAD_vggish", "vggish", kad, 30),
        Case("FAD-inf_vggish", "vggish", fad_inf_value, 10),
        Case("FD_panns", "panns", fd, 10, output="embedding"),
        Case("KL_softmax_panns", "panns", kl_panns("softmax"), 1000, output="logits"),
        Case("KL_sigmoid_panns", "panns", kl_panns("sigmoid"), 1000, output="logits"),
        Case("IS_panns", "panns", inception, 100, output="logits"),
    ]


def part(outputs: list[np.ndarray], model: str, output: str | None) -> list[np.ndarray]:
    s = entry(model).part({}, output) if output else slice(None)
    return [o[..., s] for o in outputs]


def ci_width(case: Case, gen: list[np.ndarray], ref: list[np.ndarray], seed: int) -> float:
    """Width of the percentile-bootstrap 95 % CI of ``case`` over generated files (paired metrics resample pairs)."""
    paired = case.metric.startswith(("KL", "CLAP"))
    reps = []
    for idx in bootstrap_indices(len(gen), case.n_boot, seed):
        g = [gen[i] for i in idx]
        r = [ref[i] for i in idx] if paired else ref
        reps.append(case.fn(g, r))
    lo, hi = percentile_interval(np.array(reps))
    return hi - lo


# --- the study ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """How a precision row runs: the evaluator's autocast precision and whether fp32 matmuls/convolutions may use
    TF32 (CUDA only; PyTorch's default is off)."""

    precision: str
    tf32: bool = False


VARIANTS: dict[str, Variant] = {"fp32": Variant("fp32"), "bf16": Variant("bf16"), "tf32": Variant("fp32", tf32=True)}
BASE = "fp32"


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def embed_both(emb: Embedder, paths: list[str], other: str = "bf16") -> dict[str, tuple[list[np.ndarray], float]]:
    """``{variant: (outputs in path order, seconds)}`` of one loaded evaluator in fp32 and in ``other``
    (:data:`VARIANTS`), no cache (every clip embedded; timed after a two-clip warm-up)."""
    out = {}
    for name in (BASE, other):
        emb.precision = VARIANTS[name].precision
        set_tf32(VARIANTS[name].tf32)
        embed_files(emb, paths[:2], workers=0)  # warm-up: kernels for these shapes are built before timing
        started = time.perf_counter()
        res = embed_files(emb, paths, workers=0)
        if emb.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        if res.skipped:
            raise RuntimeError(f"{emb.name} {name}: {len(res.skipped)} clips failed, e.g. "
                               f"{next(iter(res.skipped.values()))}")
        out[name] = ([res.outputs[p] for p in paths], seconds)
    emb.precision = "fp32"
    set_tf32(False)
    return out


def weight_files(folder: Path, models: list[str]) -> dict[str, Path]:
    """``{model: file}`` for ``models`` (and CLAP's tokenizer folder as ``roberta``), random weights written under
    the official names into ``folder`` only where no file is there yet (official files placed there are used)."""
    from benchmarks.metric_peers import roberta_dir, write_weights

    files = {m: write_weights(m, folder) for m in models}
    if "clap" in models:
        files["roberta"] = roberta_dir(folder)
    return files


def case_entry(case: Case, g: dict[str, tuple[list[np.ndarray], float]], r: dict[str, tuple[list, float]],
               other: str, n: int, seed: int) -> dict[str, Any]:
    """One metric's entry: its value in fp32 and in ``other`` on the generated (``g``) and reference (``r``) outputs,
    the movement over the fp32 CI width and whether it is harmless; or why the metric is undefined on these clips."""
    model, pair = case.model, (BASE, other)
    gp = {p: part(g[p][0], model, case.output) for p in pair}
    rp = {p: part(r[p][0], model, case.output) for p in pair}
    try:
        v32, v16 = case.fn(gp[BASE], rp[BASE]), case.fn(gp[other], rp[other])
        width = ci_width(case, gp[BASE], rp[BASE], seed)
    except (ValueError, np.linalg.LinAlgError) as e:  # e.g. FD's sqrtm on too few files for its dimension
        print(f"{case.metric}: undefined on these clips ({e}); the evaluator is not cleared", flush=True)
        return {"model": model, "undefined": f"{type(e).__name__}: {e}"}
    ratio = abs(v16 - v32) / width if width > 0 else float("inf")
    projected = ratio_at(ratio, n)
    print(f"{case.metric}: {BASE} {v32:.6g} {other} {v16:.6g} |diff| {abs(v16 - v32):.3g} CI width {width:.3g} "
          f"ratio {ratio:.3g}", flush=True)
    return {"model": model, BASE: v32, other: v16, "abs_diff": abs(v16 - v32), "ci95_width_fp32": width,
            "diff_over_ci_width": ratio, f"ratio_at_{VERDICT_FILES}_files": projected,
            "harmless": bool(projected < HARMLESS_FRACTION), "n_boot": case.n_boot}


def study(out: Path, n: int, seconds: float, seed: int, models: list[str],
          weights_dir: Path | None = None, device: str = "cpu", other: str = "bf16") -> dict[str, Any]:
    """Writes the clips under ``out/clips``; evaluator files from ``weights_dir`` (default ``out/weights``); fp32
    against ``other`` (:data:`VARIANTS`: ``bf16`` autocast, or ``tf32`` on CUDA)."""
    pair = (BASE, other)
    clips = out / "clips" / f"{seconds:g}s-seed{seed}"  # a rerun with other settings never reuses these clips
    gen = write_music_like_clips(clips / "gen", n, seconds, seed, pitch_shift=0.0)
    ref = write_music_like_clips(clips / "ref", n, seconds, seed + 1, pitch_shift=4.0)
    weights = weight_files(weights_dir or out / "weights", models)
    captions = [f"a chord number {k}" for k in range(n)]
    all_cases = [c for c in cases() if c.model in models]
    results: dict[str, Any] = {"clips": {"n_per_side": n, "seconds": seconds, "seed": seed}, "models": {},
                               "metrics": {}, "harmless_fraction": HARMLESS_FRACTION, "pair": pair, "device": device}
    for model in dict.fromkeys(c.model for c in all_cases):
        options = dict(next(c.options for c in all_cases if c.model == model))
        extra = {"roberta_dir": weights["roberta"], "seed": seed} if model == "clap" else {}
        emb = build(model, weights[model], device, 32, **options, **extra)  # loaded once, run at both precisions
        emb.load()
        g = embed_both(emb, gen, other)
        if model == "clap":  # the captions' text embeddings (fp32) are CLAP's reference side, paired by item
            texts = list(emb.embed_text(captions))
            r = {p: (texts, g[p][1]) for p in pair}
        else:
            r = embed_both(emb, ref, other)
        flat32 = np.concatenate([o.ravel() for o in g[BASE][0]])
        flat16 = np.concatenate([o.ravel() for o in g[other][0]])
        rel = np.abs(flat16 - flat32) / (np.abs(flat32).max() + 1e-12)
        results["models"][model] = {
            "seconds_per_clip": {p: g[p][1] / n for p in pair},
            "output_rel_diff_median": float(np.median(rel)), "output_rel_diff_max": float(rel.max())}
        for case in (c for c in all_cases if c.model == model):
            results["metrics"][case.metric] = case_entry(case, g, r, other, n, seed)
        (out / "precision.partial.json").write_text(json.dumps(results, indent=1))  # a killed study keeps its models
    for model in results["models"]:  # an undefined metric counts as unmeasured movement: the evaluator stays fp32
        ratios = [m.get("diff_over_ci_width", float("inf")) for m in results["metrics"].values()
                  if m["model"] == model]
        results["models"][model]["worst_ratio"] = max(ratios)
        results["models"][model]["bf16_harmless"] = bool(ratio_at(max(ratios), n) < HARMLESS_FRACTION)
    return results


def table(results: dict[str, Any]) -> str:
    n = results["clips"]["n_per_side"]
    base, other = results.get("pair", (BASE, "bf16"))
    lines = [f"| metric | evaluator | {base} | {other} | abs diff | CI95 width ({base}, {n} files) | diff / width | "
             f"projected to {VERDICT_FILES} files | harmless |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m in results["metrics"].items():
        if "undefined" in m:
            lines.append(f"| {name} | {m['model']} | undefined: {m['undefined'][:80]} | | | | | | no |")
            continue
        lines.append(f"| {name} | {m['model']} | {m[base]:.5g} | {m[other]:.5g} | {m['abs_diff']:.2g} | "
                     f"{m['ci95_width_fp32']:.3g} | {m['diff_over_ci_width']:.3f} | "
                     f"{ratio_at(m['diff_over_ci_width'], n):.3f} | {'yes' if m['harmless'] else 'no'} |")
    lines += ["", f"| evaluator | s/clip {base} | s/clip {other} | speed-up | output rel. diff median / max | worst ratio |",
              "|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        s = m["seconds_per_clip"]
        lines.append(f"| {name} | {s[base]:.3f} | {s[other]:.3f} | {s[base] / s[other]:.2f}x | "
                     f"{m['output_rel_diff_median']:.1e} / {m['output_rel_diff_max']:.1e} | {m['worst_ratio']:.3f} |")
    return "\n".join(lines) + "\n"


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.precision_study", description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=positive_int, default=100, help="clips per side (generated and reference)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each clip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default="openl3,passt,clap,vggish,panns")
    p.add_argument("--out", type=Path, default=Path("runs/precision"))
    p.add_argument("--weights-dir", type=Path, default=None,
                   help="evaluator files under their official names (default OUT/weights); missing ones are written "
                        "there with random weights")
    args = p.parse_args(argv)
    results = study(args.out, args.clips, args.seconds, args.seed, args.models.split(","), args.weights_dir)

    results["environment"] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                              "cpu_bf16": bool(getattr(torch.backends, "mkldnn", None)
                                               and torch.backends.mkldnn.is_available())}
    (args.out / "precision.json").write_text(json.dumps(results, indent=1))
    (args.out / "precision.md").write_text(table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
