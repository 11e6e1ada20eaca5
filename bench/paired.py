"""Variants of one computation in alternating processes: scratchgen's path now, the path it
replaced, and PyTorch, round after round, so that a change in the shared machine's load
hits every variant alike; the medians of the per-process medians, and each variant's
ratio to PyTorch: the ratio of those medians, and the median (and range) of each round's
own ratio, whose two processes ran next to each other.

    python bench/paired.py gelu                    # exact GELU of (768, 512), fwd+bwd
    python bench/paired.py attention --rounds 7    # causal attention, B=12 H=4 T=512 D=32
    python bench/paired.py attention --T 64
    python bench/paired.py unet --rounds 7 --repeats 10   # one U-Net training step
    python bench/paired.py conv --layer 48,16,16   # one of its layers, fwd+bwd (also
    python bench/paired.py groupnorm               #   groupnorm, sigmoid)

Variants (float32, one thread each: the library's own default):
  gelu       sg: now (Phi by ops/special.ndtr_rational in float32);
             sg-scipy-f32: SciPy's float32 ndtr loop (what the library used before);
             sg-no-scipy: SciPy hidden (float32 is then the same path as sg: a check);
             sg-f64 / sg-f64-no-scipy: float64 with SciPy's ndtr / with the series;
             torch, torch-f64.
  attention  sg: F.scaled_dot_product_attention (the fused ops.attention op);
             sg-composed: the same from matmul, add, softmax (the path it replaced);
             torch: F.scaled_dot_product_attention.
  unet       one training step (loss, backward, Adam) of bench/diffusion.py's unet16
             (demos/ddpm_images.py's default U-Net, batch 32 of 3x16x16);
             sg: now; each other sg variant undoes one change, putting back the path
             it replaced:
             sg-unfused-gn: group_norm as Standardize, then Mul and Add ops (not the
               fused GroupNorm op);
             sg-unblocked: im2col over the whole batch at once (not in cache blocks);
             sg-col2im: stride-1 conv_transpose2d by col2im (not as a correlation);
             sg-sigmoid-where: sigmoid from exp(-|x|) and a where (not 1/(1+exp(-x)));
             sg-before: all four undone (main before them: commit 99e2cfb);
             sg-silu-composed: SiLU's backward from sigmoid, mul and add ops;
             torch: the layer-for-layer twin (bench/diffusion.py: torch_unet).
  conv       conv2d (32, C, H, H) -> O channels, 3x3, padding 1, with bias, fwd+bwd;
             sg, sg-unblocked, sg-col2im, sg-conv-before (both undone), torch.
  groupnorm  group_norm, 8 groups, affine, of (32, C, H, H): sg, sg-unfused-gn, torch.
  sigmoid    of (32, C, H, H), fwd+bwd: sg, sg-sigmoid-where, torch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import median_time, worker_env  # noqa: E402

VARIANTS = {
    'gelu': ['sg', 'sg-scipy-f32', 'sg-no-scipy', 'sg-f64', 'sg-f64-no-scipy', 'torch', 'torch-f64'],
    'attention': ['sg', 'sg-composed', 'torch'],
    'unet': ['sg', 'sg-unfused-gn', 'sg-unblocked', 'sg-col2im', 'sg-sigmoid-where',
             'sg-before', 'sg-silu-composed', 'torch'],
    'conv': ['sg', 'sg-unblocked', 'sg-col2im', 'sg-conv-before', 'torch'],
    'groupnorm': ['sg', 'sg-unfused-gn', 'torch'],
    'sigmoid': ['sg', 'sg-sigmoid-where', 'torch'],
}
UNDO = {'sg-unfused-gn': {'gn'}, 'sg-unblocked': {'blocks'}, 'sg-col2im': {'col2im'},
        'sg-sigmoid-where': {'sigmoid'}, 'sg-before': {'gn', 'blocks', 'col2im', 'sigmoid'},
        'sg-conv-before': {'blocks', 'col2im'}}


def undo(variant):
    """Put back the paths that ``variant`` undoes (UNDO), by patching this process's
    scratchgen."""
    from scratchgen import backend
    from scratchgen.ops import conv, norm, unary
    changes = UNDO.get(variant, ())
    if 'gn' in changes:               # nn.GroupNorm and build_layer call F.group_norm
        import scratchgen.nn.functional as F

        def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
            y = norm.Standardize((2,), eps)(x.reshape(x.shape[0], num_groups, -1))
            return norm._affine(y.reshape(x.shape), weight, bias, norm._channel_shape(x))
        F.group_norm = group_norm
    if 'blocks' in changes:
        backend.CACHE_BLOCK_BYTES = 2 ** 62
    if 'col2im' in changes:
        conv.TRANSPOSE_AS_CORRELATION = False
    if 'sigmoid' in changes:
        def sigmoid(xp, x):
            e = xp.exp(-xp.abs(x))
            d = 1.0 / (1.0 + e)
            return xp.where(x >= 0, d, e * d)
        unary._sigmoid = sigmoid
    if variant == 'sg-silu-composed':
        def forward(self, x):
            return x * unary._sigmoid(self.xp_of(x), x)

        def backward(self, gy):
            x = self.inputs[0]
            s = unary.sigmoid(x)
            return gy * (s * (1.0 + x * (1.0 - s)))
        unary.Silu.forward, unary.Silu.backward = forward, backward


def build_unet(variant):
    import diffusion
    if variant == 'torch':
        import torch
        torch.set_num_threads(1)
        return diffusion.build_torch('unet16')
    undo(variant)
    return diffusion.build_sg('unet16')


def build_layer(bench, variant, layer):
    """One layer's forward and backward (all inputs' gradients) on a batch of 32:
    conv (C -> O, H x H, 3x3, padding 1), groupnorm (8 groups of C, H x H, affine),
    sigmoid (of a (32, C, H, H) array)."""
    import numpy as np
    c, o, h = layer
    rng = np.random.default_rng(0)
    shapes = {'conv': [(32, c, h, h), (o, c, 3, 3), (o,), (32, o, h, h)],
              'groupnorm': [(32, c, h, h), (c,), (c,), (32, c, h, h)],
              'sigmoid': [(32, c, h, h), (32, c, h, h)]}[bench]
    hosts = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    if variant == 'torch':
        import torch
        torch.set_num_threads(1)
        lib, F = torch, torch.nn.functional
        ts = [torch.tensor(a, requires_grad=i < len(hosts) - 1) for i, a in enumerate(hosts)]
    else:
        import scratchgen as sg
        undo(variant)
        lib, F = sg, sg.nn.functional
        ts = [sg.tensor(a, requires_grad=i < len(hosts) - 1) for i, a in enumerate(hosts)]
    fn = {'conv': lambda x, w, b: F.conv2d(x, w, b, padding=1),
          'groupnorm': lambda x, w, b: F.group_norm(x, 8, w, b),
          'sigmoid': lib.sigmoid}[bench]

    def run():
        fn(*ts[:-1]).backward(ts[-1])
        for t in ts[:-1]:
            t.grad = None
    return run


def build(bench, variant, T, layer):
    import numpy as np
    if bench == 'unet':
        return build_unet(variant)
    if bench in ('conv', 'groupnorm', 'sigmoid'):
        return build_layer(bench, variant, layer)
    rng = np.random.default_rng(0)
    f64 = variant.endswith('f64') or '-f64-' in variant
    dtype = np.float64 if f64 else np.float32
    if bench == 'gelu':
        shapes = [(768, 512), (768, 512)]
    else:
        shapes = [(12, 4, T, 32)] * 3 + [(12, 4, T, 32)]
    hosts = [rng.standard_normal(s).astype(dtype) for s in shapes]
    if variant.startswith('torch'):
        import torch
        torch.set_num_threads(1)
        ts = [torch.tensor(h, requires_grad=i < len(hosts) - 1) for i, h in enumerate(hosts)]
        F = torch.nn.functional
        if bench == 'gelu':
            def run():
                F.gelu(ts[0]).backward(ts[1])
                ts[0].grad = None
        else:
            def run():
                F.scaled_dot_product_attention(ts[0], ts[1], ts[2], is_causal=True).backward(ts[3])
                for t in ts[:3]:
                    t.grad = None
        return run
    import scratchgen as sg
    from scratchgen import backend
    if variant == 'sg-scipy-f32':
        backend._HOST_SLOW_BELOW_FLOAT64 = ()
    if 'no-scipy' in variant:
        backend.special_function = lambda name, xp, dtype=None: None
    ts = [sg.tensor(h, requires_grad=i < len(hosts) - 1) for i, h in enumerate(hosts)]
    F = sg.nn.functional
    if bench == 'gelu':
        def run():
            F.gelu(ts[0]).backward(ts[1])
            ts[0].grad = None
        return run
    if variant == 'sg-composed':
        mask = F.causal_mask(T, T, ts[0])

        def attend(q, k, v):
            scores = (q * (1.0 / np.sqrt(q.shape[-1]))) @ k.mT + mask
            return F.softmax(scores, axis=-1) @ v
    else:
        def attend(q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def run():
        attend(ts[0], ts[1], ts[2]).backward(ts[3])
        for t in ts[:3]:
            t.grad = None
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('bench', choices=list(VARIANTS))
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--T', type=int, default=512, help='sequence length (attention)')
    ap.add_argument('--layer', default='48,16,16', help='C,O,H (conv; groupnorm and sigmoid use C and H)')
    ap.add_argument('--variants', nargs='*', default=None)
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        layer = tuple(int(v) for v in args.layer.split(','))
        print(json.dumps(median_time(build(args.bench, args.worker, args.T, layer), args.repeats)))
        return
    env = worker_env(1)
    variants = args.variants or VARIANTS[args.bench]
    times = {v: [] for v in variants}
    load0 = open('/proc/loadavg').read().split()[0]
    for _ in range(args.rounds):
        for v in variants:
            out = subprocess.run([sys.executable, __file__, args.bench, '--worker', v, '--T',
                                  str(args.T), '--layer', args.layer, '--repeats', str(args.repeats)],
                                 capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise SystemExit(f"{v}: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            times[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
    load1 = open('/proc/loadavg').read().split()[0]
    what = {'attention': f' T={args.T}', 'unet': ''}.get(args.bench, f' C,O,H={args.layer}')
    what = '' if args.bench == 'gelu' else what
    print(f"{args.bench}{what}: median of "
          f"{args.rounds} alternating rounds of per-process medians ({args.repeats} repeats), "
          f"one thread; load {load0} -> {load1}")
    med = {v: statistics.median(t) for v, t in times.items()}
    ref = {v: 'torch-f64' if ('f64' in v and 'torch-f64' in med) else 'torch' for v in variants}
    print(f"  {'variant':<18} {'median':>11} {'[range]':>17}  ratio of medians; median "
          f"[range] of the {args.rounds} rounds' own ratios")
    for v in variants:
        ratio = ''
        if ref[v] in times and not v.startswith('torch'):
            own = [a / b for a, b in zip(times[v], times[ref[v]])]   # same round, neighbours
            ratio = (f"{med[v] / med[ref[v]]:.2f}x {ref[v]}; {statistics.median(own):.2f}x "
                     f"[{min(own):.2f}-{max(own):.2f}]")
        spread = f"[{min(times[v]) * 1e3:.2f}-{max(times[v]) * 1e3:.2f}]"
        print(f"  {v:<18} {med[v] * 1e3:8.2f} ms {spread:>17}  {ratio}")


if __name__ == '__main__':
    main()
