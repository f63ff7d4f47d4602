"""Does a metric agree with people? Correlations between metric values and human ratings of the same systems.

Ratings come as rows of one of two kinds (:mod:`metrics.comparison.rating_sets` reads the public sets into them):

* **scores**: (system, item, rating[, rater]) — an opinion score of one system's output for one prompt. A system's
  human score is the mean over its (item-averaged) ratings.
* **preferences**: (item, system_a, system_b, winner) with winner system_a, system_b or "tie" — a pairwise choice.
  System scores are Bradley-Terry log-strengths (P(i beats j) = s_i / (s_i + s_j); a tie counts half a win each way),
  fitted by Hunter's (2004) minorisation-maximisation iteration, centred to mean 0.

Each system is one run (``--runs NAME=RESULTS.json``; the name as in the ratings). For every metric the runs have:

* **system level**: Kendall tau-b, Spearman rho and Pearson r between the human scores and the metric's values, the
  metric oriented so that higher is better (a distance is negated), so a positive correlation is agreement; 95%
  percentile-bootstrap CIs over **systems** (resampled with replacement) and over **items** (rated prompts resampled;
  human scores and per-item metric means recomputed on them; set metrics such as FD keep their values).
* **item level** (per-item metrics and score ratings): the same three correlations between the mean rating of a
  (system, item) output and the metric's score of it, pooled over systems, with a CI over items.

Limits: with k systems a system-level correlation has k points (tau moves in steps of 2 / (k (k - 1))); a CI over
systems from a handful of systems is wide and coarse, which is the honest answer.
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats as st

from metrics.comparison.compare import direction, item_columns
from metrics.scores.stats import percentile_interval

CORRELATIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "kendall_tau": lambda x, y: st.kendalltau(x, y).statistic,
    "spearman": lambda x, y: st.spearmanr(x, y).statistic,
    "pearson": lambda x, y: st.pearsonr(x, y).statistic,
}


@dataclass
class Ratings:
    """Human judgements: score rows (system, item, rating) or preference rows (item, a, b, winner)."""

    scores: list[tuple[str, str, float]] = field(default_factory=list)
    preferences: list[tuple[str, str, str, str]] = field(default_factory=list)  # winner: a's or b's name, "tie"

    def items(self) -> list[str]:
        return sorted({r[1] for r in self.scores} | {r[0] for r in self.preferences})

    def systems(self) -> list[str]:
        return sorted({r[0] for r in self.scores} | {s for r in self.preferences for s in r[1:3]})

    def subset(self, items: np.ndarray) -> "Ratings":
        """The ratings of a resample of items ``[M]`` (an item drawn twice counts twice)."""
        by_item: dict[str, int] = {}
        for i in items:
            by_item[i] = by_item.get(i, 0) + 1
        return Ratings([r for r in self.scores for _ in range(by_item.get(r[1], 0))],
                       [r for r in self.preferences for _ in range(by_item.get(r[0], 0))])


class RatingsError(ValueError):
    """A ratings file that cannot be read; the message names the file and the problem."""


def read_ratings(path: Path) -> Ratings:
    """Our CSV: header ``system,item,rating`` (scores) or ``item,system_a,system_b,winner`` (preferences)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RatingsError(f"--ratings {path}: cannot read ({exc})") from exc
    header = set(rows[0]) if rows else set()
    out = Ratings()
    if {"system", "item", "rating"} <= header:
        for n, r in enumerate(rows, 2):
            out.scores.append((r["system"], r["item"], _rating(r["rating"], path, n)))
    elif {"item", "system_a", "system_b", "winner"} <= header:
        for n, r in enumerate(rows, 2):
            if r["winner"] not in (r["system_a"], r["system_b"], "tie"):
                raise RatingsError(f"--ratings {path}, line {n}: winner {r['winner']!r} is neither system nor 'tie'")
            out.preferences.append((r["item"], r["system_a"], r["system_b"], r["winner"]))
    else:
        raise RatingsError(f"--ratings {path}: expected a header system,item,rating or item,system_a,system_b,winner")
    return out


