"""``DiffusionConfig`` and ``Diffusion``: a schedule, a denoiser and its objective
(docs/diffusion.md).

    loss(x_0, y) = E_{t ~ U{1..T}, ε} w_t ‖target − net(x_t, t, y')‖²,  w_t = 1 or Min-SNR,  x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,
    y' = "no label" with probability p_uncond (classifier-free guidance training),

and ``eps_fn(y, w)`` turns the network into the ε̂(x, t) every sampler takes (converting a
v- or x₀-prediction, and combining ε̂ = ε̂_u + w (ε̂_c − ε̂_u) when a guidance weight is given).
"""
import math
from dataclasses import dataclass

from ... import nn
from ... import functional as F
from ...autograd import full, rand, randn
from ...checks import positive_int, number, one_of
from .schedule import Schedule
from .objectives import PREDICTIONS, WEIGHTINGS, diffusion_loss, to_eps
from .networks import MLPDenoiser, UNet
from .dit import DiT
from . import samplers

__all__ = ['DiffusionConfig', 'Diffusion', 'predict_eps', 'guided_eps_fn']


@dataclass
class DiffusionConfig:
    """data_shape: (D,) for points (arch 'mlp') or (C, H, W) for images (arch 'unet' or
    'dit').
    T, schedule ('linear' | 'cosine'): the noise schedule. prediction: what the network
    outputs ('eps', 'v' or 'x0'); weighting ('none' | 'min_snr', with snr_gamma): the
    per-time loss weight (objectives.loss_weight). hidden/depth/time_dim: the MLP. channels,
    channel_mults, num_res_blocks, groups, heads: the U-Net. patch, hidden (width), depth,
    heads, time_dim: the DiT (dit.py, docs/dit.md). num_classes: a
    class-conditional model (labels 0..num_classes − 1) trained with the label dropped
    with probability p_uncond."""
    data_shape: tuple = (2,)
    T: int = 1000
    schedule: str = 'linear'
    prediction: str = 'eps'
    weighting: str = 'none'
    snr_gamma: float = 5.0
    arch: str = 'mlp'
    hidden: int = 128
    depth: int = 3
    time_dim: int = 64
    channels: int = 32
    channel_mults: tuple = (1, 2)
    num_res_blocks: int = 1
    groups: int = 8
    heads: int = 4
    patch: int = 2
    num_classes: object = None
    p_uncond: float = 0.1

    def __post_init__(self):
        who = 'DiffusionConfig'
        self.data_shape = tuple(positive_int(s, 'data_shape', who) for s in self.data_shape)
        positive_int(self.T, 'T', who)
        one_of(self.schedule, ('linear', 'cosine'), 'schedule', who)
        one_of(self.prediction, PREDICTIONS, 'prediction', who)
        one_of(self.weighting, WEIGHTINGS, 'weighting', who)
        number(self.snr_gamma, 'snr_gamma', who, 0, low_open=True)
        one_of(self.arch, ('mlp', 'unet', 'dit'), 'arch', who)
        if (self.arch == 'mlp') != (len(self.data_shape) == 1):
            raise ValueError(f"{who}: arch {self.arch!r} does not fit data_shape "
                             f"{self.data_shape} (mlp: (D,), unet and dit: (C, H, W))")
        if self.num_classes is not None:
            positive_int(self.num_classes, 'num_classes', who)
        number(self.p_uncond, 'p_uncond', who, 0, 1)


