"""Throughput of fadtk's codec / MERT embeddings, kadtk's PaSST / PANNs embeddings and MAD's embedding beside the
reference packages' own paths: ours (``embed_files``, no cache, no workers) vs fadtk 1.1.0's loader (``load_audio`` +
``get_embedding``, its network built from the same random-weight file: the ``encodec`` package's model,
descript-audio-codec's ``DAC``, transformers' ``HubertModel`` for MERT's remote code), kadtk 1.1.0's loader (the same
two calls; hear21passt's PaSST, kadtk's CNN14 and Wavegram-Logmel-CNN14) and mad-metric 0.0.6's ``featurize`` (batches of 3, ``HubertModel``
injected). One thread, same clips.

``OMP_NUM_THREADS=1 pytest --benchmark-only benchmarks/speed/test_fadtk_peers_speed.py``; ``SA_BENCH_CLIPS`` (default
8) clips of ``SA_BENCH_SECONDS`` (default 10) s, ``SA_BENCH_ROUNDS`` (default 3) rounds; the MERT-v1-330M case (1.3 GB of random weights) runs with
``SA_BENCH_HEAVY=1``. A reference that is not installed skips with its install command.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.speed.clip_set import CLIPS, ROUNDS, SECONDS
from metrics.embedding.embedders import build
from metrics.embedding.embedders.mert import MertEmbedder
from metrics.embedding.pipeline import embed_files
from sa_fixtures.random_weights import write_named
from tests.metrics.fadtk_loaders import fadtk_embeddings, fadtk_io, hubert_from_mert_folder, max_rel, need  # noqa: F401

OUTPUTS: dict[tuple[str, str], list] = {}  # (model, side) -> outputs of its round
AGREEMENT = 2e-3  # relative to the file's largest value: one float16 step (the parity tests' bound)

# model -> (weights registry name, embedder options); the kadtk models: its 10 s PaSST, 16 kHz CNN14 and the
# Wavegram-Logmel-CNN14 (the other variants differ by weight file and length)
MODELS = {"encodec-emb": ("encodec-24khz", {"variant": "24k"}), "encodec-emb-48k": ("encodec-48khz", {"variant": "48k"}),
          "dac-44kHz": ("dac-44khz", {}), "MERT-v1-95M": ("mert-v1-95m", {}),
          "passt-base-10s": ("passt-s-swa-ap476", {"kadtk_model": "passt-base-10s"}),
          "panns-cnn14-16k": ("panns-cnn14-16k", {"kadtk_model": "panns-cnn14-16k"}),
          "panns-wavegram-logmel": ("panns-wavegram-logmel", {"kadtk_model": "panns-wavegram-logmel"})}


def ours(model: str, path: Path):
    emb = build(model, path, **MODELS[model][1])
    emb.load()
    return lambda paths: outputs(emb, paths)


def outputs(emb, paths: list[str]) -> list:
    """One ``embed_files`` run over ``paths`` (no cache, no workers), its outputs in their order."""
    result = embed_files(emb, paths, workers=0)
    return [result.outputs[p] for p in paths]


def reference_loader(model: str, path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    """fadtk's (or, for kadtk's models, kadtk's) ``ModelLoader`` of ``model`` on the CPU, reading ``path``."""
    if model.startswith(("passt", "panns")):
        from tests.metrics.test_kadtk_models import kadtk_loader

        return kadtk_loader(model, path.parent, workdir / "kadtk-model", monkeypatch)
    need("fadtk", "1.1.0")
    if model.startswith("encodec"):
        need("encodec", "0.1.1")
        from encodec import EncodecModel
        from fadtk.model_loader import EncodecEmbModel

        ml = EncodecEmbModel("48k" if model.endswith("48k") else "24k")
        ml.model = (EncodecModel.encodec_model_48khz if model.endswith("48k") else EncodecModel.encodec_model_24khz)(
            pretrained=False)
        ml.model.load_state_dict(torch.load(path, weights_only=True))
        ml.model.eval()
    elif model == "dac-44kHz":
        from tests.metrics.test_dac import need_dac

        need_dac()
        import dac.utils
        from fadtk.model_loader import DACModel

        monkeypatch.setattr(dac.utils, "download", lambda **kwargs: path)  # load_model's cache, pre-filled
        ml = DACModel()
        ml.load_model()
        ml.model = ml.model.cpu()
    else:
        from fadtk.model_loader import MERTModel
        from transformers import Wav2Vec2FeatureExtractor

        ml = MERTModel()
        ml.model, ml.processor = hubert_from_mert_folder(path), Wav2Vec2FeatureExtractor.from_pretrained(str(path))
    ml.device = torch.device("cpu")
    return ml


