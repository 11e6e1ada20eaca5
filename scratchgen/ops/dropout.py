"""Dropout: during training, zero each element with probability p and scale the survivors
by 1 / (1 - p), so the expected value of every element is unchanged.

The keep-mask is drawn from the seeded backend generator on the tensor's own device
(``sg.manual_seed`` makes it reproducible). It is a constant of the graph: the
gradient is the upstream gradient times the same scaled mask.
"""
import numbers

from .. import backend
from ..autograd import Function, Tensor


__all__ = ['dropout']


class Dropout(Function):
    """``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` drawn once per call."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        u = backend.rand(x.shape, dtype=x.dtype, device=backend.device_of(x))
        keep = u < 1.0 - self.p                 # never true for p = 1: all zeros
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0
        self.mask = keep.astype(x.dtype) * scale
        return x * self.mask

    def backward(self, gy):
        return gy * Tensor(self.mask)


def dropout(x, p=0.5, training=True):
    """Randomly zero elements of ``x`` with probability ``p`` (``torch.nn.functional.dropout``).
    Returns ``x`` itself when ``p == 0`` or ``training`` is False."""
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout: expected a Tensor, got {type(x).__name__}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout: p must be a number, got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got p={p}")
    if x.dtype.kind != 'f':
        raise TypeError(f"dropout: expected a floating-point input, got dtype {x.dtype}")
    if not training or p == 0:
        return x
    return Dropout(float(p))(x)


TENSOR_METHODS = {}
