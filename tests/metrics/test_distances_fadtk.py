"""KAD (kadtk), FAD-inf and per-item FD (fadtk), FD against fixed reference statistics, fadtk stats files.

The parity tests run kadtk's and fadtk's own code: the functions and methods are compiled from the installed
packages' source files (``kadtk/kad.py``, ``fadtk/fad.py``) without importing the packages, whose ``__init__``
pulls model packages (librosa, msclap, laion_clap, ...) these tests do not need. They skip when the packages are
absent: ``pip install --no-deps kadtk==1.1.0 fadtk==1.1.0``.
"""
from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, Union

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import torch
from numpy.lib.scimath import sqrt as scisqrt

from metrics import (ReferenceGaussian, fad_inf, frechet_distance, kernel_audio_distance, median_pairwise_distance,
                     per_item_fd)
from metrics.files.refstats import fadtk_stats_models, read_fadtk_stats, write_fadtk_stats
from metrics.scores.distances import fad_inf_sizes, inverse_n_fit

INSTALL = "pip install --no-deps kadtk==1.1.0 fadtk==1.1.0"
# kadtk's median_pairwise_distance copies its tensor argument with torch.tensor(x), which warns.
pytestmark = pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")


def reference_source(package: str, filename: str, names: set[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """Compile the named top-level definitions (``"f"``) and methods (``"Class.f"``, as plain functions of
    ``self``) of ``<package>/<filename>`` from the installed package, without importing the package."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{package} not installed ({INSTALL})")
    if version != "1.1.0":
        pytest.skip(f"{package} {version} installed, the parity tests are for 1.1.0 ({INSTALL})")
    path = Path(importlib.util.find_spec(package).origin).parent / filename
    tree = ast.parse(path.read_text())
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            body += [m for m in node.body if isinstance(m, ast.FunctionDef) and f"{node.name}.{m.name}" in names]
        if getattr(node, "name", None) in names or (
                isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets)):
            body.append(node)
    found = {getattr(n, "name", None) or n.targets[0].id for n in body}
    assert found == {n.split(".")[-1] for n in names}, f"{path} lacks {names - found}"
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def kadtk() -> dict[str, Any]:
    return reference_source("kadtk", "kad.py", {"calc_kernel_audio_distance", "median_pairwise_distance",
                                                "SCALE_FACTOR"}, {"torch": torch, "np": np, "Path": Path})


@pytest.fixture(scope="module")
def fadtk() -> dict[str, Any]:
    namespace = {"np": np, "linalg": scipy.linalg, "scisqrt": scisqrt, "log": logging.getLogger("fadtk"),
                 "Path": Path, "NamedTuple": NamedTuple, "Union": Union, "PathLike": Union[str, Path],
                 "tq": lambda it, desc=None: it}
    return reference_source("fadtk", "fad.py", {"FADInfResults", "calc_embd_statistics", "calc_frechet_distance",
                                                "FrechetAudioDistance.load_stats",
                                                "FrechetAudioDistance.score_inf"}, namespace)


def fadtk_scorer(fadtk: dict[str, Any], model: str) -> Any:
    """fadtk's ``FrechetAudioDistance`` with its own ``load_stats``/``score_inf`` but not its ``__init__`` (which
    loads a model, probes SoX and turns autograd off process-wide)."""
    cls = type("FadtkFAD", (), {"load_stats": fadtk["load_stats"], "score_inf": fadtk["score_inf"]})
    scorer = cls()
    scorer.ml = SimpleNamespace(name=model)
    return scorer


def sets(seed: int, m: int, n: int, d: int, shift: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, d)).astype(np.float32)
    y = (rng.standard_normal((n, d)) * 1.1 + shift).astype(np.float32)
    return x, y


def naive_kad(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Independent float64 oracle: full matrices, Gaussian kernel, unbiased MMD^2 x 100."""
    gamma = 1.0 / (2 * bandwidth ** 2 + 1e-8)
    k = lambda a, b: np.exp(-gamma * scipy.spatial.distance.cdist(a, b, "sqeuclidean"))  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    m, n = len(x), len(y)
    return 100 * ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                  - 2 * k(x, y).mean())


