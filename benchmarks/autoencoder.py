"""``python -m benchmarks.autoencoder --ckpt DIR --ref-dir DIR --out RUN``: autoencoder fidelity.

Every reference file goes through the checkpoint's VAE (resampled to its rate and channel count, deterministic
mean latents, decoded, trimmed); reports FD_openl3 of the reconstructions against the originals' statistics (the
upper bound on a generator using this VAE: the Stable Audio paper's 101.47 real vs 117.52 autoencoded on its
training data), and per item the multi-resolution STFT distance, a multi-scale mel distance and SI-SDR, with
bootstrap CIs, in the same results/report format as the other benchmarks.

``--synthcaps N`` instead of ``--ref-dir``: the references are the first N SynthCaps test renders (whole window,
silence after the sound), and the reconstructions are also scored for pitch, stereo position and timing against
the known content, as ``benchmarks.synthcaps`` scores generations: how much of a generator's error budget the VAE
alone already spends.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.runner import fmt
from benchmarks.synthcaps import adherence
from benchmarks.synthcaps_data import SR, items, render
from metrics.run import RunConfig, run, write_results
from metrics.scores.evaluate import timing_result
from metrics.scores.reconstruction import mel_distance, si_sdr
from metrics.scores.stats import bootstrap_ci
from metrics.scores.timing import detect_end
from sa_core.generate import write_audio
from sa_core.losses import stereo_mrstft_loss
from sa_core.model import StableAudio, load_model, read_model_config
from sa_util.audio import AudioError, read_audio, resample_soxr
from sa_util.cli import ArgumentParser, guarded, positive_int
from sa_util.device import check_device
from sa_util.ids import AUDIO_EXTENSIONS, audio_files, paths_in


def reconstruct(model: Any, audio: np.ndarray, chunk: int | None) -> np.ndarray:
    """``[C, T]`` at the model rate -> reconstruction ``[C, T]``."""
    x = torch.from_numpy(audio)[None].to(next(model.autoencoder.parameters()).device)
    with torch.no_grad():
        z, _ = model.autoencoder.encode(x, deterministic=True)
        y = model.autoencoder.decode(z, chunk=chunk)
    return y[0, :, :audio.shape[-1]].float().cpu().numpy()


def score(model: Any, path: str, chunk: int | None) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """One reference file -> (original at the model's rate and channels, reconstruction, its scores). Raises
    AudioError for unreadable audio, and whatever the model or a score raises on input it cannot take."""
    a = read_audio(path)
    sr, channels = model.cfg.sample_rate, model.cfg.autoencoder.io_channels
    x = resample_soxr(a.samples, a.sample_rate, sr)
    x = np.ascontiguousarray(np.repeat(x, channels, 0) if x.shape[0] == 1 and channels > 1 else x[:channels])
    y = reconstruct(model, x, chunk)
    scores = {"mrstft": float(stereo_mrstft_loss(torch.from_numpy(y)[None], torch.from_numpy(x)[None])),
              "mel_distance": mel_distance(x, y, sr), "si_sdr": si_sdr(x, y)}
    bad = [k for k, v in scores.items() if not np.isfinite(v)]
    if bad:
        raise AudioError(f"non-finite {', '.join(bad)}")
    return x, y, scores


def keep_only(folder: Path, names: set[str]) -> None:
    """Delete this benchmark's own outputs in ``folder`` that the current run did not produce, so that FD (which
    reads the whole folder) never mixes in files of an earlier run with other references or --limit."""
    for f in paths_in(folder) if folder.is_dir() else []:
        if Path(f).stem not in names:
            Path(f).unlink()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m benchmarks.autoencoder", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", type=Path, required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ref-dir", type=Path)
    src.add_argument("--synthcaps", type=positive_int, metavar="N", help="the first N SynthCaps test items as "
                     "references")
    p.add_argument("--out", type=Path, default=Path("runs/autoencoder"))
    p.add_argument("--limit", type=positive_int, help="the first N reference files")
    p.add_argument("--decode-chunk", type=positive_int, default=128)
    p.add_argument("--weights-dir", type=Path, help="OpenL3 weights for FD (skipped, with the reason, if missing)")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def reference_files(args: argparse.Namespace, test: list) -> tuple[list[str], list[dict[str, str]]]:
    """The files to reconstruct (the rendered SynthCaps items, or ``--ref-dir``'s) and the refused ones."""
    if test:
        for it in test:
            write_audio(args.out / "synthcaps" / f"{it.id}.wav", render(it), SR)
        return [str(args.out / "synthcaps" / f"{it.id}.wav") for it in test], []
    found = audio_files(args.ref_dir)  # the files of a run: the same rules (links, duplicates) as the metrics
    files = found.paths()[:args.limit]
    if not files:
        raise FileNotFoundError(f"--ref-dir {args.ref_dir} holds no audio file ({', '.join(AUDIO_EXTENSIONS)})")
    return files, [{"metric": "input", "file": f, "reason": why} for f, why in sorted(found.problems.items())]


def reconstruct_files(model: StableAudio, files: list[str], out: Path, decode_chunk: int
                ) -> tuple[dict[str, dict[str, float]], list[dict[str, str]]]:
    """Encode and decode every file into ``out/audio`` (originals at the model rate into ``out/reference``); the
    per-item scores and the files skipped with why."""
    sr = model.cfg.sample_rate
    scores: dict[str, dict[str, float]] = {"mrstft": {}, "mel_distance": {}, "si_sdr": {}}
    skipped = []
    for f in files:
        name = Path(f).stem
        try:
            x, y, item_scores = score(model, f, decode_chunk)
        except Exception as exc:  # one file the model or a score cannot take is skipped with why, never the run
            reason = str(exc) if isinstance(exc, AudioError) else f"autoencoder failed: {type(exc).__name__}: {exc}"
            skipped.append({"metric": "autoencoder", "file": f, "reason": " ".join(reason.split())})
            continue
        write_audio(out / "reference" / f"{name}.wav", x, sr)  # the originals at the model rate: FD reference set
        write_audio(out / "audio" / f"{name}.wav", y, sr)
        for metric, v in item_scores.items():
            scores[metric][name] = v
    return scores, skipped


def print_summary(results: dict[str, Any], skipped: list[dict[str, str]], out: Path) -> None:
    for m in ("fd", "mrstft", "mel_distance", "si_sdr", "pitch", "position"):
        if m in results["metrics"]:
            print(f"{m}: {fmt(results['metrics'][m]['value'], '.4g')}")
    if "timing" in results["metrics"]:
        t = results["metrics"]["timing"]
        print(f"timing: within ±0.5 s {fmt(t.get('within_0.5s'), '.1%')}, median |error| "
              f"{fmt(t.get('median_abs_error_s'))} s, bias {fmt(t.get('bias_s'), '+.3f')} s (n={t['n']})")
    for m, why in results["skipped_metrics"].items():
        print(f"{m}: skipped: {why}")
    if skipped:
        print(f"skipped files: {len(skipped)} (reasons in {out / 'results.json'})")


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_device(args.device)
    read_model_config(args.ckpt)  # a missing or broken checkpoint is an error before anything is written
    test = items("test", args.synthcaps) if args.synthcaps else []
    files, refused = reference_files(args, test)
    model = load_model(args.ckpt).to(args.device)
    sr = model.cfg.sample_rate
    recon_dir, orig_dir = args.out / "audio", args.out / "reference"
    scores, failed = reconstruct_files(model, files, args.out, args.decode_chunk)
    skipped = refused + failed
    done = set(scores["si_sdr"])
    for folder in (recon_dir, orig_dir):
        keep_only(folder, done)
        folder.mkdir(parents=True, exist_ok=True)
    results = run(RunConfig(gen=recon_dir, ref=orig_dir, metrics=("fd",), weights_dir=args.weights_dir,
                            device=args.device, progress=False), strict=False)
    for metric, per in scores.items():
        v = np.array(list(per.values()))
        results["metrics"][metric] = {"value": float(v.mean()) if len(v) else None, "n": len(v),
                                      "ci95": list(bootstrap_ci(v)), "per_item": per}
    if test:
        results["metrics"].update(adherence(recon_dir, test))
        detected = {it.id: detect_end(read_audio(recon_dir / f"{it.id}.wav").samples, sr) for it in test
                    if it.id in done}
        results["metrics"]["timing"] = timing_result(detected, {it.id: it.seconds for it in test},
                                                     [it.id for it in test])
    results["skipped_files"] += skipped
    results = write_results(args.out / "results.json", results, benchmark="autoencoder", checkpoint=str(args.ckpt),
                            audio={"evaluated": "audio", "timing": "audio"})
    from reports.html import write_report

    write_report([args.out], args.out / "report.html")
    print_summary(results, skipped, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
