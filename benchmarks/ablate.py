"""``python -m benchmarks.ablate --base CONFIG --sweep text_encoder=minilm,t5,clap --data DIR --steps N --out RUN``

Trains one diffusion model per swept value under the same budget (same base TrainConfig, seed, data and steps),
evaluates each on SynthCaps test (timing, pitch and stereo-position adherence; FD/KL/CLAP when their weights are
present) and writes one comparison report. A value whose text encoder has no local weights is reported as skipped
with the reason, and the sweep goes on. On a GPU machine the same command runs the paper-scale sweep (point
``--base`` at a full-size TrainConfig and ``--data`` at real audio).

Sweepable keys: ``text_encoder`` (minilm | t5 | clap; their local paths come from ``--t5-dir``, ``--clap-ckpt``,
``--roberta-dir``) and any dotted TrainConfig key (``optim.lr=1e-3,3e-4``) or ``model.*`` override
(``model.dit.depth=2,4``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sa_core.config import ConfigError, to_dict
from sa_core.text_encoders import MissingTextEncoder
from sa_core.train import TrainConfig, Trainer, read_config
from sa_util.cli import ArgumentParser, guarded, positive_int
from sa_util.device import check_device

TEXT_DIMS = {"minilm": 384, "t5": 768, "clap": 768}
TEXT_LENGTHS = {"minilm": 32, "t5": 128, "clap": 77}


def variant(base: TrainConfig, key: str, value: str, paths: dict[str, str | None]) -> TrainConfig:
    """``base`` with one swept setting changed."""
    data = to_dict(base)
    overrides = dict(data.get("model_overrides") or {})
    if key == "text_encoder":
        if value not in TEXT_DIMS:
            raise ConfigError(f"text_encoder must be one of {list(TEXT_DIMS)}, got {value!r}")
        overrides.update({"conditioning.text.kind": value, "conditioning.text.dim": TEXT_DIMS[value],
                          "conditioning.text.max_length": TEXT_LENGTHS[value]})
        path = {"t5": paths.get("t5"), "clap": paths.get("clap")}.get(value)
        if path:
            overrides["conditioning.text.path"] = path
        if value == "clap" and paths.get("roberta"):
            overrides["conditioning.text.roberta_dir"] = paths["roberta"]
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
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def train_and_evaluate(args: argparse.Namespace, key: str,
                       configs: dict[str, TrainConfig]) -> tuple[list[Path], dict[str, str]]:
    """Train one model per value and run the SynthCaps benchmark on it; the evaluated run folders and the values
    skipped with why."""
    from benchmarks.synthcaps import main as synthcaps

    done: list[Path] = []
    skipped: dict[str, str] = {}
    for value, cfg in configs.items():
        run = args.out / f"{key}={value}"
        try:
            Trainer("diffusion", cfg, args.data, run / "model", args.device).run(progress=not args.no_progress)
        except (MissingTextEncoder, ConfigError, ValueError, OSError) as exc:
            skipped[value] = str(exc)
            print(f"{key}={value}: skipped: {exc}", file=sys.stderr)
            continue
        code = synthcaps(["--ckpt", str(run / "model"), "--out", str(run / "eval"), "--n", str(args.n_test),
                          "--steps", str(args.eval_steps), "--device", args.device]
                         + (["--no-progress"] if args.no_progress else []))
        if code != 0:  # its one-line reason is already on stderr
            skipped[value] = f"evaluation failed (exit {code})"
            continue
        done.append(run / "eval")
    return done, skipped


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_device(args.device)
    from reports.html import write_report

    try:
        if not args.data.is_dir():
            raise ConfigError(f"--data {args.data}: not a folder of training audio with captions")
        key, _, values = args.sweep.partition("=")
        if not values:
            raise ConfigError(f"--sweep must be KEY=V1,V2,... (got {args.sweep!r})")
        base = read_config(args.base, [f"steps={args.steps}"])
        paths = {"t5": args.t5_dir, "clap": args.clap_ckpt, "roberta": args.roberta_dir}
        configs = {v: variant(base, key, v, paths) for v in values.split(",")}
    except (ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done, skipped = train_and_evaluate(args, key, configs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(json.dumps({"key": key, "values": list(configs), "steps": args.steps,
                                                     "evaluated": [str(d) for d in done], "skipped": skipped},
                                                    indent=2))
    if done:
        print(write_report(done, args.out / "report.html"))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
