"""Peers side by side: the same MLP step, per-op chain and conv layer in scratchgen, in
DeZero (the other from-scratch NumPy library, `pip install dezero`; skipped when it is not
installed) and in PyTorch CPU, each library in its own process, medians.

    python bench/peers.py
    python bench/peers.py --threads 1

DeZero 0.0.13 still uses the ``np.int`` alias that NumPy 2 removed; the DeZero worker
restores it (``np.int = int``) before importing it. DeZero turns Python scalars into
float64 0-d arrays, so its chain computes in float64 from the first ``y * 1.001``.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import median_time, worker_env  # noqa: E402
import ops  # noqa: E402

CASES = {'chain': ('per-op overhead, chain of 100 elementwise ops (fwd+bwd)', 'a'),
         'mlp': ('MLP 784-512-512-784, batch 128 (fwd+bwd)', 'b'),
         'conv': ('conv 1->32, 3x3, 28x28, batch 64 (fwd+bwd)', 'c')}


def build_dezero(case):
    import numpy as np
    np.int = int                      # DeZero 0.0.13 predates NumPy 2's removal of np.int
    import dezero.functions as F
    from dezero import Variable
    rng = np.random.default_rng(0)

    def T(*shape, scale=1.0):
        return Variable((rng.standard_normal(shape) * scale).astype(np.float32))

    if case == 'chain':
        x = T(64)

        def run():
            y = x
            for _ in range(50):
                y = y * 1.001
                y = y + 0.001
            F.sum(y).backward()
            x.cleargrad()
    elif case == 'mlp':
        x, t = T(128, 784), T(128, 784)
        ws = [T(784, 512, scale=0.03), T(512, 512, scale=0.04), T(512, 784, scale=0.04)]
        bs = [T(512), T(512), T(784)]

        def run():
            h = F.relu(F.linear(x, ws[0], bs[0]))
            h = F.relu(F.linear(h, ws[1], bs[1]))
            F.mean_squared_error(F.linear(h, ws[2], bs[2]), t).backward()
            for p in ws + bs:
                p.cleargrad()
    else:
        x, w, b = T(64, 1, 28, 28), T(32, 1, 3, 3), T(32)

        def run():
            F.sum(F.conv2d(x, w, b, stride=1, pad=1)).backward()
            x.cleargrad(), w.cleargrad(), b.cleargrad()
    return run


def worker(lib, case, repeats):
    if lib == 'torch' and os.environ.get('BENCH_THREADS'):
        import torch
        torch.set_num_threads(int(os.environ['BENCH_THREADS']))
    if lib == 'dezero':
        step = build_dezero(case)
    else:
        step = (ops.build_sg if lib == 'sg' else ops.build_torch)(CASES[case][1])
    return median_time(step, repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cases', nargs='*', default=list(CASES), choices=list(CASES))
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--worker', choices=['sg', 'dezero', 'torch'], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.cases[0], args.repeats)))
        return
    env = worker_env(args.threads)
    libs = ['sg'] + [lib for lib in ('dezero', 'torch') if importlib.util.find_spec(lib)]
    for lib in ('dezero', 'torch'):
        if lib not in libs:
            print(f"{lib} is not installed: its column is left out")
    print(f"threads: {args.threads or 'library default'}; median of {args.repeats} repeats")
    print(f"{'case':<6} {'what':<58} " + ' '.join(f"{lib:>10}" for lib in libs) +
          '   ' + ' '.join(f"{'sg/' + lib:>10}" for lib in libs[1:]))
    for case in args.cases:
        times = {}
        for lib in libs:
            out = subprocess.run([sys.executable, __file__, '--worker', lib, '--cases', case,
                                  '--repeats', str(args.repeats)], capture_output=True, text=True,
                                 env=env)
            times[lib] = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 \
                else float('nan')
        print(f"{case:<6} {CASES[case][0]:<58} " +
              ' '.join(f"{times[lib] * 1e3:>7.2f} ms" for lib in libs) + '   ' +
              ' '.join(f"{times['sg'] / times[lib]:>10.2f}" for lib in libs[1:]), flush=True)


if __name__ == '__main__':
    main()
