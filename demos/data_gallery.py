"""Pictures of every procedural dataset in sg.data (the figures of docs/data.md).

    python demos/data_gallery.py              # a few seconds; writes out/data/data_*.png
    python demos/data_gallery.py --quick      # fewer points and images

What it shows: the 2-D toy distributions (with the mixture means), avatars sampled from
their known joint and how each feature changes the picture, jars as a 2-D family
(random samples and a height x width sweep), and shapes with their text descriptions.
"""
import os
import time

import numpy as np

from _common import parser, ensure_out

from scratchgen import data


def tile(images, ncol, pad=1, pad_value=1.0):
    """(n, C, H, W) images in [0, 1] -> one (rows*H, ncol*W, 3) picture for imshow."""
    n, c, h, w = images.shape
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), pad_value, np.float32)
    rgb = images.transpose(0, 2, 3, 1) if c == 3 else np.repeat(images.transpose(0, 2, 3, 1), 3, -1)
    for i in range(n):
        r, k = divmod(i, ncol)
        y0, x0 = pad + r * (h + pad), pad + k * (w + pad)
        out[y0:y0 + h, x0:x0 + w] = rgb[i]
    return out


def toy2d_figure(plt, n, seed, path):
    fig, axes = plt.subplots(3, 3, figsize=(10, 10))
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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def avatars_figure(plt, n, seed, path):
    X = data.avatars(n, seed=seed)
    img = tile(data.render_avatars(X), ncol=12)
    fig, ax = plt.subplots(figsize=(12, img.shape[0] / img.shape[1] * 12 + 0.6))
    ax.imshow(img, interpolation='nearest')
    ax.set_axis_off()
    ax.set_title(f"sg.data.avatars: {n} samples from the known joint (seed {seed}); "
                 f"entropy {data.avatar_entropy():.2f} nats vs log 4032 = {np.log(4032):.2f}",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def avatar_features_figure(plt, path):
    """One row per feature: a base avatar with that feature set to each of its values."""
    base = [0, 1, 2, 2, 3]      # Blank, Blue01, ShirtScoopNeck, Brown, LongHairStraight
    fig, axes = plt.subplots(5, 8, figsize=(12, 8.4))
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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def jars_figure(plt, n, seed, path):
    x, f = data.jars(n, seed=seed)
    order = np.lexsort((f[:, 1], f[:, 0]))
    heights = np.linspace(*data.images.JAR_HEIGHT_RANGE, 6)
    widths = np.linspace(*data.images.JAR_WIDTH_RANGE, 6)
    hh, ww = np.meshgrid(heights, widths, indexing='ij')
    sweep = data.render_jars(hh.ravel(), ww.ravel())
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), gridspec_kw={'width_ratios': [4, 3]})
    axes[0].imshow(tile(x[order], ncol=8, pad_value=0.35), interpolation='nearest')
    axes[0].set_title(f"{n} random jars (sorted by height), seed {seed}", fontsize=10)
    axes[1].imshow(tile(sweep, ncol=6, pad_value=0.35), interpolation='nearest')
    axes[1].set_title("the whole family: height (rows) x width (columns)", fontsize=10)
    step = 32 + 1
    axes[1].set_yticks(1 + step * np.arange(6) + 16, [f"h {h:.0f}" for h in heights], fontsize=8)
    axes[1].set_xticks(1 + step * np.arange(6) + 16, [f"w {w:.0f}" for w in widths], fontsize=8)
    axes[0].set_axis_off()
    fig.suptitle("sg.data.jars: 32x32 images fully described by (height, width)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def shapes_figure(plt, n, seed, path):
    d = data.shapes(n, size=28, seed=seed)
    ncol = 8
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 1.75 * nrow + 0.5))
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < n:
            ax.imshow(d.images[i].transpose(1, 2, 0), interpolation='nearest')
            ax.set_title(d.descriptions[i], fontsize=8)
    fig.suptitle(f"sg.data.shapes(size=28): images with their descriptions (seed {seed})",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    args = parser(__doc__.splitlines()[0], 'out/data').parse_args()
    out = ensure_out(args.out)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    q = args.quick
    jobs = [('data_toy2d.png', lambda p: toy2d_figure(plt, 500 if q else 3000, args.seed, p)),
            ('data_avatars.png', lambda p: avatars_figure(plt, 24 if q else 72, args.seed, p)),
            ('data_avatar_features.png', lambda p: avatar_features_figure(plt, p)),
            ('data_jars.png', lambda p: jars_figure(plt, 16 if q else 48, args.seed, p)),
            ('data_shapes.png', lambda p: shapes_figure(plt, 8 if q else 24, args.seed, p))]
    for name, make in jobs:
        t0 = time.time()
        path = os.path.join(out, name)
        make(path)
        print(f"wrote {path}  ({time.time() - t0:.1f}s)", flush=True)


if __name__ == '__main__':
    main()
