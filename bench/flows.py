"""Speed of the 2-D flows in scratchgen against the same flows written in PyTorch CPU.

Each flow is demos/flow_toy2d.py's: 4 layers of [ActNorm -> LU linear -> core] in 2-D,
about 20,000 parameters (RealNVP affine coupling, hidden (68, 68); MAF, (67, 67);
rational-quadratic spline coupling with 8 bins on [-4, 4], (59, 59)). The PyTorch
versions follow the same equations line by line (same masks, soft clamps, spline
formulas and the same bin search), so the ratio measures the libraries, not the models.

    python bench/flows.py                  # every case, ratio table
    python bench/flows.py --threads 1      # one BLAS / intra-op thread in both
    python bench/flows.py --cases spline-step --repeats 50

Cases: <flow>-step  one training step: forward, −mean log p(x) on a batch of 512, backward, Adam;
       <flow>-sample  drawing 10,000 points (the inverse pass, no gradients; MAF's is
                      sequential: 2 passes of its MADE per layer in 2-D).
Each library runs in its own subprocess; median of --repeats after 3 warm-up calls.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

HIDDEN = {'realnvp': 68, 'maf': 67, 'spline': 59}
LAYERS, BINS, BOUND, SCALE_BOUND, BATCH, N_SAMPLES = 4, 8, 4.0, 3.0, 512, 10000
CASES = {f"{k}-{what}": f"{k} {'train step, batch 512' if what == 'step' else 'sample 10,000'}"
         for k in HIDDEN for what in ('step', 'sample')}
TARGETS = {case: 2.0 for case in CASES}


def data():
    import numpy as np
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    import scratchgen as sg
    return sg.data.toy2d('checkerboard', BATCH, seed=0).astype(np.float32)


def build_sg(case):
    import scratchgen as sg
    from scratchgen.models.flows import build_flow
    kind, what = case.split('-')
    sg.manual_seed(0)
    flow = build_flow(kind=kind, layers=LAYERS, hidden=(HIDDEN[kind],) * 2, bins=BINS,
                      tail_bound=BOUND, scale_bound=SCALE_BOUND)
    x = sg.tensor(data())
    flow.log_prob(x)                     # ActNorm's data-dependent initialisation
    opt = sg.optim.Adam(flow.parameters(), lr=1e-3)
    if what == 'sample':
        def step():
            with sg.no_grad():
                flow.sample(N_SAMPLES)
        return step

    def step():
        loss = -flow.log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def build_torch(case):
    import numpy as np
    import torch
    nn, F = torch.nn, torch.nn.functional
    kind, what = case.split('-')
    torch.manual_seed(0)
    D, H = 2, HIDDEN[kind]
    LOG_2PI = math.log(2 * math.pi)

    def mlp(n_in, n_out, masks=None):
        layers = [nn.Linear(n_in, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, n_out)]
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        return nn.Sequential(*layers)

    class ActNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.s, self.b = nn.Parameter(torch.zeros(D)), nn.Parameter(torch.zeros(D))

        def forward(self, x):
            return x * self.s.exp() + self.b, self.s.sum().expand(x.shape[0])

        def inverse(self, z):
            return (z - self.b) * (-self.s).exp()

    class LU(nn.Module):
        def __init__(self):
            super().__init__()
            self.lower, self.upper = nn.Parameter(torch.zeros(D, D)), nn.Parameter(torch.zeros(D, D))
            self.log_s, self.bias = nn.Parameter(torch.zeros(D)), nn.Parameter(torch.zeros(D))
            self.register_buffer('eye', torch.eye(D))
            self.register_buffer('sl', torch.tril(torch.ones(D, D), -1))

        def factors(self):
            return self.lower * self.sl + self.eye, self.upper * self.sl.T + torch.diag(self.log_s.exp())

        def forward(self, x):
            L, U = self.factors()
            return x @ (L @ U).T + self.bias, self.log_s.sum().expand(x.shape[0])

        def inverse(self, z):
            L, U = self.factors()
            return torch.linalg.solve_triangular(
                U, torch.linalg.solve_triangular(L, (z - self.bias).T, upper=False, unitriangular=True),
                upper=True).T

    def knots(u, minimum=1e-3):
        frac = minimum + (1 - minimum * BINS) * F.softmax(u, -1)
        return F.pad(torch.cumsum(frac, -1), (1, 0)) * 2 * BOUND - BOUND

    def spline(x, w, h, d, inverse):
        inside = x.abs() < BOUND
        v = x.clamp(-BOUND, BOUND)
        xk, yk = knots(w), knots(h)
        dd = F.pad(F.softplus(d + math.log(math.expm1(1 - 1e-3))) + 1e-3, (1, 1), value=1.0)
        k = ((yk if inverse else xk)[..., 1:-1] <= v[..., None]).sum(-1, keepdim=True)
        pick = lambda t: t.gather(-1, k).squeeze(-1)       # noqa: E731
        x_k, w_k = pick(xk), pick(xk[..., 1:] - xk[..., :-1])
        y_k, h_k = pick(yk), pick(yk[..., 1:] - yk[..., :-1])
        d_k, d_k1 = pick(dd[..., :-1]), pick(dd[..., 1:])
        s = h_k / w_k
        curv = d_k1 + d_k - 2 * s
        if inverse:
            dy = v - y_k
            a, b, c = h_k * (s - d_k) + dy * curv, h_k * d_k - dy * curv, -s * dy
            xi = 2 * c / (-b - (b * b - 4 * a * c).clamp(min=0).sqrt())
            out = xi * w_k + x_k
        else:
            xi = (v - x_k) / w_k
        q = xi * (1 - xi)
        den = s + curv * q
        if not inverse:
            out = y_k + h_k * (s * xi * xi + d_k * q) / den
        ld = 2 * s.log() + (d_k1 * xi * xi + 2 * s * q + d_k * (1 - xi) ** 2).log() - 2 * den.log()
        return torch.where(inside, out, x), torch.where(inside, -ld if inverse else ld, 0.0)

    class Coupling(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.a, self.b = a, 1 - a
            self.p = 2 if kind == 'realnvp' else 3 * BINS - 1
            self.net = mlp(1, self.p)

        def _run(self, x, inverse):
            xa, xb = x[:, self.a:self.a + 1], x[:, self.b:self.b + 1]
            th = self.net(xa).reshape(-1, 1, self.p)
            if kind == 'realnvp':
                s = SCALE_BOUND * torch.tanh(th[:, :, 0] / SCALE_BOUND)
                yb, lg = ((xb - th[:, :, 1]) * (-s).exp(), -s) if inverse else (xb * s.exp() + th[:, :, 1], s)
            else:
                yb, lg = spline(xb, th[..., :BINS], th[..., BINS:2 * BINS], th[..., 2 * BINS:], inverse)
            y = torch.cat([xa, yb], 1) if self.a == 0 else torch.cat([yb, xa], 1)
            return y, lg.sum(1)

        def forward(self, x):
            return self._run(x, False)

        def inverse(self, z):
            return self._run(z, True)[0]

    class MAF(nn.Module):
        def __init__(self, order):
            super().__init__()
            deg_in = [order.index(i) + 1 for i in range(D)]
            deg_h = [k % (D - 1) + 1 for k in range(H)]
            out_deg = [m for m in deg_in for _ in range(2)]
            self.net = mlp(D, 2 * D)
            m = [torch.tensor([[float(o >= i) for i in deg_in] for o in deg_h]),
                 torch.tensor([[float(o >= i) for i in deg_h] for o in deg_h]),
                 torch.tensor([[float(o > i) for i in deg_h] for o in out_deg])]
            for i, mask in enumerate(m):
                self.register_buffer(f"m{i}", mask)

        def params(self, u):
            l0, l1, l2 = self.net[0], self.net[2], self.net[4]
            h = F.relu(F.linear(u, l0.weight * self.m0, l0.bias))
            h = F.relu(F.linear(h, l1.weight * self.m1, l1.bias))
            th = F.linear(h, l2.weight * self.m2, l2.bias).reshape(-1, D, 2)
            return th[:, :, 0], SCALE_BOUND * torch.tanh(th[:, :, 1] / SCALE_BOUND)

        def forward(self, x):
            mu, a = self.params(x)
            return (x - mu) * (-a).exp(), -a.sum(1)

        def inverse(self, z):
            x = torch.zeros_like(z)
            for _ in range(D):
                mu, a = self.params(x)
                x = z * a.exp() + mu
            return x

    layers = []
    for i in range(LAYERS):
        layers += [ActNorm(), LU(), MAF([0, 1] if i % 2 == 0 else [1, 0]) if kind == 'maf' else Coupling(i % 2)]
    flow = nn.ModuleList(layers)

    def log_prob(x):
        total = torch.zeros(x.shape[0])
        for t in flow:
            x, ld = t(x)
            total = total + ld
        return -0.5 * (x * x).sum(1) - LOG_2PI + total

    x = torch.tensor(data())
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    if what == 'sample':
        def step():
            with torch.no_grad():
                z = torch.randn(N_SAMPLES, D)
                for t in reversed(flow):
                    z = t.inverse(z)
        return step

    def step():
        loss = -log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


if __name__ == '__main__':
    main(__file__, CASES, build_sg, build_torch, TARGETS, __doc__)
