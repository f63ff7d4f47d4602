"""fadtk 1.1.0's own model loaders and audio path, run offline beside ours (the parity tests of encodec-emb, dac-44kHz
and MERT).

fadtk imports ``hypy_utils`` (pure Python) at import time and loads its models from the internet in ``load_model``;
the tests inject the network instead (the ``encodec`` package's model built from the same ``.th``, transformers'
``HubertModel`` built from the same MERT folder) and run everything else as fadtk wrote it: ``load_audio``'s
conversion, the loader's ``load_wav``, ``get_embedding`` (float16 included) and its FAD statistics.

torchaudio 2.9+ reads and writes files only through torchcodec, which is not installed here; its ``load``/``save``
are replaced by libsndfile calls with the same semantics (float32 in [-1, 1]; PCM_S 16 written with rounding, as
torchcodec's encoder does).
"""
from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

INSTALL = ("pip install --no-deps fadtk==1.1.0 kadtk==1.1.0 hypy_utils encodec==0.1.1 mad-metric==0.0.6 "
           "mauve-text==0.4.0 faiss-cpu")


# descript-audio-codec and descript-audiotools (fadtk's DACModel) without their requirements (audiotools pins
# protobuf<3.20 and pulls in IPython, pystoi, ...); the packages listed after them are what ``import dac`` needs
DAC_INSTALL = ("pip install --no-deps -c constraints.txt descript-audio-codec==1.0.0 descript-audiotools==0.7.2 "
               "argbind==0.3.9 docstring-parser==0.18.0 flatten-dict==0.5.0 ffmpy==1.0.0 importlib-resources==7.1.0 "
               "randomname==0.2.1 pyloudnorm==0.2.0 tensorboard==2.21.0 absl-py==2.5.1")


def need(package: str, version: str | None = None, install: str = INSTALL) -> None:
    """Skip naming the install command when ``package`` (at ``version``) is absent."""
    try:
        found = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{package} not installed ({install})")
    if version is not None and found != version:
        pytest.skip(f"{package} {found} installed, the parity tests are for {version} ({install})")


def _load(path: Any, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, int]:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(data.T.copy()), sr


def _save(path: Any, wav: torch.Tensor, sr: int, encoding: str = "PCM_S", bits_per_sample: int = 16) -> None:
    assert (encoding, bits_per_sample) == ("PCM_S", 16)
    pcm = np.clip(np.round(wav.numpy().T * 32768.0), -32768, 32767).astype(np.int16)
    sf.write(str(path), pcm, sr, subtype="PCM_16")


