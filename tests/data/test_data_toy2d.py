"""toy2d: determinism, shapes/dtypes, the benchmark protocol's means and sigma, and the
closed-form log-densities and entropies."""
import math

import numpy as np
import pytest

from scratchgen.data import toy2d, toy2d_truth, TOY2D_NAMES, mixture_log_density


@pytest.mark.parametrize('name', TOY2D_NAMES)
def test_shape_dtype_determinism(name):
    a = toy2d(name, 500, seed=1)
    assert a.shape == (500, 2) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, toy2d(name, 500, seed=1))
    assert not np.array_equal(a, toy2d(name, 500, seed=2))
    x, factors = toy2d(name, 500, seed=1, return_factors=True)
    np.testing.assert_array_equal(x, a)
    assert all(len(v) == 500 for v in factors.values())


def test_ring8_protocol_means_and_sigma():
    t = toy2d_truth('ring8')
    assert t.sigma == 0.01 and t.means.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(t.means, axis=1), 1.0, atol=1e-12)
    angles = np.sort(np.mod(np.arctan2(t.means[:, 1], t.means[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
    x, f = toy2d('ring8', 40000, seed=0, return_factors=True)
    resid = x - t.means[f['label']]
    assert abs(resid.std() - 0.01) < 0.0003                 # sigma estimate
    assert np.abs(resid.mean(axis=0)).max() < 0.0003
    counts = np.bincount(f['label'], minlength=8)
    assert counts.min() > 0.9 * 40000 / 8                   # equal weights


def test_grid25_protocol_means_and_sigma():
    t = toy2d_truth('grid25')
    assert t.sigma == 0.05 and t.means.shape == (25, 2)
    assert {tuple(m) for m in t.means} == {(a, b) for a in (-4., -2., 0., 2., 4.)
                                            for b in (-4., -2., 0., 2., 4.)}
    x, f = toy2d('grid25', 50000, seed=0, return_factors=True)
    nearest = ((x[:, None] - t.means[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(nearest, f['label'])     # well separated modes
    assert abs((x - t.means[f['label']]).std() - 0.05) < 0.001


@pytest.mark.parametrize('name', ['ring8_wide', 'grid25_wide'])
def test_wide_variants_are_wider(name):
    assert toy2d_truth(name).sigma > toy2d_truth(name.replace('_wide', '')).sigma


@pytest.mark.parametrize('name', ['ring8', 'grid25', 'ring8_wide', 'grid25_wide',
                                  'checkerboard'])
def test_entropy_matches_monte_carlo_log_density(name):
    t = toy2d_truth(name)
    x = toy2d(name, 100000, seed=3).astype(np.float64)
    lp = t.log_density(x)
    mc = -lp.mean()
    se = lp.std() / math.sqrt(len(lp))
    assert abs(mc - t.entropy) < 4 * se + 1e-6, (mc, t.entropy)


def test_mixture_log_density_integrates_to_one():
    t = toy2d_truth('ring8_wide')
    g = np.linspace(-3.5, 3.5, 701)
    xx, yy = np.meshgrid(g, g)
    p = np.exp(t.log_density(np.stack([xx.ravel(), yy.ravel()], 1)))
    assert abs(p.sum() * (g[1] - g[0]) ** 2 - 1.0) < 1e-3
    # one Gaussian: exact value at its mean
    assert np.isclose(mixture_log_density(np.zeros((1, 2)), np.zeros((1, 2)), 0.5)[0],
                      -math.log(2 * math.pi * 0.25))


def test_checkerboard_support_and_density():
    t = toy2d_truth('checkerboard')
    assert t.entropy == pytest.approx(math.log(8))
    x = toy2d('checkerboard', 5000, seed=0)
    assert np.all(np.isfinite(t.log_density(x)))
    assert np.all(np.abs(x) <= 2)
    light = np.array([[-1.5, -0.5], [0.5, -0.5], [3.0, 0.0]])    # light squares and outside
    dark = np.array([[-1.5, -1.5], [0.5, -1.5], [1.5, 1.5]])
    assert np.allclose(t.log_density(dark), -math.log(8))
    assert np.all(np.isneginf(t.log_density(light)))


def test_truth_without_closed_form_and_errors():
    t = toy2d_truth('moons')
    assert t.means is None and t.log_density is None and t.entropy is None
    with pytest.raises(ValueError, match='unknown dataset'):
        toy2d('spiral', 10)
    with pytest.raises(ValueError, match='n must be'):
        toy2d('moons', -1)
    with pytest.raises(ValueError, match=r'\(n, 2\)'):
        toy2d_truth('ring8').log_density(np.zeros(3))
