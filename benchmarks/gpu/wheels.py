"""``python -m benchmarks.gpu.wheels --out .whl/gpu``: the wheels the CUDA image lacks, for ``benchmarks.gpu``.

The image (:data:`IMAGE`) has Python 3.12, torch 2.11 (CUDA 13), numpy 2.5, transformers 5.17, sentence-transformers,
timm, h5py, safetensors, scipy, pandas, matplotlib, pytest and pytest-benchmark, and reaches no registry. Every
other module the GPU command imports is named in :data:`NEEDED` and fetched here with ``pip download --no-deps
--only-binary=:all:`` for cp312 manylinux at the version ``constraints-image.txt`` pins (the environment CI tests as
the image's); the few that PyPI has only as source are pure Python and are built into wheels here (:data:`BUILT`).
numba is left out on purpose: llvmlite's wheel alone is over the limit, and metrics.files.kaiser_best then runs its
bit-equal numpy kernel. Then it adds up the wheels and the repository's tracked files (what travels to the device) and
fails if they exceed :data:`LIMIT_MIB`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sa_util.cli import guarded

LIMIT_MIB = 64.0
ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints-image.txt"


@dataclass(frozen=True)
class Image:
    python: str = "3.12"
    platforms: tuple[str, ...] = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                                  "manylinux2014_x86_64")


IMAGE = Image()
# distribution -> what imports it on the GPU command's path
NEEDED: dict[str, str] = {
    "soundfile": "clip decoding", "cffi": "soundfile", "pycparser": "cffi", "soxr": "resampling",
    "torchaudio": "hear21passt (mel banks, masking)", "hear21passt": "PaSST (KL)",
    "laion-clap": "CLAP score", "torchlibrosa": "laion_clap", "librosa": "laion_clap", "audioread": "librosa",
    "lazy-loader": "librosa", "msgpack": "librosa", "pooch": "librosa", "decorator": "librosa",
    "platformdirs": "pooch", "requests": "pooch", "urllib3": "requests", "certifi": "requests",
    "charset-normalizer": "requests",
    "ftfy": "laion_clap", "wcwidth": "ftfy", "braceexpand": "laion_clap", "webdataset": "laion_clap",
    "wget": "laion_clap",
    "faiss-cpu": "MAD (MAUVE's k-means)", "scikit-learn": "MAD (MAUVE's PCA)", "joblib": "scikit-learn",
    "threadpoolctl": "scikit-learn",
}
BUILT = ("wget",)  # source-only on PyPI, pure Python


def pinned(names: list[str], constraints: Path = CONSTRAINTS) -> list[str]:
    """``name==version`` for each name, from the constraints file (names compared case- and -/_-insensitively)."""
    norm = lambda s: s.lower().replace("_", "-")  # noqa: E731
    pins = {norm(line.split("==")[0]): line.strip() for line in constraints.read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    missing = [n for n in names if norm(n) not in pins]
    if missing:
        raise SystemExit(f"not pinned in {constraints.name}: {', '.join(missing)}")
    return [pins[norm(n)].split(" ")[0] for n in names]


def download(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    binary = [n for n in NEEDED if n not in BUILT]
    platforms = [a for p in IMAGE.platforms for a in ("--platform", p)]
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(pip + ["download", "--no-deps", "--only-binary=:all:", "--python-version", IMAGE.python,
                          *platforms, "-d", str(out), *pinned(binary)], check=True)
    subprocess.run(pip + ["wheel", "--no-deps", "-w", str(out), *pinned(list(BUILT))], check=True)


def tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / f.decode()).stat().st_size for f in files if f and (ROOT / f.decode()).is_file())


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu.wheels", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / ".whl" / "gpu")
    p.add_argument("--skip-download", action="store_true", help="only add up what is already in --out")
    args = p.parse_args(argv)
    if not args.skip_download:
        download(args.out)
    wheels = sorted(args.out.glob("*.whl"))
    wheel_bytes, code_bytes = sum(w.stat().st_size for w in wheels), tracked_bytes()
    total = (wheel_bytes + code_bytes) / 2 ** 20
    print(f"{len(wheels)} wheels {wheel_bytes / 2 ** 20:.1f} MiB + tracked code {code_bytes / 2 ** 20:.1f} MiB = "
          f"{total:.1f} MiB (limit {LIMIT_MIB:.0f} MiB): {'fits' if total <= LIMIT_MIB else 'TOO LARGE'}")
    return 0 if total <= LIMIT_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
