"""Shared demo plumbing: the flags every demo takes, progress printing, and the results.

Every demo: ``p = parser(...)`` (``--quick --seed --device --out``, and ``--data`` for a
demo that trains on data), ``Progress`` in each training loop, figures through
``sg.viz``, and at the end ``write_results(out, metrics, samples)``, which writes
``OUT/metrics.json`` (every headline number) and ``OUT/samples.npz``.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def parser(description, out_default, data=None):
    """The demo's argument parser. ``data``: help text for ``--data PATH`` (a user's own
    file) when the demo trains on data."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--quick', action='store_true', help='tiny smoke run (seconds)')
    p.add_argument('--out', default=out_default,
                   help='folder for PNG figures, metrics.json and samples.npz (default: %(default)s)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu', help="'cpu', 'emu' or 'cuda'")
    if data:
        p.add_argument('--data', metavar='PATH', default=None, help=data)
    return p


class Progress:
    """Progress of one training run, tqdm's way: on a terminal one live line, redrawn in
    place (at most every ``mininterval`` seconds), with a bar, the step, elapsed and
    remaining time and the latest metrics; when the output is piped or redirected, one
    plain line every ``every`` steps (default: 20 lines per run) and at the last step."""

    def __init__(self, total, label='train', every=None, stream=None, live=None,
                 mininterval=0.1):
        self.total, self.label = total, label
        self.every = every or max(1, total // 20)
        self.stream = stream or sys.stdout
        self.live = (getattr(self.stream, 'isatty', lambda: False)() if live is None else live)
        self.mininterval, self._drawn = mininterval, 0.0
        self.t0 = time.time()

    def __call__(self, step, **metrics):
        shown = '  '.join(f"{k} {v:.4f}" for k, v in metrics.items())
        elapsed = time.time() - self.t0
        if self.live:
            last = step >= self.total
            if not last and elapsed - self._drawn < self.mininterval:
                return
            self._drawn = elapsed
            frac = min(1.0, step / self.total) if self.total else 1.0
            width = 20
            bar = '#' * int(frac * width) + '-' * (width - int(frac * width))
            left = elapsed / step * (self.total - step) if step else 0.0
            self.stream.write(f"\r[{self.label}] {100 * frac:3.0f}%|{bar}| {step}/{self.total} "
                              f"[{_clock(elapsed)}<{_clock(left)}]  {shown}\x1b[K"
                              + ('\n' if last else ''))
            self.stream.flush()
        elif step % self.every == 0 or step == self.total:
            print(f"[{self.label}] step {step:>6}/{self.total}  {elapsed:6.1f}s  {shown}",
                  file=self.stream, flush=True)


def _clock(seconds):
    """Seconds as m:ss (h:mm:ss past an hour), as tqdm shows them."""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def ensure_out(path):
    os.makedirs(path, exist_ok=True)
    return path


def _plain(v):
    """JSON-ready: NumPy scalars and arrays, tuples and dicts to plain Python; NaN/inf
    to None (JSON has neither)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_results(out, metrics, samples=None):
    """Write ``OUT/metrics.json`` (the headline numbers, any nesting of dicts and lists)
    and, when given, ``OUT/samples.npz`` (an array, saved as ``samples``, or a dict of
    arrays, e.g. ``{'samples': x, 'labels': y}``; Tensors are copied to the host)."""
    ensure_out(out)
    path = os.path.join(out, 'metrics.json')
    with open(path, 'w') as f:
        json.dump(_plain(metrics), f, indent=1)
    print(f"metrics -> {path}")
    if samples is not None:
        import scratchgen as sg
        arrays = samples if isinstance(samples, dict) else {'samples': samples}
        arrays = {k: sg.autograd.creation.host_array(v) for k, v in arrays.items()}
        spath = os.path.join(out, 'samples.npz')
        np.savez_compressed(spath, **arrays)
        print(f"samples -> {spath}")
