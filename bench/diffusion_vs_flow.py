"""Held-out NLL of the best normalizing flow on exactly the diffusion demo's test points.

    OMP_NUM_THREADS=1 python bench/diffusion_vs_flow.py --datasets ring8_wide,checkerboard \
        --ddpm-metrics out/ddpm_v/metrics.json,out/ddpm_cb/metrics.json

The split is demos/ddpm_toy2d.py's (sg.data.toy2d(name, 22000, seed): the first 20,000
points train, the rest are held out, and its ODE NLL uses the first 1,000 held-out
points). The spline flow is trained as demos/flow_toy2d.py trains it (its config_for and
train_flow: 4 layers, 8 bins on [-4, 4], ~20,000 parameters, 4000 Adam steps of batch
512, lr 1e-3 with cosine decay) on those same 20,000 training points, and its exact NLL
is taken on those same 1,000 points. --ddpm-metrics: metrics.json files of ddpm_toy2d
runs with the same --seed, whose ODE NLLs are printed alongside.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'demos'))
import scratchgen as sg  # noqa: E402
from flow_toy2d import BEST, config_for, train_flow, test_nll  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--datasets', default='ring8_wide,checkerboard')
    p.add_argument('--ddpm-metrics', default='', help='comma-separated ddpm_toy2d metrics.json files')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=4000)
    p.add_argument('--n-train', type=int, default=20000)
    p.add_argument('--n-test', type=int, default=2000)
    p.add_argument('--n-nll', type=int, default=1000)
    p.add_argument('--out', default='out/diffusion_vs_flow.json')
    args = p.parse_args()
    flow_args = argparse.Namespace(seed=args.seed, device='cpu', lr=1e-3, batch=512)
    ddpm = {}
    for path in filter(None, args.ddpm_metrics.split(',')):
        with open(path) as f:
            m = json.load(f)
        if m['seed'] != args.seed:
            raise SystemExit(f"diffusion_vs_flow: {path} has seed {m['seed']}, not {args.seed}")
        ddpm.update(m['results'])
    rows = {}
    for name in args.datasets.split(','):
        x = sg.data.toy2d(name, args.n_train + args.n_test, seed=args.seed)   # as ddpm_toy2d
        x_train, x_nll = x[:args.n_train].astype('float32'), x[args.n_train:][:args.n_nll]
        flow, cpu = train_flow(config_for(BEST, 20000, 4, 8), x_train, flow_args, args.steps,
                               f"{name} {BEST}")
        flow.eval()
        rows[name] = dict(flow_nll=test_nll(flow, x_nll.astype('float32'), 'cpu'), flow_cpu_s=cpu,
                          entropy=getattr(sg.data.toy2d_truth(name), 'entropy', None),
                          ddpm_nll=ddpm.get(name, {}).get('nll'),
                          ddpm_prediction=ddpm.get(name, {}).get('prediction', 'eps'))
    print('\n| data | entropy | spline flow NLL | diffusion ODE NLL | diffusion − flow |')
    print('| --- | --- | --- | --- | --- |')
    for name, r in rows.items():
        d = r['ddpm_nll']
        ent = '' if r['entropy'] is None else f"{r['entropy']:.3f}"
        print(f"| {name} | {ent} | {r['flow_nll']:.3f} | "
              + (f"{d:.3f} ({r['ddpm_prediction']}) | {d - r['flow_nll']:+.3f} |" if d is not None
                 else '— | — |'))
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(rows=rows, seed=args.seed, steps=args.steps, n_nll=args.n_nll), f, indent=1)
    print(f"(seed {args.seed}; {args.n_nll} test points; wrote {args.out})")


if __name__ == '__main__':
    main()
