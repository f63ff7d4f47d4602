"""Everything a run reads, checked and loaded before the first embedding, so that no input loses finished work.

:func:`check_inputs` validates the settings (batch sizes, bootstrap counts, device), the folders (the files of the
run, :func:`sa_util.ids.audio_files`), the captions CSV (every column a requested metric reads, every row of
``--seconds-col`` parsed), the exclusion list, the reference statistics (loaded and validated), the cache and
``--save-ref-stats`` folders, and resolves the weight files. A given input that is broken raises
:class:`UsageError` (one line naming the flag, file or row). An input that is simply absent (no ``--ref`` for FD,
no weight file) makes that metric *unavailable* with the reason: ``run`` raises it for a single metric and lists it
under ``skipped_metrics`` in ``all``.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metrics.embedding.embedders import CLAP_CHECKPOINTS, entry
from metrics.embedding.precision import check_precision
from metrics.embedding.weights import REGISTRY, MissingWeights, load_problem, resolve
from metrics.files.refstats import fadtk_stats_models, read_fadtk_stats, read_fd_stats, read_kl_probs
from metrics.plan import RunConfig, UsageError, plan
from metrics.protocols import METRIC_KINDS, MetricSpec, Protocol
from metrics.scores.stats import MAX_BOOTSTRAP, MAX_SET_BOOTSTRAP
from sa_util.device import check_device
from sa_util.ids import FileSet, audio_files, read_csv, read_id_list
from sa_util.paths import check_apart, check_file_target, check_folder_target

METRICS = METRIC_KINDS  # the metric kinds (metrics.protocols); "all" runs the protocol's own list


@dataclass
class Inputs:
    """What the metrics of a run read, checked."""

    gen: FileSet
    ids: list[str]  # the evaluated ids: the captions CSV's, else the generated files'
    ref: FileSet | None = None
    captions: dict[str, str] | None = None  # id -> text (CLAP)
    requested: dict[str, float] | None = None  # id -> requested seconds_total (timing)
    exclude: set[str] = field(default_factory=set)  # ids left out of KL
    protocol: Protocol | None = None  # the protocol of the run and its metrics (metrics.plan.plan)
    specs: tuple[MetricSpec, ...] = ()
    fd_ref: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # metric key -> (mu, sigma)
    kl_ref: dict[int | str, np.ndarray] | None = None  # key -> probs [527] from --ref-stats
    weights: dict[str, Path] = field(default_factory=dict)  # weight registry name -> local path
    # metric key -> (main weight file, {embedder option: further file}): each metric's files, resolved once
    embedder_weights: dict[str, tuple[Path, dict[str, Path]]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # metric key -> why it cannot run


def weight_needs(cfg: RunConfig, spec: MetricSpec) -> list[tuple[str, Path | None]]:
    """The weight files ``spec`` loads, as (registry name, explicit path from a flag); the first is the main one."""
    if spec.model is None:
        return []
    e = entry(spec.model)
    needs = [(e.weights(spec.embedder_options()), getattr(cfg, e.flag, None))]
    return needs + [(name, getattr(cfg, option, None)) for option, name in e.extras(spec.embedder_options()).items()]


def output_part(spec: MetricSpec) -> slice:
    """The slice of ``spec``'s embedder output that the metric reads (its ``output`` part, by the registry)."""
    return entry(spec.model).part(spec.embedder_options(), spec.output)


def output_dim(spec: MetricSpec) -> int:
    """Width of what ``spec`` reads per frame, e.g. 1024 for stereo OpenL3, 2048 for FD on PANNs."""
    part = output_part(spec)
    return part.stop - part.start


def check_inputs(cfg: RunConfig) -> Inputs:
    """Validate and load everything ``cfg`` needs (module docstring); raises UsageError/ValueError (one line)."""
    check_settings(cfg)
    protocol, specs = plan(cfg)
    for spec in specs:
        if spec.model is not None:
            try:
                output_part(spec)
            except ValueError as exc:
                raise UsageError(f"{spec.key} on {spec.model}: {exc}") from None
    try:
        check_precision(cfg.precision, [spec.model for spec in specs if spec.model is not None])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if any(spec.model is not None for spec in specs):
        check_device(cfg.device)  # DeviceError: one line, exit 2
    if cfg.out is not None:
        check_file_target(cfg.out, "--out")
    check_apart(_outputs(cfg), _given_inputs(cfg))
    gen = _folder(cfg.gen, "--gen")
    if not gen.files:
        raise UsageError(f"--gen {cfg.gen}: no audio files{_first_problem(gen)}")
    inputs = Inputs(gen=gen, ids=sorted(gen.files), protocol=protocol, specs=specs)
    _read_captions(cfg, inputs)
    if cfg.exclude_ids is not None:
        inputs.exclude = read_id_list(cfg.exclude_ids)
    if cfg.ref is not None:
        inputs.ref = _folder(cfg.ref, "--ref")
    stats = _ref_stats_files(cfg.ref_stats)
    for flag, folder in (("--save-ref-stats", cfg.save_ref_stats), ("--cache-dir", cfg.cache_dir)):
        if folder is not None:
            check_writable_folder(folder, flag)
    for spec in specs:
        why = _load_reference(cfg, inputs, spec, stats) or _resolve_weights(cfg, inputs, spec)
        if why:
            inputs.unavailable[spec.key] = why
    check_apart(_outputs(cfg), [(REGISTRY[name].flag, path) for name, path in inputs.weights.items()])
    return inputs


