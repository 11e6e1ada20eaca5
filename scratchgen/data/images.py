"""Procedural image sets with known generating factors: ``jars`` and ``shapes``.

Both draw anti-aliased images directly from their factors, vectorised over the batch,
and return images as float32 ``(n, C, H, W)`` in [0, 1] (channels first, like every
image set in ``sg.data``) together with the factors, so a model's latent space can be
compared with the true one.

jars(n, seed)
    A grey jar on black, 32x32, entirely described by two numbers: its height
    h ~ U[10, 26] and width w ~ U[8, 22] pixels. The jar stands on the line y = 28,
    centred; from bottom to top: a body (width w, intensity 0.75), a shoulder (0.8 w,
    0.75), a neck (0.55 w, 0.6) and a lid (0.7 w, 0.95). Parts are axis-aligned
    rectangles whose exact pixel coverage is computed, so the image varies
    continuously with (h, w): the data lie on a 2-D manifold.

shapes(n, size, seed)
    One circle, square or triangle on black, ``size`` x ``size`` pixels. Factors:
    class (uniform), scale r ~ U[0.15, 0.38] * size (circle radius; square half-side
    0.85 r; upright equilateral triangle with circumradius 1.25 r, so the three look
    equally big), centre uniform over positions where the shape fits, and a colour
    from ``SHAPE_COLOURS`` (``color=True``, RGB) or an intensity ~ U[0.35, 1]
    (``color=False``, one channel). Each image also gets a description such as
    "small red circle" (size word by thirds of the scale range: small, medium, large;
    in grey mode the colour word is "dim" below intensity 0.675, else "bright").
"""
from collections import namedtuple

import numpy as np

from .dataset import as_generator
from ..checks import int_at_least, nonnegative_int

# ----------------------------------------------------------------------------- jars
JAR_SIZE = 32
JAR_HEIGHT_RANGE = (10.0, 26.0)
JAR_WIDTH_RANGE = (8.0, 22.0)
_JAR_FLOOR = 28.0


def _interval_coverage(lo, hi, n_pixels):
    """Fraction of each pixel [j, j+1) covered by [lo, hi]: (batch, n_pixels)."""
    j = np.arange(n_pixels, dtype=np.float64)
    return np.clip(np.minimum(j + 1, hi[:, None]) - np.maximum(j, lo[:, None]), 0.0, 1.0)


def _paint_rect(img, x0, x1, y0, y1, value):
    """Paint axis-aligned rectangles (one per image) with their exact pixel coverage."""
    cov = _interval_coverage(y0, y1, img.shape[1])[:, :, None] * \
        _interval_coverage(x0, x1, img.shape[2])[:, None, :]
    img += cov * (value - img)


def render_jars(height, width):
    """Jars of the given heights and widths (pixels) -> float32 (n, 1, 32, 32)."""
    h = np.atleast_1d(np.asarray(height, dtype=np.float64))
    w = np.atleast_1d(np.asarray(width, dtype=np.float64))
    if h.shape != w.shape or h.ndim != 1:
        raise ValueError(f"render_jars: height and width must be 1-d of equal length, got "
                         f"shapes {h.shape} and {w.shape}")
    lo = min(JAR_HEIGHT_RANGE[0], 8.0)
    if (h < lo).any() or (h > _JAR_FLOOR - 1).any() or (w <= 0).any() or (w > JAR_SIZE - 2).any():
        raise ValueError(f"render_jars: heights must lie in [{lo}, {_JAR_FLOOR - 1}] and widths "
                         f"in (0, {JAR_SIZE - 2}], got heights [{h.min()}, {h.max()}], "
                         f"widths [{w.min()}, {w.max()}]")
    c = JAR_SIZE / 2
    top = _JAR_FLOOR - h
    img = np.zeros((len(h), JAR_SIZE, JAR_SIZE), dtype=np.float64)
    # (relative width, from, to as distances below the top, intensity); body last-but
    # reaches the floor. Lid 0-1.5, neck 1.5-3.5, shoulder 3.5-5, body 5-h.
    parts = [(1.0, 5.0, None, 0.75), (0.8, 3.5, 5.0, 0.75), (0.55, 1.5, 3.5, 0.6),
             (0.7, 0.0, 1.5, 0.95)]
    for rel_w, d0, d1, value in parts:
        y1 = np.full_like(h, _JAR_FLOOR) if d1 is None else top + d1
        _paint_rect(img, c - rel_w * w / 2, c + rel_w * w / 2, top + d0, y1, value)
    return img.astype(np.float32)[:, None]


def jars(n, seed=None):
    """``n`` jar images and their factors.

    Returns ``(images, factors)``: images float32 (n, 1, 32, 32) in [0, 1]; factors
    float32 (n, 2) = (height, width) in pixels, uniform on ``JAR_HEIGHT_RANGE`` x
    ``JAR_WIDTH_RANGE``. ``render_jars(h, w)`` redraws any jar exactly.
    """
    n = nonnegative_int(n, 'n', 'jars')
    rng = as_generator(seed, 'jars')
    h = rng.uniform(*JAR_HEIGHT_RANGE, int(n))
    w = rng.uniform(*JAR_WIDTH_RANGE, int(n))
    return render_jars(h, w), np.stack([h, w], axis=1).astype(np.float32)


