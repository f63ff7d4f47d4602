import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from sa_core.config import override, preset
from sa_core.generate import SamplerConfig, generate
from sa_core.model import build_model, save_model

FAST = SamplerConfig(steps=4, cfg_scale=3.0, sigma_max=50.0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt")
    save_model(build_model(override(preset("tiny"), {"sample_size": 16384})), folder)
    return folder


@pytest.fixture(scope="module")
def model(ckpt):
    from sa_core.model import load_model

    return load_model(ckpt)


def test_loaded_model_is_frozen(model):
    # under bf16 autocast, grad-requiring weights keep their bf16 copies cached for the whole region
    assert not any(p.requires_grad for p in model.parameters())


def test_output_is_trimmed_and_deterministic_per_seed_independent_of_batch(model):
    a = generate(model, ["a sine tone", "noise"], [0.2, 0.3], [7, 8], FAST)
    assert [x.shape for x in a] == [(2, 8820), (2, 13230)]
    alone = generate(model, ["noise"], [0.3], [8], FAST)[0]
    np.testing.assert_allclose(a[1], alone, atol=1e-5)
    again = generate(model, ["a sine tone", "noise"], [0.2, 0.3], [7, 8], FAST)
    np.testing.assert_array_equal(a[0], again[0])
    other = generate(model, ["a sine tone"], [0.2], [9], FAST)[0]
    assert not np.allclose(a[0], other)


def test_cli_single_prompt_and_resumable_csv(ckpt, tmp_path):
    base = [sys.executable, "-m", "sa_core.generate", "--ckpt", str(ckpt), "--steps", "3", "--sigma-max", "50",
            "--device", "cpu"]
    r = subprocess.run(base + ["--prompt", "a tone", "--seconds-total", "0.25", "--out", str(tmp_path / "o.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    audio, sr = sf.read(tmp_path / "o.wav")
    assert sr == 44100 and audio.shape == (11025, 2)
    with open(tmp_path / "p.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["id", "caption", "seconds"], ["a1", "a tone", "0.1"], ["b2", "noise", "0.2"]])
    args = base + ["--prompts-csv", str(tmp_path / "p.csv"), "--seconds-col", "seconds", "--out-dir",
                   str(tmp_path / "gen")]
    assert subprocess.run(args, capture_output=True, text=True).returncode == 0
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["a1.wav", "b2.wav"]
    r = subprocess.run(args, capture_output=True, text=True)
    assert "2 of 2 already generated" in r.stderr
    # the seed follows the id, not the row: b2 alone (row 0, not 1) gives the same audio, to the rounding of a batch of
    # another size (another row's seed would give other noise, differences of the signal's own size, ~1e-2)
    with open(tmp_path / "b.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "caption", "seconds"], ["b2", "noise", "0.2"]])
    alone = base + ["--prompts-csv", str(tmp_path / "b.csv"), "--seconds-col", "seconds", "--out-dir",
                    str(tmp_path / "gen-b")]
    assert subprocess.run(alone, capture_output=True, text=True).returncode == 0
    np.testing.assert_allclose(sf.read(tmp_path / "gen-b" / "b2.wav")[0], sf.read(tmp_path / "gen" / "b2.wav")[0],
                               rtol=0, atol=1e-5)
    with open(tmp_path / "evil.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "caption"], ["../../escape", "x"]])
    r = subprocess.run(base + ["--prompts-csv", str(tmp_path / "evil.csv"), "--out-dir", str(tmp_path / "g2")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot be used as a file name" in r.stderr and not (tmp_path / "g2").exists()
    r = subprocess.run(base[:4] + [str(tmp_path / "nope"), "--prompt", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr
