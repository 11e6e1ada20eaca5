"""Shared machinery of the benchmark scripts: time one step of scratchgen and of the same
computation in PyTorch CPU, each library in its own subprocess (NumPy's and PyTorch's
thread pools fight when interleaved on 2 cores), and print the ratio table.

A script defines ``CASES`` ({name: description}), ``build_sg(case)`` and
``build_torch(case)`` (each returns a zero-argument function running one step), and
calls ``main(__file__, CASES, build_sg, build_torch, targets, __doc__)``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'BENCH_THREADS')


def median_time(step, repeats, warmup=3):
    """Median wall time of ``step()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _worker(lib, case, repeats, build_sg, build_torch):
    if lib == 'torch' and os.environ.get('BENCH_THREADS'):
        import torch
        torch.set_num_threads(int(os.environ['BENCH_THREADS']))
    step = (build_sg if lib == 'sg' else build_torch)(case)
    return median_time(step, repeats)


def main(script, cases, build_sg, build_torch, targets=None, doc=''):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cases', nargs='*', default=list(cases), choices=list(cases))
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--threads', type=int, default=None,
                    help='BLAS/OpenMP threads for both libraries (default: their own choice)')
    ap.add_argument('--worker', choices=['sg', 'torch'], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.cases[0], args.repeats, build_sg, build_torch)))
        return
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    if args.threads:
        env.update({var: str(args.threads) for var in THREAD_VARS})
    try:
        import torch  # noqa: F401
        libs = ['sg', 'torch']
    except ImportError:
        libs = ['sg']
        print("PyTorch is not installed: scratchgen times only (pip install torch==2.13.0 for ratios)")
    targets = targets or {}
    width = max(len(d) for d in cases.values())
    print(f"threads: {args.threads or 'library default'}; median of {args.repeats} repeats")
    print(f"{'case':<6} {'what':<{width}} {'scratchgen':>11} {'torch':>10} {'ratio':>6} {'target':>7}")
    for case in args.cases:
        res = {}
        for lib in libs:
            out = subprocess.run([sys.executable, script, '--worker', lib, '--cases', case,
                                  '--repeats', str(args.repeats)], capture_output=True,
                                 text=True, env=env)
            if out.returncode != 0:
                res[lib] = None
                print(f"  [{lib} {case} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}]")
            else:
                res[lib] = json.loads(out.stdout.strip().splitlines()[-1])
        sg_t, th_t = res.get('sg'), res.get('torch')
        ratio = f"{sg_t / th_t:.2f}" if sg_t and th_t else '-'
        target = f"<= {targets[case]}" if case in targets else ''
        fmt = lambda t: f"{t * 1e3:.2f} ms" if t else '-'     # noqa: E731
        print(f"{case:<6} {cases[case]:<{width}} {fmt(sg_t):>11} {fmt(th_t):>10} {ratio:>6} {target:>7}",
              flush=True)
