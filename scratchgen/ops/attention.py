"""Attention as one op: ``out = P v`` with ``P = softmax(q k^T * scale + mask)``.

Built from matmul, add and softmax, attention keeps every intermediate (the scaled
queries, the scores, the masked scores, P) alive for the backward and makes one op's
worth of passes over the (..., L, S) scores for each. ``Attention`` computes the same
thing in place (one scores array, masked, exponentiated and normalised where it lies),
saves only P, and has its own backward:

    dv = P^T gy          dP = gy v^T + gP        D = rowsum(dP * P)
    dS = P * (dP - D)    dq = dS k * scale       dk = dS^T q * scale     dmask = dS

(gP is the gradient reaching the weights output, usually none; without it
``D = rowsum(gy * out)``, an (..., L, 1) sum over Ev instead of S.)

Second order: when the backward itself is being differentiated (``create_graph=True``,
so grad mode is on while it runs), it rebuilds P from ops and writes the same formulas
with Tensor ops, as ``norm.Standardize`` rebuilds its statistics, so gradients of every
order come from the ops' own rules. Otherwise (plain ``backward()``) it works on the raw
arrays: nothing is recorded, so nothing needs to be differentiable.

``causal_offset`` (an int, or None) lets query i see only keys j <= i + offset, the
triangle added inside the op (no (L, S) mask tensor in the graph). A query whose keys
are all masked (a row of -inf scores) gets zero weights, a zero output and zero
gradients, as PyTorch 2.13's ``scaled_dot_product_attention`` gives (softmax alone
would give NaN, 0/0).
"""
import math

from .. import backend
from ..autograd import Function, Tensor, is_grad_enabled
from .reduce import softmax, SoftmaxBackward
from .unary import where


__all__ = []            # used through nn.functional.attention / scaled_dot_product_attention
TENSOR_METHODS = {}


def _causal(xp, L, S, offset, dtype):
    """Additive (L, S) array: 0 where key j <= query i + offset, -inf above."""
    i = xp.arange(L).reshape(L, 1)
    j = xp.arange(S).reshape(1, S)
    return xp.where(j <= i + offset, 0.0, -math.inf).astype(dtype)


def _add(s, m):
    """s + m, in place on our own scores array unless m promotes or enlarges it."""
    if m.dtype == s.dtype and len(m.shape) <= len(s.shape) and all(
            a in (1, b) for a, b in zip(m.shape[::-1], s.shape[::-1])):
        s += m
        return s
    return s + m


class Attention(Function):
    """(q (..., L, E), k (..., S, E), v (..., S, Ev)[, mask]) -> (out (..., L, Ev),
    P (..., L, S)); ``mask`` is additive and broadcasts to (..., L, S). See the module
    docstring for the formulas."""

    def __init__(self, scale, causal_offset=None):
        self.scale, self.causal_offset = float(scale), causal_offset

    def forward(self, q, k, v, mask=None):
        xp = self.xp_of(q)
        s = backend.matmul(q * self.scale, xp.ascontiguousarray(k).swapaxes(-1, -2))
        if mask is not None:
            s = _add(s, mask)
        if self.causal_offset is not None:
            s = _add(s, _causal(xp, s.shape[-2], s.shape[-1], self.causal_offset, s.dtype))
        top = s.max(axis=-1, keepdims=True)                      # (..., L, 1)
        empty = top == -math.inf                 # queries that see no key at all
        self.empty = empty if bool(empty.any()) else None
        if self.empty is not None:
            top[empty] = 0.0                     # their row stays -inf, exp gives 0
        s -= top
        xp.exp(s, out=s)
        total = s.sum(axis=-1, keepdims=True)
        if self.empty is not None:
            total[empty] = 1.0                   # 0 / 1: zero weights, not 0 / 0
        s /= total
        self.p = s
        self.out = backend.matmul(s, xp.ascontiguousarray(v))
        return self.out, s

    def backward(self, gy, gp):
        q, k, v = self.inputs[:3]
        mask = self.inputs[3] if len(self.inputs) == 4 else None
        if is_grad_enabled():
            grads = self._backward_ops(q, k, v, mask, gy, gp)
        else:
            grads = [None if g is None else Tensor(g)
                     for g in self._backward_arrays(q, k, v, mask, gy, gp)]
        return tuple(grads) if mask is not None else tuple(grads[:3])

    def _backward_arrays(self, q, k, v, mask, gy, gp):
        """First order on raw arrays (nothing records: grad mode is off)."""
        p = self.p
        xp = self.xp_of(p)
        if gy is not None:
            dp = backend.matmul(gy.data, xp.ascontiguousarray(v.data).swapaxes(-1, -2))
            if gp is not None:
                dp += gp.data
        else:
            dp = gp.data.copy()
        if gp is None:
            d = (gy.data * self.out).sum(axis=-1, keepdims=True)    # = rowsum(dP * P)
        else:
            d = (dp * p).sum(axis=-1, keepdims=True)
        dp -= d
        dp *= p                                                    # dS
        gq = gk = gv = None
        if q.requires_grad:
            gq = backend.matmul(dp, xp.ascontiguousarray(k.data))
            gq *= self.scale
        if k.requires_grad:
            gk = backend.matmul(dp.swapaxes(-1, -2), q.data)
            gk *= self.scale
        if v.requires_grad and gy is not None:
            gv = backend.matmul(p.swapaxes(-1, -2), gy.data)
        gmask = dp if mask is not None and mask.requires_grad else None
        return gq, gk, gv, gmask

    def _backward_ops(self, q, k, v, mask, gy, gp):
        """The same gradient from Tensor ops, P rebuilt from q, k and mask, so that it can
        be differentiated again (create_graph=True)."""
        s = (q * self.scale) @ k.mT
        if mask is not None:
            s = s + mask
        if self.causal_offset is not None:
            s = s + Tensor(_causal(s.xp, s.shape[-2], s.shape[-1], self.causal_offset, s.dtype))
        if self.empty is None:
            p = softmax(s, axis=-1)
        else:                                    # the forward's zero rows, from ops
            empty = Tensor(self.empty)
            p = where(empty, 0.0, softmax(where(empty, 0.0, s), axis=-1))
        dp = None if gy is None else gy @ v.mT
        if gp is not None:
            dp = gp if dp is None else dp + gp
        ds = SoftmaxBackward((p.ndim - 1,))(p, dp)
        gq = (ds @ k) * self.scale if q.requires_grad else None
        gk = (ds.mT @ q) * self.scale if k.requires_grad else None
        gv = p.mT @ gy if v.requires_grad and gy is not None else None
        gmask = ds if mask is not None and mask.requires_grad else None
        return gq, gk, gv, gmask


def attention(q, k, v, mask=None, scale=None, causal_offset=None):
    """``(out, P)`` of ``Attention``; ``scale`` defaults to 1 / sqrt(E). Checks are the
    caller's (nn.functional.attention)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    op = Attention(scale, causal_offset)
    return op(q, k, v) if mask is None else op(q, k, v, mask)
