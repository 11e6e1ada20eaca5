"""``import scratchgen.nn.functional as F``: every op of ``scratchgen.functional``, plus the
layer-level functions built from them: ``linear`` and ``scaled_dot_product_attention``.

``linear`` is the fused op ``ops.arith.Linear`` (one GEMM, bias added in place, its
gradient in the same backward); attention without dropout is the fused op
``ops.attention.Attention`` (scores masked and normalised in place, only the weights
saved, its own backward; gradients of higher order from ops), with dropout on the
weights a composition of matmul, softmax and dropout.

Attention (shapes for queries of length L, keys/values of length S):

    q (..., L, E), k (..., S, E), v (..., S, Ev)
    scores  = q k^T * scale + mask            (..., L, S)    scale = 1 / sqrt(E)
    weights = softmax(scores, axis=-1)        (..., L, S)    each row sums to 1
    out     = dropout(weights) v              (..., L, Ev)
"""
import math

from ..autograd import Tensor
from ..autograd.tensor import as_tensor_like
from ..functional import *    # noqa: F401,F403  every op's functional form
from .. import functional as _ops
from ..ops.arith import Linear as _Linear
from ..ops import attention as _attention


def linear(input, weight, bias=None):
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch.
    ``input`` is (..., in_features); leading dims are flattened into one matmul."""
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} does not match weight of shape "
                         f"{weight.shape} (expected input (..., {weight.shape[-1]}))")
    if bias is None:
        return _Linear()(input, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape} (expected ({weight.shape[0]},))")
    return _Linear()(input, weight, bias)


def _broadcasts(shape, target):
    """Whether ``shape`` broadcasts to ``target`` (NumPy rules)."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


def additive_mask(mask, ref, who, true_means='keep'):
    """A mask as a float Tensor to add to attention scores (shape unchanged).

    Float masks are returned as they are (their gradient flows); bool masks become
    0 where a position takes part and -inf where it is masked. ``true_means``:
    'keep' (SDPA: True = take part) or 'mask' (MultiheadAttention: True = masked out).
    """
    if mask is None:
        return None
    mask = as_tensor_like(mask, [ref])
    if mask.device != ref.device:
        raise ValueError(f"{who}: mask is on '{mask.device}' but the queries are on '{ref.device}'")
    if mask.dtype.kind == 'b':
        xp = ref.xp
        blocked = ~mask.data if true_means == 'keep' else mask.data
        return Tensor(xp.where(blocked, -math.inf, 0.0).astype(ref.dtype))
    if mask.dtype.kind != 'f':
        raise TypeError(f"{who}: mask must be bool or floating, got dtype {mask.dtype}")
    return mask


def causal_mask(L, S, ref, offset=None):
    """Additive (L, S) mask letting query i see keys j <= i + offset, in ``ref``'s dtype
    and device. The default offset S - L treats the queries as the last L of S positions
    (S == L: the usual lower triangle; a key/value cache: S > L); offset 0 aligns them
    with the first keys (PyTorch's ``is_causal``, the top-left triangle)."""
    xp = ref.xp
    offset = S - L if offset is None else offset
    i = xp.arange(L).reshape(L, 1)
    j = xp.arange(S).reshape(1, S)
    return Tensor(xp.where(j <= i + offset, 0.0, -math.inf).astype(ref.dtype))


def attention(query, key, value, mask=None, dropout_p=0.0, scale=None, causal_offset=None):
    """The attention core with an additive ``mask`` (or None): returns ``(out, weights)``.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> out (..., L, Ev),
    weights (..., L, S) (after dropout, as PyTorch's MultiheadAttention returns them).
    ``causal_offset`` (int or None): query i sees only keys j <= i + offset, without an
    (L, S) mask tensor (``causal_mask`` gives the same as an additive mask).
    """
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ValueError(f"attention: query, key, value need at least 2 dims, got shapes "
                         f"{query.shape}, {key.shape}, {value.shape}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"attention: query of shape {query.shape} and key of shape {key.shape} "
                         f"have different feature sizes ({query.shape[-1]} != {key.shape[-1]})")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"attention: key of shape {key.shape} and value of shape {value.shape} "
                         f"have different lengths ({key.shape[-2]} != {value.shape[-2]})")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"attention: dropout_p must be in [0, 1], got {dropout_p}")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    out, weights = _attention.attention(query, key, value, mask, scale, causal_offset)
    if dropout_p == 0.0:
        return out, weights
    # dropout on the weights: the op's weights, dropped, times v (its own out goes unused)
    weights = _ops.dropout(weights, dropout_p, True)
    return weights @ value.contiguous(), weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False,
                                 dropout_p=0.0, scale=None):
    """softmax(q k^T * scale + mask) v, as PyTorch's ``F.scaled_dot_product_attention``.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    ``attn_mask`` broadcasts to (..., L, S): a bool mask keeps the positions where it is
    True; a float mask is added to the scores. ``is_causal`` masks keys j > i (the
    top-left triangle, as PyTorch; not combinable with ``attn_mask``). ``scale``
    defaults to 1/sqrt(E). Dropout on the weights is applied whenever ``dropout_p`` > 0.
    A query whose keys are all masked gets a zero output and zero gradients, as in
    PyTorch 2.13 (not the NaN of softmax over nothing).
    """
    for name, t in (('query', query), ('key', key), ('value', value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, "
                            f"got {type(t).__name__}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal, "
                         "not both")
    mask = additive_mask(attn_mask, query, 'scaled_dot_product_attention')
    L, S = query.shape[-2], key.shape[-2]
    if mask is not None and not _broadcasts(mask.shape, query.shape[:-2] + (L, S)):
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} does "
                             f"not broadcast to the scores' shape {query.shape[:-2] + (L, S)}")
    out, _ = attention(query, key, value, mask, dropout_p, scale,
                       causal_offset=0 if is_causal else None)
    return out
