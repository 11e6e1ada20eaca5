"""Normalization: layer_norm, batch_norm, group_norm (PyTorch semantics).

All three standardize x over some axes, ``(x - mean) / sqrt(var + eps)`` with the biased
variance, then apply an optional per-feature affine map ``* weight + bias``. They differ
only in which values share one mean and variance:

    layer_norm   the trailing ``normalized_shape`` dims of each sample
    batch_norm   each channel (dim 1) across the batch and all spatial positions
    group_norm   each group of C // num_groups channels (and all positions) of each sample

So one fused Function, ``Standardize``, computes the statistics and a one-formula
backward; the affine map is ordinary Mul/Add ops. group_norm with weight and bias, the
U-Net's norm before every conv, is one Function, ``GroupNorm``, statistics and affine
map together. batch_norm in eval mode uses the
running statistics instead, which makes it a fixed per-channel affine map.
"""
import operator

from ..autograd import Function, Tensor, is_grad_enabled


__all__ = ['layer_norm', 'batch_norm', 'group_norm']


class Standardize(Function):
    """``y = (x - mean(x)) / sqrt(var(x) + eps)`` over ``axes`` (biased variance).

    With ``xhat = y`` and ``rstd = 1 / sqrt(var + eps)`` the gradient is

        gx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat))      (means over ``axes``)

    a few elementwise passes instead of the chain rule through mean, sub, square, mean,
    sqrt and div. ``mean`` and ``var`` (kept-dims arrays) stay readable after forward for
    batch_norm's running statistics.
    """

    def __init__(self, axes, eps):
        self.axes, self.eps = tuple(axes), eps

    def forward(self, x):
        xp = self.xp_of(x)
        self.mean = x.mean(axis=self.axes, keepdims=True)
        xc = x - self.mean
        self.var = (xc * xc).mean(axis=self.axes, keepdims=True)
        self.rstd = 1.0 / xp.sqrt(self.var + self.eps)
        xc *= self.rstd
        return xc

    def backward(self, gy):
        (x,) = self.inputs
        xhat, axes = self.output(), self.axes
        if is_grad_enabled():
            # This backward is itself being differentiated (create_graph=True): rstd is a
            # function of x, so rebuild it from ops to put that dependence in the graph.
            xc = x - x.mean(axes, keepdims=True)
            rstd = ((xc * xc).mean(axes, keepdims=True) + self.eps) ** -0.5
        else:
            rstd = Tensor(self.rstd)     # the same value, as a constant
        return (gy - gy.mean(axes, keepdims=True)
                - xhat * (gy * xhat).mean(axes, keepdims=True)) * rstd


