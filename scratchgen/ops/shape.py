"""Shape ops: reshape, broadcast and its adjoint sum_to, transposes, ..."""
from ..autograd import Function


def _sum_to_axes(in_shape, out_shape):
    """Axes to sum (keepdims) so that an array of in_shape becomes out_shape."""
    lead = len(in_shape) - len(out_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(out_shape) if s == 1 and in_shape[lead + i] != 1)
    return lead, axes


__all__ = ['sum_to', 'broadcast_to', 'reshape', 'permute', 'swapaxes', 'squeeze', 'unsqueeze']


class SumTo(Function):
    """Sum an array down to a shape it was broadcast from (the adjoint of BroadcastTo)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        lead, axes = _sum_to_axes(x.shape, self.shape)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return self.xp_of(x).broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} "
                             f"to {self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class Reshape(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape shape {tuple(x.shape)} "
                             f"({x.size} elements) to {self.shape}") from None

    def backward(self, gy):
        return reshape(gy, self.in_shape)


class Permute(Function):
    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        if sorted(a % x.ndim for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {self.axes} is not a permutation of the "
                             f"{x.ndim} dims of shape {tuple(x.shape)}")
        return x.transpose(self.axes)

    def backward(self, gy):
        inv = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inv[a % len(self.axes)] = i
        return permute(gy, inv)


def sum_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else SumTo(shape)(x)


def broadcast_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else BroadcastTo(shape)(x)


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape(shape)(x)


def permute(x, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Permute(axes)(x)


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, axes)


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = {d % x.ndim for d in dims if x.shape[d] == 1}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in dims))


def unsqueeze(x, dim):
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


TENSOR_METHODS = {
    'sum_to': sum_to, 'broadcast_to': broadcast_to, 'reshape': reshape, 'permute': permute,
    'swapaxes': swapaxes, 'squeeze': squeeze, 'unsqueeze': unsqueeze,
    'mT': property(lambda x: swapaxes(x, -1, -2)),
}
