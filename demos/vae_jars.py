"""A VAE with a 2-D latent space on the jars: does it find height and width on its own?
And a plain autoencoder with a 2-D code beside it: what lies between its codes?

    python demos/vae_jars.py              # a few minutes on a 2-core CPU; writes out/vae/*.png
    python demos/vae_jars.py --quick      # seconds

Each 32x32 jar image is fully described by two numbers, its height and width
(sg.data.jars). A VAE with a 2-D latent code is trained on 10,000 jars without ever
seeing those numbers. Then a least-squares regression (host NumPy, with an intercept)
from the latent means μ(x) to (height, width) is fitted on training jars and scored
by R² on 2,000 held-out jars: R² near 1 means the two latent axes carry the two true
factors. Figures: the latent means coloured by height and by width next to decoded
images on a grid of latent codes (vae_jars_latent.png), a walk through the latent
space along height and width next to the true jars (vae_jars_traversal.png), and the
training curve (vae_jars_training.png).

Then an Autoencoder with the same networks and a 2-D code. Nothing makes its codes fill
a known distribution, so to generate one must guess where codes live: a Gaussian
fitted to the training codes. Because every valid jar is render_jars(h, w) for some
(h, w), how far a decoded image is from a jar can be measured exactly: the L2 distance
to the nearest of 5,751 jars rendered on a fine (h, w) grid. Decodes of the
autoencoder's Gaussian land in the holes between its codes and come out as non-jars;
the VAE's prior samples do not (vae_jars_holes.png). docs/vae.md has the numbers.

Every number printed is in OUT/metrics.json; the decodes of the VAE's prior samples and
of the autoencoder's Gaussian are in OUT/samples.npz. There is no --data: the demo
measures what the latent space learned against the jars' true height and width and
against render_jars, which a user's own images do not have (demos/vae_images.py
takes --data).
"""
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen.data import jars, render_jars
from scratchgen.data.images import JAR_HEIGHT_RANGE, JAR_WIDTH_RANGE
from scratchgen.metrics import nearest_training_distance
from scratchgen.models.vae import VAE, Autoencoder, VAEConfig
from scratchgen.viz import make_grid, new_figure, save, training_curves

NOT_A_JAR = 3.0     # L2 distance to the nearest valid jar above which an image is "not a jar"


def least_squares(z_train, y_train, z_test, y_test):
    """Fit y ≈ z A + b on the training pairs; return (A, b) and the R² of each target on
    the test pairs."""
    design = lambda z: np.c_[z, np.ones(len(z))]           # noqa: E731
    w, *_ = np.linalg.lstsq(design(z_train), y_train, rcond=None)
    residual = y_test - design(z_test) @ w
    r2 = 1.0 - (residual ** 2).sum(0) / ((y_test - y_test.mean(0)) ** 2).sum(0)
    return (w[:2], w[2]), r2


def codes(model, x, device, batch=1000):
    """Latent means μ(x) of a VAE, or the codes of an Autoencoder, as host float64."""
    parts = []
    for i in range(0, len(x), batch):
        c = model.encode(sg.tensor(x[i:i + batch], device=device))
        parts.append((c[0] if isinstance(c, tuple) else c).numpy())
    return np.concatenate(parts).astype(np.float64)


def distance_to_nearest_jar(images):
    """L2 distance of each image to the closest of 81 x 71 jars rendered on a fine grid
    of heights and widths (0.2 pixel steps): 0 for a valid jar, up to grid error."""
    h, w = np.meshgrid(np.linspace(*JAR_HEIGHT_RANGE, 81), np.linspace(*JAR_WIDTH_RANGE, 71))
    return nearest_training_distance(images, render_jars(h.ravel(), w.ravel()))


