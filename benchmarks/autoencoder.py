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

from benchmarks.synthcaps import adherence
from benchmarks.synthcaps_data import SR, items, render
from metrics.audio import AudioError, read_audio, resample_soxr
from metrics.evaluate import timing_result
from metrics.pipeline import paths_in
from metrics.reconstruction import mel_distance, si_sdr
from metrics.run import RunConfig, run, write_results
from metrics.stats import bootstrap_ci
from metrics.timing import detect_end
from sa_core.generate import write_wav
from sa_core.losses import stereo_mrstft_loss
from sa_core.model import load_model


def reconstruct(model: Any, audio: np.ndarray, chunk: int | None) -> np.ndarray:
    """``[C, T]`` at the model rate -> reconstruction ``[C, T]``."""
    x = torch.from_numpy(audio)[None].to(next(model.autoencoder.parameters()).device)
    with torch.no_grad():
        z, _ = model.autoencoder.encode(x, deterministic=True)
        y = model.autoencoder.decode(z, chunk=chunk)
    return y[0, :, :audio.shape[-1]].float().cpu().numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.autoencoder", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", type=Path, required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ref-dir", type=Path)
    src.add_argument("--synthcaps", type=int, metavar="N", help="the first N SynthCaps test items as references")
    p.add_argument("--out", type=Path, default=Path("runs/autoencoder"))
    p.add_argument("--limit", type=int)
    p.add_argument("--decode-chunk", type=int, default=128)
    p.add_argument("--weights-dir", type=Path, help="OpenL3 weights for FD (skipped, with the reason, if missing)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    test = items("test", args.synthcaps) if args.synthcaps else []
    for it in test:
        write_wav(args.out / "synthcaps" / f"{it.id}.wav", render(it), SR)
    try:
        model = load_model(args.ckpt).to(args.device)
        files = paths_in(args.out / "synthcaps" if test else args.ref_dir)[:args.limit]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sr, channels = model.cfg.sample_rate, model.cfg.autoencoder.io_channels
    recon_dir, orig_dir = args.out / "audio", args.out / "reference"
    scores: dict[str, dict[str, float]] = {"mrstft": {}, "mel_distance": {}, "si_sdr": {}}
    skipped = []
    for f in files:
        name = Path(f).stem
        try:
            a = read_audio(f)
        except AudioError as exc:
            skipped.append({"metric": "autoencoder", "file": f, "reason": str(exc)})
            continue
        x = resample_soxr(a.samples, a.sample_rate, sr)
        x = np.repeat(x, channels, 0) if x.shape[0] == 1 and channels > 1 else x[:channels]
        y = reconstruct(model, np.ascontiguousarray(x), args.decode_chunk)
        write_wav(orig_dir / f"{name}.wav", x, sr)  # the originals at the model rate: FD reference set
        write_wav(recon_dir / f"{name}.wav", y, sr)
        scores["mrstft"][name] = float(stereo_mrstft_loss(torch.from_numpy(y)[None], torch.from_numpy(x)[None]))
        scores["mel_distance"][name] = mel_distance(x, y, sr)
        scores["si_sdr"][name] = si_sdr(x, y)
    results = run(RunConfig(gen=recon_dir, ref=orig_dir, metrics=("fd",), weights_dir=args.weights_dir,
                            device=args.device, progress=False), strict=False)
    for metric, per in scores.items():
        v = np.array(list(per.values()))
        results["metrics"][metric] = {"value": float(v.mean()) if len(v) else None, "n": len(v),
                                      "ci95": list(bootstrap_ci(v)), "per_item": per}
    if test:
        results["metrics"].update(adherence(recon_dir, test))
        detected = {it.id: detect_end(read_audio(recon_dir / f"{it.id}.wav").samples, sr) for it in test
                    if (recon_dir / f"{it.id}.wav").exists()}
        results["metrics"]["timing"] = timing_result(detected, {it.id: it.seconds for it in test},
                                                     [it.id for it in test])
    results.update(benchmark="autoencoder", checkpoint=str(args.ckpt))
    results["skipped_files"] += skipped
    write_results(args.out / "results.json", results)
    from reports.html import write_report

    write_report([args.out], args.out / "report.html")
    for m in ("fd", "mrstft", "mel_distance", "si_sdr", "pitch", "position"):
        if m in results["metrics"]:
            print(f"{m}: {results['metrics'][m]['value']}")
    if "timing" in results["metrics"]:
        t = results["metrics"]["timing"]
        print(f"timing: within ±0.5 s {t['within_0.5s']:.1%}, median |error| {t['median_abs_error_s']:.3f} s, "
              f"bias {t['bias_s']:+.3f} s (n={t['n']})")
    for m, why in results["skipped_metrics"].items():
        print(f"{m}: skipped: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