def _outputs(cfg: RunConfig) -> dict[str, Path | None]:
    return {"--out": cfg.out, "--save-ref-stats": cfg.save_ref_stats, "--cache-dir": cfg.cache_dir}


def _given_inputs(cfg: RunConfig) -> list[tuple[str, Path | None]]:
    """Every file or folder the run reads that a flag names (weight files found in a folder are added later)."""
    named = [("--gen", cfg.gen), ("--ref", cfg.ref), ("--captions", cfg.captions), ("--exclude-ids", cfg.exclude_ids),
             ("--roberta-dir", cfg.roberta_dir), ("--bert-dir", cfg.bert_dir), ("--gpt2-dir", cfg.gpt2_dir)]
    named += [("--ref-stats", p) for p in cfg.ref_stats]
    named += [(f"--{name.replace('_', '-')}", getattr(cfg, name)) for name in
              ("openl3_weights", "passt_weights", "clap_weights", "msclap_weights", "vggish_weights", "panns_weights",
               "aesthetics_weights", "encodec_weights", "dac_weights", "mert_dir")]
    return named


def check_settings(cfg: RunConfig) -> None:
    unknown = [m for m in (cfg.metrics or ()) if m not in METRICS]
    if unknown:
        raise UsageError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    for flag, value, least, most in (
            ("--batch-size", cfg.batch_size, 1, None), ("--files-per-batch", cfg.files_per_batch, 1, None),
            ("--workers", 0 if cfg.workers is None else cfg.workers, 0, None),
            ("--bootstrap", cfg.bootstrap, 0, MAX_BOOTSTRAP), ("--fd-bootstrap", cfg.fd_bootstrap, 0, MAX_SET_BOOTSTRAP)):
        if not isinstance(value, int) or value < least:
            raise UsageError(f"{flag} must be an integer >= {least}, got {value!r}")
        if most is not None and value > most:
            raise UsageError(f"{flag} {value}: at most {most:,} replicates (more moves no interval bound visibly "
                             f"and only costs time and memory)")
    if cfg.seconds_total is not None and not (math.isfinite(cfg.seconds_total) and cfg.seconds_total > 0):
        raise UsageError(f"--seconds-total must be a positive number of seconds, got {cfg.seconds_total}")
    if cfg.clap_checkpoint is not None and cfg.clap_checkpoint not in CLAP_CHECKPOINTS:
        raise UsageError(f"--clap must be one of {list(CLAP_CHECKPOINTS)}, "
                         f"got {cfg.clap_checkpoint!r}")
    if cfg.openl3_content is not None and cfg.openl3_content not in ("music", "env"):
        raise UsageError(f"--openl3-content must be music or env, got {cfg.openl3_content!r}")


