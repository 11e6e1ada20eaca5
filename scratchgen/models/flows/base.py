"""The flow itself: a chain of invertible transforms on top of a standard-normal base.

A transform f maps data x to z and reports log |det ∂f/∂x|; a chain adds the terms:

    z = f_K ∘ … ∘ f_1 (x),     log p(x) = log N(z; 0, I) + Σ_k log |det ∂f_k/∂h_{k-1}|

Every transform gives ``forward(x, context) -> (z, logdet)`` and
``inverse(z, context) -> (x, logdet)``, where logdet (N,) is log |det| of the Jacobian
of the map that was applied (so the inverse's is minus the forward's). docs/flows.md.
"""
import math

from ... import nn
from ...autograd import is_anomaly_enabled, randn, zeros

__all__ = ['Transform', 'Chain', 'Flow', 'standard_normal_log_prob', 'sum_except_batch']

LOG_2PI = math.log(2.0 * math.pi)


def sum_except_batch(t):
    """(N, ...) -> (N,): the sum over every axis but the first."""
    return t.reshape(t.shape[0], -1).sum(1)


def standard_normal_log_prob(z):
    """log N(z; 0, I) per example: −½ Σ_i z_i² − (D/2) log 2π."""
    d = math.prod(z.shape[1:])
    return -0.5 * sum_except_batch(z * z) - 0.5 * d * LOG_2PI


class Transform(nn.Module):
    """An invertible map x -> z with the log |det| of its Jacobian, per example.

    Subclasses implement ``forward(x, context=None) -> (z, logdet)`` and
    ``inverse(z, context=None) -> (x, logdet)``; transforms that ignore the context
    accept it anyway, so any of them can sit in a conditional flow."""

    def forward(self, x, context=None):
        raise NotImplementedError

    def inverse(self, z, context=None):
        raise NotImplementedError


class Chain(Transform):
    """f = f_K ∘ … ∘ f_1: forward applies them in order and adds the logdets; inverse
    undoes them in reverse order."""

    def __init__(self, *transforms):
        super().__init__()
        for t in transforms:
            if not isinstance(t, Transform):
                raise TypeError(f"Chain: every part must be a Transform, got {type(t).__name__}")
        self.parts = nn.ModuleList(transforms)

    def forward(self, x, context=None):
        return self._run(x, context, self.parts, 'forward')

    def inverse(self, z, context=None):
        return self._run(z, context, list(self.parts)[::-1], 'inverse')

    @staticmethod
    def _run(h, context, parts, direction, trace=None):
        total = zeros(h.shape[0], dtype=h.dtype, device=h.device)
        for i, t in enumerate(parts):
            try:
                h, logdet = getattr(t, direction)(h, context)
            except RuntimeError as e:     # under sg.detect_anomaly, say which layer it was
                if not (is_anomaly_enabled() and 'detect_anomaly' in str(e)):
                    raise
                raise RuntimeError(f"flow layer {i} ({type(t).__name__}.{direction}): {e}") from None
            total = total + logdet
            if trace is not None:
                trace.append(h)
        return h, total


class Flow(nn.Module):
    """A normalizing flow: ``transform`` (x -> z) on a standard-normal base N(0, I).

    data_shape: the shape of one x, (D,) or (C, H, W); latent_shape: the shape of one
    z when the transform reshapes (a multi-scale flow flattens), default data_shape;
    context_dim: size of the conditioning vector the transforms accept (0 = none).
    """

    def __init__(self, transform, data_shape, latent_shape=None, context_dim=0):
        super().__init__()
        if not isinstance(transform, Transform):
            raise TypeError(f"Flow: transform must be a Transform, got {type(transform).__name__}")
        self.transform = transform
        self.data_shape = tuple(data_shape)
        self.latent_shape = tuple(latent_shape or data_shape)
        self.context_dim = context_dim

    def _check(self, x, context, who):
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"Flow.{who}: x has shape {x.shape}; expected (N, "
                             f"{', '.join(map(str, self.data_shape))})")
        if self.context_dim and (context is None or tuple(context.shape) != (x.shape[0], self.context_dim)):
            got = None if context is None else context.shape
            raise ValueError(f"Flow.{who}: this flow is conditional and needs a context of shape "
                             f"({x.shape[0]}, {self.context_dim}), got {got}")

    def forward(self, x, context=None):
        """x -> (z, Σ log |det ∂f_k|)."""
        self._check(x, context, 'forward')
        return self.transform(x, context)

    def log_prob(self, x, context=None):
        """log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x|, per example (N,)."""
        z, logdet = self.forward(x, context)
        return standard_normal_log_prob(z) + logdet

    def sample(self, n, context=None):
        """n draws x = f⁻¹(z), z ~ N(0, I) (the context, when given, has n rows)."""
        p = next(self.parameters())
        z = randn(n, *self.latent_shape, dtype=p.dtype, device=p.device)
        return self.transform.inverse(z, context)[0]

    def trajectory(self, x, context=None):
        """The points after each top-level transform, x first and z last: the data pushed
        layer by layer to the Gaussian (for pictures)."""
        parts = self.transform.parts if isinstance(self.transform, Chain) else [self.transform]
        trace = [x]
        Chain._run(x, context, parts, 'forward', trace)
        return trace
