import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from sa_core.config import ConfigError
from sa_core.train import GlobalDraws, Trainer, latents_for, read_config

FAST = ["optim.lr=0.002", "optim.warmup=0.0", "log_every=1", "batch_size=4",
        "checkpoint_every=1000"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rows = []
    for i, (sec, f) in enumerate([(0.3, 220), (0.5, 330), (0.2, 440), (0.4, 660)]):
        t = np.arange(int(sec * 44100)) / 44100
        x = np.stack([np.sin(2 * np.pi * f * t), 0.5 * np.sin(2 * np.pi * f * t)], 1) * 0.4
        sf.write(folder / f"c{i}.wav", x.astype(np.float32), 44100)
        rows.append({"file": f"c{i}.wav", "caption": f"a tone at {f} Hz"})
    with open(folder / "captions.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "caption"])
        w.writeheader()
        w.writerows(rows)
    return folder


def cfg(*sets, steps=10):
    overrides = FAST + list(sets) + [f"steps={steps}"]
    return read_config(None, overrides + ['model_overrides={"sample_size": 16384}'])


def fixed_eval_loss(trainer):
    """v-MSE of the EMA-free trained weights on a fixed batch, t and noise."""
    trainer.step, saved = 0, trainer.step
    batch = trainer._batch()
    draws = GlobalDraws(123, 0, 4, 0, 1)
    with torch.no_grad():
        z = latents_for(trainer.model, batch, draws, trainer.device)
        losses = trainer.trained(z, batch, draws)["loss"]
    trainer.step = saved
    return losses.item()


def test_diffusion_loss_goes_down(data, tmp_path):
    trainer = Trainer("diffusion", cfg("cfg_dropout=0.0", steps=100), data, tmp_path / "run", "cpu")
    before = fixed_eval_loss(trainer)
    trainer.run(progress=False)
    assert fixed_eval_loss(trainer) < 0.92 * before  # deterministic: fixed batch, t and noise
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "train_log.csv").is_file()


def test_vae_reconstruction_goes_down(data, tmp_path):
    trainer = Trainer("vae", cfg("disc_filters=4", steps=24), data, tmp_path / "vae", "cpu")
    log = trainer.run(progress=False)
    recon = [r["loss/mrstft"] for r in log if "loss/mrstft" in r]  # generator steps
    assert len(recon) == 12 and np.mean(recon[-3:]) < np.mean(recon[:3])
    assert any("loss/mrstft" not in r for r in log)  # discriminator steps alternate


def test_resume_continues_the_same_run(data, tmp_path):
    straight = Trainer("diffusion", cfg(steps=6), data, tmp_path / "a", "cpu")
    straight.run(progress=False)
    first = Trainer("diffusion", cfg("checkpoint_every=3", steps=3), data, tmp_path / "b", "cpu")
    first.run(progress=False)
    resumed = Trainer("diffusion", cfg("checkpoint_every=3", steps=6), data, tmp_path / "b", "cpu")
    assert resumed.step == 3
    resumed.run(progress=False)
    for (k, a), (_, b) in zip(straight.trained.state_dict().items(), resumed.trained.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    with pytest.raises(ConfigError, match="another config"):
        Trainer("diffusion", cfg("cfg_dropout=0.5", steps=6), data, tmp_path / "b", "cpu")


def test_two_process_ddp_equals_one_process(data, tmp_path):
    common = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "{n}", "--master-port", "{port}",
              "-m", "sa_core.train", "diffusion", "--data", str(data), "--device", "cpu", "--no-progress"]
    sets = [a for s in FAST + ["steps=3", 'model_overrides={"sample_size": 16384}'] for a in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for n, port in ((1, 29611), (2, 29612)):
        cmd = [c.format(n=n, port=port) for c in common] + sets + ["--out", str(tmp_path / f"p{n}")]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    one = torch.load(tmp_path / "p1" / "train_state.pt", weights_only=True)["trained"]
    two = torch.load(tmp_path / "p2" / "train_state.pt", weights_only=True)["trained"]
    init = Trainer("diffusion", cfg(steps=3), data, tmp_path / "init", "cpu").trained.state_dict()
    moved = max((one[k] - init[k]).abs().max().item() for k in one)
    update = torch.cat([(one[k] - init[k]).flatten() for k in one])
    apart = torch.cat([(one[k] - two[k]).flatten() for k in one])
    # Adam steps of lr 2e-3 moved weights by ~6e-3; the two runs' updates agree to float reduction-order noise. Not
    # elementwise: Adam divides by sqrt(v), so a weight whose gradient is ~0 can turn that noise into a visible step
    # (1.1e-4 seen once); a wrong gradient average (a half batch per process) would be far off in norm.
    assert moved > 1e-3 and apart.norm() < 1e-3 * update.norm(), (moved, (apart.norm() / update.norm()).item())


def test_train_cli_errors_are_one_line(tmp_path, data):
    r = subprocess.run([sys.executable, "-m", "sa_core.train", "diffusion", "--data", str(data), "--out",
                        str(tmp_path / "x"), "--set", "stepz=3"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown key(s) ['stepz']" in r.stderr


def test_json_sidecar_captions_and_crop_timing(tmp_path):
    from sa_core.data import batch_for_step, crop, load_clips

    x = np.zeros((int(0.5 * 44100), 2), np.float32)
    x[:, :] = 0.1
    sf.write(tmp_path / "a.wav", x, 44100)
    (tmp_path / "a.json").write_text('{"prompt": "a hum"}')
    clips = load_clips(tmp_path, 44100, 2)
    assert [c.caption for c in clips] == ["a hum"]
    window, start, total, mask = crop(clips[0], 44100, np.random.default_rng(0), 44100)
    assert window.shape == (2, 44100) and start == 0 and total == pytest.approx(0.5) and mask.sum() == 22050
    assert window[:, 22050:].max() == 0  # padded with silence after the file
    b = batch_for_step(clips, 3, 4, 44100, 44100, seed=1)
    assert b.audio.shape == (4, 2, 44100) and b.captions == ["a hum"] * 4
    (tmp_path / "a.json").unlink()
    with pytest.raises(ValueError, match="no captions.csv"):
        load_clips(tmp_path, 44100, 2)


def test_encode_pads_short_clips_to_the_window_and_keeps_their_length(data, tiny_ckpt, tmp_path):
    """Latent crops past a clip's end are the autoencoder's code for silence, and seconds_total stays the clip's."""
    from sa_core.model import load_model
    from sa_core.train import encode_folder

    out = encode_folder(str(tiny_ckpt), data, tmp_path / "lat", window=16384)
    latents = torch.load(out / "latents.pt", weights_only=True)
    meta = [m["seconds"] for m in json.loads((out / "latents.json").read_text())]
    assert meta == pytest.approx([0.3, 0.5, 0.2, 0.4], abs=1e-4)
    # clips shorter than the 16384-sample window fill it (16 frames); longer ones keep their length
    assert [latents[str(i)].shape[-1] for i in range(4)] == [16, 22, 16, 18]
    clip = torch.from_numpy(sf.read(data / "c2.wav", dtype="float32")[0].T.copy())
    padded = torch.nn.functional.pad(clip, (0, 16384 - clip.shape[-1]))[None]
    expected = load_model(str(tiny_ckpt)).autoencoder.encode(padded, deterministic=True)[0][0]
    assert torch.allclose(latents["2"], expected, atol=1e-5)  # the 0.2 s clip, encoded with silence after it
    trainer = Trainer("diffusion", cfg(f"latents={out}", steps=1), data, tmp_path / "run", "cpu")
    batch = trainer._batch()
    assert batch.audio.shape == (4, 16, 16)
    lengths = {0.2, 0.3, 0.4, 0.5}
    assert all(min(abs(t - s) for s in lengths) < 1e-4 for t in batch.seconds_total.tolist())  # the clips' own
