"""Property tests of the generation, benchmark, report, weights and info CLIs: any number on the command line, any
caption table, any run folder, any results.json: exit 0 with valid outputs, or exit 2 with one line; never a
traceback, non-strict JSON, a write outside the output folder, or a hang."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz import hostile
from tests.fuzz.invariants import Sandbox, check_accounted
from tests.fuzz.strategies import (CELL, budget, caption_tables, float_text, folder_entries, int_text, materialise,
                                   mutated, write_table)

SUFFIXES = hostile.AUDIO_SUFFIXES


def check_audio_file(path: Path) -> None:
    """A generated file: decodes, at least one frame, every sample finite."""
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    assert data.shape[0] > 0, f"{path}: no samples"
    assert np.isfinite(data).all(), f"{path}: non-finite samples"


@given(steps=int_text(-3, 3), cfg=float_text(-1e4, 1e4), sigma_min=float_text(-1, 600),
       sigma_max=float_text(-1, 600), seconds=float_text(-10, 100), rho=float_text(-2, 10),
       sampler=st.sampled_from(["dpmpp-2m", "dpmpp-3m-sde"]),
       ext=st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".txt", "", ".WAV"]))
@budget(6)
def test_generate_checks_every_setting(fuzz_base, tiny_ckpt, steps, cfg, sigma_min, sigma_max, seconds, rho,
                                       sampler, ext):
    with Sandbox.temporary(fuzz_base) as sb:
        out = sb.out / f"x{ext}"
        o = sb.run("sa_core.generate", ["--ckpt", tiny_ckpt, "--prompt", "a plucked string", "--seconds-total",
                                        seconds, "--steps", steps, "--cfg-scale", cfg, "--sigma-min", sigma_min,
                                        "--sigma-max", sigma_max, "--rho", rho, "--sampler", sampler, "--out", out,
                                        "--device", "cpu"], limit=300)
        event(f"exit {o.code}")
        if o.code == 0:
            check_audio_file(out)
        else:
            assert not any(sb.out.iterdir()), f"a refused request left files: {list(sb.out.iterdir())}"


@given(data=st.data(), ids=st.lists(st.sampled_from(["a", "b", "001", "010", "../up", "/abs", "c:d", "x" * 300,
                                                    "y" * 245, "B", "b "]), min_size=1, max_size=4))
@budget(4)
def test_generate_from_any_prompt_table(fuzz_base, tiny_ckpt, data, ids):
    table = data.draw(caption_tables(ids))
    with Sandbox.temporary(fuzz_base) as sb:
        csv_path = write_table(sb.inp / "prompts.csv", table)
        out_dir = sb.out / "gen"
        o = sb.run("sa_core.generate", ["--ckpt", tiny_ckpt, "--prompts-csv", csv_path, "--id-col", table.id_col,
                                        "--text-col", table.text_col, "--seconds-col", table.seconds_col,
                                        "--steps", "1", "--out-dir", out_dir, "--device", "cpu",
                                        "--batch-size", "8"], limit=300)
        event(f"exit {o.code}")
        if o.code == 0:
            for f in out_dir.iterdir():
                check_audio_file(f)


@given(seconds=st.lists(float_text(-5, 10), min_size=0, max_size=3).map(",".join) | st.sampled_from(
    ["", ",", "1,,2", "1;2", "abc", "1,1", " 1 , 2 "]))
@budget(4)
def test_timing_sweep_checks_its_lengths(fuzz_base, tiny_ckpt, seconds):
    with Sandbox.temporary(fuzz_base) as sb:
        o = sb.run("benchmarks.timing", ["--ckpt", tiny_ckpt, "--seconds", seconds, "--steps", "1", "--out",
                                         sb.out / "t", "--no-progress", "--batch-size", "8"], limit=600)
        event(f"exit {o.code}")
        if o.code == 0:
            res = sb.results(sb.out / "t" / "results.json")
            assert res["metrics"]["timing"]["n"] > 0


@given(entries=folder_entries(max_entries=6, max_seconds=12.0, max_frames=12 * 48000), data=st.data(),
       limit=st.one_of(st.none(), int_text(-2, 5)), seconds=st.one_of(st.none(), float_text(-5, 60)))
@budget(5)
def test_caption_benchmark_on_any_generated_folder(fuzz_base, entries, data, limit, seconds):
    """``benchmarks.musiccaps --gen-dir`` (no generation; no evaluator weights, so timing only) over any folder."""
    ids = sorted({Path(e.name).stem for e in entries})
    table = data.draw(caption_tables(ids, columns=("ytid", "caption", "seconds")))
    with Sandbox.temporary(fuzz_base) as sb:
        gen = sb.inp / "gen"
        materialise(gen, entries, sb.victim)
        csv_path = write_table(sb.inp / "c.csv", table)
        argv = ["--captions", csv_path, "--gen-dir", gen, "--out", sb.out / "run", "--weights-dir",
                sb.inp / "none", "--results-table", sb.out / "table.jsonl", "--no-progress"]
        argv += ["--limit", limit] if limit is not None else []
        argv += ["--seconds-total", seconds] if seconds is not None else []
        o = sb.run("benchmarks.musiccaps", argv, limit=600)
        event(f"exit {o.code}")
        if o.code == 0:
            res = sb.results(sb.out / "run" / "results.json")
            if limit is None:
                check_accounted(res, gen, SUFFIXES, caption_ids=None)
            assert (sb.out / "run" / "report.html").is_file()
            assert (sb.out / "table.jsonl").read_text().count("\n") == 1


@given(entries=folder_entries(max_entries=4, max_seconds=6.0, max_frames=6 * 48000),
       limit=st.one_of(st.none(), int_text(-2, 4)))
@budget(3)
def test_autoencoder_benchmark_on_any_reference_folder(fuzz_base, tiny_ckpt, entries, limit):
    with Sandbox.temporary(fuzz_base) as sb:
        ref = sb.inp / "ref"
        materialise(ref, entries, sb.victim)
        argv = ["--ckpt", tiny_ckpt, "--ref-dir", ref, "--out", sb.out / "ae", "--weights-dir", sb.inp / "none"]
        argv += ["--limit", limit] if limit is not None else []
        o = sb.run("benchmarks.autoencoder", argv, limit=600)
        event(f"exit {o.code}")
        if o.code == 0:
            res = sb.results(sb.out / "ae" / "results.json")
            if limit is None:
                check_accounted(res, ref, SUFFIXES)


# --- reports -----------------------------------------------------------------------------------------------------
def _results_skeleton() -> dict:
    per_item = {"a": {"requested_s": 2.0, "detected_s": 1.9, "error_s": -0.1},
                "b": {"requested_s": 2.0, "detected_s": 2.4, "error_s": 0.4}}
    return {"tool": "sa-bench metrics", "benchmark": "musiccaps", "created": "2026-01-01T00:00:00+00:00",
            "settings": {"gen": "GEN"}, "environment": {"python": "3.11"},
            "metrics": {"timing": {"value": 0.25, "n": 2, "ci95": [0.1, 0.4], "within_0.5s": 1.0, "within_1s": 1.0,
                                   "per_item": per_item, "left_out": {}},
                        "clap": {"value": 0.3, "n": 2, "ci95": [0.2, 0.4], "per_item": {"a": 0.2, "b": 0.4},
                                 "left_out": {}}},
            "skipped_metrics": {"fd": "FD needs --ref"}, "ids": {"n": 2, "with_audio": 2, "without_audio": {}},
            "skipped_files": [{"metric": "timing", "file": "x.wav", "reason": "silent"}]}


@given(results=mutated(_results_skeleton()), raw=st.sampled_from([None, b"", b"{", b"[]", b"null", b"NaN",
                                                                 b'{"metrics": NaN}', b"\xff\xfe", b"{}"]),
       audio_a=st.sampled_from(sorted(hostile.BROKEN_KINDS) + ["good"]), seed=st.integers(0, 10))
@budget(6)
def test_reports_on_any_run_folder(fuzz_base, results, raw, audio_a, seed):
    with Sandbox.temporary(fuzz_base) as sb:
        run = sb.inp / "run"
        audio = run / "audio"
        if audio_a == "good":
            hostile.tone_wav(audio / "a.wav", 2.0)
        else:
            hostile.write_broken(audio, "a.wav", audio_a, seed)
        hostile.tone_wav(audio / "b.wav", 2.0, seed=1)
        if isinstance(results, dict) and isinstance(results.get("settings"), dict):
            results["settings"]["gen"] = str(audio)
        (run / "results.json").write_bytes(raw if raw is not None else json.dumps(results).encode())
        o = sb.run("reports", [run, "--out", sb.out / "report.html"], limit=300)
        event(f"exit {o.code}")
        if o.code == 0:
            assert (sb.out / "report.html").stat().st_size > 0


# --- weights and info --------------------------------------------------------------------------------------------
WEIGHT_FILES = ("openl3_audio_mel256_music.h5", "openl3_audio_mel256_env.h5", "passt-s-f128-p16-s10-ap.476-swa.pt",
                "630k-audioset-fusion-best.pt", "roberta-base")


@given(files=st.dictionaries(st.sampled_from(WEIGHT_FILES), st.sampled_from(["bytes", "empty", "folder", "link"]),
                             max_size=5),
       records=st.dictionaries(st.sampled_from(WEIGHT_FILES), st.one_of(CELL, st.sampled_from(["folder", "a" * 64])),
                               max_size=3),
       command=st.sampled_from(["list", "verify"]))
@budget(8)
def test_weights_cli_on_any_folder(fuzz_base, files, records, command):
    with Sandbox.temporary(fuzz_base) as sb:
        wd = sb.inp / "w"
        wd.mkdir()
        for name, kind in files.items():
            path = wd / name
            if kind == "bytes":
                path.write_bytes(np.random.default_rng(0).bytes(1000))
            elif kind == "empty":
                path.write_bytes(b"")
            elif kind == "folder":
                path.mkdir()
            else:
                hostile.symlink(path, sb.victim)
        for name, text in records.items():
            rec = wd / f"{name}.sha256"
            if text == "folder":
                rec.mkdir()
            else:
                rec.write_text(text, encoding="utf-8", errors="surrogatepass")
        # verify exits 1 when a file is missing or differs from its record (documented, like diff(1))
        o = sb.run("metrics.weights", [command, "--weights-dir", wd], limit=120, allowed=(0, 1, 2))
        event(f"exit {o.code}")


SMALL_JSON = st.one_of(st.none(), st.booleans(), st.integers(-3, 600), st.floats(-10, 10), CELL,
                       st.lists(st.integers(-2, 8), max_size=5))


@given(data=st.data())
@budget(8)
def test_info_on_any_config(fuzz_base, tiny_ckpt, data):
    config = json.loads((tiny_ckpt / "model_config.json").read_text())
    changed = data.draw(mutated(config, SMALL_JSON))
    with Sandbox.temporary(fuzz_base) as sb:
        folder = sb.inp / "ckpt"
        folder.mkdir()
        (folder / "model_config.json").write_text(json.dumps(changed))
        o = sb.run("sa_core.info", [folder, "--json"], limit=120)
        event(f"exit {o.code}")
        if o.code == 0:
            json.loads(o.out)
