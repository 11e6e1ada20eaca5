"""The Stable Diffusion argument, measured: what one training step and one sample of the
same denoiser cost in pixel space against a 4x smaller (per side) latent space, and how
self-attention's cost grows with the number of positions it attends over.

Cases (the shapes of issue 16's latent autoencoder: 16x16 RGB -> 4x4x4, 32x32 -> 4x8x8):

    pixel16  3x16x16      latent16  4x4x4
    pixel32  3x32x32      latent32  4x8x8

Denoisers, the same configuration in every case (only the input shape changes):
    unet  scratchgen.models.diffusion.UNet, channels 32, mults (1, 2), attention at the
          lowest level (tokens = (H/2)(W/2) there)
    dit   scratchgen.models.diffusion.DiT, patch 2, width 64, depth 4, 4 heads
          (tokens = (H/2)(W/2))
One training step = diffusion_loss (ε-prediction, batch 32) + backward + Adam step. One
sample = a batch of 16 images from 10 DDIM steps (no grad). Each is timed as the median
of --repeats runs after one warm-up run, in process CPU time (time.process_time; the
machine is shared, so wall time is also recorded but not the headline) and the peak
memory is the tracemalloc peak during one run (NumPy reports its array allocations to
tracemalloc, so this is the arrays' peak: activations, the graph, gradients; not the
interpreter's baseline RSS). The latent cases count the denoiser only: the VAE encodes
each training image once (it can be cached) and decodes each sample once, after all the
denoising steps.

VAE (--parts vae): the extra cost of the latent route, with demos/text_to_image.py's
conv VAE (channels (32, 64), conv_depth 1; latent 4x4x4 for 16x16, and the same layers with
a 4x8x8 latent for 32x32): encoding the training batch of 32 (no grad; cacheable once per
image) and decoding the 16 samples once (no grad), untrained weights (the cost does not
depend on them). Written to latent_vs_pixel_vae.json.

Attention: one bidirectional gpt SelfAttention (width 64, 4 heads, batch 4), forward and
backward, at N = 16, 64, 256, 1024 positions (a 4x4 .. 32x32 grid at the attention level).

    OMP_NUM_THREADS=1 nice -n 10 python bench/latent_vs_pixel.py        # docs/dit.md numbers
    OMP_NUM_THREADS=1 nice -n 10 python bench/latent_vs_pixel.py --parts vae   # + the VAE's cost
    python bench/latent_vs_pixel.py --quick                              # seconds, smoke run

Writes docs/figures/latent_vs_pixel.json and docs/figures/latent_vs_pixel.png (or
--out-dir).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import scratchgen as sg  # noqa: E402
from scratchgen.models import diffusion as D  # noqa: E402
from scratchgen.models.gpt import GPTConfig, SelfAttention  # noqa: E402

CASES = {'pixel16': (3, 16, 16), 'latent16': (4, 4, 4),
         'pixel32': (3, 32, 32), 'latent32': (4, 8, 8)}
PAIRS = (('pixel16', 'latent16'), ('pixel32', 'latent32'))
BATCH, N_SAMPLES, SAMPLE_STEPS, T = 32, 16, 10, 1000
ATTN_TOKENS, ATTN_WIDTH, ATTN_HEADS, ATTN_BATCH = (16, 64, 256, 1024), 64, 4, 4


def build(net_name, shape):
    C, H, _ = shape
    if net_name == 'unet':
        return D.UNet(C, channels=32, channel_mults=(1, 2), heads=4)
    return D.DiT(C, H, patch=2, width=64, depth=4, heads=4)


def measure(fn, repeats):
    """(median CPU s, median wall s, tracemalloc peak MB of one more run) after a warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return statistics.median(cpu), statistics.median(wall), peak / 2 ** 20


