"""Discrete autoregressive models of binary pixels, MADE or a small PixelCNN over the D
pixels of an image in raster order,

    p(x) = Π_i p(x_i | x_<i),   p(x_i = 1 | x_<i) = sigmoid(ℓ_i(x_<i)),

trained by maximising the exact log-likelihood log p(x) = −Σ_i BCE(ℓ_i, x_i) (no bound,
unlike the VAE's ELBO); sampling draws the pixels one at a time, a pass of the network
each (D passes). MADE masks the weights of an MLP; PixelCNN (van den Oord et al., 2016)
masks convolution kernels so that pixel (i, j) sees only the rows above and the pixels to
its left. docs/flows.md, "A discrete autoregressive model of pixels".
"""
import math

from ... import functional as F
from ...autograd import no_grad, rand, zeros
from ...autograd import tensor
from ...checks import int_tuple, one_of, positive_int
from .autoregressive import MADE
from ... import nn

__all__ = ['PixelMADE', 'MaskedConv2d', 'PixelCNN']


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


class MaskedConv2d(nn.Conv2d):
    """A k×k convolution ('same' size) whose kernel is zero below the centre row and right
    of the centre in it: type 'A' also zeroes the centre (the first layer: a pixel must not
    see itself), type 'B' keeps it (later layers: the centre holds only earlier pixels)."""

    def __init__(self, in_channels, out_channels, kernel_size, mask_type):
        k = positive_int(kernel_size, 'kernel_size', 'MaskedConv2d')
        if k % 2 == 0:
            raise ValueError(f"MaskedConv2d: kernel_size must be odd, got {k}")
        one_of(mask_type, ('A', 'B'), 'mask_type', 'MaskedConv2d')
        super().__init__(in_channels, out_channels, k, padding=k // 2)
        c = k // 2
        mask = [[float(i < c or (i == c and (j < c or (j == c and mask_type == 'B'))))
                 for j in range(k)] for i in range(k)]
        self.register_buffer('mask', tensor(mask, dtype=self.weight.dtype).reshape(1, 1, k, k))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    """A small PixelCNN for (N, 1, H, W) binary images: a 7×7 type-A masked conv, then
    ``layers`` 3×3 type-B masked convs with ReLUs, then a 1×1 conv to one logit per
    pixel. Exact log p(x); sampling one pixel per network pass (H·W passes)."""

    def __init__(self, data_shape=(1, 16, 16), channels=32, layers=4):
        super().__init__()
        self.data_shape = int_tuple(data_shape, 'data_shape', 'PixelCNN')
        if len(self.data_shape) != 3 or self.data_shape[0] != 1:
            raise ValueError(f"PixelCNN: data_shape must be (1, H, W) (one binary channel), "
                             f"got {self.data_shape}")
        c = positive_int(channels, 'channels', 'PixelCNN')
        parts = [MaskedConv2d(1, c, 7, 'A'), nn.ReLU()]
        for _ in range(positive_int(layers, 'layers', 'PixelCNN')):
            parts += [MaskedConv2d(c, c, 3, 'B'), nn.ReLU()]
        self.net = nn.Sequential(*parts, nn.Conv2d(c, 1, 1))

    def logits(self, x):
        return self.net(x)

    def log_prob(self, x):
        """Exact log p(x) per image (N,), in nats."""
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"PixelCNN.log_prob: x has shape {x.shape}; expected (N, "
                             f"{', '.join(map(str, self.data_shape))})")
        nll = F.binary_cross_entropy_with_logits(self.logits(x), x, reduction='none')
        return -nll.reshape(x.shape[0], -1).sum(1)

    def sample(self, n):
        """n images drawn pixel by pixel in raster order."""
        p = next(self.parameters())
        x = zeros(n, *self.data_shape, dtype=p.dtype, device=p.device)
        _, h, w = self.data_shape
        with no_grad():
            for i in range(h):
                for j in range(w):
                    prob = self.logits(x)[:, 0, i, j].sigmoid()
                    x.data[:, 0, i, j] = (rand(n, dtype=p.dtype, device=p.device) < prob).data.astype(x.dtype)
        return x
