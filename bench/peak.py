"""What fraction of this machine's float32 GEMM peak a GPT training step reaches.

The peak: the best of several large (n x n) @ (n x n) float32 products in NumPy and in
PyTorch (each in its own process), in GFLOP/s, at the chosen thread count. The step's
useful work: the matrix products of a GPT training step counted analytically --
6 * (tokens) * (weights in the matrices) for forward and backward of every Linear and
the tied head, plus 3 * 4 * B * H * T^2 * D for attention's two products -- divided by
the median step time from bench/gpt.py's builders. Elementwise work is not counted, so
the fraction says how close the whole step comes to spending all its time in GEMMs.

    python bench/peak.py                   # the 'recipe' case, library default threads
    python bench/peak.py --threads 1 --cases char
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import median_time, worker_env  # noqa: E402
import gpt  # noqa: E402


def step_flops(c):
    C, T, B, V, L = c['embd'], c['block'], c['batch'], c['vocab'], c['layers']
    per_layer = 3 * C * C + C * C + 4 * C * C + 4 * C * C         # qkv, proj, fc, proj
    matmul_weights = L * per_layer + V * C                        # + the tied head
    attention = L * 2 * 2 * B * T * T * C                         # QK^T and AV, forward
    return 6 * B * T * matmul_weights + 3 * attention


def gemm_peak(lib, n=1024, repeats=10):
    if lib == 'sg':
        import numpy as np
        from scratchgen import backend
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        b = a.copy()
        run = lambda: backend.matmul(a, b)      # noqa: E731  (its thread choice included)
    else:
        import torch
        if os.environ.get('BENCH_THREADS'):
            torch.set_num_threads(int(os.environ['BENCH_THREADS']))
        a = torch.randn(n, n)
        b = a.clone()
        run = lambda: a @ b                     # noqa: E731
    best = min(median_time(run, 3, warmup=2) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def worker(lib, case, repeats):
    peak = gemm_peak(lib)
    build = gpt.build_sg if lib == 'sg' else gpt.build_torch
    if lib == 'torch' and os.environ.get('BENCH_THREADS'):
        import torch
        torch.set_num_threads(int(os.environ['BENCH_THREADS']))
    t = median_time(build(case), repeats)
    return peak, t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cases', nargs='*', default=['recipe'], choices=list(gpt.CASES))
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--worker', choices=['sg', 'torch'], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.cases[0], args.repeats)))
        return
    env = worker_env(args.threads)
    print(f"threads: {args.threads or 'library default'}; GEMM peak = best 1024^3 float32 product")
    print(f"{'case':<8} {'lib':<6} {'GEMM peak':>10} {'step':>10} {'step GFLOP/s':>12} {'of peak':>8}")
    for case in args.cases:
        flops = step_flops(gpt.CASES[case][1])
        res = {}
        for lib in ('sg', 'torch'):
            out = subprocess.run([sys.executable, __file__, '--worker', lib, '--cases', case,
                                  '--repeats', str(args.repeats)], capture_output=True, text=True,
                                 env=env)
            if out.returncode != 0:
                print(f"  [{lib} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}]")
                continue
            res[lib] = json.loads(out.stdout.strip().splitlines()[-1])
        machine = max(peak for peak, _ in res.values())
        for lib, (peak, t) in res.items():
            rate = flops / t / 1e9
            print(f"{case:<8} {lib:<6} {peak:>7.1f} GF {t * 1e3:>7.1f} ms {rate:>12.1f} "
                  f"{rate / machine:>7.0%}", flush=True)
    print("'of peak': the step's GEMM work per second over the best GEMM rate of either library")

if __name__ == '__main__':
    main()
