"""``python -m benchmarks.ablate --base CONFIG --sweep text_encoder=minilm,mpnet,none --data DIR --steps N --out RUN``

Trains one diffusion model per swept value under the same budget (same base TrainConfig, seed, data and steps),
evaluates each on SynthCaps test (timing, pitch and stereo-position adherence; FD/KL/CLAP when their weights are
present) and writes one comparison report. A value whose text encoder has no local weights is reported as skipped
with the reason, and the sweep goes on. Each variant lives in its own folder under ``--out``: a second run of the
same command resumes an interrupted training from its last checkpoint and skips finished trainings and
evaluations, so a long sweep can run in pieces. On a GPU machine the same command runs the paper-scale sweep (point
``--base`` at a full-size TrainConfig and ``--data`` at real audio).

Sweepable keys: ``text_encoder`` (any :data:`sa_core.text_encoders.TEXT_ENCODERS` kind, optionally with the hidden
layer it conditions on: ``minilm:penultimate``; t5 and clap read their local files from ``--t5-dir``,
``--clap-ckpt``, ``--roberta-dir``) and any dotted TrainConfig key (``optim.lr=1e-3,3e-4``) or ``model.*`` override
(``model.dit.depth=2,4``). ``--seeds 0,1`` repeats every value with each training seed.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import ablation_table
from benchmarks.synthcaps import SHIPPED
from sa_core.config import ConfigError, to_dict
from sa_core.text_encoders import TEXT_ENCODERS, MissingTextEncoder
from sa_core.text_encoders.hf import LAYERS
from sa_core.train import TrainConfig, Trainer, read_config
from sa_util.cli import ArgumentParser, guarded, positive_int
from sa_util.device import check_device
from sa_util import strict_json
from sa_util.files import atomic_write_bytes, file_sha256

def text_overrides(value: str, paths: dict[str, str | None]) -> dict[str, Any]:
    """Model overrides for ``text_encoder=KIND[:LAYER]``."""
    kind, _, layer = value.partition(":")
    if kind not in TEXT_ENCODERS:
        raise ConfigError(f"text_encoder must be one of {list(TEXT_ENCODERS)} (optionally KIND:last or "
                          f"KIND:penultimate), got {value!r}")
    if layer and layer not in LAYERS:
        raise ConfigError(f"text_encoder {value!r}: the layer must be one of {list(LAYERS)}")
    spec = TEXT_ENCODERS[kind]
    overrides: dict[str, Any] = {"conditioning.text.kind": kind, "conditioning.text.dim": spec.dim,
                                 "conditioning.text.max_length": spec.max_length}
    if layer:
        overrides["conditioning.text.layer"] = layer
    path = {"t5": paths.get("t5"), "clap": paths.get("clap")}.get(kind)
    if path:
        overrides["conditioning.text.path"] = path
    if kind == "clap" and paths.get("roberta"):
        overrides["conditioning.text.roberta_dir"] = paths["roberta"]
    return overrides


def variant(base: TrainConfig, key: str, value: str, paths: dict[str, str | None]) -> TrainConfig:
    """``base`` with one swept setting changed."""
    data = to_dict(base)
    overrides = dict(data.get("model_overrides") or {})
    if key == "text_encoder":
        overrides.update(text_overrides(value, paths))
    elif key.startswith("model."):
        overrides[key[len("model."):]] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") \
            else value
    else:
        return read_config(None, [f"{k}={json.dumps(v)}" for k, v in data.items() if k != key] + [f"{key}={value}"])
    data["model_overrides"] = overrides
    return read_config(None, [f"{k}={json.dumps(v)}" for k, v in data.items()])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m benchmarks.ablate", description=__doc__.splitlines()[0])
    p.add_argument("--base", type=Path, help="base TrainConfig JSON (default: TrainConfig() with the tiny preset)")
    p.add_argument("--sweep", required=True, help="KEY=V1,V2,...")
    p.add_argument("--data", type=Path, required=True, help="training audio with captions (e.g. SynthCaps train)")
    p.add_argument("--steps", type=positive_int, required=True, help="training steps per value (the shared budget)")
    p.add_argument("--out", type=Path, default=Path("runs/ablate"))
    p.add_argument("--n-test", type=positive_int, default=40)
    p.add_argument("--eval-steps", type=positive_int, default=50, help="sampling steps for the evaluation")
    p.add_argument("--t5-dir")
    p.add_argument("--clap-ckpt")
    p.add_argument("--roberta-dir")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="base TrainConfig override shared by every variant, e.g. latents=DIR")
    p.add_argument("--seeds", help="training seeds, e.g. 0,1 (default: the base config's); the base seed's runs "
                   "keep the plain folder name, so adding a seed later reuses them")
    p.add_argument("--baseline", type=Path, help="checkpoint every variant is compared with, paired by prompt "
                   "(default: the shipped tiny model)")
    p.add_argument("--tag", default="", help="suffix of this sweep's table, sweep.json and report (e.g. 'seeds': "
                   "table-seeds.md), so a second sweep into the same --out keeps the first one's table")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def train(cfg: TrainConfig, args: argparse.Namespace, model: Path) -> None:
    """Train (or resume) one variant; the wall time of the steps this call ran is added to
    ``model/../train_seconds.json``."""
    trainer = Trainer("diffusion", cfg, args.data, model, args.device)
    first, started = trainer.step, time.time()
    trainer.run(progress=not args.no_progress)
    if trainer.step > first:
        record = model.parent / "train_seconds.json"
        spent = json.loads(record.read_text())["seconds"] if record.is_file() else 0.0
        atomic_write_bytes(record, json.dumps({"seconds": round(spent + time.time() - started, 1),
                                               "steps": trainer.step}).encode())


def evaluate(args: argparse.Namespace, ckpt: Path, out: Path) -> int:
    """SynthCaps on checkpoint ``ckpt`` into ``out``. The generated files of an earlier evaluation of the same
    weights are reused (the runner resumes), so a repeated sweep only recomputes the metrics; an evaluation of other
    weights (``out/model.sha256``) is removed first."""
    from benchmarks.synthcaps import main as synthcaps

    stamp, weights = out / "model.sha256", file_sha256(ckpt / "model.safetensors")
    if stamp.is_file() and stamp.read_text() != weights:
        shutil.rmtree(out)
    code = synthcaps(["--ckpt", str(ckpt), "--out", str(out), "--n", str(args.n_test),
                      "--steps", str(args.eval_steps), "--device", args.device]
                     + (["--no-progress"] if args.no_progress else []))
    if code == 0:
        atomic_write_bytes(stamp, weights.encode())
    return code


def train_and_evaluate(args: argparse.Namespace, configs: dict[str, TrainConfig]) -> tuple[list[Path], dict[str, str]]:
    """Train one model per variant and run the SynthCaps benchmark on it; the evaluated run folders and the
    variants skipped with why."""
    done: list[Path] = []
    skipped: dict[str, str] = {}
    for name, cfg in configs.items():
        run = args.out / name
        try:
            train(cfg, args, run / "model")
        except (MissingTextEncoder, ConfigError, ValueError, OSError) as exc:
            skipped[name] = str(exc)
            print(f"{name}: skipped: {exc}", file=sys.stderr)
            continue
        code = evaluate(args, run / "model", run / "eval")
        if code != 0:  # its one-line reason is already on stderr
            skipped[name] = f"evaluation failed (exit {code})"
            continue
        done.append(run / "eval")
    return done, skipped


def variants(args: argparse.Namespace, key: str, values: list[str]) -> dict[str, TrainConfig]:
    """Folder name -> config of every (value, seed)."""
    base = read_config(args.base, [*args.set, f"steps={args.steps}"])
    paths = {"t5": args.t5_dir, "clap": args.clap_ckpt, "roberta": args.roberta_dir}
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [base.seed]
    out: dict[str, TrainConfig] = {}
    for value in values:
        cfg = variant(base, key, value, paths)
        for seed in seeds:
            name = f"{key}={value}" if seed == base.seed else f"{key}={value},seed={seed}"
            out[name] = cfg if seed == base.seed else replace(cfg, seed=seed)
    return out


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_device(args.device)
    from reports.html import write_report

    try:
        if not args.data.is_dir():
            raise ConfigError(f"--data {args.data}: not a folder of training audio with captions")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", args.tag):
            raise ConfigError(f"--tag {args.tag!r}: letters, digits, '-' and '_' only (it names files)")
        key, _, values = args.sweep.partition("=")
        if not values:
            raise ConfigError(f"--sweep must be KEY=V1,V2,... (got {args.sweep!r})")
        configs = variants(args, key, values.split(","))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done, skipped = train_and_evaluate(args, configs)
    args.out.mkdir(parents=True, exist_ok=True)
    baseline = args.baseline or SHIPPED
    suffix = f"-{args.tag}" if args.tag else ""
    rows = []
    if done and evaluate(args, baseline, args.out / "baseline") == 0:
        rows = ablation_table.table(("baseline", ablation_table.read_results(args.out / "baseline")),
                                    [(d.parent.name, ablation_table.read_results(d), about(d.parent))
                                     for d in done])
        atomic_write_bytes(args.out / f"table{suffix}.md", ablation_table.markdown(rows).encode())
        print(ablation_table.markdown(rows))
    atomic_write_bytes(args.out / f"sweep{suffix}.json", strict_json.dumps(
        {"key": key, "values": list(configs), "steps": args.steps, "baseline": baseline,
         "evaluated": done, "skipped": skipped, "table": ablation_table.to_json(rows)}))
    if done:
        print(write_report([args.out / "baseline", *done] if rows else done, args.out / f"report{suffix}.html"))
    return 0 if done else 1


def about(run: Path) -> dict[str, Any]:
    """What a variant is and costs: text encoder, layer, seed, parameters, training wall time."""
    from safetensors import safe_open

    from sa_core.model import read_model_config
    from sa_core.text_encoders import build_text_encoder

    text = read_model_config(run / "model").conditioning.text
    cfg = json.loads((run / "model" / "train_config.json").read_text())
    encoder = build_text_encoder(text)
    model = getattr(encoder, "model", None)
    with safe_open(str(run / "model" / "model.safetensors"), "pt") as f:
        trained = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys() if not k.startswith("autoencoder."))
    spent = run / "train_seconds.json"
    return {"text_encoder": text.kind, "layer": text.layer, "seed": cfg["seed"], "steps": cfg["steps"],
            "text_dim": text.dim, "text_params": sum(p.numel() for p in model.parameters()) if model else 0,
            "trained_params": trained,
            "train_seconds": json.loads(spent.read_text())["seconds"] if spent.is_file() else None}


if __name__ == "__main__":
    sys.exit(main())