def check_writable_folder(folder: Path, flag: str) -> None:
    """Create ``folder`` if needed and check that a file can be written in it."""
    check_folder_target(folder, flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {folder}: not a writable folder ({exc.strerror or exc})") from exc


# --- pieces of check_inputs ---------------------------------------------------------------------------------------
def _folder(folder: Path, flag: str) -> FileSet:
    try:
        return audio_files(folder)
    except NotADirectoryError as exc:
        raise UsageError(f"{flag} {exc}") from exc


def _first_problem(files: FileSet) -> str:
    if not files.problems:
        return ""
    path, why = next(iter(files.problems.items()))
    return f" ({len(files.problems)} left out, e.g. {Path(path).name}: {why})"


def _read_captions(cfg: RunConfig, inputs: Inputs) -> None:
    kinds = {spec.kind for spec in inputs.specs}
    wants_text = "clap" in kinds
    wants_seconds = "timing" in kinds and cfg.seconds_total is None and cfg.seconds_col is not None
    if cfg.captions is None:
        if wants_seconds:
            raise UsageError("--seconds-col needs --captions CSV")
    else:
        columns = ([cfg.text_col] if wants_text else []) + ([cfg.seconds_col] if wants_seconds else [])
        table = read_csv(cfg.captions, cfg.id_col, columns)
        inputs.ids = table.ids
        if wants_text:
            inputs.captions = table.column(cfg.text_col)
        if wants_seconds:
            inputs.requested = {i: _seconds(v, f"{cfg.captions} line {table.lines[i]}, column {cfg.seconds_col!r}")
                                for i, v in table.column(cfg.seconds_col).items()}
    if cfg.seconds_total is not None:
        inputs.requested = {i: float(cfg.seconds_total) for i in inputs.ids}


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{where}: {text[:40]!r} is not a positive number of seconds")
    return value


def _ref_stats_files(paths: list[Path]) -> dict[str, Path]:
    """``{".npz": path, ".pkl": path}`` from the --ref-stats flags."""
    found: dict[str, Path] = {}
    for p in paths:
        kind = p.suffix.lower()
        if kind not in (".npz", ".pkl") or not p.is_file():
            raise UsageError(f"--ref-stats {p}: expected an existing .npz (FD) or .pkl (KL) file")
        if kind in found:
            raise UsageError(f"--ref-stats: two {kind} files ({found[kind]}, {p}); give one per metric")
        found[kind] = p
    return found


def _load_reference(cfg: RunConfig, inputs: Inputs, spec: MetricSpec, stats: dict[str, Path]) -> str | None:
    """Load ``spec``'s reference (or check the folder it will be computed from); the reason if there is none.

    A ``.npz`` serves the Gaussian-reference kinds (fd, fad-inf, fd-per-song): stable-audio-metrics' format
    (mu_ref/sigma_ref) for OpenL3, fadtk's (``<model>.mu``/``.cov``) for the model it names. KAD needs reference
    frames (--ref audio). A ``.pkl`` holds PaSST reference probabilities (KL on PaSST).
    """
    if spec.kind == "clap":
        return None if inputs.captions is not None else "CLAP needs --captions CSV with --id-col and --text-col"
    if spec.kind == "timing":
        return None if inputs.requested is not None else \
            "timing needs --seconds-total S or --captions CSV with --seconds-col"
    if spec.kind in ("is", "aesthetics", "pam"):  # scores of the generated files alone
        return None
    npz, pkl = stats.get(".npz"), stats.get(".pkl")
    if spec.kind in ("fd", "fad-inf", "fd-per-song") and npz is not None:
        if spec.model == "openl3":  # stable-audio-metrics' format
            inputs.fd_ref[spec.key] = read_fd_stats(npz, dim=output_dim(spec))
            return None
        if spec.model in fadtk_stats_models(npz):
            inputs.fd_ref[spec.key] = read_fadtk_stats(npz, spec.model, dim=output_dim(spec))
            return None
    if spec.kind == "kl" and spec.model == "passt" and pkl is not None:
        inputs.kl_ref = read_kl_probs(pkl)
        return None
    if inputs.ref is None:
        kind = ".pkl" if spec.kind == "kl" else ".npz"
        alt = "" if spec.kind in ("kad", "kl-segments", "mad") else f" or --ref-stats FILE{kind}"
        named = " named <id>.<ext>" if spec.kind.startswith("kl") else ""
        return f"{spec.key.upper()} needs --ref DIR (reference audio{named}){alt} ({spec.label})"
    if not inputs.ref.files:
        raise UsageError(f"--ref {cfg.ref}: no audio files{_first_problem(inputs.ref)}")
    return None


def _resolve_weights(cfg: RunConfig, inputs: Inputs, spec: MetricSpec) -> str | None:
    """Resolve ``spec``'s weight files into ``inputs.embedder_weights``; the reason if one is absent or does not
    read (a damaged file is named here, before any audio, and never blamed on the audio): ``run`` raises it for a
    single metric and lists it under ``skipped_metrics`` in ``all``."""
    paths = []
    try:
        for name, explicit in weight_needs(cfg, spec):
            if name not in inputs.weights:
                path = resolve(name, explicit, cfg.weights_dir)
                problem = load_problem(path)
                if problem:
                    return (f"{path}: the {name} weight file does not load ({problem}); fetch it again with "
                            f"`python -m metrics.weights download {name}` or point {REGISTRY[name].flag} at a good "
                            "copy")
                inputs.weights[name] = path
            paths.append(inputs.weights[name])
    except MissingWeights as exc:
        return str(exc)
    if paths:
        extras = entry(spec.model).extras(spec.embedder_options())
        inputs.embedder_weights[spec.key] = (paths[0], dict(zip(extras, paths[1:])))
    return None
