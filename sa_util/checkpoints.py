"""PyTorch checkpoints read safely and loaded strictly, every failure one line naming the file and what was
expected."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sa_util.cli import one_line

if TYPE_CHECKING:
    import torch


def load_checkpoint(path: Path, expected: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file it cannot read (truncated, not a checkpoint,
    unpicklable content) raises a one-line ValueError naming the file and what was expected."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({one_line(exc, typed=True)}); "
                         f"expected {expected}") from exc


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def load_state_strict(module: torch.nn.Module, state: Any, path: Path, expected: str) -> None:
    """``module.load_state_dict(state, strict=True)``; any mismatch (not a dict of tensors, missing or unexpected
    keys, wrong shapes) raises one line naming the file and what was expected."""
    import torch

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors; expected {expected}")
    own = module.state_dict()
    problems = []
    if missing := [k for k in own if k not in state]:
        problems.append(f"{len(missing)} missing keys ({_some(missing)})")
    if unexpected := [k for k in state if k not in own]:
        problems.append(f"{len(unexpected)} unexpected keys ({_some(unexpected)})")
    if wrong := [k for k in own if k in state and state[k].shape != own[k].shape]:
        problems.append(f"{len(wrong)} tensors of the wrong shape ({_some(wrong)})")
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems)}; expected {expected}")
    module.load_state_dict(state, strict=True)
