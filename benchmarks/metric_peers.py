"""Metric peers: our batched evaluators next to the reference packages' own code paths, same weights, same clips.

Per model, "ours" is the :mod:`metrics.embedding.embedders` evaluator run through :func:`metrics.embedding.pipeline.embed_files`
(batched, no cache, decoding in this process); "reference" is the way the reference project computes the same
output, one file at a time, with the reference package imported (never copied):

* ``passt``: stable-audio-metrics' loop, hear21passt's ``PasstBasicWrapper`` on one 10 s window (5 s hop) at a time,
  mean logits, softmax -> ``[527]``.
* ``clap``: stable-audio-metrics' ``clap_score`` audio side, laion_clap's ``CLAP_Module.get_audio_embedding_from_data``
  on one file -> ``[512]``.
* ``vggish``: frechet-audio-distance's way, torchvggish 0.2 (last ReLU dropped, no PCA) on
  ``waveform_to_examples(*soundfile.read(path))`` -> ``[n, 128]``; ours runs the ``frechet-audio-distance`` preset.
* ``panns``: audioldm_eval 0.0.3's CNN14 path, ``WaveDataset.read_from_file`` then one forward per file ->
  ``[2048 + 527]`` (embedding, logits), our output layout.
* ``passt20``: audiocraft 1.3.0's ``metrics/kld.py`` ``PasstKLDivergenceMetric(pretrained_length=20)`` label
  distributions of one file -> ``[n_segments, 527]``; ours runs the PaSST embedder with ``pretrained_length=20,
  segments="audiocraft"``.
* ``aesthetics``: audiobox-aesthetics 0.0.4 ``AesPredictor.forward`` on one file -> ``[4]`` (CE, CU, PC, PQ).
* ``msclap``: TTA-Bench's way, msclap 1.3.4 ``CLAPWrapper(version='2023').get_audio_embeddings`` on one file (its
  random 7 s crop of longer audio seeded as ours) -> ``[1, 1024]``; ours runs ``chunks='random-crop'``.
* ``openl3``: stable-audio-metrics' ``src/openl3_fd.py``: ``librosa.load(sr=None, mono=False)``, peak -1 dBFS,
  ``soxr`` to 44.1 kHz, L and R each through TensorFlow openl3 0.4.2's ``get_audio_embedding`` (kapre 0.3.7 front-end,
  hop 0.5 s, batch 4), concatenated -> ``[n, 1024]``. It needs TensorFlow <= 2.15 with Keras 2, in a virtualenv of
  its own that sees the project's (:data:`INSTALL`); openl3's ``setup.py`` downloads weights, so it installs from
  its repository with the weight files' names pre-placed.

Weights are random, in the official formats (:mod:`sa_fixtures.random_weights`): the figures say "same numbers, this
fast", nothing about audio quality. A missing reference package raises :class:`ReferenceMissing`, whose message holds
the install command.

``python -m benchmarks.metric_peers --clips N --seconds S --out DIR [--models passt,clap,...]`` writes
``DIR/metric_peers.json`` and ``DIR/metric_peers.md`` (model | ours s/clip | reference s/clip | ratio | max rel diff).
Times exclude model loading (``*_load_s``) and an untimed warm-up run of each side on the first clip
(``*_warmup_s``: lazy imports, resampy's numba JIT); then each side embeds every clip once, with no cache.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import types
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np
import soundfile as sf
import torch

from metrics.embedding.embedder import Embedder
from metrics.embedding.pipeline import embed_files
from sa_fixtures.clips import SR, write_harmonic_clips
from sa_util.cli import guarded

MODELS = ("passt", "clap", "vggish", "panns", "openl3", "passt20", "aesthetics", "msclap")
INSTALL = {
    "passt": "pip install hear21passt",
    "clap": "pip install laion_clap",
    "vggish": "pip install --no-deps torchvggish==0.2",
    "panns": "pip install --no-deps audioldm_eval==0.0.3",
    "passt20": "pip install --no-deps audiocraft==1.3.0 julius torchmetrics lightning-utilities",
    "aesthetics": "pip install --no-deps audiobox-aesthetics==0.0.4",
    "msclap": "pip install --no-deps msclap==1.3.4",
    # TensorFlow's openl3: its own venv that sees the project's (TensorFlow 2.15 pins numpy<2, as we do, and Keras
    # 2); openl3's setup.py downloads the weights while it builds, so the checkout gets empty files in their place
    "openl3": "python -m venv .venv-tf && python -c 'import site; print(site.getsitepackages()[0])' > "
              "\"$(.venv-tf/bin/python -c 'import site; print(site.getsitepackages()[0])')/main_venv.pth\" && "
              ". .venv-tf/bin/activate && "
              "pip install tensorflow-cpu==2.15.1 && pip install --no-deps --no-binary kapre kapre==0.3.7 && "
              "git clone -b v0.4.2 https://github.com/marl/openl3 && for f in openl3/openl3/openl3_{audio,image}_"
              "{linear,mel128,mel256}_{music,env}.h5; do touch $f; done && "
              "pip install --no-deps --no-build-isolation ./openl3",
}
# Max relative difference (max |ours - reference| / max |reference|, per file) accepted: 1e-4, as in
# tests/metrics/test_vggish.py and test_panns.py, and no looser than test_passt.py (rtol 1e-4, atol 1e-6) or
# test_clap.py (atol 2e-5 on unit 512-d vectors whose largest entries are about 0.1). Measured: about 1e-6.
TOLERANCE = {"passt": 1e-4, "clap": 1e-4, "vggish": 1e-4, "panns": 1e-4, "passt20": 1e-4, "aesthetics": 1e-4,
             # TensorFlow vs torch convolutions and resamplers, on these 44.1 kHz clips: 2.9e-4 measured (README: 3.2e-4
             # at 44.1 kHz, 9.4e-4 on a 22.05 kHz file)
             "openl3": 1e-3,
             # MS-CLAP 2023: the same HTS-AT and GPT-2 code on both sides; measured in tests/metrics/test_msclap.py
             "msclap": 1e-4}

T = TypeVar("T")
EmbedPaths = Callable[[list[str]], list[np.ndarray]]  # paths -> one output array per path, in order


class ReferenceMissing(RuntimeError):
    """The reference path of a model cannot run here; the message says why (and how to install it)."""


def require(model: str, module: str) -> None:
    """Raise :class:`ReferenceMissing` with the install command unless ``module`` is importable."""
    if importlib.util.find_spec(module) is None:
        raise ReferenceMissing(f"{model}: reference package {module} not installed: {INSTALL[model]}")


# ------------------------------------------------------------------------------------------------------------
# Weights


def write_weights(model: str, folder: Path, seed: int = 0) -> Path:
    """The random-weight file of ``model`` under its official name in ``folder`` (written once)."""
    from sa_fixtures import random_weights as rw
    from metrics.embedding.weights import REGISTRY

    folder.mkdir(parents=True, exist_ok=True)
    name = {"passt": "passt-s-swa-ap476", "clap": "clap-630k-audioset-fusion", "vggish": "vggish",
            "panns": "panns-cnn14-16k", "openl3": "openl3-mel256-music", "passt20": "passt-s-20sec-swa-ap474",
            "aesthetics": "audiobox-aesthetics", "msclap": "msclap-2023"}[model]
    path = folder / REGISTRY[name].filename
    if path.exists():
        return path
    if model in ("passt20", "aesthetics"):
        rw.WRITERS[name](path, seed)
    elif model == "passt":
        rw.write_passt_pt(path, seed)
    elif model == "clap":
        rw.write_clap_pt(path, roberta_dir(folder), seed=seed)
    elif model == "vggish":
        rw.write_vggish_pth(path, seed)
    elif model == "panns":
        rw.write_panns_pth(path, 16000, seed)
    elif model == "msclap":
        rw.write_msclap_pth(path, "2023", seed)
    else:
        rw.write_openl3_h5(path, rw.random_openl3(seed))
    return path


def gpt2_dir(folder: Path) -> Path:
    """The GPT-2 tokenizer folder MS-CLAP 2023 needs, next to its weights (written once)."""
    from sa_fixtures.random_weights import write_gpt2_tokenizer
    from metrics.embedding.weights import REGISTRY

    path = folder / REGISTRY["gpt2"].filename
    return path if path.exists() else write_gpt2_tokenizer(path)


def roberta_dir(folder: Path) -> Path:
    """The RoBERTa tokenizer folder CLAP needs, next to its weights (written once)."""
    from sa_fixtures.random_weights import write_byte_tokenizer
    from metrics.embedding.weights import REGISTRY

    path = folder / REGISTRY["roberta-base"].filename
    return path if path.exists() else write_byte_tokenizer(path)


# ------------------------------------------------------------------------------------------------------------
# Ours


def our_embedder(model: str, weights: Path) -> Embedder:
    """Our evaluator of ``model`` with its defaults, except VGGish on the frechet-audio-distance preset."""
    from metrics.embedding.embedders import build

    options = {"clap": {"roberta_dir": roberta_dir(weights.parent)},
               "msclap": {"gpt2_dir": gpt2_dir(weights.parent), "chunks": "random-crop"},
               "vggish": {"config": "frechet-audio-distance"},
               "passt20": {"pretrained_length": 20, "segments": "audiocraft"}}.get(model, {})
    batch = {"passt": 16, "vggish": 64, "panns": 16, "passt20": 8, "aesthetics": 8}.get(model, 32)
    return build("passt" if model == "passt20" else model, weights, "cpu", batch, **options)


def our_runner(model: str, weights: Path) -> EmbedPaths:
    """Loads our evaluator; the runner embeds all paths batched (8 files per batch, no cache, no workers)."""
    embedder = our_embedder(model, weights)
    embedder.load()

    def run(paths: list[str]) -> list[np.ndarray]:
        result = embed_files(embedder, paths, workers=0, files_per_batch=8)
        if result.skipped:
            raise RuntimeError(f"{model}: our evaluator skipped {result.skipped}")
        return [result.outputs[p] for p in paths]

    return run


# ------------------------------------------------------------------------------------------------------------
# References, one per model: each loads the model and returns a one-file-at-a-time runner


def passt_reference(weights: Path) -> EmbedPaths:
    """stable-audio-metrics: librosa.load at 32 kHz mono, peak -1 dBFS, one 10 s window (5 s hop) per forward of
    hear21passt's ``PasstBasicWrapper(mode='logits')``, mean logits, softmax -> ``[527]`` per file."""
    require("passt", "hear21passt")
    import librosa

    from metrics.embedding.embedders.passt import build_passt

    model = build_passt(weights)
    step, win = 160000, 320000

    @torch.no_grad()
    def one(path: str) -> np.ndarray:
        audio, _ = librosa.load(path, sr=32000, mono=True)
        audio = audio * (10 ** (-1 / 20) / np.abs(audio).max())
        logits = []
        for i in range(0, max(step, len(audio) - step), step):
            w = audio[i:i + win]
            if int(win * 0.15) < len(w) < win:
                w = np.pad(w, (0, win - len(w)))
            logits.append(model(torch.from_numpy(w)[None].float())[0])
        return torch.softmax(torch.stack(logits).mean(0), 0).numpy()

    return lambda paths: [one(p) for p in paths]


