"""Speed of one U-Net diffusion training step in scratchgen against the same network in
PyTorch CPU.

One step = the ε-prediction loss ‖ε − ε_θ(x_t, t, y)‖² on a batch (x_t, t, ε fixed so
both libraries do the same arithmetic), backward, Adam update. The network is
``scratchgen.models.diffusion.UNet`` as demos/ddpm_images.py trains it; the PyTorch twin
below mirrors it layer for layer. Each library runs in its own subprocess, median of
--repeats steps after 3 warm-up steps (bench/_harness.py). Run:

    python bench/diffusion.py                 # all cases, ratio table
    python bench/diffusion.py --threads 1     # one BLAS / intra-op thread in both

Cases (3 classes, batch 32):
  unet16      shapes 3x16x16, channels 16, mults (1, 2, 2): demos/ddpm_images.py's default
  unet16_12   3x16x16, channels 16, mults (1, 2): the demo's first network
  unet32      3x16x16, channels 32, mults (1, 2, 2)

The parent process prints the load average (os.getloadavg) before and after: wall
times on a shared machine depend on it.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

CASES = {'unet16': 'U-Net 3x16x16, channels 16, mults (1, 2, 2), batch 32',
         'unet16_12': 'U-Net 3x16x16, channels 16, mults (1, 2), batch 32',
         'unet32': 'U-Net 3x16x16, channels 32, mults (1, 2, 2), batch 32'}
TARGETS = {case: 2.0 for case in CASES}
ARGS = {'unet16': dict(channels=16, channel_mults=(1, 2, 2)),
        'unet16_12': dict(channels=16, channel_mults=(1, 2)),
        'unet32': dict(channels=32, channel_mults=(1, 2, 2))}
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
    net = UNet(SHAPE[0], num_classes=CLASSES, **ARGS[case])
    opt = sg.optim.Adam(net.parameters(), lr=1e-3)
    return _train_step(net, opt, F.mse_loss, *(sg.tensor(a) for a in _data()))


def torch_unet(in_channels, channels, channel_mults, num_classes, groups=8, heads=4):
    """The PyTorch twin of ``scratchgen.models.diffusion.UNet`` (one res block per level):
    the same layers, built in the same order under the same names, so a scratchgen
    state_dict loads into it (tests/models/test_diffusion_bench.py checks the outputs)."""
    import torch
    nn, F = torch.nn, torch.nn.functional
    g = lambda c: math.gcd(groups, c)                                   # noqa: E731

    class TimeEmbedding(nn.Module):
        def __init__(self, freq_dim, dim):
            super().__init__()
            half = freq_dim // 2
            self.register_buffer('freqs', torch.exp(torch.arange(half, dtype=torch.float64)
                                                    * (-math.log(1e4) / max(half - 1, 1))).float(),
                                 persistent=False)
            self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
            self.label = nn.Embedding(num_classes + 1, dim)

        def forward(self, t, y):
            a = t[:, None] * self.freqs
            return self.mlp(torch.cat([a.sin(), a.cos()], -1)) + self.label(y)

    class ResBlock(nn.Module):
        def __init__(self, cin, cout, emb):
            super().__init__()
            self.norm1, self.conv1 = nn.GroupNorm(g(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.emb = nn.Linear(emb, cout)
            self.norm2, self.conv2 = nn.GroupNorm(g(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x, e):
            h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(e))[:, :, None, None]
            return self.skip(x) + self.conv2(F.silu(self.norm2(h)))

    class AttentionBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = nn.GroupNorm(g(c), c)
            self.attn = nn.MultiheadAttention(c, math.gcd(heads, c), batch_first=True)

        def forward(self, x):
            B, C, H, W = x.shape
            h = self.norm(x).reshape(B, C, H * W).transpose(1, 2)
            h = self.attn(h, h, h, need_weights=False)[0]
            return x + h.transpose(1, 2).reshape(B, C, H, W)

    class Level(nn.Module):
        def __init__(self, cin, cout, emb, attention):
            super().__init__()
            self.res = ResBlock(cin, cout, emb)
            self.attn = AttentionBlock(cout) if attention else None

        def forward(self, x, e):
            h = self.res(x, e)
            return self.attn(h) if self.attn is not None else h

    class Down(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

        def forward(self, x, e):
            return self.conv(x)

    class Up(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.up, self.conv = nn.Upsample(scale_factor=2), nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x, e):
            return self.conv(self.up(x))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            emb = 4 * channels
            self.embed = TimeEmbedding(channels, emb)
            self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)
            widths, c, skips = [channels * m for m in channel_mults], channels, [channels]
            self.down = nn.ModuleList()
            for i, w in enumerate(widths):
                lowest = i == len(widths) - 1
                self.down.append(Level(c, w, emb, lowest))
                c = w
                skips.append(c)
                if not lowest:
                    self.down.append(Down(c))
                    skips.append(c)
            self.mid1, self.mid_attn, self.mid2 = ResBlock(c, c, emb), AttentionBlock(c), ResBlock(c, c, emb)
            self.up = nn.ModuleList()
            for i in reversed(range(len(widths))):
                for _ in range(2):
                    self.up.append(Level(c + skips.pop(), widths[i], emb, i == len(widths) - 1))
                    c = widths[i]
                if i > 0:
                    self.up.append(Up(c))
            self.norm_out, self.conv_out = nn.GroupNorm(g(c), c), nn.Conv2d(c, in_channels, 3, padding=1)

        def forward(self, x, t, y):
            e = self.embed(t, y)
            h = self.conv_in(x)
            hs = [h]
            for block in self.down:
                h = block(h, e)
                hs.append(h)
            h = self.mid2(self.mid_attn(self.mid1(h, e)), e)
            for block in self.up:
                if isinstance(block, Level):
                    h = torch.cat([h, hs.pop()], 1)
                h = block(h, e)
            return self.conv_out(F.silu(self.norm_out(h)))

    return UNet()


def build_torch(case):
    import torch
    net = torch_unet(SHAPE[0], num_classes=CLASSES, **ARGS[case])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return _train_step(net, opt, torch.nn.functional.mse_loss,
                       *(torch.as_tensor(a) for a in _data()))


if __name__ == '__main__':
    if '--worker' not in sys.argv:
        print("load average (1, 5, 15 min) before: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    main(__file__, CASES, build_sg, build_torch, TARGETS, __doc__)
    if '--worker' not in sys.argv:
        print("load average (1, 5, 15 min) after:  %.2f %.2f %.2f" % os.getloadavg())
