"""Every protocol preset end to end, offline, on random-weight evaluators in the official formats (CLI in-process).

Numbers computed with random weights mean nothing; what is checked is that each preset runs all of its metrics,
names every setting in the results file, skips a metric whose weights are missing with the download command, and
embeds each file once per embedder however many metrics read it.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from metrics import protocols
from metrics.__main__ import main
from sa_fixtures.clips import tone, write_wav
from tests.metrics.fadtk_loaders import DAC_INSTALL

N = 10  # audioldm's inception score needs >= 10 files; clips of 2.1 s give 2 VGGish frames (per-song FAD)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol-set")
    rows = []
    for i in range(N):
        for side, shift in (("gen", 0), ("ref", 17)):
            write_wav(root / side / f"id{i}.wav", tone(2.1, 44100, 180 + 45 * i + shift, seed=i))
        rows.append({"id": f"id{i}", "caption": f"a tone number {i}", "seconds": 2.1})
    with open(root / "captions.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "caption", "seconds"])
        w.writeheader()
        w.writerows(rows)
    return root


def args(dataset: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return ["--gen", str(dataset / "gen"), "--ref", str(dataset / "ref"), "--captions", str(dataset / "captions.csv"),
            "--id-col", "id", "--text-col", "caption", "--seconds-col", "seconds", "--weights-dir", str(weights),
            "--cache-dir", "none", "--fd-bootstrap", "0", "--bootstrap", "20", "--no-progress", "--out", str(out),
            *extra]


@pytest.fixture(scope="module")
def clap_family(weights_dir):
    """The session's weights folder with the random-weight MS-CLAP 2023, its GPT-2 tokenizer and fadtk's
    630k-audioset-best.pt added (written on first use: 0.6 GB and 0.7 GB)."""
    from sa_fixtures.random_weights import write_named

    write_named(weights_dir, ["msclap-2023", "gpt2", "clap-630k-audioset"])
    return weights_dir


# mad runs MERT-v1-330M (1.3 GB): its own test below, on shorter clips
@pytest.mark.parametrize("name", [p for p in protocols.PROTOCOLS if p != "mad"])
def test_preset_runs_offline_and_names_every_setting(name, dataset, weights_dir, tmp_path, capsys, request):
    protocol = protocols.get(name)
    if any(m.model == "msclap" for m in protocol.metrics):
        request.getfixturevalue("clap_family")
    # the HTSAT-base CLAP checkpoints of musicgen/audioldm2 are not among the random-weight files: the run takes the
    # default one by hand, which the results must then mark as not comparable to the published numbers
    swapped = protocol.embedder_of("clap") not in ((), protocols.options(checkpoint="630k-audioset-fusion"))
    extra = ["--clap-checkpoint", "630k-audioset-fusion"] if swapped else []
    if any(m.model == "aesthetics" for m in protocol.metrics):  # its 380 MB checkpoint is written only for it
        extra += ["--aesthetics-weights", str(request.getfixturevalue("aesthetics_checkpoint"))]
    if any(m.model == "passt" and m.embedder_options().get("pretrained_length") == 20 for m in protocol.metrics):
        extra += ["--passt-weights", str(request.getfixturevalue("passt20_checkpoint"))]  # audiocraft's 20 s PaSST
    assert main(["all", "--protocol", name, *args(dataset, weights_dir, tmp_path / "r.json", *extra)]) == 0, \
        capsys.readouterr().err
    results = json.loads((tmp_path / "r.json").read_text())
    keys = [m.key for m in protocol.metrics]
    assert results["skipped_metrics"] == {} and list(results["metrics"]) == keys
    assert results["protocol"]["name"] == name and list(results["protocol"]["metrics"]) == keys
    for m in protocol.metrics:
        res, recorded = results["metrics"][m.key], results["protocol"]["metrics"][m.key]
        assert res["value"] is not None and np.isfinite(res["value"])
        assert res["protocol_metric"] == recorded
        assert recorded["kind"] == m.kind and recorded["distance"] == m.distance_options()
        if m.model is not None:
            assert res["settings"], "the embedder's own settings are in the result"
            assert res["dim"] == EXPECTED_DIM[(m.model, m.output)], (m.key, res["output"], res["dim"])
            assert recorded["embedder"] == {**m.embedder_options(), **(
                {"checkpoint": "630k-audioset-fusion"} if swapped and m.model == "clap" else {})}
        assert recorded["comparable_to_published"] is not (swapped and m.model == "clap")
    if name == "fadtk":
        inf = results["metrics"]["fad-inf"]
        assert inf["replace"] is True and "with replacement" in inf["value_is"]
        assert "value_unbiased" in inf and inf["value_unbiased_is"]


def test_missing_weights_skip_with_the_download_command(dataset, tmp_path, capsys):
    # nothing computable: exit 2 with one line, the reasons still written
    assert main(["all", "--protocol", "audioldm", *args(dataset, tmp_path / "empty", tmp_path / "r.json")]) == 2
    assert "no metric could be computed" in capsys.readouterr().err
    skipped = json.loads((tmp_path / "r.json").read_text())["skipped_metrics"]
    assert set(skipped) == {"fd", "kl", "kl_sigmoid", "is", "fad"}
    for key in ("fd", "kl", "kl_sigmoid", "is"):
        assert "python -m metrics.weights download panns-cnn14-16k" in skipped[key]
    assert "python -m metrics.weights download vggish" in skipped["fad"]
    # a single metric asked for is an error naming the file and the command (exit 2, one line)
    assert main(["is", "--protocol", "audioldm", *args(dataset, tmp_path / "empty", tmp_path / "s.json")]) == 2


def test_metrics_on_one_embedder_embed_each_file_once(dataset, weights_dir, tmp_path, monkeypatch):
    from metrics.embedding.embedders.vggish import VGGishEmbedder
    from metrics.run import RunConfig, run

    embedded: list[int] = []
    original = VGGishEmbedder.embed

    def counting(self, prepared):
        embedded.append(len(prepared))
        return original(self, prepared)

    monkeypatch.setattr(VGGishEmbedder, "embed", counting)
    cfg = RunConfig(gen=dataset / "gen", ref=dataset / "ref", protocol="fadtk", weights_dir=weights_dir,
                    cache_dir=None, fd_bootstrap=0, bootstrap=20, progress=False)
    results = run(cfg, strict=True)
    assert set(results["metrics"]) == {"fad", "fad-inf", "fad-indiv", "kad"}
    assert sum(embedded) == 2 * N, "four metrics on VGGish, one forward pass per generated and reference file"


def test_model_by_hand_and_a_kind_outside_the_protocol(dataset, weights_dir, tmp_path):
    # kad is not a stable-audio metric: it runs on the protocol's OpenL3 embedding; --model retargets it
    cache = ["--cache-dir", str(tmp_path / "cache")]  # the OpenL3 outputs of the first run serve the third
    assert main(["kad", *args(dataset, weights_dir, tmp_path / "k.json", *cache)]) == 0
    kad = json.loads((tmp_path / "k.json").read_text())
    assert kad["metrics"]["kad"]["protocol_metric"]["model"] == "openl3"
    assert main(["fd", "--protocol", "musicgen", "--model", "vggish", *args(dataset, weights_dir, tmp_path / "f.json")]
                ) == 0
    fd = json.loads((tmp_path / "f.json").read_text())
    assert list(fd["metrics"]) == ["fad"]  # the protocol's own FD kind; on its own model it stays comparable
    assert fd["metrics"]["fad"]["protocol_metric"]["comparable_to_published"] is True
    assert main(["fd", "--protocol", "musicgen", "--model", "openl3", *args(dataset, weights_dir,
                                                                           tmp_path / "o.json", *cache)]) == 0
    o = json.loads((tmp_path / "o.json").read_text())
    assert o["protocol"]["model_override"] == "openl3"
    assert o["metrics"]["fad"]["protocol_metric"]["comparable_to_published"] is False


# --- every path a user can take computes on the part of the embedding its protocol names -------------------------
# What each metric must read, written here independently of the registry: (model, output part) -> width.
EXPECTED_DIM = {("openl3", "embedding"): 1024, ("vggish", "embedding"): 128, ("panns", "embedding"): 2048,
                ("panns", "logits"): 527, ("clap", "embedding"): 512, ("passt", "probabilities"): 527,
                **{("aesthetics", axis): 1 for axis in ("PQ", "PC", "CE", "CU")},
                ("msclap", "embedding"): 1024, ("clap-laion-audio", "embedding"): 512,
                ("clap-laion-music", "embedding"): 512,
                ("encodec-emb", "embedding"): 128, ("encodec-emb-48k", "embedding"): 128,
                ("dac-44kHz", "embedding"): 1024,
                ("MERT-v1-330M", "embedding"): 1024,
                **{(f"MERT-v1-95M{layer}", "embedding"): 768 for layer in ("", *(f"-{i}" for i in range(1, 12)))},
                # kadtk's: PaSST [logits | 768 features] (527 AudioSet, 20 OpenMIC, 200 FSD50K classes), CNN14 "2048",
                # Wavegram-Logmel-CNN14 "embedding"
                **{(f"passt-base-{s}s", "embedding"): 527 + 768 for s in (10, 20, 30)},
                ("passt-openmic", "embedding"): 20 + 768, ("passt-fsd50k", "embedding"): 200 + 768,
                ("panns-cnn14-16k", "embedding"): 2048, ("panns-cnn14-32k", "embedding"): 2048,
                ("panns-wavegram-logmel", "embedding"): 2048}


def every_plan():
    """Every (protocol, --model, metric choice) the CLI accepts, with the metrics it plans."""
    from metrics.plan import RunConfig, UsageError, plan

    for name in protocols.PROTOCOLS:
        for model in (None, *protocols.EMBEDDING_MODELS):
            for metrics in (None, *((kind,) for kind in protocols.METRIC_KINDS)):
                try:
                    _, specs = plan(RunConfig(gen=Path("."), protocol=name, model=model, metrics=metrics))
                except UsageError:
                    continue  # refused with one line, e.g. `is` on a protocol without a classifier
                yield (name, model, metrics), specs


def test_every_planned_metric_reads_the_part_its_protocol_names():
    from metrics.inputs import output_dim

    seen = set()
    for where, specs in every_plan():
        for spec in specs:
            if spec.model is None:
                continue
            wanted = "logits" if spec.kind == "is" or (spec.kind == "kl" and spec.model == "panns") else (
                "probabilities" if spec.kind == "kl" else "embedding")
            if spec.kind == "aesthetics":  # one axis each: aes_pq reads the PQ column
                wanted = spec.key.removeprefix("aes_").upper()
            if spec.kind == "kl-segments":
                wanted = "probabilities"
            assert spec.output == wanted, (where, spec.key)
            assert output_dim(spec) == EXPECTED_DIM[(spec.model, spec.output)], (where, spec.key)
            seen.add((spec.kind, spec.model))
    embedding_kinds = {(k, m) for k in protocols.EMBEDDING_KINDS for m in protocols.EMBEDDING_MODELS}
    assert embedding_kinds | {("kl", "passt"), ("kl", "panns"), ("is", "panns"), ("clap", "clap"), ("clap", "msclap"),
                              ("pam", "msclap"), ("kl-segments", "passt"), ("aesthetics", "aesthetics"),
                              ("mad", "MERT-v1-330M")} == seen


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


# clap-laion-music is clap-laion-audio's pipeline on the HTSAT-base music checkpoint (the musicgen protocol's CLAP
# file): a 0.9 GB random file and HTSAT-base on 30 ten-second windows would cost minutes here for no other path;
# MERT-v1-95M-<L> differ from MERT-v1-95M by the layer only (every width: the planning test above); MERT-v1-330M runs
# in the mad test; dac-44kHz reads the light random DAC (width 8: the release's 64 on 3 windows of 5 s per 2.1 s file
# cost minutes here; tests/metrics/test_dac.py checks the release width against the package);
# kadtk's other PaSST and PANNs models differ from passt-base-10s / panns-cnn14-16k by their weight file and length, or
# (panns-wavegram-logmel) by a network on the same pipeline (tests/metrics/test_kadtk_models.py runs each against kadtk)
BY_HAND = ("openl3", "vggish", "panns", "clap", "msclap", "clap-laion-audio", "encodec-emb", "encodec-emb-48k",
           "dac-44kHz", "MERT-v1-95M", "MERT-v1-95M-5", "passt-base-10s", "panns-cnn14-16k")
FILES_BY_HAND = {"encodec-emb": "encodec-24khz", "encodec-emb-48k": "encodec-48khz", "dac-44kHz": "dac-44khz",
                 "MERT-v1-95M": "mert-v1-95m", "MERT-v1-95M-5": "mert-v1-95m"}


@pytest.mark.parametrize("model", BY_HAND)
def test_embedding_metrics_by_hand_read_the_models_embedding(model, dataset, clap_family, shared_cache, tmp_path):
    """``all --protocol fadtk --model M``: FD, FAD-inf, per-song FD and KAD each on M's embedding (its width in the
    result, measured on the arrays the metric read). Set-metric intervals around their value are checked on
    VGGish (on 1024-2048 dimensions each replicate costs seconds; the interval itself is tested in
    test_set_intervals.py)."""
    if model in FILES_BY_HAND:  # written into the session's weights folder on first use
        from sa_fixtures.random_weights import write_named

        if model.startswith("encodec"):
            pytest.importorskip("encodec", reason="pip install --no-deps encodec==0.1.1 (writes the .th files)")
        if model.startswith("dac"):
            pytest.importorskip("dac", reason=f"{DAC_INSTALL} (writes the .pth file)")
        write_named(clap_family, [FILES_BY_HAND[model]], light=True)
    out = tmp_path / "r.json"
    boot = "5" if model == "vggish" else "0"
    assert main(["all", "--protocol", "fadtk", "--model", model,
                 *args(dataset, clap_family, out, "--cache-dir", str(shared_cache), "--fd-bootstrap", boot)]) == 0
    results = json.loads(out.read_text())
    if model in ("panns", "clap", "msclap", *protocols.KADTK_MODELS):  # one vector per file (per 7 s clip for
        # MS-CLAP): no file has the 2 frames a per-song FD needs
        assert set(results["skipped_metrics"]) == {"fad-indiv"}
        assert "fewer than 2 frames" in results["skipped_metrics"]["fad-indiv"]
    else:
        assert results["skipped_metrics"] == {}
    assert set(results["metrics"]) | set(results["skipped_metrics"]) == {"fad", "fad-inf", "fad-indiv", "kad"}
    for key, res in results["metrics"].items():
        assert res["output"] == "embedding" and res["dim"] == EXPECTED_DIM[(model, "embedding")], key
        if boot != "0" and key != "fad-indiv":  # set metrics: an interval that holds its own estimate
            lo, hi = res["ci95"]
            assert lo <= res["value"] <= hi and res["ci_replicates"] == 5, key


def test_fd_by_hand_equals_the_preset_that_uses_that_model(dataset, weights_dir, shared_cache, tmp_path):
    """The default protocol's FD moved to PANNs by hand is the audioldm preset's FD_panns, and moved to VGGish the
    fadtk preset's FAD: same number, same width."""
    def fd(*choice: str, key: str) -> dict:
        out = tmp_path / "r.json"
        assert main(["fd", *choice, *args(dataset, weights_dir, out, "--cache-dir", str(shared_cache))]) == 0
        return json.loads(out.read_text())["metrics"][key]

    for model, preset, key in (("panns", "audioldm", "fd"), ("vggish", "fadtk", "fad")):
        by_hand, own = fd("--model", model, key="fd"), fd("--protocol", preset, key=key)
        assert by_hand["value"] == own["value"] and by_hand["dim"] == own["dim"] == EXPECTED_DIM[(model, "embedding")]
        assert by_hand["protocol_metric"]["comparable_to_published"] is False


