"""Every GAN loss on the 2-D mode-collapse benchmark, side by side.

    OMP_NUM_THREADS=1 python demos/gan_toy2d.py           # best variant, ring and grid, seed 0 (a few minutes)
    OMP_NUM_THREADS=1 python demos/gan_toy2d.py --full    # the docs table: every variant x ring/grid x seeds 0-2
    python demos/gan_toy2d.py --quick                     # seconds
    python demos/gan_toy2d.py --data my_points.npy        # your own (N, 2) points

The benchmark (the data issue's protocol, docs/gan.md): ``ring8`` is 8 Gaussians on the
unit circle with sigma 0.01, ``grid25`` 25 Gaussians on {-4,-2,0,2,4}^2 with sigma 0.05.
After training, 2,500 generated points are scored against the known mixture: modes
captured (a mode with at least one sample within 3 sigma), high-quality fraction (the
samples within 3 sigma of their nearest mode), reverse KL of the high-quality samples'
mode histogram to uniform (0 = balanced, log K = one mode); and against 2,500 fresh data
points: kernel MMD^2 and the sliced Wasserstein-1 distance (``metrics.wasserstein_distance``,
64 random directions, seed 0). Each run's CPU time is
reported (set OMP_NUM_THREADS=1: multi-threaded BLAS burns CPU time on matrices this small).

With ``--data PATH`` the GAN trains on your points instead (a ``.npy`` of shape (N, 2)):
20% are held out, and the samples are scored against them with MMD^2, the sliced W1 and
the 1-NN two-sample accuracy (no mode metrics: the true modes are unknown).

Figures (--out): samples over training for every variant (``gan_toy2d_<data>_training.png``),
and with --full the worst-collapsing run's trajectory (``gan_toy2d_collapse.png``).
The table lands in ``gan_toy2d_results.md``; every number in ``metrics.json``, the last
samples of each run in ``samples.npz``.
"""
import dataclasses
import os
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen import metrics
from scratchgen.models import gan

# Shared setup (GANConfig's defaults for arch='mlp'): MLPs 2 -> 128 -> 128 -> 128 -> 2, G
# with batch norm (it spreads the samples over the modes far better than without), D a
# plain leaky-ReLU MLP (no batch norm: the gradient penalty needs per-sample gradients).
# Batches of 512. Learning rates decay linearly to 1% over the run, which lets the
# samples settle onto the modes at the end (high quality).
ARCH = dict(latent_dim=2, width=128, depth=3)
BATCH = 512

# The papers' presets, with learning rates raised to fit ten CPU minutes (docs/gan.md)
# and WGAN-GP's lambda from its authors' own 2-D experiments (0.1; 10 is for images).
# EBGAN's discriminator is an autoencoder of the same width (3 layers per half, a
# 32-dimensional code). The last one is an ablation: the non-saturating GAN without
# batch norm in G.
VARIANTS = {
    'minimax': gan.GANConfig(loss='minimax', preset='dcgan', optim_options=dict(lr=1e-3), **ARCH),
    'nonsaturating': gan.GANConfig(loss='nonsaturating', preset='dcgan',
                                   optim_options=dict(lr=1e-3), **ARCH),
    'lsgan': gan.GANConfig(loss='lsgan', loss_options=dict(a=0.0, b=1.0, c=1.0), preset='lsgan',
                           optim_options=dict(lr=1e-3), **ARCH),
    'wgan': gan.GANConfig(loss='wgan', loss_options=dict(clip=0.01), preset='wgan',
                          optim_options=dict(lr=5e-4), **ARCH),
    'wgan-gp': gan.GANConfig(loss='wgan-gp', loss_options=dict(lam=0.1), preset='wgan-gp',
                             optim_options=dict(lr=5e-4, betas=(0.5, 0.9)), **ARCH),
    'ebgan': gan.GANConfig(loss='ebgan', loss_options=dict(margin=1.0, pt_weight=0.1),
                           preset='dcgan', optim_options=dict(lr=1e-3), **ARCH),
    'nonsaturating-noBN': gan.GANConfig(loss='nonsaturating', g_batch_norm=False, preset='dcgan',
                                        optim_options=dict(lr=1e-3), **ARCH),
}
BEST = ['nonsaturating']
# generator steps: variants with 5 critic steps per generator step get fewer
STEPS = {('ring8', 1): 6000, ('grid25', 1): 10000, ('ring8', 5): 2500, ('grid25', 5): 4000}
N_EVAL = 2500
LIMITS = {'ring8': (-1.5, 1.5), 'grid25': (-5.5, 5.5)}