@pytest.fixture
def fadtk_io(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchaudio

    monkeypatch.setattr(torchaudio, "load", _load)
    monkeypatch.setattr(torchaudio, "save", _save)


def fadtk_embeddings(ml: Any, paths: list[str], workdir: Path) -> dict[str, np.ndarray]:
    """fadtk's ``FrechetAudioDistance.load_audio`` (its ``convert/<sr>/`` cache beside copies of the files) and
    ``ml.get_embedding``, per file; its ``__init__`` is skipped (it would probe SoX and turn autograd off process-wide).
    Needs the :func:`fadtk_io` fixture."""
    need("fadtk", "1.1.0")
    need("hypy_utils")
    from fadtk.fad import FrechetAudioDistance

    fad = object.__new__(FrechetAudioDistance)
    fad.ml = ml
    workdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for p in paths:
        copy = workdir / Path(p).name
        shutil.copy(p, copy)
        with torch.no_grad():
            out[p] = np.asarray(ml.get_embedding(fad.load_audio(copy)), np.float32)
    return out


def fadtk_online_stats(embeddings: list[np.ndarray], folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """fadtk's ``calculate_embd_statistics_online`` over the per-file float16 ``.npy`` files it caches."""
    from fadtk.utils import calculate_embd_statistics_online

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, e in enumerate(embeddings):
        files.append(folder / f"{i:04d}.npy")
        np.save(files[-1], e.astype(np.float16))
    return calculate_embd_statistics_online(files)


class LastStateAfterNorm(torch.nn.Module):
    """A ``HubertModel`` whose last hidden state is its ``last_hidden_state``. transformers >= 5 returns, for the
    pre-norm ("stable layer norm") encoder, the last block's output before the final LayerNorm as
    ``hidden_states[-1]``; transformers 4.x, which MERT's own code (``modeling_MERT.py``) was written against and
    imports its encoder from, returned it after that LayerNorm. For the post-norm encoder both are the same tensor."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.config = model, model.config

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.model(*args, **kwargs)
        if out.hidden_states is not None:
            out.hidden_states = (*out.hidden_states[:-1], out.last_hidden_state)
        return out


def hubert_from_mert_folder(folder: Path) -> torch.nn.Module:
    """transformers' ``HubertModel`` (an implementation independent of ours) with a MERT folder's config and weights
    (the positional conv's weight norm renamed to transformers' parametrization), last hidden state as MERT's code
    returns it (:class:`LastStateAfterNorm`)."""
    from transformers import HubertConfig, HubertModel

    raw = json.loads((folder / "config.json").read_text())
    config = HubertConfig(**{k: v for k, v in raw.items() if k not in ("auto_map", "architectures", "model_type")},
                          conv_pos_batch_norm=False)
    model = HubertModel(config).eval()
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state = {k.replace("weight_g", "parametrizations.weight.original0")
             .replace("weight_v", "parametrizations.weight.original1"): v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return LastStateAfterNorm(model).eval()


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def side_by_side_distances(ours: dict[str, list[np.ndarray]], theirs: dict[str, list[np.ndarray]], workdir: Path,
                           dims: int = 32) -> tuple[float, float, float, float]:
    """(FAD ours, FAD fadtk, KAD ours, KAD kadtk) of the ``evaluated`` against the ``reference`` per-file frames.
    fadtk's FAD: its online statistics of the float16 ``.npy`` files it caches and its ``calc_frechet_distance``, on the
    first ``dims`` dimensions (a few hundred frames give a singular full covariance); ours: pooled statistics and
    :func:`metrics.scores.distances.frechet_distance`. KAD on every dimension: kadtk's ``calc_kernel_audio_distance``
    (float32, as kadtk runs it) against :func:`metrics.scores.distances.kernel_audio_distance`."""
    from fadtk.fad import calc_frechet_distance

    from metrics.scores.distances import frechet_distance, kernel_audio_distance
    from metrics.scores.evaluate import gaussian_stats
    from tests.metrics.test_distances_fadtk import reference_source

    d = slice(0, dims)
    mu_e, cov_e = fadtk_online_stats([t[:, d] for t in theirs["evaluated"]], workdir / "stats-evaluated")
    mu_r, cov_r = fadtk_online_stats([t[:, d] for t in theirs["reference"]], workdir / "stats-reference")
    fad_theirs = float(calc_frechet_distance(mu_r, cov_r, mu_e, cov_e))
    se, sr = (gaussian_stats([o[:, d] for o in ours[name]]) for name in ("evaluated", "reference"))
    fad_ours = frechet_distance(se.mean, se.cov, sr.mean, sr.cov)
    kadtk = reference_source("kadtk", "kad.py", {"calc_kernel_audio_distance", "median_pairwise_distance",
                                                 "SCALE_FACTOR"}, {"torch": torch, "np": np, "Path": Path})
    ref, ev = (torch.from_numpy(np.concatenate(theirs[n])) for n in ("reference", "evaluated"))
    kad_theirs = float(kadtk["calc_kernel_audio_distance"](ref, ev, (None, None), "cpu"))
    kad_ours = kernel_audio_distance(np.concatenate(ours["reference"]), np.concatenate(ours["evaluated"]))
    return fad_ours, fad_theirs, kad_ours, kad_theirs


def write_clip_sets(folder: Path, clips: list[tuple[float, int, int]], base_hz: float,
                    pitch: dict[str, float]) -> dict[str, list[str]]:
    """Per set name, tones of the (seconds, rate, channels) ``clips`` in ``folder / name``: clip i at
    ``base_hz * pitch[name] * (1 + (i % 5) / 4)``, so the sets differ by their pitch factor."""
    from sa_fixtures.clips import tone, write_wav

    return {name: [str(write_wav(folder / name / f"{i}.wav", tone(s, sr, base_hz * factor * (1 + (i % 5) / 4), ch,
                                                                  seed=i + int(10 * factor)), sr))
                   for i, (s, sr, ch) in enumerate(clips)] for name, factor in pitch.items()}


def embed_side_by_side(ours: Any, ml: Any, clips: dict[str, list[str]], workdir: Path
                       ) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """Per set, our embedder's frames (``embed_files``, files batched) and fadtk's loader's, file by file; asserts
    every file agrees within 2e-3 of its largest value (both are float16-rounded: one rounding step may flip)."""
    from metrics.embedding.pipeline import embed_files

    assert ours.name == ml.name  # fadtk's names: the keys of its statistics files
    mine, theirs = {}, {}
    for name, paths in clips.items():
        result = embed_files(ours, paths, workers=0, files_per_batch=4)
        assert not result.skipped
        mine[name] = [result.outputs[p] for p in paths]
        fadtk_out = fadtk_embeddings(ml, paths, workdir / name)
        theirs[name] = [fadtk_out[p] for p in paths]
        for u, v in zip(mine[name], theirs[name]):
            assert u.shape == v.shape and max_rel(u, v) < 2e-3
    return mine, theirs
