"""Every generation request that would write bad audio is refused up front with one line, exit 2.

The CLI cases run ``sa_core.generate.main`` in-process with ``load_model`` replaced by a function that fails the
test, so each refusal is shown to happen before any model loads; none may leave an output file behind.
"""
import csv
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sa_core.generate as gen
from sa_core.generate import SamplerConfig, SettingsError, check_seconds_total, trimmed_frames, verify_audio

TINY_WINDOW_S = 163840 / 44100  # the tiny preset's window: 3.715 s


@pytest.mark.parametrize("changes, field", [
    ({"cfg_scale": math.nan}, "cfg_scale"), ({"cfg_scale": math.inf}, "cfg_scale"),
    ({"sigma_min": 600.0}, "sigma_max"), ({"sigma_min": 500.0}, "sigma_max"),  # min above / equal to max
    ({"sigma_min": 0.0}, "sigma_min"), ({"sigma_min": -1.0}, "sigma_min"), ({"sigma_max": math.nan}, "sigma_max"),
    ({"steps": 0}, "steps"), ({"steps": -3}, "steps"), ({"steps": 2.5}, "steps"), ({"steps": True}, "steps"),
    ({"rho": 0.0}, "rho"), ({"rho": math.inf}, "rho"), ({"cfg_rescale": 1.5}, "cfg_rescale"),
    ({"sampler": "bogus"}, "sampler"), ({"schedule": "bogus"}, "schedule"), ({"decode_chunk": 0}, "decode_chunk"),
])
def test_sampler_settings_that_cannot_give_valid_audio_are_refused(changes, field):
    with pytest.raises(SettingsError, match=rf"^{field} \(--{field.replace('_', '-')}\) must be"):
        SamplerConfig(**changes)


def test_a_sampler_of_the_other_family_is_refused_for_the_objective():
    """euler/pingpong belong to flow models, DPM-Solver++ on sigmas to v models: one line naming what fits."""
    with pytest.raises(SettingsError, match=r"sampler 'euler' does not fit a 'v' model; expected one of"):
        gen.check_sampler(SamplerConfig(sampler="euler"), "v")
    with pytest.raises(SettingsError, match=r"sampler 'dpmpp-3m-sde' does not fit a 'rf_denoiser' model"):
        gen.check_sampler(SamplerConfig(schedule="logsnr", sigma_max=1.0), "rf_denoiser")


def test_valid_sampler_settings_are_accepted():
    SamplerConfig()
    SamplerConfig(steps=1, cfg_scale=-1.0, sigma_min=0.03, sigma_max=80.0, sampler="dpmpp-2m", schedule="karras",
                  rho=7.0, decode_chunk=None)


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf, -2.0, 0.0, 60.0, TINY_WINDOW_S + 1e-3])
def test_requested_lengths_outside_the_window_are_refused(seconds):
    with pytest.raises(SettingsError, match=r"seconds_total of 'x' must be a finite number in \(0, 3.715\] s"):
        check_seconds_total({"ok": 1.0, "x": seconds}, TINY_WINDOW_S)


def test_requested_length_bounds():
    check_seconds_total({"edge": TINY_WINDOW_S, "short": 1e-3}, TINY_WINDOW_S)
    check_seconds_total({"long": 1e4}, None)  # audio from another model: no window to check against
    with pytest.raises(SettingsError, match="must be a finite number > 0, got nan"):
        check_seconds_total({"x": math.nan}, None)
    assert (trimmed_frames(1e-6, 44100, 163840), trimmed_frames(0.5, 44100, 163840)) == (1, 22050)  # never empty
    assert trimmed_frames(TINY_WINDOW_S, 44100, 163840) == 163840


def test_the_library_refuses_bad_lengths_before_sampling(tiny_ckpt):
    from sa_core.model import load_model

    model = load_model(tiny_ckpt)
    for seconds in (math.nan, -2.0, 0.0, 60.0):
        with pytest.raises(SettingsError, match="seconds_total"):
            gen.generate(model, ["a tone"], [seconds], [0], SamplerConfig(steps=1))


