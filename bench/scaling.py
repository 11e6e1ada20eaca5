"""Cost as the work grows: the GPT training step ('recipe' of bench/gpt.py: exact GELU,
tied head, AdamW) against model width, sequence length and batch size, and the diffusion
U-Net's training step (bench/diffusion.py) against its base width and batch size, in
scratchgen and PyTorch CPU, each point in its own pair of processes; prints a table and
draws docs/figures/scaling_gpt.png (time per step and the ratio, log-log).

    python bench/scaling.py --threads 1                 # every sweep
    python bench/scaling.py --sweeps seq --repeats 5 --threads 1
    python bench/scaling.py --sweeps seq --rounds 3 --threads 1 --figure /tmp/seq.png
                            # each point: 3 alternating pairs of processes, medians

At small sizes the per-op overhead dominates (the ratio is highest), at large ones BLAS
does; attention's T^2 term bends the sequence-length curve upwards.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import ROOT, median_time, worker_env  # noqa: E402
import diffusion  # noqa: E402
import gpt  # noqa: E402

BASE = dict(gpt.CASES['recipe'][1])
# sweep: (model, label, config key, values); every other setting stays at the base
SWEEPS = {
    'width': ('GPT', 'n_embd', 'embd', [64, 128, 256, 512]),
    'seq': ('GPT', 'block (sequence length)', 'block', [32, 64, 128, 256, 512]),
    'batch': ('GPT', 'batch size', 'batch', [4, 12, 32, 64]),
    'unet_width': ('U-Net', 'base channels', 'channels', [8, 16, 32, 64]),
    'unet_batch': ('U-Net', 'batch size', 'batch', [8, 32, 64]),
}
UNET_BASE = dict(channels=16, batch=diffusion.BATCH)       # bench/diffusion.py's unet16 (mults 1, 2, 2)


def worker(lib, model, config, repeats):
    if lib == 'torch' and os.environ.get('BENCH_THREADS'):
        import torch
        torch.set_num_threads(int(os.environ['BENCH_THREADS']))
    if model == 'GPT':
        gpt.CASES['_point'] = ('', config)
        step = (gpt.build_sg if lib == 'sg' else gpt.build_torch)('_point')
    else:
        diffusion.BATCH = config['batch']
        diffusion.ARGS['_point'] = dict(diffusion.ARGS['unet16'], channels=config['channels'])
        step = (diffusion.build_sg if lib == 'sg' else diffusion.build_torch)('_point')
    return median_time(step, repeats, warmup=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sweeps', nargs='*', default=list(SWEEPS), choices=list(SWEEPS))
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--rounds', type=int, default=1,
                    help='pairs of processes per point, alternating; the medians are reported')
    ap.add_argument('--figure', default=os.path.join(ROOT, 'docs', 'figures', 'scaling_gpt.png'))
    ap.add_argument('--worker', choices=['sg', 'torch'], help=argparse.SUPPRESS)
    ap.add_argument('--config', help=argparse.SUPPRESS)
    ap.add_argument('--model', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, json.loads(args.config), args.repeats)))
        return
    env = worker_env(args.threads)
    print(f"load {open('/proc/loadavg').read().split()[0]}; rounds {args.rounds}")
    print(f"threads: {args.threads or 'library default'}; median of {args.repeats} steps; "
          f"base configs GPT {BASE}, U-Net {UNET_BASE}")
    results = {}
    for sweep in args.sweeps:
        model, label, key, values = SWEEPS[sweep]
        base = BASE if model == 'GPT' else UNET_BASE
        print(f"\n{model + ' ' + label:<30} {'scratchgen':>11} {'torch':>10} {'ratio':>6}")
        for v in values:
            runs = {'sg': [], 'torch': []}
            for _ in range(args.rounds):
                for lib in ('sg', 'torch'):
                    out = subprocess.run([sys.executable, __file__, '--worker', lib, '--model', model,
                                          '--config', json.dumps(dict(base, **{key: v})), '--repeats',
                                          str(args.repeats)], capture_output=True, text=True, env=env)
                    runs[lib].append(json.loads(out.stdout.strip().splitlines()[-1])
                                     if out.returncode == 0 else float('nan'))
            times = [statistics.median(runs['sg']), statistics.median(runs['torch'])]
            results.setdefault(sweep, []).append((v, *times))
            print(f"{v:<30} {times[0] * 1e3:>8.1f} ms {times[1] * 1e3:>7.1f} ms "
                  f"{times[0] / times[1]:>6.2f}", flush=True)
    with open(os.path.splitext(args.figure)[0] + '.json', 'w') as f:     # to redraw or cite
        json.dump(dict(threads=args.threads, repeats=args.repeats, rounds=args.rounds,
                       results=results), f, indent=1)
    draw(results, args.figure)
    print(f"load {open('/proc/loadavg').read().split()[0]} at the end")


def draw(results, path):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    fig, axes = plt.subplots(2, len(results), figsize=(3.2 * len(results), 6), squeeze=False)
    for col, (sweep, rows) in enumerate(results.items()):
        xs = [r[0] for r in rows]
        ax = axes[0][col]
        ax.loglog(xs, [r[1] * 1e3 for r in rows], 'o-', label='scratchgen')
        ax.loglog(xs, [r[2] * 1e3 for r in rows], 's--', label='PyTorch CPU')
        ax.set_title(f"{SWEEPS[sweep][0]} step vs {SWEEPS[sweep][1]}", fontsize=9)
        ax.set_ylabel('ms per step')
        ax.legend()
        ax = axes[1][col]
        ax.semilogx(xs, [r[1] / r[2] for r in rows], 'o-', color='k')
        ax.axhline(1.0, color='grey', lw=0.5)
        ax.set_xlabel(SWEEPS[sweep][1])
        ax.set_ylabel('scratchgen / PyTorch')
        for ax in axes[0][col], axes[1][col]:       # label the measured sizes, nothing else
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.minorticks_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")


if __name__ == '__main__':
    main()
