"""The text-encoder interface."""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class MissingTextEncoder(FileNotFoundError):
    pass


class TextEncoder(ABC):
    dim: int

    @abstractmethod
    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``texts`` -> (tokens ``[B, S, dim]`` float32, mask ``[B, S]`` bool)."""
