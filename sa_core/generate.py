"""Text-to-audio generation: conditioning -> guided sampler over the latent window -> VAE decode -> trim.

The sampler follows the checkpoint's objective: DPM-Solver++ on k-diffusion sigmas for v models, Euler /
DPM-Solver++(2M) / pingpong on flow times for rectified-flow models; flags left out take the checkpoint's
recommended sampler (``recommended_sampler``: pingpong 8 steps without CFG for stable-audio-open-small).

``python -m sa_core.generate --ckpt DIR --prompt "..." --seconds-total 30 --steps 100 --cfg-scale 7 --seed 0
--out out.wav`` (.wav float, .flac 24-bit, .ogg or .mp3, by the extension), or many prompts from a CSV into
``--out-dir`` (one ``<id>.wav`` each). An interrupted run resumes: an existing file is kept when it decodes to the
expected channels, rate and length, and regenerated otherwise. Every setting and requested length is checked
before the model loads (:meth:`SamplerConfig.validate`, :func:`check_seconds_total`). Each CSV prompt's noise comes
from its own generator seeded with :func:`item_seed` (``seed + crc32(id)``, as the benchmark runners do), so an item's
audio depends neither on the batch it was generated in nor on its row: a resumed run over an edited CSV, or the same
id through ``benchmarks.runner``, gives the same audio. Results are deterministic for a seed on the same device and
dtype.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sa_core.config import FlowShiftConfig
from sa_core.diffusion import cfg_velocity, denoiser_for, is_flow
from sa_util.cli import ArgumentParser, first_reasons, guarded, positive_int
from sa_util.device import check_device
from sa_util.files import atomic_write
from sa_util.ids import MAX_NAME_BYTES, check_id
from sa_util.paths import check_apart, check_folder_target
from sa_core.flow_sampling import (FLOW_SAMPLERS, FLOW_SCHEDULES, STOCHASTIC_FLOW_SAMPLERS, get_t_linear,
                                   get_t_logsnr)
from sa_core.model import StableAudio, load_model, read_model_config
from sa_core.sampling import SAMPLERS, SCHEDULES


class SettingsError(ValueError):
    """A generation request that cannot produce valid audio; ``str(err)`` is the one-line reason."""


@dataclass(frozen=True)
class SamplerConfig:
    """Sampler settings; invalid ones raise :class:`SettingsError` on construction (see :meth:`validate`)."""

    steps: int = 100
    cfg_scale: float = 7.0
    cfg_rescale: float = 0.0  # the reference's scale_phi (0.4 is the SA1 U-Net default)
    sampler: str = "dpmpp-3m-sde"
    schedule: str = "polyexponential"
    sigma_min: float = 0.3  # SAO model card: 0.3 .. 500, 100 steps, CFG 7, dpmpp-3m-sde
    sigma_max: float = 500.0  # v: the first sigma; a flow model starts from t_max (below) instead
    rho: float = 1.0
    decode_chunk: int | None = 128  # latent frames per VAE decode window (flat memory); None: whole window

    def __post_init__(self) -> None:
        self.validate()

    @property
    def t_max(self) -> float:
        """A flow model's first time t (1 = pure noise): ``--sigma-max`` read as t, capped at 1."""
        return min(self.sigma_max, 1.0)

    def validate(self) -> None:
        """Raise SettingsError unless the settings give a finite, decreasing noise schedule: steps >= 1; finite
        cfg_scale; cfg_rescale in [0, 1]; 0 < sigma_min < sigma_max, both finite (the solvers work in log sigma);
        rho > 0 and finite; a known sampler and schedule; decode_chunk None or >= 1."""
        def bad(name: str, what: str) -> SettingsError:
            return SettingsError(f"{name} (--{name.replace('_', '-')}) must be {what}, got {getattr(self, name)!r}")

        if not _is_int(self.steps) or not 1 <= self.steps <= MAX_STEPS:
            raise bad("steps", f"an integer in [1, {MAX_STEPS:,}]")
        for name in ("cfg_scale", "cfg_rescale", "sigma_min", "sigma_max", "rho"):
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value):
                raise bad(name, "a finite number")
        if not 0.0 <= self.cfg_rescale <= 1.0:
            raise bad("cfg_rescale", "in [0, 1]")
        if self.sigma_min <= 0:
            raise bad("sigma_min", "> 0 (the solvers step in log sigma)")
        if self.sigma_max <= self.sigma_min:
            raise bad("sigma_max", f"above sigma_min ({self.sigma_min:g})")
        if self.rho <= 0:
            raise bad("rho", "> 0")
        if self.sampler not in (*SAMPLERS, *FLOW_SAMPLERS):
            raise bad("sampler", f"one of {[*SAMPLERS, *FLOW_SAMPLERS]}")
        if self.schedule not in (*SCHEDULES, *FLOW_SCHEDULES):
            raise bad("schedule", f"one of {[*SCHEDULES, *FLOW_SCHEDULES]}")
        if self.decode_chunk is not None and (not _is_int(self.decode_chunk) or self.decode_chunk < 1):
            raise bad("decode_chunk", "None or an integer >= 1")


