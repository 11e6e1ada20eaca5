"""Mode-collapse metrics on the ring-of-8 and 5x5-grid protocols."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import metrics

RING = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], 1)
RING_SIGMA = 0.01
GRID = np.array([[i, j] for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)], float)
GRID_SIGMA = 0.05


def _mixture(means, sigma, n, seed, weights=None):
    rng = np.random.default_rng(seed)
    k = rng.choice(len(means), size=n, p=weights)
    return means[k] + sigma * rng.standard_normal((n, means.shape[1]))


@pytest.mark.parametrize('means,sigma', [(RING, RING_SIGMA), (GRID, GRID_SIGMA)])
def test_true_distribution_scores_ideal(means, sigma):
    x = _mixture(means, sigma, 4000, seed=0)
    m = metrics.mode_metrics(x, means, sigma)
    assert m['modes_captured'] == m['n_modes'] == len(means)
    # |x - mu| / sigma is Rayleigh in 2-D: P(<= 3) = 1 - exp(-9/2) = 0.98889
    assert m['high_quality_fraction'] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    # multinomial noise only: E[KL] ~ (K - 1) / (2 n)
    assert m['reverse_kl'] < 10 * (len(means) - 1) / (2 * 4000 * 0.99)
    assert metrics.modes_captured(x, means, sigma) == m['modes_captured']
    assert metrics.high_quality_fraction(x, means, sigma) == m['high_quality_fraction']
    assert metrics.reverse_kl_over_modes(x, means, sigma) == m['reverse_kl']


def test_collapsed_generators():
    # everything on one mode: 1 mode, KL = log K exactly
    one = _mixture(RING[:1], RING_SIGMA, 500, seed=1)
    assert metrics.modes_captured(one, RING, RING_SIGMA) == 1
    assert metrics.reverse_kl_over_modes(one, RING, RING_SIGMA) == pytest.approx(math.log(8))
    # two modes, equally: KL = log(8 / 2)
    two = RING[[0, 3] * 100]
    assert metrics.modes_captured(two, RING, RING_SIGMA) == 2
    assert metrics.reverse_kl_over_modes(two, RING, RING_SIGMA) == pytest.approx(math.log(4))
    # an unbalanced grid generator: closed-form KL of its mode weights against uniform
    w = np.r_[np.full(5, 0.16), np.full(20, 0.01)]
    x = GRID[np.repeat(np.arange(25), np.round(w * 1000).astype(int))]
    assert metrics.reverse_kl_over_modes(x, GRID, GRID_SIGMA) == \
        pytest.approx(float((w * np.log(25 * w)).sum()), rel=1e-9)


def test_high_quality_threshold_and_off_mode_samples():
    # exactly on the 3 sigma circle counts as high quality; just beyond does not
    on_edge = RING[2] + np.array([3 * RING_SIGMA, 0.0]) * (1 - 1e-9)
    beyond = RING[2] + np.array([0.0, 3 * RING_SIGMA * 1.01])
    hq = metrics.high_quality_fraction(np.stack([on_edge, beyond]), RING, RING_SIGMA)
    assert hq == 0.5
    # half the samples are uniform noise over the square: about half are high quality
    rng = np.random.default_rng(2)
    good = _mixture(RING, RING_SIGMA, 1000, seed=3)
    noise = rng.uniform(-1.5, 1.5, (1000, 2))
    frac = metrics.high_quality_fraction(np.concatenate([good, noise]), RING, RING_SIGMA)
    assert 0.48 < frac < 0.51
    # no high-quality sample: nothing captured, KL undefined
    far = np.full((10, 2), 10.0)
    assert metrics.modes_captured(far, RING, RING_SIGMA) == 0
    assert math.isnan(metrics.reverse_kl_over_modes(far, RING, RING_SIGMA))
    # min_count raises the bar
    assert metrics.modes_captured(RING[[0, 0, 1]], RING, RING_SIGMA, min_count=2) == 1


def test_tensor_inputs(device):
    x = _mixture(GRID, GRID_SIGMA, 300, seed=4)
    t = sg.tensor(x.astype(np.float32), device=device)
    assert metrics.mode_metrics(t, GRID, GRID_SIGMA) == \
        metrics.mode_metrics(x.astype(np.float32), GRID, GRID_SIGMA)


def test_errors():
    with pytest.raises(ValueError, match=r"assign_modes: samples has 3 features .* means has 2"):
        metrics.modes_captured(np.zeros((4, 3)), RING, RING_SIGMA)
    with pytest.raises(ValueError, match="sigma must be positive"):
        metrics.high_quality_fraction(np.zeros((4, 2)), RING, 0.0)
    with pytest.raises(ValueError, match=r"means must have shape \(K, D\)"):
        metrics.modes_captured(np.zeros((4, 2)), np.zeros(2), 0.1)
