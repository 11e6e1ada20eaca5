"""Speed of scratchgen against PyTorch CPU on the same computations.

Each library is timed in its own subprocess (NumPy and PyTorch thread pools fight when
interleaved on 2 cores), median of at least 20 repeats after warm-up. Run:

    python bench/ops.py                 # all cases, both libraries, ratio table
    python bench/ops.py --cases a b     # some cases
    python bench/ops.py --repeats 50
    python bench/ops.py --threads 1     # pin both libraries to one thread (steadier on
                                        # a shared 2-core machine)

Cases (issues #2, #3):
  a  per-op overhead: chain of 100 small elementwise ops (x of 64 floats), fwd+bwd
  b  MLP 784-512-512-784, batch 128, ReLU, MSE, fwd+bwd
  c  conv layer: batch 64, 1->32 channels, 28x28, 3x3, padding 1, fwd+bwd
  d  attention: B=16, H=4, T=128, D=32, softmax(QK^T/sqrt(D))V, fwd+bwd
  e  small conv-net training step (conv-relu-pool x2, linear, cross-entropy, Adam)
  f  attention block: LayerNorm + MultiheadAttention(128, 4) + residual, B=16, T=128
  g  exact GELU (erf) of a (768, 512) batch, the recipe GPT's MLP activation, fwd+bwd
  h  tanh GELU of the same batch, fwd+bwd
  i  linear layer (768, 128) -> 512 with bias, fwd+bwd (the fused Linear op)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

CASES = {
    'a': 'per-op overhead, chain of 100 elementwise ops (fwd+bwd)',
    'b': 'MLP 784-512-512-784, batch 128 (fwd+bwd)',
    'c': 'conv 1->32, 3x3, 28x28, batch 64 (fwd+bwd)',
    'd': 'attention B=16 H=4 T=128 D=32 (fwd+bwd)',
    'e': 'small conv net training step (batch 64, 28x28)',
    'f': 'attention block: LayerNorm + MHA(128, 4 heads) + residual (fwd+bwd)',
    'g': 'exact GELU of (768, 512) (fwd+bwd)',
    'h': 'tanh GELU of (768, 512) (fwd+bwd)',
    'i': 'linear (768, 128) -> 512 with bias (fwd+bwd)',
}
TARGETS = {'a': 1.6, 'b': 1.3, 'c': 2.5, 'd': 2.0, 'e': 2.5, 'f': 2.0}


def layer_case(case, T, F):
    """Cases g, h, i, written once: the two libraries spell gelu and linear alike.
    ``T`` makes a tensor of the library, ``F`` is its functional module."""
    x, g = T(768, 512 if case != 'i' else 128), T(768, 512, grad=False)
    if case == 'i':
        w, b = T(512, 128, scale=0.1), T(512)

        def run():
            F.linear(x, w, b).backward(g)
            x.grad = w.grad = b.grad = None
        return run
    approximate = 'none' if case == 'g' else 'tanh'

    def run():
        F.gelu(x, approximate=approximate).backward(g)
        x.grad = None
    return run


def build_sg(case):
    import numpy as np
    import scratchgen as sg
    F = sg.functional
    rng = np.random.default_rng(0)

    def T(*shape, grad=True, scale=1.0):
        return sg.tensor((rng.standard_normal(shape) * scale).astype(np.float32), requires_grad=grad)

    if case == 'a':
        x = T(64)

        def run():
            y = x
            for _ in range(50):
                y = y * 1.001
                y = y + 0.001
            y.sum().backward()
            x.grad = None
    elif case == 'b':
        x, t = T(128, 784, grad=False), T(128, 784, grad=False)
        ws = [T(784, 512, scale=0.03), T(512, 512, scale=0.04), T(512, 784, scale=0.04)]
        bs = [T(512), T(512), T(784)]

        def run():
            h = F.relu(x @ ws[0] + bs[0])
            h = F.relu(h @ ws[1] + bs[1])
            y = h @ ws[2] + bs[2]
            F.mse_loss(y, t).backward()
            for p in ws + bs:
                p.grad = None
    elif case == 'c':
        x, w, b = T(64, 1, 28, 28), T(32, 1, 3, 3), T(32)

        def run():
            y = F.conv2d(x, w, b, padding=1)
            y.sum().backward()
            x.grad = w.grad = b.grad = None
    elif case == 'd':
        q, k, v = T(16, 4, 128, 32), T(16, 4, 128, 32), T(16, 4, 128, 32)
        g = T(16, 4, 128, 32, grad=False)

        def run():
            att = F.softmax((q @ k.swapaxes(-1, -2)) * (1 / 32 ** 0.5), axis=-1)
            y = att @ v
            y.backward(g)
            q.grad = k.grad = v.grad = None
    elif case == 'e':
        net = sg.nn.Sequential(sg.nn.Conv2d(1, 16, 3, padding=1), sg.nn.ReLU(), sg.nn.MaxPool2d(2),
                               sg.nn.Conv2d(16, 32, 3, padding=1), sg.nn.ReLU(), sg.nn.MaxPool2d(2),
                               sg.nn.Flatten(), sg.nn.Linear(32 * 7 * 7, 10))
        opt = sg.optim.Adam(net.parameters(), lr=1e-3)
        x = T(64, 1, 28, 28, grad=False)
        y = sg.tensor(rng.integers(0, 10, 64))

        def run():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    elif case == 'f':
        ln = sg.nn.LayerNorm(128)
        mha = sg.nn.MultiheadAttention(128, 4, batch_first=True)
        x = T(16, 128, 128)
        g = T(16, 128, 128, grad=False)

        def run():
            h = ln(x)
            y = x + mha(h, h, h, need_weights=False)[0]
            y.backward(g)
            x.grad = None
            for p in list(ln.parameters()) + list(mha.parameters()):
                p.grad = None
    else:
        run = layer_case(case, T, sg.nn.functional)
    return run


def build_torch(case):
    import numpy as np
    import torch
    F = torch.nn.functional
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def T(*shape, grad=True, scale=1.0):
        return torch.tensor((rng.standard_normal(shape) * scale).astype(np.float32), requires_grad=grad)

    if case == 'a':
        x = T(64)

        def run():
            y = x
            for _ in range(50):
                y = y * 1.001
                y = y + 0.001
            y.sum().backward()
            x.grad = None
    elif case == 'b':
        x, t = T(128, 784, grad=False), T(128, 784, grad=False)
        ws = [T(784, 512, scale=0.03), T(512, 512, scale=0.04), T(512, 784, scale=0.04)]
        bs = [T(512), T(512), T(784)]

        def run():
            h = F.relu(x @ ws[0] + bs[0])
            h = F.relu(h @ ws[1] + bs[1])
            y = h @ ws[2] + bs[2]
            F.mse_loss(y, t).backward()
            for p in ws + bs:
                p.grad = None
    elif case == 'c':
        x, w, b = T(64, 1, 28, 28), T(32, 1, 3, 3), T(32)

        def run():
            y = F.conv2d(x, w, b, padding=1)
            y.sum().backward()
            x.grad = w.grad = b.grad = None
    elif case == 'd':
        q, k, v = T(16, 4, 128, 32), T(16, 4, 128, 32), T(16, 4, 128, 32)
        g = T(16, 4, 128, 32, grad=False)

        def run():
            att = F.softmax((q @ k.transpose(-1, -2)) * (1 / 32 ** 0.5), dim=-1)
            y = att @ v
            y.backward(g)
            q.grad = k.grad = v.grad = None
    elif case == 'e':
        nn = torch.nn
        net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = T(64, 1, 28, 28, grad=False)
        y = torch.tensor(rng.integers(0, 10, 64))

        def run():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    elif case == 'f':
        ln = torch.nn.LayerNorm(128)
        mha = torch.nn.MultiheadAttention(128, 4, batch_first=True)
        x = T(16, 128, 128)
        g = T(16, 128, 128, grad=False)

        def run():
            h = ln(x)
            y = x + mha(h, h, h, need_weights=False)[0]
            y.backward(g)
            x.grad = None
            for p in list(ln.parameters()) + list(mha.parameters()):
                p.grad = None
    else:
        run = layer_case(case, T, F)
    return run


if __name__ == '__main__':
    main(__file__, CASES, build_sg, build_torch, TARGETS, __doc__)
