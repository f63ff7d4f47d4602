"""Shared fixtures: random-weight evaluator files in the official formats, and synthetic audio."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenL3 .h5, PaSST .pt, CLAP .pt and a RoBERTa tokenizer folder, random weights, official layouts."""
    from metrics.random_weights import write_all

    folder = tmp_path_factory.mktemp("weights")
    write_all(folder, seed=0)
    return folder


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder for one test module's shared files, removed once the module is done (with
    ``tmp_path_retention_policy = "failed"`` for ``tmp_path``, large weight files never pile up on a small disk)."""
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight ``tiny`` checkpoint folder in our format."""
    import torch

    from sa_core.config import preset
    from sa_core.model import build_model, save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-ckpt")
    save_model(build_model(preset("tiny")), folder)
    return folder


def tone(seconds: float, sr: int = 44100, freq: float = 440.0, channels: int = 2, amp: float = 0.3,
         seed: int = 0) -> np.ndarray:
    """``[T, C]`` float32: a tone plus a little noise (distinct per channel)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    cols = [amp * np.sin(2 * np.pi * freq * (1 + 0.5 * c) * t) + 0.01 * rng.standard_normal(len(t))
            for c in range(channels)]
    return np.stack(cols, 1).astype(np.float32)


def write_wav(path: Path, data: np.ndarray, sr: int = 44100, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype)
    return path
