"""What the GPU command runs on: card, driver, CUDA, package versions, free memory, and what is missing."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

# the modules the cases import, with what each one is for (a missing one is named in the check's line)
NEEDED: dict[str, str] = {
    "torch": "everything", "numpy": "everything", "scipy": "distances", "soundfile": "clip decoding",
    "soxr": "resampling", "h5py": "OpenL3 weights", "hear21passt": "PaSST (KL)", "timm": "PaSST",
    "torchaudio": "PaSST's mel", "laion_clap": "CLAP score", "transformers": "CLAP's RoBERTa",
    "torchlibrosa": "CLAP's and PANNs' front end", "librosa": "CLAP's mel filters",
}
OPTIONAL: dict[str, str] = {"diffusers": "the diffusers peer", "stable_audio_tools": "the stable-audio-tools peer",
                            "numba": "the jitted kaiser_best kernel (without it: its bit-equal numpy kernel)"}
MIN_FREE_GIB = 20.0  # stable-audio-1.0 at batch 8 in bf16 with its VAE decode


@dataclass
class Environment:
    device: str
    card: str | None = None
    driver: str | None = None
    cuda: str | None = None
    free_gib: float | None = None
    total_gib: float | None = None
    python: str = platform.python_version()
    versions: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # module -> what needs it
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line: ready, or what is missing."""
        what = [f"{m} ({why})" for m, why in self.missing.items()] + self.problems
        where = self.card or self.device
        return f"environment: {where}; " + ("ready" if not what else "missing: " + "; ".join(what))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _version(module: str) -> str | None:
    """The installed version of ``module``, found without importing it (laion_clap's import reaches for the hub)."""
    if importlib.util.find_spec(module) is None:
        return None
    for dist in (module, module.replace("_", "-")):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "present"


def _driver() -> str | None:
    try:
        import pynvml  # noqa: PLC0415  (nvidia-ml-py, shipped with CUDA torch wheels' dependencies on some images)

        pynvml.nvmlInit()
        return pynvml.nvmlSystemGetDriverVersion()
    except Exception:  # noqa: BLE001
        import subprocess

        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            return None


def check(device: str) -> Environment:
    env = Environment(device=device)
    for module in {**NEEDED, **OPTIONAL}:
        version = _version(module)
        if version is None:
            if module in NEEDED:
                env.missing[module] = NEEDED[module]
        else:
            env.versions[module] = version
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            env.problems.append("no CUDA device visible to torch")
            return env
        env.card = torch.cuda.get_device_name()
        env.cuda = torch.version.cuda
        env.driver = _driver()
        free, total = torch.cuda.mem_get_info()
        env.free_gib, env.total_gib = free / 2 ** 30, total / 2 ** 30
        if env.free_gib < MIN_FREE_GIB:
            env.problems.append(f"only {env.free_gib:.1f} GiB free on the card (the largest case needs ~{MIN_FREE_GIB:.0f})")
    else:
        env.card = platform.processor() or platform.machine()
    return env
