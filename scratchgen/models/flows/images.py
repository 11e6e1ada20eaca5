"""Flows on images: squeeze, invertible 1×1 convolution, a multi-scale architecture, and
dequantisation of discrete pixels.

    Squeeze        (C, H, W) -> (4C, H/2, W/2): each 2×2 block becomes 4 channels; log|det| = 0
    InvConv1x1     z = W x at every pixel, W in LU form:  log|det| = H·W · Σ log|u_ii|
    Logit          z = logit(α + (1 − 2α) y) for y in (0, 1): unbounded inputs for the flow
    MultiScale     steps at one scale, then half the channels leave (they are z already)
                   and the rest is squeezed and goes on to the next scale (Dinh et al., 2017)

Discrete pixels k ∈ {0 … L−1} have a probability, a continuous flow a density; uniform
dequantisation y = (k + u)/L, u ~ U[0, 1)^D gives a bound on the discrete likelihood,

    log P(k) ≥ E_u[ log p(y) ] − D log L,

so bits/dim = −(log p(y) − D log L) / (D ln 2) is an upper bound on the model's true
bits per dimension. docs/flows.md, "Images".
"""
import math

from ... import functional as F
from ... import nn
from ...autograd import as_tensor, rand_like, zeros
from ...checks import number, positive_int
from .base import Transform, sum_except_batch
from .transforms import LULinear

__all__ = ['Squeeze', 'InvConv1x1', 'Logit', 'MultiScale', 'conv_conditioner', 'dequantize',
           'discrete_log_prob_bound']


def _image(x, who):
    if x.ndim != 4:
        raise ValueError(f"{who}: expected images (N, C, H, W), got shape {x.shape}")


class Squeeze(Transform):
    """(N, C, H, W) -> (N, 4C, H/2, W/2), channel c·4 + 2i + j holding pixel (2h+i, 2w+j)."""

    def forward(self, x, context=None):
        _image(x, 'Squeeze')
        n, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze: height and width must be even, got shape {x.shape}")
        z = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return z, zeros(n, dtype=x.dtype, device=x.device)

    def inverse(self, z, context=None):
        _image(z, 'Squeeze.inverse')
        n, c, h, w = z.shape
        x = z.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, 2 * h, 2 * w)
        return x, zeros(n, dtype=z.dtype, device=z.device)


class InvConv1x1(LULinear):
    """The invertible 1×1 convolution of Glow (Kingma & Dhariwal, 2018): an LULinear over
    the channels, applied at every pixel."""

    def forward(self, x, context=None):
        _image(x, 'InvConv1x1')
        return super().forward(x, context)


class Logit(Transform):
    """z = logit(α + (1 − 2α) y): maps pixels in (0, 1) to the real line, α keeping away
    from 0 and 1.  log|dz/dy| = log(1 − 2α) − log p − log(1 − p), p = α + (1 − 2α) y."""

    def __init__(self, alpha=0.05):
        super().__init__()
        self.alpha = number(alpha, 'alpha', 'Logit', low=0, high=0.5, high_open=True)

    def forward(self, x, context=None):
        p = x * (1 - 2 * self.alpha) + self.alpha
        z = p.log() - (1 - p).log()
        log_g = math.log(1 - 2 * self.alpha) - p.log() - (1 - p).log()
        return z, sum_except_batch(log_g)

    def inverse(self, z, context=None):
        p = z.sigmoid()
        y = (p - self.alpha) / (1 - 2 * self.alpha)
        log_g = math.log(1 - 2 * self.alpha) - p.log() - (1 - p).log()
        return y, -sum_except_batch(log_g)


class MultiScale(Transform):
    """steps (at this scale, on images of ``shape`` (C, H, W)) -> split the channels: the
    last C − C/2 are factored out (standard normal, flattened into z), the first C/2 are
    squeezed and given to ``inner`` (the next scale; None at the coarsest, where all of
    h is z). Output: z flattened to (N, C·H·W)."""

    def __init__(self, steps, shape, inner=None):
        super().__init__()
        self.steps, self.inner = steps, inner
        self.shape = tuple(int(s) for s in shape)
        self.keep = self.shape[0] // 2 if inner is not None else self.shape[0]
        self.squeeze = Squeeze()

    def forward(self, x, context=None):
        h, logdet = self.steps(x, context)
        if self.inner is None:
            return h.flatten(1), logdet
        kept, out = h[:, :self.keep], h[:, self.keep:]
        z_inner, ld_inner = self.inner(self.squeeze(kept)[0], context)
        return F.cat([z_inner, out.flatten(1)], 1), logdet + ld_inner

    def inverse(self, z, context=None):
        c, hh, ww = self.shape
        if self.inner is None:
            return self.steps.inverse(z.reshape(z.shape[0], c, hh, ww), context)
        n_inner = z.shape[1] - (c - self.keep) * hh * ww
        inner_x, ld_inner = self.inner.inverse(z[:, :n_inner], context)
        kept = self.squeeze.inverse(inner_x)[0]
        h = F.cat([kept, z[:, n_inner:].reshape(z.shape[0], c - self.keep, hh, ww)], 1)
        x, logdet = self.steps.inverse(h, context)
        return x, logdet + ld_inner


def conv_conditioner(c_in, c_out, hidden):
    """3×3 conv -> ReLU -> 1×1 conv -> ReLU -> 3×3 conv (zero-initialised), same H, W."""
    last = nn.Conv2d(hidden, c_out, 3, padding=1)
    last.weight.data[...] = 0
    last.bias.data[...] = 0
    return nn.Sequential(nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 1), nn.ReLU(), last)


def dequantize(x, levels):
    """Pixels x in [0, 1] cut into ``levels`` bins, k = min(⌊x L⌋, L − 1) (the bins of
    PixelNaiveBayes), -> y = (k + u)/L, u ~ U[0, 1): continuous values filling bin k."""
    levels = positive_int(levels, 'levels', 'dequantize')
    xp = x.xp
    k = as_tensor(xp.clip(xp.floor(x.data * levels), 0, levels - 1))   # on x's device
    return (k + rand_like(k)) / levels


def discrete_log_prob_bound(log_p_y, dims, levels):
    """log P(k) ≥ log p(y) − D log L for y uniformly dequantised (per example, nats)."""
    return log_p_y - dims * math.log(levels)
