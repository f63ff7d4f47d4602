"""Shared fixtures: random-weight evaluator files in the official formats and a tiny checkpoint (the synthetic audio
and the weight writers live in :mod:`sa_fixtures`); the data rule.

Every file a test reads lives in the repository: ``tests/data`` (the released key lists, a reference pickle) or the
package's own data (``benchmarks/data``, ``metrics/files/data``). A test that reads one is marked :func:`needs_data`, the
only allowed way to skip on data, and a skip for missing data fails the run instead (the hook below): a clone that
lacks a file must not pass by skipping the tests that read it.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
MISSING_DATA = "missing data"  # the reason prefix of needs_data's skips
# skip reasons that mean "a data file is absent", whichever way a test skipped
DATA_SKIP = re.compile(rf"{MISSING_DATA}|not present|\bshared\b", re.IGNORECASE)


def needs_data(*paths: Path) -> pytest.MarkDecorator:
    """Marks a test that reads ``paths``; a missing one is reported as a failure naming it, never as a skip."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    return pytest.mark.skipif(bool(missing), reason=f"{MISSING_DATA}: {', '.join(missing)}")


def fail_data_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """A skip for missing data becomes a failure with the skip's reason."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if DATA_SKIP.search(reason):
            report.outcome = "failed"
            report.longrepr = f"skipped for data the repository ships, so a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    fail_data_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A whole module skipped for missing data is a collection error."""
    outcome = yield
    fail_data_skip(outcome.get_result())


def _sqrtm_taking_disp(sqrtm):
    """``scipy.linalg.sqrtm`` that also takes ``disp`` (scipy < 1.18's signature): ``disp=False`` returns
    ``(sqrtm, errest)`` with scipy's own estimate ``||X X - A||_F^2 / ||A||_F``."""
    import numpy as np

    def wrapped(a, disp=True, blocksize=64):
        x = sqrtm(a)
        if disp:
            return x
        a = np.asarray(a)
        return x, np.linalg.norm(x @ x - a, "fro") ** 2 / np.linalg.norm(a, "fro")

    return wrapped


@pytest.fixture(scope="session", autouse=True)
def reference_scipy_sqrtm() -> Iterator[None]:
    """The reference packages (fadtk, kadtk, audioldm_eval, clean-fid) call ``scipy.linalg.sqrtm(..., disp=False)``;
    scipy 1.18 removed ``disp`` (the image environment has it), so there the references get scipy's old signature
    back. Nothing of ours passes ``disp``."""
    import inspect

    import scipy.linalg

    original = scipy.linalg.sqrtm
    if "disp" in inspect.signature(original).parameters:
        yield
        return
    scipy.linalg.sqrtm = _sqrtm_taking_disp(original)
    try:
        yield
    finally:
        scipy.linalg.sqrtm = original


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenL3 .h5, PaSST .pt, CLAP .pt and a RoBERTa tokenizer folder, random weights, official layouts."""
    from sa_fixtures.random_weights import write_all

    folder = tmp_path_factory.mktemp("weights")
    write_all(folder, seed=0)
    return folder


@pytest.fixture(scope="session")
def aesthetics_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Audiobox Aesthetics ``checkpoint.pt`` (official layout, 380 MB: written only where used)."""
    from sa_fixtures.random_weights import write_aesthetics_pt

    return write_aesthetics_pt(tmp_path_factory.mktemp("aesthetics") / "checkpoint.pt")


@pytest.fixture(scope="session")
def passt20_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight PaSST-S 20 s state dict (audiocraft's KL model; 345 MB: written only where used)."""
    from sa_fixtures.random_weights import write_passt_pt

    path = tmp_path_factory.mktemp("passt20") / "passt-s-f128-20sec-p16-s10-ap.474-swa.pt"
    write_passt_pt(path, seed=3, pretrained_length=20)
    return path


@pytest.fixture(scope="session")
def mert_95m(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight MERT-v1-95M hub folder (``config.json``, ``preprocessor_config.json``, ``pytorch_model.bin``)."""
    from sa_fixtures.random_weights import write_named

    return write_named(tmp_path_factory.mktemp("mert-95m"), ["mert-v1-95m"])["mert-v1-95m"]


@pytest.fixture(scope="session")
def mert_330m(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A random-weight MERT-v1-330M hub folder (1.3 GB), written once per session and removed after it."""
    from sa_fixtures.random_weights import write_named

    folder = tmp_path_factory.mktemp("mert-330m")
    yield write_named(folder, ["mert-v1-330m"])["mert-v1-330m"]
    shutil.rmtree(folder, ignore_errors=True)


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
