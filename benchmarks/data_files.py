"""``python -m benchmarks.data_files list|download|verify [NAME ...]``: the caption CSVs the MusicCaps and AudioCaps
runners read, fetched from their publishers on a machine with internet, like the evaluators' weights.

They do not ship in the package (their sources and licences: ``benchmarks/data/README.md``). ``download`` stores
each in ``--data-dir`` (default ``$SA_BENCH_DATA`` or ``~/.cache/sa-bench/data``) and refuses a file whose sha256 is
not the published file's. A runner given no ``--captions`` reads the stored file, checking that hash again; without
one it stops with a one-line error naming the download command.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from metrics.embedding.weights import WeightFile, fetch_entry
from sa_util.cli import guarded, one_line
from sa_util.files import file_sha256

ENV_VAR = "SA_BENCH_DATA"
DEFAULT_DIR = Path("~/.cache/sa-bench/data")

DATA_FILES: dict[str, WeightFile] = {f.name: f for f in [
    WeightFile("musiccaps", "musiccaps-public.csv",
               ("https://huggingface.co/datasets/google/MusicCaps/resolve/main/musiccaps-public.csv",),
               "MusicCaps captions (python -m benchmarks.musiccaps; 5,521 rows, CC BY-SA 4.0)", "--captions",
               sha256="bce5500709e6b129e070cbffc28caefe6b3d6977b2073493ee9b48806096c034"),
    WeightFile("audiocaps-test", "audiocaps-test.csv",
               ("https://raw.githubusercontent.com/cdjkim/audiocaps/master/dataset/test.csv",),
               "AudioCaps v1 test captions (python -m benchmarks.audiocaps; 4,875 rows, MIT)", "--captions",
               sha256="b91c4b7ded2f4f6e7db5b9c4983dc1e1dca3d556f505b61e3fd65cac7e1c638a"),
]}


class MissingData(ValueError):
    """A caption file is neither given nor stored: the CLIs print it as one line and exit 2."""


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser()


def problem(name: str, directory: Path) -> str | None:
    """Why the stored file of ``name`` cannot be used (absent, or not the published file); None when it can."""
    spec = DATA_FILES[name]
    path = directory / spec.filename
    if not path.is_file():
        return f"{path} not found"
    digest = file_sha256(path)
    return None if digest == spec.sha256 else f"{path} has sha256 {digest}, not the published file's {spec.sha256}"


def stored(name: str, directory: str | Path | None = None) -> Path:
    """The stored, checked file of ``name``; MissingData naming the download command otherwise."""
    spec, folder = DATA_FILES[name], data_dir(directory)
    why = problem(name, folder)
    if why:
        raise MissingData(f"{spec.used_by} needs {spec.filename}: {why}. Get it on a machine with internet with "
                          f"`python -m benchmarks.data_files download {name}` (from {spec.urls[0]}), or pass "
                          f"{spec.flag} FILE")
    return folder / spec.filename


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.data_files", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["list", "download", "verify"])
    p.add_argument("names", nargs="*", help=f"entries (default: all): {', '.join(DATA_FILES)}")
    p.add_argument("--data-dir", help=f"folder (default ${ENV_VAR} or {DEFAULT_DIR})")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in DATA_FILES]
    if unknown:
        p.error(f"unknown data file(s) {unknown}; choose from {list(DATA_FILES)}")
    folder, status = data_dir(args.data_dir), 0
    for name in args.names or list(DATA_FILES):
        spec = DATA_FILES[name]
        if args.command == "download":
            try:
                (target,) = fetch_entry(spec, folder)
            except (OSError, ValueError) as exc:  # no network, refused, sha256 mismatch: one line
                print(f"error: download {name} from {spec.urls[0]} failed: {one_line(exc, 300)}", file=sys.stderr)
                return 2
            print(f"{name}: {target} sha256={spec.sha256}")
            continue
        why = problem(name, folder)
        if args.command == "list":
            print(f"{name:16s} {'present' if not why else 'missing':8s} {folder / spec.filename}  <- {spec.urls[0]}"
                  f"  [{spec.used_by}]")
        else:
            status |= bool(why)
            print(f"{name}: {why or 'ok'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
