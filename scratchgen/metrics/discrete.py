"""Exact metrics for distributions over a finite set, and likelihood units.

A distribution is an array of probabilities of any shape (one axis per discrete
feature, e.g. (3, 8, 4, 6, 7) for the avatars) that is non-negative and sums to 1.
A sample is a multi-index into that array: samples of a d-dimensional distribution
have shape (N, d) (or (N,) when d = 1).

* ``log_likelihood(p, samples)``  = mean_i log p[s_i]            (nats; higher is better)
* ``kl_divergence(p, q)``         = sum_s p(s) log(p(s) / q(s))   (nats; 0 iff p = q)
* ``total_variation(p, q)``       = 1/2 sum_s |p(s) - q(s)|        (in [0, 1]; 0 iff p = q)
* ``nats_to_bits_per_dim(nll, d)`` = nll / (d ln 2), and its inverse.
"""
import math

import numpy as np

from ..checks import positive_int
from ..autograd.creation import host_array

__all__ = ['log_likelihood', 'kl_divergence', 'total_variation',
           'nats_to_bits_per_dim', 'bits_per_dim_to_nats']

_SUM_TOL = 1e-4     # float32 probabilities over thousands of outcomes drift ~1e-6


def _distribution(p, fn, name):
    p = host_array(p, np.float64, f"{fn}: {name}")
    if p.size == 0:
        raise ValueError(f"{fn}: {name} is empty")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueError(f"{fn}: {name} must be finite and non-negative "
                         f"(min {np.nanmin(p):.3g})")
    total = p.sum()
    if abs(total - 1.0) > _SUM_TOL:
        raise ValueError(f"{fn}: {name} of shape {p.shape} is not normalised: it sums "
                         f"to {total:.6g}, expected 1")
    return p


def _pair(p, q, fn):
    p, q = _distribution(p, fn, 'p'), _distribution(q, fn, 'q')
    if p.shape != q.shape:
        raise ValueError(f"{fn}: p has shape {p.shape} but q has shape {q.shape}; "
                         "they must be distributions over the same set")
    return p, q


def kl_divergence(p, q):
    """KL(p || q) = sum p log(p / q) in nats; inf where q = 0 < p."""
    p, q = _pair(p, q, 'kl_divergence')
    on = p > 0                                # 0 log 0 = 0
    if np.any(q[on] == 0):
        return float('inf')
    return float(max((p[on] * (np.log(p[on]) - np.log(q[on]))).sum(), 0.0))


def total_variation(p, q):
    """Total variation distance 1/2 sum |p - q|, in [0, 1]."""
    p, q = _pair(p, q, 'total_variation')
    return float(0.5 * np.abs(p - q).sum())


def log_likelihood(model_probs, samples, reduction='mean'):
    """Log-likelihood in nats of ``samples`` (multi-indices) under ``model_probs``.

    reduction: 'mean' (average per sample; the default), 'sum', or 'none' (one value
    per sample). A sample of probability 0 gives -inf.
    """
    fn = 'log_likelihood'
    p = _distribution(model_probs, fn, 'model_probs')
    s = host_array(samples, None, f"{fn}: samples")
    if s.dtype.kind not in 'iu':
        raise TypeError(f"{fn}: samples must be integer indices, got dtype {s.dtype}")
    if s.ndim == 1 and p.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[1] != p.ndim:
        raise ValueError(f"{fn}: samples of shape {s.shape} do not index a distribution of "
                         f"shape {p.shape}; expected (N, {p.ndim})")
    bad = (s < 0) | (s >= np.array(p.shape))
    if bad.any():
        row = int(np.nonzero(bad.any(1))[0][0])
        raise ValueError(f"{fn}: sample {row} = {tuple(s[row].tolist())} is out of range for "
                         f"shape {p.shape}")
    with np.errstate(divide='ignore'):
        ll = np.log(p[tuple(s.T)])
    if reduction == 'none':
        return ll
    if reduction == 'sum':
        return float(ll.sum())
    if reduction == 'mean':
        if len(ll) == 0:
            raise ValueError(f"{fn}: no samples to average")
        return float(ll.mean())
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _as_number(v, fn, name):
    a = host_array(v, np.float64, f"{fn}: {name}")
    return float(a) if a.ndim == 0 else a


def _check_dims(dims, fn):
    positive_int(dims, 'dims', fn)     # dimensions per example, e.g. 784 for 28x28


def nats_to_bits_per_dim(nats, dims):
    """Negative log-likelihood per example in nats -> bits per dimension.

    bpd = nats / (dims ln 2). Works on numbers and arrays.
    """
    _check_dims(dims, 'nats_to_bits_per_dim')
    return _as_number(nats, 'nats_to_bits_per_dim', 'nats') / (dims * math.log(2.0))


def bits_per_dim_to_nats(bpd, dims):
    """Bits per dimension -> negative log-likelihood per example in nats."""
    _check_dims(dims, 'bits_per_dim_to_nats')
    return _as_number(bpd, 'bits_per_dim_to_nats', 'bpd') * (dims * math.log(2.0))
