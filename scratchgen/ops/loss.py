"""Loss functions with PyTorch's names, signatures, defaults and ``reduction``
('mean' | 'sum' | 'none').

Most losses are a few lines of other ops. Two get a dedicated Function because the
composition would be numerically worse:

* ``BinaryCrossEntropy``: ``-(t log x + (1 - t) log(1 - x))`` with each log clamped at
  -100 as PyTorch does, computed without ever evaluating log(0);
* ``BinaryCrossEntropyWithLogits``: ``(1 - t) x + softplus(-x)``, finite for any logit
  (``log(sigmoid(x))`` would give -inf once sigmoid underflows).

Cross entropy is ``nll_loss(log_softmax(x))``: log_softmax subtracts the logsumexp, so
it never takes the log of an underflowed probability. Integer class targets are
constants of the graph; invalid ones raise a ValueError naming the function, the shapes
and the offending values (CuPy would index out of range silently).
"""
import math

from .. import backend
from ..autograd import Function, Tensor
from .index import gather
from .reduce import log_softmax
from .unary import abs as abs_, clip, exp, log, sigmoid, softplus, where


__all__ = ['mse_loss', 'l1_loss', 'smooth_l1_loss', 'binary_cross_entropy',
           'binary_cross_entropy_with_logits', 'nll_loss', 'cross_entropy',
           'gaussian_nll_loss', 'kl_div']


# ----------------------------------------------------------------------------- Functions
def _clamped_log(xp, x):
    """max(log(x), -100) for x >= 0, with log(0) = -inf never evaluated (no warning)."""
    positive = x > 0
    return xp.where(positive, xp.maximum(xp.log(xp.where(positive, x, 1.0)), -100.0), -100.0)


def _clamped_log1m(xp, x):
    """max(log(1 - x), -100) for x <= 1, via log1p (accurate for small x)."""
    below = x < 1
    return xp.where(below, xp.maximum(xp.log1p(-xp.where(below, x, 0.0)), -100.0), -100.0)


class BinaryCrossEntropy(Function):
    """``-(t log x + (1 - t) log(1 - x))`` for probabilities x, each log clamped at -100.

    d/dx = (x - t) / (x (1 - x)), with the denominator bounded below by 1e-12 as in
    PyTorch, so a saturated x = 0 or 1 gives a large but finite gradient.
    d/dt = log(1 - x) - log(x) (clamped logs).
    """

    def forward(self, x, t):
        xp = self.xp_of(x)
        return -(t * _clamped_log(xp, x) + (1.0 - t) * _clamped_log1m(xp, x))

    def backward(self, gy):
        x, t = self.inputs
        gx = gy * (x - t) / clip(x * (1.0 - x), min=1e-12)
        gt = None
        if t.requires_grad:
            gt = gy * (clip(log(1.0 - x), min=-100.0) - clip(log(x), min=-100.0))
        return gx, gt


class BinaryCrossEntropyWithLogits(Function):
    """``(1 - t) x + L softplus(-x)`` with ``L = 1 + (pos_weight - 1) t`` (L = 1 without
    pos_weight); this is ``-(pos_weight t log s + (1 - t) log(1 - s))`` for s = sigmoid(x),
    written so that no intermediate overflows or underflows.

    Gradients: x: ``L sigmoid(x) - pos_weight t``; t: ``(pos_weight - 1) softplus(-x) - x``;
    pos_weight: ``t softplus(-x)``.
    """

    def forward(self, x, t, pos_weight=None):
        softplus_neg = self.xp_of(x).logaddexp(0.0, -x)     # log(1 + e^-x), stable
        if pos_weight is None:
            return (1.0 - t) * x + softplus_neg
        return (1.0 - t) * x + (1.0 + (pos_weight - 1.0) * t) * softplus_neg

    def backward(self, gy):
        x, t = self.inputs[:2]
        if len(self.inputs) == 2:
            gt = -gy * x if t.requires_grad else None
            return gy * (sigmoid(x) - t), gt
        pw = self.inputs[2]
        gx = gy * ((1.0 + (pw - 1.0) * t) * sigmoid(x) - pw * t)
        gt = gy * ((pw - 1.0) * softplus(-x) - x) if t.requires_grad else None
        gpw = gy * t * softplus(-x) if pw.requires_grad else None
        return gx, gt, gpw


