"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``.

All of them compute  y = (x - mean) / sqrt(var + eps) * weight + bias  (biased variance);
they differ in which elements share a mean and variance:

* BatchNorm: per channel, over the batch (and length / height, width), x (N, C[, L]) or
  (N, C, H, W). In training it also tracks running averages
      running = (1 - momentum) running + momentum * batch statistic
  (the unbiased variance for running_var), used instead of batch statistics in eval mode.
* LayerNorm: per sample, over the trailing ``normalized_shape`` dims.
* GroupNorm: per sample, over each group of C / G channels and all spatial positions.
"""
from . import functional as F
from . import init
from ._utils import new_parameter
from ..checks import positive_int
from .module import Module
from .. import backend
from ..autograd import Tensor

__all__ = ['BatchNorm1d', 'BatchNorm2d', 'LayerNorm', 'GroupNorm']


def _affine_param(wanted, shape, device, dtype):
    """A per-feature scale or shift Parameter of ``shape``, or None when not wanted."""
    if not wanted:
        return None
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return new_parameter(*shape, device=device, dtype=dtype)


class _AffineNorm(Module):
    """A normalisation layer with an optional per-feature scale (``weight``, starts at 1)
    and shift (``bias``, starts at 0)."""

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)


class _BatchNorm(_AffineNorm):
    _dims = ()           # accepted input ndims

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        who = type(self).__name__
        self.num_features = positive_int(num_features, 'num_features', who)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{who}: momentum must be in [0, 1] or None, got {momentum}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.register_parameter('weight', _affine_param(affine, num_features, device, dtype))
        self.register_parameter('bias', _affine_param(affine and bias, num_features, device, dtype))
        if track_running_stats:
            xp = backend.array_module(device)
            dt = backend.get_default_dtype() if dtype is None else dtype
            self.register_buffer('running_mean', Tensor(xp.zeros(num_features, dtype=dt)))
            self.register_buffer('running_var', Tensor(xp.ones(num_features, dtype=dt)))
            self.register_buffer('num_batches_tracked',
                                 Tensor(xp.zeros((), dtype=backend.int64)))
        else:
            self.register_buffer('running_mean', None)
            self.register_buffer('running_var', None)
            self.register_buffer('num_batches_tracked', None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        super().reset_parameters()

    def forward(self, x):
        who = type(self).__name__
        if x.ndim not in self._dims:
            raise ValueError(f"{who}: expected input with {' or '.join(map(str, self._dims))} "
                             f"dims, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{who}: input of shape {x.shape} has {x.shape[1]} channels, "
                             f"expected {self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:      # cumulative moving average
                factor = 1.0 / int(self.num_batches_tracked.item())
        # batch statistics in training, or when there are no running statistics to use
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C."""
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C."""
    _dims = (4,)


class LayerNorm(_AffineNorm):
    """Normalise over the trailing dims ``normalized_shape`` of each sample;
    weight and bias have that shape (ones and zeros at start)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        shape = self.normalized_shape
        self.register_parameter('weight', _affine_param(elementwise_affine, shape, device, dtype))
        self.register_parameter('bias', _affine_param(elementwise_affine and bias, shape, device,
                                                      dtype))
        self.reset_parameters()

    def forward(self, x):
        n = len(self.normalized_shape)
        if x.shape[x.ndim - n:] != self.normalized_shape or x.ndim < n:
            raise ValueError(f"LayerNorm: input of shape {x.shape} does not end with "
                             f"normalized_shape {self.normalized_shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(_AffineNorm):
    """Split C channels into ``num_groups`` groups and normalise each group of each
    sample; weight and bias (C,) are per channel. x (N, C, *)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None,
                 *, bias=True):
        super().__init__()
        self.num_groups = positive_int(num_groups, 'num_groups', 'GroupNorm')
        self.num_channels = positive_int(num_channels, 'num_channels', 'GroupNorm')
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps, self.affine = eps, affine
        self.register_parameter('weight', _affine_param(affine, num_channels, device, dtype))
        self.register_parameter('bias', _affine_param(affine and bias, num_channels, device, dtype))
        self.reset_parameters()

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: input of shape {x.shape} should be (N, "
                             f"{self.num_channels}, ...)")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