MAX_STEPS = 10_000  # sampler steps; the released models are sampled in 8-250


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def check_seconds_total(seconds: dict[str, float], window_s: float | None) -> None:
    """Raise SettingsError unless every requested length (``{id: seconds_total}``) is a finite number in
    (0, ``window_s``]. Longer than the window is an error, not a silent clamp: the model cannot make it, and a
    file of the window's length scored against the request would misreport both the audio and the timing.
    ``window_s`` None: no upper bound (audio from another model)."""
    allowed = f"in (0, {window_s:.3f}] s (the model's window)" if window_s is not None else "> 0"
    for item_id, s in seconds.items():
        if not (_is_real(s) and math.isfinite(s)) or s <= 0 or (window_s is not None and s > window_s):
            raise SettingsError(f"seconds_total of {item_id!r} must be a finite number {allowed}, got {s!r}")


def trimmed_frames(seconds_total: float, sample_rate: int, window: int) -> int:
    """Samples a trimmed output keeps: ``round(seconds_total * sample_rate)``, at least 1, at most the window."""
    return min(window, max(1, int(round(seconds_total * sample_rate))))


def recommended_sampler(objective: str) -> SamplerConfig:
    """A checkpoint's own sampler: v -> DPM-Solver++(3M) SDE 100 steps CFG 7 (the SAO 1.0 card); rectified_flow ->
    Euler 50 steps CFG 7 and rf_denoiser -> pingpong 8 steps CFG 1 (stable-audio-tools' defaults for those
    objectives), both on its logSNR grid from t = 1."""
    if objective == "rf_denoiser":
        return SamplerConfig(steps=8, cfg_scale=1.0, sampler="pingpong", schedule="logsnr", sigma_max=1.0)
    if is_flow(objective):
        return SamplerConfig(steps=50, cfg_scale=7.0, sampler="euler", schedule="logsnr", sigma_max=1.0)
    denoiser_for(objective, lambda *a: None)  # unknown objective: the one-line error
    return SamplerConfig()


def check_sampler(sampling: SamplerConfig, objective: str) -> None:
    """One-line error when ``sampling``'s sampler/schedule do not belong to ``objective``'s parameterisation."""
    samplers, schedules = (FLOW_SAMPLERS, FLOW_SCHEDULES) if is_flow(objective) else (SAMPLERS, tuple(SCHEDULES))
    if sampling.sampler not in samplers:
        raise SettingsError(f"sampler {sampling.sampler!r} does not fit a {objective!r} model; expected one of "
                            f"{list(samplers)}")
    if sampling.schedule not in schedules:
        raise SettingsError(f"schedule {sampling.schedule!r} does not fit a {objective!r} model; expected one of "
                            f"{list(schedules)}")


def sigmas_for(sampling: SamplerConfig, device: torch.device | str, objective: str = "v",
               flow_shift: FlowShiftConfig | None = None, seq_len: int | None = None) -> torch.Tensor:
    """The noise grid: k-diffusion sigmas (v) or flow times t from ``sampling.t_max`` (rectified flow)."""
    if is_flow(objective):
        if sampling.schedule == "logsnr":
            return get_t_logsnr(sampling.steps, sampling.t_max, device=device)
        return get_t_linear(sampling.steps, sampling.t_max, flow_shift, seq_len, device=device)
    kwargs = {"rho": sampling.rho} if sampling.schedule != "exponential" else {}
    return SCHEDULES[sampling.schedule](sampling.steps, sampling.sigma_min, sampling.sigma_max, device=device,
                                        **kwargs)


def item_seed(seed: int, item_id: str) -> int:
    """The noise seed of the prompt ``item_id`` in a run seeded ``seed``: ``(seed + crc32(id)) mod 2**63``."""
    return (seed + zlib.crc32(item_id.encode())) % 2**63


