"""Arithmetic: + - * / ** @, negation, and comparisons (no gradient, bool results).

Broadcasting: forward broadcasts as NumPy does; the engine sums each input gradient
back to the input's shape, so these backward rules ignore broadcasting entirely.
"""
from .. import backend
from ..autograd import Function, Tensor
from .unary import log


__all__ = ['add', 'sub', 'mul', 'div', 'neg', 'pow', 'matmul', 'lt', 'le', 'gt', 'ge', 'eq', 'ne']


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return (gy * b if a.requires_grad else None), (gy * a if b.requires_grad else None)


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return (ga if a.requires_grad else None), (-ga * a / b if b.requires_grad else None)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, gy):
        return -gy


class PowConst(Function):
    """x ** p for a constant Python number p."""

    def __init__(self, p):
        self.p = p

    def forward(self, a):
        return a ** self.p

    def backward(self, gy):
        (a,) = self.inputs
        if self.p == 0:
            return gy * 0.0
        return gy * self.p * a ** (self.p - 1)


class Pow(Function):
    """a ** b with both a tensor; d/db = a**b * log(a) needs a > 0 where b varies."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs      # skip a gradient nobody needs (2.0 ** x needs only gb)
        ga = gy * b * a ** (b - 1) if a.requires_grad else None
        gb = gy * self.output() * log(a) if b.requires_grad else None
        return ga, gb


class MatMul(Function):
    """Batched matrix product of arrays with ndim >= 2 (1-d cases handled in ``matmul``).

    (..., K) @ (K, N) runs as one (rows, K) @ (K, N) GEMM, and the weight's gradient as
    one (K, rows) @ (rows, N) GEMM, rather than a batch of small products whose weight
    gradients the engine then sums (2-2.5x slower at a GPT's sizes)."""

    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align "
                             f"({a.shape[-1]} != {b.shape[-2]})")
        if a.ndim > 2 and b.ndim == 2:
            rows = backend.matmul(a.reshape(-1, a.shape[-1]), b)
            return rows.reshape(a.shape[:-1] + (b.shape[-1],))
        return backend.matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs      # skip a product nobody needs (e.g. the input batch's)
        ga = gy @ b.mT if a.requires_grad else None
        if not b.requires_grad:
            return ga, None
        if a.ndim > 2 and b.ndim == 2:
            return ga, _rows(a).mT @ _rows(gy)
        return ga, a.mT @ gy


def _rows(t):
    """(..., K) -> (rows, K)."""
    return t.reshape(-1, t.shape[-1]) if t.ndim != 2 else t


class Linear(Function):
    """y = x W^T + b for x (..., in), W (out, in), b (out,) or absent: one GEMM, and the
    bias added in place. Backward: dx = gy W, dW = gy^T x (one GEMM over all rows) and
    db = the column sums of gy, all here, so no broadcast Add and no engine sum."""

    def forward(self, x, w, b=None):
        y = backend.matmul(x.reshape(-1, x.shape[-1]), w.T)
        if b is not None:
            y = y + b if b.dtype != y.dtype else y.__iadd__(b)   # in place unless b promotes
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, gy):
        x, w = self.inputs[:2]
        gx = gy @ w if x.requires_grad else None
        gw = _rows(gy).mT @ _rows(x) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        gb = _rows(gy).sum(axis=0) if self.inputs[2].requires_grad else None
        return gx, gw, gb


# ------------------------------------------------------------------ comparisons
class _Compare(Function, register=False):
    differentiable = False


class Lt(_Compare):
    def forward(self, a, b):
        return a < b


class Le(_Compare):
    def forward(self, a, b):
        return a <= b


class Gt(_Compare):
    def forward(self, a, b):
        return a > b


class Ge(_Compare):
    def forward(self, a, b):
        return a >= b


class Eq(_Compare):
    def forward(self, a, b):
        return a == b


class Ne(_Compare):
    def forward(self, a, b):
        return a != b


# ------------------------------------------------------------------ functional API
def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def neg(a):
    return Neg()(a)


def pow(a, p):
    if isinstance(p, Tensor):
        return Pow()(a, p)
    return PowConst(p)(a)


def matmul(a, b):
    """NumPy/PyTorch matmul: 1-d operands are promoted to matrices, then squeezed."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be Tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must not be 0-d, got shapes {a.shape} and {b.shape}")
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({a2.shape[-1]} != {b2.shape[-2]})")
    y = MatMul()(a2, b2)
    if b.ndim == 1:
        y = y.squeeze(-1)
    if a.ndim == 1:
        y = y.squeeze(-2 if b.ndim > 1 else -1)
    return y


def lt(a, b):
    return Lt()(a, b)


def le(a, b):
    return Le()(a, b)


def gt(a, b):
    return Gt()(a, b)


def ge(a, b):
    return Ge()(a, b)


def eq(a, b):
    return Eq()(a, b)


def ne(a, b):
    return Ne()(a, b)


TENSOR_METHODS = {
    '__add__': add, '__radd__': lambda a, b: add(b, a),
    '__sub__': sub, '__rsub__': lambda a, b: sub(b, a),
    '__mul__': mul, '__rmul__': lambda a, b: mul(b, a),
    '__truediv__': div, '__rtruediv__': lambda a, b: div(b, a),
    '__pow__': pow, '__rpow__': lambda a, b: Pow()(b, a),
    '__matmul__': matmul, '__rmatmul__': lambda a, b: matmul(b, a),
    '__neg__': neg,
    '__lt__': lt, '__le__': le, '__gt__': gt, '__ge__': ge, '__eq__': eq, '__ne__': ne,
    'add': add, 'sub': sub, 'mul': mul, 'div': div, 'pow': pow, 'matmul': matmul, 'neg': neg,
}
