"""Shared machinery of the benchmark scripts: time one step of scratchgen and of the same
computation in PyTorch CPU, each library in its own subprocess (NumPy's and PyTorch's
thread pools fight when interleaved on 2 cores), and print the ratio table.

A script defines ``CASES`` ({name: description}), ``build_sg(case)`` and
``build_torch(case)`` (each returns a zero-argument function running one step), and
calls ``main(__file__, CASES, build_sg, build_torch, targets, __doc__)``.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'BENCH_THREADS')


def clock():
    """The clock of every benchmark: wall time, or with BENCH_CLOCK=cpu the process's CPU
    time (time.process_time), which a one-thread run on a machine shared with other jobs
    inflates far less than wall time (it does not count the time spent waiting for a
    core). Only meaningful with one thread per library (--threads 1)."""
    return time.process_time if os.environ.get('BENCH_CLOCK') == 'cpu' else time.perf_counter


def median_time(step, repeats, warmup=3):
    """Median time of ``step()`` in seconds (``clock()``), after ``warmup`` untimed calls."""
    now = clock()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = now()
        step()
        times.append(now() - t0)
    return statistics.median(times)


def _peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # Linux: KiB


def _worker(lib, case, repeats, build_sg, build_torch, rss_steps=0):
    if lib == 'torch' and os.environ.get('BENCH_THREADS'):
        import torch
        torch.set_num_threads(int(os.environ['BENCH_THREADS']))
    if rss_steps:       # peak resident memory: after import, after building, after the steps
        __import__('scratchgen' if lib == 'sg' else 'torch')
        imported = _peak_rss_mb()
        step = (build_sg if lib == 'sg' else build_torch)(case)
        built = _peak_rss_mb()
        for _ in range(rss_steps):
            step()
        return [imported, built, _peak_rss_mb()]
    step = (build_sg if lib == 'sg' else build_torch)(case)
    return median_time(step, repeats)


def worker_env(threads=None):
    """The environment of a worker process: this checkout on the path and, when
    ``threads`` is given, that many BLAS/OpenMP threads for every library."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    if threads:
        env.update({var: str(threads) for var in THREAD_VARS})
    return env


def main(script, cases, build_sg, build_torch, targets=None, doc=''):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cases', nargs='*', default=list(cases), choices=list(cases))
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--threads', type=int, default=None,
                    help='BLAS/OpenMP threads for both libraries (default: their own choice)')
    ap.add_argument('--rss', type=int, default=0, metavar='STEPS',
                    help='instead of timing, report the peak resident memory (RSS) of STEPS steps')
    ap.add_argument('--worker', choices=['sg', 'torch'], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.cases[0], args.repeats, build_sg, build_torch,
                                 args.rss)))
        return
    env = worker_env(args.threads)
    # find torch without importing it: a child's peak RSS starts from its parent's (Linux
    # keeps ru_maxrss across fork and exec), so this process stays small
    if importlib.util.find_spec('torch') is not None:
        libs = ['sg', 'torch']
    else:
        libs = ['sg']
        print("PyTorch is not installed: scratchgen times only (pip install torch==2.13.0 for ratios)")
    targets = targets or {}
    if args.rss:
        return _rss_table(script, cases, args, libs, env)
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


def _rss_table(script, cases, args, libs, env):
    print(f"peak RSS (MB) of {args.rss} steps; threads: {args.threads or 'library default'}")
    print(f"{'case':<9} {'lib':<6} {'after import':>12} {'after build':>11} {'peak':>8} "
          f"{'peak - import':>13}")
    for case in args.cases:
        peaks = {}
        for lib in libs:
            out = subprocess.run([sys.executable, script, '--worker', lib, '--cases', case,
                                  '--rss', str(args.rss)], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(f"  [{lib} {case} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}]")
                continue
            imported, built, peak = json.loads(out.stdout.strip().splitlines()[-1])
            peaks[lib] = (peak, peak - imported)
            print(f"{case:<9} {lib:<6} {imported:>12.0f} {built:>11.0f} {peak:>8.0f} "
                  f"{peak - imported:>13.0f}")
        if len(peaks) == 2:
            print(f"{case:<9} ratio  peak {peaks['sg'][0] / peaks['torch'][0]:.2f}, "
                  f"peak - import {peaks['sg'][1] / peaks['torch'][1]:.2f}", flush=True)
