"""DDPM on 2-D toy data: every sampler side by side, the reverse process, the exact NLL.

    OMP_NUM_THREADS=1 python demos/ddpm_toy2d.py                 # the docs table (4 sets, ~5 CPU min each)
    python demos/ddpm_toy2d.py --datasets moons --steps 4000      # one set
    python demos/ddpm_toy2d.py --data my_points.npy               # your own (N, 2) points
    python demos/ddpm_toy2d.py --quick                            # seconds
    OMP_NUM_THREADS=1 python demos/ddpm_toy2d.py --datasets ring8_wide --prediction v \
        --distill 4 --skip-slow                                   # progressive distillation 64 -> 4 steps

An MLP ε-predictor (docs/diffusion.md) is trained on standardised points (x / c, c the
training set's std) with Adam, a linearly decaying learning rate and EMA weights. With
the EMA weights, N_EVAL points from each sampler are compared to as many held-out
points: leave-one-out 1-NN two-sample accuracy (0.5 = indistinguishable) and MMD²
(sg.metrics). The probability-flow ODE gives the held-out NLL in nats (in data units:
−log p(x) = −log p_z(x / c) + 2 log c), next to the true entropy where it is known.
Figures: the reverse process (DDPM frames from x_T to x_0) and the samplers' outputs.

--distill K: progressive distillation (Salimans & Ho 2022; the loop is ``distill`` below):
the EMA teacher at --distill-from DDIM steps (η = 0) teaches a student to take one step
where it takes two, K times, halving the steps each round; every student and the
undistilled teacher at the same step counts are scored like the samplers.
"""
import math
import os
import time

import numpy as np

from _common import parser, ensure_out, Progress, write_results

import scratchgen as sg
from scratchgen.models.diffusion import (Diffusion, DiffusionConfig, ode_log_likelihood,
                                         distill_round)
from scratchgen.viz import new_figure, save

DATASETS = ['ring8_wide', 'checkerboard', 'moons', 'pinwheel']
# name -> (sampler, options); DDPM uses all T = 1000 steps
SAMPLERS = {'DDPM (1000)': ('ddpm', {}),
            **{f"DDIM η=0 ({k})": ('ddim', dict(steps=k, eta=0.0)) for k in (10, 20, 50, 100)},
            **{f"DDIM η=1 ({k})": ('ddim', dict(steps=k, eta=1.0)) for k in (10, 20, 50, 100)},
            'SDE Euler–Maruyama (1000)': ('sde', dict(steps=1000)),
            'ODE Heun (50)': ('ode', dict(steps=50, method='heun')),
            'ODE RK4 (25)': ('ode', dict(steps=25, method='rk4'))}
FRAMES = (999, 600, 400, 250, 150, 80, 30, 0)


