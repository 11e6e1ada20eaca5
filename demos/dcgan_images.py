"""DCGAN on procedural images (shapes, avatars), optionally conditional on the class.

    OMP_NUM_THREADS=1 python demos/dcgan_images.py                    # shapes 16x16, 3000 steps (~4 CPU min)
    OMP_NUM_THREADS=1 python demos/dcgan_images.py --conditional      # projection + AC head + averaged G, 6000 steps (~9 CPU min)
    OMP_NUM_THREADS=1 python demos/dcgan_images.py --dataset avatars  # 32x32 avatars, 4000 steps (~21 CPU min)
    python demos/dcgan_images.py --quick                              # seconds
    python demos/dcgan_images.py --data my_images.npz                 # your own images
    OMP_NUM_THREADS=1 python demos/dcgan_images.py --loss ebgan       # energy-based GAN: autoencoder D

``--data PATH``: a .npz with ``images`` (N, H, W) or (N, C, H, W) in [0, 1], square with a
power-of-two side from 8 to 64, and optional integer ``labels`` (N,); 20% are held out.
With labels the feature net is trained on them (and ``--conditional`` works); without,
the distances are measured on the pixels themselves and the classifier scores are left out.

What it measures (docs/gan.md), on images mapped back to [0, 1]:
  * Fréchet distance in the feature space of a small classifier trained on the training
    images (``metrics.train_feature_net``), generated vs held-out images; the same
    distance between two held-out sets is the floor ("real vs real");
  * Inception-style scores computed with that classifier instead of Inception: the
    Inception score exp(E KL(p(y|x) || p(y))) and the Mode score, which also compares
    p(y) with the training label marginal;
  * kernel MMD^2, the sliced Wasserstein-1 distance (``metrics.wasserstein_distance``)
    and the 1-NN two-sample accuracy in the same feature space (SW1 also for two
    held-out sets: its floor);
  * memorisation: each generated image's distance to its nearest training image,
    against the same distance for held-out real images;
  * --conditional: the classifier's accuracy on samples generated for each label.
Figures: sample grid(s), real images, generated images next to their nearest training
image, training curves; the trained networks go to ``<tag>_checkpoint.npz`` (``sg.load``);
every number to ``metrics.json``, the evaluated samples (and their labels) to ``samples.npz``.
"""
import os
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen import metrics
from scratchgen.models import gan


