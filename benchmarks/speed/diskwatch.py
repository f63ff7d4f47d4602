"""A pytest plugin that logs the disk's used space after every test, to find what fills a small CI disk.

``python -m pytest -q -p benchmarks.speed.diskwatch`` appends ``seconds<TAB>used GiB<TAB>test id`` lines to
``$SA_BENCH_DISKWATCH`` (default ``diskwatch.tsv``); the growth of a run is the last used figure minus the first.
"""
from __future__ import annotations

import os
import shutil
import time

_START = time.time()


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    used = shutil.disk_usage("/").used / 2**30
    with open(os.environ.get("SA_BENCH_DISKWATCH", "diskwatch.tsv"), "a") as log:
        log.write(f"{time.time() - _START:.0f}\t{used:.3f}\t{nodeid}\n")