class GroupNorm(Function):
    """group_norm with its affine map, fused: x (N, C, *), weight and bias (C,) ->
    ``y = xhat * weight + bias`` with xhat standardized over each group of C/G channels
    and all positions of a sample (Standardize over axis 2 of x viewed as (N, G, -1)).

    Its backward, per sample n and channel c, with sums over the positions p and means
    over a group's m = (C/G) * P values:

        gb = sum_n,p gy        gw = sum_n,p gy * xhat
        gx = rstd * (w gy - mean(w gy) - xhat * mean(w gy * xhat))

    where mean(w gy) over a group is sum over its channels of w_c * sum_p gy / m (and
    likewise with xhat): two per-channel sums of gy make all the means, so the backward
    is a few passes over the activations instead of the ~12 ops of Standardize followed
    by Mul and Add (forward and backward 1.4-1.6x faster here, docs/benchmarks.md).
    Differentiated again (create_graph) it is rebuilt from Standardize and Tensor ops."""

    def __init__(self, groups, eps):
        self.groups, self.eps = groups, eps

    def forward(self, x, w, b):
        xp, (n, c), g = self.xp_of(x), x.shape[:2], self.groups
        xs = x.reshape(n, g, -1)
        xc = xs - xs.mean(axis=2, keepdims=True)
        self.rstd = 1.0 / xp.sqrt((xc * xc).mean(axis=2, keepdims=True) + self.eps)  # (N, G, 1)
        xc *= self.rstd
        self.xhat = xc.reshape(n, c, -1)                                                 # (N, C, P)
        y = self.xhat * w[:, None]
        y += b[:, None]
        return y.reshape(x.shape)

    def backward(self, gy):
        x, w, b = self.inputs
        n, c, g = x.shape[0], x.shape[1], self.groups
        if is_grad_enabled():
            # This backward is itself differentiated: the same rule from ops, Standardize's
            # backward rebuilding rstd from x.
            standardize = Standardize((2,), self.eps)
            xhat = standardize(x.reshape(n, g, -1)).reshape(x.shape)
            shape, axes = (1, c) + (1,) * (x.ndim - 2), (0,) + tuple(range(2, x.ndim))
            gx = standardize.backward((gy * w.reshape(shape)).reshape(n, g, -1)).reshape(x.shape)
            return gx, (gy * xhat).sum(axes), gy.sum(axes)
        gy4 = gy.data.reshape(n, g, c // g, -1)                            # (N, G, C/G, P)
        xhat4 = self.xhat.reshape(gy4.shape)
        s1, s2 = gy4.sum(axis=3), (gy4 * xhat4).sum(axis=3)                # (N, G, C/G)
        gx = None
        if x.requires_grad:
            wg, m, rstd = w.data.reshape(g, c // g), gy4.shape[2] * gy4.shape[3], self.rstd
            mean1 = (wg * s1).sum(axis=2, keepdims=True) / m                # (N, G, 1)
            mean2 = (wg * s2).sum(axis=2, keepdims=True) / m
            gx = gy4 * (rstd * wg)[..., None]
            gx -= xhat4 * (rstd * mean2)[..., None]
            gx -= (rstd * mean1)[..., None]
            gx = Tensor(gx.reshape(x.shape))
        gw = Tensor(s2.sum(axis=0).reshape(c)) if w.requires_grad else None
        gb = Tensor(s1.sum(axis=0).reshape(c)) if b.requires_grad else None
        return gx, gw, gb


# ----------------------------------------------------------------------------- checks
def _check_input(x, who, min_ndim):
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a Tensor input, got {type(x).__name__}")
    if x.dtype.kind != 'f':
        raise TypeError(f"{who}: expected a floating-point input, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{who}: expected an input with at least {min_ndim} dims, "
                         f"got shape {x.shape}")


def _check_param(t, name, shape, x, who):
    """A per-feature tensor (weight, bias, running stats) of exactly ``shape``, on x's device."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: {name} must be a Tensor or None, got {type(t).__name__}")
    if t.shape != tuple(shape):
        raise ValueError(f"{who}: {name} has shape {t.shape} but input of shape {x.shape} "
                         f"needs {tuple(shape)}")
    if t.device != x.device:
        raise RuntimeError(f"{who}: {name} is on '{t.device}' but the input is on '{x.device}'")


def _affine(y, weight, bias, shape):
    """``y * weight + bias`` with the per-feature parameters viewed as ``shape``."""
    if weight is not None:
        y = y * (weight if weight.shape == shape else weight.reshape(shape))
    if bias is not None:
        y = y + (bias if bias.shape == shape else bias.reshape(shape))
    return y


def _channel_shape(x):
    """(1, C, 1, ...): per-channel parameters broadcast against an (N, C, *) input."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


# ----------------------------------------------------------------------------- functional API
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize each sample over its trailing ``normalized_shape`` dims
    (``torch.nn.functional.layer_norm``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    _check_input(x, 'layer_norm', max(len(shape), 1))
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the trailing "
                         f"dims of input of shape {x.shape}")
    _check_param(weight, 'weight', shape, x, 'layer_norm')
    _check_param(bias, 'bias', shape, x, 'layer_norm')
    y = Standardize(range(x.ndim - k, x.ndim), eps)(x)
    return _affine(y, weight, bias, shape)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) of an (N, C, *) input (``torch.nn.functional.batch_norm``).

    training: use the batch statistics and, when given, update ``running_mean`` and
    ``running_var`` in place: ``r = (1 - momentum) * r + momentum * stat``, with the
    unbiased batch variance as PyTorch does. Otherwise use the running statistics.
    """
    _check_input(x, 'batch_norm', 2)
    channels = (x.shape[1],)
    for name, t in (('running_mean', running_mean), ('running_var', running_var),
                    ('weight', weight), ('bias', bias)):
        _check_param(t, name, channels, x, 'batch_norm')
    shape = _channel_shape(x)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are required when "
                             "training=False")
        # a fixed per-channel map x * scale + shift; the running stats are constants
        xp = x.xp
        inv_std = Tensor((1.0 / xp.sqrt(running_var.data + eps)).astype(x.dtype))
        scale = inv_std if weight is None else weight * inv_std
        shift = Tensor(-running_mean.data.astype(x.dtype)) * scale
        if bias is not None:
            shift = shift + bias
        return x * scale.reshape(shape) + shift.reshape(shape)

    count = x.numel() // x.shape[1]
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    standardize = Standardize((0,) + tuple(range(2, x.ndim)), eps)
    y = standardize(x)
    if running_mean is not None:
        rm = running_mean.data
        rm[...] = (1.0 - momentum) * rm + momentum * standardize.mean.reshape(channels)
    if running_var is not None:
        rv = running_var.data
        unbiased = standardize.var.reshape(channels) * (count / (count - 1))
        rv[...] = (1.0 - momentum) * rv + momentum * unbiased
    return _affine(y, weight, bias, shape)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize groups of channels of an (N, C, *) input (``torch.nn.functional.group_norm``)."""
    _check_input(x, 'group_norm', 2)
    num_groups = operator.index(num_groups)
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"group_norm: input of shape {x.shape} has {c} channels, which "
                         f"cannot be split into {num_groups} groups of equal size")
    _check_param(weight, 'weight', (c,), x, 'group_norm')
    _check_param(bias, 'bias', (c,), x, 'group_norm')
    if weight is not None and bias is not None:       # nn.GroupNorm's case: one fused op
        return GroupNorm(num_groups, eps)(x, weight, bias)
    y = Standardize((2,), eps)(x.reshape(n, num_groups, -1)).reshape(x.shape)
    return _affine(y, weight, bias, _channel_shape(x))


TENSOR_METHODS = {}
