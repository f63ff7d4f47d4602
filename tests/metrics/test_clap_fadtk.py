"""fadtk's LAION-CLAP embeddings (``clap-laion-audio``) and the FAD on them, beside fadtk 1.1.0's own
``CLAPLaionModel`` (its ``load_model``, ``load_wav``, ``_get_embedding``, ``get_embedding``, compiled from the
installed ``fadtk/model_loader.py`` without importing the package) and its ``calc_embd_statistics`` /
``calc_frechet_distance`` beside our FD path (``metrics.run.fd_metric``: pooled statistics, scipy ``sqrtm``; the
whole CLI runs ``--model clap-laion-audio`` in test_protocol_runs.py), on one random-weight ``630k-audioset-best.pt`` in the official laion_clap format.

fadtk's file conversion (``FrechetAudioDistance.load_audio``) is composed as fadtk runs it: channel mean, torchaudio
Resample with its kaiser arguments, a 16-bit PCM wav (written here with soundfile, rounding to nearest), then its
``load_wav`` reads that file back."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from metrics.embedding.embedders.clap_fadtk import ClapFadtkEmbedder, fadtk_windows
from metrics.scores.evaluate import fd_result, gaussian_stats
from sa_fixtures.clips import tone, write_wav
from sa_fixtures.random_weights import write_named
from sa_util.clap import ROBERTA_BASE, load_tokenizer, offline_transformers
from tests.metrics.test_distances_fadtk import fadtk, reference_source  # noqa: F401  (fadtk: a fixture)

LOADER = {"CLAPLaionModel.load_model", "CLAPLaionModel._get_embedding", "CLAPLaionModel.int16_to_float32",
          "CLAPLaionModel.float32_to_int16", "ModelLoader.get_embedding", "ModelLoader.load_wav",
          "ModelLoader.enforce_min_len"}


@pytest.fixture(scope="module")
def setup(module_tmp):
    paths = write_named(module_tmp / "weights", ["clap-630k-audioset"])
    ns = reference_source("fadtk", "model_loader.py", LOADER, {"np": np, "torch": torch, "soundfile": sf,
                                                               "log": logging.getLogger("fadtk")})
    members = {name.split(".")[1]: ns[name.split(".")[1]] for name in LOADER}
    ml = type("FadtkClap", (), members)()
    ml.type, ml.model_file, ml.device, ml.sr, ml.min_len = "audio", paths["clap-630k-audioset"], torch.device("cpu"), \
        48000, -1
    with offline_transformers(load_tokenizer(module_tmp / "weights" / "roberta-base"), ROBERTA_BASE):
        ml.load_model()
    ml.model.tokenize = None
    yield ml, paths, module_tmp / "weights"
    paths["clap-630k-audioset"].unlink()


def fadtk_conversion(path, tmp_path):
    """fadtk 1.1.0 ``load_audio``'s converted 48 kHz 16-bit wav."""
    import torchaudio

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = torch.from_numpy(data.T).mean(0, keepdim=True)
    resampler = torchaudio.transforms.Resample(sr, 48000, lowpass_filter_width=64, rolloff=0.9475937167399596,
                                               resampling_method="sinc_interp_kaiser", beta=14.769656459379492)
    y = resampler(x)[0].numpy() if sr != 48000 else x[0].numpy()
    out = tmp_path / "convert" / path.name
    out.parent.mkdir(exist_ok=True)
    sf.write(str(out), np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16), 48000, subtype="PCM_16")
    return out


def test_windows_start_every_second_inside_the_audio():
    x = torch.arange(48000 * 2 + 5, dtype=torch.float32)
    w = fadtk_windows(x)
    assert w.shape == (3, 480000)
    assert torch.equal(w[2, :5], x[-5:]) and not w[2, 5:].any() and torch.equal(w[1, :48005], x[48000:])


def test_embeddings_and_fad_match_fadtk(setup, fadtk, tmp_path):
    ml, paths, folder = setup
    stats = fadtk
    sets = {}
    for name, seeds in (("gen", range(3)), ("ref", range(3, 6))):
        sets[name] = [write_wav(tmp_path / name / f"{i}.wav", tone(1.0 + 0.6 * i % 2.2, (44100, 48000, 22050)[i % 3],
                                                                   250 + 90 * i, channels=1 + i % 2, seed=i),
                                (44100, 48000, 22050)[i % 3]) for i in seeds]
    ours = ClapFadtkEmbedder(paths["clap-630k-audioset"], roberta_dir=folder / "roberta-base", batch_size=3)
    theirs, mine, worst = {}, {}, 0.0
    for name, files in sets.items():
        mine[name] = got = ours.embed([ours.prepare(str(f)) for f in files])
        theirs[name] = [ml.get_embedding(ml.load_wav(fadtk_conversion(f, tmp_path))) for f in files]
        for g, t in zip(got, theirs[name]):
            assert g.shape == t.shape and g.shape[1] == 512
            np.testing.assert_allclose(g, t.astype(np.float32), atol=2e-3, rtol=0)  # float16 storage: 1 ulp
            worst = max(worst, float(np.abs(g - t.astype(np.float32)).max()))
    assert np.abs(got[0][0] - got[1][0]).max() > 1e-2  # the random network tells inputs apart
    ref = gaussian_stats(mine["ref"])  # what the run computes (metrics.run.fd_metric)
    fd = fd_result(dict(enumerate(mine["gen"])), ref.mean, ref.cov, n_boot=0)
    mu_g, cov_g = stats["calc_embd_statistics"](np.concatenate(theirs["gen"]).astype(np.float32))
    mu_r, cov_r = stats["calc_embd_statistics"](np.concatenate(theirs["ref"]).astype(np.float32))
    reference = stats["calc_frechet_distance"](mu_r, cov_r, mu_g, cov_g)
    assert fd["value"] == pytest.approx(reference, rel=1e-3)
    print(f"\nclap-laion-audio vs fadtk: embeddings max abs diff {worst:.2e}, FAD {fd['value']:.9g} vs "
          f"{reference:.9g}")
