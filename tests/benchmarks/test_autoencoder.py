import json

import numpy as np
import pytest

from benchmarks.autoencoder import main
from metrics.scores.reconstruction import mel_distance, si_sdr
from sa_fixtures.clips import tone, write_wav


def test_si_sdr_and_mel_distance_known_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 20000))
    assert si_sdr(x, 3.0 * x) > 100  # scale-invariant: a gain is perfect
    noise = rng.standard_normal((2, 20000))
    assert si_sdr(x, x + 0.1 * noise) == pytest.approx(20.0, abs=0.5)  # 20 dB of white noise
    assert mel_distance(x, x, 44100) == 0.0 and mel_distance(x, x + noise, 44100) > 0.05


def test_autoencoder_fidelity_end_to_end(tiny_ckpt, tmp_path, weights_dir, capsys):
    ref = tmp_path / "ref"
    write_wav(ref / "a.wav", tone(2.0, 44100, 300))
    write_wav(ref / "b.wav", tone(1.5, 22050, 500, channels=1), 22050)  # resampled and made stereo
    write_wav(ref / "silent.wav", np.zeros((4410, 2), np.float32))
    assert main(["--ckpt", str(tiny_ckpt), "--ref-dir", str(ref), "--out", str(tmp_path / "run"),
                 "--weights-dir", str(weights_dir)]) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["metrics"]["fd"]["n_files"] == 2 and res["metrics"]["si_sdr"]["n"] == 2
    assert set(res["metrics"]["mrstft"]["per_item"]) == {"a", "b"}
    assert any(s["file"].endswith("silent.wav") for s in res["skipped_files"])
    assert (tmp_path / "run" / "report.html").is_file()


def test_autoencoder_on_synthcaps_scores_content_and_timing(tiny_ckpt, tmp_path, capsys):
    assert main(["--ckpt", str(tiny_ckpt), "--synthcaps", "2", "--out", str(tmp_path / "run"),
                 "--weights-dir", str(tmp_path / "none")]) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    timing = res["metrics"]["timing"]
    assert timing["n"] == 2 and res["metrics"]["position"]["n"] == 2 and res["metrics"]["si_sdr"]["n"] == 2
    # requested lengths are the items' own, and a random VAE's output is judged against them
    assert {row["requested_s"] for row in timing["per_item"].values()} <= {1.0, 1.5, 2.0, 2.5, 3.0}
    assert "timing: within ±0.5 s" in capsys.readouterr().out
