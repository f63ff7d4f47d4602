"""``python -m metrics demo``: a small offline set with known content and lengths, evaluated end to end.

Generated and reference sets are synthesised by :func:`sa_fixtures.clips.write_demo_set` (stereo 44.1 kHz, 10 s
windows): tones, chords and noise bursts that stop at a known time and are followed by silence (some with a -70 dBFS
noise floor), with captions and the requested ``seconds_total``. Timing accuracy is real; FD/KL/CLAP need evaluator weights: the official files if they
are in the weights folder, or, with ``--random-weights``, random-weight files written in the official formats
(their numbers mean nothing; they show every stage running).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from metrics.run import RunConfig, run, write_results
from sa_fixtures.clips import write_demo_set

def run_demo(out: Path, n: int, random_weights: bool, weights_dir: Path | None,
             protocol: str = "stable-audio") -> tuple[dict[str, Any], Path]:
    rows = write_demo_set(out / "gen", n, seed=1)
    write_demo_set(out / "ref", n, seed=2)
    captions = out / "captions.csv"
    with open(captions, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "caption", "seconds_total"])
        writer.writeheader()
        writer.writerows(rows)
    if random_weights:
        from metrics.embedding.embedders import entry
        from metrics.protocols import get, shared_embedders
        from sa_fixtures.random_weights import write_all, write_named

        weights_dir = out / "random-weights"
        write_all(weights_dir)
        # the protocol's evaluators beyond the default set (the 20 s PaSST, Audiobox Aesthetics); CLAP runs the
        # default checkpoint below
        write_named(weights_dir, [entry(m).weights(dict(o)) for m, o in shared_embedders(get(protocol)).items()
                                  if m != "clap"])
    cfg = RunConfig(gen=out / "gen", ref=out / "ref", captions=captions, id_col="id", text_col="caption",
                    seconds_col="seconds_total", weights_dir=weights_dir, cache_dir=out / "cache",
                    fd_bootstrap=20, protocol=protocol,
                    clap_checkpoint="630k-audioset-fusion" if random_weights else None)
    path = out / "results.json"
    return write_results(path, run(cfg, strict=False), random_weights=random_weights), path
