"""Normalizing flows on 2-D densities: exact test NLL against the true entropy, the
learned densities next to the data, and the data pushed layer by layer to a Gaussian.

    OMP_NUM_THREADS=1 python demos/flow_toy2d.py                       # the spline flow on 5 data sets
    OMP_NUM_THREADS=1 python demos/flow_toy2d.py --flows realnvp,maf,spline   # the docs table
    python demos/flow_toy2d.py --data points.npy                       # your own (N, 2) points
    python demos/flow_toy2d.py --quick                                 # seconds

For each data set (sg.data.toy2d, 20,000 training and 10,000 held-out points drawn with
different seeds; or a --data file, 20% held out) each flow (RealNVP affine coupling,
MAF, rational-quadratic spline coupling; widths chosen so that all have about --params
parameters) is trained by maximum likelihood — the loop is inline below — and reports
the test NLL in nats (the mean of −log p(x) over held-out points), the gap to the
entropy where toy2d_truth knows it (no model can beat the entropy in expectation), and
the learned density summed over a fine grid (should be 1). Figures: for every data set
the data histogram beside each flow's density and samples (flow_toy2d_<data>.png), and
the trajectory of the data through the best flow's layers (flow_toy2d_<data>_layers.png).
Results and discussion: docs/flows.md.
"""
import math
import time

import numpy as np

from _common import parser, Progress, ensure_out, write_results

import scratchgen as sg
from scratchgen.models.flows import ActNorm, FlowConfig, LULinear, Reverse, build_flow
from scratchgen.viz import density_image

DATASETS = ('checkerboard', 'ring8_wide', 'moons', 'pinwheel', 'swissroll')
FLOWS = ('realnvp', 'maf', 'spline')
BEST = 'spline'                       # the flow that did best in docs/flows.md


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def config_for(kind, params, layers, bins):
    """The FlowConfig of ``kind`` whose two hidden layers of width w give the parameter
    count closest to ``params`` (so that flows are compared at a matched size)."""
    base = FlowConfig(kind=kind, layers=layers, bins=bins, tail_bound=4.0)
    count = lambda w: n_params(build_flow(base, hidden=(w, w)))     # noqa: E731
    lo, hi = 2, 1024
    while hi - lo > 1:                # the count grows with w: bisect
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) <= params else (lo, mid)
    w = min((lo, hi), key=lambda w: abs(count(w) - params))
    return base.replace(hidden=(w, w))


def grid_mass(flow, lim, n, device):
    """Σ p(x) ΔA over an n × n grid on [−lim, lim]²: 1 for a normalised density whose
    mass lies inside the square."""
    ticks = np.linspace(-lim, lim, n, dtype=np.float64)
    gx, gy = np.meshgrid(ticks, ticks)
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    total = 0.0
    with sg.no_grad():
        for i in range(0, len(pts), 20000):
            lp = flow.log_prob(sg.tensor(pts[i:i + 20000], device=device)).numpy()
            total += np.exp(lp).sum()
    return total * (ticks[1] - ticks[0]) ** 2


def train_flow(config, x_train, args, steps, label):
    """Maximum likelihood: minimise the mean −log p(x) over batches, Adam with a cosine
    learning-rate decay."""
    sg.manual_seed(args.seed)
    flow = build_flow(config).to(args.device)
    opt = sg.optim.Adam(flow.parameters(), lr=args.lr)
    sched = sg.optim.CosineAnnealingLR(opt, T_max=steps, eta_min=args.lr * 0.01)
    rng = np.random.default_rng((args.seed, 7))
    progress = Progress(steps, label)
    t0 = time.process_time()
    for step in range(1, steps + 1):
        batch = sg.tensor(x_train[rng.integers(0, len(x_train), args.batch)], device=args.device)
        loss = -flow.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        progress(step, nll=loss.item())
    return flow, time.process_time() - t0


