"""A minimal, readable Stable Audio: VAE, conditioning, DiT / U-Net, v-diffusion and rectified-flow training,
DPM-Solver++ / Euler / pingpong sampling.

``sa_core.load_model(path)`` loads our checkpoints and the stable-audio-open-1.0 and -small releases.
"""
from typing import Any

__all__ = ["load_model", "build_model", "save_model"]


def __getattr__(name: str) -> Any:  # lazy, so `import sa_core.config` does not import the whole stack
    if name in __all__:
        from sa_core import model

        return getattr(model, name)
    raise AttributeError(name)
