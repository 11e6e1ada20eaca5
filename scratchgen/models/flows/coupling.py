"""Coupling transforms: half of the features pass through and parameterise an invertible
map of the other half, so the Jacobian is triangular and its determinant is a product.

With x split into (x_a, x_b) by ``identity`` (the indices that pass through):

    z_a = x_a,   z_b = g(x_b; θ(x_a, context))      log|det| = Σ_i log |g'(x_b,i)|

    AffineCoupling  g(x) = x ⊙ exp(s) + t            (RealNVP, Dinh et al., 2017), with
                    s = B · tanh(ŝ / B) kept in (−B, B) so training cannot blow up;
    SplineCoupling  g = a monotone rational-quadratic spline on [−T, T] with K bins and
                    the identity outside (neural spline flow, Durkan et al., 2019).

θ comes from any network (``conditioner``); its last layer starts at zero, so a fresh
coupling is the identity. docs/flows.md, "Coupling" and "Splines".
"""
import math

from ... import functional as F
from ...autograd import ones
from ...checks import number, positive_int
from .base import Transform, sum_except_batch

__all__ = ['Coupling', 'AffineCoupling', 'SplineCoupling', 'rational_quadratic_spline',
           'soft_clamp']


def soft_clamp(s, bound):
    """B · tanh(s / B): ≈ s near 0, never beyond ±B (bounded log-scales)."""
    return (s / bound).tanh() * bound


class Coupling(Transform):
    """z_a = x_a, z_b = g(x_b; θ) with θ = conditioner([x_a, context]) reshaped to
    (N, |b|, params_per_feature, ...). Subclasses give ``params_per_feature`` and
    ``_g(x_b, θ, inverse) -> (y_b, log|g'| per element)``. Works on vectors (N, D) and,
    splitting channels, on images (N, C, H, W)."""

    params_per_feature = 2

    def __init__(self, features, identity, conditioner, context_dim=0):
        super().__init__()
        who = type(self).__name__
        self.features = positive_int(features, 'features', who)
        self.identity = sorted(int(i) for i in identity)
        self.changed = [i for i in range(self.features) if i not in self.identity]
        if not self.identity or not self.changed or not set(self.identity) <= set(range(self.features)):
            raise ValueError(f"{who}: identity must be a proper, non-empty subset of "
                             f"0..{self.features - 1}, got {identity!r}")
        self.order = sorted(range(self.features), key=(self.identity + self.changed).__getitem__)
        self.context_dim = context_dim
        self.conditioner = conditioner

    def _theta(self, x_a, context):
        h = x_a
        if self.context_dim:
            if context is None:
                raise ValueError(f"{type(self).__name__}: built with context_dim={self.context_dim} "
                                 f"but called without a context")
            c = context.reshape(*context.shape, *([1] * (x_a.ndim - 2)))
            h = F.cat([x_a, c.expand(x_a.shape[0], self.context_dim, *x_a.shape[2:])], 1)
        theta = self.conditioner(h)
        return theta.reshape(x_a.shape[0], len(self.changed), self.params_per_feature, *x_a.shape[2:])

    def _couple(self, x, context, inverse):
        if x.ndim < 2 or x.shape[1] != self.features:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape}; expected "
                             f"{self.features} features on axis 1")
        x_a, x_b = x.index_select(1, self.identity), x.index_select(1, self.changed)
        y_b, log_g = self._g(x_b, self._theta(x_a, context), inverse)
        y = F.cat([x_a, y_b], 1).index_select(1, self.order)
        return y, sum_except_batch(log_g)

    def forward(self, x, context=None):
        return self._couple(x, context, inverse=False)

    def inverse(self, z, context=None):
        return self._couple(z, context, inverse=True)


class AffineCoupling(Coupling):
    """g(x_b) = x_b ⊙ exp(s) + t,  s = B tanh(ŝ/B);  log|g'| = s;  g⁻¹(z_b) = (z_b − t) ⊙ exp(−s)."""

    def __init__(self, features, identity, conditioner, context_dim=0, scale_bound=3.0):
        super().__init__(features, identity, conditioner, context_dim)
        self.scale_bound = number(scale_bound, 'scale_bound', 'AffineCoupling', low=0, low_open=True)

    def _g(self, x_b, theta, inverse):
        s, t = soft_clamp(theta[:, :, 0], self.scale_bound), theta[:, :, 1]
        if inverse:
            return (x_b - t) * (-s).exp(), -s
        return x_b * s.exp() + t, s


# ----------------------------------------------------------------------------- splines
MIN_BIN_WIDTH = MIN_BIN_HEIGHT = MIN_DERIVATIVE = 1e-3


def _knots(unnormalised, bound, minimum):
    """Softmax widths (each ≥ ``minimum`` of the interval) -> the K+1 knot positions from
    −bound to bound: the cumulative sums, written as a product with a triangular matrix."""
    k = unnormalised.shape[-1]
    fraction = minimum + (1 - minimum * k) * unnormalised.softmax(-1)
    ones_upper = ones(k, k + 1, dtype=fraction.dtype, device=fraction.device)
    ones_upper.data[...] = fraction.xp.triu(ones_upper.data, 1)     # [i, j] = 1 when i < j
    knots = (fraction @ ones_upper) * (2 * bound) - bound          # 0 … 1 -> −B … B
    return knots


