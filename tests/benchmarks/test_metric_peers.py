"""benchmarks.metric_peers: our batched evaluators agree with the reference packages' own code paths on two short
stereo 44.1 kHz clips, random weights in the official formats; reference packages absent -> skip with the install
command. The timings are not checked here (``benchmarks/speed/test_metric_peers_speed.py``)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import metric_peers as mp
from sa_fixtures.clips import write_harmonic_clips

PACKAGES = {"passt": "hear21passt", "clap": "laion_clap", "vggish": "torchvggish", "panns": "audioldm_eval",
            "openl3": "openl3"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_harmonic_clips(tmp_path_factory.mktemp("clips"), 2, 2.0)


@pytest.fixture(scope="module")
def weights_folder(weights_dir: Path) -> Path:
    """The session's random-weight files: same official names and seeds as ``mp.write_weights`` writes (nothing
    written twice: each file is 0.3-0.6 GB)."""
    return weights_dir


def needs_reference(model: str) -> None:
    if importlib.util.find_spec(PACKAGES[model]) is None:
        pytest.skip(f"reference package absent: {mp.INSTALL[model]}")


# passt: ~20 s here, see tests/metrics/test_passt.py; openl3 runs where TensorFlow openl3 is installed (mp.INSTALL)
@pytest.mark.parametrize("model", ["vggish", "panns", "clap", "openl3"])
def test_ours_agree_with_the_reference_path(model, clips, weights_folder):
    needs_reference(model)
    result = mp.compare(model, mp.write_weights(model, weights_folder), clips, 2.0, warmup=False)
    assert result.skipped is None
    assert result.max_rel_diff is not None and result.max_rel_diff < mp.TOLERANCE[model], result
    # not vacuous: the two clips give clearly different outputs, far beyond the tolerance
    assert result.spread is not None and result.spread > 10 * mp.TOLERANCE[model], result
    assert result.ours_s > 0 and result.reference_s > 0 and result.ratio is not None


def test_reference_outputs_have_the_documented_shapes(clips, weights_folder):
    needs_reference("vggish")
    needs_reference("panns")
    vggish = mp.reference_outputs("vggish", mp.write_weights("vggish", weights_folder), clips)
    panns = mp.reference_outputs("panns", mp.write_weights("panns", weights_folder), clips)
    assert [v.shape for v in vggish] == [(2, 128)] * 2  # 2 s -> two 0.96 s examples
    assert [p.shape for p in panns] == [(2048 + 527,)] * 2


def test_agreement_measure_catches_a_wrong_output():
    ref = np.array([[1.0, -2.0], [0.5, 4.0]])
    assert mp.max_rel_diff(ref.copy(), ref) == 0.0
    assert mp.max_rel_diff(ref + np.array([[0.0, 0.0], [0.0, 0.04]]), ref) == pytest.approx(0.01)
    assert mp.max_rel_diff(ref[:1], ref) == float("inf")  # a missing frame is no agreement


def test_openl3_without_tensorflow_is_skipped_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openl3" else real(name, *a))
    with pytest.raises(mp.ReferenceMissing, match=r"openl3 not installed: .*tensorflow-cpu==2\.15\.1"):
        mp.reference_runner("openl3", Path("unused"))
    result = mp.compare("openl3", Path("unused"), ["a.wav"], 1.0)
    assert result.skipped and "kapre==0.3.7" in result.skipped and result.ours_s is None


def test_missing_reference_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvggish" else real(name, *a))
    with pytest.raises(mp.ReferenceMissing, match=r"pip install --no-deps torchvggish==0\.2"):
        mp.reference_runner("vggish", Path("unused.pth"))


def test_cli_writes_json_and_markdown(tmp_path, monkeypatch):
    """The CLI on one tiny clip, with the models stubbed (the real ones are compared above)."""
    def fake(model: str, weights: Path, paths: list[str], seconds: float, warmup: bool = True) -> mp.PeerResult:
        if model == "openl3":
            return mp.PeerResult(model, len(paths), seconds, skipped="openl3: no reference")
        return mp.PeerResult(model, len(paths), seconds, ours_s=1.0, reference_s=3.0, max_rel_diff=2e-6)

    monkeypatch.setattr(mp, "compare", fake)
    monkeypatch.setattr(mp, "write_weights", lambda model, folder: folder)
    mp.main(["--clips", "2", "--seconds", "0.5", "--out", str(tmp_path), "--models", "vggish,openl3"])
    data = json.loads((tmp_path / "metric_peers.json").read_text())
    assert [r["model"] for r in data["results"]] == ["vggish", "openl3"]
    assert data["results"][0]["ratio"] == 3.0 and data["meta"]["clips"] == 2
    table = (tmp_path / "metric_peers.md").read_text().splitlines()
    assert table[0] == "| model | ours s/clip | reference s/clip | ratio reference/ours | max rel diff |"
    assert table[2] == "| vggish | 0.500 | 1.500 | 3.00 | 2.0e-06 |"
    assert table[3].startswith("| openl3 | - | - | - | skipped: openl3: no reference")
