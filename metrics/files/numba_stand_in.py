"""A stand-in ``numba`` for environments without it (the CUDA image: llvmlite's wheel alone is over what may travel
there). librosa imports numba at module level (``librosa.filters``, ``librosa.util.utils``) although the parts the
evaluators reach through torchlibrosa (window and mel filters) run none of its jitted functions. :func:`install`
puts a module whose decorators return the function unchanged under ``numba``, only where numba is not installed;
:mod:`metrics.files.kaiser_best` sees :data:`MARKER` and runs its numpy kernel.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

MARKER = "__sa_bench_stand_in__"


def _decorator(*args: Any, **kwargs: Any) -> Any:
    """``@jit`` and ``@jit(...)`` alike: the function itself."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda fn: fn


def install() -> bool:
    """Put the stand-in in place if numba cannot be imported; True if it did."""
    if "numba" in sys.modules or importlib.util.find_spec("numba") is not None:
        return False
    module = types.ModuleType("numba")
    for name in ("jit", "njit", "stencil", "guvectorize", "vectorize"):
        setattr(module, name, _decorator)
    module.__version__ = "0+stand-in"
    setattr(module, MARKER, True)
    sys.modules["numba"] = module
    return True


def is_stand_in(module: types.ModuleType) -> bool:
    return bool(getattr(module, MARKER, False))


__all__ = ["MARKER", "install", "is_stand_in"]
