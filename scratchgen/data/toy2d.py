"""Two-dimensional toy distributions, with their ground truth.

``toy2d(name, n, seed)`` draws ``n`` points (float32, shape ``(n, 2)``);
``toy2d_truth(name)`` says what is known exactly about the distribution: mixture
means and sigma, a log-density function and the entropy where they have a closed form.

===============  ===============================================================
name             generating process
===============  ===============================================================
moons            k ~ {0,1}; t ~ U[0, pi]; upper moon (cos t, sin t), lower moon
                 (1 - cos t, 1/2 - sin t); shifted by (-1/2, -1/4), plus N(0, 0.1^2 I)
circles          k ~ {0,1}; angle ~ U[0, 2pi); radius 1 (outer) or 1/2 (inner);
                 plus N(0, 0.05^2 I)
ring8            mixture of 8 equal Gaussians, means on the unit circle at angles
                 2 pi k / 8, sigma 0.01 (the mode-collapse benchmark protocol)
ring8_wide       8 means on the circle of radius 2, sigma 0.2 (easy, for pictures)
grid25           mixture of 25 equal Gaussians, means {-4,-2,0,2,4}^2, sigma 0.05
                 (the mode-collapse benchmark protocol)
grid25_wide      the same means, sigma 0.2
swissroll        t = 3 pi / 2 (1 + 2u), u ~ U[0,1]; (t cos t, t sin t) / 5,
                 plus N(0, 0.1^2 I)
checkerboard     uniform on the 8 dark unit squares of a 4x4 board on [-2, 2]^2
                 (square (i, j) is dark when i + j is even); exact density 1/8 on
                 the support, entropy log 8 nats
pinwheel         5 arms; r ~ 1 + N(0, 0.3^2), s ~ N(0, 0.05^2); the point (r, s)
                 is rotated by 2 pi k / 5 + 0.25 exp(r)
===============  ===============================================================

``toy2d(..., return_factors=True)`` also returns the latent variables of the
generating process as a dict of arrays (``'label'``: moon/circle/component/arm/square
index; ``'t'``: position along the swiss roll).
"""
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .dataset import as_generator
from ..checks import nonnegative_int

NAMES = ('moons', 'circles', 'ring8', 'ring8_wide', 'grid25', 'grid25_wide', 'swissroll',
         'checkerboard', 'pinwheel')


@dataclass(frozen=True)
class Toy2DTruth:
    """What is known exactly about a toy distribution.

    means/sigma: for the Gaussian mixtures (equal weights, isotropic sigma), else None.
    log_density(x): exact log p(x) in nats for an ``(n, 2)`` array, or None.
    entropy: differential entropy in nats, or None. For the mixtures it is the
    separated-components value log K + log(2 pi e sigma^2), an upper bound that is
    exact up to the component overlap (below 1e-9 nats for ring8/grid25, 4e-4 for
    ring8_wide, 4e-6 for grid25_wide).
    """
    name: str
    means: Optional[np.ndarray] = None
    sigma: Optional[float] = None
    log_density: Optional[Callable] = None
    entropy: Optional[float] = None


# ----------------------------------------------------------------------------- mixtures
def ring_means(k=8, radius=1.0):
    """``k`` points on a circle at angles 2 pi i / k, shape ``(k, 2)`` float64."""
    angle = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def grid_means(values=(-4.0, -2.0, 0.0, 2.0, 4.0)):
    """All pairs of ``values`` (row-major: x varies slowest), shape ``(len^2, 2)``."""
    v = np.asarray(values, dtype=np.float64)
    gx, gy = np.meshgrid(v, v, indexing='ij')
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def mixture_log_density(x, means, sigma):
    """log p(x) for an equal-weight mixture of N(mean_k, sigma^2 I) in 2-D, shape (n,).

    log p(x) = logsumexp_k(-|x - mu_k|^2 / (2 sigma^2)) - log K - log(2 pi sigma^2).
    """
    x = np.asarray(x, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"mixture_log_density: expected points of shape (n, 2), got {x.shape}")
    d2 = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    a = -d2 / (2 * sigma ** 2)
    amax = a.max(axis=1, keepdims=True)
    lse = (amax + np.log(np.exp(a - amax).sum(axis=1, keepdims=True)))[:, 0]
    return lse - math.log(len(means)) - math.log(2 * math.pi * sigma ** 2)


def _mixture_entropy(k, sigma):
    return math.log(k) + math.log(2 * math.pi * math.e * sigma ** 2)


