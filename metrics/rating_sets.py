"""Public human-rating sets, read into :class:`metrics.agreement.Ratings` (``--ratings-format`` of agreement).

The data cannot be fetched by this tool; download a set yourself and point ``--ratings`` at the file named below.
Each reader is tested on small synthetic files in the published layout (tests/metrics/test_agreement.py).

| format | set | where it comes from | file read |
|---|---|---|---|
| ``musiceval`` | MusicEval / AudioMOS Challenge 2025 track 1 (Liu et al. 2025, arXiv 2501.10811) | the challenge's data release (CodaBench), as read by the official baseline NKU-HLT/MusicEval-baseline | ``mos_list.txt``-style lines ``<wavID>,<overall>,<textual>``; wavID ``audiomos2025-track1-<system>_<prompt>`` |
| ``tta-bench`` | TTA-Bench (arXiv 2509.02398) human MOS | the per-rater CSVs processed by NKU-HLT/TTA-Bench-tools ``cal_mos/1_process.py`` | one CSV per rater, column ``name`` = ``<system>_<prompt>.wav`` (``S001_P0001.wav``; system ``S000`` holds attention checks) and five 1-5 aspect columns |
| ``ours`` (default) | any other set | converted by hand | our CSV: ``system,item,rating`` or ``item,system_a,system_b,winner`` |

Sets whose rating-file layout could not be established from public code or documentation, so that no reader is
offered (convert them by hand into our CSV):
MusicPrefs (Huang et al. 2025, arXiv 2503.16669; Hugging Face ``i-need-sleep/musicprefs``), AIME pairwise
comparisons (Grötschla et al. 2025, arXiv 2506.19085; Hugging Face ``disco-eth/AIME-survey``; the audio subset
``disco-eth/AIME`` maps ``id`` to ``model``), PAM's listening tests (Deshmukh et al. 2024, arXiv 2402.00282; Zenodo
record 10737388) and SongEval (Yao et al. 2025, arXiv 2505.10793; Hugging Face ``ASLP-lab/SongEval``
``metadata.jsonl``, five 1-5 aesthetic scores per song, no system field documented).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from metrics.agreement import Ratings, RatingsError, read_ratings

MUSICEVAL_PREFIX = "audiomos2025-track1-"
MUSICEVAL_ASPECTS = ("overall", "textual")  # overall musical quality, textual alignment (MOS 1-5)
# TTA-Bench's aspect columns (Chinese in the release) and the names used here
TTA_BENCH_ASPECTS = {"complexity": "复杂度", "enjoyment": "喜爱度", "quality": "质量", "alignment": "一致性",
                     "usefulness": "实用性"}
TTA_BENCH_PROBE_SYSTEM = "S000"  # attention-check clips, not a system


def read_musiceval(path: Path, aspect: str = "overall") -> Ratings:
    """MusicEval / AudioMOS 2025 track 1 MOS lines ``<wavID>,<overall>,<textual>`` (a header or blank line is
    skipped); system and item from ``audiomos2025-track1-<system>_<item>``."""
    if aspect not in MUSICEVAL_ASPECTS:
        raise RatingsError(f"MusicEval aspect {aspect!r}: choose one of {', '.join(MUSICEVAL_ASPECTS)}")
    column = 1 + MUSICEVAL_ASPECTS.index(aspect)
    out = Ratings()
    for n, line in enumerate(_lines(path), 1):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not _is_number(parts[column]):
            if n == 1 or not line.strip():
                continue  # a header
            raise RatingsError(f"--ratings {path}, line {n}: expected <wavID>,<overall>,<textual>")
        name = parts[0].removesuffix(".wav").removeprefix(MUSICEVAL_PREFIX)
        system, _, item = name.partition("_")
        out.scores.append((system, item or name, float(parts[column])))
    return out


def read_tta_bench(path: Path, aspect: str = "quality") -> Ratings:
    """TTA-Bench per-rater CSVs: ``path`` is one file or a folder of them; rows of system ``S000`` are skipped."""
    if aspect not in TTA_BENCH_ASPECTS:
        raise RatingsError(f"TTA-Bench aspect {aspect!r}: choose one of {', '.join(TTA_BENCH_ASPECTS)}")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    out = Ratings()
    for f in files:
        try:
            with open(f, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise RatingsError(f"--ratings {f}: cannot read ({exc})") from exc
        column = TTA_BENCH_ASPECTS[aspect]
        if rows and ("name" not in rows[0] or column not in rows[0]):
            raise RatingsError(f"--ratings {f}: expected TTA-Bench columns 'name' and {column!r} ({aspect})")
        for n, r in enumerate(rows, 2):
            system, _, item = r["name"].removesuffix(".wav").partition("_")
            if system == TTA_BENCH_PROBE_SYSTEM:
                continue
            if not _is_number(r[column]):
                raise RatingsError(f"--ratings {f}, line {n}: {aspect} rating {r[column]!r} is not a number")
            out.scores.append((system, item, float(r[column])))
    return out


@dataclass(frozen=True)
class RatingSet:
    read: Callable[[Path, str], Ratings]
    aspects: tuple[str, ...]  # the first is the default


READERS: dict[str, RatingSet] = {
    "ours": RatingSet(lambda p, _: read_ratings(p), ("rating",)),
    "musiceval": RatingSet(read_musiceval, MUSICEVAL_ASPECTS),
    "tta-bench": RatingSet(read_tta_bench, ("quality", *[a for a in TTA_BENCH_ASPECTS if a != "quality"])),
}


def read(path: Path, fmt: str = "ours", aspect: str | None = None) -> Ratings:
    reader = READERS[fmt]
    return reader.read(path, aspect or reader.aspects[0])


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RatingsError(f"--ratings {path}: cannot read ({exc})") from exc


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
