"""PAM beside PAM's own scoring code (soham97/PAM: ``PAM/PAM.py``, ``dataset.py``), on one random-weight MS-CLAP 2023
checkpoint in the official format, through the whole run (``python -m metrics pam --protocol pam``).

PAM is not a package: the reference is a local copy of the repository named by ``$SA_BENCH_PAM_DIR`` (the test
skips without it). It runs unmodified except where it would reach the network or a decoder this environment lacks:
its text model is built from GPT-2's published configuration, its tokenizer read from the local folder (given back
``encode_plus``, which transformers 5 dropped: in 4.x it is ``__call__`` for one text), and ``torchaudio.load``
reads with soundfile (the float32 samples torchaudio's soundfile backend returns)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.metric_peers import offline_msclap
from metrics.embedding.embedders.msclap import MsClapEmbedder
from metrics.plan import RunConfig
from metrics.run import run
from metrics.scores.pam import pam_clip_scores, pam_file_score
from sa_fixtures.clips import tone, write_wav
from sa_fixtures.random_weights import write_named

PAM_DIR = os.environ.get("SA_BENCH_PAM_DIR")
OBTAIN = ("git clone https://github.com/soham97/PAM <dir> && git -C <dir> checkout ead6e7f "
          "&& export SA_BENCH_PAM_DIR=<dir>")
# tiled, stereo (channels concatenated) and resampled, exactly one clip, two whole clips and an overlapping tail
SECONDS = {"short": (2.0, 44100, 1), "stereo48k": (3.0, 48000, 2), "seven": (7.0, 44100, 1),
           "sixteen": (16.5, 22050, 1)}


def test_pam_score_is_the_softmax_of_the_scaled_cosines():
    rng = np.random.default_rng(0)
    audio, prompts = rng.normal(size=(3, 8)), rng.normal(size=(2, 8))
    cos = (audio / np.linalg.norm(audio, axis=1, keepdims=True)) @ (
        prompts / np.linalg.norm(prompts, axis=1, keepdims=True)).T
    expected = torch.softmax(torch.from_numpy(20.0 * cos), dim=1)[:, 0].numpy()
    np.testing.assert_allclose(pam_clip_scores(audio, prompts, 20.0), expected, rtol=1e-12)
    assert pam_file_score(audio, prompts, 20.0) == pytest.approx(expected.mean())
    assert pam_file_score(audio, prompts[::-1], 20.0) == pytest.approx(1 - expected.mean())


@pytest.fixture(scope="module")
def pam_reference():
    if not PAM_DIR or not (Path(PAM_DIR) / "PAM" / "PAM.py").is_file():
        pytest.skip(f"PAM parity needs a local copy of soham97/PAM: {OBTAIN}")
    sys.path.insert(0, PAM_DIR)
    try:
        importlib.import_module("PAM")  # PAM/__init__.py imports PAM/PAM.py and its models
        spec = importlib.util.spec_from_file_location("pam_dataset", Path(PAM_DIR) / "dataset.py")
        dataset = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dataset)
    finally:
        sys.path.remove(PAM_DIR)
    return sys.modules["PAM.PAM"], sys.modules["PAM.models.clap"], dataset


def reference_scores(pam_reference, weights, tokenizer_dir, files):
    """PAM's run.py loop, default and repro mode: its dataset and collate, its ``evaluate`` -> per-file averages."""
    pam_module, _, dataset = pam_reference
    out = {}
    with offline_msclap(tokenizer_dir, wrapper="PAM.PAM", models="PAM.models.clap"):
        pam = pam_module.PAM(model_fp=str(weights))
        for repro in (False, True):
            data = dataset.ExampleDatasetFiles(src=[str(f) for f in files], repro=repro)
            names, audios, index = data.collate([data[i] for i in range(len(data))])
            scores, _ = pam.evaluate(audios, index)
            out[repro] = {Path(n).stem: s for n, s in zip(names, scores)}
    return out


def test_pam_matches_pam_reference_and_embeds_each_file_once(pam_reference, module_tmp, monkeypatch):
    paths = write_named(module_tmp / "weights", ["msclap-2023", "gpt2"])
    gen = module_tmp / "gen"
    files = [write_wav(gen / f"{name}.wav", tone(s, sr, 300 + 100 * i, channels=c, seed=i), sr)
             for i, (name, (s, sr, c)) in enumerate(SECONDS.items())]
    captions = module_tmp / "captions.csv"
    captions.write_text("ytid,caption\n" + "".join(f"{f.stem},a tone number {i}\n" for i, f in enumerate(files)))
    embedded: list[int] = []
    original = MsClapEmbedder.embed
    monkeypatch.setattr(MsClapEmbedder, "embed", lambda self, p: embedded.append(len(p)) or original(self, p))
    cfg = RunConfig(gen=gen, protocol="pam", captions=captions, msclap_weights=paths["msclap-2023"],
                    gpt2_dir=paths["gpt2"], cache_dir=None, progress=False, bootstrap=50, batch_size=4)
    results = run(cfg, strict=True)["metrics"]
    assert sum(embedded) == len(files)  # PAM, its repro mode and the CLAP score share one forward per file
    assert results["pam"]["clap_checkpoint"] == "ms-clap-2023" and results["clap"]["clap_checkpoint"] == "ms-clap-2023"
    reference = reference_scores(pam_reference, paths["msclap-2023"], paths["gpt2"], files)
    for key, repro in (("pam", False), ("pam_repro", True)):
        theirs = reference[repro]
        ours = results[key]["per_item"]
        assert sorted(ours) == sorted(theirs)
        worst = max(abs(ours[k] - theirs[k]) for k in ours)
        assert worst < 1e-5, (key, worst)
        print(f"\n{key} vs PAM: per-file max abs diff {worst:.2e}")
        assert results[key]["value"] == pytest.approx(np.mean(list(theirs.values())), abs=1e-5)
        assert results[key]["ci95"][0] <= results[key]["value"] <= results[key]["ci95"][1]
    assert results["pam"]["per_item"]["sixteen"] != results["pam_repro"]["per_item"]["sixteen"]
    paths["msclap-2023"].unlink()