@pytest.mark.slow  # GB-size random weights: the locked suite only (.ci/run-image: -m "not slow")
def test_mad_preset_runs_and_shares_mert_with_fd(mert_330m, tmp_path, monkeypatch):
    """``--protocol mad``: MAD on MERT-v1-330M against the reference folder; FD asked for beside it reads the same
    embeddings (one forward pass per file for both metrics)."""
    pytest.importorskip("faiss", reason="pip install faiss-cpu (MAUVE's k-means)")
    from metrics.embedding.embedders.mert import MertEmbedder

    for side, shift in (("gen", 0), ("ref", 11)):
        for i in range(5):
            write_wav(tmp_path / side / f"id{i}.wav", tone(0.6, 44100, 200 + 60 * i + shift, seed=i))
    embedded: list[int] = []
    original = MertEmbedder.embed
    monkeypatch.setattr(MertEmbedder, "embed", lambda self, prepared: embedded.append(len(prepared)) or
                        original(self, prepared))
    from metrics.run import RunConfig, run

    cfg = RunConfig(gen=tmp_path / "gen", ref=tmp_path / "ref", protocol="mad", metrics=("mad", "fd"),
                    mert_dir=mert_330m, cache_dir=None, fd_bootstrap=2, progress=False)
    results = run(cfg, strict=True)
    assert set(results["metrics"]) == {"mad", "fd"}
    assert sum(embedded) == 10, "MAD and FD on MERT-v1-330M: one forward pass per generated and reference file"
    out = tmp_path / "r.json"  # and the preset alone from the command line
    assert main(["all", "--protocol", "mad", "--gen", str(tmp_path / "gen"), "--ref", str(tmp_path / "ref"),
                 "--mert-dir", str(mert_330m), "--cache-dir", "none", "--fd-bootstrap", "0", "--no-progress",
                 "--out", str(out)]) == 0
    assert list(json.loads(out.read_text())["metrics"]) == ["mad"]
    res = results["metrics"]["mad"]
    assert np.isfinite(res["value"]) and res["dim"] == 1024 and res["n_files"] == 5 and res["n_ref_files"] == 5
    assert results["metrics"]["fd"]["protocol_metric"]["embedder"] == res["protocol_metric"]["embedder"]
    assert res["protocol_metric"]["reference"].startswith("i-need-sleep/mad")
