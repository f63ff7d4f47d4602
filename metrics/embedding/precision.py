"""Evaluation precision: ``fp32`` (every protocol's own, the default) or ``bf16`` autocast of the evaluator models.

bf16 is offered per evaluator only where the precision study (``python -m benchmarks.precision_study``; its table is
in BENCHMARKS.md) measured the scores' movement far below the bootstrap 95 % CI width of the same scores, i.e. under
:data:`HARMLESS_FRACTION` of it for every metric that evaluator feeds, with the width projected to a set of
:data:`VERDICT_FILES` files (:func:`ratio_at`). :data:`BF16_CLEARED` holds those evaluators
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
# The CI narrows as 1/sqrt(files) while bf16's movement does not, so the verdict is taken at a large set's size:
# the width measured on the study's n files is scaled to this many (MusicCaps, 5,521 clips).
VERDICT_FILES = 5521


def ratio_at(ratio: float, n_files: int, at: int = VERDICT_FILES) -> float:
    """|bf16 - fp32| / CI width measured on ``n_files`` files, projected to ``at`` files (CI width ~ 1/sqrt(n))."""
    return ratio * (at / n_files) ** 0.5

# evaluator -> what the study measured (largest |bf16 - fp32| / CI width over the metrics it feeds); the study of
# 2026-12-02: 30 + 30 clips of 3 s, random weights, CPU (BENCHMARKS.md, "Precision study")
BF16_CLEARED: dict[str, str] = {
    "aesthetics": "the reference's own computation where its checkpoint's model_cfg names bf16 (AesMultiOutput "
                  "autocasts its forward pass to that precision); not measured by the study",
    "clap": "CLAP score moved 2.2e-5, 0.0023 of its CI width on 30 clips (0.031 projected to 5,521)",
}
# evaluator -> why it stays fp32 (PaSST and PANNs: the study of 2026-12-02 on an AVX2 EPYC, 1 s clips; OpenL3: the
# same day on a Zen 4 EPYC, 24 + 24 clips of 2.5 s, 600 frames a side for its 512-d FD)
BF16_REFUSED: dict[str, str] = {
    "vggish": "KAD moved 1.1 %, 0.010 of its CI width on 30 clips, 0.135 projected to 5,521 files (FAD: 0.088)",
    "openl3": "FD_openl3 moved 15 %, 0.30 of its CI width on 24 clips, 4.6 projected to 5,521 files",
    "passt": "KL_passt moved 0.00048, 0.0078 of its CI width on 20 clips, 0.130 projected to 5,521 files",
    "panns": "KL_sigmoid moved 0.9 %, 0.016 of its CI width on 60 clips (0.150 projected to 5,521 files), and FD is "
             "unmeasured: on 60 files of a 2048-d embedding it is undefined (sqrtm's imaginary part)",
}


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
