"""One self-contained HTML report for one or more run folders (``results.json`` + ``audio/``).

Only reads run outputs and renders: metric table (value, 95% CI, n) with runs side by side, with several runs their
paired comparison (:mod:`metrics.comparison.compare`, from the results and cached embeddings), skipped metrics and
files with reasons, requested-vs-detected length (the paper's timing figure), per-item score distributions,
spectrograms and audio players for the best and worst items by timing error, and each run's metadata. Images are
inline PNG and audio inline 16-bit WAV, so the file can be mailed, moved or attached as it is. A run's audio is
found through the folders its results name relative to the run folder, so a report can be written from any working
directory. A results file that is not valid JSON or lacks the fields a report needs is a ReportError naming the
file; an audio file that cannot be decoded is shown as such instead of its player.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from sa_util.ids import AUDIO_EXTENSIONS

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


class ReportError(ValueError):
    """A run folder whose results cannot be reported; ``str(err)`` names the file and the problem."""


def load_run(run_dir: Path) -> dict[str, Any]:
    """``run_dir/results.json`` checked for what the report reads (metrics and skipped lists)."""
    path = run_dir / "results.json"
    try:
        r = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a readable results file ({' '.join(str(exc).split())})") from exc
    if not isinstance(r, dict) or not isinstance(r.get("metrics"), dict) or not all(
            isinstance(v, dict) for v in r["metrics"].values()):
        raise ReportError(f"{path}: not a results file (no 'metrics' mapping of metric results)")
    r.setdefault("skipped_metrics", {})
    r.setdefault("skipped_files", [])
    if not isinstance(r["skipped_metrics"], dict) or not isinstance(r["skipped_files"], list):
        raise ReportError(f"{path}: 'skipped_metrics' must be a mapping and 'skipped_files' a list")
    return r


def audio_folder(run_dir: Path, r: dict[str, Any], role: str = "timing") -> Path | None:
    """The folder of a run's audio for ``role`` ("evaluated" or "timing"): as the results name it relative to the
    run folder (absolute paths as they are), else (older results) ``settings.gen`` or the run's ``audio/``."""
    named = (r.get("audio") or {}).get(role) or (r.get("audio") or {}).get("evaluated")
    candidates = [run_dir / named] if named else []
    gen = (r.get("settings") or {}).get("gen")
    if gen:
        candidates += [run_dir / gen, Path(gen)]
    candidates.append(run_dir / "audio")
    return next((c for c in candidates if c.is_dir()), None)


def _player(samples: np.ndarray, sr: int) -> str:
    """``[C, T]`` -> an inline 16-bit WAV player."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(samples.T, -1, 1), sr, format="WAV", subtype="PCM_16")
    return (f'<audio controls preload="none" src="data:audio/wav;base64,'
            f'{base64.b64encode(buf.getvalue()).decode()}"></audio>')


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _fmt(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else (
        f"{v:.4g}" if isinstance(v, float) else html.escape(str(v)))


def _as_published(v: Any) -> str:
    """A published number with the digits its paper printed (108.69 stays 108.69), "–" where it gave none."""
    return "–" if v is None else html.escape(str(v))


def protocol_of(r: dict[str, Any]) -> dict[str, Any]:
    """The run's protocol record (runs written before protocols existed were stable-audio runs)."""
    return r.get("protocol") or {"name": "stable-audio", "published": "stable-audio", "metrics": {}}


