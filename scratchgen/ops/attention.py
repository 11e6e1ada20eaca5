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
triangle added inside the op (no (L, S) mask tensor in the graph), and the queries go
in blocks of ``BLOCK_ROWS``, each block computing scores (and their gradients) only up
to the last key its last query sees: at L = S = 512, 56% of the scores, the rest of P
stays 0. A query whose keys
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


BLOCK_ROWS = 64     # query rows per block of the causal loop: 8 blocks at T = 512, 56% of the scores


def _causal(xp, L, S, offset, dtype):
    """Additive (L, S) array: 0 where key j <= query i + offset, -inf above."""
    i = xp.arange(L).reshape(L, 1)
    j = xp.arange(S).reshape(1, S)
    return xp.where(j <= i + offset, 0.0, -math.inf).astype(dtype)


def _blocks(L, S, offset, rows):
    """[(r0, r1, c1)]: query rows r0:r1 and the keys :c1 they can see. Without a causal
    triangle one block; with one, blocks of ``rows`` queries, each stopping at the last
    key its last query sees, so the scores above the diagonal are never computed."""
    if offset is None:
        return [(0, L, S)]
    rows = rows or (BLOCK_ROWS if L > BLOCK_ROWS else L)
    return [(r0, min(L, r0 + rows), max(0, min(S, min(L, r0 + rows) + offset)))
            for r0 in range(0, L, rows)]


def _mask_block(m, r0, r1, c1):
    """The part of a broadcastable mask that meets rows r0:r1 and keys :c1."""
    cols = slice(None) if m.shape[-1] == 1 else slice(0, c1)
    if m.ndim == 1:
        return m[cols]
    return m[..., slice(None) if m.shape[-2] == 1 else slice(r0, r1), cols]


def _broadcast_shape(*shapes):
    n = max(len(s) for s in shapes)
    padded = [(1,) * (n - len(s)) + tuple(s) for s in shapes]
    return tuple(max(dims) for dims in zip(*padded))


class Attention(Function):
    """(q (..., L, E), k (..., S, E), v (..., S, Ev)[, mask]) -> (out (..., L, Ev),
    P (..., L, S)); ``mask`` is additive and broadcasts to (..., L, S). See the module
    docstring for the formulas. ``block_rows``: queries per block of the causal loop
    (default ``BLOCK_ROWS``; the tests use small blocks on small inputs)."""

    def __init__(self, scale, causal_offset=None, block_rows=None):
        self.scale, self.causal_offset = float(scale), causal_offset
        self.block_rows = block_rows

    def forward(self, q, k, v, mask=None):
        xp = self.xp_of(q)
        L, S = q.shape[-2], k.shape[-2]
        batch = _broadcast_shape(q.shape[:-2], k.shape[:-2], v.shape[:-2],
                                 () if mask is None or mask.ndim < 2 else mask.shape[:-2])
        dtype = xp.result_type(q.dtype, k.dtype, v.dtype, *([] if mask is None else [mask.dtype]))
        self.qs = q * self.scale                 # scale q (L x E), not the scores (L x S)
        kt = xp.ascontiguousarray(k).swapaxes(-1, -2)
        v = xp.ascontiguousarray(v)
        causal = None if self.causal_offset is None else \
            _causal(xp, L, S, self.causal_offset, dtype)
        # zeros: the scores above the causal diagonal are never computed, their weights are 0
        self.p = p = xp.zeros(batch + (L, S), dtype)
        self.out = out = xp.zeros(batch + (L, v.shape[-1]), dtype)
        self.empty = None                        # (..., L, 1): queries that see no key
        self.blocks = _blocks(L, S, self.causal_offset, self.block_rows)
        for r0, r1, c1 in self.blocks:
            if c1 == 0:                          # these queries see no key: weights 0
                self._mark_empty(xp, batch, L, r0, r1, True)
                continue
            s = p[..., r0:r1, :c1]               # this block's scores, in place in P
            backend.matmul(self.qs[..., r0:r1, :], kt[..., :c1], out=s)
            if mask is not None:
                s += _mask_block(mask, r0, r1, c1)
            if causal is not None:
                s += causal[r0:r1, :c1]
            top = s.max(axis=-1, keepdims=True)
            empty = top == -math.inf
            some_empty = bool(empty.any())
            if some_empty:
                top[empty] = 0.0                 # their row stays -inf, exp gives 0
                self._mark_empty(xp, batch, L, r0, r1, empty)
            s -= top
            xp.exp(s, out=s)
            total = s.sum(axis=-1, keepdims=True)
            if some_empty:
                total[empty] = 1.0               # 0 / 1: zero weights, not 0 / 0
            s /= total
            backend.matmul(s, v[..., :c1, :], out=out[..., r0:r1, :])
        return out, p

    def _mark_empty(self, xp, batch, L, r0, r1, rows):
        if self.empty is None:
            self.empty = xp.zeros(batch + (L, 1), dtype=bool)
        self.empty[..., r0:r1, :] = rows

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
        """First order on raw arrays, block by block (nothing records: grad mode is off)."""
        p, out = self.p, self.out
        xp = self.xp_of(p)
        batch, (L, S) = p.shape[:-2], p.shape[-2:]
        kd, vd = xp.ascontiguousarray(k.data), xp.ascontiguousarray(v.data)
        gyd = None if gy is None else gy.data
        gpd = None if gp is None else gp.data
        zeros = lambda *shape: xp.zeros(batch + shape, p.dtype)      # noqa: E731
        gq = zeros(L, q.shape[-1]) if q.requires_grad else None
        gk = zeros(S, k.shape[-1]) if k.requires_grad else None
        gv = zeros(S, v.shape[-1]) if v.requires_grad and gy is not None else None
        gmask = zeros(L, S) if mask is not None and mask.requires_grad else None
        for r0, r1, c1 in self.blocks:
            if c1 == 0:
                continue
            pb = p[..., r0:r1, :c1]
            if gyd is not None:
                dp = backend.matmul(gyd[..., r0:r1, :], vd[..., :c1, :].swapaxes(-1, -2))
                if gpd is not None:
                    dp += gpd[..., r0:r1, :c1]
                    d = (dp * pb).sum(axis=-1, keepdims=True)
                else:                            # rowsum(dP * P) = rowsum(gy * out)
                    d = (gyd[..., r0:r1, :] * out[..., r0:r1, :]).sum(axis=-1, keepdims=True)
            else:
                dp = gpd[..., r0:r1, :c1].copy()
                d = (dp * pb).sum(axis=-1, keepdims=True)
            dp -= d
            dp *= pb                             # dS
            if gq is not None:
                backend.matmul(dp, kd[..., :c1, :], out=gq[..., r0:r1, :])
            if gk is not None:                   # dk = dS^T q scale = dS^T (q scale)
                gk[..., :c1, :] += backend.matmul(dp.swapaxes(-1, -2), self.qs[..., r0:r1, :])
            if gv is not None:
                gv[..., :c1, :] += backend.matmul(pb.swapaxes(-1, -2), gyd[..., r0:r1, :])
            if gmask is not None:
                gmask[..., r0:r1, :c1] = dp
        if gq is not None:
            gq *= self.scale
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


def attention(q, k, v, mask=None, scale=None, causal_offset=None, block_rows=None):
    """``(out, P)`` of ``Attention``; ``scale`` defaults to 1 / sqrt(E). Checks are the
    caller's (nn.functional.attention)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    op = Attention(scale, causal_offset, block_rows)
    return op(q, k, v) if mask is None else op(q, k, v, mask)
