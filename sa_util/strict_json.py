"""Strict JSON for result files: what ``json.dumps(..., allow_nan=False)`` accepts, from what results hold."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def ready(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values, paths as str, and NaN/inf as None."""
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [ready(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def encode(prepared: Any) -> bytes:
    """Indented strict JSON of an object :func:`ready` already returned."""
    return json.dumps(prepared, indent=2, allow_nan=False).encode()


def dumps(obj: Any) -> bytes:
    """Indented strict JSON of ``ready(obj)``."""
    return encode(ready(obj))