def reference(model: str, path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    ml = reference_loader(model, path, workdir, monkeypatch)
    runs = iter(range(10**6))
    return lambda paths: list(fadtk_embeddings(ml, paths, workdir / str(next(runs))).values())


@pytest.mark.parametrize("side", ["ours", "reference"])
@pytest.mark.parametrize("model", list(MODELS))
def test_fadtk_embedding_speed(benchmark, clips, weights_folder, fadtk_io, tmp_path, monkeypatch, model,  # noqa: F811
                               side):
    if model.startswith("encodec"):
        need("encodec", "0.1.1")  # writes the .th files
    name = MODELS[model][0]
    path = write_named(weights_folder, [name])[name]
    runner = ours(model, path) if side == "ours" else reference(model, path, tmp_path, monkeypatch)
    runner(clips[:1])  # warm-up
    peer = "kadtk" if model.startswith(("passt", "panns")) else "fadtk"
    benchmark.group = f"{model} x {CLIPS} clips of {SECONDS:g} s (cpu): ours vs {peer}"
    benchmark.extra_info.update({"clips": CLIPS, "seconds_of_audio": SECONDS * CLIPS, "side": side})
    out = benchmark.pedantic(lambda: runner(clips), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    assert len(out) == CLIPS
    OUTPUTS[model, side] = out
    other = OUTPUTS.get((model, "reference" if side == "ours" else "ours"))
    if other is not None:  # ours is stored in float16 (fadtk's cache), the reference's get_embedding is float32
        worst = max(max_rel(np.asarray(a, np.float32), np.asarray(b, np.float32)) for a, b in zip(out, other))
        benchmark.extra_info["max_rel_diff"] = worst
        assert worst < AGREEMENT, (model, worst)


@pytest.mark.skipif(not os.environ.get("SA_BENCH_HEAVY"), reason="MERT-v1-330M: set SA_BENCH_HEAVY=1")
@pytest.mark.parametrize("side", ["ours", "mad-metric"])
def test_mad_embedding_speed(benchmark, clips, weights_folder, side):
    path = write_named(weights_folder, ["mert-v1-330m"])["mert-v1-330m"]
    if side == "ours":
        runner = ours_mad(path)
    else:
        runner = mad_metric_featurize(path)
    runner(clips[:1])
    benchmark.group = f"MAD embedding (MERT-v1-330M) x {CLIPS} clips of {SECONDS:g} s (cpu): ours vs mad-metric"
    benchmark.extra_info.update({"clips": CLIPS, "seconds_of_audio": SECONDS * CLIPS, "side": side})
    out = benchmark.pedantic(lambda: runner(clips), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    assert len(out) == CLIPS


def ours_mad(path: Path):
    emb = MertEmbedder(path, size="v1-330M", layer=24, config="mad")
    emb.load()
    return lambda paths: [frames.max(0) for frames in outputs(emb, paths)]


def mad_metric_featurize(path: Path):
    need("mad-metric", "0.0.6")
    import importlib
    import shutil
    import tempfile

    from mad_metric.embedding_models import MERT330M
    from transformers import Wav2Vec2FeatureExtractor

    cm = importlib.import_module("mad_metric.compute_mad")

    class Injected(MERT330M):
        def __init__(self, device):  # noqa: ANN001
            self.sr, self.device = 24000, device
            self.model = hubert_from_mert_folder(path)
            self.processor = Wav2Vec2FeatureExtractor.from_pretrained(str(path))

    cm.MERT330M = Injected

    def run(paths: list[str]) -> list:
        with tempfile.TemporaryDirectory() as folder:  # featurize reads a folder
            for p in paths:
                shutil.copy(p, folder)
            return list(cm.featurize(folder, None, batch_size=3))

    return run
