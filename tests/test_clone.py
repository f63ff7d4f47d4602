"""A clone on its own: the repository's files in a fresh folder with nothing beside it.

There the tests that read data files run and pass without a skip, a skip for missing data fails the run (the rule in
``tests/conftest.py``), and a wheel built from the copy carries the caption benchmarks' prompt lists.
"""
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks.captions import DATA as PROMPT_LISTS

REPO = Path(__file__).resolve().parents[1]
# the repository's top-level entries as git tracks them (every package, data folder and file a clone has)
CONTENTS = sorted({line.split("/", 1)[0] for line in subprocess.run(
    ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()})
# every test that reads a data file and runs in seconds (the MusicCaps runner test reads one too, in minutes)
DATA_TESTS = [
    "tests/sa_core/test_model.py::test_sao_preset_matches_the_released_key_list",
    "tests/sa_core/test_model.py::test_sa1_unet_matches_the_reference_key_list",
    "tests/metrics/test_refstats.py::test_reads_real_stable_audio_metrics_pickle",
    "tests/benchmarks/test_captions.py::test_audiocaps_unavailable_youtube_ids_map_to_caption_ids",
]


@pytest.fixture(scope="module")
def clone(module_tmp: Path) -> Path:
    """The project's files under ``module_tmp/alone/sa-bench``: ``alone`` holds nothing else."""
    dest = module_tmp / "alone" / "sa-bench"
    dest.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in CONTENTS:
        src = REPO / name
        shutil.copytree(src, dest / name, ignore=skip) if src.is_dir() else shutil.copy2(src, dest / name)
    return dest


def run(clone: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, *args], cwd=clone, env=env, capture_output=True, text=True, timeout=600)


def test_no_file_reads_outside_the_repository(clone):
    # the sibling folder by name, or an absolute path of one machine
    outside = re.compile(r'\.\./shared|shared/spec|shared/data|SHARED_DATA|"shared" / |/(?:root|home/[a-z_]\w*|work)/')
    scanned = (".py", ".md", ".toml", ".txt", ".json")
    hits = [f"{path.relative_to(clone)}: {m.group(0)}" for path in clone.rglob("*")
            if path.suffix in scanned and path.is_file() and path.name != Path(__file__).name
            for m in [outside.search(path.read_text(errors="replace"))] if m]
    assert not hits


def test_data_tests_run_in_a_clone_without_a_sibling_folder(clone):
    assert list(clone.parent.iterdir()) == [clone]
    where = run(clone, "-c", "import benchmarks, tests.conftest as c; print(benchmarks.__file__, c.DATA)")
    assert where.returncode == 0 and all(Path(p).is_relative_to(clone) for p in where.stdout.split()), where
    r = run(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *DATA_TESTS)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert f"{len(DATA_TESTS)} passed" in r.stdout and "skipped" not in r.stdout


def test_a_skip_for_missing_data_fails_the_run(clone):
    probe = clone / "tests" / "test_probe_missing_data.py"
    probe.write_text(
        "import pytest\n\nfrom tests.conftest import DATA, needs_data\n\n\n"
        "@needs_data(DATA / 'absent.tsv')\ndef test_marked():\n    pass\n\n\n"
        "def test_skipped_by_hand():\n    pytest.skip('../shared/data not present')\n\n\n"
        "def test_other_skips_stay_skips():\n    pytest.skip('a GPU is present')\n")
    try:
        r = run(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe.relative_to(clone)))
    finally:
        probe.unlink()
    assert r.returncode == 1, r.stdout[-3000:]
    # the marked test fails in its setup (an error), the one skipped by hand in its call
    assert "1 failed, 1 skipped, 1 error" in r.stdout and "missing data: " in r.stdout and "absent.tsv" in r.stdout


def test_a_module_skipped_for_missing_data_is_a_collection_error(clone):
    probe = clone / "tests" / "test_probe_module_skip.py"
    probe.write_text("import pytest\n\npytest.skip('reference statistics not present', allow_module_level=True)\n")
    try:
        r = run(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe.relative_to(clone)))
    finally:
        probe.unlink()
    assert r.returncode == 2 and "1 error" in r.stdout and "not present" in r.stdout, r.stdout[-3000:]


def test_the_wheel_carries_the_prompt_lists(clone, module_tmp):
    out = module_tmp / "wheel"
    r = run(clone, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(out),
            ".")
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("sa_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"benchmarks/data/{p.name}" for p in PROMPT_LISTS.iterdir()}
    assert {"benchmarks/data/README.md", "benchmarks/data/musiccaps-unavailable-ids.txt",
            "benchmarks/data/AUDIOCAPS-LICENSE.txt"} <= shipped <= names
    assert not any(n.startswith("tests/") for n in names)  # test data stays in the repository
