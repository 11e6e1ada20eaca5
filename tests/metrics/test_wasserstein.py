"""wasserstein_distance: exact 1-D and sliced distances against known answers."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import metrics

W = metrics.wasserstein_distance


def _normal(n, seed, *shape):
    return np.random.default_rng(seed).standard_normal((n,) + shape)


def test_gaussians_with_equal_spread_are_their_mean_gap_apart():
    # W_p(N(a, s^2), N(b, s^2)) = |a - b| for every p
    a, b, s = 0.3, 1.8, 0.7
    x, y = a + s * _normal(20000, 0), b + s * _normal(20000, 1)
    assert W(x, y) == pytest.approx(1.5, abs=0.03)
    assert W(x, y, p=2) == pytest.approx(1.5, abs=0.03)


def test_a_shifted_copy_is_exactly_the_shift_apart():
    x = _normal(500, 2)
    for d in (-2.5, 0.0, 0.1):
        assert W(x, x + d) == pytest.approx(abs(d), abs=1e-12)
        assert W(x + d, x, p=2) == pytest.approx(abs(d), abs=1e-12)
    assert W(x, x[::-1]) == 0.0          # order does not matter, only the distribution


def test_scaled_gaussians():
    # W1(N(0,1), N(0,sigma^2)) = |1 - sigma| E|z| = |1 - sigma| sqrt(2/pi); W2 = |1 - sigma|
    sigma = 2.5
    x, y = _normal(50000, 3), sigma * _normal(50000, 4)
    assert W(x, y) == pytest.approx(1.5 * math.sqrt(2 / math.pi), rel=0.02)
    assert W(x, y, p=2) == pytest.approx(1.5, rel=0.02)
    # the same draws scaled: sorted sigma x is sigma times sorted x, so W1 = |1-sigma| mean|x|
    assert W(x, sigma * x) == pytest.approx(1.5 * np.abs(x).mean(), rel=1e-12)


def test_unequal_sizes_match_the_equal_size_formula_on_replicated_samples():
    # x (m) and y (n) have the same empirical distributions as x repeated n/g times and
    # y repeated m/g times (g = gcd), which have equal sizes: there W is the sorted match
    x, y = _normal(6, 5), 0.5 + 2 * _normal(4, 6)
    xs, ys = np.sort(np.repeat(x, 2)), np.sort(np.repeat(y, 3))
    for p in (1, 2, 3.5):
        expected = (np.abs(xs - ys) ** p).mean() ** (1 / p)
        assert W(x, y, p=p) == pytest.approx(expected, rel=1e-12)
    assert W(x, np.repeat(x, 3) + 0.25) == pytest.approx(0.25, rel=1e-12)
    assert W(np.array([1.0]), np.array([4.0, 6.0])) == pytest.approx(4.0)


def test_sliced_distance_of_a_shifted_copy_in_2d():
    # each direction theta sees the shift <theta, d>, so SW1 = E|<theta, d>| = 2|d|/pi
    x, d = _normal(300, 7, 2), np.array([3.0, -4.0])
    sw = W(x, x + d, n_projections=20000, seed=1)
    assert sw == pytest.approx(2 * 5.0 / math.pi, rel=0.01)
    theta = np.random.default_rng(1).standard_normal((2, 20000))
    theta /= np.linalg.norm(theta, axis=0)
    assert sw == pytest.approx(np.abs(d @ theta).mean(), rel=1e-10)


def test_sliced_distance_is_seeded_and_takes_tensors_and_images():
    x, y = _normal(200, 8, 3), _normal(150, 9, 3) + 1.0
    assert W(x, y, seed=3) == W(x, y, seed=3)
    assert W(x, y, seed=3) != W(x, y, seed=4)
    assert W(sg.tensor(x.astype(np.float32)), y) == pytest.approx(W(x, y), rel=1e-6)
    imgs = _normal(50, 10, 1, 2, 2)
    assert W(imgs, imgs.reshape(50, 4) + 0.0) == 0.0
    assert isinstance(W(x, y), float)


def test_bad_input_errors():
    x = _normal(10, 11, 2)
    with pytest.raises(ValueError, match=r"wasserstein_distance: x has 2 features per sample "
                                         r"but y has 3"):
        W(x, _normal(10, 12, 3))
    with pytest.raises(ValueError, match="wasserstein_distance: y contains NaN"):
        W(x, np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match=r"need at least one sample each"):
        W(x, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="leading sample dimension"):
        W(np.float64(1.0), x)
    with pytest.raises(ValueError, match="p must be a number >= 1, got 0.5"):
        W(x, x, p=0.5)
    with pytest.raises(ValueError, match="n_projections must be a positive int, got 0"):
        W(x, x, n_projections=0)
    with pytest.raises(TypeError, match="wasserstein_distance: x"):
        W(object(), x)
