"""Reductions: sum, mean, var, std, max, min, argmax, argmin, logsumexp, and the
normalisers softmax and log_softmax.

Every reduction takes ``axis`` (an int, a tuple of ints, or None for all axes) and
``keepdims``; the PyTorch spellings ``dim=`` and ``keepdim=`` are accepted too.

Differences from PyTorch, on purpose: ``max(x, axis)`` / ``x.max(axis)`` return the
values only, like ``torch.amax`` (PyTorch's ``x.max(dim)`` returns ``(values,
indices)``; use ``argmax`` for the indices), and, like ``torch.amax``, they split the
gradient evenly between tied maxima. ``max(x, other_tensor)`` is ``maximum``.
"""
import math
import numbers

from ..autograd import Function, Tensor
from ..backend import int64
from .unary import exp, sqrt, maximum, minimum


def _axes(op, axis, shape):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes of ``shape``.

    As in PyTorch, a 0-d tensor accepts axis 0 or -1 (reducing nothing)."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    bound = ndim or 1                # (max and sum are this module's reductions)
    out = set()
    for a in (tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)):
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
        if not -bound <= a < bound:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of shape "
                             f"{tuple(shape)} ({ndim} dims)")
        if ndim:
            out.add(int(a) % ndim)
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    """The reduced shape with keepdims=True (to broadcast a gradient back)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _options(op, axis, keepdims, dim, keepdim):
    """Merge PyTorch's ``dim``/``keepdim`` spellings into ``axis``/``keepdims``."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def _dropped_shape(shape, axes):
    """The reduced shape with keepdims=False."""
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


def _nonempty(op, x, axes):
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{op}: cannot reduce over an empty axis of a tensor of shape "
                         f"{tuple(x.shape)} (axes {axes})")


def _keep(t, shape, axes, keepdims):
    """A reduced Tensor reshaped to keepdims form, to broadcast against the input."""
    return t if keepdims else t.reshape(_kept_shape(shape, axes))


__all__ = ['sum', 'mean', 'var', 'std', 'max', 'min', 'amax', 'amin', 'argmax', 'argmin',
           'logsumexp', 'softmax', 'log_softmax']


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes('sum', self.axis, x.shape)
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return _keep(gy, self.in_shape, self.axes, self.keepdims).broadcast_to(self.in_shape)


class _Extreme(Function, register=False):
    """max or min over axes. The gradient goes to the positions holding the extreme
    value, split evenly between ties (as ``torch.amax``)."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.op, self.axis, x.shape)
        _nonempty(self.op, x, self.axes)
        self.in_shape = x.shape
        self.kept = getattr(x, self.op)(axis=self.axes, keepdims=True)
        return self.kept if self.keepdims else self.kept.reshape(_dropped_shape(x.shape, self.axes))

    def backward(self, gy):
        x = self.inputs[0].data
        hit = (x == self.kept).astype(gy.dtype)
        share = hit / hit.sum(axis=self.axes, keepdims=True)
        return _keep(gy, self.in_shape, self.axes, self.keepdims) * Tensor(share)


class Max(_Extreme):
    op = 'max'


class Min(_Extreme):
    op = 'min'


class _ArgExtreme(Function, register=False):
    """Index (int64) of the max/min along one axis, or into the flattened tensor."""
    differentiable = False

    def __init__(self, axis=None, keepdims=False):
        if axis is not None and (not isinstance(axis, numbers.Integral) or isinstance(axis, bool)):
            raise TypeError(f"{self.op}: axis must be an int or None, got {axis!r}")
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        axis = self.axis
        if axis is not None:
            axes = _axes(self.op, axis, x.shape)
            if not axes:                              # 0-d tensor: its one element
                return self.xp_of(x).zeros((), dtype=int64)
            (axis,) = axes
        if x.size == 0:
            raise ValueError(f"{self.op}: the tensor of shape {tuple(x.shape)} is empty")
        return getattr(x, self.op)(axis=axis, keepdims=self.keepdims).astype(int64)


class Argmax(_ArgExtreme):
    op = 'argmax'


class Argmin(_ArgExtreme):
    op = 'argmin'


class LogSumExp(Function):
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))), m = max(x)."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = self.xp_of(x)
        self.axes = _axes('logsumexp', self.axis, x.shape)
        self.in_shape = x.shape
        kept = _kept_shape(x.shape, self.axes)
        if x.size == 0:                              # an empty sum: log(0) = -inf
            y = xp.full(kept, -math.inf, dtype=x.dtype)
        else:
            m = x.max(axis=self.axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0.0)     # rows of -inf (or +inf) stay exact
            y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdims else y.reshape(_dropped_shape(x.shape, self.axes))

    def backward(self, gy):                          # gy * softmax(x)
        x = self.inputs[0]
        y = _keep(self.output(), self.in_shape, self.axes, self.keepdims)
        return _keep(gy, self.in_shape, self.axes, self.keepdims) * exp(x - y)


class Softmax(Function):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = self.xp_of(x)
        self.axes = _axes('softmax', self.axis, x.shape)
        _nonempty('softmax', x, self.axes)
        e = x - x.max(axis=self.axes, keepdims=True)
        xp.exp(e, out=e)                               # in place: e is our own array
        e /= e.sum(axis=self.axes, keepdims=True)
        return e

    def backward(self, gy):
        return SoftmaxBackward(self.axes)(self.output(), gy)


class SoftmaxBackward(Function):
    """h = y * (g - sum(g * y)): softmax's vector-Jacobian product, fused (one temporary
    instead of four; attention spends much of its time here)."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, y, g):
        h = g * y
        h -= y * h.sum(axis=self.axes, keepdims=True)
        return h

    def backward(self, u):
        # dh/dg is the same map (symmetric Jacobian); dh/dy: u * (g - S) - g * sum(u * y)
        y, g = self.inputs
        s = (g * y).sum(axis=self.axes, keepdims=True)
        gy = u * (g - s) - g * (u * y).sum(axis=self.axes, keepdims=True) if y.requires_grad else None
        gg = SoftmaxBackward(self.axes)(y, u) if g.requires_grad else None
        return gy, gg