@torch.no_grad()
def generate_latents(model: StableAudio, prompts: list[str], seconds_total: list[float], seeds: list[int],
                     sampling: SamplerConfig = SamplerConfig(), seconds_start: list[float] | None = None,
                     latent_length: int | None = None, device: torch.device | str = "cpu",
                     progress: bool = False) -> torch.Tensor:
    """``[B, latent_dim, L]`` latents for a batch of prompts (``progress``: a bar of the sampler's steps)."""
    B = len(prompts)
    L = latent_length or model.cfg.latent_length
    cond = model.conditioner(prompts, seconds_start or [0.0] * B, seconds_total, device)
    objective = model.cfg.objective
    check_sampler(sampling, objective)
    velocity = cfg_velocity(model.velocity, model.null_conditioning(cond), sampling.cfg_scale,
                            sampling.cfg_rescale)
    denoiser = denoiser_for(objective, velocity)
    generators = [torch.Generator(device).manual_seed(s) for s in seeds]
    sigmas = sigmas_for(sampling, device, objective, model.cfg.flow_shift, L)
    noise = torch.stack([torch.randn(model.latent_channels, L, generator=g, device=device) for g in generators])
    sampler = (FLOW_SAMPLERS if is_flow(objective) else SAMPLERS)[sampling.sampler]
    stochastic = sampling.sampler.endswith("sde") or sampling.sampler in STOCHASTIC_FLOW_SAMPLERS
    kwargs = {"generator": generators} if stochastic else {}
    kwargs["disable_progress"] = not progress
    with model.reusing_context():  # the text tokens are the same at every step: keys/values computed once
        return sampler(denoiser, noise * sigmas[0].to(noise.dtype), sigmas, extra_args={"cond": cond}, **kwargs)


@torch.no_grad()
def generate(model: StableAudio, prompts: list[str], seconds_total: list[float], seeds: list[int],
             sampling: SamplerConfig = SamplerConfig(), device: torch.device | str = "cpu",
             trim: bool = True, progress: bool = False) -> list[np.ndarray]:
    """Audio per prompt, ``[channels, samples]`` float32, trimmed to its ``seconds_total`` (``trim``) or the whole
    window (what a timing evaluation needs: a file cut at ``seconds_total`` cannot show that it runs long).
    Raises SettingsError for lengths outside (0, window] (:func:`check_seconds_total`)."""
    if not len(prompts) == len(seconds_total) == len(seeds):
        raise SettingsError(f"{len(prompts)} prompts, {len(seconds_total)} lengths and {len(seeds)} seeds")
    check_seconds_total({f"prompt {k}": s for k, s in enumerate(seconds_total)}, model.cfg.max_seconds)
    latents = generate_latents(model, prompts, seconds_total, seeds, sampling, device=device, progress=progress)
    ae = model.autoencoder
    audio = ae.decode(latents.to(next(ae.parameters()).dtype), chunk=sampling.decode_chunk)
    audio = audio.float().cpu().numpy()
    sr = model.cfg.sample_rate
    return [a[:, :trimmed_frames(s, sr, a.shape[-1])] if trim else a for a, s in zip(audio, seconds_total)]