# ----------------------------------------------------------------------------- shapes
SHAPE_CLASSES = ('circle', 'square', 'triangle')
SHAPE_COLOURS = {'red': (1.0, 0.15, 0.1), 'green': (0.1, 0.85, 0.2), 'blue': (0.15, 0.35, 1.0),
                 'yellow': (1.0, 0.9, 0.1), 'magenta': (0.95, 0.2, 0.9),
                 'cyan': (0.1, 0.9, 0.95), 'white': (1.0, 1.0, 1.0)}
SCALE_RANGE = (0.15, 0.38)          # r / size
SIZE_WORDS = ('small', 'medium', 'large')
_EXTENT = {0: (1.0, 1.0, 1.0), 1: (0.85, 0.85, 0.85),          # (half-width, up, down) / r
           2: (1.25 * np.sqrt(3) / 2, 1.25, 1.25 / 2)}

ShapesData = namedtuple('ShapesData', 'images labels factors descriptions')


def _shape_sdf(cls, px, py, cx, cy, r):
    """Signed distance in pixels (negative inside) of each image's shape: (n, H, W)."""
    dx, dy = px - cx[:, None, None], py - cy[:, None, None]
    r = r[:, None, None]
    circle = np.hypot(dx, dy) - r
    half = 0.85 * r
    qx, qy = np.abs(dx) - half, np.abs(dy) - half           # box distance
    square = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)
    R = 1.25 * r                                          # triangle: apex up (y grows down)
    # distance to the three edge lines; edges are R/2 from the centre
    s3 = np.sqrt(3) / 2
    tri = np.maximum.reduce([dy - R / 2, -s3 * dx - 0.5 * dy - R / 2, s3 * dx - 0.5 * dy - R / 2])
    c = cls[:, None, None]
    return np.where(c == 0, circle, np.where(c == 1, square, tri))


def render_shapes(cls, x, y, scale, colour, size=16):
    """Draw shapes from factors -> float32 (n, C, size, size).

    cls: class indices; x, y: centres in pixels; scale: r in pixels; colour: (n, 3)
    RGB or (n,) grey intensities (then C = 1). Coverage is clip(1/2 - distance, 0, 1),
    a one-pixel anti-aliased edge.
    """
    cls = np.asarray(cls, dtype=np.int64)
    x, y, r = (np.asarray(a, dtype=np.float64) for a in (x, y, scale))
    colour = np.asarray(colour, dtype=np.float64)
    if cls.size and (cls.min() < 0 or cls.max() > 2):
        raise ValueError(f"render_shapes: class indices must be 0, 1 or 2 {SHAPE_CLASSES}")
    c = (np.arange(size) + 0.5)
    px, py = np.meshgrid(c, c)
    cov = np.clip(0.5 - _shape_sdf(cls, px[None], py[None], x, y, r), 0.0, 1.0)
    if colour.ndim == 1:
        img = cov[:, None] * colour[:, None, None, None]
    else:
        img = cov[:, None] * colour[:, :, None, None]
    return img.astype(np.float32)


def shapes(n, size=16, seed=None, color=True):
    """``n`` images of one circle, square or triangle each (process in module docstring).

    Returns ``ShapesData(images, labels, factors, descriptions)``: images float32
    (n, 3, size, size) (or (n, 1, ...) with ``color=False``) in [0, 1]; labels int64
    class indices into ``SHAPE_CLASSES``; factors a dict of (n,) arrays: 'shape',
    'scale' (r in pixels), 'x', 'y' (centre in pixels), 'colour' (index into
    ``SHAPE_COLOURS``; -1 in grey mode), 'intensity' (1 in colour mode); descriptions
    a list of strings like "small red circle".
    """
    n = nonnegative_int(n, 'n', 'shapes')
    size = int_at_least(size, 8, 'size', 'shapes')        # 16 or 28 are usual
    rng = as_generator(seed, 'shapes')
    cls = rng.integers(0, 3, n)
    r = rng.uniform(*SCALE_RANGE, n) * size
    ext = np.array([_EXTENT[k] for k in range(3)])[cls] * r[:, None]    # half-w, up, down
    margin = 0.5
    x = rng.uniform(ext[:, 0] + margin, size - ext[:, 0] - margin)
    y = rng.uniform(ext[:, 1] + margin, size - ext[:, 2] - margin)
    names = list(SHAPE_COLOURS)
    if color:
        colour_idx = rng.integers(0, len(names), n)
        intensity = np.ones(n)
        rgb = np.array([SHAPE_COLOURS[k] for k in names])[colour_idx]
        images = render_shapes(cls, x, y, r, rgb, size)
        colour_words = [names[k] for k in colour_idx]
    else:
        colour_idx = np.full(n, -1)
        intensity = rng.uniform(0.35, 1.0, n)
        images = render_shapes(cls, x, y, r, intensity, size)
        colour_words = ['bright' if v >= 0.675 else 'dim' for v in intensity]
    third = (r / size - SCALE_RANGE[0]) / (SCALE_RANGE[1] - SCALE_RANGE[0]) * 3
    size_idx = np.clip(third.astype(np.int64), 0, 2)
    descriptions = [f"{SIZE_WORDS[s]} {cw} {SHAPE_CLASSES[k]}"
                    for s, cw, k in zip(size_idx, colour_words, cls)]
    factors = {'shape': cls, 'scale': r.astype(np.float32), 'x': x.astype(np.float32),
               'y': y.astype(np.float32), 'colour': colour_idx.astype(np.int64),
               'intensity': intensity.astype(np.float32)}
    return ShapesData(images, cls.astype(np.int64), factors, descriptions)
