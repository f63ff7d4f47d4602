"""Speed and memory suites (pytest-benchmark; ``pytest --benchmark-only``), kept apart from the runners: the test
modules, their conftest (the :data:`~benchmarks.speed.conftest.HEAVY` cases), the peak-memory probe they use
(``python -m benchmarks.speed.peak_rss``) and a disk-logging plugin (``pytest -p benchmarks.speed.diskwatch``)."""