class Diffusion(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = self.config = config
        self.schedule = Schedule(c.schedule, c.T)
        if c.arch == 'mlp':
            self.net = MLPDenoiser(c.data_shape[0], c.hidden, c.depth, c.time_dim, c.num_classes)
        elif c.arch == 'dit':
            self.net = DiT(c.data_shape[0], c.data_shape[1:], c.patch, c.hidden, c.depth, c.heads,
                           num_classes=c.num_classes, time_dim=c.time_dim)
        else:
            self.net = UNet(c.data_shape[0], c.channels, c.channel_mults, c.num_res_blocks,
                            c.groups, c.heads, c.num_classes)

    def _null(self, n, device):
        return full((n,), self.config.num_classes, dtype='int64', device=device)

    def loss(self, x0, y=None):
        """The training loss (a scalar Tensor) on a batch x_0 (B, *data_shape) [labels y]."""
        if x0.shape[1:] != self.config.data_shape:
            raise ValueError(f"Diffusion.loss: expected x0 of shape (B, "
                             f"{', '.join(map(str, self.config.data_shape))}), got {x0.shape}")
        if y is not None and self.config.p_uncond > 0:
            drop = rand(y.shape[0], device=y.device) < self.config.p_uncond
            y = F.where(drop, self._null(y.shape[0], y.device), y)
        c = self.config
        return diffusion_loss(self.net, self.schedule, x0, c.prediction, y, c.weighting, c.snr_gamma)

    def predict_eps(self, x, t, y=None):
        """ε̂(x, t) at one float time t (the network's output converted to ε)."""
        return predict_eps(self.net, self.schedule, self.config.prediction, x, t, y)

    def eps_fn(self, y=None, w=None):
        """The ε̂(x, t) for the samplers: unconditional (y None), conditional on y, or
        guided with weight w over [no label, y] (``guided_eps_fn``)."""
        if w is None or y is None:
            return lambda x, t: self.predict_eps(x, t, y)
        return guided_eps_fn(self.predict_eps, y, w, lambda: self._null(len(y), y.device),
                             lambda a, b: F.cat([a, b], 0))

    def sample(self, n, sampler='ddim', steps=50, eta=0.0, y=None, w=None, **options):
        """n samples: sampler 'ddpm' (options: variance), 'ddim' (steps, eta), 'sde'
        (steps), 'ode' (steps, options: method)."""
        one_of(sampler, ('ddpm', 'ddim', 'sde', 'ode'), 'sampler', 'Diffusion.sample')
        p = next(iter(self.parameters()))
        x_T = randn(positive_int(n, 'n', 'Diffusion.sample'), *self.config.data_shape,
                    dtype=p.dtype, device=p.device)
        eps, s = self.eps_fn(y, w), self.schedule
        if sampler == 'ddpm':
            return samplers.ddpm_sample(eps, s, x_T, **options)
        if sampler == 'ddim':
            return samplers.ddim_sample(eps, s, x_T, steps, eta, **options)
        if sampler == 'sde':
            return samplers.sde_sample(eps, s, x_T, steps, **options)
        return samplers.ode_sample(eps, s, x_T, steps, **options)


# ----------------------------------------------------------------------------- shared by the
# pixel-space model above and the latent one (models/latent_diffusion.py)
def predict_eps(net, schedule, prediction, x, t, y=None):
    """ε̂(x, t) at one float time t: ``net(x, t, y)``'s output (ε, v or x₀) converted to ε."""
    ab = schedule.alpha_bar(t)
    pred = net(x, full((x.shape[0],), float(t), dtype=x.dtype, device=x.device), y)
    return to_eps(pred, x, math.sqrt(ab), math.sqrt(1.0 - ab), prediction)


def guided_eps_fn(predict, y, w, null, concat):
    """ε̂(x, t) guided with weight w, ε̂_u + w (ε̂_c − ε̂_u), for ``predict(x, t, y)``.
    ``null()`` builds the "no condition" input for y's batch (the null label, the empty
    prompt) and ``concat(a, b)`` stacks two conditions along the batch. w = 1 is the
    conditional prediction and w = 0 the unconditional one, each a single pass; any other
    w makes one batched pass over [null, y]."""
    w = float(w)
    if w == 1.0:
        return lambda x, t: predict(x, t, y)
    u = null()
    if w == 0.0:
        return lambda x, t: predict(x, t, u)
    both = concat(u, y)

    def guided(x, t):
        eps = predict(F.cat([x, x], 0), t, both)
        return samplers.cfg_combine(eps[:x.shape[0]], eps[x.shape[0]:], w)
    return guided