def denoiser_case(net_name, case, repeats, sample_repeats):
    shape = CASES[case]
    sg.manual_seed(0)
    net = build(net_name, shape)
    schedule = D.Schedule('cosine', T)
    opt = sg.optim.Adam(net.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x0 = sg.tensor(rng.standard_normal((BATCH,) + shape).astype(np.float32))

    def train_step():
        loss = D.diffusion_loss(net, schedule, x0, 'eps')
        opt.zero_grad()
        loss.backward()
        opt.step()

    def eps(x, t):
        return net(x, sg.full((x.shape[0],), float(t), dtype=x.dtype), None)

    x_T = sg.tensor(rng.standard_normal((N_SAMPLES,) + shape).astype(np.float32))

    def sample():
        with sg.no_grad():
            D.ddim_sample(eps, schedule, x_T, steps=SAMPLE_STEPS)

    train = measure(train_step, repeats)
    samp = measure(sample, sample_repeats)
    H = shape[1]
    return dict(net=net_name, case=case, shape=shape, params=sum(p.numel() for p in net.parameters()),
                attention_tokens=(H // 2) ** 2,
                train_cpu_s=train[0], train_wall_s=train[1], train_peak_mb=train[2],
                sample_cpu_s=samp[0], sample_wall_s=samp[1], sample_peak_mb=samp[2])


def attention_case(N, repeats):
    sg.manual_seed(0)
    cfg = GPTConfig(vocab_size=1, block_size=N, n_layer=1, n_head=ATTN_HEADS, n_embd=ATTN_WIDTH)
    attn = SelfAttention(cfg, causal=False)
    rng = np.random.default_rng(0)
    x = sg.tensor(rng.standard_normal((ATTN_BATCH, N, ATTN_WIDTH)).astype(np.float32),
                  requires_grad=True)
    up = sg.tensor(rng.standard_normal((ATTN_BATCH, N, ATTN_WIDTH)).astype(np.float32))

    def step():
        (attn(x) * up).sum().backward()
        x.grad = None
        attn.zero_grad()

    cpu, wall, peak = measure(step, repeats)
    B, C = ATTN_BATCH, ATTN_WIDTH
    return dict(tokens=N, side=int(round(N ** 0.5)), cpu_s=cpu, wall_s=wall, peak_mb=peak,
                # multiply-adds x 2, forward; backward is about twice that
                flops_projections=2 * B * N * 4 * C * C, flops_scores=2 * 2 * B * N * N * C,
                scores_mb=B * ATTN_HEADS * N * N * 4 / 2 ** 20)


def vae_case(case, repeats):
    from scratchgen.models.vae import VAE, VAEConfig
    C, h, w = CASES[case]
    size = 4 * h                                   # two stride-2 convs: 16 -> 4, 32 -> 8
    sg.manual_seed(0)
    vae = VAE(VAEConfig(data_shape=(3, size, size), arch='conv', channels=(32, 64),
                        latent_shape=(C, h, w), conv_depth=1, beta=0.1, likelihood='bernoulli'))
    vae.eval()
    rng = np.random.default_rng(0)
    x = sg.tensor(rng.random((BATCH, 3, size, size)).astype(np.float32))
    z = sg.tensor(rng.standard_normal((N_SAMPLES, C, h, w)).astype(np.float32))

    def encode():
        with sg.no_grad():
            vae.encode(x)

    def decode():
        with sg.no_grad():
            vae.decode(z)

    enc, dec = measure(encode, repeats), measure(decode, repeats)
    return dict(case=case, image=(3, size, size), latent=(C, h, w),
                params=sum(p.numel() for p in vae.parameters()),
                encode_batch_cpu_s=enc[0], encode_batch_peak_mb=enc[2],
                decode_samples_cpu_s=dec[0], decode_samples_peak_mb=dec[2])


def draw(res, path):
    fig = sg.viz.new_figure(11, 3.6)
    axes = fig.subplots(1, 3)
    rows = {(r['net'], r['case']): r for r in res['denoisers']}
    labels = [c for pair in PAIRS for c in pair]
    xs = np.arange(len(labels))
    for ax, key, title in ((axes[0], 'train_cpu_s', 'one training step (batch 32)'),
                           (axes[1], 'sample_cpu_s', f"one sample (16 images, {SAMPLE_STEPS} DDIM steps)")):
        for k, net_name in enumerate(res['nets']):
            vals = [rows[(net_name, c)][key] * 1e3 for c in labels]
            ax.bar(xs + (k - 0.5) * 0.38, vals, 0.38, label=net_name)
        ax.set_yscale('log')
        ax.set_xticks(xs, [f"{c}\n{'x'.join(map(str, CASES[c]))}" for c in labels], fontsize=8)
        ax.set_ylabel('CPU ms (median)')
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    ax = axes[2]
    att = res['attention']
    n = np.array([a['tokens'] for a in att], float)
    t = np.array([a['cpu_s'] for a in att]) * 1e3
    m = np.array([a['peak_mb'] for a in att])
    ax.loglog(n, t, 'o-', label='CPU ms, fwd + bwd')
    ax.loglog(n, m, 's-', label='peak MB (tracemalloc)')
    ax.loglog(n, t[-1] * (n / n[-1]) ** 2, 'k:', lw=1, label='∝ N² (through the last point)')
    ax.set_xticks(n, [f"{int(v)}\n{a['side']}x{a['side']}" for v, a in zip(n, att)], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel('positions N (grid at the attention level)', fontsize=8)
    ax.set_title(f"self-attention, width {ATTN_WIDTH}, batch {ATTN_BATCH}", fontsize=9)
    ax.legend(fontsize=7)
    sg.viz.save(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--repeats', type=int, default=5, help='timed training steps per case')
    ap.add_argument('--sample-repeats', type=int, default=3, help='timed samples per case')
    ap.add_argument('--nets', nargs='*', default=['unet', 'dit'], choices=['unet', 'dit'])
    ap.add_argument('--out-dir', default=os.path.join(ROOT, 'docs', 'figures'))
    ap.add_argument('--quick', action='store_true', help='one repeat, small attention sizes')
    ap.add_argument('--parts', default='denoisers', choices=['denoisers', 'vae'],
                    help="'denoisers': the table, attention and figure; 'vae': the VAE's encode "
                         "and decode cost")
    args = ap.parse_args()
    if args.parts == 'vae':
        return main_vae(args)
    tokens = ATTN_TOKENS
    if args.quick:
        args.repeats, args.sample_repeats, tokens = 1, 1, ATTN_TOKENS[:2]
    load_before = open('/proc/loadavg').read().split()[:3] if os.path.exists('/proc/loadavg') else None
    res = dict(command=' '.join(['python', 'bench/latent_vs_pixel.py'] + sys.argv[1:]),
               repeats=args.repeats, sample_repeats=args.sample_repeats, nets=args.nets,
               omp_num_threads=os.environ.get('OMP_NUM_THREADS'), python=platform.python_version(),
               numpy=np.__version__, loadavg_before=load_before, denoisers=[], attention=[])
    print(f"median of {args.repeats} training steps / {args.sample_repeats} samples, process CPU "
          f"time; peak = tracemalloc; OMP_NUM_THREADS={res['omp_num_threads']}; load {load_before}")
    print(f"{'net':<5} {'case':<9} {'shape':<8} {'params':>8} {'tok':>4} {'train ms':>9} "
          f"{'train MB':>9} {'sample ms':>10} {'sample MB':>10}")
    for net_name in args.nets:
        for case in CASES:
            r = denoiser_case(net_name, case, args.repeats, args.sample_repeats)
            res['denoisers'].append(r)
            print(f"{net_name:<5} {case:<9} {'x'.join(map(str, r['shape'])):<8} {r['params']:>8,} "
                  f"{r['attention_tokens']:>4} {r['train_cpu_s'] * 1e3:>9.1f} "
                  f"{r['train_peak_mb']:>9.1f} {r['sample_cpu_s'] * 1e3:>10.1f} "
                  f"{r['sample_peak_mb']:>10.1f}", flush=True)
    rows = {(r['net'], r['case']): r for r in res['denoisers']}
    res['ratios'] = {}
    for net_name in args.nets:
        for pix, lat in PAIRS:
            p, q = rows[(net_name, pix)], rows[(net_name, lat)]
            ratio = {k: p[k] / q[k] for k in ('train_cpu_s', 'train_peak_mb', 'sample_cpu_s',
                                              'sample_peak_mb')}
            res['ratios'][f"{net_name} {pix}/{lat}"] = ratio
            print(f"{net_name} {pix}/{lat}: train time x{ratio['train_cpu_s']:.1f}, memory "
                  f"x{ratio['train_peak_mb']:.1f}; sample time x{ratio['sample_cpu_s']:.1f}, memory "
                  f"x{ratio['sample_peak_mb']:.1f}")
    print(f"\nself-attention: {'N':>5} {'grid':>6} {'CPU ms':>8} {'peak MB':>8} {'scores MB':>9} "
          f"{'score FLOP share':>16}")
    for N in tokens:
        a = attention_case(N, args.repeats)
        res['attention'].append(a)
        share = a['flops_scores'] / (a['flops_scores'] + a['flops_projections'])
        print(f"{'':<15} {N:>5} {a['side']:>3}x{a['side']:<2} {a['cpu_s'] * 1e3:>8.2f} "
              f"{a['peak_mb']:>8.2f} {a['scores_mb']:>9.2f} {share:>16.2f}", flush=True)
    att = res['attention']
    res['attention_growth'] = [dict(tokens=(x['tokens'], y['tokens']),
                                    time_exponent=float(np.log(y['cpu_s'] / x['cpu_s'])
                                                        / np.log(y['tokens'] / x['tokens'])),
                                    memory_exponent=float(np.log(y['peak_mb'] / x['peak_mb'])
                                                          / np.log(y['tokens'] / x['tokens'])))
                               for x, y in zip(att[:-1], att[1:])]
    for g in res['attention_growth']:
        print(f"  N {g['tokens'][0]} -> {g['tokens'][1]}: time ~ N^{g['time_exponent']:.2f}, "
              f"memory ~ N^{g['memory_exponent']:.2f}")
    res['loadavg_after'] = open('/proc/loadavg').read().split()[:3] \
        if os.path.exists('/proc/loadavg') else None
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, 'latent_vs_pixel.json'), 'w') as f:
        json.dump(res, f, indent=1)
    draw(res, os.path.join(args.out_dir, 'latent_vs_pixel.png'))
    print(f"wrote {args.out_dir}/latent_vs_pixel.json and .png; load after {res['loadavg_after']}")


def main_vae(args):
    load = open('/proc/loadavg').read().split()[:3]
    repeats = 1 if args.quick else args.repeats
    rows = [vae_case(case, repeats) for case in ('latent16', 'latent32')]
    print(f"VAE, median of {repeats} runs, process CPU time; load {load}")
    for r in rows:
        print(f"{'x'.join(map(str, r['image']))} -> {'x'.join(map(str, r['latent']))} "
              f"({r['params']:,} params): encode {BATCH} images {r['encode_batch_cpu_s'] * 1e3:.1f} "
              f"ms ({r['encode_batch_peak_mb']:.1f} MB), decode {N_SAMPLES} samples "
              f"{r['decode_samples_cpu_s'] * 1e3:.1f} ms ({r['decode_samples_peak_mb']:.1f} MB)")
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, 'latent_vs_pixel_vae.json'), 'w') as f:
        json.dump(dict(command=' '.join(['python', 'bench/latent_vs_pixel.py'] + sys.argv[1:]),
                       repeats=repeats, loadavg_before=load,
                       loadavg_after=open('/proc/loadavg').read().split()[:3], vae=rows), f, indent=1)


if __name__ == '__main__':
    main()
