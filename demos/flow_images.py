"""Flows on images: bits per dimension of a multi-scale flow with dequantisation against
independent pixels, and one likelihood table across the model families.

    OMP_NUM_THREADS=1 python demos/flow_images.py                 # shapes (and digits with scikit-learn)
    OMP_NUM_THREADS=1 python demos/flow_images.py --families      # + the cross-family table
    python demos/flow_images.py --data my_images.npz              # your own images in [0, 1]
    python demos/flow_images.py --quick                           # seconds

Part 1, bits/dim. Images are cut into --levels grey levels (k = min(⌊x L⌋, L − 1); 16
for shapes, 17 for the 8x8 digits), and a RealNVP/Glow multi-scale flow (Logit,
Squeeze, [ActNorm, 1x1 conv, affine coupling] x layers, split, ...) is trained on
uniformly dequantised pixels y = (k + u)/L. Its test bits/dim,
−(log p(y) − D log L)/(D ln 2), is an upper bound on the discrete model's; the
independent-pixel baseline (PixelNaiveBayes over the same L levels, exact) stands beside.

Part 2 (--families), nats per image on binarised shapes and binarised digits (the VAE
demo's splits and binarisation, demos/vae_images.py): pixel naive Bayes (exact), a VAE (IWAE bound with
k = 1000, a lower bound on log p, so an upper bound on the NLL) trained inline, and MADE
and a small PixelCNN over the pixels, p(x) = Π p(x_i | x_<i) (exact). Digits
are skipped without scikit-learn.
Figures: samples of every model. Results and discussion: docs/flows.md.
"""
import math
import time

import numpy as np

from _common import parser, Progress, ensure_out, write_results

import scratchgen as sg
from scratchgen.data import shapes
from scratchgen.metrics import nats_to_bits_per_dim
from scratchgen.models import PixelNaiveBayes
from scratchgen.models.flows import FlowConfig, PixelCNN, PixelMADE, build_flow, dequantize
from scratchgen.models.vae import VAE, VAEConfig
from scratchgen.viz import image_grid
from vae_images import binarised_digits, binarised_shapes


def quantised(x, levels):
    """Images in [0, 1] -> the centre of their level's bin, (k + ½)/L."""
    return ((np.clip(np.floor(x * levels), 0, levels - 1) + 0.5) / levels).astype(np.float32)


def batches(x, batch, steps, seed):
    rng = np.random.default_rng(seed)
    for step in range(1, steps + 1):
        yield step, x[rng.integers(0, len(x), batch)]


def baseline_nats(x_train, x_test, levels, nb=None):
    """Test NLL (nats/image, exact) of independent pixels over ``levels`` levels (``nb``:
    that model, already fitted on x_train)."""
    nb = nb or PixelNaiveBayes('categorical', levels=levels, alpha=1.0).fit(x_train)
    return -float(nb.log_prob(sg.tensor(x_test)).numpy().astype(np.float64).mean())


def timed_sample(sample, n):
    """(``sample(n)`` as a host array, wall milliseconds per image)."""
    t0 = time.time()
    x = sample(n).numpy()
    return x, 1000 * (time.time() - t0) / n


