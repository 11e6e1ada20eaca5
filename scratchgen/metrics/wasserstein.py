"""The Wasserstein (earth mover's) distance between two samples: exact in 1-D, sliced above.

In one dimension the optimal transport plan matches the samples in sorted order, so
W_p is a sort away: with F⁻¹, G⁻¹ the empirical quantile functions,

    W_p(x, y)^p = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt      (= mean_i |x_(i) − y_(i)|^p for equal sizes).

In D > 1 dimensions the exact distance is an assignment problem (O(n³)); the *sliced*
distance averages the 1-D one over random unit directions θ,

    SW_p(x, y)^p = E_θ W_p(⟨θ, x⟩, ⟨θ, y⟩)^p,

which is a metric on distributions too (Bonneel et al. 2015). Definitions, known answers
and how to read it: docs/metrics.md.
"""
import numpy as np

from ..checks import positive_int
from ._common import as_samples, check_same_dim

__all__ = ['wasserstein_distance']


def _wasserstein_1d(xs, ys, p):
    """W_p^p between sorted columns xs (m, P) and ys (n, P), one value per column.

    The quantile functions are steps on a common grid of breakpoints i/m and j/n, held as
    integers in units of 1/(m n) so that shared breakpoints coincide exactly."""
    m, n = len(xs), len(ys)
    if m == n:                       # the breakpoints coincide: match sorted values
        return (np.abs(xs - ys) ** p).mean(0)
    edges = np.union1d(np.arange(m + 1) * n, np.arange(n + 1) * m)   # 0 .. m n
    left, width = edges[:-1], np.diff(edges) / (m * n)
    # on the interval starting at `left`, F⁻¹ is xs[left // n] and G⁻¹ is ys[left // m]
    diff = np.abs(xs[left // n] - ys[left // m]) ** p
    return width @ diff


def wasserstein_distance(x, y, p=1, n_projections=64, seed=0):
    """W_p between the empirical distributions of samples x (m, ...) and y (n, ...).

    1-D samples ((N,) or (N, 1)): the exact distance, by sorting; the sizes may differ
    (the quantile-function formula). D > 1 (images are flattened): the sliced distance
    SW_p = (mean over ``n_projections`` random unit directions θ of W_p(x·θ, y·θ)^p)^(1/p);
    the directions are normal vectors, normalised, drawn with ``seed``, so two calls with
    the same seed use the same directions. ``p`` = 1 (default) gives the earth mover's
    distance W1 (the mean of the projected W1), ``p`` = 2 the W2 used by optimal-transport
    texts. Returns a float, in the units of x.
    """
    fn = 'wasserstein_distance'
    if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not p >= 1:
        raise ValueError(f"{fn}: p must be a number >= 1, got {p!r}")
    positive_int(n_projections, 'n_projections', fn)
    x, y = as_samples(x, fn, 'x'), as_samples(y, fn, 'y')
    check_same_dim(x, y, fn)
    if len(x) == 0 or len(y) == 0:
        raise ValueError(f"{fn}: x {x.shape} and y {y.shape} need at least one sample each")
    if x.shape[1] > 1:
        theta = np.random.default_rng(seed).standard_normal((x.shape[1], n_projections))
        theta /= np.linalg.norm(theta, axis=0)
        x, y = x @ theta, y @ theta
    wp = _wasserstein_1d(np.sort(x, axis=0), np.sort(y, axis=0), float(p))
    return float(wp.mean() ** (1.0 / p))