def train(model, x, steps, args, label):
    """Adam on shuffled minibatches of 128 (the VAE's loss: −ELBO; the autoencoder's:
    −log p(x|z)), nats per image. Returns the losses and the seconds taken."""
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n{label}: {len(x)} jars, {args.arch} networks ({n_params:,} parameters), "
          f"{steps} steps of batch 128")
    loader = sg.data.DataLoader(sg.data.TensorDataset(x), batch_size=min(128, len(x)),
                                shuffle=True, drop_last=True, seed=args.seed, device=args.device)
    opt = sg.optim.Adam(model.parameters(), lr=1e-3)
    progress, losses = Progress(steps, label=label, every=max(1, steps // 10)), []
    while len(losses) < steps:
        for (batch,) in loader:
            loss = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            progress(len(losses), loss=losses[-1])
            if len(losses) == steps:
                break
    seconds = time.time() - progress.t0
    print(f"  trained in {seconds:.1f}s")
    return losses, seconds


def held_out_elbo(model, x, device):
    """Test −ELBO and its two terms, nats per image (one z per image, exact KL)."""
    totals = dict(neg_elbo=0.0, rec=0.0, kl=0.0)
    with sg.no_grad():
        for (batch,) in sg.data.DataLoader(sg.data.TensorDataset(x), batch_size=256, device=device):
            terms = model.elbo(batch)
            totals['neg_elbo'] -= terms.elbo.sum().item()
            totals['rec'] -= terms.log_px_z.sum().item()
            totals['kl'] += terms.kl.sum().item()
    return {name: v / len(x) for name, v in totals.items()}


def _show(ax, images, nrow, extent):
    ax.imshow(make_grid(images, nrow=nrow, padding=1)[..., 0], cmap='gray', vmin=0, vmax=1,
              extent=extent, interpolation='nearest', aspect='auto')


def latent_figure(model, mu, factors, r2, path, device, n=10, lim=2.5):
    """Latent means coloured by each factor, and the decoder's images on an n x n grid."""
    ticks = np.linspace(-lim, lim, n, dtype=np.float32)
    # row i of the image grid has z2 = ticks[n-1-i] (up is positive), column j z1 = ticks[j]
    z = np.stack(np.meshgrid(ticks, ticks[::-1]), -1).reshape(-1, 2)
    images = model.decode(sg.tensor(z, device=device)).numpy()
    box = max(lim + 0.5, float(np.percentile(np.abs(mu), 99.5)) + 0.2)
    fig = new_figure(17, 5.6)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.15])
    for ax, k, name in zip(axes, (0, 1), ('height', 'width')):
        sc = ax.scatter(mu[:, 0], mu[:, 1], c=factors[:, k], s=4, cmap='viridis')
        fig.colorbar(sc, ax=ax, shrink=0.85, label=f'true {name} (pixels)')
        ax.set_xlim(-box, box)
        ax.set_ylim(-box, box)
        ax.set_aspect('equal')
        ax.set_xlabel('$\\mu_1$')
        ax.set_ylabel('$\\mu_2$')
        ax.set_title(f'latent means of held-out jars, coloured by {name}\n'
                     f'linear regression $R^2$ = {r2[k]:.3f}', fontsize=10)
    ax = axes[2]
    half = lim * n / (n - 1)         # image centres sit on the ticks
    _show(ax, images, n, (-half, half, -half, half))
    ax.set_aspect('equal')
    ax.set_xlabel('$z_1$')
    ax.set_ylabel('$z_2$')
    ax.set_title(f'decoded $z$ on a {n}x{n} grid over [-{lim}, {lim}]$^2$', fontsize=10)
    save(fig, path)
    print(f"wrote {path}")


def traversal_figure(model, regression, path, device, n=7):
    """Walk the latent space along height and width: z solves z A + b = (h, w) for the
    fitted regression, on a grid of heights (rows) and widths (columns); next to it the
    true jars render_jars(h, w)."""
    A, b = regression
    heights = np.linspace(JAR_HEIGHT_RANGE[1] - 1, JAR_HEIGHT_RANGE[0] + 1, n)   # tall on top
    widths = np.linspace(JAR_WIDTH_RANGE[0] + 1, JAR_WIDTH_RANGE[1] - 1, n)
    hw = np.stack(np.meshgrid(heights, widths, indexing='ij'), -1).reshape(-1, 2)
    z = np.linalg.solve(A.T, (hw - b).T).T.astype(np.float32)
    decoded = model.decode(sg.tensor(z, device=device)).numpy()
    truth = render_jars(hw[:, 0], hw[:, 1])
    fig = new_figure(12, 6.3)
    axes = fig.subplots(1, 2)
    for ax, images, title in ((axes[0], decoded, 'VAE: decoded from the latent point the\n'
                               'regression maps to (height, width)'),
                              (axes[1], truth, 'truth: render_jars(height, width)\n')):
        _show(ax, images, n, (0, n, 0, n))
        ax.set_xticks(np.arange(n) + 0.5, [f"{w:.0f}" for w in widths])
        ax.set_yticks(np.arange(n) + 0.5, [f"{h:.0f}" for h in heights[::-1]])
        ax.set_xlabel('width (pixels)')
        ax.set_ylabel('height (pixels)')
        ax.set_title(title, fontsize=10)
    save(fig, path)
    print(f"wrote {path}")


