"""Fixtures of the fuzz suite (the evaluator weights and tiny checkpoint come from tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parent of the per-example sandboxes (hypothesis examples cannot use the function-scoped tmp_path)."""
    return tmp_path_factory.mktemp("fuzz")


def pytest_configure(config: pytest.Config) -> None:
    """Give the watchdog the terminal's stderr (pytest captures fd 2 while tests run), so that a run stuck in C
    code is reported where it can be seen before the process ends."""
    import os

    from tests.fuzz import invariants

    capman = config.pluginmanager.getplugin("capturemanager")
    err = getattr(getattr(capman, "_global_capturing", None), "err", None)
    fd = getattr(err, "targetfd_save", None)
    if isinstance(fd, int):
        invariants.HANG_STREAM = os.fdopen(os.dup(fd), "w", buffering=1)
