"""``FlowConfig`` and ``build_flow``: the flows of the docs from a few numbers.

Vector flows (data_shape (D,)), ``layers`` times:

    [ActNorm] -> [LULinear | Reverse] -> core
    core = AffineCoupling ('realnvp') | SplineCoupling ('spline') | MAF ('maf') | IAF ('iaf')

with the couplings alternating which half passes through and MLP conditioners of
widths ``hidden``. Image flows ('multiscale', data_shape (C, H, W)): Logit, then
``levels`` scales of Squeeze -> ``layers`` × [ActNorm -> InvConv1x1 -> AffineCoupling
on half the channels (a conv conditioner of hidden[0] channels)] -> split.
"""
import math
from dataclasses import dataclass, asdict

from ... import nn
from ...checks import int_tuple, nonnegative_int, number, one_of, positive_int
from .autoregressive import IAF, MAF
from .base import Chain, Flow
from .coupling import AffineCoupling, SplineCoupling
from .images import InvConv1x1, Logit, MultiScale, Squeeze, conv_conditioner
from .transforms import ActNorm, LULinear, Reverse

__all__ = ['FlowConfig', 'build_flow', 'mlp_conditioner']

KINDS = ('realnvp', 'spline', 'maf', 'iaf', 'multiscale')


@dataclass
class FlowConfig:
    """Architecture of a flow.

    data_shape: (D,) for vectors, (C, H, W) for images (kind 'multiscale').
    kind: 'realnvp' (affine coupling), 'spline' (rational-quadratic spline coupling),
        'maf', 'iaf' (affine autoregressive), or 'multiscale' (images).
    layers: coupling/autoregressive layers (per scale for 'multiscale').
    hidden: widths of the conditioner MLPs / MADEs; hidden[0] conv channels for images.
    bins, tail_bound: the spline's K bins on [−T, T].
    scale_bound: log-scales are soft-clamped to (−B, B).
    actnorm: an ActNorm before each layer; linear: 'lu', 'reverse' or 'none' between layers.
    levels, logit_alpha: scales of the multi-scale flow, and its Logit preprocessing.
    context_dim: size of a conditioning vector (e.g. a one-hot label); 0 = unconditional.
    """
    data_shape: tuple = (2,)
    kind: str = 'spline'
    layers: int = 4
    hidden: tuple = (64, 64)
    bins: int = 8
    tail_bound: float = 4.0
    scale_bound: float = 3.0
    actnorm: bool = True
    linear: str = 'lu'
    levels: int = 2
    logit_alpha: float = 0.05
    context_dim: int = 0

    def __post_init__(self):
        who = 'FlowConfig'
        self.data_shape = int_tuple(self.data_shape, 'data_shape', who)
        self.hidden = int_tuple(self.hidden, 'hidden', who)
        one_of(self.kind, KINDS, 'kind', who)
        one_of(self.linear, ('lu', 'reverse', 'none'), 'linear', who)
        positive_int(self.layers, 'layers', who)
        positive_int(self.bins, 'bins', who)
        positive_int(self.levels, 'levels', who)
        nonnegative_int(self.context_dim, 'context_dim', who)
        number(self.tail_bound, 'tail_bound', who, low=0, low_open=True)
        number(self.scale_bound, 'scale_bound', who, low=0, low_open=True)
        number(self.logit_alpha, 'logit_alpha', who, low=0, high=0.5, high_open=True)
        if (self.kind == 'multiscale') != (len(self.data_shape) == 3):
            raise ValueError(f"{who}: kind 'multiscale' is for images, data_shape (C, H, W), and the "
                             f"other kinds for vectors (D,); got kind={self.kind!r}, "
                             f"data_shape={self.data_shape}")
        if len(self.data_shape) == 1 and self.data_shape[0] < 2 and self.kind in ('realnvp', 'spline'):
            raise ValueError(f"{who}: coupling flows need D >= 2, got data_shape={self.data_shape}")
        if self.kind == 'multiscale':
            side = 2 ** self.levels
            if self.data_shape[1] % side or self.data_shape[2] % side:
                raise ValueError(f"{who}: {self.levels} levels halve H and W {self.levels} times; "
                                 f"{self.data_shape} is not divisible by {side}")

    def replace(self, **changes):
        return FlowConfig(**{**asdict(self), **changes})


def mlp_conditioner(n_in, n_out, hidden):
    """Linear -> ReLU -> … -> Linear (the last zero-initialised, so the layer starts as
    the identity)."""
    sizes = (n_in, *hidden)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    last = nn.Linear(sizes[-1], n_out)
    last.weight.data[...] = 0
    last.bias.data[...] = 0
    return nn.Sequential(*layers, last)


def _vector_layers(c):
    d = c.data_shape[0]
    parts = []
    for i in range(c.layers):
        if c.actnorm:
            parts.append(ActNorm(d))
        if c.linear == 'lu':
            parts.append(LULinear(d))
        elif c.linear == 'reverse' and i > 0:
            parts.append(Reverse(d))
        half = list(range(d // 2)) if i % 2 == 0 else list(range(d // 2, d))
        n_b = d - len(half)
        if c.kind == 'realnvp':
            net = mlp_conditioner(len(half) + c.context_dim, 2 * n_b, c.hidden)
            parts.append(AffineCoupling(d, half, net, c.context_dim, c.scale_bound))
        elif c.kind == 'spline':
            net = mlp_conditioner(len(half) + c.context_dim, (3 * c.bins - 1) * n_b, c.hidden)
            parts.append(SplineCoupling(d, half, net, c.context_dim, c.bins, c.tail_bound))
        else:
            cls = MAF if c.kind == 'maf' else IAF
            order = range(d) if i % 2 == 0 else range(d - 1, -1, -1)
            parts.append(cls(d, c.hidden, order, c.context_dim, c.scale_bound))
    return parts


def _scale(c, shape, level):
    """One scale of the multi-scale flow on squeezed images of ``shape``."""
    ch = shape[0]
    steps = []
    for _ in range(c.layers):
        keep = ch // 2
        net = conv_conditioner(keep + c.context_dim, 2 * (ch - keep), c.hidden[0])
        steps += [ActNorm(ch), InvConv1x1(ch),
                  AffineCoupling(ch, range(keep), net, c.context_dim, c.scale_bound)]
    inner = None
    if level + 1 < c.levels:
        inner = _scale(c, (4 * (ch // 2), shape[1] // 2, shape[2] // 2), level + 1)
    return MultiScale(Chain(*steps), shape, inner)


def build_flow(config=None, **overrides):
    """The ``Flow`` a ``FlowConfig`` describes (keywords override its fields)."""
    if config is None:
        config = FlowConfig(**overrides)
    elif not isinstance(config, FlowConfig):
        raise TypeError(f"build_flow: expected a FlowConfig, got {type(config).__name__}")
    elif overrides:
        config = config.replace(**overrides)
    if config.kind != 'multiscale':
        return Flow(Chain(*_vector_layers(config)), config.data_shape, context_dim=config.context_dim)
    C, H, W = config.data_shape
    transform = Chain(Logit(config.logit_alpha), Squeeze(),
                      _scale(config, (4 * C, H // 2, W // 2), 0))
    return Flow(transform, config.data_shape, latent_shape=(math.prod(config.data_shape),),
                context_dim=config.context_dim)
