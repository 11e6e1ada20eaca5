"""VAEs on binarised images: likelihoods in nats against an independent-pixel baseline;
samples, reconstructions and interpolations.

    python demos/vae_images.py             # a few minutes on a 2-core CPU; writes out/vae/*.png
    python demos/vae_images.py --quick     # seconds
    python demos/vae_images.py --arch conv # the convolutional encoder/decoder
    python demos/vae_images.py --data my_images.npz   # your own images, see --help

Datasets: sg.data.shapes (one grey circle, square or triangle on 16x16, binarised by
thresholding each shape's coverage at 1/2), and scikit-learn's 8x8 digits binarised at
1/2 when scikit-learn is installed (skipped otherwise). For each: a VAE with a
Bernoulli decoder; on held-out images the negative ELBO and the IWAE estimate of
−log p(x) with k = 100 importance samples, in nats per image, against an independent
Bernoulli per pixel fitted (Laplace smoothing) on the same binarised training images.
docs/vae.md has the numbers and the figures; the autoencoder's holey latent space is in
demos/vae_jars.py, where the distance to the nearest valid image can be measured exactly.

With ``--data PATH`` (a .npz with ``images`` (N, H, W) or (N, C, H, W) in [0, 1], read by
sg.data.load_images) the same experiment runs on your images instead, binarised at 1/2,
with the last tenth (at least 48) held out for testing. Every number printed is in
OUT/metrics.json, the VAE samples in OUT/samples.npz.
"""
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen.data import shapes
from scratchgen.models import PixelNaiveBayes
from scratchgen.models.vae import VAE, VAEConfig
from scratchgen.viz import image_grid


def binarised_shapes(n, seed):
    """16x16 grey shapes -> {0, 1}: a pixel is on where the shape covers at least half of it."""
    data = shapes(n, 16, seed=seed, color=False)
    on = data.images >= 0.5 * data.factors['intensity'][:, None, None, None]
    return on.astype(np.float32), data.labels


def binarised_digits(seed):
    """scikit-learn's 8x8 digits, binarised at 1/2, split 1,497 train / 300 test; None
    when scikit-learn is missing."""
    try:
        images, labels = sg.data.digits()
    except ImportError as e:
        print(f"\n[digits skipped: {e}]")
        return None
    x = (images >= 0.5).astype(np.float32)
    order = np.random.default_rng((seed, 3)).permutation(len(x))
    test, train = order[:300], order[300:]
    return x[train], x[test], labels[train], labels[test]


