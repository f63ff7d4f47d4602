"""MAD (mad-metric 0.0.6) on a random-weight MERT-v1-330M hub folder (1.3 GB, written once per session).

* MAUVE (:mod:`metrics.scores.mauve`) against mauve-text 0.4.0's ``compute_mauve`` on the same features.
* The 330M port (pre-norm "stable layer norm" encoder, LayerNorm conv encoder) against transformers' ``HubertModel``,
  every hidden state.
* The whole score against mad-metric's own ``compute_mad(eval_dir, ref_dir)`` (its ``librosa.load``, batches of 3
  files padded together, ``MERT330M.get_embedding``, max-pool, ``-log MAUVE``), with ``HubertModel`` and the folder's
  preprocessor injected for the hub model it would fetch: equal on sets of equal-length files, and the padding effect
  measured on a set of mixed lengths.
Needs ``pip install --no-deps mad-metric==0.0.6 mauve-text==0.4.0 faiss-cpu``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.embedding.embedders.mert import MertEmbedder
from metrics.embedding.embedders.mert_net import load_mert
from metrics.embedding.pipeline import embed_files
from metrics.scores.mauve import MauveSettings, mad, max_pool, mauve
from sa_fixtures.clips import tone, write_wav
from tests.metrics.fadtk_loaders import hubert_from_mert_folder, max_rel, need


def test_mauve_matches_mauve_text():
    need("mauve-text", "0.4.0")
    need("faiss-cpu")
    import mauve as reference

    rng = np.random.default_rng(0)
    for n, m, d, shift, buckets in [(40, 50, 1024, 0.3, "auto"), (100, 120, 64, 0.0, "auto"), (30, 200, 16, 1.0, 5)]:
        p = (rng.standard_normal((n, d)) + shift).astype(np.float32)
        q = rng.standard_normal((m, d)).astype(np.float32)
        theirs = reference.compute_mauve(p_features=p, q_features=q, num_buckets=buckets).mauve
        assert mauve(p, q, MauveSettings(num_buckets=buckets)) == pytest.approx(theirs, rel=1e-12, abs=1e-12)


def test_mauve_rejects_sets_it_cannot_cluster():
    with pytest.raises(ValueError, match="non-empty"):
        mauve(np.zeros((0, 4)), np.ones((3, 4)))


@pytest.fixture(scope="module")
def reference_mad(mert_330m):
    """mad-metric's compute_mad with HubertModel and the folder's preprocessor in place of the hub download."""
    need("mad-metric", "0.0.6")
    need("mauve-text", "0.4.0")
    need("faiss-cpu")
    import importlib

    from mad_metric.embedding_models import MERT330M
    from transformers import Wav2Vec2FeatureExtractor

    class Injected(MERT330M):
        def __init__(self, device):  # noqa: ANN001  MERT330M's signature
            self.sr, self.device = 24000, device
            self.model = hubert_from_mert_folder(mert_330m)
            self.processor = Wav2Vec2FeatureExtractor.from_pretrained(str(mert_330m))

    cm = importlib.import_module("mad_metric.compute_mad")  # the package rebinds the name to the function
    original = cm.MERT330M
    cm.MERT330M = Injected
    yield cm
    cm.MERT330M = original


def write_set(folder: Path, seconds: list[float], seed: int) -> list[str]:
    return [str(write_wav(folder / f"{i:02d}.wav", tone(s, 44100, 150.0 * (1 + (i + seed) % 6 / 5), 2,
                                                        seed=seed + i), 44100)) for i, s in enumerate(seconds)]


@pytest.mark.slow  # GB-size random weights: the locked suite only (.ci/run-image: -m "not slow")
def test_330m_port_matches_transformers_hubert(mert_330m):
    ours, theirs = load_mert(mert_330m), hubert_from_mert_folder(mert_330m)
    x = 0.3 * torch.randn(1, 12000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ours(x), theirs(x, output_hidden_states=True).hidden_states
    assert len(a) == len(b) == 25
    for i, (u, v) in enumerate(zip(a, b)):
        assert max_rel(u.numpy(), v.numpy()) < 1e-5, i


def listdir_order(paths: list[str]) -> list[str]:
    """``paths`` in the order mad-metric's ``featurize`` reads them (``os.listdir`` of their folder)."""
    folder = os.path.dirname(paths[0])
    return [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".wav")]


