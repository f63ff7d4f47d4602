import numpy as np
import pytest
import scipy.linalg
import torch

from metrics.scores import distances
from metrics.scores.distances import GaussianStats, cosine_similarity, frechet_distance, kl_divergence


def random_spd(rng, d, scale=1.0):
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def test_fd_closed_form_diagonal_gaussians():
    # For diagonal covariances FD = |mu1-mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2)).
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    s1, s2 = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-9)


def test_fd_matches_eigen_formula_and_is_symmetric():
    rng = np.random.default_rng(1)
    d = 32
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d, 2.0)
    root = scipy.linalg.sqrtm(s1).real
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-8)
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-8


def test_fd_eps_retry_on_singular_covariances(monkeypatch):
    calls = []
    real = scipy.linalg.sqrtm

    def flaky(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real(a)

    monkeypatch.setattr(distances.scipy.linalg, "sqrtm", flaky)
    s = np.diag([1.0, 0.0])
    value = frechet_distance(np.zeros(2), s, np.zeros(2), s)
    assert len(calls) == 2 and np.allclose(calls[1], (s + 1e-6 * np.eye(2)) @ (s + 1e-6 * np.eye(2)))
    assert np.isfinite(value)


def test_fd_rejects_large_imaginary_component(monkeypatch):
    monkeypatch.setattr(distances.scipy.linalg, "sqrtm", lambda a: np.eye(2) * (1 + 0.5j))
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("where", ["mu1", "sigma1", "mu2", "sigma2", "overflow"])
def test_fd_refuses_non_finite_statistics_before_sqrtm(monkeypatch, where):
    """scipy's sqrtm spins for minutes on NaN: non-finite input never reaches it."""
    def never(a):
        raise AssertionError("sqrtm called on non-finite input")

    monkeypatch.setattr(distances.scipy.linalg, "sqrtm", never)
    args = {"mu1": np.zeros(3), "sigma1": np.eye(3), "mu2": np.zeros(3), "sigma2": np.eye(3)}
    if where == "overflow":  # finite covariances whose product is not
        args["sigma1"] = args["sigma2"] = np.full((3, 3), 1e300)
    else:
        args[where] = args[where].copy()
        args[where].flat[1] = np.nan if where.startswith("sigma") else np.inf
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(**args)


def test_fd_shape_mismatch():
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_gaussian_stats_streaming_equals_numpy():
    rng = np.random.default_rng(2)
    blocks = [rng.standard_normal((n, 8)).astype(np.float32) * 3 + 5 for n in (3, 10, 1, 7)]
    stats = GaussianStats(8)
    for b in blocks:
        stats.update(b)
    full = np.concatenate(blocks).astype(np.float64)
    np.testing.assert_allclose(stats.mean, full.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(full, rowvar=False), rtol=1e-9, atol=1e-12)


def test_gaussian_stats_needs_two_frames():
    stats = GaussianStats(4)
    stats.update(np.ones((1, 4)))
    with pytest.raises(ValueError, match="at least 2 embedding frames, got 1"):
        _ = stats.cov


def test_kl_direction_and_eps_match_reference_formula():
    rng = np.random.default_rng(3)
    p_gen = torch.softmax(torch.tensor(rng.standard_normal(527)), 0).float()
    p_ref = torch.softmax(torch.tensor(rng.standard_normal(527) * 2), 0).float()
    # stable-audio-metrics: F.kl_div((ref + 1e-6).log(), gen, reduction='sum') = KL(gen || ref + eps)
    expected = torch.nn.functional.kl_div((p_ref + 1e-6).log(), p_gen, reduction="sum").item()
    assert kl_divergence(p_gen.numpy(), p_ref.numpy()) == pytest.approx(expected, rel=1e-4)
    assert kl_divergence(p_gen.numpy(), p_ref.numpy()) != pytest.approx(kl_divergence(p_ref.numpy(), p_gen.numpy()))


def test_kl_same_distribution_and_zero_probabilities():
    p = np.array([0.5, 0.5, 0.0])
    assert abs(kl_divergence(p, p)) < 1e-5  # only the eps on the reference side
    assert np.isfinite(kl_divergence(p, np.array([0.0, 0.0, 1.0])))  # 0 * log 0 = 0; eps keeps log finite
    assert kl_divergence(np.stack([p, p]), np.stack([p, p])).shape == (2,)


def test_cosine_similarity():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0]])
    np.testing.assert_allclose(cosine_similarity(a, b), [1.0, -1.0])
    expected = torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(b), dim=1, eps=1e-8).numpy()
    np.testing.assert_allclose(cosine_similarity(a, b), expected)
