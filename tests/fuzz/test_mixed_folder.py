"""Acceptance test of "no input loses a run": one folder mixing good files with every hostile kind, through ``metrics all``
with random-weight evaluators (FD against a few good reference files, KL against reference probabilities, CLAP
with captions, timing with per-row lengths): exit 0, every good file scored by every metric, every bad one listed
with its reason, results.json strict JSON, nothing written outside the output folder.

The run happens once (module fixture); each finding it covers has its own test below.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz import hostile
from tests.fuzz.hostile import AudioSpec
from tests.fuzz.invariants import Sandbox, check_accounted, named_in_skipped

# name -> (spec or broken kind, requested seconds); good files are scored by every metric
GOOD: dict[str, AudioSpec] = {
    "wav16_44k.wav": AudioSpec("wav16", 44100, 2, 3 * 44100, "tone", 1),
    "flac24_48k.flac": AudioSpec("flac24", 48000, 1, int(2.5 * 48000), "tone", 2),
    "vorbis_22k.ogg": AudioSpec("ogg", 22050, 2, 3 * 22050, "noise", 3),
    "opus_48k.opus": AudioSpec("opus", 48000, 2, 3 * 48000, "tone", 4),
    "mp3_44k.mp3": AudioSpec("mp3", 44100, 2, 3 * 44100, "tone", 5),
    "float_96k.wav": AudioSpec("wav_float", 96000, 2, 2 * 96000, "tone", 6),
    "u8_8k.wav": AudioSpec("wav_u8", 8000, 1, 3 * 8000, "tone", 7),
    "pcm24_88k.wav": AudioSpec("wav24", 88200, 2, 2 * 88200, "noise", 8),
    "pcm32_192k.wav": AudioSpec("wav32", 192000, 2, 2 * 192000, "tone", 9),
    "B.WAV": AudioSpec("wav16", 44100, 2, 2 * 44100, "tone", 10),
    "long_16k.wav": AudioSpec("wav16", 16000, 1, 12 * 16000, "tone", 11),
    "a.wav": AudioSpec("wav16", 44100, 2, 2 * 44100, "tone", 12),  # a.flac beside it: one id, two files
}
DUPLICATE = "a.flac"
BAD = {"empty.wav": "empty", "random.wav": "random_bytes", "header40.wav": "header_only_40",
       "trunc_header.flac": "truncated_header", "riff.wav": "riff_garbage", "zero_frames.wav": "zero_frames",
       "nan.wav": "nan_samples", "inf.wav": "inf_samples", "silent.wav": "silent", "folder.wav": "folder"}
EDGE = {"one_sample.wav": "one_sample", "ten_samples.wav": "ten_samples", "ms100.wav": "ms100",
        "huge.wav": "huge_floats", "denormal.wav": "denormals", "onehz.wav": "one_hz_rate",
        "trunc_half.wav": "truncated_half", "six_ch.wav": "six_channels"}
LINKS = {"passwd.wav": Path("/etc/passwd"), "dangling.wav": None}
TONE_IN_SILENCE = "tone_in_10s.wav"  # 0.3 s of tone, then silence, 10 s in all
HOSTILE_IDS = ["../escape", "/abs/path", "a\\b", "c:d", "x" * 300, "no_such_file"]


def stem(name: str) -> str:
    return Path(name).stem


def write_mixed_folder(sb: Sandbox) -> tuple[Path, Path, list[str]]:
    """The hostile generated folder, three good reference files and the caption table: (gen, ref, ids)."""
    gen, ref = sb.inp / "gen", sb.inp / "ref"
    for name, spec in GOOD.items():
        hostile.write_audio(gen / name, spec)
    hostile.write_audio(gen / DUPLICATE, AudioSpec("flac16", 44100, 2, 44100, "noise", 13))
    for name, kind in {**BAD, **EDGE}.items():
        hostile.write_broken(gen, name, kind)
    tone = hostile.samples(AudioSpec("wav16", 44100, 2, 10 * 44100, "tone", 14))
    tone[int(0.3 * 44100):] = 0
    import soundfile as sf

    sf.write(str(gen / TONE_IN_SILENCE), tone, 44100, subtype="PCM_16")
    for name, target in LINKS.items():
        hostile.symlink(gen / name, target if target is not None else gen / "gone.wav")
    (gen / "notes.txt").write_text("not audio\n")
    for k in range(3):
        hostile.tone_wav(ref / f"ref{k}.wav", 2.0, seed=20 + k)
    names = sorted(os.listdir(gen))
    ids = sorted({stem(n) for n in names if Path(n).suffix.lower() in hostile.AUDIO_SUFFIXES}) + HOSTILE_IDS
    return gen, ref, ids


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, weights_dir):
    """(sandbox, gen folder, results, outcome) of the one ``metrics all`` run."""
    sb = Sandbox(tmp_path_factory.mktemp("mixed"))
    gen, ref, ids = write_mixed_folder(sb)
    seconds = {stem(n): f"{s.seconds:.3f}" for n, s in GOOD.items()}
    rows = [[i, f"the caption of {i}", seconds.get(i, "3")] for i in ids]
    captions = hostile.write_csv(sb.inp / "captions.csv", ["id", "caption", "seconds"], rows)
    pkl = sb.inp / "kl_reference.pkl"
    pkl.write_bytes(hostile.kl_pickle_bytes({i: hostile.probs(k) for k, i in enumerate(ids)}))
    out = sb.out / "results.json"
    o = sb.run("metrics", ["all", "--gen", gen, "--ref", ref, "--ref-stats", pkl, "--captions", captions,
                           "--id-col", "id", "--text-col", "caption", "--seconds-col", "seconds",
                           "--weights-dir", weights_dir, "--cache-dir", sb.out / "cache", "--bootstrap", "100",
                           "--fd-bootstrap", "10", "--no-progress", "--out", out], limit=1200)
    results = sb.results(out) if o.code == 0 else None
    return sb, gen, results, o, ids


def test_exit_0_and_every_metric_ran(mixed):
    _, _, results, o, _ = mixed
    assert o.code == 0, o.describe()
    assert set(results["metrics"]) >= {"fd", "kl", "clap", "timing"}, results["skipped_metrics"]


def test_every_file_and_id_is_accounted_for(mixed):
    _, gen, results, o, ids = mixed
    assert o.code == 0, o.describe()
    check_accounted(results, gen, hostile.AUDIO_SUFFIXES, caption_ids=ids)


def test_every_good_file_is_scored_by_every_metric(mixed):
    _, gen, results, o, _ = mixed
    assert o.code == 0, o.describe()
    good = sorted(stem(n) for n in [*GOOD, TONE_IN_SILENCE])
    for metric in ("kl", "clap", "timing"):
        scored = results["metrics"][metric]["per_item"]
        assert [g for g in good if g not in scored] == [], f"{metric} left out good files: " \
            f"{ {g: results['metrics'][metric]['left_out'].get(g) for g in good if g not in scored} }"
    for name in [*GOOD, TONE_IN_SILENCE]:
        assert not named_in_skipped(results, gen / name), f"{name} skipped: {named_in_skipped(results, gen / name)}"


def test_every_bad_file_is_listed_with_its_reason(mixed):
    _, gen, results, o, _ = mixed
    assert o.code == 0, o.describe()
    without = results["ids"]["without_audio"]
    for name in [*BAD, *LINKS, DUPLICATE]:
        reasons = named_in_skipped(results, gen / name) + ([without[stem(name)]] if stem(name) in without else [])
        assert reasons and all(r.strip() for r in reasons), f"{name}: not listed with a reason"
        if name != DUPLICATE:  # a.flac's id is a.wav's, which is scored
            for metric, res in results["metrics"].items():
                assert stem(name) not in (res.get("per_item") or {}), f"{metric} scored the bad file {name}"


def test_short_huge_denormal_and_odd_rate_files_are_scored_or_listed(mixed):
    """1 sample, 10 samples, 100 ms (shorter than PaSST's window), +-3e38 floats, denormals, a 6 KB WAV claiming
    1 Hz, a WAV cut in half, 6 channels: each is either scored or named, per metric."""
    _, gen, results, o, _ = mixed
    assert o.code == 0, o.describe()
    for name in EDGE:
        for metric in ("kl", "clap", "timing"):
            res = results["metrics"][metric]
            assert stem(name) in res["per_item"] or res["left_out"].get(stem(name)), f"{metric}: {name}"
        assert stem(name) not in results["ids"]["without_audio"] or named_in_skipped(results, gen / name), name


def test_hostile_ids_never_name_a_file(mixed):
    _, _, results, o, _ = mixed
    assert o.code == 0, o.describe()
    without = results["ids"]["without_audio"]
    for i in HOSTILE_IDS:
        assert without.get(i, "").strip(), f"id {i[:40]!r} not listed"


def test_a_short_sound_in_silence_is_timed_where_it_ends(mixed):
    """0.3 s of tone in a 10 s file: the detected end is the tone's, not the file's or zero."""
    _, _, results, o, _ = mixed
    assert o.code == 0, o.describe()
    row = results["metrics"]["timing"]["per_item"][stem(TONE_IN_SILENCE)]
    assert abs(row["detected_s"] - 0.3) < 0.1, row


def test_results_and_summary_are_valid(mixed):
    sb, _, results, o, _ = mixed
    assert o.code == 0, o.describe()
    summary = [line.split()[0] for line in o.out.splitlines() if line.strip()]
    for name in ("fd", "kl", "clap", "timing"):
        assert results["metrics"][name]["value"] is not None
        assert name in summary, o.out


AES_METRICS = ("aes_pq", "aes_pc", "aes_ce", "aes_cu")


@pytest.fixture(scope="module")
def mixed_aesthetics(tmp_path_factory, aesthetics_checkpoint):
    """The same hostile folder through ``--protocol tta-bench`` (Audiobox Aesthetics, no reference)."""
    sb = Sandbox(tmp_path_factory.mktemp("mixed-aes"))
    gen, _, ids = write_mixed_folder(sb)
    out = sb.out / "results.json"
    o = sb.run("metrics", ["all", "--protocol", "tta-bench", "--gen", gen, "--aesthetics-weights",
                           aesthetics_checkpoint, "--cache-dir", sb.out / "cache", "--bootstrap", "100",
                           "--no-progress", "--out", out], limit=1200)
    return sb, gen, (sb.results(out) if o.code == 0 else None), o, ids


@pytest.mark.slow  # a 380 MB random checkpoint over the whole folder: the locked suite only
def test_aesthetics_scores_every_good_file_and_names_every_other(mixed_aesthetics):
    _, gen, results, o, _ = mixed_aesthetics
    assert o.code == 0, o.describe()
    assert list(results["metrics"]) == list(AES_METRICS), results["skipped_metrics"]
    check_accounted(results, gen, hostile.AUDIO_SUFFIXES)
    good = sorted(stem(n) for n in [*GOOD, TONE_IN_SILENCE])
    for metric in AES_METRICS:
        res = results["metrics"][metric]
        assert [g for g in good if g not in res["per_item"]] == [], res["left_out"]
        for name in [*BAD, *LINKS]:
            assert stem(name) not in res["per_item"], f"{metric} scored the bad file {name}"
        for name in EDGE:
            assert stem(name) in res["per_item"] or res["left_out"].get(stem(name)), f"{metric}: {name}"
    for name in [*BAD, *LINKS]:
        without = results["ids"]["without_audio"]
        assert named_in_skipped(results, gen / name) or without.get(stem(name)), f"{name}: no reason"