# ----------------------------------------------------------------------------- checks
_REDUCTIONS = ('mean', 'sum', 'none')


def _check_reduction(who, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{who}: reduction must be one of {allowed}, got {reduction!r}")


def _check_tensor(who, what, t, ref=None, kinds='f'):
    """A Tensor of a dtype kind in ``kinds`` ('f' float, 'iu' integer), on ref's device."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: {what} must be a Tensor, got {type(t).__name__}")
    if t.dtype.kind not in kinds:
        expected = 'a floating-point' if kinds == 'f' else 'an integer'
        raise TypeError(f"{who}: {what} must have {expected} dtype, got {t.dtype}")
    if ref is not None and t.device != ref.device:
        raise RuntimeError(f"{who}: {what} is on '{t.device}' but input is on '{ref.device}'")


def _check_pair(who, input, target):
    """input and target: floating Tensors of the same shape on the same device."""
    _check_tensor(who, 'input', input)
    _check_tensor(who, 'target', target, input)
    if input.shape != target.shape:
        raise ValueError(f"{who}: target of shape {target.shape} does not match input of "
                         f"shape {input.shape}")


def _check_broadcast(who, what, t, input):
    """An optional floating Tensor (weight, pos_weight) that broadcasts to input's shape."""
    if t is None:
        return
    _check_tensor(who, what, t, input)
    fits = t.ndim <= input.ndim and all(
        s in (1, n) for s, n in zip(t.shape[::-1], input.shape[::-1]))
    if not fits:
        raise ValueError(f"{who}: {what} of shape {t.shape} does not broadcast to input of "
                         f"shape {input.shape}")


def _reduce(loss, reduction):
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def _any(mask):
    """One host bool from a device bool array (an explicit sync)."""
    return bool(mask.any().item())


# ----------------------------------------------------------------------------- regression
def mse_loss(input, target, reduction='mean'):
    """Mean squared error ``(input - target)^2``."""
    _check_pair('mse_loss', input, target)
    _check_reduction('mse_loss', reduction)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction='mean'):
    """Mean absolute error ``|input - target|``."""
    _check_pair('l1_loss', input, target)
    _check_reduction('l1_loss', reduction)
    return _reduce(abs_(input - target), reduction)


