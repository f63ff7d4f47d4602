"""``none``: a text encoder that gives every caption the same single zero token, so a model trained with it
conditions on timing alone (the CFG null conditioning is zeros too)."""
from __future__ import annotations

import torch

from sa_core.text_encoders.base import TextEncoder


class NullEncoder(TextEncoder):
    def __init__(self, dim: int):
        self.dim = dim

    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(zeros ``[B, 1, dim]``, mask ``[B, 1]`` all True)."""
        return (torch.zeros(len(texts), 1, self.dim, device=device),
                torch.ones(len(texts), 1, dtype=torch.bool, device=device))
