"""Hostile inputs found to break a command, one regression test each (the mixed-folder acceptance test covers the
short, huge, odd-rate and broken files through every metric). Every run also checks the suite's invariants (exit 0/2, one
error line, no traceback, strict JSON, no write outside the output folder, time-bounded)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.fuzz import hostile
from tests.fuzz.hostile import AudioSpec
from tests.fuzz.invariants import Sandbox, check_accounted, named_in_skipped, snapshot

QUICK = ["--cache-dir", "none", "--no-progress", "--bootstrap", "50", "--fd-bootstrap", "5"]
SUFFIXES = hostile.AUDIO_SUFFIXES


@pytest.fixture
def sb(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def two_tones(folder, names=("a", "b")):
    for k, n in enumerate(names):
        hostile.tone_wav(folder / f"{n}.wav", 2.0, seed=k)
    return folder


# --- metrics: audio ----------------------------------------------------------------------------------------------
def test_short_tone_in_long_silence_is_timed_at_its_end(sb):
    gen = sb.inp / "gen"
    x = hostile.samples(AudioSpec("wav16", 44100, 2, 10 * 44100, "tone", 0))
    x[int(0.3 * 44100):] = 0
    gen.mkdir()
    sf.write(str(gen / "short.wav"), x, 44100, subtype="PCM_16")
    o = sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "10", "--out", sb.out / "r.json", *QUICK],
               allowed=(0,))
    row = sb.results(sb.out / "r.json")["metrics"]["timing"]["per_item"]["short"]
    assert abs(row["detected_s"] - 0.3) < 0.1, (row, o.out)


def test_duplicates_case_links_and_opus_are_one_definition_of_the_files(sb):
    """a.wav + a.flac (one id, one file used, the other named), B.WAV (upper-case extension), a link out of the
    folder to /etc/passwd (refused, named, never read), .opus (a file of the run)."""
    gen = sb.inp / "gen"
    hostile.tone_wav(gen / "a.wav", 2.0)
    hostile.tone_wav(gen / "a.flac", 1.0, fmt="flac16", seed=1)
    hostile.tone_wav(gen / "B.WAV", 2.0, seed=2)
    hostile.write_audio(gen / "o.opus", AudioSpec("opus", 48000, 2, 2 * 48000, "tone", 3))
    hostile.symlink(gen / "passwd.wav", Path("/etc/passwd"))
    sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "r.json", *QUICK],
           allowed=(0,))
    res = sb.results(sb.out / "r.json")
    check_accounted(res, gen, SUFFIXES)
    scored = res["metrics"]["timing"]["per_item"]
    assert {"a", "B", "o"} <= set(scored) and "passwd" not in scored
    assert named_in_skipped(res, gen / "a.flac") and not named_in_skipped(res, gen / "a.wav")
    assert named_in_skipped(res, gen / "passwd.wav") or res["ids"]["without_audio"].get("passwd")
    assert abs(scored["a"]["detected_s"] - 2.0) < 0.1  # the .wav was used, not the 1 s .flac


def test_wav_claiming_1_hz_is_handled_quickly(sb):
    gen = sb.inp / "gen"
    two_tones(gen)
    hostile.wav_claiming_rate(gen / "onehz.wav", 1)
    o = sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "r.json", *QUICK],
               allowed=(0,), limit=120)
    check_accounted(sb.results(sb.out / "r.json"), gen, SUFFIXES)
    assert o.seconds < 60


def test_every_broken_kind_in_a_timing_run(sb):
    gen = sb.inp / "gen"
    two_tones(gen)
    for kind in hostile.BROKEN_KINDS:
        hostile.write_broken(gen, f"{kind}.wav", kind)
    sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "r.json", *QUICK],
           allowed=(0,))
    res = sb.results(sb.out / "r.json")
    check_accounted(res, gen, SUFFIXES)
    assert {"a", "b"} <= set(res["metrics"]["timing"]["per_item"])


# --- metrics: tables and flags -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["seconds_abc", "missing_seconds_col", "missing_fields", "duplicate_ids",
                                  "captions_folder", "missing_exclude_file", "empty_csv", "binary_csv"])
def test_caption_table_problems(sb, case):
    gen = two_tones(sb.inp / "gen")
    header, rows = ["ytid", "caption", "seconds"], [["a", "x", "2"], ["b", "y", "2"]]
    extra = []
    if case == "seconds_abc":
        rows[1][2] = "abc"
    elif case == "missing_seconds_col":
        header, rows = ["ytid", "caption"], [r[:2] for r in rows]
    elif case == "missing_fields":
        rows[1] = ["b"]
    elif case == "duplicate_ids":
        rows.append(["a", "z", "3"])
    captions = hostile.write_csv(sb.inp / "c.csv", header, rows)
    if case == "captions_folder":
        captions = sb.inp / "folder.csv"
        captions.mkdir()
    elif case == "missing_exclude_file":
        extra = ["--exclude-ids", sb.inp / "no-such-list.txt"]
    elif case == "empty_csv":
        captions.write_bytes(b"")
    elif case == "binary_csv":
        captions.write_bytes(np.random.default_rng(0).bytes(3000))
    o = sb.run("metrics", ["timing", "--gen", gen, "--captions", captions, "--seconds-col", "seconds", *extra,
                           "--out", sb.out / "r.json", *QUICK])
    if case in ("missing_seconds_col", "captions_folder", "missing_exclude_file", "empty_csv", "binary_csv"):
        assert o.code == 2, o.describe()
    if o.code == 0:
        res = sb.results(sb.out / "r.json")
        check_accounted(res, gen, SUFFIXES, caption_ids=["a", "b"])
        if case == "seconds_abc":
            assert res["metrics"]["timing"]["left_out"].get("b"), "the row with seconds 'abc' is not named"


def test_bom_in_the_header_is_read(sb):
    gen = two_tones(sb.inp / "gen")
    captions = hostile.write_csv(sb.inp / "c.csv", ["ytid", "caption", "seconds"], [["a", "x", "2"],
                                                                                   ["b", "y", "2"]], bom=True)
    sb.run("metrics", ["timing", "--gen", gen, "--captions", captions, "--seconds-col", "seconds", "--out",
                       sb.out / "r.json", *QUICK], allowed=(0,))
    assert set(sb.results(sb.out / "r.json")["metrics"]["timing"]["per_item"]) == {"a", "b"}


def test_300_and_245_character_ids(sb):
    long_ok, too_long = "y" * 245, "x" * 300
    gen = sb.inp / "gen"
    hostile.tone_wav(gen / f"{long_ok}.wav", 2.0)
    hostile.tone_wav(gen / "a.wav", 2.0, seed=1)
    captions = hostile.write_csv(sb.inp / "c.csv", ["ytid", "caption", "seconds"],
                                 [[long_ok, "x", "2"], [too_long, "y", "2"], ["a", "z", "2"]])
    sb.run("metrics", ["timing", "--gen", gen, "--captions", captions, "--seconds-col", "seconds", "--out",
                       sb.out / "r.json", *QUICK], allowed=(0,))
    res = sb.results(sb.out / "r.json")
    assert long_ok in res["metrics"]["timing"]["per_item"]
    assert res["ids"]["without_audio"].get(too_long, "").strip()


@pytest.mark.parametrize("metric, flags", [
    ("kl", ["--batch-size", "0"]), ("kl", ["--batch-size", "-1"]), ("kl", ["--files-per-batch", "0"]),
    ("kl", ["--device", "bogus"]), ("kl", ["--device", "cuda:99"]), ("timing", ["--seconds-total", "nan"]),
    ("timing", ["--seconds-total", "-2"]), ("timing", ["--seconds-total", "inf"]), ("kl", ["--bootstrap", "-1"])])
def test_bad_settings_are_one_line_errors(sb, weights_dir, metric, flags):
    gen = two_tones(sb.inp / "gen")
    o = sb.run("metrics", [metric, "--gen", gen, "--ref", gen, "--weights-dir", weights_dir, "--seconds-total", "2",
                           *flags, "--out", sb.out / "r.json", "--cache-dir", "none", "--no-progress"], limit=300)
    assert o.code == 2, o.describe()


def test_cuda_without_a_gpu_is_a_one_line_error(sb, weights_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    gen = two_tones(sb.inp / "gen")
    o = sb.run("metrics", ["fd", "--gen", gen, "--ref", gen, "--weights-dir", weights_dir, "--device", "cuda",
                           "--out", sb.out / "r.json", "--cache-dir", "none", "--no-progress"], limit=300)
    assert o.code == 2, o.describe()


def test_out_an_existing_folder(sb):
    gen = two_tones(sb.inp / "gen")
    target = sb.out / "existing"
    (target / "keep").mkdir(parents=True)
    (target / "keep" / "file.txt").write_text("precious")
    before = snapshot(target)
    o = sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", target, *QUICK])
    assert o.code == 2, o.describe()
    assert snapshot(target) == before


@pytest.mark.parametrize("flag", ["--cache-dir", "--save-ref-stats"])
def test_folder_flags_given_a_file(sb, weights_dir, flag):
    """A file where a folder is expected: refused in one line (or not needed), and the file is left alone."""
    gen = two_tones(sb.inp / "gen")
    victim = sb.out / "a_file"
    victim.write_text("precious")
    argv = ["fd", "--gen", gen, "--ref", gen, "--weights-dir", weights_dir, "--out", sb.out / "r.json",
            "--no-progress", "--fd-bootstrap", "5", flag, victim]
    if flag != "--cache-dir":
        argv += ["--cache-dir", "none"]
    sb.run("metrics", argv, limit=600)
    assert victim.read_text() == "precious"


# --- metrics: reference statistics -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["nan_sigma", "inf_mu", "all_nan", "wrong_dim", "mismatched", "missing_sigma",
                                  "object", "truncated"])
def test_fd_stats_problems_are_refused_before_any_model_runs(sb, weights_dir, kind):
    gen = two_tones(sb.inp / "gen")
    npz = sb.inp / "fd.npz"
    if kind == "object":
        hostile.write_object_npz(npz)
    elif kind == "truncated":
        hostile.write_npz(npz, **hostile.fd_stats("valid"))
        npz.write_bytes(npz.read_bytes()[:5000])
    else:
        hostile.write_npz(npz, **hostile.fd_stats(kind))
    o = sb.run("metrics", ["fd", "--gen", gen, "--ref-stats", npz, "--weights-dir", weights_dir, "--out",
                           sb.out / "r.json", *QUICK], limit=300)
    assert o.code == 2, o.describe()


@pytest.mark.parametrize("kind", ["random_bytes", "truncated", "empty_file", "numpy", "torch_zip", "malicious",
                                  "not_a_dict", "empty_dict", "nested", "none_values", "strings", "scalars",
                                  "one_element", "nan", "negative", "wrong_length", "zero_sum"])
def test_kl_reference_pickle_problems(sb, weights_dir, kind):
    """Unusable reference pickles: refused in one line (or, for bad values, those ids left out with the reason);
    a pickle that would run code is never executed."""
    ids = ["a", "b"]
    gen = two_tones(sb.inp / "gen", ids)
    pkl = sb.inp / "kl.pkl"
    marker = sb.outside / "pwned"
    pkl.write_bytes(hostile.kl_pickle(kind, ids, marker))
    o = sb.run("metrics", ["kl", "--gen", gen, "--ref-stats", pkl, "--weights-dir", weights_dir, "--out",
                           sb.out / "r.json", *QUICK], limit=600)
    assert not marker.exists()
    if kind in ("random_bytes", "truncated", "empty_file", "malicious", "not_a_dict", "empty_dict", "nested",
                "none_values", "strings"):
        assert o.code == 2, o.describe()
    if o.code == 0:
        per_item = sb.results(sb.out / "r.json")["metrics"]["kl"]["per_item"]
        assert all(isinstance(v, float) and np.isfinite(v) for v in per_item.values()), per_item
        assert kind not in ("nan", "negative", "scalars", "one_element", "wrong_length", "zero_sum") or not per_item


def test_int_keyed_pickle_matches_zero_padded_ids(sb, weights_dir):
    """stable-audio-metrics keys AudioCaps/Song Describer by int: 1 and 10 are the ids '001' and '010'."""
    ids = ["001", "010"]
    gen = two_tones(sb.inp / "gen", ids)
    pkl = sb.inp / "kl.pkl"
    pkl.write_bytes(hostile.kl_pickle("int_keys", ids, sb.outside / "m"))
    sb.run("metrics", ["kl", "--gen", gen, "--ref-stats", pkl, "--weights-dir", weights_dir, "--out",
                       sb.out / "r.json", *QUICK], allowed=(0,), limit=600)
    assert set(sb.results(sb.out / "r.json")["metrics"]["kl"]["per_item"]) == set(ids)


def test_fd_with_fewer_than_two_frames(sb, weights_dir):
    gen = sb.inp / "gen"
    hostile.write_audio(gen / "tiny.wav", AudioSpec("wav16", 44100, 2, 10, "noise", 0))
    ref = two_tones(sb.inp / "ref")
    o = sb.run("metrics", ["fd", "--gen", gen, "--ref", ref, "--weights-dir", weights_dir, "--out",
                           sb.out / "r.json", *QUICK], limit=600)
    if o.code == 0:
        check_accounted(sb.results(sb.out / "r.json"), gen, SUFFIXES)


@pytest.mark.parametrize("damage", ["truncated_passt", "wrong_passt", "truncated_clap", "wrong_clap",
                                    "truncated_openl3", "empty_roberta"])
def test_damaged_weights_are_one_line_errors(sb, weights_dir, damage):
    files = {"passt": "passt-s-f128-p16-s10-ap.476-swa.pt", "clap": "630k-audioset-fusion-best.pt",
             "openl3": "openl3_audio_mel256_music.h5", "roberta": "roberta-base"}
    what, which = damage.split("_")
    name = files[which]
    if what == "truncated":
        new = hostile.truncated_copy(weights_dir / name, sb.inp / "damaged" / name).read_bytes()
    elif what == "wrong":
        new = hostile.wrong_state_dict(sb.inp / "damaged" / name).read_bytes()
    else:
        (sb.inp / "empty_dir").mkdir()
        new = sb.inp / "empty_dir"
    wd = hostile.weights_with(weights_dir, sb.inp / "w", {name: new})
    metric = {"passt": "kl", "clap": "clap", "openl3": "fd", "roberta": "clap"}[which]
    gen = two_tones(sb.inp / "gen")
    captions = hostile.write_csv(sb.inp / "c.csv", ["ytid", "caption"], [["a", "x"], ["b", "y"]])
    o = sb.run("metrics", [metric, "--gen", gen, "--ref", gen, "--captions", captions, "--weights-dir", wd,
                           "--out", sb.out / "r.json", *QUICK], limit=600)
    assert o.code == 2, o.describe()


def test_damaged_weights_in_all_keep_the_other_metrics(sb, weights_dir):
    wd = hostile.weights_with(weights_dir, sb.inp / "w", {
        "passt-s-f128-p16-s10-ap.476-swa.pt": b"\x80\x02garbage",
        "630k-audioset-fusion-best.pt": hostile.truncated_copy(weights_dir / "630k-audioset-fusion-best.pt",
                                                               sb.inp / "t.pt").read_bytes()})
    gen = two_tones(sb.inp / "gen")
    captions = hostile.write_csv(sb.inp / "c.csv", ["ytid", "caption"], [["a", "x"], ["b", "y"]])
    sb.run("metrics", ["all", "--gen", gen, "--ref", gen, "--captions", captions, "--seconds-total", "2",
                       "--weights-dir", wd, "--out", sb.out / "r.json", *QUICK], allowed=(0,), limit=600)
    res = sb.results(sb.out / "r.json")
    assert {"kl", "clap"} <= set(res["skipped_metrics"]) and {"fd", "timing"} <= set(res["metrics"])


# --- benchmarks --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", ["0", "-3"])
def test_synthcaps_n_below_one(sb, tiny_ckpt, n):
    o = sb.run("benchmarks.synthcaps", ["--ckpt", tiny_ckpt, "--n", n, "--out", sb.out / "sc", "--no-progress"])
    assert o.code == 2 and not (sb.out / "sc").exists(), o.describe()


def test_synthcaps_regenerates_damaged_audio_and_never_writes_through_a_link(sb, tiny_ckpt):
    run = sb.out / "sc"
    argv = ["--ckpt", tiny_ckpt, "--n", "4", "--steps", "2", "--out", run, "--weights-dir", sb.inp / "none",
            "--no-progress"]
    sb.run("benchmarks.synthcaps", argv, allowed=(0,), limit=600)
    audio = sorted((run / "audio").glob("*.wav"))
    data = audio[0].read_bytes()
    audio[0].write_bytes(data[:len(data) // 2])
    audio[1].write_bytes(b"")
    audio[2].write_bytes(data[:40])
    audio[3].unlink()
    hostile.symlink(audio[3], sb.victim)
    sb.run("benchmarks.synthcaps", argv, allowed=(0,), limit=600)
    for path in audio:
        x, _ = sf.read(str(path), always_2d=True)
        assert len(x) > 0 and np.isfinite(x).all()
    res = sb.results(run / "results.json")
    assert res["metrics"]["timing"]["n"] == 4


@pytest.mark.parametrize("case", ["limit_0", "empty_ref_dir"])
def test_autoencoder_nothing_to_do(sb, tiny_ckpt, case):
    ref = sb.inp / "ref"
    ref.mkdir()
    if case == "limit_0":
        two_tones(ref)
    argv = ["--ckpt", tiny_ckpt, "--ref-dir", ref, "--out", sb.out / "ae", "--weights-dir", sb.inp / "none"]
    o = sb.run("benchmarks.autoencoder", argv + (["--limit", "0"] if case == "limit_0" else []))
    assert o.code == 2, o.describe()


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_musiccaps_limit_below_one(sb, tiny_ckpt, limit):
    captions = hostile.write_csv(sb.inp / "c.csv", ["ytid", "caption"], [["a", "x"]])
    o = sb.run("benchmarks.musiccaps", ["--captions", captions, "--ckpt", tiny_ckpt, "--out", sb.out / "run",
                                        "--limit", limit, "--results-table", sb.out / "t.jsonl"])
    assert o.code == 2 and not (sb.out / "run").exists(), o.describe()


def test_results_table_stays_strict_json(sb):
    """One scored item: its CI is NaN inside the code; the results table (JSON lines) must still be JSON."""
    gen = sb.inp / "gen"
    hostile.tone_wav(gen / "a.wav", 2.0)
    hostile.write_broken(gen, "b.wav", "empty")
    captions = hostile.write_csv(sb.inp / "c.csv", ["ytid", "caption"], [["a", "x"], ["b", "y"]])
    table = sb.out / "t.jsonl"
    sb.run("benchmarks.musiccaps", ["--captions", captions, "--gen-dir", gen, "--out", sb.out / "run",
                                    "--seconds-total", "2", "--weights-dir", sb.inp / "none", "--results-table",
                                    table, "--no-progress"], allowed=(0,), limit=600)
    assert len(table.read_text().splitlines()) == 1  # and strict JSON: checked by the sandbox


@pytest.mark.parametrize("seconds", ["nan", "inf", "-1", "0", "1e400"])
def test_timing_sweep_bad_lengths(sb, tiny_ckpt, seconds):
    o = sb.run("benchmarks.timing", ["--ckpt", tiny_ckpt, "--seconds", seconds, "--out", sb.out / "t"])
    assert o.code == 2 and not (sb.out / "t").exists(), o.describe()


# --- generation --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags", [["--cfg-scale", "nan"], ["--sigma-min", "600", "--sigma-max", "500"],
                                   ["--seconds-total", "-2"], ["--seconds-total", "0"], ["--seconds-total", "60"],
                                   ["--seconds-total", "nan"], ["--seconds-total", "inf"], ["--steps", "0"],
                                   ["--steps", "-3"], ["--sigma-min", "0"]])
def test_generate_refuses_bad_settings(sb, tiny_ckpt, flags):
    out = sb.out / "x.wav"
    o = sb.run("sa_core.generate", ["--ckpt", tiny_ckpt, "--prompt", "a tone", "--seconds-total", "1", *flags,
                                    "--out", out, "--device", "cpu"])
    assert o.code == 2 and not out.exists(), o.describe()


def test_generate_out_flac_writes_flac(sb, tiny_ckpt):
    out = sb.out / "x.flac"
    o = sb.run("sa_core.generate", ["--ckpt", tiny_ckpt, "--prompt", "a tone", "--seconds-total", "1", "--steps",
                                    "2", "--out", out, "--device", "cpu"])
    if o.code == 0:
        assert sf.info(str(out)).format == "FLAC"


def test_generate_csv_with_duplicate_and_hostile_ids(sb, tiny_ckpt):
    csv_path = hostile.write_csv(sb.inp / "p.csv", ["id", "caption"], [["a", "x"], ["a", "y"], ["../up", "z"]])
    sb.run("sa_core.generate", ["--ckpt", tiny_ckpt, "--prompts-csv", csv_path, "--steps", "1", "--seconds-total",
                                "1", "--out-dir", sb.out / "gen", "--device", "cpu"])
    assert not (sb.out / "up.wav").exists()


# --- reports -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"{", b"NaN", b"[1, 2]", b'{"metrics": {}}', b"\xff\xfe\x00"])
def test_reports_on_a_corrupt_results_json(sb, content):
    """Not JSON, or not a results object: one line; a sparse object may render (exit 0) or be refused."""
    run = sb.inp / "run"
    run.mkdir()
    (run / "results.json").write_bytes(content)
    o = sb.run("reports", [run, "--out", sb.out / "r.html"])
    if not content.startswith(b"{\""):
        assert o.code == 2, o.describe()


def test_reports_with_garbage_audio_in_the_run(sb):
    gen = sb.inp / "gen"
    hostile.tone_wav(gen / "a.wav", 2.0)
    hostile.tone_wav(gen / "b.wav", 2.0, seed=1)
    sb.run("metrics", ["timing", "--gen", gen, "--seconds-total", "2", "--out", sb.out / "run" / "results.json",
                       *QUICK], allowed=(0,))
    (gen / "a.wav").write_bytes(b"RIFF garbage")  # the run's audio changed after it was scored
    hostile.write_broken(gen, "b.wav", "nan_samples")
    sb.run("reports", [sb.out / "run", "--out", sb.out / "r.html"], allowed=(0,))
    assert "<html" in (sb.out / "r.html").read_text()


# --- weights and info --------------------------------------------------------------------------------------------
def test_info_on_a_garbage_config(sb):
    folder = sb.inp / "ckpt"
    folder.mkdir()
    for content in (b"", b"{", b"[]", b'{"name": 3}', np.random.default_rng(0).bytes(100)):
        (folder / "model_config.json").write_bytes(content)
        o = sb.run("sa_core.info", [folder])
        assert o.code == 2, o.describe()


def test_weights_verify_on_garbage(sb):
    wd = sb.inp / "w"
    wd.mkdir()
    (wd / "passt-s-f128-p16-s10-ap.476-swa.pt").write_bytes(b"junk")
    (wd / "passt-s-f128-p16-s10-ap.476-swa.pt.sha256").write_bytes(b"\xff\xfe")
    (wd / "roberta-base").write_text("a file, not a folder")
    sb.run("metrics.weights", ["verify", "--weights-dir", wd], allowed=(1,))
    sb.run("metrics.weights", ["list", "--weights-dir", wd], allowed=(0,))
