"""What a run was asked for: its settings (:class:`RunConfig`, the flags of ``python -m metrics``), the protocol and
metrics they select (:func:`plan`), and the one-line error of a request that cannot run (:class:`UsageError`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from metrics import protocols
from metrics.embedding.embedders import CLAP_CHECKPOINTS, CLAP_MODELS, clap_name
from metrics.protocols import MetricSpec, Protocol, options


class UsageError(ValueError):
    """Inputs that make a requested metric impossible; the CLI prints it as one line and exits 2."""


@dataclass
class RunConfig:
    gen: Path
    metrics: tuple[str, ...] | None = None  # metric kinds (python -m metrics fd ...); None: the protocol's own list
    protocol: str = protocols.DEFAULT_PROTOCOL  # metrics.protocols preset
    model: str | None = None  # embedding of the embedding distances, chosen by hand (--model)
    ref: Path | None = None
    ref_stats: list[Path] = field(default_factory=list)  # .npz (FD) and/or .pkl (KL)
    captions: Path | None = None
    id_col: str = "ytid"
    text_col: str = "caption"
    seconds_col: str | None = None
    seconds_total: float | None = None
    exclude_ids: Path | None = None
    device: str = "cpu"
    precision: str = "fp32"  # metrics.embedding.precision: evaluator forward passes in fp32 or bf16 autocast
    compile: bool = False  # metrics.embedding.compiled: torch.compile the evaluators where it was measured to pay
    batch_size: int = 32
    files_per_batch: int = 8
    workers: int | None = None  # decode processes; None: 0 on CPU (compute-bound), else up to 8
    cache_dir: Path | None = None
    weights_dir: Path | None = None
    openl3_weights: Path | None = None
    passt_weights: Path | None = None
    clap_weights: Path | None = None
    msclap_weights: Path | None = None
    vggish_weights: Path | None = None
    panns_weights: Path | None = None
    aesthetics_weights: Path | None = None
    roberta_dir: Path | None = None
    bert_dir: Path | None = None  # MS-CLAP 2022 tokenizer folder
    gpt2_dir: Path | None = None  # MS-CLAP 2023 tokenizer folder
    encodec_weights: Path | None = None  # encodec_24khz-d7cc33bc.th or encodec_48khz-7e698e3e.th
    dac_weights: Path | None = None  # weights_44khz_8kbps_0.0.1.pth (DAC 44.1 kHz)
    mert_dir: Path | None = None  # a MERT hub folder (config.json, preprocessor_config.json, weights)
    openl3_content: str | None = None  # None: the protocol's (music)
    clap_checkpoint: str | None = None  # --clap: a CLAP_CHECKPOINTS name; None: the protocol's
    seed: int = 0
    bootstrap: int = 1000
    fd_bootstrap: int = 50
    save_ref_stats: Path | None = None
    progress: bool = True
    out: Path | None = None  # the results file the caller writes (checked to be writable and apart from the inputs)


def plan(cfg: RunConfig) -> tuple[Protocol, tuple[MetricSpec, ...]]:
    """The protocol of the run (``--protocol``, ``--model``, ``--openl3-content``, ``--clap-checkpoint``) and the
    metrics to run: its own list, or those of the requested kinds."""
    try:
        protocol = protocols.get(cfg.protocol)
        if cfg.model is not None:
            protocol = protocol.with_model(cfg.model)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if cfg.openl3_content is not None:
        protocol = protocol.with_embedder_options("openl3", content_type=cfg.openl3_content)
    try:
        specs = protocol.metrics if cfg.metrics is None else protocol.select(cfg.metrics)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if cfg.clap_checkpoint is not None:  # the protocol's metrics and those select adds alike
        specs = tuple(with_clap(m, cfg.clap_checkpoint) for m in specs)
    if cfg.precision != "fp32":  # a deviation from every protocol, however small the study measured it
        specs = tuple(dataclasses.replace(m, comparable=False, deviations=m.deviations + (
            f"evaluator run under {cfg.precision} autocast (--precision {cfg.precision})",)) if m.model else m
            for m in specs)
    return protocol, specs


def with_clap(spec: MetricSpec, name: str) -> MetricSpec:
    """``spec`` on the CLAP checkpoint ``name`` (``--clap``) where it reads a CLAP (CLAP score, PAM, distances on
    CLAP embeddings); a checkpoint other than the protocol's is listed as a deviation, and the metric is then set
    beside no published number."""
    own = clap_name(spec.model, spec.embedder_options())
    if own is None or own == name or spec.model not in CLAP_MODELS:
        return spec
    chosen = CLAP_CHECKPOINTS[name]
    kept = {k: v for k, v in spec.embedder_options().items() if k not in ("checkpoint", "version")} \
        if spec.model == chosen.model else {}
    return dataclasses.replace(spec, model=chosen.model, embedder=options(**{**chosen.options(name), **kept}),
                               comparable=False, deviations=spec.deviations + (
                                   f"CLAP checkpoint chosen by hand: {name} instead of the protocol's {own}",))