def user_images(path, p):
    """--data: the user's images, binarised at 1/2, split into (train, test)."""
    try:
        images, _ = sg.data.load_images(path)
    except sg.data.DataFileError as e:
        p.error(str(e))                       # exits 2 with the message (it names the file)
    if len(images) < 96:
        p.error(f"--data: {path!r} holds {len(images)} images; this demo needs at least 96 "
                "(48 are held out for the test figures)")
    x = (images >= 0.5).astype(np.float32)
    n_test = min(2000, max(48, len(x) // 10))
    return x[:-n_test], x[-n_test:]


def train(model, x, steps, args, label):
    """Adam on shuffled minibatches of 128: loss = −ELBO, nats per image."""
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n{label}: {len(x)} training images, {n_params:,} parameters, {steps} steps of batch 128")
    loader = sg.data.DataLoader(sg.data.TensorDataset(x), batch_size=min(128, len(x)),
                                shuffle=True, drop_last=True, seed=args.seed, device=args.device)
    opt = sg.optim.Adam(model.parameters(), lr=1e-3)
    progress, step = Progress(steps, label='VAE', every=max(1, steps // 10)), 0
    while step < steps:
        for (batch,) in loader:
            loss = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            progress(step, loss=loss.item())
            if step == steps:
                break
    return time.time() - progress.t0


def evaluate(model, x, device, k=100):
    """Test averages in nats per image: −ELBO (one z per image, exact KL), its
    reconstruction and KL terms, and the IWAE bound's −L_k."""
    totals = dict(neg_elbo=0.0, rec=0.0, kl=0.0, iwae_nll=0.0)
    with sg.no_grad():
        for (batch,) in sg.data.DataLoader(sg.data.TensorDataset(x), batch_size=256, device=device):
            terms = model.elbo(batch)
            totals['neg_elbo'] -= terms.elbo.sum().item()
            totals['rec'] -= terms.log_px_z.sum().item()
            totals['kl'] += terms.kl.sum().item()
            totals['iwae_nll'] -= model.log_likelihood(batch, k).sum().item()
    return {name: v / len(x) for name, v in totals.items()}


def likelihood_experiment(name, x_train, x_test, config, steps, args, out):
    """Train a VAE, measure −ELBO and IWAE NLL against the independent-pixel baseline,
    draw samples, reconstructions and interpolations. Returns the table row."""
    baseline = PixelNaiveBayes('categorical', levels=2, alpha=1.0).fit(x_train)
    base_nll = -float(baseline.log_prob(sg.tensor(x_test)).numpy().astype(np.float64).mean())
    model = VAE(config).to(args.device)
    seconds = train(model, x_train, steps, args, f"VAE on binarised {name}")
    t0 = time.time()
    sg.manual_seed(args.seed + 1)
    m = evaluate(model, x_test, args.device, k=100)
    gain = 1.0 - m['iwae_nll'] / base_nll
    print(f"  evaluated {len(x_test)} test images in {time.time() - t0:.1f}s")
    print(f"  test −ELBO {m['neg_elbo']:.2f} nats/image (reconstruction {m['rec']:.2f} + "
          f"KL {m['kl']:.2f});  IWAE NLL (k=100) {m['iwae_nll']:.2f}")
    print(f"  independent-pixel Bernoulli baseline {base_nll:.2f} nats/image: the VAE's IWAE NLL "
          f"is {100 * gain:.1f}% lower ({'meets' if gain >= 0.3 else 'MISSES'} the 30% target)")

    tag = f"vae_{name}"
    sg.manual_seed(args.seed + 2)
    samples = model.sample(64).numpy()
    image_grid(samples, nrow=16, path=f"{out}/{tag}_samples.png",
               title=f"{name}: 64 VAE samples (mean of p(x|z), z ~ N(0, I))")
    x = sg.tensor(x_test[:32], device=args.device)
    recon = model.reconstruct(x).numpy()
    pairs = np.stack([x_test[:32].reshape(2, 16, *x_test.shape[1:]),
                      recon.reshape(2, 16, *x_test.shape[1:])], 1).reshape(64, *x_test.shape[1:])
    image_grid(pairs, nrow=16, path=f"{out}/{tag}_reconstructions.png",
               title=f"{name}: held-out images (rows 1, 3) and reconstructions (rows 2, 4)")
    a, b = sg.tensor(x_test[32:40], device=args.device), sg.tensor(x_test[40:48], device=args.device)
    path = model.interpolate(a, b, steps=10).numpy()                       # (8, 10, C, H, W)
    rows = np.concatenate([x_test[32:40, None], path, x_test[40:48, None]], 1)
    image_grid(rows.reshape(-1, *x_test.shape[1:]), nrow=12, path=f"{out}/{tag}_interpolations.png",
               title=f"{name}: latent interpolations (real images at both ends)")
    print(f"  wrote {out}/{tag}_{{samples,reconstructions,interpolations}}.png")
    return dict(data=name, train=len(x_train), test=len(x_test), latent=config.latent_dim,
                steps=steps, seconds=seconds, neg_elbo=m['neg_elbo'], rec=m['rec'], kl=m['kl'],
                iwae=m['iwae_nll'], baseline=base_nll, gain=gain), samples


def main():
    p = parser(__doc__.split('\n')[0], 'out/vae',
               data="your images instead of the built-in ones: a .npz with 'images' (N, H, W) "
                    "or (N, C, H, W) in [0, 1], N >= 96; binarised at 1/2")
    p.add_argument('--steps', type=int, default=None, help='VAE training steps (default 4000)')
    p.add_argument('--arch', choices=['mlp', 'conv'], default='mlp')
    args = p.parse_args()
    out = ensure_out(args.out)
    sg.manual_seed(args.seed)
    t_start = time.time()
    quick = args.quick
    steps = args.steps or (40 if quick else 4000)
    hidden = (64,) if quick else (256, 256)
    if args.data:
        x_train, x_test = user_images(args.data, p)
        datasets = [('data', x_train, x_test, steps)]
        print(f"--data {args.data}: {len(x_train)} training / {len(x_test)} test images of shape "
              f"{x_train.shape[1:]}, binarised at 1/2: {x_train.mean():.3f} of the pixels are on")
    else:
        n_train, n_test = (1000, 200) if quick else (20000, 2000)
        x_train, _ = binarised_shapes(n_train, np.random.default_rng((args.seed, 1)))
        x_test, _ = binarised_shapes(n_test, np.random.default_rng((args.seed, 2)))
        print(f"binarised shapes: {x_train.mean():.3f} of the pixels are on")
        datasets = [('shapes', x_train, x_test, steps)]
        digits = binarised_digits(args.seed)
        if digits is not None:
            datasets.append(('digits', digits[0], digits[1], 20 if quick else 2000))

    rows, samples = [], {}
    for name, train_x, test_x, n_steps in datasets:
        config = VAEConfig(data_shape=train_x.shape[1:], latent_dim=16, arch=args.arch,
                           hidden=hidden, channels=(32, 64))
        row, samples[name] = likelihood_experiment(name, train_x, test_x, config, n_steps,
                                                   args, out)
        rows.append(row)

    print(f"\n| data | train / test | latent | steps | train time | test −ELBO | IWAE NLL (k=100) "
          f"| independent pixels | IWAE vs baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| binarised {r['data']} | {r['train']:,} / {r['test']:,} | {r['latent']} | {r['steps']} "
              f"| {r['seconds']:.0f} s | {r['neg_elbo']:.2f} | {r['iwae']:.2f} | {r['baseline']:.2f} "
              f"| {-100 * r['gain']:+.1f}% |")
    seconds = time.time() - t_start
    print(f"\n(nats per image; seed {args.seed}, {args.arch}; whole demo {seconds:.0f} s)")
    write_results(out, dict(seed=args.seed, arch=args.arch, quick=quick, data=args.data,
                            results=rows, seconds=seconds), samples)


if __name__ == '__main__':
    main()
