"""``--compile``: the measured evaluators run through torch.compile with outputs equal to eager at the fp32 rounding
level, cached apart from eager outputs and recorded in the results; any other evaluator stays eager."""
import json

import numpy as np
import pytest

from metrics.__main__ import main
from metrics.embedding import compiled
from metrics.embedding.cache import EmbeddingCache
from metrics.embedding.embedders import build
from metrics.embedding.pipeline import embed_files
import metrics.run
from sa_fixtures.clips import tone, write_wav


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("compile-clips")
    for i in range(2):  # short mono clips: OpenL3 costs ~0.5 s per one-second window on a CPU core
        write_wav(root / "gen" / f"id{i}.wav", tone(1.2, 44100, 220 + 60 * i, channels=1, seed=i))
        write_wav(root / "ref" / f"id{i}.wav", tone(1.2, 44100, 250 + 60 * i, channels=1, seed=10 + i))
    return root


def test_compiled_openl3_equals_eager_to_rounding_and_caches_apart(clips, weights_dir, tmp_path):
    assert "openl3" in compiled.COMPILE_MEASURED
    cache = EmbeddingCache(tmp_path / "cache")
    paths = sorted(str(p) for p in (clips / "gen").glob("*.wav"))
    runs = {}
    for flag in (False, True, False):
        emb = build("openl3", weights_dir / "openl3_audio_mel256_music.h5", content_type="music")
        emb.compiled = flag
        runs.setdefault(flag, []).append((emb, embed_files(emb, paths, cache=cache, workers=0)))
    eager, compiled_run = runs[False][0][1], runs[True][0][1]
    assert compiled_run.cache_hits == 0 and runs[False][1][1].cache_hits == len(paths)  # never mixed with eager
    assert type(runs[True][0][0].load()).__name__ == "OptimizedModule"
    for p in paths:
        a, b = eager.outputs[p], compiled_run.outputs[p]
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(a).max()


def test_compile_flag_is_recorded_and_unmeasured_evaluators_stay_eager(clips, weights_dir, tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(metrics.run, "COMPILE_MEASURED", {})  # here: no evaluator measured, so nothing compiles
    args = ["fd", "--protocol", "audioldm", "--model", "vggish", "--gen", str(clips / "gen"), "--ref",
            str(clips / "ref"), "--weights-dir", str(weights_dir), "--cache-dir", "none", "--fd-bootstrap", "0",
            "--no-progress", "--compile", "--out", str(tmp_path / "r.json")]
    assert main(args) == 0, capsys.readouterr()
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["settings"]["compile"] is True and r["metrics"]["fd"]["compiled"] is False
    assert not any("compile" in d for d in r["protocol"]["metrics"]["fd"]["deviations"])  # rounding, no deviation


def test_a_compiled_run_prints_nothing_on_stderr(clips, weights_dir, tmp_path, capfd):
    """``--compile`` on a CPU-only machine: inductor's toolchain probe ("No CUDA runtime is found") stays off
    stderr, where a run's error must be the only line."""
    args = ["kl", "--protocol", "audioldm", "--gen", str(clips / "gen"), "--ref", str(clips / "ref"),
            "--weights-dir", str(weights_dir), "--cache-dir", "none", "--no-progress", "--compile",
            "--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert capfd.readouterr().err == ""
    assert json.loads((tmp_path / "r.json").read_text())["metrics"]["kl"]["compiled"] is True