# --- output files --------------------------------------------------------------------------------------------
AUDIO_FORMATS: dict[str, tuple[str, str]] = {  # extension -> (soundfile format, subtype); the metrics read all four
    ".wav": ("WAV", "FLOAT"),  # exact
    ".flac": ("FLAC", "PCM_24"),  # lossless at 24 bits; samples clipped to [-1, 1]
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def audio_format(path: Path) -> tuple[str, str]:
    """(format, subtype) for ``path``'s extension; SettingsError for any other extension."""
    fmt = AUDIO_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SettingsError(f"{path}: unknown audio extension {path.suffix!r}; use one of {list(AUDIO_FORMATS)}")
    return fmt


def check_output_path(path: Path) -> None:
    """Raise SettingsError unless ``path`` can take an audio file: a known extension, not an existing folder."""
    if path.is_dir():
        raise SettingsError(f"{path} is a folder; give a file name such as {path / 'out.wav'}")
    audio_format(path)
    if len(path.name.encode()) > MAX_NAME_BYTES:
        raise SettingsError(f"{path.name[:40]}...: file names are limited to {MAX_NAME_BYTES} bytes")


def write_audio(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Atomic write of ``audio`` ``[C, T]`` in the format of ``path``'s extension (:data:`AUDIO_FORMATS`)."""
    import soundfile as sf

    fmt, subtype = audio_format(path)
    data = audio.T if subtype == "FLOAT" else np.clip(audio.T, -1.0, 1.0)
    atomic_write(path, lambda tmp: sf.write(tmp, data, sample_rate, format=fmt, subtype=subtype),
                 suffix=path.suffix)


def verify_audio(path: Path, sample_rate: int, channels: int, frames: int) -> str | None:
    """Why the file at ``path`` cannot be reused as generator output, or None if it can: it must decode
    (:func:`sa_util.audio.read_audio`: readable, finite, not silent) to ``channels`` x ``frames`` samples at
    ``sample_rate``. A file cut short by an interrupted write decodes to fewer frames than its header claims."""
    from sa_util.audio import AudioError, read_audio

    if not path.is_file():
        return "missing"
    try:
        a = read_audio(path)
    except AudioError as exc:
        return str(exc)
    got = (a.sample_rate, a.samples.shape[0], a.samples.shape[1])
    if got != (sample_rate, channels, frames):
        return (f"{got[1]} channel(s) x {got[2]} samples at {got[0]} Hz, expected {channels} x {frames} at "
                f"{sample_rate} Hz")
    return None


# --- resumable generation into a folder ----------------------------------------------------------------------
WINDOW_SUFFIX = ".flac"  # whole windows kept beside trimmed outputs: lossless 24-bit


def output_targets(item_id: str, seconds_total: float, out_dir: Path, sample_rate: int, window: int, *,
                   trim: bool = True, window_dir: Path | None = None) -> list[tuple[Path, int]]:
    """The files one prompt's generation writes, with their expected lengths in samples: ``out_dir/<id>.wav``, cut
    at ``seconds_total`` (``trim``) or the whole window, and with ``window_dir`` also ``window_dir/<id>.flac``
    holding the whole window."""
    frames = trimmed_frames(seconds_total, sample_rate, window) if trim else window
    whole = [(window_dir / f"{item_id}{WINDOW_SUFFIX}", window)] if window_dir is not None else []
    return [(out_dir / f"{item_id}.wav", frames), *whole]


def why_regenerate(targets: list[tuple[Path, int]], sample_rate: int, channels: int) -> str | None:
    """None if every file of a prompt can be reused; "missing" if none exists yet; else the first file's problem,
    as ``<folder>/<file>: <why>``."""
    found = [(path, verify_audio(path, sample_rate, channels, frames)) for path, frames in targets]
    bad = [(path, why) for path, why in found if why is not None]
    if not bad:
        return None
    if len(bad) == len(found) and all(why == "missing" for _, why in bad):
        return "missing"
    path, why = bad[0]
    return f"{path.parent.name}/{path.name}: {why}"


def generate_missing(ckpt: str | Path, rows: list[tuple[str, str, float]], out_dir: Path, sampler: SamplerConfig,
                     seed: int, batch_size: int, device: str, *, trim: bool = True, window_dir: Path | None = None,
                     text_path: str | None = None, dtype: torch.dtype = torch.float32, progress: bool = False,
                     step_progress: bool = False, status: bool = True) -> dict:
    """Generate every ``(id, prompt, seconds_total)`` row whose files (:func:`output_targets`) are missing or fail
    :func:`verify_audio`; returns what was done (generated, reused, regenerated with reasons, seconds).

    An existing file is reused only if it decodes to the model's channels and rate at the expected length, so an
    interrupted run resumes. A row's noise seed is :func:`item_seed` (``seed + crc32(id)``): its audio depends
    neither on sharding nor on batch composition. ``progress``: a bar of the batches; ``step_progress``: a bar of
    each batch's sampling steps; ``status``: one line on stderr of what is reused and what is to go (printed anyway
    when files that failed verification are replaced).
    """
    from tqdm import tqdm

    if batch_size < 1:
        raise SettingsError(f"batch size must be >= 1, got {batch_size}")
    spec = read_model_config(ckpt)
    check_seconds_total({i: s for i, _, s in rows}, spec.max_seconds)
    sr, channels, window = spec.sample_rate, spec.autoencoder.io_channels, spec.sample_size

    def targets(item_id: str, seconds: float) -> list[tuple[Path, int]]:
        return output_targets(item_id, seconds, out_dir, sr, window, trim=trim, window_dir=window_dir)

    reasons = {i: why for i, _, s in rows if (why := why_regenerate(targets(i, s), sr, channels))}
    redo = {i: why for i, why in reasons.items() if why != "missing"}
    if status or redo:  # replacing files that failed verification is worth a line even without progress output
        print(f"{len(rows) - len(reasons)} of {len(rows)} already generated; {len(reasons)} to go"
              + (f"; {len(redo)} of them replace files that failed verification ({first_reasons(redo)})" if redo
                 else ""), file=sys.stderr)
    summary = {"generated": len(reasons), "reused": len(rows) - len(reasons), "regenerated": redo, "seconds": 0.0,
               "trimmed_to_seconds_total": window_dir is not None}
    todo = [r for r in rows if r[0] in reasons]
    if not todo:
        return summary
    model = load_model(ckpt, text_path=text_path).to(device, dtype)
    started = time.time()
    for start in tqdm(range(0, len(todo), batch_size), disable=not progress, desc="generating", unit="batch"):
        batch = todo[start:start + batch_size]
        audio = generate(model, [r[1] for r in batch], [r[2] for r in batch], [item_seed(seed, r[0]) for r in batch],
                         sampler, device, trim=False, progress=step_progress)
        for (item_id, _, seconds), a in zip(batch, audio):
            for path, frames in targets(item_id, seconds):
                write_audio(path, a[:, :frames], sr)
    summary["seconds"] = time.time() - started
    return summary


# --- command line --------------------------------------------------------------------------------------------
def read_prompts(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """(id, prompt, seconds_total) rows from --prompt or --prompts-csv."""
    if args.prompt is not None:
        return [("out", args.prompt, args.seconds_total)]
    from sa_util.ids import read_table

    texts = read_table(args.prompts_csv, args.id_col, args.text_col)
    seconds = read_table(args.prompts_csv, args.id_col, args.seconds_col) if args.seconds_col else {}
    return [(check_id(i), t, _seconds(seconds.get(i, args.seconds_total), i)) for i, t in texts.items()]


def _seconds(value: str | float, item_id: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"seconds_total of {item_id!r} is not a number: {value!r}") from None


def sampler_from_args(args: argparse.Namespace, objective: str) -> SamplerConfig:
    """The checkpoint's recommended sampler with the flags that were given on top; checked against the objective."""
    given = {k: getattr(args, k) for k in ("steps", "cfg_scale", "cfg_rescale", "sampler", "schedule", "sigma_min",
                                           "sigma_max", "rho") if getattr(args, k, None) is not None}
    base = recommended_sampler(objective)
    if "sampler" in given and given["sampler"] != base.sampler and "schedule" not in given:
        given["schedule"] = base.schedule  # a sampler of the same family keeps the family's grid
    sampling = replace(base, **given)
    check_sampler(sampling, objective)
    return sampling


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m sa_core.generate", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="checkpoint folder (ours or stable-audio-open-1.0)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt")
    src.add_argument("--prompts-csv", type=Path)
    p.add_argument("--id-col", default="id")
    p.add_argument("--text-col", default="caption")
    p.add_argument("--seconds-col")
    p.add_argument("--seconds-total", type=float, default=10.0, help="in (0, the model's window]")
    p.add_argument("--out", type=Path, default=Path("out.wav"), help=f"one of {', '.join(AUDIO_FORMATS)}")
    p.add_argument("--out-dir", type=Path, default=Path("generated"))
    p.add_argument("--text-path", help="local folder/file of the text encoder (T5 folder, CLAP checkpoint)")
    # sampler flags left out take the checkpoint's recommended value (recommended_sampler)
    p.add_argument("--steps", type=int)
    p.add_argument("--cfg-scale", type=float)
    p.add_argument("--cfg-rescale", type=float)
    p.add_argument("--sampler", choices=[*SAMPLERS, *FLOW_SAMPLERS])
    p.add_argument("--schedule", choices=[*SCHEDULES, *FLOW_SCHEDULES])
    p.add_argument("--sigma-min", type=float)
    p.add_argument("--sigma-max", type=float)
    p.add_argument("--rho", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    p.add_argument("--no-progress", action="store_true", help="no bar of the sampling steps on stderr")
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # every check before the model loads: a bad request costs nothing and writes nothing
    check_device(args.device)
    spec = read_model_config(args.ckpt)
    sampling = sampler_from_args(args, spec.objective)
    inputs = [("--ckpt", Path(args.ckpt)), ("--prompts-csv", args.prompts_csv),
              ("--text-path", Path(args.text_path) if args.text_path else None)]
    if args.prompt is not None:
        check_output_path(args.out)
        check_apart({"--out": args.out}, inputs)
    else:
        check_folder_target(args.out_dir, "--out-dir")
        check_apart({"--out-dir": args.out_dir}, inputs)
    rows = read_prompts(args)
    check_seconds_total({i: s for i, _, s in rows}, spec.max_seconds)
    if args.prompt is not None:
        model = load_model(args.ckpt, text_path=args.text_path).to(args.device, getattr(torch, args.dtype))
        write_audio(args.out, generate(model, [args.prompt], [args.seconds_total], [args.seed], sampling, args.device,
                                       progress=not args.no_progress)[0], spec.sample_rate)
        print(args.out)
        return 0
    generate_missing(args.ckpt, rows, args.out_dir, sampling, args.seed, args.batch_size, args.device,
                     text_path=args.text_path, dtype=getattr(torch, args.dtype), step_progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