def metric_table(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """One table per protocol: its metrics as rows (named as the papers name them), its runs side by side."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for label, r in runs:
        groups.setdefault(protocol_of(r)["name"], []).append((label, r))
    return "".join(_metric_table(name, group) for name, group in groups.items())


def _metric_table(protocol: str, runs: list[tuple[str, dict[str, Any]]]) -> str:
    names = list(dict.fromkeys([m for _, r in runs for m in r["metrics"]] + [m for _, r in runs
                                                                               for m in r["skipped_metrics"]]))
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
        label = next((r["metrics"].get(m, {}).get("label") for _, r in runs if r["metrics"].get(m, {}).get("label")),
                     None)
        shown = f"{m} ({label})" if label and label != m else m
        rows.append(f'<tr><td class="l">{html.escape(shown)}</td>{"".join(cells)}</tr>')
    return (f"<h3>protocol: {html.escape(protocol)}</h3><table><tr><th>metric (value [95% CI] n)</th>{head}</tr>"
            f"{''.join(rows)}</table>")


def published_of(r: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The "protocol" tag of the published rows a run sits beside, and the renames (row column -> the run's metric key)
    where the two name one number differently: as the run's results record them, else, for results written before
    its preset had published rows, as the preset of that name (:data:`metrics.protocols.PROTOCOLS`) has them now."""
    spec = protocol_of(r)
    tag, keys = spec.get("published"), spec.get("published_keys")
    if tag is None:
        from metrics.protocols import PROTOCOLS

        preset = PROTOCOLS.get(str(spec.get("name")))
        if preset is not None and preset.published:
            tag, keys = preset.published, dict(preset.published_keys)
    return tag, dict(keys or {})


def _published_columns(r: dict[str, Any], cols: list[str]) -> list[tuple[dict[str, Any], Any]]:
    """Per published column: the settings of the run's metric that holds it ({} where the run has none) and its
    value (None where the run has none or it is not comparable to published numbers)."""
    keys, specs = published_of(r)[1], protocol_of(r).get("metrics") or {}
    out = []
    for column in cols:
        ours = keys.get(column, column)
        spec = specs.get(ours) or {}
        value = (r["metrics"].get(ours) or {}).get("value") if spec.get("comparable_to_published", True) else None
        out.append((spec, value))
    return out


def published(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """Per (published tag, benchmark): the runs' comparable numbers first, then the published rows of that tag. Rows
    on the run's own benchmark; rows on a prompt set sa-bench does not run (``_benchmarks`` of the table) beside every
    run of the protocol, under a heading that names the set, for scale rather than as a like-for-like comparison.
    A row's note (how its generation or evaluation differs) under its source; the sources of the rows shown below."""
    table = json.loads((Path(__file__).with_name("paper_numbers.json")).read_text())
    outside: dict[str, str] = table.get("_benchmarks", {})
    groups: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for label, r in runs:
        tag, _ = published_of(r)
        if not tag:
            continue
        for bench in dict.fromkeys(([r["benchmark"]] if r.get("benchmark") else []) + list(outside)):
            groups.setdefault((tag, bench), []).append((label, r))
    parts, cited = [], []
    for (tag, bench), group in sorted(groups.items()):
        rows_pub = [p for p in table["rows"] if p["protocol"] == tag and p["benchmark"] == bench]
        if not rows_pub:
            continue
        cited += [p["source"] for p in rows_pub]
        cols = list(dict.fromkeys([k for p in rows_pub for k in p["metrics"]]))
        ours = [(label, _published_columns(r, cols)) for label, r in group]
        labels = [next((c[i][0]["label"] for _, c in ours if c[i][0].get("label")), k) for i, k in enumerate(cols)]
        heads = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
        rows = [f'<tr><td class="l"><b>{html.escape(label)}</b> (this run)</td>'
                + "".join(f"<td>{_fmt(value)}</td>" for _, value in columns) + "<td class='l'>measured here</td></tr>"
                for label, columns in ours]
        rows += [f'<tr><td class="l">{html.escape(p["model"])}</td>'
                 + "".join(f"<td>{_as_published(p['metrics'].get(k))}</td>" for k in cols)
                 + f'<td class="l">{html.escape(p["source"])} ({p["evidence"]})'
                 + (f'<br><small>{html.escape(p["note"])}</small>' if p.get("note") else "") + "</td></tr>"
                 for p in rows_pub]
        where = (f"{html.escape(bench)}: {html.escape(outside[bench])} (a prompt set sa-bench does not run: the "
                 "numbers give scale, not a like-for-like comparison)" if bench in outside else html.escape(bench))
        parts.append(f"<h3>{html.escape(tag)} protocol, {where}</h3><table><tr><th>model</th>{heads}"
                     f"<th>source</th></tr>{''.join(rows)}</table>")
    if not parts:
        return ""
    sources = "".join(f"<li>[{html.escape(t)}] {html.escape(d)}</li>" for t, d in table["_sources"].items()
                      if any(f"[{t}]" in source for source in cited))  # the sources of the rows shown
    return "<h2>Published numbers (same protocol)</h2>" + "".join(parts) + f"<ul>{sources}</ul>"


def timing_figure(runs: list[tuple[str, dict[str, Any]]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    top = 1.0
    for label, r in runs:
        pairs = [(v.get("requested_s"), v.get("detected_s")) for v in _timing_rows(r).values()]
        req = [a for a, b in pairs if _finite(a) and _finite(b)]
        det = [b for a, b in pairs if _finite(a) and _finite(b)]
        if req:
            ax.scatter(req, det, s=12, alpha=0.7, label=label)
            top = max(top, max(req), max(det))
    ax.plot([0, top], [0, top], "k--", lw=1, label="detected = requested")
    ax.set(xlabel="requested seconds_total (s)", ylabel="detected end of audio (s)", title="Timing")
    ax.legend(fontsize=8)
    return _png(fig)


MEASURES = ("error_s", "cents", "balance")  # the measurement a dict per-item entry is plotted by


def distributions(runs: list[tuple[str, dict[str, Any]]]) -> str:
    import matplotlib.pyplot as plt

    figs = []
    for m in sorted({m for _, r in runs for m in r["metrics"]}):
        fig, ax = plt.subplots(figsize=(4, 3))
        drawn = False
        for label, r in runs:
            per = (r["metrics"].get(m) or {}).get("per_item") or {}
            vals = [next((v[k] for k in MEASURES if k in v), None) if isinstance(v, dict) else v for v in per.values()]
            vals = [v for v in vals if isinstance(v, (int, float)) and np.isfinite(v)]
            if vals:
                ax.hist(vals, bins=20, alpha=0.6, label=label)
                drawn = True
        if drawn:
            unit = {"timing": " (error, s)", "pitch": " (cents off)", "position": " (stereo balance)"}.get(m, "")
            ax.set(title=f"{m} per item{unit}")
            ax.legend(fontsize=7)
            figs.append(f"<figure>{_png(fig)}</figure>")
        else:
            plt.close(fig)
    return "".join(figs)


def _timing_rows(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = (r["metrics"].get("timing") or {}).get("per_item") or {}
    return {i: v for i, v in rows.items() if isinstance(v, dict)} if isinstance(rows, dict) else {}


def spectrogram(samples: np.ndarray, sr: int) -> str:
    """``[C, T]`` -> an inline PNG spectrogram of the channel mean."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.specgram(samples.mean(0), NFFT=1024, Fs=sr, noverlap=768, cmap="magma")
    ax.set(xlabel="s", ylabel="Hz")
    return _png(fig)


def _example(path: Path) -> str:
    """Spectrogram and player of one file, or why the file cannot be shown."""
    from sa_util.audio import AudioError, read_audio

    try:
        a = read_audio(path)
    except AudioError as exc:
        return f'<p class="skip">{html.escape(path.name)}: {html.escape(str(exc))}</p>'
    return f"{spectrogram(a.samples, a.sample_rate)}<br>{_player(a.samples, a.sample_rate)}"


def examples(run_dir: Path, r: dict[str, Any], k: int = 3) -> str:
    rows = {i: v for i, v in _timing_rows(r).items()
            if _finite(v.get("error_s")) and _finite(v.get("requested_s")) and _finite(v.get("detected_s"))}
    if not rows:
        return "<p>No timing scores to rank examples by.</p>"
    folder = audio_folder(run_dir, r)
    if folder is None:
        return f"<p>The run's audio folder was not found beside {html.escape(str(run_dir))}.</p>"
    ranked = sorted(rows, key=lambda i: abs(rows[i]["error_s"]))
    captions = {}
    prompts = run_dir / "prompts.csv"
    if prompts.is_file():
        import csv

        with open(prompts, newline="", encoding="utf-8") as f:
            captions = {row.get("id"): row.get("caption") or "" for row in csv.DictReader(f)}
    out = []
    for title, ids in (("best", ranked[:k]), ("worst", ranked[max(k, len(ranked) - k):][::-1])):  # no repeats
        for i in ids:
            path = next((folder / f"{i}{ext}" for ext in AUDIO_EXTENSIONS if (folder / f"{i}{ext}").is_file()), None)
            if path is None:
                continue
            out.append(f"<figure><figcaption>{title}: <b>{html.escape(i)}</b> {html.escape(captions.get(i, ''))}"
                       f" (requested {rows[i]['requested_s']:.2f} s, ends at {rows[i]['detected_s']:.2f} s)"
                       f"</figcaption>{_example(path)}</figure>")
    return "".join(out)


def comparison(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """Paired differences between the runs on their shared prompts (:mod:`metrics.comparison.compare`, set metrics from the
    runs' cached embeddings), one row per metric and pair; the better run where the Holm-adjusted p < 0.05."""
    from metrics.comparison.compare import CompareConfig, Run, compare

    cmp = compare([Run(label, r) for label, r in runs], CompareConfig(n_boot=2000, n_perm=2000, set_replicates=100))
    rows = "".join(
        f'<tr><td class="l">{html.escape(d.metric)}</td><td class="l">{html.escape(d.a)}</td>'
        f'<td class="l">{html.escape(d.b)}</td><td>{_fmt(d.value_a)}</td><td>{_fmt(d.value_b)}</td>'
        f"<td>{_fmt(d.difference)} [{_fmt(d.ci95[0])}, {_fmt(d.ci95[1])}]</td><td>{_fmt(d.p)}</td>"
        f"<td>{_fmt(d.p_holm)}</td><td>{d.n}</td><td>{_fmt(d.mdd80)}</td>"
        f'<td class="l">{html.escape(d.better or "not significant")}</td></tr>' for d in cmp.differences)
    skipped = "".join(f"<li>{html.escape(s['metric'])} ({html.escape(s['a'])} vs {html.escape(s['b'])}): "
                      f"{html.escape(s['reason'])}</li>" for s in cmp.skipped)
    return ("<h2>Comparison</h2><p>B - A on the prompts both runs scored: 95% CI, two-sided p (paired bootstrap and "
            "sign-flip permutation; FD-like metrics recomputed on resampled prompts), Holm-adjusted p over all rows, "
            "and MDD80, the smallest difference these prompts detect with 80% power.</p>"
            "<table><tr><th>metric</th><th>A</th><th>B</th><th>A value</th><th>B value</th><th>B - A [95% CI]</th>"
            f"<th>p</th><th>p (Holm)</th><th>n</th><th>MDD80</th><th>better</th></tr>{rows}</table>"
            + (f"<p>Not compared:</p><ul>{skipped}</ul>" if skipped else ""))


def write_report(run_dirs: list[Path], out: Path) -> Path:
    runs = [(d.name, load_run(d)) for d in run_dirs]
    parts = [f"<h1>sa-bench report</h1><p>{len(runs)} run(s): {', '.join(html.escape(n) for n, _ in runs)}</p>",
             "<h2>Metrics</h2>", metric_table(runs), published(runs)]
    if len(runs) > 1:
        parts.append(comparison(runs))
    for label, r in runs:
        if r["skipped_metrics"]:
            parts.append(f"<h3>{html.escape(label)}: skipped metrics</h3><ul>" + "".join(
                f"<li><b>{html.escape(m)}</b>: {html.escape(str(why))}</li>" for m, why in r["skipped_metrics"].items())
                + "</ul>")
        if r["skipped_files"]:
            parts.append(f"<h3>{html.escape(label)}: skipped files</h3><ul>" + "".join(
                f"<li>{html.escape(str(s.get('metric')))}: {html.escape(Path(str(s.get('file'))).name)}: "
                f"{html.escape(str(s.get('reason')))}</li>" for s in r["skipped_files"] if isinstance(s, dict))
                + "</ul>")
    parts += ["<h2>Timing</h2>", timing_figure(runs), "<h2>Per-item distributions</h2>", distributions(runs)]
    for d, (label, r) in zip(run_dirs, runs):
        parts += [f"<h2>Examples: {html.escape(label)}</h2>", examples(d, r),
                  f"<h2>Run metadata: {html.escape(label)}</h2><pre>" + html.escape(json.dumps(
                      {k: r.get(k) for k in ("benchmark", "created", "git_commit", "checkpoint", "checkpoint_sha256",
                                             "sampler", "seed", "generation", "audio", "environment",
                                             "settings")},
                      indent=2)) + "</pre>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>sa-bench report</title><style>{STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