class LogSoftmax(Function):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = self.xp_of(x)
        self.axes = _axes('log_softmax', self.axis, x.shape)
        _nonempty('log_softmax', x, self.axes)
        z = x - x.max(axis=self.axes, keepdims=True)
        z -= xp.log(xp.exp(z).sum(axis=self.axes, keepdims=True))
        return z

    def backward(self, gy):                          # g - softmax(x) * sum(g)
        return gy - exp(self.output()) * gy.sum(axis=self.axes, keepdims=True)


# ------------------------------------------------------------------ functional API
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _options('sum', axis, keepdims, dim, keepdim)
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _options('mean', axis, keepdims, dim, keepdim)
    n = _count(x.shape, _axes('mean', axis, x.shape))
    return sum(x, axis, keepdims) * (1.0 / n if n else math.nan)


def _var(op, x, axis, unbiased, keepdims, dim, keepdim, correction):
    axis, keepdims = _options(op, axis, keepdims, dim, keepdim)
    axes = _axes(op, axis, x.shape)
    ddof = (1 if unbiased else 0) if correction is None else correction
    dof = _count(x.shape, axes) - ddof
    d = x - mean(x, axes, keepdims=True)
    return sum(d * d, axes, keepdims) * (1.0 / dof if dof > 0 else math.inf)


def var(x, axis=None, unbiased=True, keepdims=False, *, dim=None, keepdim=None,
        correction=None):
    """Variance over ``axis``: sum((x - mean)^2) / (n - correction); ``correction`` is
    1 when ``unbiased`` (the default, as in PyTorch), else 0. n <= correction gives nan
    or inf, as in PyTorch."""
    return _var('var', x, axis, unbiased, keepdims, dim, keepdim, correction)


def std(x, axis=None, unbiased=True, keepdims=False, *, dim=None, keepdim=None,
        correction=None):
    """sqrt(var(x)); the same options as ``var``."""
    return sqrt(_var('std', x, axis, unbiased, keepdims, dim, keepdim, correction))


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The largest values over ``axis`` (values only; see the module docstring).
    ``max(x, other)`` with a Tensor ``other`` is ``maximum(x, other)``."""
    if isinstance(axis, Tensor):
        return maximum(x, axis)
    axis, keepdims = _options('max', axis, keepdims, dim, keepdim)
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The smallest values over ``axis`` (values only). ``min(x, other)`` is ``minimum``."""
    if isinstance(axis, Tensor):
        return minimum(x, axis)
    axis, keepdims = _options('min', axis, keepdims, dim, keepdim)
    return Min(axis, keepdims)(x)


amax, amin = max, min


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the largest value along ``axis`` (int64), or into the flattened tensor."""
    axis, keepdims = _options('argmax', axis, keepdims, dim, keepdim)
    return Argmax(axis, keepdims)(x)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _options('argmin', axis, keepdims, dim, keepdim)
    return Argmin(axis, keepdims)(x)


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _options('logsumexp', axis, keepdims, dim, keepdim)
    return LogSumExp(axis, keepdims)(x)


def softmax(x, axis=-1, *, dim=None):
    """exp(x) / sum(exp(x)) along ``axis`` (default the last), computed stably."""
    if dim is not None:
        axis = dim
    return Softmax(axis)(x)


def log_softmax(x, axis=-1, *, dim=None):
    """x - logsumexp(x) along ``axis`` (default the last), computed stably."""
    if dim is not None:
        axis = dim
    return LogSoftmax(axis)(x)


TENSOR_METHODS = {
    'sum': sum, 'mean': mean, 'var': var, 'std': std, 'max': max, 'min': min,
    'amax': amax, 'amin': amin, 'argmax': argmax, 'argmin': argmin,
    'logsumexp': logsumexp, 'softmax': softmax, 'log_softmax': log_softmax,
}