def write_ratings(path: Path, ratings: Ratings) -> None:
    """The CSV :func:`read_ratings` reads (scores, or preferences if there are no scores)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if ratings.scores:
            w.writerow(["system", "item", "rating"])
            w.writerows(ratings.scores)
        else:
            w.writerow(["item", "system_a", "system_b", "winner"])
            w.writerows(ratings.preferences)


def _rating(text: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise RatingsError(f"--ratings {path}, line {line}: rating {text!r} is not a finite number")
    return value


# --- human scores per system ----------------------------------------------------------------------------------
def bradley_terry(preferences: list[tuple[str, str, str, str]], systems: list[str], iterations: int = 1000,
                  tol: float = 1e-10) -> dict[str, float]:
    """Bradley-Terry log-strengths (mean 0) from (item, a, b, winner) rows; MM updates
    s_i <- W_i / sum_j n_ij / (s_i + s_j) (Hunter 2004), a tie half a win for each side. A system that never wins
    or never loses has no finite strength, so every pair that met gets a quarter win each way (half a pseudo-game),
    which keeps every estimate finite and barely moves well-observed ones."""
    k = len(systems)
    index = {s: i for i, s in enumerate(systems)}
    wins = np.full((k, k), 0.0)  # wins[i, j]: times i beat j
    for _, a, b, winner in preferences:
        ia, ib = index[a], index[b]
        wa = 0.5 if winner == "tie" else float(winner == a)
        wins[ia, ib] += wa
        wins[ib, ia] += 1.0 - wa
    games = wins + wins.T
    wins += 0.25 * (games > 0)  # the pseudo-game
    games = wins + wins.T
    s = np.ones(k)
    for _ in range(iterations):
        denom = (games / (s[:, None] + s[None, :])).sum(1)
        new = wins.sum(1) / np.where(denom > 0, denom, 1.0)
        new /= np.exp(np.log(np.where(new > 0, new, 1.0)).mean())
        if np.max(np.abs(new - s)) < tol:
            s = new
            break
        s = new
    log_s = np.log(s)
    return dict(zip(systems, (log_s - log_s.mean()).tolist()))


def human_scores(ratings: Ratings, systems: list[str]) -> dict[str, float]:
    """Per system: mean rating (scores) or Bradley-Terry log-strength (preferences)."""
    if ratings.scores:
        return {s: float(np.mean([r for sys, _, r in ratings.scores if sys == s])) for s in systems
                if any(sys == s for sys, _, _ in ratings.scores)}
    return bradley_terry([p for p in ratings.preferences if p[1] in systems and p[2] in systems], systems)


# --- correlations ---------------------------------------------------------------------------------------------
def correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Kendall tau-b, Spearman and Pearson of ``x``, ``y`` ``[K]`` (NaN when undefined: fewer than 3 points or
    a constant side)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {name: math.nan for name in CORRELATIONS}
    return {name: float(f(x, y)) for name, f in CORRELATIONS.items()}


def _ci(replicates: list[dict[str, float]]) -> dict[str, list[float]]:
    out = {}
    for name in CORRELATIONS:
        r = np.array([x[name] for x in replicates], np.float64)
        out[name] = list(percentile_interval(r[np.isfinite(r)]))
    return out


@dataclass
class Agreement:
    metric: str
    systems: list[str]
    human: list[float]
    metric_values: list[float]  # oriented: higher is better
    system_level: dict[str, float]
    ci95_systems: dict[str, list[float]]
    ci95_items: dict[str, list[float]]
    item_level: dict[str, float] | None = None
    item_level_ci95: dict[str, list[float]] | None = None
    n_item_pairs: int = 0


def agreement(ratings: Ratings, runs: dict[str, dict[str, Any]], n_boot: int = 1000,
              seed: int = 0) -> tuple[list[Agreement], dict[str, str]]:
    """System- and item-level agreement of every metric the runs (system name -> results) all have."""
    systems = [s for s in ratings.systems() if s in runs]
    if len(systems) < 3:
        raise RatingsError(f"agreement needs at least 3 rated systems with a results file; matched {systems} "
                           f"(rated: {ratings.systems()}, runs: {sorted(runs)})")
    rng = np.random.default_rng(seed)
    items = np.array(ratings.items())
    item_draws = [items[rng.integers(0, len(items), len(items))] for _ in range(n_boot)]
    system_draws = [rng.integers(0, len(systems), len(systems)) for _ in range(n_boot)]
    out, skipped = [], {}
    for key in [k for k in runs[systems[0]]["metrics"] if all(k in runs[s]["metrics"] for s in systems)]:
        try:
            out.append(_metric_agreement(key, ratings, systems, runs, item_draws, system_draws))
        except ValueError as exc:
            skipped[key] = str(exc)
    return out, skipped


def _orientation(results: dict[str, Any], key: str) -> float:
    hib = direction(results, key)
    if hib is None:
        raise ValueError(f"{key}: its direction (higher or lower is better) is not recorded")
    return 1.0 if hib else -1.0


def _metric_agreement(key: str, ratings: Ratings, systems: list[str], runs: dict[str, dict[str, Any]],
                      item_draws: list[np.ndarray], system_draws: list[np.ndarray]) -> Agreement:
    sign = _orientation(runs[systems[0]], key)
    per_item = {s: (item_columns(runs[s], key).get(key) or ({}, None))[0] for s in systems}
    values = np.array([sign * float(runs[s]["metrics"][key]["value"]) for s in systems])
    human = human_scores(ratings, systems)
    h = np.array([human[s] for s in systems])

    def metric_on(draw: np.ndarray) -> np.ndarray:  # per-item metrics follow the resampled items
        if not all(per_item.values()):
            return values
        return np.array([sign * np.mean([per_item[s][i] for i in draw if i in per_item[s]] or [math.nan])
                         for s in systems])

    by_items = []
    for draw in item_draws:
        sub = ratings.subset(draw)
        hs = human_scores(sub, systems)
        if len(hs) == len(systems):
            by_items.append(correlations(np.array([hs[s] for s in systems]), metric_on(draw)))
    by_systems = [correlations(h[d], values[d]) for d in system_draws]
    result = Agreement(key, systems, h.tolist(), values.tolist(), correlations(h, values), _ci(by_systems),
                       _ci(by_items))
    if ratings.scores and all(per_item.values()):
        _item_level(result, ratings, per_item, sign, item_draws)
    return result


def _item_level(result: Agreement, ratings: Ratings, per_item: dict[str, dict[str, float]], sign: float,
                item_draws: list[np.ndarray]) -> None:
    """Mean rating of each (system, item) output against its metric score, pooled over systems."""
    sums: dict[tuple[str, str], list[float]] = {}
    for s, i, r in ratings.scores:
        if s in per_item and i in per_item[s]:
            sums.setdefault((s, i), []).append(r)
    pairs = {k: (float(np.mean(v)), sign * per_item[k[0]][k[1]]) for k, v in sums.items()}
    if len(pairs) < 3:
        return
    x, y = np.array([p[0] for p in pairs.values()]), np.array([p[1] for p in pairs.values()])
    by_item: dict[str, list[int]] = {}
    for n, (_, i) in enumerate(pairs):
        by_item.setdefault(i, []).append(n)
    reps = []
    for draw in item_draws:
        rows = [n for i in draw for n in by_item.get(i, ())]
        reps.append(correlations(x[rows], y[rows]))
    result.item_level, result.item_level_ci95, result.n_item_pairs = correlations(x, y), _ci(reps), len(pairs)


def to_json(rows: list[Agreement], skipped: dict[str, str]) -> dict[str, Any]:
    return {"tool": "sa-bench agreement", "metrics": [asdict(r) for r in rows], "skipped": skipped}


def table(rows: list[Agreement], skipped: dict[str, str]) -> list[str]:
    """Agreement as text lines: each correlation with its CIs over systems and items."""
    lines = [f"{'metric':22s} {'level':7s} {'correlation':12s} {'value':>7s} {'95% CI (systems)':>20s} "
             f"{'95% CI (items)':>20s}"]
    for a in rows:
        for name in CORRELATIONS:
            lines.append(f"{a.metric:22s} {'system':7s} {name:12s} {_f(a.system_level[name]):>7s} "
                         f"{_ci_text(a.ci95_systems[name]):>20s} {_ci_text(a.ci95_items[name]):>20s}")
        for name in CORRELATIONS if a.item_level else ():
            lines.append(f"{a.metric:22s} {'item':7s} {name:12s} {_f(a.item_level[name]):>7s} {'':>20s} "
                         f"{_ci_text(a.item_level_ci95[name]):>20s}")
    lines += [f"{k:22s} not assessed: {why}" for k, why in skipped.items()]
    return lines


def _f(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.3f}"


def _ci_text(ci: list[float]) -> str:
    return f"[{_f(ci[0])}, {_f(ci[1])}]"