# --- KAD ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["gaussian", "iq", "imq"])
@pytest.mark.parametrize("precision", [torch.float64, torch.float32])
def test_kad_matches_kadtk(kadtk, kernel, precision):
    x, y = sets(0, 300, 401, 16)
    theirs = float(kadtk["calc_kernel_audio_distance"](torch.from_numpy(x), torch.from_numpy(y), (None, None), "cpu",
                                                        kernel=kernel, precision=precision))
    ours = kernel_audio_distance(x, y, kernel=kernel, block=128)
    assert ours == pytest.approx(theirs, rel=1e-4)


def test_kad_with_given_bandwidth_matches_kadtk(kadtk):
    x, y = sets(1, 200, 150, 8, shift=0.5)
    theirs = float(kadtk["calc_kernel_audio_distance"](torch.from_numpy(x), torch.from_numpy(y), (None, None), "cpu",
                                                        bandwidth=2.5, precision=torch.float64))
    assert kernel_audio_distance(x, y, bandwidth=2.5) == pytest.approx(theirs, rel=1e-9)


def test_kad_bandwidth_comes_from_the_evaluated_set(kadtk):
    x, y = sets(2, 120, 90, 8, shift=1.0)
    assert median_pairwise_distance(y) != pytest.approx(median_pairwise_distance(x), rel=1e-2)
    assert kernel_audio_distance(x, y) == pytest.approx(
        kernel_audio_distance(x, y, bandwidth=median_pairwise_distance(y)), rel=1e-12)
    assert median_pairwise_distance(y) == pytest.approx(kadtk["median_pairwise_distance"](torch.from_numpy(y)),
                                                        rel=1e-6)


