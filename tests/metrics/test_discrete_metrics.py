"""Exact discrete metrics (log-likelihood, KL, TV) and likelihood units."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import metrics


def _random_dist(shape, seed):
    p = np.random.default_rng(seed).random(shape) + 0.01
    return p / p.sum()


def test_kl_and_tv_known_values():
    p, q = [0.5, 0.5], [0.25, 0.75]
    assert metrics.kl_divergence(p, q) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert metrics.kl_divergence(q, p) == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5))
    assert metrics.total_variation(p, q) == pytest.approx(0.25)
    # disjoint supports: TV = 1, KL = inf; 0 log 0 = 0 where p has no mass
    assert metrics.total_variation([1, 0], [0, 1]) == 1.0
    assert metrics.kl_divergence([1, 0], [0, 1]) == math.inf
    assert metrics.kl_divergence([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))


def test_multi_dimensional_distributions():
    shape = (3, 8, 4, 6, 7)          # the avatars' feature sizes
    p = _random_dist(shape, 0)
    assert metrics.kl_divergence(p, p) == 0.0
    assert metrics.total_variation(p, p) == 0.0
    q = _random_dist(shape, 1)
    flat = metrics.kl_divergence(p.ravel(), q.ravel())
    assert metrics.kl_divergence(p, q) == pytest.approx(flat)
    assert flat > 0.05
    # independent product of marginals: KL(p || q1 x q2) = KL(p1 || q1) + KL(p2 || q2)
    p1, q1 = _random_dist(4, 10), _random_dist(4, 12)
    p2, q2 = _random_dist(5, 11), _random_dist(5, 13)
    p12, q12 = np.outer(p1, p2), np.outer(q1, q2)
    assert metrics.kl_divergence(p12, q12) == pytest.approx(
        metrics.kl_divergence(p1, q1) + metrics.kl_divergence(p2, q2))
    # float32 tensors on any device are accepted (sums drift ~1e-7 in float32)
    assert metrics.total_variation(sg.tensor(p.astype(np.float32)), q) == \
        pytest.approx(metrics.total_variation(p, q), abs=1e-6)


def test_log_likelihood_exact_and_against_entropy():
    p = np.array([[0.1, 0.2], [0.3, 0.4]])
    s = np.array([[0, 1], [1, 1], [1, 1]])
    assert metrics.log_likelihood(p, s) == pytest.approx((math.log(0.2) + 2 * math.log(0.4)) / 3)
    assert metrics.log_likelihood(p, s, reduction='sum') == \
        pytest.approx(math.log(0.2) + 2 * math.log(0.4))
    np.testing.assert_allclose(metrics.log_likelihood(p, s, reduction='none'),
                               np.log([0.2, 0.4, 0.4]))
    # 1-D distributions take (N,) samples; zero-probability samples give -inf
    assert metrics.log_likelihood([0.25, 0.75, 0.0], [1, 1, 0, 1]) == \
        pytest.approx((3 * math.log(0.75) + math.log(0.25)) / 4)
    assert metrics.log_likelihood([0.5, 0.5, 0.0], [2]) == -math.inf
    # samples drawn from p: mean log-likelihood -> -H(p)
    q = _random_dist((3, 4, 5), 2)
    rng = np.random.default_rng(3)
    flat = rng.choice(q.size, size=40000, p=q.ravel())
    samples = np.stack(np.unravel_index(flat, q.shape), 1)
    entropy = -(q * np.log(q)).sum()
    assert metrics.log_likelihood(q, samples) == pytest.approx(-entropy, abs=0.02)
    assert metrics.log_likelihood(sg.tensor(q), sg.tensor(samples)) == \
        metrics.log_likelihood(q, samples)


def test_discrete_errors():
    with pytest.raises(ValueError, match=r"kl_divergence: p has shape \(2,\) but q has shape"):
        metrics.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"total_variation: q of shape \(2,\) is not normal"
                                         r"ised: it sums to 0.9"):
        metrics.total_variation([0.5, 0.5], [0.5, 0.4])
    with pytest.raises(ValueError, match="non-negative"):
        metrics.kl_divergence([1.5, -0.5], [0.5, 0.5])
    p = np.full((2, 3), 1 / 6)
    with pytest.raises(ValueError, match=r"samples of shape \(4,\) do not index a "
                                         r"distribution of shape \(2, 3\)"):
        metrics.log_likelihood(p, np.zeros(4, int))
    with pytest.raises(ValueError, match=r"sample 1 = \(0, 3\) is out of range"):
        metrics.log_likelihood(p, np.array([[0, 0], [0, 3]]))
    with pytest.raises(TypeError, match="integer indices"):
        metrics.log_likelihood(p, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="reduction"):
        metrics.log_likelihood(p, np.zeros((2, 2), int), reduction='max')


def test_bits_per_dim_conversions():
    d = 28 * 28
    assert metrics.nats_to_bits_per_dim(d * math.log(2), d) == pytest.approx(1.0)
    assert metrics.bits_per_dim_to_nats(8.0, d) == pytest.approx(8 * d * math.log(2))
    nll = np.array([80.0, 100.0, 1234.5])
    bpd = metrics.nats_to_bits_per_dim(nll, d)
    np.testing.assert_allclose(metrics.bits_per_dim_to_nats(bpd, d), nll)
    assert isinstance(metrics.nats_to_bits_per_dim(sg.tensor(3.0), 2), float)
    with pytest.raises(ValueError, match="dims must be a positive int"):
        metrics.nats_to_bits_per_dim(1.0, 0)