def load_points(args, name, n_train, n_test):
    """(train, test, label): from --data (shuffled, the last n_test held out) or toy2d."""
    if args.data:
        try:
            x = sg.data.load_points(args.data)
        except sg.data.DataFileError as e:
            raise SystemExit(f"ddpm_toy2d: {e}")
        x = x[np.random.default_rng(args.seed).permutation(len(x))]
        n_test = min(n_test, len(x) // 5)
        return x[n_test:], x[:n_test], os.path.splitext(os.path.basename(args.data))[0]
    x = sg.data.toy2d(name, n_train + n_test, seed=args.seed)
    return x[:n_train], x[n_train:], name


def train(model, x, steps, batch, lr, seed, device, label):
    opt = sg.optim.Adam(model.parameters(), lr=lr)
    sched = sg.optim.LinearLR(opt, 1.0, 0.05, steps)
    ema = sg.optim.EMA(model, decay=0.999, warmup=True)
    rng, progress = np.random.default_rng(seed), Progress(steps, label)
    for step in range(1, steps + 1):
        loss = model.loss(sg.tensor(x[rng.integers(0, len(x), batch)], device=device))
        value = sg.optim.train_step(loss, opt, sched, ema, 'ddpm_toy2d', step,
                                    hint='lower --lr (or rerun under sg.detect_anomaly())')
        progress(step, loss=value)
    return ema


def distill(teacher, x, rounds, steps_from, train_steps, batch, lr, seed, label):
    """Progressive distillation: each round a copy of the teacher learns to match two
    teacher DDIM steps in one (``distill_round``), on its own grid of N = N_teacher / 2
    times; then it becomes the teacher. Returns {N: student}."""
    students, N = {}, steps_from
    for r in range(1, rounds + 1):
        N //= 2
        progress = Progress(train_steps, f"{label} round {r}: {2 * N} -> {N} steps")
        students[N] = teacher = distill_round(teacher, x, N, train_steps, batch, lr,
                                              seed=(seed, r),
                                              callback=lambda step, v: progress(step, loss=v))
    return students


def panel(ax, x, lim, title):
    ax.scatter(x[:, 0], x[:, 1], s=1.0, alpha=0.4, linewidths=0, rasterized=True)
    ax.set_xlim(*lim), ax.set_ylim(*lim), ax.set_aspect('equal')
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def strip(panels, lim, path, title):
    fig = new_figure(1.6 * len(panels), 1.9)
    for i, (label, x) in enumerate(panels):
        panel(fig.add_subplot(1, len(panels), i + 1), x, lim, label)
    fig.suptitle(title, fontsize=9)
    save(fig, path)
    print(f"wrote {path}")


def run(name, args, out, cfg):
    train_x, test_x, label = load_points(args, name, cfg['n_train'], cfg['n_eval'])
    # centred and scaled to unit variance, the noise's scale, so the defaults fit any data
    m, c = train_x.mean(0), float(train_x.std())
    z_train, z_test = (train_x - m) / c, (test_x - m) / c
    sg.manual_seed(args.seed)
    model = Diffusion(DiffusionConfig(data_shape=(2,), hidden=cfg['hidden'], depth=cfg['depth'],
                                      time_dim=32, prediction=args.prediction)).to(args.device)
    print(f"\n{label}: {len(train_x)} train / {len(test_x)} test points, scale c = {c:.3f}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, {cfg['steps']} steps")
    t_cpu = time.process_time()
    ema = train(model, z_train, cfg['steps'], cfg['batch'], args.lr, args.seed, args.device, label)
    train_cpu = (time.process_time() - t_cpu) / 60
    lim = tuple(np.array([-1, 1]) * 1.15 * float(np.abs(test_x).max()))
    if args.data:                  # a user's points need not be centred on 0
        lo, hi = float(test_x.min()), float(test_x.max())
        lim = (lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    rows, samples, frames = {}, {}, {}

    def score(key, sample):                   # 1-NN and MMD² against the held-out points
        sg.manual_seed(args.seed + 1)         # the same x_T for every sampler
        t0 = time.time()
        x = sample().numpy() * c + m
        samples[key] = x
        rows[key] = dict(one_nn=sg.metrics.one_nn_accuracy(x, test_x),
                         mmd2=sg.metrics.mmd2_unbiased(x, test_x),
                         ms_per_sample=1000 * (time.time() - t0) / len(x))
        print(f"  {key:<28} 1-NN {rows[key]['one_nn']:.3f}  MMD² {rows[key]['mmd2']:+.5f}  "
              f"{rows[key]['ms_per_sample']:.3f} ms/sample", flush=True)

    with ema.average_parameters():
        for key, (sampler, options) in cfg['samplers'].items():
            extra = {}
            if sampler == 'ddpm':
                extra['callback'] = lambda t, x: frames.__setitem__(t, x.numpy() * c + m) \
                    if t in FRAMES else None
            score(key, lambda: model.sample(len(test_x), sampler, **options, **extra))
        n_nll = cfg['n_nll']
        sg.manual_seed(args.seed + 2)
        t0 = time.time()
        log_pz = ode_log_likelihood(model.eps_fn(), model.schedule,
                                    sg.tensor(z_test[:n_nll], device=args.device),
                                    steps=cfg['nll_steps'], method='rk4')
        nll = -float(log_pz.numpy().astype(np.float64).mean()) + 2 * math.log(c)
    truth = sg.data.toy2d_truth(name) if not args.data else None
    entropy = truth.entropy if truth is not None else None
    print(f"  ODE NLL {nll:.3f} nats on {n_nll} test points ({time.time() - t0:.0f} s)"
          + (f"; true entropy {entropy:.3f}" if entropy is not None else ''))
    distilled = {}
    if args.distill:
        ema.copy_to(model)                    # the teacher: the EMA weights
        t_cpu = time.process_time()
        students = distill(model, z_train, args.distill, args.distill_from, cfg['distill_steps'],
                           cfg['batch'], args.distill_lr, args.seed, label)
        distilled = dict(cpu_min=(time.process_time() - t_cpu) / 60, rounds=args.distill,
                         steps_from=args.distill_from, train_steps=cfg['distill_steps'])
        for n, student in students.items():
            score(f"distilled ({n})", lambda: student.sample(len(test_x), 'ddim', steps=n))
    if 'DDPM (1000)' in samples:
        frames[0] = frames.get(0, samples['DDPM (1000)'])
        strip([(f"t = {t}", frames[t]) for t in FRAMES if t in frames] + [('data', test_x)], lim,
              os.path.join(out, f"diffusion_toy2d_reverse_{label}.png"),
              f"{label}: the reverse process (DDPM, seed {args.seed})")
    shown = [k for k in ('DDPM (1000)', 'DDIM η=0 (10)', 'DDIM η=1 (10)', 'DDIM η=0 (100)',
                         'SDE Euler–Maruyama (1000)', 'ODE Heun (50)') if k in samples]
    if distilled:
        shown = [k for k in samples if k.startswith(f"DDIM η=0 ({args.distill_from})")
                 or k.startswith('distilled') or k in (f"DDIM η=0 ({n})" for n in students)]
    strip([(f"{k}\n1-NN {rows[k]['one_nn']:.3f}", samples[k]) for k in shown]
          + [('held-out data', test_x)], lim,
          os.path.join(out, f"diffusion_toy2d_samplers_{label}.png"),
          f"{label}: {len(test_x)} samples per sampler (EMA weights, seed {args.seed})")
    best = min(rows, key=lambda k: rows[k]['one_nn'])
    return label, dict(samplers=rows, best=best, best_one_nn=rows[best]['one_nn'], nll=nll,
                       entropy=entropy, n_nll=n_nll, train_cpu_min=train_cpu, steps=cfg['steps'],
                       n_train=len(train_x), n_test=len(test_x), scale=c,
                       prediction=args.prediction, distilled=distilled), samples[best]


def main():
    p = parser(__doc__.split('\n')[0], 'out/ddpm_toy2d', data='your own points: a .npy (N, 2)')
    p.add_argument('--datasets', default=','.join(DATASETS), help='toy2d names, comma-separated')
    p.add_argument('--steps', type=int, default=None, help='training steps (default 6000)')
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--prediction', default='eps', choices=('eps', 'v', 'x0'),
                   help='what the network predicts (v suits distillation: x̂_0 stays stable at t = T)')
    p.add_argument('--skip-slow', action='store_true',
                   help='skip the 1000-step DDPM and SDE samplers (and the reverse-process strip)')
    p.add_argument('--distill', type=int, default=0, metavar='ROUNDS',
                   help='progressive distillation rounds (each halves the DDIM steps)')
    p.add_argument('--distill-from', type=int, default=64, help="the teacher's DDIM steps")
    p.add_argument('--distill-steps', type=int, default=None,
                   help='training steps per distillation round (default 1000)')
    p.add_argument('--distill-lr', type=float, default=5e-4)
    args = p.parse_args()
    out = ensure_out(args.out)
    t_start = time.time()
    if args.quick:
        cfg = dict(steps=150, batch=128, hidden=32, depth=2, n_train=2000, n_eval=300,
                   n_nll=100, nll_steps=10)
    else:
        cfg = dict(steps=6000, batch=512, hidden=128, depth=3, n_train=20000, n_eval=2000,
                   n_nll=1000, nll_steps=100)
    cfg['steps'] = args.steps or cfg['steps']
    cfg['distill_steps'] = args.distill_steps or (50 if args.quick else 1000)
    if args.distill and args.distill_from % 2 ** args.distill:
        raise SystemExit(f"ddpm_toy2d: --distill-from {args.distill_from} cannot be halved "
                         f"{args.distill} times")
    samplers = {k: v for k, v in SAMPLERS.items()
                if not (args.skip_slow and v[1].get('steps', 1000) == 1000)}
    for r in range(args.distill + 1):         # the undistilled teacher at every student's steps
        n = args.distill_from // 2 ** r
        samplers.setdefault(f"DDIM η=0 ({n})", ('ddim', dict(steps=n, eta=0.0)))
    cfg['samplers'] = samplers
    names = [None] if args.data else args.datasets.split(',')[:1 if args.quick else None]
    results, all_samples = {}, {}
    for name in names:
        label, r, best_samples = run(name, args, out, cfg)
        results[label], all_samples[label] = r, best_samples

    keys = list(next(iter(results.values()))['samplers'])
    print('\n| sampler | ' + ' | '.join(results) + ' |')
    print('|---|' + '---|' * len(results))
    for k in keys:
        print(f"| {k} | " + ' | '.join(f"{r['samplers'][k]['one_nn']:.3f} / {r['samplers'][k]['mmd2']:.4f}"
                                       for r in results.values()) + ' |')
    print('\n(1-NN accuracy / MMD²; ' + ', '.join(
        f"{n}: NLL {r['nll']:.3f}" + (f" vs entropy {r['entropy']:.3f}" if r['entropy'] else '')
        + f", train {r['train_cpu_min']:.1f} CPU min" for n, r in results.items())
        + f"; seed {args.seed}; whole demo {time.time() - t_start:.0f} s)")
    write_results(out, dict(results=results, data=args.data or names, seed=args.seed, config=cfg,
                            wall_s=time.time() - t_start),
                  {f"{n}_best": x for n, x in all_samples.items()})


if __name__ == '__main__':
    main()