@pytest.mark.parametrize("n", [2, 3, 4, 57, 130])
def test_median_pairwise_distance_is_the_exact_lower_median(n):
    # Integer-grid points give many tied distances, so the radix select must count ties right.
    rng = np.random.default_rng(n)
    x = rng.integers(-3, 4, size=(n, 5)).astype(np.float64)
    d = np.sort(scipy.spatial.distance.pdist(x).astype(np.float32))
    expected = float(d[(len(d) - 1) // 2])  # torch.median: the lower of the two middle values
    assert median_pairwise_distance(x, block=16) == expected
    x = rng.standard_normal((n, 7))
    d = np.sort(scipy.spatial.distance.pdist(x).astype(np.float32))
    assert median_pairwise_distance(x, block=16) == float(d[(len(d) - 1) // 2])


def test_kad_equals_full_matrix_oracle_for_any_tiling():
    x, y = sets(3, 150, 97, 12)
    bw = median_pairwise_distance(y)
    expected = naive_kad(x.astype(np.float64), y.astype(np.float64), bw)
    for block in (7, 64, 4096):
        assert kernel_audio_distance(x, y, block=block) == pytest.approx(expected, rel=1e-10)


def test_kad_is_unbiased_and_grows_with_the_shift():
    # Two samples of one distribution: the unbiased MMD^2 scatters around 0 (negative values occur); a shift raises it.
    same = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        same.append(kernel_audio_distance(rng.standard_normal((200, 8)), rng.standard_normal((200, 8)), bandwidth=4.0))
    assert min(same) < 0 < max(same)
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))
    shifted = [kernel_audio_distance(*sets(0, 200, 200, 8, shift=s), bandwidth=4.0) for s in (0.3, 0.6, 1.2)]
    assert max(same) < shifted[0] < shifted[1] < shifted[2]


def test_kad_rejects_bad_input():
    x, y = sets(4, 10, 10, 4)
    with pytest.raises(ValueError, match=r"unknown KAD kernel 'linear'; choose from \['gaussian', 'imq', 'iq'\]"):
        kernel_audio_distance(x, y, kernel="linear")
    with pytest.raises(ValueError, match="KAD: reference frames have 4 features, evaluated 3"):
        kernel_audio_distance(x, y[:, :3])
    with pytest.raises(ValueError, match=r"KAD evaluated: expected frames of shape \[N >= 2, D\], got \(1, 4\)"):
        kernel_audio_distance(x, y[:1])
    y[3, 2] = np.nan
    with pytest.raises(ValueError, match="KAD evaluated: frames contain NaN or inf"):
        kernel_audio_distance(x, y)


# --- FD against fixed reference statistics -----------------------------------------------------------------------


def random_spd(rng: np.random.Generator, d: int, ridge: float) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + ridge * np.eye(d)


def fd_case(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(d)
    return rng.standard_normal(d), random_spd(rng, d, 0.1), rng.standard_normal(d), random_spd(rng, d, 0.05)


@pytest.mark.parametrize("d", [128, 256])
def test_reference_gaussian_fd_equals_frechet_distance(d):
    mu_g, sigma_g, mu_r, sigma_r = fd_case(d)
    fast = ReferenceGaussian.from_stats(mu_r, sigma_r).frechet_distance(mu_g, sigma_g)
    assert fast == pytest.approx(frechet_distance(mu_g, sigma_g, mu_r, sigma_r), rel=1e-6)


def test_reference_gaussian_fd_equals_fadtks(fadtk):
    mu_g, sigma_g, mu_r, sigma_r = fd_case(128)
    fast = ReferenceGaussian.from_stats(mu_r, sigma_r).frechet_distance(mu_g, sigma_g)
    assert fast == pytest.approx(fadtk["calc_frechet_distance"](mu_r, sigma_r, mu_g, sigma_g), rel=1e-6)


@pytest.mark.parametrize("rows", [2, 9, 63, 64, 200])
def test_fd_of_frames_in_frame_space_equals_the_covariance_form(rows):
    """Fewer distinct rows than dimensions (64): the k x k Gram form; as many or more: the D x D covariance. Both
    equal np.cov of the repeated rows through the D x D FD, with and without repeat counts, to 1e-7: with fewer rows
    than dimensions the D x D eigenvalues that are 0 come out near +-1e-14 and add their square roots (1e-7 each) to
    the D x D form's trace; the Gram form has no such terms."""
    mu_g, _, mu_r, sigma_r = fd_case(64)
    rng = np.random.default_rng(rows)
    frames = (rng.standard_normal((rows, 64)) * 1.3 + mu_g).astype(np.float32)
    ref = ReferenceGaussian.from_stats(mu_r, sigma_r)
    counts = rng.integers(0, 4, rows)
    counts[:2] = 1  # at least two distinct rows
    for c in (None, counts):
        repeated = np.repeat(frames, np.ones(rows, int) if c is None else c, axis=0).astype(np.float64)
        want = ref.frechet_distance(repeated.mean(0), np.cov(repeated, rowvar=False))
        assert ref.frechet_distance_of_frames(frames, c) == pytest.approx(want, rel=1e-7)


def test_reference_gaussian_rejects_mismatched_shapes():
    ref = ReferenceGaussian.from_stats(np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"shape mismatch: mu \(4,\) vs \(3,\)"):
        ref.frechet_distance(np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"reference statistics: mu \(3,\) and sigma \(2, 2\) do not match"):
        ReferenceGaussian.from_stats(np.zeros(3), np.eye(2))


# --- per-item FD (fadtk --indiv) --------------------------------------------------------------------------------


def per_item_case() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    d = 24
    mu_r, sigma_r = rng.standard_normal(d) * 0.1, random_spd(rng, d, 0.2)
    items = {f"song{i}": rng.standard_normal((n, d)).astype(np.float32) * 1.3 for i, n in enumerate((2, 9, 40, 300))}
    items["blip"] = rng.standard_normal((1, d)).astype(np.float32)
    return items, mu_r, sigma_r


def test_per_item_fd_scores_each_item_and_leaves_out_single_frame_items():
    items, mu_r, sigma_r = per_item_case()
    scores = per_item_fd(items, mu_r, sigma_r)
    assert list(scores) == ["song0", "song1", "song2", "song3"]
    for key, value in scores.items():
        f = items[key].astype(np.float64)
        assert value == pytest.approx(frechet_distance(f.mean(0), np.cov(f, rowvar=False), mu_r, sigma_r), rel=1e-6)


def test_per_item_fd_matches_fadtk(fadtk):
    items, mu_r, sigma_r = per_item_case()
    for key, value in per_item_fd(items, mu_r, sigma_r).items():  # fadtk's _find_z_helper: statistics, then FD
        mu, cov = fadtk["calc_embd_statistics"](items[key])
        assert value == pytest.approx(fadtk["calc_frechet_distance"](mu_r, sigma_r, mu, cov), rel=1e-6)
    with pytest.raises(AssertionError, match="at least two embedding window frames"):  # why fadtk drops it
        fadtk["calc_embd_statistics"](items["blip"])


def test_per_item_fd_names_the_item_with_wrong_width():
    with pytest.raises(ValueError, match=r"b: expected frames of shape \[n, 3\], got \(5, 4\)"):
        per_item_fd({"a": np.ones((5, 3)), "b": np.ones((5, 4))}, np.zeros(3), np.eye(3))


# --- FAD-inf ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fad_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Background statistics in a fadtk stats file, and an evaluated set of 1,800 frames split over 9 .npy files."""
    rng = np.random.default_rng(0)
    d = 24
    folder = tmp_path_factory.mktemp("fad")
    background = rng.standard_normal((3000, d)) @ rng.standard_normal((d, d)) / 5
    mu_r, sigma_r = background.mean(0), np.cov(background, rowvar=False)
    write_fadtk_stats(folder / "background.npz", {"vggish": (mu_r, sigma_r)})
    frames = rng.standard_normal((1800, d)) * 1.2 + 0.1
    files = []
    for i, chunk in enumerate(np.array_split(frames, 9)):
        np.save(folder / f"{i}.npy", chunk)
        files.append(folder / f"{i}.npy")
    return {"stats": folder / "background.npz", "files": files, "frames": frames, "mu": mu_r, "sigma": sigma_r}


def assert_same_fad_inf(theirs: Any, ours: dict[str, Any], rel: float) -> None:
    assert [n for n, _ in theirs.points] == [n for n, _ in ours["points"]]
    np.testing.assert_allclose([fd for _, fd in ours["points"]], [fd for _, fd in theirs.points], rtol=rel)
    assert ours["value"] == pytest.approx(theirs.score, rel=rel)
    assert ours["slope"] == pytest.approx(theirs.slope, rel=rel)
    assert ours["r2"] == pytest.approx(theirs.r2, rel=rel)


@pytest.mark.parametrize("seed", [0, 3])
def test_fad_inf_seed_reproduces_fadtk_after_np_random_seed(fadtk, fad_setup, seed):
    np.random.seed(seed)  # fadtk draws from the global RNG
    theirs = fadtk_scorer(fadtk, "vggish").score_inf(fad_setup["stats"], fad_setup["files"])
    ours = fad_inf(fad_setup["frames"], fad_setup["mu"], fad_setup["sigma"], seed=seed)
    assert_same_fad_inf(theirs, ours, rel=1e-9)
    assert ours == fad_inf(fad_setup["frames"], fad_setup["mu"], fad_setup["sigma"], seed=seed)  # rerun: same


def test_fad_inf_with_injected_draws_is_fadtks_result(fadtk, fad_setup, monkeypatch):
    ns = fad_inf_sizes(len(fad_setup["frames"]))
    rng = np.random.default_rng(11)
    draws = [rng.integers(0, len(fad_setup["frames"]), size=n) for n in ns]
    queue = iter(draws)

    def injected_choice(a: int, size: int, replace: bool) -> np.ndarray:
        assert (a, replace) == (len(fad_setup["frames"]), True)
        return next(queue)

    monkeypatch.setattr(np.random, "choice", injected_choice)
    theirs = fadtk_scorer(fadtk, "vggish").score_inf(fad_setup["stats"], fad_setup["files"])
    monkeypatch.undo()
    ours = fad_inf(fad_setup["frames"], fad_setup["mu"], fad_setup["sigma"], draws=draws)
    assert_same_fad_inf(theirs, ours, rel=1e-9)
    assert (ours["seed"], ours["replace"]) == (None, None)


def test_fad_inf_on_fewer_frames_than_dimensions_is_fadtks(fadtk, tmp_path, monkeypatch):
    """One 64-d vector per file, 12 files (kadtk's PaSST/PANNs, CLAP): every draw has fewer distinct frames than
    dimensions, so each point is taken in frame space; fadtk's ``score_inf`` on the same draws."""
    rng = np.random.default_rng(4)
    d = 64
    background = rng.standard_normal((500, d)) @ rng.standard_normal((d, d)) / 8
    mu_r, sigma_r = background.mean(0), np.cov(background, rowvar=False)
    write_fadtk_stats(tmp_path / "background.npz", {"vggish": (mu_r, sigma_r)})
    frames = rng.standard_normal((12, d)) * 1.1 + 0.2
    files = []
    for i, row in enumerate(frames):
        np.save(tmp_path / f"{i}.npy", row[None])
        files.append(tmp_path / f"{i}.npy")
    draws = [rng.integers(0, len(frames), size=n) for n in fad_inf_sizes(len(frames))]
    queue = iter(draws)
    monkeypatch.setattr(np.random, "choice", lambda a, size, replace: next(queue))
    theirs = fadtk_scorer(fadtk, "vggish").score_inf(tmp_path / "background.npz", files)
    monkeypatch.undo()
    assert_same_fad_inf(theirs, fad_inf(frames, mu_r, sigma_r, draws=draws), rel=1e-7)


def test_fad_inf_schedule_is_fadtks():
    assert fad_inf_sizes(2000) == [int(n) for n in np.linspace(500, 2000, 25)]
    assert fad_inf_sizes(2000)[:3] == [500, 562, 625] and fad_inf_sizes(2000)[-1] == 2000
    assert fad_inf_sizes(300, steps=3) == [500, 400, 300]  # smaller than min_n: descending, as fadtk


def test_inverse_n_fit_recovers_an_exact_line():
    ns = [500, 800, 1300, 4000]
    fit = inverse_n_fit(ns, [2.5 + 700.0 / n for n in ns])
    assert fit["value"] == pytest.approx(2.5) and fit["slope"] == pytest.approx(700.0)
    assert fit["r2"] == pytest.approx(1.0)


def population_case(seed: int, n: int = 2000, d: int = 32) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """``n`` draws of N(0.1, diag(a)) and reference N(0, diag(b)): FD = |0.1|^2 D + sum (sqrt a - sqrt b)^2."""
    a, b = np.linspace(0.5, 2.0, d), np.linspace(1.0, 1.5, d)
    truth = 0.01 * d + float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    frames = 0.1 + np.random.default_rng(seed).standard_normal((n, d)) * np.sqrt(a)
    return frames, truth, np.zeros(d), np.diag(b)


@pytest.mark.parametrize("seed", range(6))
def test_fad_inf_without_replacement_is_closer_to_the_population_fd_than_plain_fd(seed):
    frames, truth, mu_r, sigma_r = population_case(seed)
    plain = frechet_distance(frames.mean(0), np.cov(frames, rowvar=False), mu_r, sigma_r)
    extrapolated = fad_inf(frames, mu_r, sigma_r, seed=seed, replace=False)["value"]
    assert abs(extrapolated - truth) < abs(plain - truth)


def test_fad_inf_with_replacement_keeps_the_finite_set_bias():
    # fadtk's resampling of the fixed set extrapolates to the FD of the set itself (plain FD), not the population.
    errors_plain, errors_fadtk = [], []
    for seed in range(6):
        frames, truth, mu_r, sigma_r = population_case(seed)
        errors_plain.append(frechet_distance(frames.mean(0), np.cov(frames, rowvar=False), mu_r, sigma_r) - truth)
        errors_fadtk.append(fad_inf(frames, mu_r, sigma_r, seed=seed)["value"] - truth)
    assert min(errors_plain) > 0  # plain FD is biased upwards
    assert np.mean(errors_fadtk) > 0.6 * np.mean(errors_plain)


def test_fad_inf_rejects_bad_input(fad_setup):
    mu, sigma = fad_setup["mu"], fad_setup["sigma"]
    with pytest.raises(ValueError, match="without replacement needs at least 500 frames, got 300"):
        fad_inf(fad_setup["frames"][:300], mu, sigma, replace=False)
    with pytest.raises(ValueError, match=r"needs at least 2 distinct sizes, got \[500\]"):
        fad_inf(fad_setup["frames"][:500], mu, sigma)
    with pytest.raises(ValueError, match=r"expected evaluated frames of shape \[N >= 2, 24\], got \(10, 3\)"):
        fad_inf(np.ones((10, 3)), mu, sigma)
    with pytest.raises(ValueError, match=r"injected draws have sizes \[3\], expected"):
        fad_inf(fad_setup["frames"], mu, sigma, draws=[np.arange(3)])


# --- fadtk statistics files -------------------------------------------------------------------------------------


def test_fadtk_stats_round_trip_through_fadtks_reader(fadtk, tmp_path):
    rng = np.random.default_rng(7)
    stats = {"vggish": (rng.standard_normal(8), random_spd(rng, 8, 0.1)),
             "clap-laion-music": (rng.standard_normal(4), random_spd(rng, 4, 0.1))}
    write_fadtk_stats(tmp_path / "s.npz", stats)
    assert fadtk_stats_models(tmp_path / "s.npz") == ["clap-laion-music", "vggish"]
    for model, (mu, cov) in stats.items():
        ours = read_fadtk_stats(tmp_path / "s.npz", model)
        theirs = fadtk_scorer(fadtk, model).load_stats(tmp_path / "s.npz")
        for a, b, c in zip(ours, theirs, (mu, cov)):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)


def test_reads_fadtks_shipped_statistics():
    spec = importlib.util.find_spec("fadtk")
    if spec is None:
        pytest.skip(f"fadtk not installed ({INSTALL})")
    path = Path(spec.origin).parent / "stats" / "fma_pop.npz"
    assert "vggish" in fadtk_stats_models(path)
    mu, cov = read_fadtk_stats(path, "vggish")
    assert mu.shape == (128,) and cov.shape == (128, 128) and mu.dtype == np.float64


def test_fadtk_stats_errors_name_the_file(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, **{"vggish.mu": np.zeros(3), "vggish.cov": np.eye(3)})
    with pytest.raises(ValueError, match=rf"^{path}: no statistics for model 'panns' \(it has: vggish\)$"):
        read_fadtk_stats(path, "panns")
    bad_cov = np.eye(3)
    bad_cov[0, 2] = 1.0
    for cov, message in ((np.eye(2), r"vggish.mu \(3,\) and vggish.cov \(2, 2\): expected \[D\] and \[D, D\]"),
                         (np.full((3, 3), np.inf), "vggish.mu or vggish.cov holds NaN or infinite values"),
                         (bad_cov, "vggish.cov is not symmetric, so not a covariance"),
                         (np.eye(3) * 1e40, r"vggish.mu or vggish.cov holds values up to 1e\+40, far beyond any "
                                            "evaluator's embeddings")):
        np.savez(path, **{"vggish.mu": np.zeros(3), "vggish.cov": cov})
        with pytest.raises(ValueError, match=rf"^{path}: {message}$"):
            read_fadtk_stats(path, "vggish")
        with pytest.raises(ValueError, match=rf"^{tmp_path / 'out.npz'}: {message}$"):
            write_fadtk_stats(tmp_path / "out.npz", {"vggish": (np.zeros(3), cov)})
    assert not (tmp_path / "out.npz").exists()
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'junk.npz'}: not a readable .npz"):
        read_fadtk_stats(tmp_path / "junk.npz", "vggish")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match="holds a single array, expected a fadtk statistics .npz"):
        read_fadtk_stats(tmp_path / "one.npy", "vggish")
