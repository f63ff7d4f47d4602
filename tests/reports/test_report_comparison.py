"""The comparison section of a report over several runs (metrics.comparison.compare on the runs' results files)."""
from __future__ import annotations

import json

import numpy as np

from reports.html import write_report


def _run(folder, shift, rng):
    per_item = {f"p{i}": 0.3 + shift + 0.05 * rng.normal() for i in range(30)}
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"metrics": {
        "clap": {"value": float(np.mean(list(per_item.values()))), "per_item": per_item,
                 "protocol_metric": {"kind": "clap", "higher_is_better": True}},
        "odd": {"value": 1.0, "per_item": {"p0": 1.0}, "protocol_metric": "not a mapping"}}}))
    return folder


def test_two_runs_get_a_comparison_section(tmp_path):
    rng = np.random.default_rng(0)
    runs = [_run(tmp_path / "base", 0.0, rng), _run(tmp_path / "new", 0.1, rng)]
    page = write_report(runs, tmp_path / "r.html").read_text()
    assert "<h2>Comparison</h2>" in page
    row = page[page.index("<h2>Comparison</h2>"):]
    assert '<td class="l">clap</td><td class="l">base</td><td class="l">new</td>' in row
    assert '<td class="l">new</td></tr>' in row  # new is significantly better on CLAP
    assert "odd (base vs new): unreadable metric entry" in row


def test_one_run_has_no_comparison(tmp_path):
    page = write_report([_run(tmp_path / "only", 0.0, np.random.default_rng(1))], tmp_path / "r.html").read_text()
    assert "<h2>Comparison</h2>" not in page
