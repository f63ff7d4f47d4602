"""Hypothesis strategies for hostile inputs, and the suite's budget.

Budget: the default profile is sized for CI (a few minutes for the whole suite on 2 cores); ``SA_BENCH_FUZZ=long``
runs about ten times as many examples with a fresh random seed each run (printed with any failure, with the
``@reproduce_failure`` blob). The default profile is derandomized, so CI runs are reproducible.

Large arrays are never drawn element by element: a strategy draws a small spec (format, rate, channels, length,
content kind, seed) and :mod:`tests.fuzz.hostile` renders it with numpy.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from tests.fuzz import hostile
from tests.fuzz.hostile import AudioSpec

LONG = os.environ.get("SA_BENCH_FUZZ", "").strip().lower() == "long"


def budget(examples: int, long_examples: int | None = None, shrink: bool = True) -> settings:
    """Settings of one property test: ``examples`` in CI, ``long_examples`` (default 10x) with SA_BENCH_FUZZ=long.
    ``shrink=False`` for tests whose every example runs models (a shrink could take longer than the suite)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(max_examples=(long_examples or 10 * examples) if LONG else examples, deadline=None,
                    derandomize=not LONG, database=None, print_blob=True, phases=phases,
                    suppress_health_check=list(HealthCheck))


# --- audio -------------------------------------------------------------------------------------------------------
def lengths(rate: int, max_frames: int) -> st.SearchStrategy[int]:
    """Frames: none, a few, up to minutes (capped at ``max_frames``, so a test's memory and time stay bounded)."""
    seconds = st.one_of(st.just(0.0), st.floats(0, 0.05), st.floats(0.05, 3), st.floats(3, 15), st.floats(15, 240))
    return st.one_of(st.sampled_from([0, 1, 2, 10, 100]),
                     seconds.map(lambda s: min(int(s * rate), max_frames)))


@st.composite
def audio_specs(draw: st.DrawFn, good: bool = False, max_frames: int = 1 << 22, max_channels: int = 8,
                min_seconds: float = 0.0, max_seconds: float | None = None) -> AudioSpec:
    """Any format, rate (1 Hz to 384 kHz), channel count, length and content; ``good``: evaluable audio (1-2
    channels, a standard rate, tone or noise, at least ``min_seconds``)."""
    fmt = draw(st.sampled_from(sorted(hostile.FORMATS)))
    if good:
        rate = draw(st.sampled_from(hostile.RATES))
        channels = draw(st.integers(1, 2))
        content = draw(st.sampled_from(hostile.GOOD_CONTENTS))
        lo = max(1, int(min_seconds * rate))
        hi = max(lo, min(max_frames, int((max_seconds or 6.0) * rate)))
        frames = draw(st.integers(lo, hi))
    else:
        rate = draw(st.one_of(st.sampled_from(hostile.RATES), st.integers(1, 384000)))
        channels = draw(st.integers(1, max_channels))
        content = draw(st.sampled_from(hostile.CONTENTS))
        cap = max_frames if max_seconds is None else min(max_frames, max(1, int(max_seconds * rate)))
        frames = draw(lengths(rate, cap))
        if fmt == "opus" or fmt == "mp3":
            channels = min(channels, 2)
        if not fmt.startswith("wav"):
            rate = min(max(rate, 8000), 192000)  # libsndfile refuses odd rates for these containers
    return AudioSpec(fmt, rate, channels, frames, content, draw(st.integers(0, 2**16))).writable()


SAFE_STEM = st.text(alphabet=st.characters(codec="utf-8", categories=("Ll", "Lu", "Nd")), min_size=1,
                    max_size=12)
