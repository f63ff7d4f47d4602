"""encodec-emb / encodec-emb-48k as fadtk 1.1.0 computes them, on random-weight ``.th`` files in the released format.

* The encoder port (:mod:`metrics.embedding.embedders.encodec_net`) against the ``encodec`` package's own
  ``EncodecModel.encoder`` built from the same file, on lengths from 1 sample up.
* The embedder against fadtk's own ``EncodecEmbModel`` (its audio conversion, ``load_wav`` with ``convert_audio``, the
  3-minute cut, the 48 kHz model's 1 s segments, float16) with the package's model injected, per file, then FAD through
  fadtk's statistics and KAD through kadtk's.
Needs ``encodec`` (``pip install --no-deps encodec==0.1.1``; it imports einops and torchaudio on this path).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.embedding.embedders.encodec import EncodecEmbedder
from metrics.embedding.embedders.encodec_net import VARIANTS, load_encodec_encoder
from sa_fixtures.clips import write_wav
from tests.metrics.fadtk_loaders import (embed_side_by_side, fadtk_io, max_rel, need, side_by_side_distances,
                                         write_clip_sets)  # noqa: F401  (the fadtk_io fixture)

CLIPS = [(2.3, 44100, 2), (1.0, 48000, 1), (0.4, 24000, 1), (1.6, 22050, 2), (2.1, 16000, 1), (0.05, 32000, 2)]


@pytest.fixture(scope="module")
def codec_files(module_tmp: Path) -> dict[str, Path]:
    need("encodec", "0.1.1")
    from sa_fixtures.random_weights import write_named

    return write_named(module_tmp / "weights", ["encodec-24khz", "encodec-48khz"])


@pytest.fixture(scope="module")
def clips(module_tmp: Path) -> dict[str, list[str]]:
    """Two small sets of files (evaluated, reference) at the rates and channel counts of CLIPS."""
    return write_clip_sets(module_tmp, CLIPS, 180.0, {"evaluated": 1.0, "reference": 2.0})


def package_model(path: Path, variant: str):
    from encodec import EncodecModel

    build = EncodecModel.encodec_model_24khz if variant == "24k" else EncodecModel.encodec_model_48khz
    model = build(pretrained=False)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


@pytest.mark.parametrize("variant", ["24k", "48k"])
def test_encoder_port_matches_the_package(codec_files, variant):
    path = codec_files[VARIANTS[variant].weights]
    ours, theirs = load_encodec_encoder(path, variant), package_model(path, variant).encoder
    gen = torch.Generator().manual_seed(1)
    for n in (1, 7, 321, 24000 + 17):
        x = 0.3 * torch.randn(2, VARIANTS[variant].channels, n, generator=gen)
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        assert a.shape == b.shape == (2, 128, -(-n // 320)) and max_rel(a.numpy(), b.numpy()) < 1e-5, n


@pytest.mark.parametrize("variant", ["24k", "48k"])
def test_embeddings_and_distances_match_fadtk(codec_files, clips, fadtk_io, tmp_path, variant):  # noqa: F811
    need("fadtk", "1.1.0")
    need("hypy_utils")
    from fadtk.model_loader import EncodecEmbModel

    path = codec_files[VARIANTS[variant].weights]
    ml = EncodecEmbModel(variant)
    ml.model, ml.device = package_model(path, variant), torch.device("cpu")
    ours, theirs = embed_side_by_side(EncodecEmbedder(path, variant=variant, batch_size=3), ml, clips, tmp_path)
    fad_ours, fad_theirs, kad_ours, kad_theirs = side_by_side_distances(ours, theirs, tmp_path)
    assert fad_theirs > 0 and abs(fad_ours - fad_theirs) / fad_theirs < 2e-3, (fad_ours, fad_theirs)
    assert abs(kad_ours - kad_theirs) / abs(kad_theirs) < 2e-3, (kad_ours, kad_theirs)
    worst = max(max_rel(u, v) for n in ours for u, v in zip(ours[n], theirs[n]))
    print(f"\nencodec {variant} vs fadtk: embeddings max rel {worst:.1e}, FAD {fad_ours:.6g} vs {fad_theirs:.6g}, "
          f"KAD {kad_ours:.6g} vs {kad_theirs:.6g}")


def test_cut_at_three_minutes(codec_files, tmp_path):
    emb = EncodecEmbedder(codec_files["encodec-24khz"])
    long = write_wav(tmp_path / "long.wav", np.full((8000 * 181, 1), 0.1, np.float32), 8000)
    assert len(emb.prepare(str(long))) == 180 * 24000


def test_a_foreign_file_is_one_line(tmp_path):
    path = tmp_path / "encodec_24khz-d7cc33bc.th"
    torch.save({"encoder.model.0.conv.conv.bias": torch.zeros(32)}, path)
    with pytest.raises(ValueError, match="not a whole EnCodec model state dict"):
        load_encodec_encoder(path, "24k")
