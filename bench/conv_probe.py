"""Speed of conv2d / pooling against PyTorch CPU, each library timed in its own process.

    python bench/conv_probe.py            # both libraries, then the ratios
    python bench/conv_probe.py --lib sg   # one library only (prints JSON)

Timing NumPy and PyTorch in one process on a 2-core machine makes both slower (their
thread pools fight), so each library runs in a fresh subprocess. Every number is the
median of ``--repeats`` runs after warm-up, in milliseconds, float32.

Cases
  conv1   conv layer, batch 64, 1 -> 32 channels, 28x28, 3x3, padding 1, with bias;
          forward + backward (input needs no gradient: a first layer)
  conv1x  the same, input gradient too
  conv2   batch 64, 32 -> 64 channels, 14x14, 3x3, padding 1, forward + backward (+ input grad)
  pool    max_pool2d 2x2 of (64, 32, 28, 28), forward + backward
  net     a small conv net step: conv(1->16) relu maxpool conv(16->32) relu maxpool
          linear(1568->10) cross-entropy, forward + backward, batch 64 of 28x28
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

N, H = 64, 28


def _median_ms(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _data():
    rng = np.random.default_rng(0)
    f = np.float32
    return dict(
        x1=rng.standard_normal((N, 1, H, H)).astype(f),
        w1=(0.3 * rng.standard_normal((32, 1, 3, 3))).astype(f), b1=np.zeros(32, f),
        x2=rng.standard_normal((N, 32, 14, 14)).astype(f),
        w2=(0.05 * rng.standard_normal((64, 32, 3, 3))).astype(f), b2=np.zeros(64, f),
        xp=rng.standard_normal((N, 32, H, H)).astype(f),
        nw1=(0.3 * rng.standard_normal((16, 1, 3, 3))).astype(f), nb1=np.zeros(16, f),
        nw2=(0.1 * rng.standard_normal((32, 16, 3, 3))).astype(f), nb2=np.zeros(32, f),
        nw3=(0.03 * rng.standard_normal((32 * 7 * 7, 10))).astype(f), nb3=np.zeros(10, f),
        labels=rng.integers(0, 10, N))


def run_scratchgen(repeats):
    import scratchgen as sg
    import scratchgen.functional as F
    d = _data()
    t = {k: sg.tensor(v, requires_grad=k[0] in 'wbn' and k != 'labels') for k, v in d.items()}
    t['labels'] = sg.tensor(d['labels'])
    x1g = sg.tensor(d['x1'], requires_grad=True)
    x2g = sg.tensor(d['x2'], requires_grad=True)
    xpg = sg.tensor(d['xp'], requires_grad=True)

    def fb(x, w, b):
        y = F.conv2d(x, w, b, padding=1)
        y.backward(sg.ones_like(y))

    def conv1_fwd():
        with sg.no_grad():
            F.conv2d(t['x1'], t['w1'], t['b1'], padding=1)

    def pool():
        y = F.max_pool2d(xpg, 2)
        y.backward(sg.ones_like(y))

    def net():
        h = F.max_pool2d(F.relu(F.conv2d(t['x1'], t['nw1'], t['nb1'], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, t['nw2'], t['nb2'], padding=1)), 2)
        logits = h.reshape(N, -1) @ t['nw3'] + t['nb3']
        F.cross_entropy(logits, t['labels']).backward()

    return {'conv1 fwd': _median_ms(conv1_fwd, repeats),
            'conv1': _median_ms(lambda: fb(t['x1'], t['w1'], t['b1']), repeats),
            'conv1x': _median_ms(lambda: fb(x1g, t['w1'], t['b1']), repeats),
            'conv2x': _median_ms(lambda: fb(x2g, t['w2'], t['b2']), repeats),
            'pool': _median_ms(pool, repeats),
            'net': _median_ms(net, repeats)}


def run_torch(repeats):
    import torch
    import torch.nn.functional as F
    d = _data()
    t = {k: torch.tensor(v, requires_grad=k[0] in 'wbn' and k != 'labels') for k, v in d.items()}
    t['labels'] = torch.tensor(d['labels'])
    x1g = torch.tensor(d['x1'], requires_grad=True)
    x2g = torch.tensor(d['x2'], requires_grad=True)
    xpg = torch.tensor(d['xp'], requires_grad=True)

    def fb(x, w, b):
        y = F.conv2d(x, w, b, padding=1)
        y.backward(torch.ones_like(y))

    def conv1_fwd():
        with torch.no_grad():
            F.conv2d(t['x1'], t['w1'], t['b1'], padding=1)

    def pool():
        y = F.max_pool2d(xpg, 2)
        y.backward(torch.ones_like(y))

    def net():
        h = F.max_pool2d(F.relu(F.conv2d(t['x1'], t['nw1'], t['nb1'], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, t['nw2'], t['nb2'], padding=1)), 2)
        logits = h.reshape(N, -1) @ t['nw3'] + t['nb3']
        F.cross_entropy(logits, t['labels']).backward()

    return {'conv1 fwd': _median_ms(conv1_fwd, repeats),
            'conv1': _median_ms(lambda: fb(t['x1'], t['w1'], t['b1']), repeats),
            'conv1x': _median_ms(lambda: fb(x1g, t['w1'], t['b1']), repeats),
            'conv2x': _median_ms(lambda: fb(x2g, t['w2'], t['b2']), repeats),
            'pool': _median_ms(pool, repeats),
            'net': _median_ms(net, repeats)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--lib', choices=['sg', 'torch'])
    ap.add_argument('--repeats', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=3,
                    help='alternate the two libraries this many times; keep each one\'s best round '
                         '(other work on the machine only ever makes a round slower)')
    ap.add_argument('--threads', type=int, help='BLAS / torch threads (default: the libraries\' own)')
    args = ap.parse_args()
    if args.lib:
        if args.threads and args.lib == 'torch':
            import torch
            torch.set_num_threads(args.threads)
        print(json.dumps((run_scratchgen if args.lib == 'sg' else run_torch)(args.repeats)))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(here), os.environ.get('PYTHONPATH', '')]))
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads))
    best = {'sg': {}, 'torch': {}}
    for _ in range(args.rounds):
        for lib in ('sg', 'torch'):
            cmd = [sys.executable, __file__, '--lib', lib, '--repeats', str(args.repeats)]
            if args.threads:
                cmd += ['--threads', str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            for case, ms in json.loads(out.stdout.strip().splitlines()[-1]).items():
                best[lib][case] = min(ms, best[lib].get(case, float('inf')))
    print(f"medians of {args.repeats} runs, best of {args.rounds} rounds, float32, "
          f"threads={args.threads or 'default'}")
    print(f"{'case':10s} {'scratchgen ms':>14s} {'torch ms':>10s} {'ratio':>7s}")
    for case in best['sg']:
        a, b = best['sg'][case], best['torch'][case]
        print(f"{case:10s} {a:14.2f} {b:10.2f} {a / b:7.2f}")


if __name__ == '__main__':
    main()