@pytest.fixture
def no_model(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded before the request was checked")

    monkeypatch.setattr(gen, "load_model", fail)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("flags, message", [
    (["--cfg-scale", "nan"], "cfg_scale (--cfg-scale) must be a finite number"),
    (["--sigma-min", "600"], "sigma_max (--sigma-max) must be above sigma_min"),
    (["--sigma-min", "0"], "sigma_min (--sigma-min) must be > 0"),
    (["--steps", "0"], "steps (--steps) must be an integer in [1, 10,000]"),
    (["--steps", "-3"], "steps (--steps) must be an integer in [1, 10,000]"),
    (["--seconds-total", "-2"], "seconds_total of 'out' must be a finite number in (0, 3.715] s"),
    (["--seconds-total", "0"], "seconds_total of 'out'"),
    (["--seconds-total", "60"], "got 60.0"),
    (["--seconds-total", "nan"], "got nan"),
    (["--seconds-total", "inf"], "got inf"),
])
def test_cli_refuses_bad_settings_before_loading_the_model(tiny_ckpt, tmp_path, capsys, no_model, flags, message):
    out = tmp_path / "o.wav"
    argv = ["--ckpt", str(tiny_ckpt), "--prompt", "a tone", "--seconds-total", "1", "--out", str(out)] + flags
    assert gen.main(argv) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


def test_cli_refuses_bad_output_paths_and_ids(tiny_ckpt, tmp_path, capsys, no_model):
    base = ["--ckpt", str(tiny_ckpt), "--seconds-total", "1"]
    (tmp_path / "folder").mkdir()
    assert gen.main(base + ["--prompt", "x", "--out", str(tmp_path / "folder")]) == 2
    assert "is a folder" in one_error_line(capsys)
    assert gen.main(base + ["--prompt", "x", "--out", str(tmp_path / "o.aiff")]) == 2
    assert "unknown audio extension '.aiff'" in one_error_line(capsys)
    table = tmp_path / "p.csv"
    for rows, message in (([["a" * 251, "x", "1"]], "ids longer than 250 bytes cannot name a file"),
                          ([["a1", "x", "abc"]], "seconds_total of 'a1' is not a number: 'abc'"),
                          ([["a1", "x", "nan"]], "seconds_total of 'a1' must be a finite number")):
        with open(table, "w", newline="") as f:
            csv.writer(f).writerows([["id", "caption", "seconds"]] + rows)
        argv = base + ["--prompts-csv", str(table), "--seconds-col", "seconds", "--out-dir", str(tmp_path / "g")]
        assert gen.main(argv) == 2
        assert message in one_error_line(capsys)
    assert not (tmp_path / "g").exists()
    with pytest.raises(SystemExit) as exit_:
        gen.main(base + ["--prompt", "x", "--batch-size", "0"])
    assert exit_.value.code == 2 and "--batch-size: must be an integer >= 1" in one_error_line(capsys)


def test_output_extension_is_honoured(tiny_ckpt, tmp_path):
    argv = ["--ckpt", str(tiny_ckpt), "--prompt", "a tone", "--seconds-total", "0.5", "--steps", "1", "--device",
            "cpu"]
    assert gen.main(argv + ["--out", str(tmp_path / "o.flac")]) == 0
    info = sf.info(tmp_path / "o.flac")
    assert (info.format, info.subtype, info.frames, info.channels) == ("FLAC", "PCM_24", 22050, 2)
    assert gen.main(argv + ["--out", str(tmp_path / "o.wav")]) == 0
    assert (sf.info(tmp_path / "o.wav").format, sf.info(tmp_path / "o.wav").subtype) == ("WAV", "FLOAT")
    wav, flac = sf.read(tmp_path / "o.wav")[0], sf.read(tmp_path / "o.flac")[0]
    np.testing.assert_allclose(flac, np.clip(wav, -1, 1), atol=2 ** -22)  # the same audio at 24 bits


def test_verify_audio_names_why_a_file_cannot_be_reused(tmp_path):
    x = (0.1 * np.random.default_rng(0).standard_normal((4410, 2))).astype(np.float32)
    good = tmp_path / "good.wav"
    sf.write(good, x, 44100, subtype="FLOAT")
    assert verify_audio(good, 44100, 2, 4410) is None
    data = good.read_bytes()
    cases = {"trunc.wav": data[:len(data) // 2], "empty.wav": b"", "forty.wav": data[:40]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    assert verify_audio(tmp_path / "trunc.wav", 44100, 2, 4410) not in (None, "missing")  # short, or refused
    assert "unreadable audio" in verify_audio(tmp_path / "empty.wav", 44100, 2, 4410)
    assert "unreadable audio" in verify_audio(tmp_path / "forty.wav", 44100, 2, 4410)
    assert verify_audio(tmp_path / "none.wav", 44100, 2, 4410) == "missing"
    assert "at 44100 Hz, expected 2 x 4410 at 48000 Hz" in verify_audio(good, 48000, 2, 4410)
    assert "expected 1 x 4410" in verify_audio(good, 44100, 1, 4410)
    sf.write(tmp_path / "nan.wav", np.full((4410, 2), np.nan, np.float32), 44100, subtype="FLOAT")
    assert "NaN" in verify_audio(tmp_path / "nan.wav", 44100, 2, 4410)


def test_csv_resume_regenerates_damaged_files(tiny_ckpt, tmp_path, capsys):
    table = tmp_path / "p.csv"
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows([["id", "caption"], ["a1", "a tone"], ["b2", "noise"], ["c3", "a drum"]])
    out = tmp_path / "gen"
    argv = ["--ckpt", str(tiny_ckpt), "--prompts-csv", str(table), "--seconds-total", "0.5", "--steps", "1",
            "--device", "cpu", "--out-dir", str(out)]
    assert gen.main(argv) == 0
    first = {p.name: sf.read(p)[0] for p in out.iterdir()}
    data = (out / "a1.wav").read_bytes()
    (out / "a1.wav").write_bytes(data[:len(data) // 2])  # an interrupted write: the header claims more frames
    (out / "b2.wav").write_bytes(data[:40])
    capsys.readouterr()
    assert gen.main(argv) == 0
    err = capsys.readouterr().err
    assert "1 of 3 already generated; 2 to go; 2 of them replace files that failed verification" in err
    assert "a1: " in err and "b2: gen/b2.wav: unreadable audio" in err
    for name, audio in first.items():
        np.testing.assert_allclose(sf.read(out / name)[0], audio, atol=1e-5)


def _atomic_write_takes_long_names() -> bool:
    from sa_util.files import atomic_write_bytes

    with tempfile.TemporaryDirectory() as d:
        try:
            atomic_write_bytes(Path(d) / ("a" * 245 + ".wav"), b"x")
        except OSError:
            return False
    return True


@pytest.mark.skipif(not _atomic_write_takes_long_names(),
                    reason="needs sa_util.files.atomic_write to write 249-character file names")
def test_a_245_character_id_generates(tiny_ckpt, tmp_path):
    long_id = "L" * 245
    table = tmp_path / "p.csv"
    table.write_text(f"id,caption\n{long_id},a tone\n")
    assert gen.main(["--ckpt", str(tiny_ckpt), "--prompts-csv", str(table), "--seconds-total", "0.5", "--steps", "1",
                     "--device", "cpu", "--out-dir", str(tmp_path / "g")]) == 0
    assert sf.info(tmp_path / "g" / f"{long_id}.wav").frames == 22050
    assert os.listdir(tmp_path / "g") == [f"{long_id}.wav"]  # no temporary file left behind
