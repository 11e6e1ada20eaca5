"""Reductions: sum, mean, ... over an axis (int or tuple) with keepdims."""
from ..autograd import Function


def _norm_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dims")
        out.append(a % max(ndim, 1))
    return tuple(sorted(set(out)))


def _kept_shape(shape, axes):
    """The reduced shape with keepdims=True (to broadcast a gradient back)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


__all__ = ['sum', 'mean']


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _norm_axis(self.axis, x.ndim)
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        if not self.keepdims:
            gy = gy.reshape(_kept_shape(self.in_shape, self.axes))
        return gy.broadcast_to(self.in_shape)


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    axes = _norm_axis(axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    return sum(x, axis, keepdims) * (1.0 / n)


TENSOR_METHODS = {'sum': sum, 'mean': mean}
