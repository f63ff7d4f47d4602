"""Speed suites: collected by plain ``pytest`` but run only with ``pytest --benchmark-only``.

``pytest --benchmark-only`` runs the default selection: every component once, in minutes on 2 cores. The cases in
:data:`HEAVY` (node-id patterns, with why each is heavy) run only with ``SA_BENCH_HEAVY=1`` in the environment.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

HEAVY: dict[str, str] = {
    "*/test_peers_speed.py::*": "builds the 1.06 B-parameter DiT checkpoint and loads it in each peer stack",
    "*/test_compile_speed.py::*compiled*": "torch.compile of every evaluator (minutes of compilation)",
    "*/test_compile_speed.py::*other-layout*": "the layout comparison behind channels-last, a second forward each",
    "*/test_metrics_speed.py::*one_at_a_time*": "the reference's one-clip-at-a-time loop over every clip",
    "*/test_metrics_speed.py::*batched_2_workers*": "the batched run again with two decode workers",
    "*/test_metric_peers_speed.py::*reference*": "the reference packages' own code paths",
    "*/test_metrics_memory.py::*": "a 5-minute file through each evaluator in a fresh process (over 10 min each here)",
    "*/test_compare_speed.py::*": "two 100-file OpenL3 runs before the comparison it times (over 25 min here)",
}
HEAVY_ENV = "SA_BENCH_HEAVY"


def heavy_reason(nodeid: str) -> str | None:
    return next((why for pattern, why in HEAVY.items() if fnmatch.fnmatch(nodeid, pattern)), None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("benchmark_only", default=False):
        skip = pytest.mark.skip(reason="speed suite: run with `pytest --benchmark-only`")
        for item in items:
            if "benchmark" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)
        return
    if os.environ.get(HEAVY_ENV) == "1":
        return
    for item in items:
        why = heavy_reason(item.nodeid)
        if why:
            item.add_marker(pytest.mark.skip(reason=f"heavy ({why}): run with {HEAVY_ENV}=1"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The timed clips (:mod:`benchmarks.speed.clip_set`), written once per module."""
    from benchmarks.speed.clip_set import CLIPS, SECONDS
    from sa_fixtures.clips import write_harmonic_clips

    return write_harmonic_clips(tmp_path_factory.mktemp("clips"), CLIPS, SECONDS)


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the module's random-weight files, each written on first use."""
    return tmp_path_factory.mktemp("weights")
