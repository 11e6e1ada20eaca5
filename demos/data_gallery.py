"""Pictures of every procedural dataset in sg.data (the figures of docs/data.md).

    python demos/data_gallery.py              # a few seconds; writes out/data/data_*.png
    python demos/data_gallery.py --quick      # fewer points and images

What it shows: the 2-D toy distributions (with the mixture means), avatars sampled from
their known joint and how each feature changes the picture, jars as a 2-D family
(random samples and a height x width sweep), and shapes with their text descriptions.
The datasets' known entropies are in OUT/metrics.json. No training, so no --data (see
docs/data.md for sg.data.load_points / load_images, the other demos' --data).
"""
import os
import time

import numpy as np

from _common import ensure_out, parser, write_results

from scratchgen import data
from scratchgen.viz import make_grid, new_figure, save


def tile(images, ncol, pad_value=1.0):
    """(n, C, H, W) images in [0, 1] -> one RGB (rows*H, ncol*W, 3) picture for imshow,
    1 pixel of ``pad_value`` between and around the images."""
    grid = make_grid(images, nrow=ncol, padding=1, value_range=(0, 1), pad_value=pad_value)
    return grid if grid.shape[2] == 3 else np.repeat(grid, 3, axis=2)


def toy2d_figure(n, seed, path):
    fig = new_figure(10, 10)
    axes = fig.subplots(3, 3)
    for ax, name in zip(axes.ravel(), data.TOY2D_NAMES):
        x = data.toy2d(name, n, seed=seed)
        truth = data.toy2d_truth(name)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color='tab:blue', rasterized=True)
        title = name
        if truth.means is not None:
            ax.scatter(truth.means[:, 0], truth.means[:, 1], s=25, marker='x', color='tab:red')
            title += f"  (sigma = {truth.sigma:g})"
        if truth.entropy is not None:
            title += f"\nentropy {truth.entropy:.3f} nats"
        ax.set_title(title, fontsize=10)
        ax.set_aspect('equal')
        ax.tick_params(labelsize=7)
    fig.suptitle(f"sg.data.toy2d: {n} points each (seed {seed}); red x = mixture means",
                 fontsize=12)
    save(fig, path)


def avatars_figure(n, seed, path):
    X = data.avatars(n, seed=seed)
    img = tile(data.render_avatars(X), ncol=12)
    fig = new_figure(12, img.shape[0] / img.shape[1] * 12 + 0.6)
    ax = fig.subplots()
    ax.imshow(img, interpolation='nearest')
    ax.set_axis_off()
    ax.set_title(f"sg.data.avatars: {n} samples from the known joint (seed {seed}); "
                 f"entropy {data.avatar_entropy():.2f} nats vs log 4032 = {np.log(4032):.2f}",
                 fontsize=11)
    save(fig, path)


def avatar_features_figure(path):
    """One row per feature: a base avatar with that feature set to each of its values."""
    base = [0, 1, 2, 2, 3]      # Blank, Blue01, ShirtScoopNeck, Brown, LongHairStraight
    fig = new_figure(12, 8.4)
    axes = fig.subplots(5, 8)
    for f, (name, values) in enumerate(zip(data.AVATAR_FEATURES, data.AVATAR_VALUES)):
        for k in range(8):
            ax = axes[f, k]
            ax.set_axis_off()
            if k >= len(values):
                continue
            x = list(base)
            x[f] = k
            ax.imshow(data.render_avatar(x), interpolation='nearest')
            ax.set_title(values[k], fontsize=8)
        axes[f, 0].text(-0.15, 0.5, name, transform=axes[f, 0].transAxes, rotation=90,
                        va='center', ha='right', fontsize=10)
    fig.suptitle("sg.data.render_avatar: each row changes one feature of the same avatar",
                 fontsize=12)
    save(fig, path)


def jars_figure(n, seed, path):
    x, f = data.jars(n, seed=seed)
    order = np.lexsort((f[:, 1], f[:, 0]))
    heights = np.linspace(*data.images.JAR_HEIGHT_RANGE, 6)
    widths = np.linspace(*data.images.JAR_WIDTH_RANGE, 6)
    hh, ww = np.meshgrid(heights, widths, indexing='ij')
    sweep = data.render_jars(hh.ravel(), ww.ravel())
    fig = new_figure(12, 5.6)
    axes = fig.subplots(1, 2, width_ratios=[4, 3])
    axes[0].imshow(tile(x[order], ncol=8, pad_value=0.35), interpolation='nearest')
    axes[0].set_title(f"{n} random jars (sorted by height), seed {seed}", fontsize=10)
    axes[1].imshow(tile(sweep, ncol=6, pad_value=0.35), interpolation='nearest')
    axes[1].set_title("the whole family: height (rows) x width (columns)", fontsize=10)
    step = 32 + 1
    axes[1].set_yticks(1 + step * np.arange(6) + 16, [f"h {h:.0f}" for h in heights], fontsize=8)
    axes[1].set_xticks(1 + step * np.arange(6) + 16, [f"w {w:.0f}" for w in widths], fontsize=8)
    axes[0].set_axis_off()
    fig.suptitle("sg.data.jars: 32x32 images fully described by (height, width)", fontsize=12)
    save(fig, path)


def shapes_figure(n, seed, path):
    d = data.shapes(n, size=28, seed=seed)
    ncol = 8
    nrow = -(-n // ncol)
    fig = new_figure(12, 1.75 * nrow + 0.5)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < n:
            ax.imshow(d.images[i].transpose(1, 2, 0), interpolation='nearest')
            ax.set_title(d.descriptions[i], fontsize=8)
    fig.suptitle(f"sg.data.shapes(size=28): images with their descriptions (seed {seed})",
                 fontsize=12)
    save(fig, path)


def main():
    args = parser(__doc__.splitlines()[0], 'out/data').parse_args()
    out = ensure_out(args.out)

    q = args.quick
    jobs = [('data_toy2d.png', lambda p: toy2d_figure(500 if q else 3000, args.seed, p)),
            ('data_avatars.png', lambda p: avatars_figure(24 if q else 72, args.seed, p)),
            ('data_avatar_features.png', lambda p: avatar_features_figure(p)),
            ('data_jars.png', lambda p: jars_figure(16 if q else 48, args.seed, p)),
            ('data_shapes.png', lambda p: shapes_figure(8 if q else 24, args.seed, p))]
    for name, make in jobs:
        t0 = time.time()
        path = os.path.join(out, name)
        make(path)
        print(f"wrote {path}  ({time.time() - t0:.1f}s)", flush=True)
    toy = {name: data.toy2d_truth(name) for name in data.TOY2D_NAMES}
    write_results(out, dict(seed=args.seed, quick=q, figures=[name for name, _ in jobs],
                            toy2d_entropy={n: t.entropy for n, t in toy.items()},
                            toy2d_sigma={n: t.sigma for n, t in toy.items()},
                            avatar_entropy=data.avatar_entropy(),
                            avatar_combinations=int(np.prod(data.AVATAR_SHAPE))))


if __name__ == '__main__':
    main()