def test_nll(flow, x, device):
    with sg.no_grad():
        return -float(np.concatenate([flow.log_prob(sg.tensor(x[i:i + 5000], device=device)).numpy()
                                      for i in range(0, len(x), 5000)]).astype(np.float64).mean())


def figure(name, x_test, flows, lim, path):
    """Data histogram, then each flow's density and samples."""
    fig = sg.viz.new_figure(3.0 * (1 + len(flows)), 6.0)
    panels = [('data (held out)', density_image(x_test, lim=(-lim, lim), resolution=120)[0], None)]
    for kind, (flow, samples) in flows.items():
        with sg.no_grad():
            img = density_image(lambda p: flow.log_prob(sg.tensor(p, device=flow_device(flow))),
                                lim=(-lim, lim), resolution=160)[0]
        panels.append((f"{kind}: density", img, samples))
    for i, (title, img, samples) in enumerate(panels):
        ax = fig.add_subplot(2, len(panels), i + 1)
        ax.imshow(img, origin='lower', extent=(-lim, lim, -lim, lim), cmap='viridis')
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax = fig.add_subplot(2, len(panels), len(panels) + i + 1)
        pts = x_test[:2000] if samples is None else samples[:2000]
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5, linewidths=0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect('equal')
        ax.set_title('data' if samples is None else 'samples', fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(name, fontsize=10)
    sg.viz.save(fig, path)


def flow_device(flow):
    return next(flow.parameters()).device


def layers_figure(name, kind, flow, x, path):
    """The held-out points after each coupling / autoregressive layer, coloured by their
    angle around the data's mean, from x to z."""
    with sg.no_grad():
        trace = [t.numpy() for t in flow.trajectory(sg.tensor(x, device=flow_device(flow)))]
    parts = list(flow.transform.parts)
    core = [i + 1 for i, t in enumerate(parts) if not isinstance(t, (ActNorm, LULinear, Reverse))]
    keep = [0] + core
    fig = sg.viz.new_figure(2.4 * len(keep), 2.7)
    colour = np.arctan2(x[:, 1] - x[:, 1].mean(), x[:, 0] - x[:, 0].mean())
    for i, k in enumerate(keep):
        ax = fig.add_subplot(1, len(keep), i + 1)
        ax.scatter(trace[k][:, 0], trace[k][:, 1], c=colour, s=1, cmap='hsv', linewidths=0)
        ax.set_aspect('equal')
        ax.set_xticks([])
        ax.set_yticks([])
        title = 'data x' if k == 0 else f"after {type(parts[k - 1]).__name__} {i}"
        ax.set_title(title + (' = z' if k == len(trace) - 1 else ''), fontsize=8)
    fig.suptitle(f"{name}: held-out points pushed through the {kind} flow, layer by layer",
                 fontsize=9)
    sg.viz.save(fig, path)


def main():
    p = parser(__doc__.split('\n')[0], 'out/flows',
               data='a .npy of shape (N, 2) (or a .npz with "points"): fit that instead of the toy sets')
    p.add_argument('--flows', default=BEST, help=f"comma-separated from {','.join(FLOWS)} "
                   f"(default: %(default)s, the best in docs/flows.md)")
    p.add_argument('--datasets', default=','.join(DATASETS))
    p.add_argument('--steps', type=int, default=None, help='training steps (default 4000)')
    p.add_argument('--params', type=int, default=20000, help='matched parameter count')
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--bins', type=int, default=8)
    p.add_argument('--batch', type=int, default=512)
    p.add_argument('--lr', type=float, default=1e-3)
    args = p.parse_args()
    out = ensure_out(args.out)
    t_start = time.time()
    kinds = [k for k in args.flows.split(',') if k]
    for k in kinds:
        if k not in FLOWS:
            raise SystemExit(f"--flows: unknown flow {k!r}; expected some of {','.join(FLOWS)}")
    steps = args.steps or (30 if args.quick else 4000)
    params = 2000 if args.quick else args.params
    n_train, n_test = (2000, 2000) if args.quick else (20000, 10000)
    if args.data:
        try:
            pts = sg.data.load_points(args.data)
        except sg.data.DataFileError as e:      # a clear message, no traceback
            raise SystemExit(f"--data: {e}")
        order = np.random.default_rng((args.seed, 5)).permutation(len(pts))
        cut = max(1, len(pts) // 5)
        sets = {'data': (pts[order[cut:]], pts[order[:cut]])}
    else:
        names = ['checkerboard', 'moons'] if args.quick else args.datasets.split(',')
        sets = {n: (sg.data.toy2d(n, n_train, seed=args.seed).astype(np.float32),
                    sg.data.toy2d(n, n_test, seed=args.seed + 1000).astype(np.float32)) for n in names}

    results, samples = {}, {}
    for name, (x_train, x_test) in sets.items():
        entropy = None if args.data else sg.data.toy2d_truth(name).entropy
        lim = float(np.ceil(np.abs(np.concatenate([x_train, x_test])).max() * 1.15))
        print(f"\n{name}: {len(x_train):,} train / {len(x_test):,} test points"
              + (f", entropy {entropy:.4f} nats" if entropy is not None else ''))
        trained = {}
        for kind in kinds:
            config = config_for(kind, params, args.layers, args.bins)
            flow, cpu = train_flow(config, x_train, args, steps, f"{name} {kind}")
            flow.eval()
            nll = test_nll(flow, x_test, args.device)
            mass = grid_mass(flow, lim + 2.0, 100 if args.quick else 600, args.device)
            with sg.no_grad():
                sg.manual_seed(args.seed + 1)
                s = flow.sample(10000 if not args.quick else 2000).numpy()
            trained[kind] = (flow, s)
            samples[f"{name}_{kind}"] = s
            row = dict(test_nll=nll, params=n_params(flow), hidden=config.hidden, layers=config.layers,
                       steps=steps, cpu_seconds=cpu, grid_mass=mass, grid=[-lim - 2.0, lim + 2.0])
            if entropy is not None:
                row.update(entropy=entropy, gap=nll - entropy)
            results.setdefault(name, {})[kind] = row
            gap = f"  gap {nll - entropy:+.4f}" if entropy is not None else ''
            print(f"  {kind:8s} {row['params']:>6,} params  test NLL {nll:.4f} nats{gap}  "
                  f"grid mass {mass:.4f}  ({cpu:.0f} CPU s)")
        figure(name, x_test, trained, lim, f"{out}/flow_toy2d_{name}.png")
        best = min(trained, key=lambda k: results[name][k]['test_nll'])
        layers_figure(name, best, trained[best][0], x_test[:3000], f"{out}/flow_toy2d_{name}_layers.png")
        print(f"  wrote {out}/flow_toy2d_{name}.png, {out}/flow_toy2d_{name}_layers.png")

    print("\n| data | entropy | " + " | ".join(f"{k} NLL (gap)" for k in kinds) + " |")
    print("|---|---|" + "---|" * len(kinds))
    for name, rows in results.items():
        e = next(iter(rows.values())).get('entropy')
        cells = [f"{r['test_nll']:.3f}" + (f" ({r['gap']:+.3f})" if 'gap' in r else '') for r in rows.values()]
        print(f"| {name} | {'—' if e is None else f'{e:.3f}'} | " + " | ".join(cells) + " |")
    wall = time.time() - t_start
    print(f"\n(nats; seed {args.seed}, {steps} steps of batch {args.batch}; whole demo {wall:.0f} s)")
    write_results(out, dict(results=results, seed=args.seed, steps=steps, batch=args.batch,
                            split={n: dict(train=len(a), test=len(b)) for n, (a, b) in sets.items()},
                            data=args.data, wall_seconds=wall), samples)


if __name__ == '__main__':
    main()
