"""The one interface every generation stack (ours and each peer) answers, so comparisons never branch per peer.

Shapes: latents ``x`` [B, C, L]; v-diffusion time ``t`` [B] in (0, 1); text tokens [B, S, 768] with mask [B, S];
timings [B] in seconds; audio [B, channels, L * 2048].
"""
from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch


class PeerMissing(ImportError):
    """A peer's package (or a file it needs) is absent; ``str(err)`` is the skip reason with the install command."""


@dataclass(frozen=True)
class SamplerSpec:
    """The sampler a stack's full generation runs: ``name`` in the stack's own vocabulary, and whether it is the
    same mathematics as ours (``sa_core.sampling.sample_dpmpp_2m`` on the polyexponential rho=1 schedule), i.e.
    whether a full generation from the same noise must agree."""

    name: str
    same_as_ours: bool
    note: str = ""


class Stack(ABC):
    name: str
    sampler: SamplerSpec

    def __init__(self, ckpt: str | Path, t5_dir: str | Path, device: str = "cpu"):
        self.ckpt, self.t5_dir, self.device = Path(ckpt), Path(t5_dir), device
        self.raw_config: dict[str, Any] = json.loads((self.ckpt / "model_config.json").read_text())

    @classmethod
    def check(cls) -> None:
        """Raise :class:`PeerMissing` (reason + install command) when this stack cannot load; cheap, loads no model."""

    @property
    def sample_rate(self) -> int:
        return int(self.raw_config["sample_rate"])

    @abstractmethod
    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor, seconds_start: torch.Tensor,
                seconds_total: torch.Tensor) -> Any:
        """The stack's own conditioning (timing embedders + assembly) from shared text-encoder output."""

    @abstractmethod
    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: Any, cfg_scale: float = 1.0) -> torch.Tensor:
        """The DiT's v-prediction ``[B, C, L]`` (fp32), guided with ``cfg_scale`` (1: no CFG) the stack's way."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The VAE decode ``[B, C, L] -> [B, channels, L * ratio]``."""

    @abstractmethod
    def sample(self, cond: Any, noise: torch.Tensor, steps: int, cfg_scale: float, sigma_min: float = 0.3,
               sigma_max: float = 500.0) -> torch.Tensor:
        """Latents from unit ``noise`` [B, C, L] with the stack's sampler (:attr:`sampler`) and CFG."""

    def generate(self, cond: Any, noise: torch.Tensor, steps: int, cfg_scale: float) -> torch.Tensor:
        """A whole generation: sample then decode (a stack with its own end-to-end entry point overrides this)."""
        return self.decode(self.sample(cond, noise, steps, cfg_scale))

    def precision(self, dtype: torch.dtype) -> contextlib.AbstractContextManager:
        """fp32, or autocast to ``dtype`` (each stack's documented mixed-precision path on this device)."""
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=dtype)

    def release(self) -> None:
        """Drop the modules (callers hold one SAO-size stack at a time)."""
        for k in list(vars(self)):
            if isinstance(getattr(self, k), torch.nn.Module):
                setattr(self, k, None)


@contextlib.contextmanager
def local_t5(t5_dir: Path) -> Iterator[None]:
    """Point ``from_pretrained("t5-base")`` (how peers name the text encoder) at the local random T5 folder, offline;
    other names pass through unchanged."""
    from transformers import AutoTokenizer, T5EncoderModel

    classes = (AutoTokenizer, T5EncoderModel)
    own = {cls: cls.__dict__.get("from_pretrained") for cls in classes}  # None: inherited

    def redirect(original: Any) -> Any:
        def from_pretrained(_cls: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            if str(name).startswith(("t5-", "google-t5/", "google/t5")):
                name, kwargs = str(t5_dir), {**kwargs, "local_files_only": True}
            with torch.device("cpu"):  # real weights even inside a caller's meta-device build
                return original(name, *args, **kwargs)
        return classmethod(from_pretrained)

    try:
        for cls in classes:
            setattr(cls, "from_pretrained", redirect(cls.from_pretrained))
        yield
    finally:
        for cls, original in own.items():
            if original is None:
                delattr(cls, "from_pretrained")
            else:
                setattr(cls, "from_pretrained", original)