def clap_reference(weights: Path, seed: int = 0) -> EmbedPaths:
    """stable-audio-metrics' ``clap_score`` audio side: librosa.load at 48 kHz mono, peak -1 dBFS, int16 round trip,
    laion_clap ``CLAP_Module.get_audio_embedding_from_data`` on one file -> ``[512]``. The module is laion_clap's own,
    built offline with the checkpoint loaded strictly; the fusion crops (> 10 s) use our per-file seed and
    torchvision 0.16 resizing, as in tests/metrics/test_clap.py, so that both sides are deterministic."""
    require("clap", "laion_clap")
    import librosa

    from metrics.embedding.embedders.clap import ClapEmbedder, protocol_resize, seeded_numpy

    module = ClapEmbedder(weights, roberta_dir=roberta_dir(weights.parent)).build()

    @torch.no_grad()
    def one(path: str) -> np.ndarray:
        audio, _ = librosa.load(path, sr=48000, mono=True)
        audio = audio * (10 ** (-1 / 20) / np.abs(audio).max())
        audio = (np.clip(audio, -1, 1) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0
        with seeded_numpy(zlib.crc32(audio.tobytes()) ^ seed), protocol_resize():
            return module.get_audio_embedding_from_data(x=torch.from_numpy(audio)[None], use_tensor=True)[0].numpy()

    return lambda paths: [one(p) for p in paths]


@contextlib.contextmanager
def hub_offline(hub_dir: Path) -> Iterator[None]:
    """torch.hub reads checkpoints from ``hub_dir/checkpoints`` and may not download."""
    def no_download(url: str, *args: object, **kwargs: object) -> None:
        raise RuntimeError(f"torch.hub tried to download {url}")

    previous, saved = torch.hub.get_dir(), torch.hub.download_url_to_file
    torch.hub.set_dir(str(hub_dir))
    torch.hub.download_url_to_file = no_download
    try:
        yield
    finally:
        torch.hub.set_dir(previous)
        torch.hub.download_url_to_file = saved


def vggish_reference(weights: Path) -> EmbedPaths:
    """frechet-audio-distance's way: torchvggish 0.2's ``vggish(postprocess=False)`` read through its own hub loader
    (the file under its official name, downloads blocked), last ReLU dropped; per file
    ``waveform_to_examples(*soundfile.read(path, dtype='float32'))``, one forward -> ``[n, 128]``."""
    require("vggish", "torchvggish")
    import torchvggish

    hub = Path(tempfile.mkdtemp(prefix="vggish_hub_"))
    (hub / "checkpoints").mkdir()
    (hub / "checkpoints" / weights.name).symlink_to(weights.resolve())
    with hub_offline(hub):
        model = torchvggish.vggish(postprocess=False).eval()
    model.embeddings = torch.nn.Sequential(*list(model.embeddings.children())[:-1])

    @torch.no_grad()
    def one(path: str) -> np.ndarray:
        examples = torchvggish.vggish_input.waveform_to_examples(*sf.read(path, dtype="float32"))
        return model(examples).reshape(len(examples), -1).numpy()

    return lambda paths: [one(p) for p in paths]


def shell_import(dotted: str, shells: tuple[str, ...]) -> types.ModuleType:
    """Import module ``dotted`` of an installed package with the packages ``shells`` (the top one and any
    subpackage on the way) as empty modules over their folders, so that their ``__init__`` (which imports what the
    module does not need) never runs; the module and what it imports are the package's own files."""
    top = importlib.util.find_spec(dotted.split(".")[0])
    for name in shells:
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [os.path.join(top.submodule_search_locations[0], *name.split(".")[1:])]
            if name == top.name:
                package.__spec__, package.__path__ = top, list(top.submodule_search_locations)
            sys.modules[name] = package
    return importlib.import_module(dotted)


def audioldm_eval_module(name: str) -> types.ModuleType:
    """``audioldm_eval.<name>`` without running the package ``__init__`` (it needs ssr_eval and torch.hub)."""
    require("panns", "audioldm_eval")
    return shell_import(f"audioldm_eval.{name}", ("audioldm_eval",))


def audiocraft_kld_module() -> types.ModuleType:
    """audiocraft's ``metrics/kld.py`` (and ``data/audio_utils.py``) without the ``__init__`` of ``audiocraft``,
    ``audiocraft.data`` and ``audiocraft.metrics`` (PyAV, xformers, spaCy: pinned to torch 2.1)."""
    for module in ("audiocraft", "julius", "torchmetrics"):
        require("passt20", module)
    return shell_import("audiocraft.metrics.kld", ("audiocraft", "audiocraft.data", "audiocraft.metrics"))


def passt20_reference(weights: Path) -> EmbedPaths:
    """audiocraft's ``PasstKLDivergenceMetric(pretrained_length=20)._get_label_distribution`` on one file as
    soundfile reads it (``[1, C, T]``, its length and rate) -> ``[n_segments, 527]``; hear21passt's
    ``base20sec.get_basic_model`` gives hear21passt's own 20 s model with ``weights`` (it would download them)."""
    import hear21passt.base20sec

    from metrics.embedding.embedders.passt import build_passt

    kld = audiocraft_kld_module()
    saved = hear21passt.base20sec.get_basic_model
    hear21passt.base20sec.get_basic_model = lambda **kwargs: build_passt(weights, 20)
    try:
        metric = kld.PasstKLDivergenceMetric(pretrained_length=20)
    finally:
        hear21passt.base20sec.get_basic_model = saved

    def one(path: str) -> np.ndarray:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        wav = torch.from_numpy(x.T.copy())[None]
        return metric._get_label_distribution(wav, torch.tensor([wav.shape[-1]]), torch.tensor([sr])).numpy()

    return lambda paths: [one(p) for p in paths]


def aesthetics_reference(weights: Path) -> EmbedPaths:
    """audiobox-aesthetics 0.0.4 ``AesPredictor.forward`` on one file as soundfile reads it (its in-memory form; its
    own reader needs torchcodec) -> ``[4]`` in our axis order (CE, CU, PC, PQ)."""
    require("aesthetics", "audiobox_aesthetics")
    from audiobox_aesthetics.infer import AesPredictor

    from metrics.embedding.embedders import AESTHETICS_AXES

    predictor = AesPredictor(checkpoint_pth=str(weights), batch_size=1)
    predictor.device = torch.device("cpu")
    predictor.model.to("cpu")

    def one(path: str) -> np.ndarray:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        row = predictor.forward([{"path": torch.from_numpy(x.T.copy()), "sample_rate": sr}])[0]
        return np.array([row[a] for a in AESTHETICS_AXES])

    return lambda paths: [one(p) for p in paths]


@contextlib.contextmanager
def torchaudio_load_via_soundfile() -> Iterator[None]:
    """``torchaudio.load`` (``[C, T]`` float32) through libsndfile: torchaudio 2.11's own load needs TorchCodec."""
    import torchaudio

    def load(path: str, *args: object, **kwargs: object) -> tuple[torch.Tensor, int]:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(np.ascontiguousarray(data.T)), sr

    saved, torchaudio.load = torchaudio.load, load
    try:
        yield
    finally:
        torchaudio.load = saved


def panns_reference(weights: Path, sample_rate: int = 16000) -> EmbedPaths:
    """audioldm_eval 0.0.3: ``Cnn14(features_list=['2048', 'logits'])`` reading ``./ckpt/<official name>``,
    ``WaveDataset.read_from_file`` then one forward per file -> ``[2575]`` = [embedding 2048 | logits 527]."""
    from metrics.embedding.embedders.panns import CONFIGS

    load_mel = audioldm_eval_module("datasets.load_mel")
    models = audioldm_eval_module("feature_extractors.panns.models")
    workdir = Path(tempfile.mkdtemp(prefix="panns_ref_"))
    (workdir / "ckpt").mkdir()
    for name in ("Cnn14_16k_mAP=0.438.pth", "Cnn14_mAP=0.431.pth"):  # it runs wget unless the 32 kHz name exists
        (workdir / "ckpt" / name).symlink_to(weights.resolve())
    cfg, cwd = CONFIGS[sample_rate], os.getcwd()
    os.chdir(workdir)
    try:
        model = models.Cnn14(features_list=["2048", "logits"], sample_rate=sample_rate, window_size=cfg.n_fft,
                             hop_size=cfg.hop, mel_bins=cfg.mel_bins, fmin=cfg.fmin, fmax=cfg.fmax,
                             classes_num=cfg.classes).eval()
    finally:
        os.chdir(cwd)

    @torch.no_grad()
    def one(path: str) -> np.ndarray:
        with torchaudio_load_via_soundfile():
            wave = load_mel.WaveDataset(str(Path(path).parent), sample_rate).read_from_file(path)  # [1, T]
        out = model(wave.float())
        return torch.cat([out["2048"][0], out["logits"][0]]).numpy()

    return lambda paths: [one(p) for p in paths]


def msclap_reference_tokenizer(folder: Path | None, kind: str) -> object:
    """The BERT / GPT-2 tokenizer msclap asks ``AutoTokenizer`` for, from a local folder, given back ``encode_plus``
    (transformers 5 dropped it; in 4.x it is ``__call__`` for one text)."""
    from transformers import BertTokenizer, GPT2Tokenizer

    tok = (BertTokenizer if kind == "bert" else GPT2Tokenizer).from_pretrained(str(folder), local_files_only=True)
    if not hasattr(tok, "encode_plus"):
        object.__setattr__(tok, "encode_plus", tok.__call__)
    return tok


@contextlib.contextmanager
def offline_msclap(tokenizer_dir: Path | None, wrapper: str = "msclap.CLAPWrapper",
                   models: str = "msclap.models.clap") -> Iterator[None]:
    """Within the block msclap (or PAM's copy of it: ``wrapper``, ``models``) builds its text model from the
    published BERT / GPT-2 configuration (its weights come from the checkpoint), reads its tokenizer from
    ``tokenizer_dir`` and decodes with soundfile; nothing reaches the network."""
    from metrics.embedding.embedders.msclap import text_model

    def kind(name: str) -> str:
        return "bert" if "bert" in name else "gpt2"

    auto_model = types.SimpleNamespace(from_pretrained=lambda name, *a, **k: text_model(kind(name)))
    auto_tokenizer = types.SimpleNamespace(
        from_pretrained=lambda name, *a, **k: msclap_reference_tokenizer(tokenizer_dir, kind(name)))
    wrapper_module, models_module = importlib.import_module(wrapper), importlib.import_module(models)
    saved = (models_module.AutoModel, wrapper_module.AutoTokenizer)
    models_module.AutoModel, wrapper_module.AutoTokenizer = auto_model, auto_tokenizer
    try:
        with torchaudio_load_via_soundfile():
            yield
    finally:
        models_module.AutoModel, wrapper_module.AutoTokenizer = saved


def msclap_reference(weights: Path, seed: int = 0) -> EmbedPaths:
    """TTA-Bench's way: msclap 1.3.4 ``CLAPWrapper(version='2023').get_audio_embeddings([path])`` one file at a time
    -> ``[1, 1024]``; its random 7 s crop of longer audio drawn after ``random.seed`` of our per-file seed."""
    require("msclap", "msclap")
    import random

    from msclap.CLAPWrapper import CLAPWrapper

    with offline_msclap(gpt2_dir(weights.parent)):
        wrapper = CLAPWrapper(model_fp=str(weights), version="2023")

    @torch.no_grad()
    def one(path: str) -> np.ndarray:
        with offline_msclap(None):
            audio, _ = wrapper.read_audio(path, resample=True)
            random.seed(zlib.crc32(audio.reshape(-1).numpy().tobytes()) ^ seed)
            return wrapper.get_audio_embeddings([path], resample=True).numpy()

    return lambda paths: [one(p) for p in paths]


def openl3_reference(weights: Path) -> EmbedPaths:
    """stable-audio-metrics' batched OpenL3 path with TensorFlow openl3 0.4.2 reading the ``.h5``: per file
    ``librosa.load(sr=None, mono=False)``, peak -1 dBFS, ``soxr.resample`` to 44.1 kHz, L and R (a mono file as both)
    through ``openl3.get_audio_embedding(hop_size=0.5, batch_size=4)``, concatenated -> ``[n, 1024]``."""
    require("openl3", "openl3")
    import librosa
    import openl3
    import soxr

    model = openl3.models.load_audio_embedding_model_from_path(str(weights), "mel256", 512)

    def one(path: str) -> np.ndarray:
        audio, sr = librosa.load(path, sr=None, mono=False)
        audio = np.atleast_2d(audio).T  # [T, C]
        audio = soxr.resample(audio * (10 ** (-1 / 20) / np.abs(audio).max()), sr, SR)
        sides = [audio[:, c] for c in ((0, 1) if audio.shape[1] > 1 else (0, 0))]
        emb = [openl3.get_audio_embedding([x], [SR], model=model, hop_size=0.5, batch_size=4, verbose=False)[0][0]
               for x in sides]
        return np.concatenate(emb, axis=1)

    return lambda paths: [one(p) for p in paths]


def reference_runner(model: str, weights: Path) -> EmbedPaths:
    """The reference path of ``model``, loaded; :class:`ReferenceMissing` when it cannot run here."""
    runners = {"passt": passt_reference, "clap": clap_reference, "vggish": vggish_reference,
               "panns": panns_reference, "openl3": openl3_reference, "passt20": passt20_reference,
               "aesthetics": aesthetics_reference, "msclap": msclap_reference}
    if model not in runners:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    return runners[model](weights)


def reference_outputs(model: str, weights: Path, paths: list[str]) -> list[np.ndarray]:
    """The reference package's outputs for ``paths``, one array per file (shapes as in the module docstring)."""
    return reference_runner(model, weights)(paths)


# ------------------------------------------------------------------------------------------------------------
# Comparison


def max_rel_diff(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - reference| / max |reference| (per-element relative error blows up near zero); inf on a shape
    mismatch."""
    if ours.shape != reference.shape:
        return float("inf")
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@dataclass
class PeerResult:
    """One model's figures: seconds for all ``clips`` per side, agreement, or why the comparison was skipped."""

    model: str
    clips: int
    seconds: float
    ours_load_s: float | None = None
    ours_warmup_s: float | None = None  # the first clip alone, before timing (None: no warm-up)
    ours_s: float | None = None  # embedding all clips, model loaded and warm
    reference_load_s: float | None = None
    reference_warmup_s: float | None = None
    reference_s: float | None = None
    max_rel_diff: float | None = None  # worst file
    spread: float | None = None  # max rel diff between the first two clips' reference outputs (0: degenerate)
    skipped: str | None = None

    def per_clip(self, total: float | None) -> float | None:
        return None if total is None else total / self.clips

    @property
    def ratio(self) -> float | None:
        return None if self.ours_s is None or self.reference_s is None else self.reference_s / self.ours_s


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall-clock seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(model: str, weights: Path, paths: list[str], seconds: float, warmup: bool = True) -> PeerResult:
    """Load and run both sides of ``model`` on ``paths`` (after one untimed run of each on the first clip when
    ``warmup``); a missing reference gives ``skipped`` with the reason."""
    result = PeerResult(model, len(paths), seconds)
    try:
        reference, result.reference_load_s = timed(lambda: reference_runner(model, weights))
    except ReferenceMissing as exc:
        result.skipped = str(exc)
        return result
    ours_run, result.ours_load_s = timed(lambda: our_runner(model, weights))
    if warmup:  # one-time process costs (lazy imports, resampy's numba JIT) are not per-clip costs
        _, result.ours_warmup_s = timed(lambda: ours_run(paths[:1]))
        _, result.reference_warmup_s = timed(lambda: reference(paths[:1]))
    ours, result.ours_s = timed(lambda: ours_run(paths))
    theirs, result.reference_s = timed(lambda: reference(paths))
    result.max_rel_diff = max(max_rel_diff(a, b) for a, b in zip(ours, theirs))
    if len(theirs) > 1:
        result.spread = max_rel_diff(theirs[0], theirs[1]) if theirs[0].shape == theirs[1].shape else float("inf")
    return result


def markdown(results: list[PeerResult]) -> str:
    """The results as a markdown table, one row per model."""
    def fmt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    lines = ["| model | ours s/clip | reference s/clip | ratio reference/ours | max rel diff |",
             "|---|---:|---:|---:|---:|"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.model} | - | - | - | skipped: {r.skipped} |")
            continue
        lines.append(f"| {r.model} | {fmt(r.per_clip(r.ours_s), '.3f')} | {fmt(r.per_clip(r.reference_s), '.3f')} "
                     f"| {fmt(r.ratio, '.2f')} | {fmt(r.max_rel_diff, '.1e')} |")
    return "\n".join(lines) + "\n"


def run(models: list[str], clips: int, seconds: float, out: Path, warmup: bool = True) -> list[PeerResult]:
    """Compare ``models`` on ``clips`` synthetic clips; writes ``out/metric_peers.{json,md}``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="metric_peers_") as tmp:
        paths = write_harmonic_clips(Path(tmp) / "clips", clips, seconds)
        results = []
        for model in models:
            weights = write_weights(model, Path(tmp) / "weights")
            results.append(compare(model, weights, paths, seconds, warmup))
            print(markdown(results[-1:]).splitlines()[-1], flush=True)
    meta = {"clips": clips, "seconds": seconds, "sample_rate": SR, "channels": 2, "device": "cpu",
            "torch_threads": torch.get_num_threads(), "warmup": warmup, "tolerance": TOLERANCE}
    payload = {"meta": meta, "results": [{**asdict(r), "ratio": r.ratio} for r in results]}
    (out / "metric_peers.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "metric_peers.md").write_text(markdown(results))
    return results


@guarded
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metric_peers", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-warmup", action="store_true", help="time the very first run of each side too")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown or args.clips < 1 or args.seconds <= 0:
        parser.error(f"need --clips >= 1, --seconds > 0 and models from {','.join(MODELS)} (got {unknown or models})")
    run(models, args.clips, args.seconds, args.out, warmup=not args.no_warmup)
    print(f"wrote {args.out / 'metric_peers.json'} and {args.out / 'metric_peers.md'}")


if __name__ == "__main__":
    main()
