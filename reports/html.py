"""One self-contained HTML report for one or more run folders (``results.json`` + ``audio/``).

Only reads run outputs and renders: metric table (value, 95% CI, n) with runs side by side, skipped metrics and
files with reasons, requested-vs-detected length (the paper's timing figure), per-item score distributions,
spectrograms and audio players for the best and worst items by timing error, and each run's metadata. Images are
inline PNG and audio inline 16-bit WAV, so the file can be mailed or attached as it is.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td.l{text-align:left}
img{max-width:100%}figure{display:inline-block;margin:0.5em}.skip{color:#a33}pre{background:#f7f7f7;padding:1em;
overflow-x:auto;font-size:0.8em}"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _wav(path: Path) -> str:
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.clip(data, -1, 1), sr, format="WAV", subtype="PCM_16")
    return (f'<audio controls preload="none" src="data:audio/wav;base64,'
            f'{base64.b64encode(buf.getvalue()).decode()}"></audio>')


def _fmt(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else (
        f"{v:.4g}" if isinstance(v, float) else html.escape(str(v)))


def metric_table(runs: list[tuple[str, dict[str, Any]]]) -> str:
    names = sorted({m for _, r in runs for m in r["metrics"]} | {m for _, r in runs for m in r["skipped_metrics"]})
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in runs)
    rows = []
    for m in names:
        cells = []
        for _, r in runs:
            res = r["metrics"].get(m)
            if res is None:
                why = r["skipped_metrics"].get(m, "not run")
                cells.append(f'<td class="l skip" title="{html.escape(why)}">skipped</td>')
                continue
            ci = res.get("ci95") or [None, None]
            chance = f" (chance {_fmt(res['chance'])})" if "chance" in res else ""
            within = ("; within ±0.5 s: " + _fmt(res["within_0.5s"]) + ", ±1 s: " + _fmt(res.get("within_1s"))
                      if "within_0.5s" in res else "")  # timing: value is the MAE in seconds
            cells.append(f"<td>{_fmt(res.get('value'))} [{_fmt(ci[0])}, {_fmt(ci[1])}] "
                         f"n={_fmt(res.get('n', res.get('n_files')))}{chance}{within}</td>")
        rows.append(f'<tr><td class="l">{html.escape(m)}</td>{"".join(cells)}</tr>')
    return f"<table><tr><th>metric (value [95% CI] n)</th>{head}</tr>{''.join(rows)}</table>"


def published(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """The papers' numbers for the runs' benchmarks, with each run's own values as the first rows."""
    table = json.loads((Path(__file__).with_name("paper_numbers.json")).read_text())
    parts = []
    for bench in sorted({r.get("benchmark") for _, r in runs} & set(table)):
        ours = [(label, r["metrics"]) for label, r in runs if r.get("benchmark") == bench]
        rows = [f'<tr><td class="l"><b>{html.escape(label)}</b> (this run)</td>'
                + "".join(f"<td>{_fmt((m.get(k) or {}).get('value'))}</td>" for k in ("fd", "kl", "clap"))
                + "<td class='l'>measured here</td></tr>" for label, m in ours]
        rows += [f'<tr><td class="l">{html.escape(p["model"])}</td><td>{p["fd"]}</td><td>{p["kl"]}</td>'
                 f'<td>{p["clap"]}</td><td class="l">{html.escape(p["source"])}</td></tr>' for p in table[bench]]
        parts.append(f"<h3>{html.escape(bench)}</h3><table><tr><th>model</th><th>FD_openl3 ↓</th><th>KL_passt ↓</th>"
                     f"<th>CLAP ↑</th><th>source</th></tr>{''.join(rows)}</table>")
    if not parts:
        return ""
    return "<h2>Published numbers</h2><p>" + html.escape(table["_source"]) + "</p>" + "".join(parts)


