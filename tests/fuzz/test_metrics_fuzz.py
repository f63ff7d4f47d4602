"""Property tests of ``python -m metrics``: any folder of audio (any format, rate, channel count, length, values,
names, broken files, links), any caption table, any reference statistics: exit 0 with every file scored or named,
or exit 2 with one line; never a traceback, non-strict JSON, a write outside the output folder, or a hang."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz import hostile
from tests.fuzz.invariants import Sandbox, check_accounted
from tests.fuzz.strategies import (budget, caption_tables, float_text, folder_entries, int_text, materialise,
                                   write_table)

SUFFIXES = hostile.AUDIO_SUFFIXES
QUICK = ["--cache-dir", "none", "--no-progress", "--bootstrap", "50", "--fd-bootstrap", "5"]


def _ids_of(entries) -> list[str]:
    return sorted({Path(e.name).stem for e in entries})


@given(entries=folder_entries(max_entries=7), seconds=st.floats(0.1, 120))
@budget(15)
def test_timing_accounts_for_every_file(fuzz_base, entries, seconds):
    with Sandbox.temporary(fuzz_base) as sb:
        gen = sb.inp / "gen"
        materialise(gen, entries, sb.victim)
        o = sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", seconds, "--out", sb.out / "r.json",
                               *QUICK], limit=180)
        event(f"exit {o.code}")
        if o.code == 0:
            check_accounted(sb.results(sb.out / "r.json"), gen, SUFFIXES)


@given(entries=folder_entries(min_good=1, max_entries=6, good_seconds=(0.5, 4.0)), data=st.data())
@budget(15)
def test_timing_with_any_caption_table(fuzz_base, entries, data):
    ids = _ids_of(entries)
    table = data.draw(caption_tables(ids))
    with Sandbox.temporary(fuzz_base) as sb:
        gen = sb.inp / "gen"
        materialise(gen, entries, sb.victim)
        csv_path = write_table(sb.inp / "captions.csv", table)
        exclude = sb.inp / "exclude.txt"
        exclude.write_text("\n".join(data.draw(st.lists(st.sampled_from(ids + ["zz", "../x", ""]), max_size=3))))
        o = sb.run("metrics", ["timing", "--gen", gen, "--captions", csv_path, "--id-col", table.id_col,
                               "--text-col", table.text_col, "--seconds-col", table.seconds_col,
                               "--exclude-ids", exclude, "--out", sb.out / "r.json", *QUICK], limit=180)
        event(f"exit {o.code}")
        if o.code == 0:
            rows = [r for r in table.rows if len(r) > table.header.index(table.id_col)]
            caption_ids = [r[table.header.index(table.id_col)] for r in rows]
            check_accounted(sb.results(sb.out / "r.json"), gen, SUFFIXES, caption_ids=caption_ids)


@given(batch=int_text(-3, 64), files=int_text(-3, 16), workers=int_text(-2, 2), boot=int_text(-5, 50),
       seconds=float_text(-100, 1e4), seed=int_text(-2**40, 2**70),
       device=st.sampled_from(["cpu", "bogus", "cuda", "cuda:7", "meta", "", "cpu:0", "mps", "xla"]),
       content=st.sampled_from(["music", "env"]))
@budget(12)
def test_any_settings_are_checked(fuzz_base, batch, files, workers, boot, seconds, seed, device, content):
    with Sandbox.temporary(fuzz_base) as sb:
        gen = sb.inp / "gen"
        hostile.tone_wav(gen / "a.wav", 1.0)
        hostile.tone_wav(gen / "b.wav", 1.5, seed=1)
        o = sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", seconds, "--batch-size", batch,
                               "--files-per-batch", files, "--workers", workers, "--bootstrap", boot,
                               "--fd-bootstrap", boot, "--seed", seed, "--device", device, "--openl3-content",
                               content, "--cache-dir", "none", "--no-progress", "--out", sb.out / "r.json"],
                   limit=180)
        event(f"exit {o.code}")
        if o.code == 0:
            check_accounted(sb.results(sb.out / "r.json"), gen, SUFFIXES)


@given(kind=st.sampled_from(hostile.FD_STATS_KINDS + ("object", "truncated", "random_bytes", "empty_file")),
       pkl_kind=st.sampled_from(hostile.KL_PICKLE_KINDS), seed=st.integers(0, 100))
@budget(15)
def test_reference_statistics_are_validated(fuzz_base, weights_dir, kind, pkl_kind, seed):
    """Reference files of any content with only the timing metric able to run (no OpenL3/PaSST weights): a file
    that cannot be used is refused in one line before anything runs, never loaded halfway or executed."""
    with Sandbox.temporary(fuzz_base) as sb:
        gen = sb.inp / "gen"
        ids = ["001", "010", "a"]
        for k, i in enumerate(ids):
            hostile.tone_wav(gen / f"{i}.wav", 1.0, seed=k)
        npz, pkl = sb.inp / "fd.npz", sb.inp / "kl.pkl"
        _write_npz_kind(npz, kind, seed)
        marker = sb.outside / "pwned"
        pkl.write_bytes(hostile.kl_pickle(pkl_kind, ids, marker, seed))
        o = sb.run("metrics", ["all", "--gen", gen, "--ref-stats", npz, "--ref-stats", pkl, "--seconds-total", "1",
                               "--weights-dir", sb.inp / "no-weights", "--out", sb.out / "r.json", *QUICK],
                   limit=180)
        event(f"exit {o.code}")
        assert not marker.exists(), "unpickling the reference file ran code"
        if o.code == 0:
            check_accounted(sb.results(sb.out / "r.json"), gen, SUFFIXES)


def _write_npz_kind(path: Path, kind: str, seed: int) -> None:
    if kind == "object":
        hostile.write_object_npz(path)
    elif kind in ("truncated", "random_bytes", "empty_file"):
        hostile.write_npz(path, **hostile.fd_stats("valid", seed=seed))
        data = path.read_bytes()
        path.write_bytes({"truncated": data[:len(data) // 2], "empty_file": b"",
                          "random_bytes": np.random.default_rng(seed).bytes(5000)}[kind])
    else:
        hostile.write_npz(path, **hostile.fd_stats(kind, seed=seed))


@given(entries=folder_entries(min_good=1, max_entries=4, max_frames=12 * 48000, good_seconds=(2.0, 4.0),
                              max_seconds=12.0),
       pkl_kind=st.sampled_from(["valid", "int_keys", "nan", "negative", "one_element", "zero_sum", "huge"]))
@budget(1, 20, shrink=False)
def test_every_metric_accounts_for_every_file(fuzz_base, weights_dir, entries, pkl_kind):
    """``metrics all`` with random-weight evaluators over a random folder with at least one good file: exit 0,
    every good file scored by every metric, every other file scored or named, strict JSON."""
    with Sandbox.temporary(fuzz_base) as sb:
        gen, ref = sb.inp / "gen", sb.inp / "ref"
        made = materialise(gen, entries, sb.victim)
        for k in range(2):
            hostile.tone_wav(ref / f"r{k}.wav", 2.0, seed=10 + k)
        ids = _ids_of(entries)
        csv_path = hostile.write_csv(sb.inp / "c.csv", ["id", "caption", "seconds"],
                                     [[i, f"caption of {i}", "3"] for i in ids])
        pkl = sb.inp / "kl.pkl"
        pkl.write_bytes(hostile.kl_pickle(pkl_kind, ids, sb.outside / "m"))
        o = sb.run("metrics", ["all", "--gen", gen, "--ref", ref, "--ref-stats", pkl, "--captions", csv_path,
                               "--id-col", "id", "--text-col", "caption", "--seconds-col", "seconds",
                               "--weights-dir", weights_dir, "--out", sb.out / "r.json", "--cache-dir",
                               sb.out / "cache", "--bootstrap", "50", "--fd-bootstrap", "5", "--no-progress"],
                   limit=900)
        event(f"exit {o.code}")
        res = sb.results(sb.out / "r.json") if o.code == 0 else None
        if pkl_kind in ("valid", "int_keys"):
            assert o.code == 0, o.describe()
        if res is None:
            return
        check_accounted(res, gen, SUFFIXES, caption_ids=ids)
        good = [Path(e.name).stem for e in made.values() if e.good]
        for name in ("clap", "timing") + (("kl",) if pkl_kind in ("valid", "int_keys") else ()):
            scored = res["metrics"].get(name, {}).get("per_item", {})
            assert all(g in scored for g in good), f"{name}: good files not scored: " \
                                                   f"{[g for g in good if g not in scored]}\n{res['skipped_files']}"
        assert "fd" in res["metrics"], res["skipped_metrics"]


@given(entries=folder_entries(min_good=1, max_entries=4, max_frames=12 * 48000, good_seconds=(2.0, 9.0),
                              max_seconds=12.0))
@budget(1, 10, shrink=False)
def test_pam_and_msclap_score_account_for_every_file(fuzz_base, weights_dir, entries):
    """``metrics all --protocol pam`` (PAM, its repro mode, the MS-CLAP 2023 CLAP score) with a random-weight MS-CLAP
    over a random folder with at least one good file: exit 0, every good file scored by every metric, every other
    file scored or named, strict JSON."""
    from sa_fixtures.random_weights import write_named

    write_named(weights_dir, ["msclap-2023", "gpt2"])
    with Sandbox.temporary(fuzz_base) as sb:
        gen = sb.inp / "gen"
        made = materialise(gen, entries, sb.victim)
        ids = _ids_of(entries)
        csv_path = hostile.write_csv(sb.inp / "c.csv", ["id", "caption"], [[i, f"caption of {i}"] for i in ids])
        o = sb.run("metrics", ["all", "--protocol", "pam", "--gen", gen, "--captions", csv_path, "--id-col", "id",
                               "--text-col", "caption", "--weights-dir", weights_dir, "--out", sb.out / "r.json",
                               *QUICK], limit=900)
        assert o.code == 0, o.describe()
        res = sb.results(sb.out / "r.json")
        check_accounted(res, gen, SUFFIXES, caption_ids=ids)
        good = [Path(e.name).stem for e in made.values() if e.good]
        for name in ("pam", "pam_repro", "clap"):
            scored = res["metrics"][name]["per_item"]
            assert all(g in scored for g in good), f"{name}: {[g for g in good if g not in scored]}"
            assert res["metrics"][name]["clap_checkpoint"] == "ms-clap-2023"
