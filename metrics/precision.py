"""Evaluation precision: ``fp32`` (every protocol's own, the default) or ``bf16`` autocast of the evaluator models.

bf16 is offered per evaluator only where the precision study (``python -m benchmarks.precision_study``; its table is
in BENCHMARKS.md) measured the scores' movement far below the bootstrap 95 % CI width of the same scores, i.e. under
:data:`HARMLESS_FRACTION` of it for every metric that evaluator feeds. :data:`BF16_CLEARED` holds those evaluators
and the study's figure that cleared them; any other evaluator asked to run in bf16 is a one-line error naming the
figure that kept it out. Only the audio side runs in bf16 (CLAP's text tower stays fp32), the pre-processing
(decode, resampling, spectrogram front ends outside the network) is unchanged, and the outputs are cast back to fp32
before any distance is computed. A bf16 run caches its outputs under their own key and marks its metrics as not
comparable to published numbers (a deviation from the protocol, however small).
"""
from __future__ import annotations

import contextlib
from typing import Any

PRECISIONS = ("fp32", "bf16")
HARMLESS_FRACTION = 0.1  # movement / CI width below which bf16 counts as harmless

# evaluator -> what the study measured (largest |bf16 - fp32| / CI width over the metrics it feeds)
BF16_CLEARED: dict[str, str] = {}
# evaluator -> why it stays fp32
BF16_REFUSED: dict[str, str] = {}


def autocast(precision: str, device: str) -> Any:
    """The context the evaluator's forward pass runs in: nothing for fp32, ``torch.autocast`` to bf16 otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def check_precision(precision: str, models: list[str]) -> None:
    """Raise ValueError (one line) unless every evaluator of ``models`` may run at ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return
    refused = [m for m in dict.fromkeys(models) if m not in BF16_CLEARED]
    if refused:
        why = "; ".join(f"{m}: {BF16_REFUSED.get(m, 'not measured by the precision study')}" for m in refused)
        raise ValueError(f"--precision bf16 is not offered for {', '.join(refused)} ({why}); run it in fp32 or "
                         "choose metrics of cleared evaluators ({})".format(", ".join(BF16_CLEARED) or "none"))
