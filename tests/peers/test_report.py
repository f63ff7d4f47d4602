"""The peers table: medians, ratios to ours and the work per step, from a pytest-benchmark JSON."""
from benchmarks.peers.report import table


def bench(stack, median, gflop=None):
    extra = {"stack": stack, **({"gflop_per_step": gflop} if gflop else {})}
    return {"group": "step", "stats": {"median": median}, "extra_info": extra}


def test_table_gives_ratios_to_ours_and_gflop_per_step():
    lines = table({"benchmarks": [bench("ours", 2.0, 136.2), bench("diffusers", 3.0, 151.5), bench("sat", 1.0)]})
    assert lines[0] == "step"
    assert lines[1].split() == ["ours", "2000", "ms", "1.00x", "ours", "136.2", "GFLOP/step"]
    assert lines[2].split()[3:] == ["1.50x", "ours", "151.5", "GFLOP/step"]
    assert lines[3].split()[1:] == ["1000", "ms", "0.50x", "ours"]


def test_table_without_ours_has_no_ratio():
    assert table({"benchmarks": [bench("diffusers", 3.0)]})[1].split()[-1] == "n/a"


def test_interleaved_case_lists_every_stack_inside_it():
    b = {"group": "interleaved", "stats": {"median": 9.0}, "extra_info": {
        "stack": "all", "rounds": 5, "ms_per_step": {"ours": 4000.0, "diffusers": 4400.0},
        "ratio_to_ours": {"ours": 1.0, "diffusers": 1.1}}}
    lines = table({"benchmarks": [b]})
    assert lines[1].split()[:5] == ["ours", "4000", "ms", "1.00x", "ours"]
    assert lines[2].split()[:5] == ["diffusers", "4400", "ms", "1.10x", "ours"] and "interleaved" in lines[2]
