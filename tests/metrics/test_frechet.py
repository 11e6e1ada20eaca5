"""Fréchet distance: closed forms for known Gaussians, sample estimates, features=."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import metrics


def _random_spd(d, seed):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_sqrtm_psd_squares_back_and_clips_round_off():
    s = _random_spd(5, 0)
    r = metrics.sqrtm_psd(s)
    np.testing.assert_allclose(r @ r, s, atol=1e-12)
    np.testing.assert_allclose(r, r.T, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(r) > 0)
    v = np.array([[1.0, 2.0]])
    singular = v.T @ v - 1e-15 * np.eye(2)       # rank 1 with a tiny negative eigenvalue
    assert np.all(np.isfinite(metrics.sqrtm_psd(singular)))


def test_closed_form_diagonal_and_one_dimensional():
    # diagonal covariances commute: FD = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    exact = 1 + 0 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2 + 0
    assert metrics.frechet_distance_gaussians(mu1, np.diag(a), mu2, np.diag(b)) == \
        pytest.approx(exact, rel=1e-12)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert metrics.frechet_distance_gaussians([0.5], [[4.0]], [-1.0], [[0.09]]) == \
        pytest.approx(1.5 ** 2 + 1.7 ** 2, rel=1e-12)
    s = _random_spd(4, 1)
    assert metrics.frechet_distance_gaussians(np.ones(4), s, np.ones(4), s) == \
        pytest.approx(0.0, abs=1e-10)


def test_closed_form_matches_scipy_for_non_commuting_covariances():
    linalg = pytest.importorskip('scipy.linalg')
    s1, s2 = _random_spd(6, 2), _random_spd(6, 3)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = np.zeros(6), np.arange(6) / 6
    ref = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert metrics.frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)


def test_sample_estimate_approaches_the_closed_form():
    rng = np.random.default_rng(4)
    s1, s2 = _random_spd(3, 5), _random_spd(3, 6)
    mu1, mu2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, -0.5, 0.0])
    x = rng.multivariate_normal(mu1, s1, size=20000)
    y = rng.multivariate_normal(mu2, s2, size=20000)
    exact = metrics.frechet_distance_gaussians(mu1, s1, mu2, s2)
    assert metrics.frechet_distance(x, y) == pytest.approx(exact, rel=0.05)
    # same distribution: near 0 (bias ~ D/N); shifted: large
    y0 = rng.multivariate_normal(mu1, s1, size=20000)
    assert metrics.frechet_distance(x, y0) < 0.01
    assert metrics.frechet_distance(x, y0 + 3.0) > 25


def test_features_callable_is_applied_first(device):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((200, 4)), rng.standard_normal((200, 4)) + 0.5
    plain = metrics.frechet_distance(x, y)
    # a linear map by 2 scales means by 2 and covariances by 4: FD by 4
    assert metrics.frechet_distance(x, y, features=lambda a: 2 * np.asarray(a)) == \
        pytest.approx(4 * plain, rel=1e-10)
    # features may return Tensors on any device, and inputs may be Tensors
    to_t = lambda a: sg.tensor(np.asarray(a, np.float32), device=device)   # noqa: E731
    fd = metrics.frechet_distance(to_t(x), to_t(y), features=lambda t: t * 2.0)
    assert fd == pytest.approx(4 * metrics.frechet_distance(
        x.astype(np.float32), y.astype(np.float32)), rel=1e-5)
    # images are flattened
    assert metrics.frechet_distance(x.reshape(200, 2, 2), y.reshape(200, 2, 2)) == \
        pytest.approx(plain)


def test_errors():
    with pytest.raises(ValueError, match=r"frechet_distance: x has 3 features .* y has 2"):
        metrics.frechet_distance(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(TypeError, match="features must be a callable"):
        metrics.frechet_distance(np.zeros((5, 3)), np.zeros((5, 3)), features='inception')
    with pytest.raises(ValueError, match=r"cov2 has shape \(2, 2\), expected \(3, 3\)"):
        metrics.frechet_distance_gaussians(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