ODD_STEM = st.one_of(
    st.sampled_from(["001", "010", "1", "-rf", " space", "tab\tname", "ü-ñ-日本", "quote'\"", "semi;colon",
                     "a:b", "back\\slash", ".hidden", "..", "x" * 245, "y" * 250, "dup", "DUP", "B"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\x00", exclude_categories=("Cs",)),
            min_size=1, max_size=20),
)


def legal_name(stem: str, suffix: str) -> bool:
    """A name the file system accepts (no '/', NUL, '.'/'..', <= 255 bytes)."""
    name = stem + suffix
    return ("/" not in name and "\x00" not in name and name not in (".", "..")
            and len(name.encode("utf-8", "surrogatepass")) <= 255)


@dataclass(frozen=True)
class Entry:
    """One entry of a generated folder: ``kind`` audio (spec), broken (a :data:`hostile.BROKEN_KINDS` kind), link
    (a symlink to the sandbox's outside file or to a file of the folder) or other (a non-audio file)."""

    name: str
    kind: str
    spec: AudioSpec | None = None
    broken: str | None = None
    link: str | None = None  # "outside", "inside", "dangling", "etc_passwd"
    good: bool = False  # evaluable by every metric (drawn with ``audio_specs(good=True)``)


@st.composite
def folder_entries(draw: st.DrawFn, min_good: int = 0, max_entries: int = 8, max_frames: int = 1 << 22,
                   good_seconds: tuple[float, float] = (0.5, 6.0), max_seconds: float | None = None,
                   links: bool = True) -> list[Entry]:
    """A folder mixing ``min_good`` evaluable files with random and broken ones, odd names and duplicates by id."""
    entries: list[Entry] = []
    names: set[str] = set()

    def add(stem: str, entry_for) -> None:
        for _ in range(3):
            entry = entry_for(stem)
            if legal_name(stem, Path(entry.name).suffix) and entry.name not in names:
                names.add(entry.name)
                entries.append(entry)
                return
            stem = stem + "_"

    for k in range(min_good):
        spec = draw(audio_specs(good=True, max_frames=max_frames, min_seconds=good_seconds[0],
                                max_seconds=good_seconds[1]))
        add(f"good{k}", lambda s, spec=spec: Entry(s + spec.suffix, "audio", spec=spec, good=True))
    n = draw(st.integers(0, max(0, max_entries - min_good)))
    for _ in range(n):
        stem = draw(st.one_of(SAFE_STEM, ODD_STEM))
        kind = draw(st.sampled_from(["audio", "audio", "broken", "link", "other"] if links else
                                    ["audio", "audio", "broken", "other"]))
        if kind == "audio":
            spec = draw(audio_specs(max_frames=max_frames, max_seconds=max_seconds))
            suffix = draw(st.sampled_from([spec.suffix, spec.suffix, spec.suffix.upper()]))
            add(stem, lambda s, spec=spec, suffix=suffix: Entry(s + suffix, "audio", spec=spec))
        elif kind == "broken":
            broken = draw(st.sampled_from(sorted(hostile.BROKEN_KINDS)))
            suffix = draw(st.sampled_from([".wav", ".flac", ".WAV", ".mp3", ".ogg", ".opus"]))
            add(stem, lambda s, broken=broken, suffix=suffix: Entry(s + suffix, "broken", broken=broken))
        elif kind == "link":
            target = draw(st.sampled_from(["outside", "inside", "dangling", "etc_passwd"]))
            add(stem, lambda s, target=target: Entry(s + ".wav", "link", link=target))
        else:
            add(stem, lambda s: Entry(s + draw(st.sampled_from([".txt", ".csv", "", ".wav.bak", ".json"])),
                                      "other"))
    return draw(st.permutations(entries))


def materialise(folder: Path, entries: list[Entry], outside: Path, seed: int = 0) -> dict[str, Entry]:
    """Write ``entries`` into ``folder``; links point at ``outside`` (a file in the sandbox's outside folder),
    another file of the folder, nothing, or /etc/passwd. Returns name -> entry."""
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, Entry] = {}
    firsts = [e for e in entries if e.kind == "audio"]
    for k, e in enumerate(entries):
        path = folder / e.name
        if e.kind == "audio":
            hostile.write_audio(path, e.spec)
        elif e.kind == "broken":
            hostile.write_broken(folder, e.name, e.broken, seed + k)
        elif e.kind == "link":
            target = {"outside": outside, "etc_passwd": Path("/etc/passwd"), "dangling": folder / "no-such-file",
                      "inside": folder / firsts[0].name if firsts else folder / "no-such-file"}[e.link]
            hostile.symlink(path, target)
        else:
            path.write_bytes(b"not audio\n")
        made[e.name] = e
    return made