def smooth_l1_loss(input, target, reduction='mean', beta=1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (d = input - target)."""
    _check_pair('smooth_l1_loss', input, target)
    _check_reduction('smooth_l1_loss', reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = input - target
    ad = abs_(d)
    if beta == 0:                        # the quadratic part vanishes: plain L1
        return _reduce(ad, reduction)
    beta = float(beta)
    return _reduce(where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta), reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction='mean'):
    """Negative log-likelihood of ``target`` under N(input, var):
    ``0.5 (log var + (input - target)^2 / var)`` (+ 0.5 log 2 pi when ``full``).

    ``var`` has input's shape, or one dim less / a size-1 dim (one variance shared along
    it), or is a positive float. It is clamped at ``eps`` for stability; as in PyTorch
    the clamp is invisible to the gradient.
    """
    who = 'gaussian_nll_loss'
    _check_pair(who, input, target)
    _check_reduction(who, reduction)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{who}: var must be non-negative, got {var}")
        var = Tensor(input.xp.full(input.shape, float(var), dtype=input.dtype))
    _check_tensor(who, 'var', var, input)
    if var.shape != input.shape:
        if var.shape == input.shape[:-1]:
            var = var.unsqueeze(-1)          # one variance per row of the last dim
        elif not (var.ndim == input.ndim and
                  sum(v != i for v, i in zip(var.shape, input.shape)) == 1 and
                  all(v == i or v == 1 for v, i in zip(var.shape, input.shape))):
            raise ValueError(f"{who}: var of shape {var.shape} does not fit input of shape "
                             f"{input.shape} (expected the same shape, the shape without its "
                             "last dim, or a size 1 in exactly one dim)")
    if _any(var.data < 0):
        raise ValueError(f"{who}: var has negative entries")
    # clamp the value at eps but let the gradient through unchanged (PyTorch clamps
    # under no_grad): add a constant shift
    v = var.data
    var = var + Tensor(var.xp.maximum(v, eps) - v)
    d = input - target
    loss = 0.5 * (log(var) + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- binary
def binary_cross_entropy(input, target, weight=None, reduction='mean'):
    """``-w (t log x + (1 - t) log(1 - x))`` for probabilities x in [0, 1]; each log is
    clamped at -100 as in PyTorch, so x = 0 or 1 gives a finite loss."""
    who = 'binary_cross_entropy'
    _check_pair(who, input, target)
    _check_reduction(who, reduction)
    if _any((input.data < 0) | (input.data > 1)):
        raise ValueError(f"{who}: input of shape {input.shape} must hold probabilities in "
                         "[0, 1] (for logits use binary_cross_entropy_with_logits)")
    _check_broadcast(who, 'weight', weight, input)
    loss = BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction='mean',
                                     pos_weight=None):
    """Binary cross entropy of ``sigmoid(input)``, computed stably from the logits.

    ``pos_weight`` (broadcast along the last dim, one per class) scales the positive
    term: ``-(pos_weight t log s + (1 - t) log(1 - s)) * weight``.
    """
    who = 'binary_cross_entropy_with_logits'
    _check_pair(who, input, target)
    _check_reduction(who, reduction)
    _check_broadcast(who, 'weight', weight, input)
    _check_broadcast(who, 'pos_weight', pos_weight, input)
    if pos_weight is None:
        loss = BinaryCrossEntropyWithLogits()(input, target)
    else:
        loss = BinaryCrossEntropyWithLogits()(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- classes
def _check_class_input(who, input, target):
    _check_tensor(who, 'input', input)
    if input.ndim == 0:
        raise ValueError(f"{who}: input must have a class dim, got a 0-d tensor")
    if not isinstance(target, Tensor):
        raise TypeError(f"{who}: target must be a Tensor, got {type(target).__name__}")


def _check_target_shape(who, target, expected, input):
    if target.shape != expected:
        raise ValueError(f"{who}: target of shape {target.shape} does not match input of "
                         f"shape {input.shape}; class-index targets need shape {expected}")


def _unbatched(fn, input, target, reduction, **options):
    """An unbatched (C,) input is a batch of one: run ``fn`` on (1, C), drop the dim again."""
    loss = fn(input.unsqueeze(0), target.unsqueeze(0), reduction=reduction, **options)
    return loss.reshape(()) if reduction == 'none' else loss


def _class_weight(who, weight, input):
    if weight is not None:
        _check_tensor(who, 'weight', weight, input)
        if weight.shape != (input.shape[1],):
            raise ValueError(f"{who}: weight of shape {weight.shape} must have one entry per "
                             f"class, i.e. shape ({input.shape[1]},) for input of shape "
                             f"{input.shape}")
    return weight


def _picked_nll(who, logp, target, weight, ignore_index):
    """For (N, C, d1, ...) log-probabilities and (N, d1, ...) class indices: the loss
    ``-w[t] logp[t]`` per position (0 where target == ignore_index), and the constant
    weights ``w[t]`` per position (0 where ignored) whose sum 'mean' divides by."""
    _check_tensor(who, 'target', target, logp, kinds='iu')
    _check_target_shape(who, target, logp.shape[:1] + logp.shape[2:], logp)
    n_classes, t = logp.shape[1], target.data
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= n_classes))
    if _any(bad):
        values = sorted(set(backend.to_host(t[bad]).tolist()))[:5]
        raise ValueError(f"{who}: target of shape {target.shape} holds class indices "
                         f"{values} out of range [0, {n_classes}) for input of shape "
                         f"{logp.shape} (ignore_index={ignore_index})")
    xp = logp.xp
    safe = xp.where(valid, t, 0)                  # ignored positions pick class 0, weight 0
    if weight is None:
        w = valid.astype(logp.dtype)
    else:
        w = xp.take(weight.data.astype(logp.dtype), safe) * valid
    picked = gather(logp, 1, Tensor(xp.expand_dims(safe, 1))).squeeze(1)
    return picked * Tensor(-w), w


def _weighted_mean(loss, w):
    """'mean' of a class loss: the sum over the total weight of the counted targets."""
    return loss.sum() / Tensor(backend.ensure_array(w.sum()))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction='mean'):
    """Negative log-likelihood of class indices ``target`` given log-probabilities
    ``input`` of shape (C,), (N, C) or (N, C, d1, ...): ``-weight[t] * input[t]``.
    'mean' divides by the total weight of the non-ignored targets (as PyTorch)."""
    who = 'nll_loss'
    _check_class_input(who, input, target)
    _check_reduction(who, reduction)
    if input.ndim == 1:
        _check_target_shape(who, target, (), input)
        return _unbatched(nll_loss, input, target, reduction, weight=weight,
                          ignore_index=ignore_index)
    weight = _class_weight(who, weight, input)
    loss, w = _picked_nll(who, input, target, weight, ignore_index)
    return _weighted_mean(loss, w) if reduction == 'mean' else _reduce(loss, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction='mean',
                  label_smoothing=0.0):
    """Cross entropy between logits ``input`` ((C,), (N, C) or (N, C, d1, ...)) and
    either class indices (an integer ``target`` without the class dim) or class
    probabilities (a floating ``target`` of input's shape).

    ``label_smoothing`` = e mixes the target with the uniform distribution:
    ``(1 - e) * CE(target) + e * CE(uniform)``, as PyTorch (for index targets the
    uniform part is weighted, ignores ``ignore_index`` and is 'mean'-normalized like
    the main part).
    """
    who = 'cross_entropy'
    _check_class_input(who, input, target)
    _check_reduction(who, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing}")
    probabilities = target.dtype.kind == 'f'
    if not probabilities and target.dtype.kind not in 'iu':
        raise TypeError(f"{who}: target must hold class indices (integer dtype) or class "
                        f"probabilities (floating dtype), got dtype {target.dtype}")
    if probabilities:
        _check_tensor(who, 'target', target, input)
        if target.shape != input.shape:
            raise ValueError(f"{who}: a probability target must have input's shape "
                             f"{input.shape}, got {target.shape} (class-index targets need "
                             "an integer dtype)")
    if input.ndim == 1:
        if not probabilities:
            _check_target_shape(who, target, (), input)
        return _unbatched(cross_entropy, input, target, reduction, weight=weight,
                          ignore_index=ignore_index, label_smoothing=label_smoothing)
    weight = _class_weight(who, weight, input)
    n_classes = input.shape[1]
    logp = log_softmax(input, 1)
    if weight is not None:                         # (1, C, 1, ...) against logp
        weight_b = weight.reshape((1, n_classes) + (1,) * (input.ndim - 2))

    if probabilities:
        if label_smoothing > 0:
            target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
        prod = logp * target
        if weight is not None:
            prod = prod * weight_b
        return _reduce(-prod.sum(1), reduction)

    loss, w = _picked_nll(who, logp, target, weight, ignore_index)
    if label_smoothing > 0:
        # cross entropy against the uniform distribution, weighted per class
        prod = logp if weight is None else logp * weight_b
        counted = Tensor((target.data != ignore_index).astype(input.dtype))
        uniform = -prod.sum(1) * counted
        loss = (1.0 - label_smoothing) * loss + (label_smoothing / n_classes) * uniform
    return _weighted_mean(loss, w) if reduction == 'mean' else _reduce(loss, reduction)


# ----------------------------------------------------------------------------- divergences
def kl_div(input, target, reduction='mean', log_target=False):
    """KL(target || q) summed pointwise, with ``input`` = log q:
    ``target * (log target - input)`` (0 where target = 0), or with ``log_target``
    ``exp(target) * (target - input)``. 'batchmean' divides the sum by the batch size
    (the true KL per sample); 'mean' divides by the number of elements, as PyTorch."""
    who = 'kl_div'
    _check_pair(who, input, target)
    _check_reduction(who, reduction, _REDUCTIONS + ('batchmean',))
    if log_target:
        loss = exp(target) * (target - input)
    else:
        # x log x -> 0 at x = 0: take the log of 1 there instead of 0
        positive = target > 0
        loss = target * (log(where(positive, target, 1.0)) - input)
    if reduction == 'batchmean':
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


TENSOR_METHODS = {}
