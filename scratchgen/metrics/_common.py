"""Shared host-side helpers for the metrics: input conversion and nearest neighbours.

Metrics run on the host in float64. Inputs may be NumPy arrays, Python data or
scratchgen Tensors on any device; Tensors cross to the host explicitly with ``.numpy()``.
"""
import numpy as np

from ..autograd.creation import host_array

# Largest number of pairwise distances held at once (8 bytes each: 32 MB).
_BLOCK_ENTRIES = 4_000_000


def as_samples(x, fn, name='x'):
    """A float64 (N, D) matrix: one row per sample, trailing dims flattened (images)."""
    a = host_array(x, np.float64, f"{fn}: {name}")
    if a.ndim == 0:
        raise ValueError(f"{fn}: {name} must have a leading sample dimension, got a scalar")
    if a.ndim == 1:
        a = a[:, None]              # N scalars are N one-dimensional samples
    a = a.reshape(a.shape[0], int(np.prod(a.shape[1:])))
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{fn}: {name} contains NaN or inf")
    return a


def check_same_dim(x, y, fn, names=('x', 'y')):
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{fn}: {names[0]} has {x.shape[1]} features per sample but "
                         f"{names[1]} has {y.shape[1]}; they must match")


def sq_dists(a, b, b_sq=None):
    """Squared Euclidean distances between the rows of a (M, D) and b (N, D): (M, N).

    Uses |a|^2 + |b|^2 - 2 a.b (one matmul); rounding can make it slightly negative,
    so it is clipped at 0. ``b_sq`` (the row norms |b|^2) may be passed precomputed.
    """
    if b_sq is None:
        b_sq = (b * b).sum(1)
    d = (a * a).sum(1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def nearest_neighbours(a, b, exclude_self=False):
    """For each row of ``a``, the distance to and index of its nearest row of ``b``.

    Works in blocks so that at most ``_BLOCK_ENTRIES`` distances exist at once.
    ``exclude_self`` (``a is b``) skips each row's match with itself (leave-one-out).
    The winning distance is recomputed directly as |a_i - b_j|, so exact copies give 0.
    """
    m, n = len(a), len(b)
    if n == 0 or (exclude_self and n < 2):
        raise ValueError(f"nearest_neighbours: need at least {2 if exclude_self else 1} "
                         f"reference rows, got {n}")
    rows = max(1, _BLOCK_ENTRIES // max(n, 1))
    idx = np.empty(m, dtype=np.int64)
    b_sq = (b * b).sum(1)
    for start in range(0, m, rows):
        d = sq_dists(a[start:start + rows], b, b_sq)
        if exclude_self:
            r = np.arange(d.shape[0])
            d[r, start + r] = np.inf
        idx[start:start + rows] = d.argmin(1)
    dist = np.sqrt(((a - b[idx]) ** 2).sum(1))
    return dist, idx