# --- ids and tables ----------------------------------------------------------------------------------------------
IDS = st.one_of(SAFE_STEM, ODD_STEM, st.sampled_from(hostile.HOSTILE_IDS))
SECONDS_TEXT = st.one_of(
    st.floats(0.1, 30).map(lambda x: f"{x:.3f}"),
    st.sampled_from(["abc", "", " ", "nan", "NaN", "inf", "-inf", "-2", "0", "1e400", "1e-320", " 3 ", "3,5",
                     "10s", "0x10", "١٢"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
               max_size=40)


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    bom: bool
    newline: str
    id_col: str
    text_col: str
    seconds_col: str


@st.composite
def caption_tables(draw: st.DrawFn, ids: list[str], columns: tuple[str, str, str] | None = None) -> Table:
    """A captions CSV over ``ids`` (plus random ids): random extra columns and order, hostile seconds, rows with
    missing or extra fields, duplicated ids, optional BOM and CRLF. ``columns``: (id, text, seconds) names."""
    id_col, text_col, seconds_col = columns or draw(st.sampled_from([("ytid", "caption", "seconds"),
                                                                     ("id", "text", "seconds_total"),
                                                                     ("audiocap_id", "caption", "len")]))
    extra = draw(st.lists(CELL.filter(lambda c: c not in (id_col, text_col, seconds_col)), max_size=2))
    header = draw(st.permutations([id_col, text_col, seconds_col, *extra]))
    all_ids = list(ids) + draw(st.lists(IDS, max_size=4))
    if all_ids and draw(st.booleans()):
        all_ids.append(draw(st.sampled_from(all_ids)))  # a duplicate id
    rows = []
    for i in draw(st.permutations(all_ids)):
        values = {id_col: i, text_col: draw(CELL), seconds_col: draw(SECONDS_TEXT)}
        row = [values.get(c, draw(CELL)) for c in header]
        cut = draw(st.sampled_from([None] * 6 + [1, 2, len(header) + 1]))
        if cut is not None:
            row = row[:cut] if cut <= len(header) else row + ["extra"]
        rows.append(row)
    return Table(header, rows, draw(st.booleans()), draw(st.sampled_from(["\n", "\r\n"])), id_col, text_col,
                 seconds_col)


def write_table(path: Path, table: Table) -> Path:
    return hostile.write_csv(path, table.header, table.rows, bom=table.bom, newline=table.newline)


# --- numbers on the command line ---------------------------------------------------------------------------------
SPECIAL_FLOATS = ["nan", "NaN", "inf", "-inf", "Infinity", "0", "-0", "-2", "1e-300", "5e-324", "1e300", "1e400",
                  "-1e-9"]


def float_text(lo: float = -1e6, hi: float = 1e6) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(lo, hi).map(repr))


def int_text(lo: int = -10, hi: int = 10) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["0", "-1", "-3", "1", "2"]), st.integers(lo, hi).map(str))


# --- random JSON (reports, configs) ------------------------------------------------------------------------------
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                         st.floats(allow_nan=False, allow_infinity=False), CELL)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(CELL, inner, max_size=4)),
                           max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, value: Any, leaves: st.SearchStrategy[Any] = JSON_VALUES) -> Any:
    """``value`` with a few of its leaves or keys replaced (by ``leaves``), deleted or retyped (structure-aware
    fuzzing of JSON)."""
    if isinstance(value, dict) and value:
        out = dict(value)
        for key in draw(st.lists(st.sampled_from(sorted(out)), max_size=3, unique=True)):
            action = draw(st.sampled_from(["delete", "replace", "recurse", "recurse"]))
            if action == "delete":
                del out[key]
            elif action == "replace":
                out[key] = draw(leaves)
            else:
                out[key] = draw(mutated(out[key], leaves))
        return out
    if isinstance(value, list) and value:
        k = draw(st.integers(0, len(value) - 1))
        return value[:k] + [draw(mutated(value[k], leaves))] + value[k + 1:]
    return draw(st.one_of(st.just(value), leaves))


def nonfinite(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return True
