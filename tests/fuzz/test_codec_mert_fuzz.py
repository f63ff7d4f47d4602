"""The hostile folder of :mod:`tests.fuzz.test_mixed_folder` through fadtk's codec and MERT embeddings, kadtk's PaSST
and PANNs embeddings and MAD: exit 0, every good file embedded, every bad one listed with its reason, strict JSON, no
traceback on stderr.

One run per evaluator (module fixture, random weights in the official formats): ``all --protocol fadtk --model
encodec-emb-48k`` (the 1 s segments), ``--model MERT-v1-95M``, ``all --protocol mad`` (MERT-v1-330M, MAUVE), and
``kad --protocol fadtk --model dac-44kHz`` (loudness normalisation, 5 s windows every 2.5 s) / ``passt-base-10s``
(every file padded or cut to 10 s) / ``panns-cnn14-16k`` / ``panns-wavegram-logmel`` (unpadded: the 1-sample,
10-sample and 0.1 s files are shorter than CNN14's 0.31 s and the Wavegram's 0.32 s, and listed). KAD only for those
four: the hostile files meet the embedder there, and FD, FAD-inf and per-song FD on 1024-2048 dimensions (a matrix
square root per file and subset) cost minutes for nothing new
(the by-hand runs in tests/metrics/test_protocol_runs.py cover all four on each model).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz import hostile
from tests.fuzz.hostile import AudioSpec
from tests.fuzz.invariants import Sandbox, check_accounted, named_in_skipped
from tests.fuzz.test_mixed_folder import BAD, EDGE, GOOD, LINKS
from tests.metrics.fadtk_loaders import DAC_INSTALL

RUNS = {"encodec-emb-48k": ["all", "--protocol", "fadtk", "--model", "encodec-emb-48k"],
        "dac-44kHz": ["kad", "--protocol", "fadtk", "--model", "dac-44kHz"],
        "MERT-v1-95M": ["all", "--protocol", "fadtk", "--model", "MERT-v1-95M"],
        "passt-base-10s": ["kad", "--protocol", "fadtk", "--model", "passt-base-10s"],
        "panns-cnn14-16k": ["kad", "--protocol", "fadtk", "--model", "panns-cnn14-16k"],
        "panns-wavegram-logmel": ["kad", "--protocol", "fadtk", "--model", "panns-wavegram-logmel"],
        "mad": ["all", "--protocol", "mad"]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """(sandbox, gen, ref) holding the good, bad, edge and link entries of the mixed folder."""
    sb = Sandbox(tmp_path_factory.mktemp("codec-fuzz"))
    gen, ref = sb.inp / "gen", sb.inp / "ref"
    for name, spec in GOOD.items():
        hostile.write_audio(gen / name, spec)
    for name, kind in {**BAD, **EDGE}.items():
        hostile.write_broken(gen, name, kind)
    for name, target in LINKS.items():
        hostile.symlink(gen / name, target if target is not None else gen / "gone.wav")
    (gen / "notes.txt").write_text("not audio\n")
    for k in range(4):
        hostile.write_audio(ref / f"ref{k}.wav", AudioSpec("wav16", 44100, 2, 2 * 44100, "tone", 20 + k))
    return sb, gen, ref


# mad: 1.3 GB of weights; dac-44kHz: about 80 windows of 5 s through the 44.1 kHz encoder (minutes on 2 cores)
@pytest.mark.parametrize("run", [pytest.param(r, marks=pytest.mark.slow) if r == "mad" else r
                                 for r in RUNS])
def test_hostile_folder_is_scored_or_listed(run, folder, weights_dir, request):
    sb, gen, ref = folder
    if run.startswith("encodec"):
        pytest.importorskip("encodec", reason="pip install --no-deps encodec==0.1.1 (writes the .th files)")
    if run.startswith("dac"):
        pytest.importorskip("dac", reason=f"{DAC_INSTALL} (writes the .pth file)")
    if run == "mad":
        pytest.importorskip("faiss", reason="pip install faiss-cpu (MAUVE's k-means)")
    from sa_fixtures.random_weights import write_named

    write_named(weights_dir, {"encodec-emb-48k": ["encodec-48khz"], "dac-44kHz": ["dac-44khz"],
                              "MERT-v1-95M": ["mert-v1-95m"], "passt-base-10s": [], "panns-cnn14-16k": [],
                              "panns-wavegram-logmel": ["panns-wavegram-logmel"], "mad": []}[run], light=True)  # the light DAC: width 8
    mert = ["--mert-dir", request.getfixturevalue("mert_330m")] if run == "mad" else []
    out = sb.out / f"{run}.json"
    o = sb.run("metrics", [*RUNS[run], "--gen", gen, "--ref", ref, "--weights-dir", weights_dir, *mert,
                           "--cache-dir", "none", "--fd-bootstrap", "3", "--no-progress", "--out", out], limit=1200)
    assert o.code == 0, o.describe()
    assert "Traceback" not in o.err, o.err
    results = sb.results(out)
    assert results["skipped_metrics"] == {}, results["skipped_metrics"]
    check_accounted(results, gen, hostile.AUDIO_SUFFIXES)
    for name in GOOD:
        assert not named_in_skipped(results, gen / name), f"{name}: {named_in_skipped(results, gen / name)}"
    for name in [*BAD, *LINKS]:
        assert named_in_skipped(results, gen / name) or Path(name).stem in results["ids"]["without_audio"], \
            f"{name}: not listed with a reason"