_MIXTURES = {
    'ring8': (lambda: ring_means(8, 1.0), 0.01),
    'ring8_wide': (lambda: ring_means(8, 2.0), 0.2),
    'grid25': (grid_means, 0.05),
    'grid25_wide': (grid_means, 0.2),
}


def _sample_mixture(name, n, rng):
    means, sigma = _MIXTURES[name][0](), _MIXTURES[name][1]
    label = rng.integers(0, len(means), n)
    x = means[label] + sigma * rng.standard_normal((n, 2))
    return x, {'label': label}


# ----------------------------------------------------------------------------- others
def _moons(n, rng):
    label = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(label[:, None] == 0, upper, lower) + np.array([-0.5, -0.25])
    return x + 0.1 * rng.standard_normal((n, 2)), {'label': label}


def _circles(n, rng):
    label = rng.integers(0, 2, n)                    # 0 outer, 1 inner
    angle = rng.uniform(0.0, 2 * np.pi, n)
    radius = np.where(label == 0, 1.0, 0.5)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return x + 0.05 * rng.standard_normal((n, 2)), {'label': label}


def _swissroll(n, rng):
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(0.0, 1.0, n))
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
    return x + 0.1 * rng.standard_normal((n, 2)), {'t': t}


_DARK_SQUARES = np.array([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0])


def _checkerboard(n, rng):
    label = rng.integers(0, len(_DARK_SQUARES), n)
    corner = _DARK_SQUARES[label] - 2.0              # lower-left corner of the square
    return corner + rng.uniform(0.0, 1.0, (n, 2)), {'label': label}


def checkerboard_log_density(x):
    """Exact log p(x): log(1/8) on the 8 dark squares, -inf elsewhere."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"checkerboard_log_density: expected points of shape (n, 2), "
                         f"got {x.shape}")
    cell = np.floor(x + 2.0)
    inside = np.all((cell >= 0) & (cell <= 3), axis=1)
    dark = (cell.sum(axis=1) % 2) == 0
    return np.where(inside & dark, -math.log(8.0), -np.inf)


def _pinwheel(n, rng, arms=5, radial_std=0.3, tangential_std=0.05, rate=0.25):
    label = rng.integers(0, arms, n)
    r = 1.0 + radial_std * rng.standard_normal(n)
    s = tangential_std * rng.standard_normal(n)
    angle = 2 * np.pi * label / arms + rate * np.exp(r)
    c, si = np.cos(angle), np.sin(angle)
    x = np.stack([c * r - si * s, si * r + c * s], axis=1)
    return x, {'label': label}


_SAMPLERS = {'moons': _moons, 'circles': _circles, 'swissroll': _swissroll,
             'checkerboard': _checkerboard, 'pinwheel': _pinwheel}


# ----------------------------------------------------------------------------- public
def _check_name(name, where):
    if name not in NAMES:
        raise ValueError(f"{where}: unknown dataset {name!r}; expected one of {NAMES}")


def toy2d(name, n, seed=None, return_factors=False):
    """``n`` points of the 2-D distribution ``name`` as a float32 ``(n, 2)`` array.

    The generating processes are listed in this module's docstring. ``seed``: int
    (reproducible), numpy Generator, or None (global host generator). With
    ``return_factors=True`` returns ``(x, factors)``, factors a dict of latent arrays.
    """
    _check_name(name, 'toy2d')
    n = nonnegative_int(n, 'n', 'toy2d')
    rng = as_generator(seed, 'toy2d')
    if name in _MIXTURES:
        x, factors = _sample_mixture(name, int(n), rng)
    else:
        x, factors = _SAMPLERS[name](int(n), rng)
    x = x.astype(np.float32)
    return (x, factors) if return_factors else x


def toy2d_truth(name):
    """The exactly known quantities of ``name`` as a ``Toy2DTruth`` (see its fields)."""
    _check_name(name, 'toy2d_truth')
    if name in _MIXTURES:
        means, sigma = _MIXTURES[name][0](), _MIXTURES[name][1]
        return Toy2DTruth(name, means=means, sigma=sigma,
                          log_density=lambda x: mixture_log_density(x, means, sigma),
                          entropy=_mixture_entropy(len(means), sigma))
    if name == 'checkerboard':
        return Toy2DTruth(name, log_density=checkerboard_log_density, entropy=math.log(8.0))
    return Toy2DTruth(name)
