"""Audiobox Aesthetics: our per-file PQ/PC/CE/CU against the reference package's own inference on the same files.

The reference (``pip install --no-deps audiobox-aesthetics==0.0.4``) is run through ``AesPredictor.forward`` with
the random-weight ``checkpoint.pt`` (official layout); its file reader needs torchcodec, so both sides get the file
as decoded by soundfile (the reference's documented in-memory form ``{"path": tensor, "sample_rate": sr}``).
Float32 on the CPU: the scores (1-10 scale, random heads spread them over several units) agree to 1e-4.
"""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from metrics.embedding.embedders.aesthetics import (AXES, WINDOW, AestheticsEmbedder, build_aesthetics, frame_mask,
                                                    windows)
from metrics.embedding.pipeline import embed_files
from sa_fixtures.clips import noise, tone, write_wav

TOLERANCE = 1e-4  # absolute, on scores of a few units (measured max difference: test output, see README)


def test_windows_follow_the_reference_range():
    assert windows(WINDOW) == [(0, WINDOW)]
    assert windows(WINDOW + 1) == [(0, WINDOW), (WINDOW, 1)]
    assert windows(int(23.7 * 16000)) == [(0, WINDOW), (WINDOW, WINDOW), (2 * WINDOW, int(13.7 * 16000) - WINDOW)]
    assert windows(5) == [(0, 5)]


def test_frame_mask_keeps_frames_with_a_true_sample():
    # 160000 samples, 499 frames: runs of 320 samples; a frame is kept while it starts before the true length
    keep = frame_mask(torch.tensor([160000, 1, 320, 321]), 160000, 499)
    assert keep.sum(1).tolist() == [499, 1, 1, 2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("aes-files")
    rng = np.random.default_rng(3)
    specs = [("short_mono_16k", 3.2, 16000, 1), ("ten_s_stereo_44k", 10.0, 44100, 2),
             ("long_stereo_44k", 23.7, 44100, 2), ("tiny_mono_44k", 0.4, 44100, 1)]
    out = []
    for name, seconds, sr, ch in specs:
        x = tone(seconds, sr, 220 + 90 * len(out), channels=ch)
        x = x + 0.05 * noise(x.T.shape, rng).T
        out.append(write_wav(root / f"{name}.wav", x.astype(np.float32), sr))
    return out


def reference_scores(checkpoint, paths):
    infer = pytest.importorskip("audiobox_aesthetics.infer",
                                reason="reference absent: pip install --no-deps audiobox-aesthetics==0.0.4")
    predictor = infer.AesPredictor(checkpoint_pth=str(checkpoint), batch_size=len(paths))
    predictor.device = torch.device("cpu")
    predictor.model.to("cpu")
    batch = []
    for p in paths:
        x, sr = sf.read(str(p), dtype="float32", always_2d=True)
        batch.append({"path": torch.from_numpy(x.T.copy()), "sample_rate": sr})
    return predictor.forward(batch)


def test_scores_match_the_reference_package(files, aesthetics_checkpoint):
    ref = reference_scores(aesthetics_checkpoint, files)
    ours = AestheticsEmbedder(aesthetics_checkpoint, batch_size=3)  # windows of several files share a batch
    out = ours.embed([ours.prepare(str(p)) for p in files])
    got = np.array([[float(v) for v in row] for row in out])
    want = np.array([[row[a] for a in AXES] for row in ref])
    print(f"max |ours - reference| = {np.abs(got - want).max():.3g} on scores spanning {np.ptp(want):.3g}")
    assert np.ptp(want, axis=0).min() > 0.05, "the random heads must spread the scores, or the test is blind"
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_bad_file_is_named_and_the_rest_scored(files, aesthetics_checkpoint, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    silent = write_wav(tmp_path / "silent.wav", np.zeros((1600, 1), np.float32), 16000)
    emb = AestheticsEmbedder(aesthetics_checkpoint, batch_size=4)
    res = embed_files(emb, [str(files[0]), str(bad), str(silent)], cache=None, workers=0, progress=False)
    assert set(res.outputs) == {str(files[0])} and res.outputs[str(files[0])].shape == (4,)
    assert set(res.skipped) == {str(bad), str(silent)} and all(res.skipped.values())


def test_a_checkpoint_of_another_layout_fails_in_one_line(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": {"model.proj_layer.PQ.0.weight": torch.zeros(1, 768)}}, path)
    with pytest.raises(ValueError, match=r"checkpoint\.pt.*model_cfg"):
        build_aesthetics(path)