def holes_figure(models, x_train, x_test, f_test, path, device, seed, n=12, n_samples=400):
    """Per model: its codes of held-out jars, decodes of a grid over them, and decodes of
    codes drawn from a Gaussian (the prior for the VAE; fitted to the codes for the
    autoencoder), with their distances to the nearest valid jar. Returns those stats."""
    rng = np.random.default_rng((seed, 4))
    fig = new_figure(16, 10.5)
    axes = fig.subplots(2, 3)
    stats, decodes = {}, {}
    for row, (name, model) in enumerate(models.items()):
        c = codes(model, x_test, device)
        if name == 'VAE':          # the prior: what the VAE was trained to fill
            lo, hi = np.full(2, -2.5), np.full(2, 2.5)
            z = rng.standard_normal((n_samples, 2))
            how = 'prior $z \\sim N(0, I)$'
        else:                      # no prior: the box around the codes, a Gaussian fitted to them
            lo, hi = np.percentile(c, 1, axis=0), np.percentile(c, 99, axis=0)
            z = rng.multivariate_normal(c.mean(0), np.cov(c.T), n_samples)
            how = 'Gaussian fitted to the codes'
        samples = model.decode(sg.tensor(z.astype(np.float32), device=device)).numpy()
        dist = distance_to_nearest_jar(samples)
        stats[name] = dict(how=how.replace('$', '').replace('\\sim', '~'), mean=dist.mean(),
                           median=np.median(dist), off=(dist > NOT_A_JAR).mean())
        decodes[name] = samples
        ax = axes[row, 0]
        sc = ax.scatter(c[:, 0], c[:, 1], c=f_test[:, 0], s=3, cmap='viridis')
        fig.colorbar(sc, ax=ax, shrink=0.8, label='true height (pixels)')
        ax.add_patch(_rectangle(lo, hi))
        ax.set_title(f"{name}: codes of {len(c)} held-out jars\n(dashed: the grid decoded in "
                     "the middle)", fontsize=10)
        gx, gy = np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n)
        grid_z = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2).astype(np.float32)
        grid = model.decode(sg.tensor(grid_z, device=device)).numpy()
        stats[name]['grid_off'] = (distance_to_nearest_jar(grid) > NOT_A_JAR).mean()
        _show(axes[row, 1], grid, n, None)
        axes[row, 1].set_title(f"{name}: decoded {n}x{n} grid over the dashed box\n"
                               f"not a jar: {100 * stats[name]['grid_off']:.1f}% of {n * n}",
                               fontsize=10)
        worst = np.argsort(-dist)[:8]                # the 8 farthest from a jar, then 56 more
        shown = np.r_[worst, np.setdiff1d(np.arange(64), worst)[:56]]
        _show(axes[row, 2], samples[shown], 8, None)
        axes[row, 2].set_title(f"{name}: decodes of the {how}\ntop row: the 8 of {n_samples} "
                               f"farthest from any jar\nnot a jar (distance > {NOT_A_JAR:g}): "
                               f"{100 * stats[name]['off']:.1f}% of {n_samples}", fontsize=10)
        for ax in axes[row, 1:]:
            ax.set_axis_off()
            ax.set_aspect('equal')
    save(fig, path)
    print(f"wrote {path}")
    return stats, decodes


def _rectangle(lo, hi):
    from matplotlib.patches import Rectangle
    return Rectangle(lo, *(hi - lo), fill=False, ls='--', color='k')


