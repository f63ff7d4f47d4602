"""The protocol presets as data: consistent, complete in what they record, and tied to the published numbers."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from metrics import protocols as P

NUMBERS = json.loads((Path(__file__).parents[2] / "reports" / "paper_numbers.json").read_text())


@pytest.mark.parametrize("name", list(P.PROTOCOLS))
def test_presets_are_consistent(name):
    protocol = P.get(name)
    assert protocol.name == name
    assert protocol.metrics, "a protocol names at least one metric"
    for m in protocol.metrics:
        assert m.kind in P.METRIC_KINDS
        assert (m.model is None) == (m.kind == "timing")
        assert m.label and m.reference, f"{name}.{m.key} must say what it is and what it mirrors"
    assert protocol.default_model in P.EMBEDDING_MODELS
    P.shared_embedders(protocol)  # one set of options per embedder: one forward pass per file per embedder


@pytest.mark.parametrize("name", list(P.PROTOCOLS))
def test_settings_name_every_setting_and_are_json(name):
    protocol = P.get(name)
    settings = json.loads(json.dumps(protocol.settings()))
    assert settings["name"] == name and settings["source"]
    assert list(settings["metrics"]) == [m.key for m in protocol.metrics]
    for m in protocol.metrics:
        s = settings["metrics"][m.key]
        assert set(s) >= {"kind", "model", "embedder", "distance", "reference", "deviations",
                          "comparable_to_published"}
        # the distance options are complete: the kind's defaults, overridden by the protocol's own
        assert set(dict(P.DISTANCE_DEFAULTS[m.kind])) <= set(s["distance"])
        assert all(s["distance"][k] == v for k, v in m.distance)
        assert s["embedder"] == dict(m.embedder)


def test_presets_follow_their_references():
    # facts read from the reference code (metrics/protocols.py docstring lists where)
    sa = P.get("stable-audio")
    assert [(m.key, m.model) for m in sa.metrics] == [("fd", "openl3"), ("kl", "passt"), ("clap", "clap"),
                                                       ("timing", None)]
    assert sa.metric("kl").distance_options()["direction"] == "gen||ref"
    mg = P.get("musicgen")
    assert (mg.metric("fad").kind, mg.metric("fad").model) == ("fd", "vggish")
    assert mg.metric("kl").distance_options()["direction"] == "ref||gen"
    assert mg.metric("clap").embedder_options() == {"checkpoint": "music-audioset"}
    assert any("torchvggish" in d for d in mg.metric("fad").deviations), "the TF-vs-torch VGGish gap is stated"
    ldm = P.get("audioldm")
    assert {m.key: m.model for m in ldm.metrics} == {"fd": "panns", "kl": "panns", "kl_sigmoid": "panns",
                                                     "is": "panns", "fad": "vggish"}
    assert ldm.metric("kl_sigmoid").distance_options()["activation"] == "sigmoid"
    assert ldm.metric("is").distance_options()["splits"] == 10
    assert P.get("audioldm2").metric("clap").embedder_options() == {"checkpoint": "music-speech-audioset"}
    assert {m.kind for m in P.get("fadtk").metrics} == {"fd", "fad-inf", "fd-per-song", "kad"}


def test_select_uses_the_protocols_own_metric_or_a_generic_one_on_the_same_embedder():
    mg = P.get("musicgen")
    assert [m.key for m in mg.select(["fd"])] == ["fad"]
    sa = P.get("stable-audio").with_embedder_options("openl3", content_type="env")
    kad, = sa.select(["kad"])
    assert (kad.key, kad.model) == ("kad", "openl3")
    assert kad.embedder == sa.metric("fd").embedder, "kad must read the FD embeddings from the cache"
    assert kad.distance_options()["scale"] == 100.0
    with pytest.raises(ValueError, match="unknown metric"):
        sa.select(["fid"])
    with pytest.raises(ValueError, match="protocol"):
        P.get("fadtk").select(["kl"])  # a classifier metric needs a protocol that defines it


def test_with_model_retargets_only_embedding_distances():
    mg = P.get("musicgen").with_model("openl3")
    assert mg.model_override == "openl3" and mg.default_model == "openl3"
    fad = mg.metric("fad")
    assert fad.model == "openl3" and not fad.comparable
    assert fad.embedder == P.EMBEDDING_DEFAULTS["openl3"]
    assert any("by hand" in d for d in fad.deviations)
    assert mg.metric("kl") == P.get("musicgen").metric("kl")
    assert mg.metric("clap") == P.get("musicgen").metric("clap")
    # a model the protocol already runs keeps that embedder's options (shared cache)
    ldm = P.get("audioldm").with_model("vggish")
    assert ldm.metric("fd").embedder == ldm.metric("fad").embedder
    assert "output" not in dict(ldm.metric("fd").distance), "PANNs' '2048' output does not apply to VGGish"
    P.shared_embedders(ldm)
    assert P.get("stable-audio").with_model("openl3").metric("fd").comparable, "same model: unchanged"
    with pytest.raises(ValueError, match="--model"):
        P.get("stable-audio").with_model("passt")


def test_unknown_protocol_lists_the_choices():
    with pytest.raises(ValueError, match="stable-audio"):
        P.get("no-such-protocol")


def test_specs_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.get("musicgen").metrics[0].model = "openl3"  # type: ignore[misc]
    spec = P.MetricSpec("fd", "fd", "openl3", "FD")
    with pytest.raises(ValueError, match="duplicate"):
        P.Protocol("x", "x", "x", (spec, spec), "openl3", None)
    with pytest.raises(ValueError, match="does not fit"):
        P.Protocol("x", "x", "x", (P.MetricSpec("t", "timing", "openl3", "t"),), "openl3", None)
    with pytest.raises(ValueError, match="published_keys"):
        P.Protocol("x", "x", "x", (spec,), "openl3", "musicgen", published_keys=P.options(kl="kld_pq"))


def test_published_rows_use_the_protocols_metric_keys():
    rows = NUMBERS["rows"]
    assert {r["protocol"] for r in rows} == {p.published for p in P.PROTOCOLS.values() if p.published}
    outside = NUMBERS["_benchmarks"]
    assert outside and not set(outside) & set(P.BENCHMARKS), "a prompt set sa-bench runs is matched by its name"
    for r in rows:
        # every preset set beside these rows holds each of their columns, under its own key where it renames one
        for protocol in (p for p in P.PROTOCOLS.values() if p.published == r["protocol"]):
            keys = {m.key for m in protocol.metrics}
            ours = {dict(protocol.published_keys).get(k, k) for k in r["metrics"]}
            assert r["metrics"] and ours <= keys, f"{protocol.name}, {r['model']}: {ours - keys}"
        assert r["benchmark"] in P.BENCHMARKS or r["benchmark"] in outside
        assert r["evidence"] in ("primary", "secondary")
        assert isinstance(r.get("note", ""), str)
        tags = [t for t in NUMBERS["_sources"] if f"[{t}]" in r["source"]]
        assert tags, f"{r['model']}: source {r['source']!r} names no tag of _sources"
        assert all(isinstance(v, float | int) and math.isfinite(v) and v >= 0
                   for v in [*r["metrics"].values(), *r.get("other", {}).values()])


def test_report_sets_a_run_beside_the_published_rows_of_its_protocol():
    from reports.html import metric_table, published

    def run(protocol, **over):
        p = P.get(protocol).with_model(over["model"]) if "model" in over else P.get(protocol)
        metrics = {m.key: {"value": 1.2345, "label": m.label, "n": 3} for m in p.metrics}
        return {"benchmark": "musiccaps", "protocol": p.settings(), "metrics": metrics, "skipped_metrics": {}}

    page = published([("ours", run("musicgen"))])
    assert "musicgen protocol, musiccaps" in page and "MusicGen 1.5B (paper)" in page and "FAD_vggish" in page
    assert "1.234" in page and "AudioLDM2-48kHz" not in page, "only rows of the run's own protocol"
    hand = published([("ours", run("musicgen", model="openl3"))])
    assert "1.234</td><td>1.234" in hand, "KL and CLAP still beside the papers' numbers"
    assert "<td>–</td><td>1.234" in hand, "an FD on a hand-chosen model is not set beside the paper's FAD"
    tables = metric_table([("a", run("stable-audio")), ("b", run("audioldm"))])
    assert "protocol: stable-audio" in tables and "protocol: audioldm" in tables
    assert "fd (FD_panns)" in tables and "fd (FD_openl3)" in tables


def test_report_sets_the_new_presets_beside_their_published_rows():
    from reports.html import published

    def run(protocol, benchmark=None, record=None):
        p = P.get(protocol)
        metrics = {m.key: {"value": 21.5 + i, "label": m.label, "n": 3} for i, m in enumerate(p.metrics)}
        r = {"protocol": {**p.settings(), **(record or {})}, "metrics": metrics, "skipped_metrics": {}}
        return {**r, "benchmark": benchmark} if benchmark else r

    # audiocraft: the MusicGen / MAGNeT / JASCO rows, its kld_pq in their KL column, kld_qp (published nowhere) left out
    page = published([("ours", run("audiocraft", "musiccaps"))])
    assert "musicgen protocol, musiccaps" in page and "facebook/magnet-small-10secs (released)" in page
    assert "<th>FAD_vggish</th><th>KL_passt (kld_pq)</th><th>CLAP_score</th>" in page
    assert "(this run)</td><td>21.5</td><td>22.5</td><td>24.5</td>" in page and "23.5" not in page
    assert "text only (temporal controls dropped)" in page and "audiogen-medium" not in page, "AudioCaps rows apart"
    assert "tta-bench" not in page and "AudioLDM2-48kHz" not in page, "only rows of the run's own protocol"
    page = published([("ours", run("musicgen", "audiocaps"))])  # a row's note (here: a 10 s PaSST KL) under its source
    assert "facebook/audiogen-medium (released)</td><td>1.77</td><td>0.3</td>" in page
    assert "<small>audiocraft&#x27;s AudioCaps evaluation" in page and "pretrained_length 10" in page
    # tta-bench: runs on no benchmark sa-bench runs, so the rows on TTA-Bench's and YuE's prompt sets are shown for
    # scale, under a heading that says so; results written while the preset had no rows (published null) too
    for record in (None, {"published": None}):
        page = published([("ours", run("tta-bench", record=record))])
        assert "tta-bench protocol, tta-bench-accuracy: TTA-Bench accuracy prompts" in page
        assert "tta-bench protocol, tta-bench-generalization" in page and "wildsongbench" in page
        assert "not a like-for-like comparison" in page and "[P-TTAB]" in page and "[P-YUE2]" in page
        assert "<th>AES CE (content enjoyment)</th>" in page and "<th>CLAP_score (MS-CLAP 2023)</th>" in page
        assert "Tango 2 (full)</td><td>3.47</td><td>5.2</td><td>3.84</td><td>5.89</td><td>0.46</td>" in page
        # one column per published key, the run's aesthetics in the same order (ce cu pc pq), its CLAP last
        assert "(this run)</td><td>23.5</td><td>24.5</td><td>22.5</td><td>21.5</td><td>25.5</td>" in page
        assert "YuE2 (best-of-8)</td><td>8.2714</td>" in page, "WildSongBench reports AudioBox PQ only"
    assert published([("ours", run("mad")), ("other", run("fadtk", "musiccaps"))]) == "", "no rows: no section"


def test_clap_choice_moves_every_clap_reader_and_marks_it():
    from metrics.embedding.embedders import CLAP_CHECKPOINTS, clap_name
    from metrics.plan import RunConfig, plan

    _, specs = plan(RunConfig(gen=Path("."), metrics=("clap", "pam", "fd"), clap_checkpoint="ms-clap-2022"))
    by_key = {s.key: s for s in specs}
    for key in ("clap", "pam"):
        assert by_key[key].model == "msclap" and by_key[key].embedder_options()["version"] == "2022"
        assert not by_key[key].comparable and "ms-clap-2022" in by_key[key].deviations[-1]
    assert by_key["fd"].model == "openl3" and by_key["fd"].comparable  # not a CLAP: untouched
    _, same = plan(RunConfig(gen=Path("."), protocol="musicgen", clap_checkpoint="music-audioset"))
    assert same == P.MUSICGEN.metrics  # the protocol's own checkpoint: nothing changes
    _, pam = plan(RunConfig(gen=Path("."), protocol="pam", clap_checkpoint="ms-clap-2023"))
    assert pam == P.PAM.metrics and len({s.embedder for s in pam}) == 1  # one embedder: one forward per file
    for name, checkpoint in CLAP_CHECKPOINTS.items():  # every name maps back to itself
        assert clap_name(checkpoint.model, checkpoint.options(name)) == name


def test_protocols_command_lists_every_preset_with_its_metrics(capsys):
    import json

    from metrics.__main__ import main
    from metrics.protocols import PROTOCOLS

    assert main(["protocols"]) == 0
    text = capsys.readouterr().out
    for name, p in PROTOCOLS.items():
        assert f"\n{name}" in f"\n{text}" and all(f"  {m.key}: {m.label}" in text for m in p.metrics)
    assert main(["protocols", "fadtk", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == ["fadtk"] and listed["fadtk"] == json.loads(json.dumps(PROTOCOLS["fadtk"].settings()))
    assert main(["protocols", "no-such-preset"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