def ours_and_theirs(cm, mert_330m: Path, gen: list[str], ref: list[str]) -> tuple[float, float, dict, dict]:
    """(MAD ours, MAD mad-metric, our pooled vectors, theirs) for the folders of ``gen`` and ``ref``. MAUVE's k-means
    depends on the order of the rows, so ours is computed here in mad-metric's (``os.listdir``) order; the run feeds
    files in sorted name order."""
    emb = MertEmbedder(mert_330m, size="v1-330M", layer=24, config="mad")
    ours, theirs = {}, {}
    for paths in (gen, ref):
        result = embed_files(emb, paths, workers=0)
        assert not result.skipped
        ours.update({p: max_pool(result.outputs[p]) for p in paths})
        vectors = cm.featurize(os.path.dirname(paths[0]), None, batch_size=3).numpy()  # batches of 3, padded
        theirs.update(dict(zip(listdir_order(paths), vectors)))
    value = mad(np.stack([ours[p] for p in listdir_order(gen)]), np.stack([ours[p] for p in listdir_order(ref)]))
    reference = cm.compute_mad(eval_dir=os.path.dirname(gen[0]), ref_dir=os.path.dirname(ref[0]))
    return value, float(reference), ours, theirs


@pytest.mark.slow  # GB-size random weights: the locked suite only (.ci/run-image: -m "not slow")
def test_mad_matches_mad_metric_on_equal_lengths(reference_mad, mert_330m, tmp_path):
    gen = write_set(tmp_path / "gen", [1.0] * 6, 0)
    ref = write_set(tmp_path / "ref", [1.0] * 7, 3)
    value, reference, ours, theirs = ours_and_theirs(reference_mad, mert_330m, gen, ref)
    worst = max(max_rel(ours[p], theirs[p]) for p in ours)
    assert worst < 1e-4
    assert value == pytest.approx(reference, rel=1e-6, abs=1e-9)
    print(f"\nMAD equal lengths: ours {value:.6g}, mad-metric {reference:.6g}; pooled vectors max rel {worst:.1e}")


@pytest.mark.slow  # GB-size random weights: the locked suite only (.ci/run-image: -m "not slow")
def test_mad_padding_of_the_reference_batches(reference_mad, mert_330m, tmp_path):
    """Mixed lengths: mad-metric pads each batch of 3 to its longest file, and a padded file's max-pool then sees
    frames over its zero padding. Files that were the longest of their batch agree; padded ones differ."""
    seconds = [1.0, 0.6, 0.8, 0.7, 1.0, 0.5]
    gen = write_set(tmp_path / "gen", seconds, 0)
    ref = write_set(tmp_path / "ref", [1.0] * 6, 3)
    value, reference, ours, theirs = ours_and_theirs(reference_mad, mert_330m, gen, ref)
    order = listdir_order(gen)
    longest = {p: seconds[gen.index(p)] == max(seconds[gen.index(q)] for q in order[i // 3 * 3:i // 3 * 3 + 3])
               for i, p in enumerate(order)}
    diffs = {p: max_rel(ours[p], theirs[p]) for p in gen}
    assert all(diffs[p] < 1e-4 for p in gen if longest[p])
    assert all(diffs[p] > 1e-3 for p in gen if not longest[p])
    print(f"\nMAD mixed lengths: ours (files alone) {value:.6g}, mad-metric (padded batches of 3) {reference:.6g}; "
          f"padded files' pooled vectors differ by up to {max(diffs.values()):.2e} relative")