def _bin_ends(knots, v):
    """Indices (k, k + 1) of the ends of the bin [knots_k, knots_k+1) holding v (clipped
    to the K bins), shaped (..., 3, 2) to gather from the stacked x-knots, y-knots and
    slopes; not differentiable, like any choice of branch."""
    xp = knots.xp
    k = (v.data[..., None] >= knots.data[..., 1:-1]).sum(-1, keepdims=True)
    ends = xp.concatenate([k, k + 1], -1)[..., None, :]
    return xp.ascontiguousarray(xp.broadcast_to(ends, ends.shape[:-2] + (3, 2)))


def rational_quadratic_spline(x, widths, heights, derivatives, bound, inverse=False):
    """The monotone rational-quadratic spline of Gregory & Delbourgo (1982) on [−B, B],
    the identity outside (linear tails, slope 1 at ±B). Returns (y, log|dy/dx|) at x,
    or with ``inverse`` the x and −log|dy/dx| at y = x.

    widths, heights: (..., K) unnormalised bin sizes; derivatives: (..., K − 1)
    unnormalised slopes at the inner knots. In bin k, with ξ = (x − x_k)/w_k ∈ [0, 1],
    s_k = h_k/w_k and slopes d_k, d_{k+1} at its ends:

        y  = y_k + h_k [s_k ξ² + d_k ξ(1−ξ)] / [s_k + (d_{k+1} + d_k − 2 s_k) ξ(1−ξ)]
        y' = s_k² [d_{k+1} ξ² + 2 s_k ξ(1−ξ) + d_k (1−ξ)²] / [s_k + (d_{k+1} + d_k − 2 s_k) ξ(1−ξ)]²

    The inverse solves a ξ² + b ξ + c = 0 for the root in [0, 1] in the form
    ξ = 2c / (−b − √(b² − 4ac)), with the discriminant clamped at 0: it never divides
    by a vanishing a, and rounding can never make it take √ of a negative number.
    """
    inside = x.abs() < bound
    v = x.clamp(-bound, bound)                        # tails: computed on a safe value, then dropped
    xk = _knots(widths, bound, MIN_BIN_WIDTH)
    yk = _knots(heights, bound, MIN_BIN_HEIGHT)
    slope_shift = math.log(math.expm1(1 - MIN_DERIVATIVE))     # softplus(0 + shift) + min = 1
    inner = F.softplus(derivatives + slope_shift) + MIN_DERIVATIVE
    one = ones(*inner.shape[:-1], 1, dtype=inner.dtype, device=inner.device)
    d = F.cat([one, inner, one], -1)                  # slope 1 at ±B matches the tails
    ends = F.stack([xk, yk, d], -2).gather(-1, _bin_ends(yk if inverse else xk, v))   # (..., 3, 2)
    x_k, y_k, d_k, d_k1 = ends[..., 0, 0], ends[..., 1, 0], ends[..., 2, 0], ends[..., 2, 1]
    w_k, h_k = ends[..., 0, 1] - x_k, ends[..., 1, 1] - y_k
    s_k = h_k / w_k
    curvature = d_k1 + d_k - 2 * s_k
    if inverse:
        dy = v - y_k
        a = h_k * (s_k - d_k) + dy * curvature
        b = h_k * d_k - dy * curvature
        c = -s_k * dy
        disc = (b * b - 4 * a * c).clamp(min=0.0)
        xi = (2 * c) / (-b - disc.sqrt())
        out = xi * w_k + x_k
    else:
        xi = (v - x_k) / w_k
    q = xi * (1 - xi)
    denominator = s_k + curvature * q
    if not inverse:
        out = y_k + h_k * (s_k * xi * xi + d_k * q) / denominator
    log_dydx = (2 * s_k.log() + (d_k1 * xi * xi + 2 * s_k * q + d_k * (1 - xi) * (1 - xi)).log()
                - 2 * denominator.log())
    y = F.where(inside, out, x)
    log_g = F.where(inside, -log_dydx if inverse else log_dydx, 0.0)
    return y, log_g


class SplineCoupling(Coupling):
    """g = rational-quadratic spline per changed feature with K bins on [−T, T]
    (θ: K widths, K heights, K − 1 inner slopes); identity outside [−T, T]."""

    def __init__(self, features, identity, conditioner, context_dim=0, bins=8, tail_bound=4.0):
        super().__init__(features, identity, conditioner, context_dim)
        self.bins = positive_int(bins, 'bins', 'SplineCoupling')
        self.tail_bound = number(tail_bound, 'tail_bound', 'SplineCoupling', low=0, low_open=True)
        self.params_per_feature = 3 * self.bins - 1

    def _g(self, x_b, theta, inverse):
        K = self.bins
        return rational_quadratic_spline(x_b, theta[..., :K], theta[..., K:2 * K], theta[..., 2 * K:],
                                         self.tail_bound, inverse)
