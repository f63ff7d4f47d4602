"""Public human-rating sets, read into :class:`metrics.comparison.agreement.Ratings` (``--ratings-format`` of agreement).

The data cannot be fetched by this tool; download a set yourself and point ``--ratings`` at the file named below.
Each reader is tested on small synthetic files in the published layout (tests/metrics/test_agreement.py).

| format | set | where the layout comes from | file read |
|---|---|---|---|
| ``musiceval`` | MusicEval / AudioMOS Challenge 2025 track 1 (Liu et al. 2025, arXiv 2501.10811) | the challenge's data release (CodaBench), as read by the official baseline NKU-HLT/MusicEval-baseline | ``mos_list.txt``-style lines ``<wavID>,<overall>,<textual>``; wavID ``audiomos2025-track1-<system>_<prompt>`` |
| ``tta-bench`` | TTA-Bench (arXiv 2509.02398) human MOS | the per-rater CSVs processed by NKU-HLT/TTA-Bench-tools ``cal_mos/1_process.py`` | one CSV per rater, column ``name`` = ``<system>_<prompt>.wav`` (``S001_P0001.wav``; system ``S000`` holds attention checks) and five 1-5 aspect columns |
| ``pam`` | PAM's text-to-audio and text-to-music listening tests (Deshmukh et al. 2024, arXiv 2402.00282; Zenodo record 10737388, folder ``human_eval``) | the authors' evaluation soham97/PAM ``pcc.py`` (``load_task_dataframe``) | ``human_eval/<task>/scores.csv``, columns ``Model`` (system), ``File Name`` (audio ``<task>/<Model>/<File Name>.wav``), ``OVL`` and ``REL`` (1-5) |
| ``musicprefs`` | MusicPrefs (Huang et al. 2025, arXiv 2503.16669; Hugging Face ``i-need-sleep/musicprefs``) | not the authors' code (i-need-sleep/mad computes MAD only): the reader of the released file in YoEv/noiseloss ``phase7_release/scripts/data/fit_pairwise_manifests.py`` | ``human_preference.csv`` at the dataset root, one comparison a row: ``audio_a``, ``audio_b``, ``system_a``, ``system_b``, outcome columns ``musicality`` and ``fidelity`` (containing ``a_wins`` or ``b_wins``; anything else is a tie) |
| ``aime`` | AIME pairwise comparisons (Grötschla et al. 2025, arXiv 2506.19085; Hugging Face ``disco-eth/AIME-survey``) | not the authors' code (none is published): the readers of the released parquet in YoEv/noiseloss ``phase7_release/scripts/data/aime_join_survey.py`` and ``fit_pairwise_manifests.py`` | ``data/train-00000-of-00001.parquet`` (or a CSV export with the same columns): ``question-type`` (``Music Quality``, ``Text-Audio Alignment``), ``description`` (the tag prompt), ``model-1``/``model-2``, ``track-1-id``/``track-2-id`` (``disco-eth/AIME`` ``id``), ``answer`` 1 or 2 (the preferred track) |
| ``ours`` (default) | any other set | converted by hand | our CSV: ``system,item,rating`` or ``item,system_a,system_b,winner`` |

Where the source is not the authors' code, the value vocabulary is only as established as that reader: a MusicPrefs
outcome it would call a tie is read as a tie, and an AIME file without the asked question type is an error that
names the question types it has.

Convert by hand into our CSV: SongEval (Yao et al. 2025, arXiv 2505.10793; Hugging Face ``ASLP-lab/SongEval``
``metadata.jsonl``). Its dataset card lists per song ``audio``, ``gender`` and ``aesthetic_scores`` (five 1-5
scores) and says the songs come from five generation models plus real and bad-case samples, but it names neither the
jsonl keys of the song id and of the five scores (the public readers disagree: ``annotation`` lists of per-annotator
``Coherence``/``Musicality``/``Memorability``/``Clarity``/``Naturalness`` in yonghyunk1m/TuneJury
``data/prepare_songeval_pairs.py``, ``id`` and ``dim1``-``dim5`` in YoEv/noiseloss
``phase7_release/doc/server/README.md``)
nor any field saying which system made a song, which a system-level agreement needs.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from metrics.comparison.agreement import Ratings, RatingsError, read_ratings

MUSICEVAL_PREFIX = "audiomos2025-track1-"
MUSICEVAL_ASPECTS = ("overall", "textual")  # overall musical quality, textual alignment (MOS 1-5)
# TTA-Bench's aspect columns (Chinese in the release) and the names used here
TTA_BENCH_ASPECTS = {"complexity": "复杂度", "enjoyment": "喜爱度", "quality": "质量", "alignment": "一致性",
                     "usefulness": "实用性"}
TTA_BENCH_PROBE_SYSTEM = "S000"  # attention-check clips, not a system
PAM_ASPECTS = {"overall": "OVL", "relevance": "REL"}  # overall quality, relevance to the text (MOS 1-5)
MUSICPREFS_ASPECTS = ("musicality", "fidelity")  # the outcome columns
AIME_QUESTIONS = {"music-quality": "Music Quality", "text-audio-alignment": "Text-Audio Alignment"}


def read_musiceval(path: Path, aspect: str = "overall") -> Ratings:
    """MusicEval / AudioMOS 2025 track 1 MOS lines ``<wavID>,<overall>,<textual>`` (a header or blank line is
    skipped); system and item from ``audiomos2025-track1-<system>_<item>``."""
    _check_aspect("MusicEval", aspect, MUSICEVAL_ASPECTS)
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
    _check_aspect("TTA-Bench", aspect, TTA_BENCH_ASPECTS)
    column = TTA_BENCH_ASPECTS[aspect]
    out = Ratings()
    for f in sorted(path.glob("*.csv")) if path.is_dir() else [path]:
        rows = _csv_rows(f)
        if rows and ("name" not in rows[0] or column not in rows[0]):
            raise RatingsError(f"--ratings {f}: expected TTA-Bench columns 'name' and {column!r} ({aspect})")
        for n, r in enumerate(rows, 2):
            system, _, item = r["name"].removesuffix(".wav").partition("_")
            if system == TTA_BENCH_PROBE_SYSTEM:
                continue
            out.scores.append((system, item, _score(r[column], aspect, f, n)))
    return out


def read_pam(path: Path, aspect: str = "overall") -> Ratings:
    """PAM listening-test scores: ``path`` is a task's ``scores.csv`` or the task folder holding it; system
    ``Model``, item ``File Name``, rating ``OVL`` or ``REL``."""
    _check_aspect("PAM", aspect, PAM_ASPECTS)
    f = path / "scores.csv" if path.is_dir() else path
    column = PAM_ASPECTS[aspect]
    rows = _csv_rows(f)
    _require_columns(rows, f, "PAM", ("Model", "File Name", column))
    return Ratings([(r["Model"], r["File Name"], _score(r[column], aspect, f, n)) for n, r in enumerate(rows, 2)])


def read_musicprefs(path: Path, aspect: str = "musicality") -> Ratings:
    """MusicPrefs ``human_preference.csv``: one comparison a row between ``system_a`` and ``system_b``; the item is
    the compared pair ``<audio_a>|<audio_b>``; the outcome column ``aspect`` names ``a_wins`` or ``b_wins``, any
    other non-empty outcome is a tie."""
    _check_aspect("MusicPrefs", aspect, MUSICPREFS_ASPECTS)
    rows = _csv_rows(path)
    _require_columns(rows, path, "MusicPrefs", ("audio_a", "audio_b", "system_a", "system_b", aspect))
    out = Ratings()
    for n, r in enumerate(rows, 2):
        a, b, outcome = r["system_a"], r["system_b"], (r[aspect] or "").strip().lower()
        if not a or not b or not outcome:
            raise RatingsError(f"--ratings {path}, line {n}: expected system_a, system_b and a {aspect} outcome")
        a_wins, b_wins = "a_wins" in outcome, "b_wins" in outcome
        winner = a if a_wins and not b_wins else b if b_wins else "tie"
        out.preferences.append((f"{r['audio_a']}|{r['audio_b']}", a, b, winner))
    return out


def read_aime(path: Path, aspect: str = "music-quality") -> Ratings:
    """AIME-survey judgements of one question type (``aspect``; the other rows are skipped): item ``description``,
    systems ``model-1`` and ``model-2``, ``answer`` 1 or 2 the preferred one. Column names may use ``_`` for ``-``."""
    _check_aspect("AIME", aspect, AIME_QUESTIONS)
    rows = [{(k or "").replace("_", "-"): v or "" for k, v in r.items()} for r in _table_rows(path)]
    _require_columns(rows, path, "AIME", ("question-type", "description", "model-1", "model-2", "answer"))
    question, out = AIME_QUESTIONS[aspect], Ratings()
    for n, r in enumerate(rows, 1):
        if r["question-type"] != question:
            continue
        answer = r["answer"].strip().removesuffix(".0")
        if answer not in ("1", "2") or not r["model-1"] or not r["model-2"]:
            raise RatingsError(f"--ratings {path}, data row {n}: expected model-1, model-2 and answer 1 or 2, "
                               f"got answer {r['answer']!r}")
        out.preferences.append((r["description"], r["model-1"], r["model-2"], r[f"model-{answer}"]))
    if rows and not out.preferences:
        found = ", ".join(sorted({repr(r["question-type"]) for r in rows}))
        raise RatingsError(f"--ratings {path}: no question-type {question!r} ({aspect}); the file has {found}")
    return out


@dataclass(frozen=True)
class RatingSet:
    read: Callable[[Path, str], Ratings]
    aspects: tuple[str, ...]  # the first is the default


READERS: dict[str, RatingSet] = {
    "ours": RatingSet(lambda p, _: read_ratings(p), ("rating",)),
    "musiceval": RatingSet(read_musiceval, MUSICEVAL_ASPECTS),
    "tta-bench": RatingSet(read_tta_bench, ("quality", *[a for a in TTA_BENCH_ASPECTS if a != "quality"])),
    "pam": RatingSet(read_pam, tuple(PAM_ASPECTS)),
    "musicprefs": RatingSet(read_musicprefs, MUSICPREFS_ASPECTS),
    "aime": RatingSet(read_aime, tuple(AIME_QUESTIONS)),
}


def read(path: Path, fmt: str = "ours", aspect: str | None = None) -> Ratings:
    reader = READERS[fmt]
    return reader.read(path, aspect or reader.aspects[0])


def _check_aspect(name: str, aspect: str, choices) -> None:
    if aspect not in choices:
        raise RatingsError(f"{name} aspect {aspect!r}: choose one of {', '.join(choices)}")


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RatingsError(f"--ratings {path}: cannot read ({exc})") from exc


def _csv_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RatingsError(f"--ratings {path}: cannot read ({exc})") from exc


def _table_rows(path: Path) -> list[dict[str, str]]:
    """A CSV's rows, or a parquet file's (which needs pyarrow) with every value as text."""
    if path.suffix != ".parquet":
        return _csv_rows(path)
    try:
        import pandas as pd
        records = pd.read_parquet(path).to_dict("records")
    except ImportError as exc:
        raise RatingsError(f"--ratings {path}: reading parquet needs pyarrow, which is not installed; "
                           "install it or export the file to CSV with the same columns") from exc
    except (OSError, ValueError) as exc:
        raise RatingsError(f"--ratings {path}: cannot read ({exc})") from exc
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in records]


def _require_columns(rows: list[dict[str, str]], path: Path, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if rows and c not in rows[0]]
    if missing:
        raise RatingsError(f"--ratings {path}: expected {name} columns {', '.join(map(repr, columns))}; "
                           f"missing {', '.join(map(repr, missing))}")


def _score(text: str | None, aspect: str, path: Path, line: int) -> float:
    if not _is_number(text):
        raise RatingsError(f"--ratings {path}, line {line}: {aspect} rating {text!r} is not a number")
    return float(text)


def _is_number(text: str | None) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
