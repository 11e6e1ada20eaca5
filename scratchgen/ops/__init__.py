"""Ops: one small Function per primitive, grouped by family, plus the functional API.

Each family module defines its Functions, plain functions that apply them (listed in
``__all__``; ``scratchgen.functional`` re-exports them), and a ``TENSOR_METHODS`` dict;
importing this package attaches those methods and operators to ``Tensor`` (so
``x + y`` and ``x.sum()`` work without autograd importing ops).

Families: arith (+ - * / ** @, comparisons), unary (elementwise math, activations),
reduce (sum, mean, max, softmax, ...), shape (reshape, transpose, cat, pad, ...),
index (indexing, gather, embedding), conv (conv, pooling, upsampling), norm (layer,
batch, group norm), dropout, loss, attention (softmax(q k^T * scale + mask) v as one op). ``special`` holds array functions the ops need
and NumPy lacks (erf).
"""
from ..autograd import Tensor
from . import arith, unary, reduce, shape, index, conv, norm, dropout, loss, attention

FAMILIES = [arith, unary, reduce, shape, index, conv, norm, dropout, loss, attention]


def _install():
    for family in FAMILIES:
        for name, fn in family.TENSOR_METHODS.items():
            setattr(Tensor, name, fn)


_install()
