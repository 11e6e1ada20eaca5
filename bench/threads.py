"""When do BLAS threads pay? One float32 product (m x k) @ (k x n) at 1 and at all BLAS
threads, for the shapes the benchmarks and demos use; this is the data behind
scratchgen's default of one BLAS thread and ``backend.GEMM_THREADS_MIN_WORK`` (the size
from which ``sg.set_num_threads(n)`` lets a product use n threads). Also times batches
of small products (attention's, and the narrow conv layout's).

    python bench/threads.py            # on an otherwise idle machine: check `uptime`
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import numpy as np  # noqa: E402
from scratchgen import backend  # noqa: E402

SHAPES = [  # (batch, m, k, n)
    (1, 64, 64, 64), (1, 128, 128, 128), (1, 256, 256, 256), (1, 768, 128, 128),
    (1, 768, 128, 512), (1, 768, 512, 128), (1, 1024, 128, 384), (1, 128, 784, 512),
    (1, 128, 512, 784), (1, 784, 128, 512), (1, 2048, 512, 64), (1, 512, 512, 512),
    (1, 1024, 1024, 1024), (64, 128, 32, 128), (64, 128, 128, 32), (64, 32, 9, 784),
]


def best_time(f, repeats=7, inner=None):
    f()
    t0 = time.perf_counter()
    f()
    inner = inner or max(1, int(0.02 / max(time.perf_counter() - t0, 1e-6)))
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def main():
    most = max(c.num_threads for c in backend._blas_controllers())   # as the BLAS started
    print(f"load average {os.getloadavg()[0]:.2f}; BLAS threads available: {most}; "
          f"GEMM_THREADS_MIN_WORK = {backend.GEMM_THREADS_MIN_WORK:,}")
    print(f"{'batch x (m, k, n)':<26} {'m*k*n':>12} {'1 thread':>10} {f'{most} threads':>10} "
          f"{'speed-up':>8}")
    rng = np.random.default_rng(0)
    for b, m, k, n in SHAPES:
        a = rng.standard_normal((b, m, k) if b > 1 else (m, k)).astype(np.float32)
        c = rng.standard_normal((b, k, n) if b > 1 else (k, n)).astype(np.float32)
        times = []
        for threads in (1, most):
            backend._use_threads(threads)
            times.append(best_time(lambda: a @ c))
        print(f"{f'{b} x ({m}, {k}, {n})':<26} {m * k * n:>12,} {times[0] * 1e3:>7.3f} ms "
              f"{times[1] * 1e3:>7.3f} ms {times[0] / times[1]:>7.2f}x", flush=True)
    backend._use_threads(1)


if __name__ == '__main__':
    main()
