"""``python -m metrics {fd,kl,clap,timing,all,demo}``: the metrics from the command line; ``compare``, ``power`` and
``agreement`` read results files (:mod:`metrics.study`).

Examples::

    python -m metrics all --gen out/musiccaps --ref-stats musiccaps_fd.npz --ref-stats musiccaps_kl.pkl \\
        --captions musiccaps-public.csv --id-col ytid --text-col caption --seconds-total 10 \\
        --exclude-ids musiccaps-unavailable-ids.txt --device cuda --out results.json
    python -m metrics demo --random-weights --out demo_out
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from metrics.embedding.embedders import CLAP_CHECKPOINTS
from metrics.embedding.precision import PRECISIONS
from metrics.embedding.weights import ENV_VAR
from metrics.protocols import DEFAULT_PROTOCOL, EMBEDDING_MODELS, PROTOCOLS
from metrics.run import METRICS, RunConfig, UsageError, run, write_results
from metrics.study import TOOLS
from sa_util.cli import guarded, one_line

DEFAULT_CACHE = Path("~/.cache/sa-bench/embeddings")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    _input_arguments(p.add_argument_group("inputs"))
    _model_arguments(p.add_argument_group("models and weights"))
    _run_arguments(p.add_argument_group("protocol"), p.add_argument_group("running"))
    p.add_argument("--out", type=Path, default=Path("results.json"))


def _input_arguments(io: argparse._ArgumentGroup) -> None:
    io.add_argument("--gen", type=Path, help="folder of generated audio, one <id>.<ext> per prompt (wav, flac, ogg, opus, mp3, ...; links out of the folder and duplicate stems are reported and left out)")
    io.add_argument("--ref", type=Path, help="folder of reference audio (FD: every file; KL: <id>.<ext>)")
    io.add_argument("--ref-stats", type=Path, action="append", default=[],
                    help="reference statistics instead of audio: .npz (FD: mu_ref, sigma_ref) or .pkl (KL "
                         "probabilities), as stable-audio-metrics ships them; repeatable")
    io.add_argument("--captions", type=Path, help="CSV with ids and captions (and optionally seconds)")
    io.add_argument("--id-col", default="ytid")
    io.add_argument("--text-col", default="caption")
    io.add_argument("--seconds-col", help="CSV column with each prompt's requested seconds_total (timing)")
    io.add_argument("--seconds-total", type=float, help="one requested length for every prompt (timing)")
    io.add_argument("--exclude-ids", type=Path, help="ids left out of KL (the protocol's unavailable ids)")
    io.add_argument("--save-ref-stats", type=Path, help="write reference statistics computed from --ref here")


def _model_arguments(m: argparse._ArgumentGroup) -> None:
    m.add_argument("--weights-dir", type=Path, help=f"folder of official weight files (default ${ENV_VAR})")
    m.add_argument("--openl3-weights", type=Path)
    m.add_argument("--passt-weights", type=Path)
    m.add_argument("--clap-weights", type=Path)
    m.add_argument("--msclap-weights", type=Path, help="CLAP_weights_2022.pth or CLAP_weights_2023.pth (MS-CLAP)")
    m.add_argument("--roberta-dir", type=Path, help="local roberta-base tokenizer folder (LAION CLAP text)")
    m.add_argument("--bert-dir", type=Path, help="local bert-base-uncased tokenizer folder (MS-CLAP 2022 text)")
    m.add_argument("--gpt2-dir", type=Path, help="local gpt2 tokenizer folder (MS-CLAP 2023 text, PAM)")
    m.add_argument("--vggish-weights", type=Path)
    m.add_argument("--panns-weights", type=Path)
    m.add_argument("--aesthetics-weights", type=Path, help="Audiobox Aesthetics checkpoint.pt")
    m.add_argument("--encodec-weights", type=Path, help="encodec_24khz-d7cc33bc.th / encodec_48khz-7e698e3e.th")
    m.add_argument("--dac-weights", type=Path, help="weights_44khz_8kbps_0.0.1.pth (DAC 44.1 kHz, fadtk's dac-44kHz)")
    m.add_argument("--mert-dir", type=Path, help="local MERT hub folder (config.json, preprocessor_config.json, "
                   "pytorch_model.bin)")
    m.add_argument("--openl3-content", choices=["music", "env"], default=None,
                   help="music for MusicCaps/Song Describer, env for AudioCaps (default: music)")
    m.add_argument("--clap", "--clap-checkpoint", dest="clap_checkpoint", choices=list(CLAP_CHECKPOINTS), default=None,
                   help="the CLAP checkpoint of the CLAP score, PAM and distances on CLAP embeddings (default: the "
                        "protocol's; another one is marked as not comparable to published numbers): " + "; ".join(
                            f"{k}: {v.filename}" for k, v in CLAP_CHECKPOINTS.items()))


def _run_arguments(pr: argparse._ArgumentGroup, r: argparse._ArgumentGroup) -> None:
    pr.add_argument("--protocol", choices=list(PROTOCOLS), default=DEFAULT_PROTOCOL,
                    help="the evaluators, distances and settings of one paper or tool (metrics.protocols)")
    pr.add_argument("--model", choices=list(EMBEDDING_MODELS), default=None,
                    help="embedding of fd/kad/fad-inf/fd-per-song/mad chosen by hand (default: the protocol's)")
    r.add_argument("--device", default="cpu")
    r.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                   help="evaluator forward passes in fp32 (every protocol's) or bf16 autocast, offered only for "
                        "evaluators the precision study cleared (metrics.embedding.precision); bf16 results are marked as not "
                        "comparable to published numbers")
    r.add_argument("--compile", action="store_true",
                   help="torch.compile the evaluator networks where it was measured to pay (metrics.embedding.compiled: "
                        "OpenL3, PANNs); costs tens of seconds per evaluator, so for large sets")
    r.add_argument("--batch-size", type=int, default=32, help="frames/windows/clips per device batch")
    r.add_argument("--files-per-batch", type=int, default=8, help="files decoded per embedding call")
    r.add_argument("--workers", type=int, default=None,
                   help="decode processes (0: in this process; default 0 on CPU, up to 8 on a GPU)")
    r.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="embedding cache; 'none' disables it")
    r.add_argument("--seed", type=int, default=0, help="CLAP fusion crops and bootstrap")
    r.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for KL/CLAP/timing CIs")
    r.add_argument("--fd-bootstrap", type=int, default=50, help="bootstrap replicates for the FD CI (0: none)")
    r.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace, metrics: tuple[str, ...] | None) -> RunConfig:
    if args.gen is None:
        raise UsageError("--gen DIR is required")
    cache = None if str(args.cache_dir).lower() == "none" else Path(args.cache_dir).expanduser()
    return RunConfig(
        gen=args.gen, metrics=metrics, ref=args.ref, ref_stats=args.ref_stats, captions=args.captions,
        id_col=args.id_col, text_col=args.text_col, seconds_col=args.seconds_col, seconds_total=args.seconds_total,
        exclude_ids=args.exclude_ids, device=args.device, precision=args.precision, compile=args.compile, batch_size=args.batch_size,
        files_per_batch=args.files_per_batch, workers=args.workers, cache_dir=cache, weights_dir=args.weights_dir,
        openl3_weights=args.openl3_weights, passt_weights=args.passt_weights, clap_weights=args.clap_weights,
        msclap_weights=args.msclap_weights, bert_dir=args.bert_dir, gpt2_dir=args.gpt2_dir,
        vggish_weights=args.vggish_weights, panns_weights=args.panns_weights,
        aesthetics_weights=args.aesthetics_weights, encodec_weights=args.encodec_weights, dac_weights=args.dac_weights,
        mert_dir=args.mert_dir,
        protocol=args.protocol,
        model=args.model, roberta_dir=args.roberta_dir, openl3_content=args.openl3_content,
        clap_checkpoint=args.clap_checkpoint,
        seed=args.seed, bootstrap=args.bootstrap, fd_bootstrap=args.fd_bootstrap,
        save_ref_stats=args.save_ref_stats, progress=not args.no_progress, out=args.out)


def summary_lines(results: dict) -> list[str]:
    """The printed summary of (JSON-ready) results; a missing value or CI reads "n/a"."""
    lines = []
    for name, res in results["metrics"].items():
        ci = res.get("ci95") or [None, None]
        ci_txt = f"[95% CI {_num(ci[0])}, {_num(ci[1])}]" if None not in ci else "[95% CI n/a]"
        clap = f"  [CLAP checkpoint {res['clap_checkpoint']}]" if res.get("clap_checkpoint") else ""
        lines.append(f"{name:10s} {_num(res.get('value'))} {ci_txt}  (n={res.get('n', res.get('n_files'))}){clap}")
    lines += [f"{name:10s} skipped: {why}" for name, why in results["skipped_metrics"].items()]
    if results["skipped_files"]:
        lines.append(f"skipped files: {len(results['skipped_files'])} (reasons in the results file)")
    return lines


def _num(x: float | None) -> str:
    return "n/a" if x is None else format(x, ".4g")


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line ``error: ...`` on stderr (exit 2), like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m metrics", description="Text-to-audio metrics as the papers computed them "
                           f"(--protocol {' | '.join(PROTOCOLS)}), offline and batched.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in (*METRICS, "all"):
        add_run_arguments(sub.add_parser(name, help=f"compute {name}"))
    demo = sub.add_parser("demo", help="synthesise a small set with known lengths and run everything on it")
    demo.add_argument("--out", type=Path, default=Path("demo_out"))
    demo.add_argument("--n", type=int, default=8, help="clips per set")
    demo.add_argument("--random-weights", action="store_true",
                      help="write random-weight evaluators in the official formats and use them (numbers are "
                           "meaningless; shows the pipeline end to end offline)")
    demo.add_argument("--weights-dir", type=Path)
    demo.add_argument("--protocol", choices=list(PROTOCOLS), default=DEFAULT_PROTOCOL)
    for name, tool in TOOLS.items():  # compare, power, agreement: read results files (metrics.study)
        tool.add_arguments(sub.add_parser(name, help=tool.help))
    return parser


def run_and_write(args: argparse.Namespace, argv: list[str]) -> tuple[dict, Path]:
    """Check the output path, run the metrics, write the results (``all`` keeps every metric that finished)."""
    if args.command == "demo":
        from metrics.demo import run_demo

        return run_demo(args.out, args.n, args.random_weights, args.weights_dir, args.protocol)
    metrics = None if args.command == "all" else (args.command,)  # all: the protocol's own list
    # dependencies' warnings (resampy's import, torch deprecations, scipy's singular-matrix note) go into the
    # results file rather than stderr, where an error must be the only line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        results = run(config_from_args(args, metrics), strict=args.command != "all")
    try:
        written = write_results(args.out, results, command=["python -m metrics", *argv],
                                warnings=sorted({f"{w.category.__name__}: {one_line(w.message)}" for w in caught}))
    except OSError as exc:
        raise UsageError(f"--out {args.out}: could not write the results ({exc.strerror or exc})") from exc
    return written, args.out


@guarded
def main(argv: list[str] | None = None) -> int:
    """The CLI. Every error is one line ``error: ...`` on stderr, never a traceback: misuse exits 2, an unexpected
    failure 1 (:func:`sa_util.cli.guarded`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error already printed as one line (2)
        return int(exc.code or 0)
    if args.command in TOOLS:
        return TOOLS[args.command].run(args)
    results, out = run_and_write(args, argv)
    print("\n".join(summary_lines(results)))
    print(f"results: {out}")
    if not results["metrics"]:
        print(f"error: no metric could be computed (reasons under skipped_metrics in {out})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
