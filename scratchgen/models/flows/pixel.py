"""A discrete autoregressive model of binary pixels: MADE over the D pixels of an image,

    p(x) = Π_i p(x_i | x_<i),   p(x_i = 1 | x_<i) = sigmoid(ℓ_i(x_<i)),

trained by maximising the exact log-likelihood log p(x) = −Σ_i BCE(ℓ_i, x_i) (no bound,
unlike the VAE's ELBO); sampling draws the pixels one at a time, a pass of the network
each (D passes). docs/flows.md, "A discrete autoregressive model of pixels".
"""
import math

from ... import functional as F
from ...autograd import no_grad, rand, zeros
from ...checks import int_tuple
from .autoregressive import MADE
from ... import nn

__all__ = ['PixelMADE']


class PixelMADE(nn.Module):
    """MADE over the pixels of (N, C, H, W) images in {0, 1}, in raster order."""

    def __init__(self, data_shape=(1, 16, 16), hidden=(512,)):
        super().__init__()
        self.data_shape = int_tuple(data_shape, 'data_shape', 'PixelMADE')
        self.pixels = math.prod(self.data_shape)
        self.made = MADE(self.pixels, hidden, params_per_feature=1)

    def logits(self, x):
        """ℓ (N, D): the logit of pixel i given the pixels before it."""
        return self.made(x.reshape(x.shape[0], self.pixels))[:, :, 0]

    def log_prob(self, x):
        """Exact log p(x) per image (N,), in nats."""
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"PixelMADE.log_prob: x has shape {x.shape}; expected (N, "
                             f"{', '.join(map(str, self.data_shape))})")
        flat = x.reshape(x.shape[0], self.pixels)
        nll = F.binary_cross_entropy_with_logits(self.logits(x), flat, reduction='none')
        return -nll.sum(1)

    def sample(self, n):
        """n images drawn pixel by pixel (D network passes)."""
        p = next(self.parameters())
        x = zeros(n, self.pixels, dtype=p.dtype, device=p.device)
        with no_grad():
            for i in range(self.pixels):
                prob = self.made(x)[:, i, 0].sigmoid()
                bit = (rand(n, dtype=p.dtype, device=p.device) < prob).data.astype(x.dtype)
                x.data[:, i] = bit
        return x.reshape(n, *self.data_shape)
