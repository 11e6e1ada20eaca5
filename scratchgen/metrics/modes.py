"""Mode-collapse metrics for mixtures of K isotropic Gaussians (the ring and grid).

Given the mixture's means mu_1..mu_K and its standard deviation sigma:

* each sample is assigned to its nearest mean; it is *high quality* when that
  distance is at most ``3 sigma`` (``n_sigma``);
* a mode is *captured* when at least one (``min_count``) high-quality sample is
  assigned to it;
* the *reverse KL over modes* is KL(q || u) = sum_k q_k log(K q_k) in nats, where q is
  the empirical distribution of the high-quality samples over the modes and u is
  uniform over the K modes (0 log 0 = 0). It is 0 for perfectly balanced modes and
  log K when every high-quality sample sits on one mode; NaN when there are no
  high-quality samples (q is undefined).

The ring and grid means and sigma come from the data package (the benchmark
protocol: ring of 8 on the unit circle with sigma 0.01; 5 x 5 grid on {-4..4}^2 with
sigma 0.05). Definitions and good/bad values: docs/metrics.md.
"""
import numpy as np

from ._common import as_samples, check_same_dim, nearest_neighbours
from ..autograd.creation import host_array

__all__ = ['assign_modes', 'high_quality_fraction', 'modes_captured',
           'reverse_kl_over_modes', 'mode_metrics']


def assign_modes(samples, means, sigma, n_sigma=3.0):
    """Nearest mode of each sample and whether it is high quality.

    samples (N, D), means (K, D), sigma > 0. Returns ``(mode_index (N,) int,
    high_quality (N,) bool)``.
    """
    fn = 'assign_modes'
    x = as_samples(samples, fn, 'samples')
    if len(x) == 0:
        raise ValueError(f"{fn}: samples is empty")
    mu = host_array(means, np.float64, f"{fn}: means")
    if mu.ndim != 2 or len(mu) == 0:
        raise ValueError(f"{fn}: means must have shape (K, D) with K >= 1, got {mu.shape}")
    check_same_dim(x, mu, fn, ('samples', 'means'))
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"{fn}: sigma must be positive, got {sigma}")
    dist, idx = nearest_neighbours(x, mu)
    return idx, dist <= n_sigma * sigma


def _kl_to_uniform(counts):
    total = counts.sum()
    if total == 0:
        return float('nan')
    q = counts[counts > 0] / total
    return float((q * np.log(q * len(counts))).sum())


def mode_metrics(samples, means, sigma, n_sigma=3.0, min_count=1):
    """All three metrics at once: a dict with 'modes_captured' (out of 'n_modes'),
    'high_quality_fraction' and 'reverse_kl'."""
    idx, hq = assign_modes(samples, means, sigma, n_sigma)
    k = len(host_array(means, np.float64))
    counts = np.bincount(idx[hq], minlength=k)
    return {'modes_captured': int((counts >= min_count).sum()), 'n_modes': k,
            'high_quality_fraction': float(hq.mean()),
            'reverse_kl': _kl_to_uniform(counts)}


def high_quality_fraction(samples, means, sigma, n_sigma=3.0):
    """Fraction of samples within ``n_sigma * sigma`` of their nearest mode (1 is ideal)."""
    return mode_metrics(samples, means, sigma, n_sigma)['high_quality_fraction']


def modes_captured(samples, means, sigma, n_sigma=3.0, min_count=1):
    """Number of modes with at least ``min_count`` high-quality samples (K is ideal)."""
    return mode_metrics(samples, means, sigma, n_sigma, min_count)['modes_captured']


def reverse_kl_over_modes(samples, means, sigma, n_sigma=3.0):
    """KL(q || uniform) in nats of the high-quality samples' mode distribution q.

    0 is ideal; log K means all high-quality samples are on one mode; NaN when no
    sample is high quality.
    """
    return mode_metrics(samples, means, sigma, n_sigma)['reverse_kl']
