"""MERT-v1-95M embeddings as fadtk 1.1.0 computes them, on a random-weight hub folder in the official layout.

* The network port (:mod:`metrics.embedding.embedders.mert_net`) against transformers' ``HubertModel`` loaded from the
  same folder: every hidden state, on a padded batch (attention mask) and unpadded.
* The embedder against fadtk's own ``MERTModel`` (its audio conversion, ``load_wav``, 6-minute cut, processor, layer
  pick, float16) with ``HubertModel`` injected as its network (fadtk would fetch MERT's remote code), per file, then
  FAD through fadtk's own statistics and Fréchet distance, and KAD through kadtk's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.embedding.embedders.mert import MIN_SAMPLES, MertEmbedder
from metrics.embedding.embedders.mert_net import load_mert
from sa_fixtures.clips import tone, write_wav
from tests.metrics.fadtk_loaders import (embed_side_by_side, fadtk_io, hubert_from_mert_folder, max_rel, need,
                                         side_by_side_distances, write_clip_sets)  # noqa: F401  (the fadtk_io fixture)

# (seconds, rate, channels): awkward lengths and rates, mono and stereo
CLIPS = [(2.0, 44100, 2), (1.3, 24000, 1), (0.7, 48000, 1), (1.7, 22050, 2), (2.2, 16000, 1), (0.9, 32000, 2)]


@pytest.fixture(scope="module")
def clips(module_tmp: Path) -> dict[str, list[str]]:
    """Two small sets of files (evaluated, reference) at the rates and channel counts of CLIPS."""
    return write_clip_sets(module_tmp, CLIPS, 220.0, {"evaluated": 1.0, "reference": 1.5})


def test_port_matches_transformers_hubert_every_layer(mert_95m):
    ours, theirs = load_mert(mert_95m), hubert_from_mert_folder(mert_95m)
    x = 0.3 * torch.randn(2, 36000, generator=torch.Generator().manual_seed(0))
    x[1, 20000:] = 0
    mask = torch.zeros(2, 36000, dtype=torch.long)
    mask[0], mask[1, :20000] = 1, 1
    with torch.no_grad():
        for inputs, kwargs, lengths in ((x, {"attention_mask": mask}, [36000, 20000]), (x[:1], {}, None)):
            a = ours(inputs, lengths)
            b = theirs(inputs, output_hidden_states=True, **kwargs).hidden_states
            assert len(a) == len(b) == 13
            for i, (u, v) in enumerate(zip(a, b)):
                assert u.shape == v.shape and max_rel(u.numpy(), v.numpy()) < 1e-5, i


def fadtk_mert(layer: int, folder: Path):
    """fadtk's MERTModel(layer=layer) with transformers' HubertModel and the folder's preprocessor injected."""
    need("fadtk", "1.1.0")
    need("hypy_utils")
    from fadtk.model_loader import MERTModel
    from transformers import Wav2Vec2FeatureExtractor

    ml = MERTModel(layer=layer)
    ml.model, ml.device = hubert_from_mert_folder(folder), torch.device("cpu")
    ml.processor = Wav2Vec2FeatureExtractor.from_pretrained(str(folder))
    return ml


@pytest.mark.parametrize("layer", [12, 5])
def test_embeddings_and_distances_match_fadtk(mert_95m, clips, fadtk_io, tmp_path, layer):  # noqa: F811
    ml = fadtk_mert(layer, mert_95m)
    ours, theirs = embed_side_by_side(MertEmbedder(mert_95m, layer=layer), ml, clips, tmp_path)
    fad_ours, fad_theirs, kad_ours, kad_theirs = side_by_side_distances(ours, theirs, tmp_path)
    assert fad_theirs > 0.1 and abs(fad_ours - fad_theirs) / fad_theirs < 2e-3, (fad_ours, fad_theirs)
    assert abs(kad_ours - kad_theirs) / abs(kad_theirs) < 2e-3, (kad_ours, kad_theirs)
    print(f"\nMERT layer {layer} vs fadtk: embeddings max rel {max(max_rel(u, v) for n in ours for u, v in zip(ours[n], theirs[n])):.1e}, "
          f"FAD {fad_ours:.6g} vs {fad_theirs:.6g}, KAD {kad_ours:.6g} vs {kad_theirs:.6g}")


def test_fadtk_cut_at_six_minutes_and_shortest_input(mert_95m, tmp_path):
    emb = MertEmbedder(mert_95m)
    long = write_wav(tmp_path / "long.wav", np.zeros((8000 * 361, 1), np.float32) + 0.1, 8000)
    assert len(emb.prepare(str(long))) == 360 * 24000
    short = write_wav(tmp_path / "short.wav", tone(MIN_SAMPLES / 24000, 24000, channels=1), 24000)
    assert emb.embed([emb.prepare(str(short))])[0].shape == (1, 768)
    from sa_util.audio import AudioError

    too_short = write_wav(tmp_path / "tiny.wav", tone((MIN_SAMPLES - 1) / 24000, 24000, channels=1), 24000)
    with pytest.raises(AudioError):
        emb.prepare(str(too_short))


def test_unsupported_config_is_one_line(mert_95m, tmp_path):
    import json
    import shutil

    folder = tmp_path / "cqt"
    shutil.copytree(mert_95m, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "feature_extractor_cqt": True}))
    with pytest.raises(ValueError, match="feature_extractor_cqt"):
        load_mert(folder)
