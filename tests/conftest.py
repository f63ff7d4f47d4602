"""Shared fixtures: random-weight evaluator files in the official formats and a tiny checkpoint (the synthetic audio
and the weight writers live in :mod:`sa_fixtures`)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenL3 .h5, PaSST .pt, CLAP .pt and a RoBERTa tokenizer folder, random weights, official layouts."""
    from sa_fixtures.random_weights import write_all

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
