"""``python -m benchmarks.gpu``: its CPU smoke runs every case at tiny sizes, and the time boxes hold."""
import json
import time

import pytest

from benchmarks.gpu import __main__ as gpu_main
from benchmarks.gpu.cases import FULL, KINDS, SMOKE, Case, cases
from benchmarks.gpu.environment import check
from benchmarks.gpu.wheels import NEEDED, pinned
from benchmarks.gpu.worker import Worker


def test_cpu_smoke_runs_every_case(tmp_path):
    out = tmp_path / "out"
    assert gpu_main.main(["--device", "cpu", "--budget", "170", "--out", str(out), "--work", str(tmp_path / "w")]) == 0
    data = json.loads((out / "gpu.json").read_text())
    assert [c["name"] for c in data["cases"]] == [c.name for c in cases(SMOKE)]
    for c in data["cases"]:
        if c["kind"] == "peer" and c["status"] == "not run":
            assert "install:" in c["reason"]  # a peer that is not installed says how to install it
        else:
            assert c["status"] == "ok", (c["name"], c["reason"])
    gen = next(c for c in data["cases"] if c["params"].get("preset") == "stable-audio-1.0")
    assert gen["figures"]["steps"] == SMOKE.steps["v"] and gen["figures"]["seconds"] > 0
    table = (out / "gpu.md").read_text()
    assert "| generation stable-audio-open-small b1 bf16 | ok |" in table and "Card:" in table


def test_full_scale_lists_every_gpu_case():
    names = [c.name for c in cases(FULL)]
    for preset in ("stable-audio-1.0", "stable-audio-open-1.0", "stable-audio-open-small"):
        for batch, precision in (("b1", "bf16"), ("b8", "bf16"), ("b1", "tf32"), ("b1", "fp32")):
            assert f"generation {preset} {batch} {precision}" in names
    assert {f"evaluators {p}" for p in FULL.protocols} <= set(names)
    assert names[:3] == [f"generation {p} b1 bf16" for p in ("stable-audio-open-1.0", "stable-audio-1.0",
                                                             "stable-audio-open-small")]


def sleep_case(params, scale, device, work, box_s):
    time.sleep(params["s"])
    if params.get("fail"):
        raise ValueError("told to fail")
    return {"slept": params["s"]}


def test_time_box_stops_a_case_and_the_next_one_runs(tmp_path, monkeypatch):
    monkeypatch.setitem(KINDS, "sleep", f"{__name__}:sleep_case")
    worker = Worker(SMOKE, "cpu", tmp_path)
    try:
        started = time.perf_counter()
        slow = worker.run(Case("slow", "sleep", {"s": 60}, 1), box_s=3)
        assert slow.status == "timed out" and time.perf_counter() - started < 30
        fine = worker.run(Case("fine", "sleep", {"s": 0}, 1), box_s=60)
        assert fine.status == "ok" and fine.figures == {"slept": 0}
        bad = worker.run(Case("bad", "sleep", {"s": 0, "fail": True}, 1), box_s=60)
        assert bad.status == "failed" and "told to fail" in bad.reason
    finally:
        worker.close()


def test_environment_line_names_what_is_missing(monkeypatch):
    from benchmarks.gpu import environment

    monkeypatch.setitem(environment.NEEDED, "no_such_module_here", "a test")
    env = check("cpu")
    assert "missing: no_such_module_here (a test)" in env.line()
    if not __import__("torch").cuda.is_available():
        assert "no CUDA device" in check("cuda").line()


def test_every_travelling_wheel_is_pinned_for_the_image():
    assert len(pinned(list(NEEDED))) == len(NEEDED)
    with pytest.raises(SystemExit, match="not pinned"):
        pinned(["no-such-distribution"])