def timing_figure(runs: list[tuple[str, dict[str, Any]]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    top = 1.0
    for label, r in runs:
        rows = (r["metrics"].get("timing") or {}).get("per_item") or {}
        req = [v["requested_s"] for v in rows.values()]
        det = [v["detected_s"] for v in rows.values()]
        if req:
            ax.scatter(req, det, s=12, alpha=0.7, label=label)
            top = max(top, max(req), max(det))
    ax.plot([0, top], [0, top], "k--", lw=1, label="detected = requested")
    ax.set(xlabel="requested seconds_total (s)", ylabel="detected end of audio (s)", title="Timing")
    ax.legend(fontsize=8)
    return _png(fig)


def distributions(runs: list[tuple[str, dict[str, Any]]]) -> str:
    import matplotlib.pyplot as plt

    figs = []
    for m in sorted({m for _, r in runs for m in r["metrics"]}):
        fig, ax = plt.subplots(figsize=(4, 3))
        drawn = False
        for label, r in runs:
            per = (r["metrics"].get(m) or {}).get("per_item") or {}
            vals = [v["error_s"] if isinstance(v, dict) and "error_s" in v else v for v in per.values()]
            vals = [v for v in vals if isinstance(v, (int, float)) and np.isfinite(v)]
            if vals:
                ax.hist(vals, bins=20, alpha=0.6, label=label)
                drawn = True
        if drawn:
            ax.set(title=f"{m} per item" + (" (error, s)" if m == "timing" else ""))
            ax.legend(fontsize=7)
            figs.append(f"<figure>{_png(fig)}</figure>")
        else:
            plt.close(fig)
    return "".join(figs)


def spectrogram(path: Path) -> str:
    import matplotlib.pyplot as plt
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.specgram(data.mean(1), NFFT=1024, Fs=sr, noverlap=768, cmap="magma")
    ax.set(xlabel="s", ylabel="Hz")
    return _png(fig)


def examples(run_dir: Path, r: dict[str, Any], k: int = 3) -> str:
    rows = (r["metrics"].get("timing") or {}).get("per_item") or {}
    if not rows:
        return "<p>No timing scores to rank examples by.</p>"
    ranked = sorted(rows, key=lambda i: abs(rows[i]["error_s"]))
    captions = {}
    prompts = run_dir / "prompts.csv"
    if prompts.is_file():
        import csv

        with open(prompts, newline="") as f:
            captions = {row["id"]: row["caption"] for row in csv.DictReader(f)}
    out = []
    for title, ids in (("best", ranked[:k]), ("worst", ranked[-k:][::-1])):
        for i in ids:
            path = Path(r["settings"]["gen"]) / f"{i}.wav"
            if not path.is_file():
                continue
            out.append(f"<figure><figcaption>{title}: <b>{html.escape(i)}</b> {html.escape(captions.get(i, ''))}"
                       f" (requested {rows[i]['requested_s']:.2f} s, ends at {rows[i]['detected_s']:.2f} s)"
                       f"</figcaption>{spectrogram(path)}<br>{_wav(path)}</figure>")
    return "".join(out)


def write_report(run_dirs: list[Path], out: Path) -> Path:
    runs = [(d.name, json.loads((d / "results.json").read_text())) for d in run_dirs]
    parts = [f"<h1>sa-bench report</h1><p>{len(runs)} run(s): {', '.join(html.escape(n) for n, _ in runs)}</p>",
             "<h2>Metrics</h2>", metric_table(runs), published(runs)]
    for label, r in runs:
        if r["skipped_metrics"]:
            parts.append(f"<h3>{html.escape(label)}: skipped metrics</h3><ul>" + "".join(
                f"<li><b>{html.escape(m)}</b>: {html.escape(why)}</li>" for m, why in r["skipped_metrics"].items())
                + "</ul>")
        if r["skipped_files"]:
            parts.append(f"<h3>{html.escape(label)}: skipped files</h3><ul>" + "".join(
                f"<li>{html.escape(s['metric'])}: {html.escape(Path(s['file']).name)}: {html.escape(s['reason'])}"
                "</li>" for s in r["skipped_files"]) + "</ul>")
    parts += ["<h2>Timing</h2>", timing_figure(runs), "<h2>Per-item distributions</h2>", distributions(runs)]
    for d, (label, r) in zip(run_dirs, runs):
        parts += [f"<h2>Examples: {html.escape(label)}</h2>", examples(d, r),
                  f"<h2>Run metadata: {html.escape(label)}</h2><pre>" + html.escape(json.dumps(
                      {k: r.get(k) for k in ("benchmark", "created", "git_commit", "checkpoint", "checkpoint_sha256",
                                             "sampler", "seed", "generation", "environment", "settings")},
                      indent=2)) + "</pre>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>sa-bench report</title><style>{STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
