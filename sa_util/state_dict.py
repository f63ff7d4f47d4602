"""Reading weight files and loading them strictly: one reader and one strict loader for every model of sa-bench.

Nothing is unpickled: a ``.safetensors`` file is read with safetensors, anything else with
``torch.load(weights_only=True)``. A strict load checks every key and every shape before touching the module, and
any mismatch is one ``ValueError`` line naming the file and what was expected. torch is imported inside the
functions, so importing this module stays free.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sa_util.cli import one_line

if TYPE_CHECKING:
    import torch


def read_weights(path: Path, expected: str, safe_globals: Sequence[Any] = ()) -> Any:
    """The contents of the weight file ``path`` on the CPU: safetensors by suffix, else
    ``torch.load(weights_only=True)`` admitting ``safe_globals`` too. A file it cannot read (truncated, not a
    checkpoint, unpicklable content) raises one line naming the file and ``expected``."""
    import torch

    try:
        if Path(path).suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip, safetensors and weights-only errors all mean "not this file"
        kind = "safetensors file" if Path(path).suffix == ".safetensors" else "PyTorch checkpoint"
        raise ValueError(f"{path}: not a readable {kind} ({one_line(exc, typed=True)}); expected {expected}") from exc


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def state_problems(own: dict[str, torch.Tensor], state: dict[str, Any]) -> list[str]:
    """What keeps ``state`` from loading strictly into a module whose state dict is ``own`` (empty if nothing)."""
    problems = []
    if missing := [k for k in own if k not in state]:
        problems.append(f"{len(missing)} missing keys ({_some(missing)})")
    if unexpected := [k for k in state if k not in own]:
        problems.append(f"{len(unexpected)} unexpected keys ({_some(unexpected)})")
    if wrong := [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                 if k in state and state[k].shape != own[k].shape]:
        problems.append(f"{len(wrong)} tensors of the wrong shape ({_some(wrong)})")
    return problems


def load_state_strict(module: torch.nn.Module, state: Any, path: Path, expected: str) -> None:
    """``module.load_state_dict(state, strict=True)`` after checking that ``state`` is a dict of tensors with
    exactly the module's keys and shapes; a mismatch raises one line naming ``path`` and ``expected``. A module
    built on the meta device takes the loaded tensors as its own (``assign``)."""
    import torch

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors; expected {expected}")
    if problems := state_problems(module.state_dict(), state):
        raise ValueError(f"{path}: {'; '.join(problems)}; expected {expected}")
    module.load_state_dict(state, strict=True, assign=any(p.is_meta for p in module.parameters()))
