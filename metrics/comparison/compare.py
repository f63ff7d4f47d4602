"""Is B better than A? Paired comparisons of results files on the prompt ids they share.

For every metric two runs both have, the difference B - A, its 95% CI and a two-sided p-value, paired by prompt id:

* **Per-item metrics** (KL, CLAP, timing, FD per song, any runner's per-item scores whose mean is the metric's
  value): d_i = b_i - a_i over the shared ids; the difference is mean(d), the CI a percentile bootstrap of the mean
  over ids, the p-value a sign-flip permutation test (under "A and B are exchangeable on every prompt" each d_i is
  as likely negated; exact up to Monte Carlo error, no normality assumed). Timing gives three numbers: its value
  (mean |error|) and the fractions within 0.5 s and 1 s.
* **Set metrics** (FD, KAD, FAD-inf, IS, MAD: one number for a whole set of files): recomputed from the runs' cached
  embeddings (:mod:`metrics.embedding.embedding_record`) against the same fixed reference. CI: resample the shared ids jointly
  (the same resample for both systems) and take B - A on each replicate. p-value: permutation test that swaps the
  two systems' files of a prompt at random, which keeps the pairing and is exact under the same null.

p-values are Holm-adjusted over every test of one comparison (every metric, and with three or more runs every
pair), so "significant" (adjusted p < alpha) controls the chance of any false claim at alpha. "Better" reads each
metric's direction (``higher_is_better`` of its protocol entry; lower for distances and errors). With three or more
runs each metric gets a ranking by value, with the runs each one is significantly better than.

Limits: the comparison holds for these prompts and these generation seeds; a set metric's CI treats the reference
as fixed; paired tests need the same prompt ids (only shared ids count, and how many is reported).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from metrics.embedding import embedding_record
from metrics.scores.distances import ReferenceGaussian, fad_inf, inception_score, kernel_audio_distance
from metrics.scores.evaluate import WeightedFD
from metrics.scores.mauve import MauveSettings, mad, max_pool
from metrics.scores.stats import (bootstrap_indices, holm, minimum_detectable, percentile_interval, permutation_pvalue,
                                  sign_flips)

SetStatistic = Callable[[list[np.ndarray], np.ndarray], np.ndarray]  # (files, weights [R, n]) -> values [R]


@dataclass(frozen=True)
class CompareConfig:
    n_boot: int = 10000  # paired bootstrap replicates (per-item metrics)
    n_perm: int = 10000  # sign-flip permutations (per-item metrics)
    set_replicates: int = 200  # bootstrap and permutation replicates each (set metrics: each one recomputes it)
    seed: int = 0
    alpha: float = 0.05  # family-wise error rate of the Holm-adjusted tests
    metrics: tuple[str, ...] | None = None  # compare only these names (as in the table); None: all shared


@dataclass
class Run:
    label: str
    results: dict[str, Any]


@dataclass
class Difference:
    """One metric, run B against run A, on ``n`` shared prompt ids."""

    metric: str
    a: str
    b: str
    n: int
    value_a: float  # the metric of A on the shared ids
    value_b: float
    difference: float  # B - A
    ci95: tuple[float, float]
    p: float
    sd: float  # SD of the per-item differences (per-item) or of the replicated difference (set): sizes the study
    test: str
    higher_is_better: bool | None
    p_holm: float = math.nan
    better: str | None = None  # label of the significantly better run, if any
    mdd80: float = math.nan  # smallest difference these n prompts detect with 80% power at alpha 0.05


@dataclass
class Comparison:
    runs: list[str]
    config: CompareConfig
    differences: list[Difference] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"a", "b", "metric", "reason"}
    ranking: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"tool": "sa-bench compare", "runs": self.runs, "settings": asdict(self.config),
                "differences": [asdict(d) for d in self.differences], "skipped": self.skipped,
                "ranking": self.ranking}


# --- the math: pure functions of arrays ------------------------------------------------------------------------
def paired_items(a: np.ndarray, b: np.ndarray, n_boot: int, n_perm: int, seed: int = 0,
                 chunk: int = 1000) -> tuple[float, tuple[float, float], float, float]:
    """Paired test of per-item scores ``a``, ``b`` ``[N]`` (same items, same order).

    Returns (mean(b - a), percentile-bootstrap 95% CI of it, sign-flip permutation p, SD of b - a).
    Replicates are drawn in chunks of ``chunk`` so memory stays ``chunk x N``.
    """
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)  # [N]
    boots, null = [], []
    for start in range(0, n_boot, chunk):
        idx = bootstrap_indices(len(d), min(chunk, n_boot - start), seed + start)  # [r, N]
        boots.append(d[idx].mean(1))
    for start in range(0, n_perm, chunk):
        null.append((sign_flips(len(d), min(chunk, n_perm - start), seed + 1 + start) * d).mean(1))
    observed = float(d.mean())
    sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
    return (observed, percentile_interval(np.concatenate(boots) if boots else np.array([])),
            permutation_pvalue(observed, np.concatenate(null) if null else np.array([])), sd)


def paired_sets(stat: SetStatistic, files_a: list[np.ndarray], files_b: list[np.ndarray], replicates: int,
                seed: int = 0) -> tuple[float, float, tuple[float, float], float, float]:
    """Paired test of a set statistic over two systems' per-prompt outputs (same prompts, same order, ``n`` each).

    Bootstrap: one resample of prompts ``[R, n]`` counts for both systems, B - A per replicate. Permutation: per
    prompt, swap which system's file goes to which set with probability 1/2 (weights over the ``2n`` files of
    A then B). Returns (value A, value B, 95% CI of B - A, permutation p, SD of the bootstrap differences).
    """
    n = len(files_a)
    ones = np.ones((1, n))
    value_a, value_b = float(stat(files_a, ones)[0]), float(stat(files_b, ones)[0])
    counts = np.stack([np.bincount(i, minlength=n) for i in bootstrap_indices(n, replicates, seed)])  # [R, n]
    boot = stat(files_b, counts) - stat(files_a, counts)  # [R]
    swap = np.random.default_rng(seed + 1).integers(0, 2, size=(replicates, n)).astype(np.float64)  # [R, n]
    both = files_a + files_b
    null = stat(both, np.hstack([swap, 1 - swap])) - stat(both, np.hstack([1 - swap, swap]))  # B' - A'
    diff = value_b - value_a
    return value_a, value_b, percentile_interval(boot), permutation_pvalue(diff, null), float(np.std(boot, ddof=1))


def _repeated(files: list[np.ndarray], row: np.ndarray) -> np.ndarray:
    """The frames of ``files`` with file i repeated ``row[i]`` times ``[sum_i row_i * n_i, D]``."""
    return np.concatenate([f for f, k in zip(files, row.astype(int)) for _ in range(k)])


def _per_row(value: Callable[[np.ndarray], float]) -> SetStatistic:
    return lambda files, weights: np.array([value(_repeated(files, row)) for row in weights])


# --- set metrics: kind -> statistic over weighted files, built from the inputs and the metric's settings --------
def _fd(inputs: embedding_record.SetInputs, options: dict[str, Any]) -> SetStatistic:
    ref = ReferenceGaussian.from_stats(*inputs.gaussian())  # sigma_ref^(1/2) once for every call
    return lambda files, weights: WeightedFD(files, ref).many(weights)


def _kad(inputs: embedding_record.SetInputs, options: dict[str, Any]) -> SetStatistic:
    ref = inputs.ref_frames
    if ref is None:
        raise embedding_record.EmbeddingsGone("KAD needs the reference frames, which the results file does not name")
    return _per_row(lambda y: kernel_audio_distance(ref, y, bandwidth=options.get("bandwidth"),
                                                    kernel=options.get("kernel", "gaussian")))


def _fad_inf(inputs: embedding_record.SetInputs, options: dict[str, Any]) -> SetStatistic:
    mu, sigma = inputs.gaussian()
    kw = {k: options[k] for k in ("seed", "steps", "min_n", "replace") if k in options}
    return _per_row(lambda y: fad_inf(y, mu, sigma, **kw)["value"])


def _is(inputs: embedding_record.SetInputs, options: dict[str, Any]) -> SetStatistic:
    return _per_row(lambda y: inception_score(y, splits=options.get("splits", 10),
                                              seed=options.get("shuffle_seed", 2020)).mean)


def _mad(inputs: embedding_record.SetInputs, options: dict[str, Any]) -> SetStatistic:
    """MAD over weighted files: each file max-pooled to one vector first (a file counted k times is k rows)."""
    if inputs.ref_files is None:
        raise embedding_record.EmbeddingsGone("MAD needs the reference files, which the results file does not name")
    ref = np.stack([max_pool(b) for b in inputs.ref_files])  # [N_ref, D]
    settings = MauveSettings.from_options(options)

    def stat(files: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        pooled = [max_pool(f)[None] for f in files]  # [1, D] each
        return np.array([mad(_repeated(pooled, row), ref, settings) for row in weights])
    return stat


SET_STATISTICS: dict[str, Callable[[embedding_record.SetInputs, dict[str, Any]], SetStatistic]] = {
    "fd": _fd, "kad": _kad, "fad-inf": _fad_inf, "is": _is, "mad": _mad}
assert set(SET_STATISTICS) == set(embedding_record.SET_KINDS)


# --- per-item metrics: what one result's per_item holds, as named score columns ---------------------------------
def _generic_view(key: str, result: dict[str, Any], hib: bool | None) -> dict[str, tuple[dict[str, float], bool | None]]:
    return {key: ({i: float(v) for i, v in result["per_item"].items() if _number(v)}, hib)}


def _timing_view(key: str, result: dict[str, Any], hib: bool | None) -> dict[str, tuple[dict[str, float], bool | None]]:
    """mean |error| (the timing value, lower is better) and the within-0.5 s / 1 s fractions (higher is better)."""
    err = {i: abs(float(r["error_s"])) for i, r in result["per_item"].items()
           if isinstance(r, dict) and _number(r.get("error_s"))}
    return {key: (err, False),
            f"{key}/within_0.5s": ({i: float(e <= 0.5) for i, e in err.items()}, True),
            f"{key}/within_1s": ({i: float(e <= 1.0) for i, e in err.items()}, True)}


def _hit_view(key: str, result: dict[str, Any], hib: bool | None) -> dict[str, tuple[dict[str, float], bool | None]]:
    """Accuracies whose per-item entries carry a 0/1 ``hit`` beside the measurement (SynthCaps pitch, position)."""
    return {key: ({i: float(r["hit"]) for i, r in result["per_item"].items()
                   if isinstance(r, dict) and _number(r.get("hit"))}, True if hib is None else hib)}


ITEM_VIEWS: dict[str, Callable[[str, dict[str, Any], bool | None], dict[str, tuple[dict[str, float], bool | None]]]] = {
    "timing": _timing_view, "pitch": _hit_view, "position": _hit_view}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def kind_of(key: str, result: dict[str, Any]) -> str:
    return (result.get("protocol_metric") or {}).get("kind") or key


def direction(results: dict[str, Any], key: str) -> bool | None:
    """``higher_is_better`` of metric ``key`` as the results file records it; None where it does not."""
    res = results["metrics"].get(key) or {}
    for source in (res.get("protocol_metric"), ((results.get("protocol") or {}).get("metrics") or {}).get(key)):
        if isinstance(source, dict) and isinstance(source.get("higher_is_better"), bool):
            return source["higher_is_better"]
    return None


def item_columns(results: dict[str, Any], key: str) -> dict[str, tuple[dict[str, float], bool | None]]:
    """Named per-item score columns of metric ``key`` (empty if it has none that average to its value)."""
    res = results["metrics"][key]
    if not isinstance(res.get("per_item"), dict) or not res["per_item"]:
        return {}
    view = ITEM_VIEWS.get(kind_of(key, res), _generic_view)
    columns = view(key, res, direction(results, key))
    main = columns.get(key, ({}, None))[0]
    value = res.get("value")
    if not main or not _number(value) or not math.isclose(np.mean(list(main.values())), value, rel_tol=1e-6,
                                                          abs_tol=1e-9):
        return {}  # per-item numbers that are not the items of the value (e.g. cents behind a hit rate)
    return columns


# --- comparing runs -------------------------------------------------------------------------------------------
def compare_pair(a: Run, b: Run, cfg: CompareConfig) -> tuple[list[Difference], list[dict[str, str]]]:
    """Every metric both runs have, B against A (unadjusted p; :func:`compare` adjusts over the family)."""
    diffs, skipped = [], []
    for key in [k for k in a.results["metrics"] if k in b.results["metrics"]]:
        res_a = a.results["metrics"][key]
        try:
            if kind_of(key, res_a) in SET_STATISTICS:
                if _wanted(cfg, key):
                    diffs.append(_set_difference(key, a, b, cfg))
                continue
            cols_a, cols_b = item_columns(a.results, key), item_columns(b.results, key)
            if not cols_a or not cols_b:
                raise ValueError("no per-item scores whose mean is the metric's value")
            for name in [n for n in cols_a if n in cols_b and _wanted(cfg, n)]:
                diffs.append(_item_difference(name, cols_a[name], cols_b[name], a.label, b.label, cfg))
        except ValueError as exc:  # EmbeddingsGone included: say why, keep the other metrics
            skipped.append({"a": a.label, "b": b.label, "metric": key, "reason": str(exc)})
        except (TypeError, KeyError, AttributeError) as exc:  # a hand-edited or foreign results entry
            skipped.append({"a": a.label, "b": b.label, "metric": key,
                            "reason": f"unreadable metric entry ({type(exc).__name__}: {exc})"})
    return diffs, skipped


def _wanted(cfg: CompareConfig, name: str) -> bool:
    return cfg.metrics is None or name in cfg.metrics


def _item_difference(name: str, col_a: tuple[dict[str, float], bool | None], col_b: tuple[dict[str, float], bool | None],
                     label_a: str, label_b: str, cfg: CompareConfig) -> Difference:
    (sa, hib), (sb, _) = col_a, col_b
    ids = sorted(set(sa) & set(sb))
    if len(ids) < 2:
        raise ValueError(f"{name}: {len(ids)} shared prompt ids with scores (need 2)")
    a, b = np.array([sa[i] for i in ids]), np.array([sb[i] for i in ids])
    diff, ci, p, sd = paired_items(a, b, cfg.n_boot, cfg.n_perm, cfg.seed)
    return Difference(name, label_a, label_b, len(ids), float(a.mean()), float(b.mean()), diff, ci, p, sd,
                      "paired bootstrap CI, sign-flip permutation p", hib,
                      mdd80=minimum_detectable(sd / math.sqrt(len(ids))))


def _set_difference(key: str, a: Run, b: Run, cfg: CompareConfig) -> Difference:
    res_a, res_b = a.results["metrics"][key], b.results["metrics"][key]
    rec_a, rec_b = res_a.get("embeddings"), res_b.get("embeddings")
    in_a = embedding_record.load(rec_a, f"{key} of {a.label}")
    in_b = embedding_record.load(rec_b, f"{key} of {b.label}")
    if (rec_a or {}).get("reference") != (rec_b or {}).get("reference") or rec_a["cache_key"] != rec_b["cache_key"]:
        raise ValueError(f"{key}: the two runs used different references or embedder settings")
    ids = sorted(set(in_a.gen) & set(in_b.gen))
    if len(ids) < 2:
        raise ValueError(f"{key}: {len(ids)} shared prompt ids with cached embeddings (need 2)")
    options = ((res_a.get("protocol_metric") or {}).get("distance")) or {}
    stat = SET_STATISTICS[kind_of(key, res_a)](in_a, options)
    va, vb, ci, p, sd = paired_sets(stat, [in_a.gen[i] for i in ids], [in_b.gen[i] for i in ids],
                                    cfg.set_replicates, cfg.seed)
    return Difference(key, a.label, b.label, len(ids), va, vb, vb - va, ci, p, sd,
                      "joint prompt bootstrap CI, paired swap permutation p (recomputed from cached embeddings)",
                      direction(a.results, key), mdd80=minimum_detectable(sd))


def compare(runs: list[Run], cfg: CompareConfig) -> Comparison:
    """Every pair (the first run against each later one for two runs; all pairs for more), Holm over the whole
    family, the better run per significant difference, and with three or more runs a ranking per metric."""
    out = Comparison([r.label for r in runs], cfg)
    for a, b in itertools.combinations(runs, 2):
        diffs, skipped = compare_pair(a, b, cfg)
        out.differences += diffs
        out.skipped += skipped
    for d, p_adj in zip(out.differences, holm([d.p for d in out.differences])):
        d.p_holm = p_adj
        if p_adj < cfg.alpha and d.higher_is_better is not None and d.difference != 0:
            d.better = d.b if (d.difference > 0) == d.higher_is_better else d.a
    if len(runs) >= 3:
        out.ranking = ranking(out.differences)
    return out


def ranking(differences: list[Difference]) -> dict[str, list[dict[str, Any]]]:
    """Per metric: runs from best to worst by their value (on each pair's shared ids, averaged over pairs), each
    with the runs it is significantly better than (Holm-adjusted)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for metric in dict.fromkeys(d.metric for d in differences):
        ds = [d for d in differences if d.metric == metric]
        values: dict[str, list[float]] = {}
        for d in ds:
            values.setdefault(d.a, []).append(d.value_a)
            values.setdefault(d.b, []).append(d.value_b)
        hib = ds[0].higher_is_better
        order = sorted(values, key=lambda r: float(np.mean(values[r])), reverse=bool(hib))
        out[metric] = [{"run": r, "value": float(np.mean(values[r])),
                        "better_than": sorted({(d.a if d.better == d.b else d.b) for d in ds if d.better == r})}
                       for r in order]
    return out


def run_labels(paths: list[Path]) -> list[str]:
    """Short unique labels: a results file's run folder for ``<run>/results.json``, else its stem; where two would
    read the same, the folders above are added until every label differs (``a/eval`` and ``b/eval`` for two
    ``<variant>/eval/results.json``); one file given twice is told apart by its position (``a #1``, ``a #2``)."""
    def label(path: Path, depth: int) -> str:
        parts = (path.parent.parts if path.name == "results.json" and path.parent.name else
                 (*path.parent.parts, path.stem))
        return "/".join(parts[-depth:]) if parts else str(path)

    depth = 1
    while True:
        labels = [label(p, depth) for p in paths]
        if len(set(labels)) == len(labels) or depth > max(len(p.parts) for p in paths):
            break
        depth += 1
    return [lab if labels.count(lab) == 1 else f"{lab} #{k + 1}" for k, lab in enumerate(labels)]


# --- the printed table ----------------------------------------------------------------------------------------
def table(cmp: Comparison) -> list[str]:
    """The comparison as aligned text lines."""
    lines = [f"{'metric':22s} {'A':>10s} {'B':>10s} {'B - A':>10s} {'95% CI':>22s} {'p':>8s} {'p(Holm)':>8s} "
             f"{'n':>5s} {'MDD80':>9s}  better"]
    for d in cmp.differences:
        ci = f"[{_fmt(d.ci95[0])}, {_fmt(d.ci95[1])}]"
        better = d.better or ("n.s." if d.higher_is_better is not None else "direction unknown")
        lines.append(f"{d.metric:22s} {_fmt(d.value_a):>10s} {_fmt(d.value_b):>10s} {_fmt(d.difference):>10s} "
                     f"{ci:>22s} {_p(d.p):>8s} {_p(d.p_holm):>8s} {d.n:5d} {_fmt(d.mdd80):>9s}  {better}"
                     + ("" if len(cmp.runs) == 2 else f"  ({d.a} vs {d.b})"))
    lines += [f"{s['metric']:22s} not compared ({s['a']} vs {s['b']}): {s['reason']}" for s in cmp.skipped]
    for metric, rows in cmp.ranking.items():
        lines.append(f"ranking {metric}: " + " > ".join(
            r["run"] + (f" (better than {', '.join(r['better_than'])})" if r["better_than"] else "") for r in rows))
    return lines


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, ".4g")


def _p(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else (f"{x:.4f}" if x >= 1e-4 else f"{x:.1e}")