def default_steps(variant, data_name):
    return STEPS[(data_name, gan.PRESETS[VARIANTS[variant].preset]['n_critic'])]


# ----------------------------------------------------------------------------- metrics
def evaluate(samples, data_name, reference):
    """Scores against ``reference`` data; mode metrics where the true modes are known."""
    r = {'mmd2': metrics.mmd2_unbiased(samples, reference),
         'sw1': metrics.wasserstein_distance(samples, reference, n_projections=64, seed=0)}
    if data_name in LIMITS:
        truth = sg.data.toy2d_truth(data_name)
        m = metrics.mode_metrics(samples, truth.means, truth.sigma)
        r.update(modes=m['modes_captured'], n_modes=m['n_modes'],
                 hq=m['high_quality_fraction'], rkl=m['reverse_kl'])
    else:
        r['one_nn'] = metrics.one_nn_accuracy(samples, reference)
    return r


class UserPoints:
    """A user's (N, 2) points split 80/20 into training and held-out data. The GAN trains
    on standardised points (zero mean, unit variance per axis: the benchmark's scale, so
    the defaults fit any data); samples are mapped back with ``to_data``."""

    def __init__(self, path, seed):
        pts = sg.data.load_points(path)
        perm = np.random.default_rng(seed).permutation(len(pts))
        n_test = max(1, len(pts) // 5)
        self.test, train = pts[perm[:n_test]], pts[perm[n_test:]]
        self.mean, self.std = train.mean(0), train.std(0) + 1e-8
        self.train = (train - self.mean) / self.std
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.1 * (hi - lo).max()
        self.limits = (float(lo.min() - pad), float(hi.max() + pad))

    def to_data(self, x):
        return x * self.std + self.mean


# ----------------------------------------------------------------------------- training
def train(name, data_name, seed, steps, device, arch=ARCH, n_snapshots=6, batch=BATCH,
          n_eval=N_EVAL, user=None):
    """Train one variant (its config with ``arch`` replaced) on ``data_name`` (or on
    ``user``'s points); returns (metrics dict, snapshots [(step, samples)], curves)."""
    sg.manual_seed(seed)
    rng = np.random.default_rng(seed + 1000)
    model = gan.GAN.from_config(dataclasses.replace(VARIANTS[name], **arch), device)
    scheds = [sg.optim.LinearLR(opt, 1.0, 0.01, steps)
              for opt in (model.g_optimizer, model.d_optimizer)]

    to_data = user.to_data if user is not None else (lambda x: x)

    def next_batch():
        if user is not None:
            return sg.tensor(user.train[rng.integers(0, len(user.train), batch)], device=device)
        return sg.tensor(sg.data.toy2d(data_name, batch, seed=rng), device=device)

    marks = set(np.unique(np.linspace(0, steps, n_snapshots).astype(int)))
    snapshots, curves = [], {'d_loss': [], 'g_loss': []}
    progress = Progress(steps, f"{name} {data_name} seed {seed}", every=max(1, steps // 5))
    t_cpu, t_wall = time.process_time(), time.time()
    for step in range(steps + 1):
        if step in marks:
            snapshots.append((step, to_data(model.sample(1000).numpy())))
        if step == steps:
            break
        stats = model.train_step(next_batch)
        for s in scheds:
            s.step()
        curves['d_loss'].append(stats['d_loss'])
        curves['g_loss'].append(stats['g_loss'])
        progress(step + 1, d_loss=stats['d_loss'], g_loss=stats['g_loss'])
    cpu = time.process_time() - t_cpu
    reference = user.test if user is not None else \
        sg.data.toy2d(data_name, n_eval, seed=10_000 + seed)
    result = evaluate(to_data(model.sample(n_eval).numpy().astype(np.float64)), data_name,
                      reference)
    result.update(steps=steps, cpu_min=cpu / 60, wall_min=(time.time() - t_wall) / 60)
    return result, snapshots, curves


# ----------------------------------------------------------------------------- figures
def trajectories_figure(runs, data_name, path, title, user=None):
    """rows: runs; columns: snapshots over training, then the data."""
    truth = None if user is not None else sg.data.toy2d_truth(data_name)
    data_pts = user.test if user is not None else sg.data.toy2d(data_name, 1000, seed=1)
    ncol = max(len(r['snapshots']) for r in runs) + 1
    fig = sg.viz.new_figure(2.0 * ncol, 2.1 * len(runs) + 0.3)
    axes = fig.subplots(len(runs), ncol, squeeze=False)
    lo, hi = user.limits if user is not None else LIMITS[data_name]
    for row, run in zip(axes, runs):
        panels = [(f"step {s}", x, 'tab:red') for s, x in run['snapshots']]
        panels.append(('data', data_pts, 'tab:blue'))
        for ax, (label, x, colour) in zip(row, panels):
            if truth is not None:
                ax.scatter(truth.means[:, 0], truth.means[:, 1], marker='+', s=30,
                           color='0.6', lw=0.8)
            ax.scatter(x[:, 0], x[:, 1], s=1.5, alpha=0.5, color=colour, rasterized=True)
            ax.set_xlim(lo, hi), ax.set_ylim(lo, hi)
            ax.set_aspect('equal'), ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(label, fontsize=8)
        r = run['result']
        score = f"{r['modes']}/{r['n_modes']} modes, HQ {r['hq']:.0%}" if 'modes' in r else \
            f"1-NN {r['one_nn']:.2f}"
        row[0].set_ylabel(f"{run['name']}\n{score}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    sg.viz.save(fig, path)
    print(f"wrote {path}")


# ----------------------------------------------------------------------------- tables
def fmt(values, digits=2, pct=False):
    v = np.asarray(values, dtype=np.float64)
    if pct:
        return f"{100 * v.mean():.1f}% ± {100 * v.std():.1f}"
    if np.isnan(v).any():
        return f"nan ({int(np.isnan(v).sum())}/{len(v)})"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def summary_table(results, seeds):
    lines = ['| data | variant | G steps | modes | high quality | reverse KL | MMD² | sliced W1 | CPU min (max) | per seed: modes / HQ |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for (data_name, variant), rs in results.items():
        if 'modes' not in rs[0]:                  # a user's data: no known modes
            one_nn = ', '.join(f"{r['one_nn']:.2f}" for r in rs)
            lines.append(f"| {data_name} | {variant} | {rs[0]['steps']} | — | — | — | "
                         f"{fmt([r['mmd2'] for r in rs], 4)} | {fmt([r['sw1'] for r in rs], 3)} | "
                         f"{max(r['cpu_min'] for r in rs):.1f} | 1-NN {one_nn} |")
            continue
        k = rs[0]['n_modes']
        per_seed = ', '.join(f"{r['modes']}/{r['hq']:.2f}" for r in rs)
        lines.append(
            f"| {data_name} | {variant} | {rs[0]['steps']} | {fmt([r['modes'] for r in rs], 1)} / {k} | "
            f"{fmt([r['hq'] for r in rs], pct=True)} | {fmt([r['rkl'] for r in rs])} | "
            f"{fmt([r['mmd2'] for r in rs], 4)} | {fmt([r['sw1'] for r in rs], 3)} | "
            f"{max(r['cpu_min'] for r in rs):.1f} | {per_seed} |")
    return '\n'.join(lines) + f"\n\nseeds {list(seeds)}; mean ± std over seeds.\n"


def main():
    p = parser(__doc__.split('\n')[0], 'out/gan',
               data='your own points: a .npy of shape (N, 2) (instead of --datasets)')
    p.add_argument('--full', action='store_true',
                   help='every variant on ring and grid over seeds 0..--n-seeds-1 (long)')
    p.add_argument('--n-seeds', type=int, default=3)
    p.add_argument('--variants', default=None, help='comma-separated subset of ' + ','.join(VARIANTS))
    p.add_argument('--datasets', default='ring8,grid25', help='benchmark sets (default: %(default)s)')
    p.add_argument('--steps', type=int, default=None)
    p.add_argument('--batch', type=int, default=BATCH)
    args = p.parse_args()

    out = ensure_out(args.out)
    user = None
    if args.data:
        try:
            user = UserPoints(args.data, args.seed)
        except sg.data.DataFileError as e:
            p.error(str(e))
    datasets = [os.path.basename(args.data)] if user else args.datasets.split(',')
    arch, batch, n_eval = ARCH, args.batch, N_EVAL
    if args.quick:
        variants, seeds = list(VARIANTS), [args.seed]
        datasets = datasets[:1] if user else ['ring8']
        arch, batch, n_eval = dict(latent_dim=2, width=32, depth=2), 64, 500
    elif args.full:
        variants, seeds = list(VARIANTS), list(range(args.n_seeds))
    else:
        variants, seeds = BEST, [args.seed]
    if args.variants:
        variants = args.variants.split(',')
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    results, runs_by_data, samples = {}, {d: [] for d in datasets}, {}
    t0 = time.time()
    for data_name in datasets:
        for variant in variants:
            steps = args.steps or (40 if args.quick else default_steps(
                variant, 'ring8' if user else data_name))
            for seed in seeds:
                print(f"{variant} on {data_name}, seed {seed}: {steps} generator steps", flush=True)
                r, snaps, curves = train(variant, data_name, seed, steps, args.device, arch,
                                         batch=batch, n_eval=n_eval, user=user)
                scores = (f"modes {r['modes']}/{r['n_modes']}  high quality {r['hq']:.3f}  "
                          f"reverse KL {r['rkl']:.3f}" if 'modes' in r else
                          f"1-NN {r['one_nn']:.3f}")
                print(f"  -> {scores}  MMD2 {r['mmd2']:.4f}  SW1 {r['sw1']:.3f}  "
                      f"CPU {r['cpu_min']:.1f} min", flush=True)
                results.setdefault((data_name, variant), []).append(r)
                runs_by_data[data_name].append(dict(name=f"{variant} (seed {seed})", seed=seed,
                                                    variant=variant, result=r, snapshots=snaps))
                samples[f"{data_name}/{variant}/seed{seed}"] = snaps[-1][1]
    print(f"total {(time.time() - t0) / 60:.1f} min")

    for data_name, runs in runs_by_data.items():
        first = [r for r in runs if r['seed'] == seeds[0]]
        trajectories_figure(first, data_name,
                            os.path.join(out, f"gan_toy2d_{'data' if user else data_name}_training.png"),
                            f"{data_name}: samples over training (seed {seeds[0]})", user)
    if (args.full or args.quick) and not user:
        worst = min((r for runs in runs_by_data.values() for r in runs),
                    key=lambda r: (r['result']['modes'] / r['result']['n_modes'], r['result']['hq']))
        data_name = next(d for d, runs in runs_by_data.items() if worst in runs)
        trajectories_figure([worst], data_name, os.path.join(out, 'gan_toy2d_collapse.png'),
                            f"mode collapse: {worst['name']} on {data_name}")

    table = summary_table(results, seeds)
    print(table)
    with open(os.path.join(out, 'gan_toy2d_results.md'), 'w') as f:
        f.write(table)
    write_results(out, {'runs': {f"{d}/{v}": rs for (d, v), rs in results.items()},
                        'seeds': seeds, 'data': args.data or datasets,
                        'wall_min': (time.time() - t0) / 60}, samples)


if __name__ == '__main__':
    main()