class UserImages:
    """A user's .npz of images: 10% and 10% held out (two sets, for the real-vs-real
    floor), the rest for training (also used by demos/ddpm_images.py)."""

    def __init__(self, path, seed):
        x, labels = sg.data.load_images(path)
        side = x.shape[2]
        if x.shape[2] != x.shape[3] or side not in (8, 16, 32, 64):
            raise sg.data.DataFileError(
                f"load_images: images in {path!r} are {x.shape[2]}x{x.shape[3]}; the DCGAN "
                "and the U-Net need square images with a side of 8, 16, 32 or 64")
        perm = np.random.default_rng(seed).permutation(len(x))
        n_test = max(2, len(x) // 10)
        parts = perm[n_test * 2:], perm[:n_test], perm[n_test:2 * n_test]
        self.images = [x[i] for i in parts]
        self.labels = [None if labels is None else labels[i] for i in parts]
        self.size = side
        self.classes = None if labels is None else [str(k) for k in range(int(labels.max()) + 1)]


def load(dataset, n, seed, size):
    """Images in [0, 1] (n, C, H, W), integer labels and the class names."""
    if dataset == 'shapes':
        d = sg.data.shapes(n, size=size, seed=seed)
        return d.images, d.labels, list(sg.data.SHAPE_CLASSES)
    rows = sg.data.avatars(n, seed=seed)
    images = sg.data.render_avatars(rows)
    axis = sg.data.AVATAR_FEATURES.index('clothing_type')
    return images.astype(np.float32), rows[:, axis].astype(np.int64), \
        list(sg.data.AVATAR_VALUES[axis])


# ----------------------------------------------------------------------------- scores
def _softmax(logits):
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def generate(G, n, labels=None, batch=500):
    """n images in [0, 1] as host float32 (generated in batches, batch-norm in train mode)."""
    out = []
    for i in range(0, n, batch):
        lab = None if labels is None else sg.tensor(labels[i:i + batch], device=G_device(G))
        out.append(G.sample(min(batch, n - i), lab).numpy())
    return (np.concatenate(out) + 1.0) / 2.0


def G_device(G):
    return next(iter(G.parameters())).device


def evaluate(net, fake, fake_labels, train, test, test2, train_labels, n_classes):
    """Every score of docs/gan.md; ``net`` None (no labels): distances on the pixels."""
    embed = net.features if net is not None else (lambda x: x.reshape(len(x), -1))
    feats = {name: embed(x) for name, x in (('fake', fake), ('test', test), ('test2', test2))}
    d_fake = metrics.nearest_training_distance(fake, train)
    d_real = metrics.nearest_training_distance(test, train)
    r = {'features': 'feature net' if net is not None else 'pixels'}
    if net is not None:
        probs = _softmax(net.logits(fake))
        marginal = np.bincount(train_labels, minlength=n_classes) / len(train_labels)
        r.update({'inception_score': metrics.inception_score(probs),
                  'inception_score_real': metrics.inception_score(_softmax(net.logits(test))),
                  'mode_score': metrics.mode_score(probs, marginal)})
    r.update({
        'fd': metrics.frechet_distance(feats['fake'], feats['test']),
        'fd_real_vs_real': metrics.frechet_distance(feats['test2'], feats['test']),
        'mmd2_features': metrics.mmd2_unbiased(feats['fake'][:1000], feats['test'][:1000]),
        'sw1_features': metrics.wasserstein_distance(feats['fake'], feats['test']),
        'sw1_features_real_vs_real': metrics.wasserstein_distance(feats['test2'], feats['test']),
        'one_nn_accuracy': metrics.one_nn_accuracy(feats['fake'][:1000], feats['test'][:1000]),
        'nn_dist_fake_median': float(np.median(d_fake)),
        'nn_dist_heldout_median': float(np.median(d_real)),
        'nn_dist_fake_min': float(d_fake.min()),
    })
    if fake_labels is not None:
        pred = probs.argmax(1)
        r['accuracy_per_label'] = [float((pred[fake_labels == k] == k).mean())
                                   for k in range(n_classes)]
        r['accuracy'] = float((pred == fake_labels).mean())
    return r, d_fake, d_real


# ----------------------------------------------------------------------------- training
def train_gan(model, next_batch, steps, label, scheds=(), ema=None):
    """``steps`` rounds of ``model.train_step`` (D then G), stepping the schedules and the
    EMA of G after each; returns (loss curves, CPU seconds)."""
    curves = {'d_loss': [], 'g_loss': []}
    progress = Progress(steps, label)
    t_cpu = time.process_time()
    for step in range(1, steps + 1):
        stats = model.train_step(next_batch)
        for sched in scheds:
            sched.step()
        if ema is not None:
            ema.update()
        curves['d_loss'].append(stats['d_loss'])
        curves['g_loss'].append(stats['g_loss'])
        progress(step, d_loss=stats['d_loss'], g_loss=stats['g_loss'])
    return curves, time.process_time() - t_cpu


# ----------------------------------------------------------------------------- figures
def nearest_figure(fake, train, path, n=8):
    """Row 1: generated; row 2: the nearest training image of each (memorisation check)."""
    d, idx = metrics.nearest_training_distance(fake[:n], train, return_index=True)
    fig = sg.viz.new_figure(1.2 * n, 2.7)
    axes = fig.subplots(2, n, squeeze=False)
    for k in range(n):
        for row, img in ((0, fake[k]), (1, train[idx[k]])):
            ax = axes[row, k]
            ax.imshow(np.clip(img.transpose(1, 2, 0).squeeze(), 0, 1), interpolation='nearest',
                      cmap='gray')
            ax.set_xticks([]), ax.set_yticks([])
        axes[1, k].set_xlabel(f"d={d[k]:.2f}", fontsize=8)
    axes[0, 0].set_ylabel('generated', fontsize=8)
    axes[1, 0].set_ylabel('nearest\ntraining', fontsize=8)
    sg.viz.save(fig, path)
    print(f"wrote {path}")


def main():
    p = parser(__doc__.split('\n')[0], 'out/gan',
               data="your own images: a .npz with 'images' (N, H, W) or (N, C, H, W) in [0, 1] "
                    "and optional integer 'labels'")
    p.add_argument('--conditional', action='store_true', help='condition on the class label')
    p.add_argument('--conditioning', default='projection', choices=['projection', 'concat'])
    p.add_argument('--dataset', default='shapes', choices=['shapes', 'avatars'])
    p.add_argument('--loss', default='nonsaturating', choices=sorted(gan.LOSSES))
    p.add_argument('--steps', type=int, default=None)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--width', type=int, default=32)
    p.add_argument('--latent', type=int, default=32)
    p.add_argument('--lr', type=float, default=None, help='override the preset learning rate')
    p.add_argument('--n-train', type=int, default=20000)
    p.add_argument('--d-norm', default=None, choices=['batch', 'layer', 'spectral', 'none'],
                   help="normalisation in D (default: batch, or layer for wgan-gp)")
    p.add_argument('--aux-weight', type=float, default=None,
                   help='conditional: weight of an AC-GAN class head in D (default 3; 0: none)')
    p.add_argument('--aux-real-only', action='store_true',
                   help="train D's class head on real images only (not on G's)")
    p.add_argument('--ema', type=float, default=None, metavar='DECAY',
                   help="evaluate and draw with an exponential moving average of G's weights "
                        "(default: 0.999 when conditional, else off; 0: off)")
    p.add_argument('--lr-end', type=float, default=1.0,
                   help='learning rates decay linearly to this fraction over the run')
    p.add_argument('--margin', type=float, default=None,
                   help='--loss ebgan: the margin m on the fakes\' energy (default: EBGANLoss\'s)')
    p.add_argument('--pt-weight', type=float, default=None,
                   help='--loss ebgan: weight of the pulling-away term (default: EBGANLoss\'s)')
    args = p.parse_args()
    if args.loss == 'ebgan' and args.conditional:
        p.error('--loss ebgan is unconditional; drop --conditional')
    loss_options = {k: v for k, v in (('margin', args.margin), ('pt_weight', args.pt_weight))
                    if v is not None}
    if loss_options and args.loss != 'ebgan':
        p.error('--margin and --pt-weight apply to --loss ebgan only')

    out = ensure_out(args.out)
    user = None
    if args.data:
        try:
            user = UserImages(args.data, args.seed)
        except sg.data.DataFileError as e:
            p.error(str(e))
        if args.conditional and user.classes is None:
            p.error(f"--conditional needs 'labels' in {args.data}")
    name = 'data' if user else args.dataset
    tag = f"gan_dcgan_{name}" + ('_conditional' if args.conditional else '')
    size = user.size if user else 16 if args.dataset == 'shapes' else 32
    steps = args.steps or ((6000 if args.conditional else 3000) if size <= 16 else 4000)
    n_train, n_test, n_eval = args.n_train, 2000, 2000
    width, fn_epochs = args.width, 3
    if args.quick:
        steps, n_train, n_test, n_eval, width, fn_epochs = 20, 512, 256, 256, 8, 1
    sg.manual_seed(args.seed)
    if user:
        (train, test, test2), (train_labels, test_labels, _) = user.images, user.labels
        classes, n_train, n_eval = user.classes, len(train), min(n_eval, len(test))
    else:
        train, train_labels, classes = load(args.dataset, n_train, args.seed, size)
        test, test_labels, _ = load(args.dataset, n_test, args.seed + 1, size)
        test2, _, _ = load(args.dataset, n_test, args.seed + 2, size)
    n_classes, channels = len(classes or ()), train.shape[1]
    print(f"{name}: {n_train} training images {train.shape[1:]}, {n_classes} classes "
          f"{classes}", flush=True)

    net = None
    if classes is not None:
        t0 = time.time()
        net = metrics.train_feature_net(train, train_labels, arch='conv', epochs=fn_epochs,
                                        seed=args.seed, device=args.device, n_classes=n_classes)
        print(f"feature net: {time.time() - t0:.0f}s, held-out accuracy "
              f"{metrics.classifier_accuracy(net, test, test_labels):.3f}", flush=True)

    cond = n_classes if args.conditional else None
    # the conditional recipe of docs/gan.md: AC-GAN class head (weight 3) and averaged G
    aux_weight = (3.0 if args.aux_weight is None else args.aux_weight) if cond else 0.0
    ema_decay = (0.999 if cond else 0.0) if args.ema is None else args.ema
    # the gradient penalty needs per-sample gradients, which batch norm mixes
    norm = args.d_norm or ('layer' if args.loss == 'wgan-gp' else 'batch')
    config = gan.GANConfig(arch='dcgan', channels=channels, image_size=size,
                           latent_dim=args.latent, width=width,
                           d_norm=None if norm == 'none' else norm, n_classes=cond,
                           conditioning=args.conditioning, loss=args.loss,
                           loss_options=loss_options, optim_options={} if args.lr is None else {'lr': args.lr},
                           aux_weight=aux_weight, aux_on_fakes=not args.aux_real_only)
    model = gan.GAN.from_config(config, args.device)
    G, D = model.G, model.D
    scheds = [sg.optim.LinearLR(opt, 1.0, args.lr_end, steps)
              for opt in (model.g_optimizer, model.d_optimizer)]
    ema = sg.optim.EMA(G, decay=ema_decay, warmup=True) if ema_decay > 0 else None
    print(model, flush=True)

    rng = np.random.default_rng(args.seed)
    scaled = train * 2.0 - 1.0                       # tanh range

    def next_batch():
        idx = rng.integers(0, n_train, args.batch)
        x = sg.tensor(scaled[idx], device=args.device)
        return (x, sg.tensor(train_labels[idx], device=args.device)) if cond else x

    t0 = time.time()
    curves, cpu = train_gan(model, next_batch, steps, tag, scheds, ema)
    print(f"training: {(time.time() - t0) / 60:.1f} min wall, {cpu / 60:.1f} min CPU", flush=True)
    ckpt = os.path.join(out, f"{tag}_checkpoint.npz")
    sg.save({'generator': G.state_dict(), 'discriminator': D.state_dict(),
             **({} if ema is None else {'generator_ema': ema.state_dict()}),
             'config': {k: v for k, v in vars(args).items() if k != 'out'}}, ckpt)
    print(f"wrote {ckpt}", flush=True)
    if ema is not None:                  # everything below uses the averaged weights
        ema.copy_to()

    fake_labels = rng.integers(0, n_classes, n_eval) if cond else None
    fake = generate(G, n_eval, fake_labels)
    r, d_fake, d_real = evaluate(net, fake, fake_labels, train, test, test2, train_labels,
                                 n_classes)
    r.update(steps=steps, cpu_min=cpu / 60, seed=args.seed, loss=args.loss, width=width,
             loss_config=repr(model.loss),
             conditional=bool(cond), conditioning=args.conditioning if cond else None,
             aux_weight=aux_weight, ema=ema_decay)
    for k, v in r.items():
        if isinstance(v, float):
            print(f"  {k:24s} {v:.4f}")
        elif isinstance(v, list):
            print(f"  {k:24s} " + '  '.join(f"{c} {a:.3f}" for c, a in zip(classes, v)))
    r.update(data=args.data or args.dataset, n_train=n_train, n_test=len(test),
             wall_min=(time.time() - t0) / 60)
    write_results(out, r, {'samples': fake} if fake_labels is None else
                  {'samples': fake, 'labels': fake_labels})

    nrow = 10
    if cond:
        grid_labels = np.repeat(np.arange(n_classes), nrow)
        samples = generate(G, len(grid_labels), grid_labels)
        title = 'rows: ' + ', '.join(classes)
    else:
        samples = fake[:8 * nrow]
        title = f"{args.loss} DCGAN samples, {steps} steps"
    sg.viz.image_grid(samples, nrow=nrow, path=os.path.join(out, f"{tag}_samples.png"),
                      title=title)
    sg.viz.image_grid(train[:8 * nrow] if not cond else
                      np.concatenate([train[train_labels == k][:nrow] for k in range(n_classes)]),
                      nrow=nrow, path=os.path.join(out, f"{tag}_real.png"), title='training images')
    nearest_figure(fake, train, os.path.join(out, f"{tag}_nearest.png"))
    sg.viz.training_curves(curves, path=os.path.join(out, f"{tag}_curves.png"), smooth=50)
    print(f"wrote {out}/{tag}_*.png")


if __name__ == '__main__':
    main()
