"""Two-sample tests: are samples x (e.g. generated) and y (e.g. real) from one distribution?

* ``mmd2_unbiased``: the unbiased estimate of the squared maximum mean discrepancy
  with an RBF kernel, and ``mmd_permutation_test`` for its p-value;
* ``one_nn_accuracy``: leave-one-out 1-nearest-neighbour classifier accuracy.

Definitions and how to read the values: docs/metrics.md.
Both are quadratic in the number of samples (they hold an (m+n) x (m+n) kernel
matrix or scan all pairs); a few thousand samples per side is the intended scale.
"""
import numpy as np

from ._common import as_samples, check_same_dim, nearest_neighbours, sq_dists
from ..checks import positive_int

__all__ = ['median_bandwidth', 'mmd2_unbiased', 'mmd_permutation_test', 'one_nn_accuracy']

# The median heuristic looks at no more than this many pooled points (evenly spaced).
_MEDIAN_POINTS = 1000


def _pair(x, y, fn):
    x, y = as_samples(x, fn, 'x'), as_samples(y, fn, 'y')
    check_same_dim(x, y, fn)
    for name, a in (('x', x), ('y', y)):
        if len(a) < 2:
            raise ValueError(f"{fn}: {name} needs at least 2 samples, got {len(a)}")
    return x, y


def median_bandwidth(z):
    """The median heuristic: the median distance between distinct pooled samples.

    ``z`` is an (N, D) host array. Computed on at most 1000 evenly spaced rows.
    Falls back to 1.0 when all samples coincide (every distance is 0).
    """
    if len(z) > _MEDIAN_POINTS:
        z = z[np.linspace(0, len(z) - 1, _MEDIAN_POINTS).astype(np.int64)]
    d = np.sqrt(sq_dists(z, z)[np.triu_indices(len(z), k=1)])
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1.0


def _kernel(z, bandwidth):
    """RBF kernel matrix k(a, b) = exp(-|a - b|^2 / (2 h^2)) of the pooled sample."""
    return np.exp(sq_dists(z, z) * (-0.5 / bandwidth ** 2))


def _check_bandwidth(bandwidth, fn):
    if not (isinstance(bandwidth, (int, float, np.number)) and np.isfinite(bandwidth)
            and bandwidth > 0):
        raise ValueError(f"{fn}: bandwidth must be a positive finite number, got {bandwidth!r}")
    return float(bandwidth)


def _mmd2_from_kernel(k0, a):
    """Unbiased MMD^2 for each row of indicator matrix ``a`` (P, N) (1 = in x).

    ``k0`` is the pooled kernel matrix with its diagonal zeroed, so a^T k0 a sums
    k(x_i, x_j) over i != j only. Returns a (P,) array.
    """
    b = 1.0 - a
    m, n = a.sum(1), b.sum(1)
    ka = a @ k0                                   # (P, N): row sums of k over x
    kb = b @ k0
    sxx = (ka * a).sum(1)
    syy = (kb * b).sum(1)
    sxy = (ka * b).sum(1)
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)


def mmd2_unbiased(x, y, bandwidth=None):
    """Unbiased estimate of MMD^2(P, Q) from x ~ P (m, ...) and y ~ Q (n, ...).

    RBF kernel k(a, b) = exp(-|a - b|^2 / (2 h^2)) with ``bandwidth`` h; by default
    the median heuristic (median pairwise distance of the pooled sample). Samples with
    more than one trailing dimension (images) are flattened. About 0 (it can be
    slightly negative) when P = Q; larger when they differ. Returns a float.
    """
    fn = 'mmd2_unbiased'
    x, y = _pair(x, y, fn)
    z = np.concatenate([x, y])
    h = median_bandwidth(z) if bandwidth is None else _check_bandwidth(bandwidth, fn)
    k0 = _kernel(z, h)
    np.fill_diagonal(k0, 0.0)
    a = np.zeros((1, len(z)))
    a[0, :len(x)] = 1.0
    return float(_mmd2_from_kernel(k0, a)[0])


def mmd_permutation_test(x, y, n_permutations=200, seed=0, bandwidth=None):
    """MMD^2 and its permutation p-value for H0: x and y come from one distribution.

    The pooled sample is split at random into groups of the original sizes
    ``n_permutations`` times; p = (1 + #{permuted MMD^2 >= observed}) / (1 + n_permutations),
    so p is never 0 and small p (e.g. < 0.05) rejects H0. The bandwidth is fixed
    once from the pooled sample (it does not change under permutation).
    Returns ``(mmd2, p_value)``.
    """
    fn = 'mmd_permutation_test'
    positive_int(n_permutations, 'n_permutations', fn)
    x, y = _pair(x, y, fn)
    z = np.concatenate([x, y])
    h = median_bandwidth(z) if bandwidth is None else _check_bandwidth(bandwidth, fn)
    k0 = _kernel(z, h)
    np.fill_diagonal(k0, 0.0)
    n_total, m = len(z), len(x)

    observed = np.zeros((1, n_total))
    observed[0, :m] = 1.0
    mmd2 = float(_mmd2_from_kernel(k0, observed)[0])

    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n_total)          # indicator rows held at once
    exceed, done = 0, 0
    while done < n_permutations:
        p = min(chunk, n_permutations - done)
        order = rng.permuted(np.tile(np.arange(n_total), (p, 1)), axis=1)
        a = (order < m).astype(np.float64)        # a random size-m subset per row
        exceed += int((_mmd2_from_kernel(k0, a) >= mmd2).sum())
        done += p
    return mmd2, (1 + exceed) / (1 + n_permutations)


def one_nn_accuracy(x, y):
    """Leave-one-out 1-nearest-neighbour two-sample accuracy (0.5 is ideal).

    Pool x and y, label each point by its set, and classify every point by the label
    of its nearest other point (Euclidean). Returns the balanced accuracy (mean of the
    accuracies on x and on y; equal to plain accuracy when the sizes match):
    about 0.5 when x and y come from one distribution, near 1 when they are
    separable, and below 0.5 when x copies y (memorisation: each point's nearest
    neighbour is its copy in the other set).
    """
    x, y = _pair(x, y, 'one_nn_accuracy')
    z = np.concatenate([x, y])
    label = np.r_[np.zeros(len(x), bool), np.ones(len(y), bool)]
    _, nn = nearest_neighbours(z, z, exclude_self=True)
    correct = label[nn] == label
    return float(0.5 * (correct[~label].mean() + correct[label].mean()))