def main():
    p = parser(__doc__.split('\n')[0], 'out/vae')
    p.add_argument('--steps', type=int, default=None, help='training steps (default 1500)')
    p.add_argument('--arch', choices=['mlp', 'conv'], default='mlp')
    args = p.parse_args()
    out = ensure_out(args.out)
    sg.manual_seed(args.seed)
    t_start = time.time()
    n_train, n_test = (1000, 500) if args.quick else (10000, 2000)
    steps = args.steps or (60 if args.quick else 1500)
    x_train, f_train = jars(n_train, seed=np.random.default_rng((args.seed, 1)))
    x_test, f_test = jars(n_test, seed=np.random.default_rng((args.seed, 2)))

    # Grey levels with the Bernoulli cross-entropy: the usual choice for [0, 1] images;
    # a Gaussian decoder (likelihood='gaussian') trains too but bends the latent axes more.
    hidden = (64,) if args.quick else (512, 256)
    config = VAEConfig(data_shape=(1, 32, 32), latent_dim=2, arch=args.arch, hidden=hidden,
                       channels=(16, 32, 64), likelihood='bernoulli')
    vae = VAE(config).to(args.device)
    losses, t_vae = train(vae, x_train, steps, args, 'VAE, 2-D latent')
    metrics = held_out_elbo(vae, x_test, args.device)
    n_fit = min(5000, n_train)
    regression, r2 = least_squares(codes(vae, x_train[:n_fit], args.device),
                                   f_train[:n_fit].astype(np.float64),
                                   codes(vae, x_test, args.device), f_test.astype(np.float64))
    print(f"  test −ELBO {metrics['neg_elbo']:.2f} nats/image (reconstruction "
          f"{metrics['rec']:.2f} + KL {metrics['kl']:.2f})")
    for name, v in zip(('height', 'width'), r2):
        verdict = 'meets' if v >= 0.9 else 'MISSES'
        print(f"  R² of the least-squares regression latent mean -> {name} on {n_test} held-out "
              f"jars: {v:.3f} ({verdict} the 0.9 target)")
    latent_figure(vae, codes(vae, x_test, args.device), f_test, r2,
                  f"{out}/vae_jars_latent.png", args.device)
    traversal_figure(vae, regression, f"{out}/vae_jars_traversal.png", args.device)
    path = f"{out}/vae_jars_training.png"
    skip = min(50, steps // 5)          # the first steps fall from ~700 and hide the rest
    training_curves({f'VAE training loss −ELBO (nats/image), from step {skip}':
                     (np.arange(skip, steps) + 1, losses[skip:])}, path=path,
                    smooth=max(1, steps // 50))
    print(f"wrote {path}")

    ae = Autoencoder(config).to(args.device)
    _, t_ae = train(ae, x_train, steps, args, 'Autoencoder, 2-D code')
    stats, decodes = holes_figure({'autoencoder': ae, 'VAE': vae}, x_train, x_test, f_test,
                         f"{out}/vae_jars_holes.png", args.device, args.seed)
    real = distance_to_nearest_jar(x_test[:400])
    print(f"\ndistance to the nearest valid jar (L2 over 32x32 pixels in [0, 1]); held-out real "
          f"jars: {real.mean():.2f}")
    for name, st in stats.items():
        print(f"  {name:<12} decodes of the {st['how']:<28} mean {st['mean']:.2f}  median "
              f"{st['median']:.2f}  not a jar (> {NOT_A_JAR:g}): {100 * st['off']:.1f}%;  "
              f"of the grid over the box: {100 * st['grid_off']:.1f}%")
    seconds = time.time() - t_start
    print(f"\ntraining time: VAE {t_vae:.0f} s, autoencoder {t_ae:.0f} s; whole demo "
          f"{seconds:.0f} s (seed {args.seed}, {args.arch})")
    write_results(out, dict(seed=args.seed, arch=args.arch, quick=args.quick, steps=steps,
                            held_out_elbo=metrics, r2=dict(height=r2[0], width=r2[1]),
                            real_jar_distance=real.mean(), decodes=stats,
                            seconds=dict(vae=t_vae, autoencoder=t_ae, demo=seconds)),
                  {'vae_prior': decodes['VAE'], 'autoencoder_gaussian': decodes['autoencoder']})


if __name__ == '__main__':
    main()
