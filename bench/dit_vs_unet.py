"""U-Net against DiT as class-conditional denoisers on shapes 16x16 (pixel space), at a
matched parameter count and the same training budget in process CPU time, scored by the
protocol of demos/ddpm_images.py (docs/diffusion.md, "Images").

Both models are ``Diffusion(DiffusionConfig(...))`` with the same recipe as the demo
(cosine schedule, v-prediction, Min-SNR weight, T = 1000, p_uncond = 0.1; Adam with linear
warm-up and cosine decay, EMA 0.999) and trained by the demo's own ``train`` function;
only ``arch`` differs: the demo's ``UNet(3, channels=16, channel_mults=(1, 2, 2))`` and a
``DiT`` (patch 2 -> 64 tokens) whose width and depth give about the same parameter count.
Each model's step count is the CPU budget divided by the median CPU time of 5 probe
steps (so each trains for about --budget CPU minutes; the real figure is reported).
Samples: DDIM 15 steps with clip_x0 = 1 at each guidance weight, labels 0, 1, 2, 0, ...;
scored by demos/dcgan_images.py ``evaluate`` (FD, 1-NN, nearest-train distances, the
feature classifier's accuracy) against held-out images, all with --n-eval images.

    OMP_NUM_THREADS=1 nice -n 10 python bench/dit_vs_unet.py --budget 5 --n-eval 500 --seed 0
    python bench/dit_vs_unet.py --quick

Writes OUT/metrics.json (every number) and one sample grid per model into --out.
"""
import argparse
import json
import os
import statistics
import sys
import time
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'demos'))

import numpy as np  # noqa: E402

import scratchgen as sg  # noqa: E402
from scratchgen import metrics  # noqa: E402
from scratchgen.models.diffusion import Diffusion, DiffusionConfig  # noqa: E402
from _common import Progress  # noqa: E402
from dcgan_images import evaluate, load  # noqa: E402
from ddpm_images import generate, train  # noqa: E402

RECIPE = dict(T=1000, schedule='cosine', prediction='v', weighting='min_snr', num_classes=3)


def configs(args):
    return {'unet': DiffusionConfig(data_shape=(3, 16, 16), arch='unet', channels=args.channels,
                                    channel_mults=(1, 2, 2), **RECIPE),
            'dit': DiffusionConfig(data_shape=(3, 16, 16), arch='dit', patch=args.patch,
                                   hidden=args.width, depth=args.depth, heads=4,
                                   time_dim=args.width, **RECIPE)}


def probe_step_cpu(config, images, labels, batch, seed):
    """Median process CPU seconds of 5 training steps (after 2 warm-up) of a fresh model."""
    sg.manual_seed(seed + 100)
    m = Diffusion(config)
    opt = sg.optim.Adam(m.parameters(), lr=1e-4)
    rng = np.random.default_rng(seed + 100)
    times = []
    for k in range(7):
        idx = rng.integers(0, len(images), batch)
        c0 = time.process_time()
        loss = m.loss(sg.tensor(images[idx] * 2 - 1), sg.tensor(labels[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= 2:
            times.append(time.process_time() - c0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--budget', type=float, default=5.0, help='CPU minutes of training per model')
    ap.add_argument('--n-eval', type=int, default=500)
    ap.add_argument('--guidance', default='1,2')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=2e-3, help='both models (the demo default)')
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--channels', type=int, default=16, help='U-Net base width')
    ap.add_argument('--width', type=int, default=60, help='DiT width')
    ap.add_argument('--depth', type=int, default=4, help='DiT depth')
    ap.add_argument('--patch', type=int, default=2, help='DiT patch size')
    ap.add_argument('--models', nargs='*', default=['unet', 'dit'], choices=['unet', 'dit'])
    ap.add_argument('--out', default='out/dit_vs_unet')
    ap.add_argument('--quick', action='store_true')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    n_train, n_test, fn_epochs = 20000, 2000, 3
    if args.quick:
        n_train, n_test, fn_epochs, args.budget, args.n_eval, args.warmup = 512, 64, 1, 0.05, 16, 2
    t_start = time.time()
    load_before = open('/proc/loadavg').read().split()[:3]
    train_x, train_y, classes = load('shapes', n_train, args.seed, 16)
    test, test_y, _ = load('shapes', n_test, args.seed + 1, 16)
    test2, _, _ = load('shapes', n_test, args.seed + 2, 16)
    n = min(args.n_eval, len(test))
    net = metrics.train_feature_net(train_x, train_y, arch='conv', epochs=fn_epochs, seed=args.seed)
    weights = [float(w) for w in args.guidance.split(',')]
    results = dict(command=' '.join(['python', 'bench/dit_vs_unet.py'] + sys.argv[1:]),
                   seed=args.seed, budget_cpu_min=args.budget, n_eval=n, batch=args.batch,
                   lr=args.lr, omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
                   loadavg_before=load_before, models={})
    for name in args.models:
        config = configs(args)[name]
        step_cpu = probe_step_cpu(config, train_x, train_y, args.batch, args.seed)
        steps = max(4, int(args.budget * 60 / step_cpu))
        sg.manual_seed(args.seed)
        model = Diffusion(config)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {params:,} parameters, probe {step_cpu * 1e3:.0f} CPU ms/step -> "
              f"{steps} steps of batch {args.batch}", flush=True)
        targs = types.SimpleNamespace(lr=args.lr, warmup=args.warmup, ema=0.999, seed=args.seed,
                                      batch=args.batch, save_every=0, out=args.out)
        ema, losses, train_cpu = train(model, train_x, train_y, targs, steps, Progress(steps, name))
        ema.copy_to()
        r = dict(params=params, steps=steps, probe_cpu_ms_per_step=step_cpu * 1e3,
                 train_cpu_min=train_cpu, loss_last_100=float(np.mean(losses[-100:])),
                 config={k: v for k, v in vars(config).items()}, guidance={})
        for w in weights:
            sg.manual_seed(args.seed + 1)
            labels = np.arange(n) % len(classes)
            c0 = time.process_time()
            fake = generate(model, n, 'ddim', 15, labels, w)
            sample_cpu = time.process_time() - c0
            s, _, _ = evaluate(net, fake, labels, train_x, test[:n], test2[:n], train_y,
                               len(classes))
            s['sample_cpu_ms_per_image'] = 1e3 * sample_cpu / n
            r['guidance'][f"w={w:g}"] = s
            print(f"  {name} w={w:g}: FD {s['fd']:.2f} (real vs real {s['fd_real_vs_real']:.2f})"
                  f"  1-NN {s['one_nn_accuracy']:.3f}  accuracy {s['accuracy']:.3f}  nearest-train "
                  f"median {s['nn_dist_fake_median']:.2f}  {s['sample_cpu_ms_per_image']:.1f} CPU "
                  f"ms/image", flush=True)
            order = np.argsort(labels[:60], kind='stable')
            sg.viz.image_grid(fake[:60][order], nrow=12,
                              path=os.path.join(args.out, f"{name}_w{w:g}_samples.png"),
                              title=f"{name}, {params:,} params, {train_cpu:.1f} CPU min, w = {w:g}")
        results['models'][name] = r
    results['loadavg_after'] = open('/proc/loadavg').read().split()[:3]
    results['wall_s'] = time.time() - t_start
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(results, f, indent=1, default=str)
    print(f"wrote {args.out}/metrics.json; load before {load_before}, after "
          f"{results['loadavg_after']}; {results['wall_s'] / 60:.1f} wall min")


if __name__ == '__main__':
    main()
