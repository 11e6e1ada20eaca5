"""Shared demo plumbing: the command-line flags every demo takes, and progress printing."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def parser(description, out_default):
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--quick', action='store_true', help='tiny smoke run (seconds)')
    p.add_argument('--out', default=out_default, help='folder for PNG figures (default: %(default)s)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu', help="'cpu', 'emu' or 'cuda'")
    return p


class Progress:
    """One updating line per training run: step, elapsed time and the latest metrics."""

    def __init__(self, total, label='train', every=None):
        self.total, self.label = total, label
        self.every = every or max(1, total // 20)
        self.t0 = time.time()

    def __call__(self, step, **metrics):
        if step % self.every == 0 or step == self.total:
            shown = '  '.join(f"{k} {v:.4f}" for k, v in metrics.items())
            print(f"[{self.label}] step {step:>6}/{self.total}  {time.time() - self.t0:6.1f}s  {shown}",
                  flush=True)


def ensure_out(path):
    os.makedirs(path, exist_ok=True)
    return path