# ----------------------------------------------------------------------------- part 1
def flow_bits_per_dim(name, x_train, x_test, levels, args, out):
    D = int(np.prod(x_train.shape[1:]))
    config = FlowConfig(kind='multiscale', data_shape=x_train.shape[1:], layers=args.layers,
                        hidden=(16 if args.quick else 32,), levels=2)
    sg.manual_seed(args.seed)
    flow = build_flow(config).to(args.device)
    params = sum(p.numel() for p in flow.parameters())
    steps = args.steps or (15 if args.quick else 1000)
    print(f"\n{name}: {len(x_train):,} train / {len(x_test):,} test images, {levels} levels, "
          f"flow of {params:,} parameters, {steps} steps of batch {args.batch}")
    opt = sg.optim.Adam(flow.parameters(), lr=args.lr)
    sched = sg.optim.CosineAnnealingLR(opt, T_max=steps, eta_min=args.lr * 0.01)
    progress = Progress(steps, f"{name} flow")
    t0 = time.process_time()
    for step, xb in batches(x_train, args.batch, steps, (args.seed, 11)):           # the loop
        y = dequantize(sg.tensor(xb, device=args.device), levels)
        loss = -flow.log_prob(y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        progress(step, bpd=(loss.item() + D * math.log(levels)) / (D * math.log(2)))
    cpu = time.process_time() - t0
    flow.eval()
    sg.manual_seed(args.seed + 1)
    with sg.no_grad():
        lp = np.concatenate([flow.log_prob(dequantize(sg.tensor(x_test[i:i + 200], device=args.device),
                                                      levels)).numpy()
                             for i in range(0, len(x_test), 200)]).astype(np.float64)
        samples = np.clip(flow.sample(64).numpy(), 0, 1)
    nll_discrete = -(lp.mean() - D * math.log(levels))          # nats/image, bound
    bpd = nats_to_bits_per_dim(nll_discrete, D)
    base = baseline_nats(x_train, x_test, levels)
    base_bpd = nats_to_bits_per_dim(base, D)
    print(f"  test bits/dim {bpd:.4f} (flow, dequantised bound)  vs  {base_bpd:.4f} (independent "
          f"pixels, exact);  {cpu:.0f} CPU s")
    image_grid(samples, nrow=16, path=f"{out}/flow_images_{name}_samples.png",
               title=f"{name}: 64 flow samples ({levels} levels, {bpd:.3f} bits/dim)")
    return dict(bits_per_dim=bpd, baseline_bits_per_dim=base_bpd, nll_nats=nll_discrete,
                baseline_nats=base, levels=levels, params=params, steps=steps, cpu_seconds=cpu,
                train=len(x_train), test=len(x_test)), samples


# ----------------------------------------------------------------------------- part 2
def fit_exact(model, x_train, x_test, steps, batch, stream, args, label):
    """Maximum likelihood for a model with an exact ``log_prob`` (MADE, PixelCNN): Adam at
    10⁻³ on −mean log p(x), then the test NLL in nats per image."""
    opt = sg.optim.Adam(model.parameters(), lr=1e-3)
    progress = Progress(steps, label)
    for step, xb in batches(x_train, batch, steps, (args.seed, stream)):
        loss = -model.log_prob(sg.tensor(xb, device=args.device)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        progress(step, nll=loss.item())
    with sg.no_grad():
        return -float(np.concatenate([model.log_prob(sg.tensor(x_test[i:i + 500], device=args.device)).numpy()
                                      for i in range(0, len(x_test), 500)]).astype(np.float64).mean())


def families(args, out):
    """The cross-family table: binarised shapes and (with scikit-learn) binarised digits,
    the VAE demo's splits and binarisation, nats per image on the test split."""
    quick = args.quick
    n_train, n_test = (1000, 200) if quick else (20000, 2000)
    sets = [('shapes', binarised_shapes(n_train, np.random.default_rng((args.seed, 1)))[0],
             binarised_shapes(n_test, np.random.default_rng((args.seed, 2)))[0], args.vae_steps)]
    digits = binarised_digits(args.seed)
    if digits is not None:
        sets.append(('digits', digits[0], digits[1], args.vae_digits_steps))   # the VAE demo's steps
    rows, samples = {}, {}
    for name, x_train, x_test, vae_steps in sets:
        rows[name], extra = family_row(name, x_train, x_test, vae_steps, args, out)
        samples.update({f"{name}_{k}": v for k, v in extra.items()})
    return rows, samples


def family_row(name, x_train, x_test, vae_steps, args, out):
    """Naive Bayes, the VAE's IWAE bound, MADE and PixelCNN on one binarised data set."""
    quick, shape = args.quick, x_train.shape[1:]
    n_train, n_test = len(x_train), len(x_test)
    nb = PixelNaiveBayes('categorical', levels=2, alpha=1.0).fit(x_train)
    row = dict(train=n_train, test=n_test, naive_bayes=baseline_nats(x_train, x_test, 2, nb))
    sg.manual_seed(args.seed + 2)
    nb_samples, row['naive_bayes_ms_per_image'] = timed_sample(
        lambda n: nb.sample(n, device=args.device), 64)
    nb_samples = (nb_samples >= 0.5).astype(np.float32)        # bin centres 1/4, 3/4 -> {0, 1}
    print(f"\nbinarised {name}: {n_train:,} train / {n_test:,} test; pixel naive Bayes "
          f"{row['naive_bayes']:.2f} nats/image (exact)")

    # VAE: the VAE demo's MLP (hidden (256, 256), latent 16), trained inline
    steps = 40 if quick else vae_steps
    sg.manual_seed(args.seed)
    vae = VAE(VAEConfig(data_shape=shape, latent_dim=16, hidden=(64,) if quick else (256, 256))
              ).to(args.device)
    opt = sg.optim.Adam(vae.parameters(), lr=1e-3)
    progress = Progress(steps, 'VAE')
    t0 = time.process_time()
    for step, xb in batches(x_train, 128, steps, (args.seed, 12)):
        loss = vae.loss(sg.tensor(xb, device=args.device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        progress(step, neg_elbo=loss.item())
    vae.eval()
    k = 20 if quick else 1000
    sg.manual_seed(args.seed + 1)
    iwae = np.concatenate([vae.log_likelihood(sg.tensor(x_test[i:i + 50], device=args.device), k=k).numpy()
                           for i in range(0, n_test, 50)]).astype(np.float64)
    row.update(vae_iwae=-float(iwae.mean()), vae_k=k, vae_steps=steps, vae_cpu_seconds=time.process_time() - t0)
    print(f"  VAE IWAE (k={k}) NLL bound {row['vae_iwae']:.2f} nats/image")

    # MADE over the pixels: exact log p(x) = Σ_i log p(x_i | x_<i)
    steps = 40 if quick else args.made_steps
    sg.manual_seed(args.seed)
    made = PixelMADE(shape, hidden=(64,) if quick else (1024,)).to(args.device)
    t0 = time.process_time()
    made_nll = fit_exact(made, x_train, x_test, steps, 128, 13, args, 'MADE')
    with sg.no_grad():
        sg.manual_seed(args.seed + 2)
        made_samples, row['made_ms_per_image'] = timed_sample(made.sample, 64)
        vae_samples, row['vae_ms_per_image'] = timed_sample(          # binary, like MADE's
            lambda n: vae.sample(n, mean=False), 64)
    row.update(made=made_nll, made_steps=steps, made_cpu_seconds=time.process_time() - t0)
    print(f"  MADE {made_nll:.2f} nats/image (exact)")

    # PixelCNN: masked convolutions, exact log p(x) as well
    steps = 5 if quick else args.pixelcnn_steps
    sg.manual_seed(args.seed)
    cnn = PixelCNN(shape, channels=8 if quick else 32, layers=1 if quick else 4).to(args.device)
    t0 = time.process_time()
    cnn_nll = fit_exact(cnn, x_train, x_test, steps, 64, 14, args, 'PixelCNN')
    with sg.no_grad():
        sg.manual_seed(args.seed + 2)
        cnn_samples, row['pixelcnn_ms_per_image'] = timed_sample(cnn.sample, 64)
    row.update(pixelcnn=cnn_nll, pixelcnn_steps=steps, pixelcnn_cpu_seconds=time.process_time() - t0)
    print(f"  PixelCNN {cnn_nll:.2f} nats/image (exact)")
    suffix = '' if name == 'shapes' else f'_{name}'       # the shapes figure keeps its old name
    image_grid(np.concatenate([made_samples[:32], vae_samples[:32], cnn_samples[:16]]), nrow=16,
               path=f"{out}/flow_images_families{suffix}_samples.png",
               title=f"{name}: MADE (rows 1-2), VAE (3-4), PixelCNN (5)")
    return row, dict(made_samples=made_samples, vae_samples=vae_samples, pixelcnn_samples=cnn_samples,
                     naive_bayes_samples=nb_samples)


def main():
    p = parser(__doc__.split('\n')[0], 'out/flows',
               data="a .npz with 'images' (N, H, W) or (N, C, H, W) in [0, 1], H and W divisible by 4")
    p.add_argument('--levels', type=int, default=None, help='grey levels (default 16 for shapes and '
                   'your data, 17 for digits)')
    p.add_argument('--steps', type=int, default=None, help='flow training steps (default 1000)')
    p.add_argument('--layers', type=int, default=4, help='flow steps per scale')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--families', action='store_true', help='also the cross-family likelihood table')
    p.add_argument('--vae-steps', type=int, default=4000, help='VAE steps on shapes')
    p.add_argument('--vae-digits-steps', type=int, default=2000, help='VAE steps on digits (as demos/vae_images.py)')
    p.add_argument('--made-steps', type=int, default=4000)
    p.add_argument('--pixelcnn-steps', type=int, default=800)
    args = p.parse_args()
    out = ensure_out(args.out)
    t_start = time.time()
    sets = {}
    if args.data:
        try:
            images, _ = sg.data.load_images(args.data)
        except sg.data.DataFileError as e:      # a clear message, no traceback
            raise SystemExit(f"--data: {e}")
        if images.shape[2] % 4 or images.shape[3] % 4:
            raise SystemExit(f"--data {args.data}: images of shape {images.shape[1:]}; the two-scale "
                             f"flow needs H and W divisible by 4")
        order = np.random.default_rng((args.seed, 5)).permutation(len(images))
        cut = max(1, len(images) // 5)
        L = args.levels or 16
        sets['data'] = (quantised(images[order[cut:]], L), quantised(images[order[:cut]], L), L)
    else:
        n_train, n_test = (500, 100) if args.quick else (10000, 2000)
        L = args.levels or 16
        tr = shapes(n_train, 16, seed=np.random.default_rng((args.seed, 1)), color=False).images
        te = shapes(n_test, 16, seed=np.random.default_rng((args.seed, 2)), color=False).images
        sets['shapes'] = (quantised(tr, L), quantised(te, L), L)
        try:
            images, _ = sg.data.digits()
            order = np.random.default_rng((args.seed, 3)).permutation(len(images))
            L = args.levels or 17
            sets['digits'] = (quantised(images[order[300:]], L), quantised(images[order[:300]], L), L)
        except ImportError as e:
            print(f"[digits skipped: {e}]")
    results, samples = {}, {}
    for name, (x_train, x_test, L) in sets.items():
        results[name], samples[f"{name}_flow"] = flow_bits_per_dim(name, x_train, x_test, L, args, out)
    if (args.families or args.quick) and not args.data:      # --quick smoke-tests both parts
        results['families'], extra = families(args, out)
        samples.update(extra)
    print("\n| data | levels | flow bits/dim (bound) | independent pixels bits/dim |")
    print("|---|---|---|---|")
    for name in sets:
        r = results[name]
        print(f"| {name} | {r['levels']} | {r['bits_per_dim']:.4f} | {r['baseline_bits_per_dim']:.4f} |")
    for name, r in results.get('families', {}).items():
        print(f"\nbinarised {name}, nats/image: naive Bayes {r['naive_bayes']:.2f} (exact) | "
              f"VAE IWAE k={r['vae_k']} {r['vae_iwae']:.2f} (bound) | MADE {r['made']:.2f} (exact) | "
              f"PixelCNN {r['pixelcnn']:.2f} (exact)")
    wall = time.time() - t_start
    print(f"\n(seed {args.seed}; whole demo {wall:.0f} s)")
    write_results(out, dict(results=results, seed=args.seed, data=args.data, wall_seconds=wall), samples)


if __name__ == '__main__':
    main()
