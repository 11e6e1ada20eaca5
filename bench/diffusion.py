"""Speed of one U-Net diffusion training step in scratchgen against the same network in
PyTorch CPU.

One step = the ε-prediction loss ‖ε − ε_θ(x_t, t, y)‖² on a batch (x_t, t, ε fixed so
both libraries do the same arithmetic), backward, Adam update. The network is
``scratchgen.models.diffusion.UNet`` as demos/ddpm_images.py trains it; the PyTorch twin
below mirrors it layer for layer. Each library runs in its own subprocess, median of
--repeats steps after 3 warm-up steps (bench/_harness.py). Run:

    python bench/diffusion.py                 # all cases, ratio table
    python bench/diffusion.py --threads 1     # one BLAS / intra-op thread in both

Cases:
  unet16   shapes: 3x16x16, channels 16, mults (1, 2), 3 classes, batch 32
  unet32   3x16x16, channels 32, mults (1, 2), 3 classes, batch 32
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

CASES = {'unet16': 'U-Net 3x16x16, channels 16, batch 32',
         'unet32': 'U-Net 3x16x16, channels 32, batch 32'}
TARGETS = {'unet16': 2.0, 'unet32': 2.0}
ARGS = {'unet16': dict(channels=16), 'unet32': dict(channels=32)}
BATCH, SHAPE, CLASSES = 32, (3, 16, 16), 3


def _data(seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH,) + SHAPE).astype(np.float32),
            rng.uniform(1, 1000, BATCH).astype(np.float32),
            rng.integers(0, CLASSES, BATCH),
            rng.standard_normal((BATCH,) + SHAPE).astype(np.float32))


def _train_step(net, opt, mse_loss, x, t, y, eps):
    """One step, the same code for both libraries (their APIs agree here)."""
    def step():
        loss = mse_loss(net(x, t, y), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def build_sg(case):
    import scratchgen as sg
    import scratchgen.functional as F
    from scratchgen.models.diffusion import UNet
    net = UNet(SHAPE[0], channels=ARGS[case]['channels'], channel_mults=(1, 2),
               num_classes=CLASSES)
    opt = sg.optim.Adam(net.parameters(), lr=1e-3)
    return _train_step(net, opt, F.mse_loss, *(sg.tensor(a) for a in _data()))


def build_torch(case):
    import torch
    nn, F = torch.nn, torch.nn.functional
    c0 = ARGS[case]['channels']

    class TimeEmbedding(nn.Module):
        def __init__(self, freq_dim, dim):
            super().__init__()
            half = freq_dim // 2
            self.register_buffer('freqs', torch.exp(torch.arange(half) * (-math.log(1e4) / (half - 1))))
            self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
            self.label = nn.Embedding(CLASSES + 1, dim)

        def forward(self, t, y):
            a = t[:, None] * self.freqs
            return self.mlp(torch.cat([a.sin(), a.cos()], -1)) + self.label(y)

    class ResBlock(nn.Module):
        def __init__(self, cin, cout, emb):
            super().__init__()
            self.norm1, self.conv1 = nn.GroupNorm(math.gcd(8, cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.emb = nn.Linear(emb, cout)
            self.norm2, self.conv2 = nn.GroupNorm(math.gcd(8, cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x, e):
            h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(e))[:, :, None, None]
            return self.skip(x) + self.conv2(F.silu(self.norm2(h)))

    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.attn = nn.GroupNorm(math.gcd(8, c), c), nn.MultiheadAttention(c, math.gcd(4, c), batch_first=True)

        def forward(self, x):
            B, C, H, W = x.shape
            h = self.norm(x).reshape(B, C, H * W).transpose(1, 2)
            h = self.attn(h, h, h, need_weights=False)[0]
            return x + h.transpose(1, 2).reshape(B, C, H, W)

    class UNet(nn.Module):                 # channel_mults (1, 2), one res block per level
        def __init__(self):
            super().__init__()
            c1, emb = 2 * c0, 4 * c0
            self.embed = TimeEmbedding(c0, emb)
            self.conv_in = nn.Conv2d(SHAPE[0], c0, 3, padding=1)
            self.d0, self.down = ResBlock(c0, c0, emb), nn.Conv2d(c0, c0, 3, stride=2, padding=1)
            self.d1, self.d1a = ResBlock(c0, c1, emb), Attention(c1)
            self.m1, self.ma, self.m2 = ResBlock(c1, c1, emb), Attention(c1), ResBlock(c1, c1, emb)
            self.u1 = nn.ModuleList([ResBlock(c1 + s, c1, emb) for s in (c1, c0)])
            self.u1a = nn.ModuleList([Attention(c1), Attention(c1)])
            self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c1, c1, 3, padding=1))
            self.u0 = nn.ModuleList([ResBlock(c1 + c0, c0, emb), ResBlock(c0 + c0, c0, emb)])
            self.norm_out, self.conv_out = nn.GroupNorm(8, c0), nn.Conv2d(c0, SHAPE[0], 3, padding=1)

        def forward(self, x, t, y):
            e = self.embed(t, y)
            hs = [self.conv_in(x)]
            hs.append(self.d0(hs[-1], e))
            hs.append(self.down(hs[-1]))
            hs.append(self.d1a(self.d1(hs[-1], e)))
            h = self.m2(self.ma(self.m1(hs[-1], e)), e)
            for res, attn in zip(self.u1, self.u1a):
                h = attn(res(torch.cat([h, hs.pop()], 1), e))
            h = self.up(h)
            for i, res in enumerate(self.u0):
                h = res(torch.cat([h, hs.pop()], 1), e)
            return self.conv_out(F.silu(self.norm_out(h)))

    net = UNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return _train_step(net, opt, F.mse_loss, *(torch.as_tensor(a) for a in _data()))


if __name__ == '__main__':
    main(__file__, CASES, build_sg, build_torch, TARGETS, __doc__)
