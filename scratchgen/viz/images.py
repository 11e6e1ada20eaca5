"""Image grids and latent traversals.

``make_grid`` turns a batch of images in any common layout into one (H, W, C) array
in [0, 1]; ``image_grid`` draws it; ``latent_traversal`` decodes a sweep of latent
codes and draws the result as a grid (one row per latent dimension).
"""
import numpy as np

from ..autograd.creation import host_array
from ._figure import DPI, new_figure, save
from ..checks import positive_int

__all__ = ['make_grid', 'image_grid', 'latent_traversal']


def _to_nhwc(images, fn):
    """(N, H, W), (N, 1|3, H, W) or (N, H, W, 1|3) -> (N, H, W, C)."""
    x = host_array(images, None, f"{fn}: images")
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[1] in (1, 3):        # channels first, PyTorch's layout
        return x.transpose(0, 2, 3, 1)
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x
    raise ValueError(f"{fn}: images of shape {x.shape} are not (N, H, W), (N, C, H, W) or "
                     "(N, H, W, C) with C = 1 or 3")


def _value_range(x):
    """The range that maps to black..white when none is given (see ``make_grid``)."""
    if x.dtype.kind in 'iub':
        return (0.0, 255.0) if x.dtype.kind != 'b' else (0.0, 1.0)
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= -1.0 and hi <= 1.0:
        return -1.0, 1.0
    return lo, hi if hi > lo else lo + 1.0


def make_grid(images, nrow=8, padding=2, value_range=None, pad_value=0.5):
    """Tile a batch of images into one float32 array (H', W', C) with values in [0, 1].

    images: (N, H, W), (N, 1, H, W), (N, 3, H, W) or (N, H, W, 1|3); NumPy or Tensor.
    nrow: images per row. value_range: (low, high) mapped to (0, 1) then clipped; by
    default integers use (0, 255), floats within [0, 1] use (0, 1), floats within
    [-1, 1] use (-1, 1), and anything else its own (min, max). Image k sits at row
    k // nrow, column k % nrow, with ``padding`` pixels of ``pad_value`` around each
    (mid-grey by default, so that neither black nor white image edges merge with it).
    """
    fn = 'make_grid'
    x = _to_nhwc(images, fn)
    n, h, w, c = x.shape
    if n == 0:
        raise ValueError(f"{fn}: no images to show")
    positive_int(nrow, 'nrow', fn)
    lo, hi = _value_range(x) if value_range is None else map(float, value_range)
    if not hi > lo:
        raise ValueError(f"{fn}: value_range must have low < high, got {value_range}")
    x = np.clip((x.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)

    ncol = min(nrow, n)
    rows = -(-n // ncol)
    p = padding
    tiles = np.full((rows * ncol, h + p, w + p, c), pad_value, np.float32)
    tiles[:n, p:, p:] = x                                  # padding above/left of each
    grid = tiles.reshape(rows, ncol, h + p, w + p, c).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * (h + p), ncol * (w + p), c)
    return np.pad(grid, ((0, p), (0, p), (0, 0)), constant_values=pad_value)


def _show_grid(grid, path, title, cmap):
    """Draw an (H, W, C) grid at an integer zoom (crisp pixels); save; return the figure."""
    gh, gw = grid.shape[:2]
    zoom = int(np.clip(640 // max(gh, gw), 1, 8))
    title_h = 0.35 if title else 0.0
    fig = new_figure(max(gw * zoom / DPI, 2.0), gh * zoom / DPI + title_h)
    ax = fig.add_subplot()
    if grid.shape[2] == 1:
        ax.imshow(grid[..., 0], cmap=cmap, vmin=0.0, vmax=1.0, interpolation='nearest')
    else:
        ax.imshow(grid, interpolation='nearest')
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return save(fig, path)


def image_grid(images, nrow=8, path=None, title=None, value_range=None, padding=2,
               cmap='gray'):
    """Draw a batch of images as a grid (see ``make_grid``), save it to ``path`` as a
    PNG when given, and return the figure. Grey images use ``cmap``."""
    grid = make_grid(images, nrow, padding, value_range)
    return _show_grid(grid, path, title, cmap)


def latent_traversal(decoder_fn, z, dims=None, values=None, path=None, title=None,
                     value_range=None, cmap='gray'):
    """Decode sweeps of single latent dimensions and draw them as a grid.

    decoder_fn: maps a float32 NumPy batch of latent codes (B, D) to images (NumPy or
    Tensor; any layout ``make_grid`` accepts). z: the base code (D,). Row r sets
    z[dims[r]] to each of ``values`` (default -3..3 in 9 steps) in turn, leaving the
    other coordinates at z. dims defaults to the first (up to) 10 dimensions.
    Returns the figure.
    """
    fn = 'latent_traversal'
    z = host_array(z, np.float32, f"{fn}: z").reshape(-1)
    dims = list(range(min(len(z), 10))) if dims is None else [int(d) for d in dims]
    values = np.linspace(-3.0, 3.0, 9) if values is None else host_array(values, None, f"{fn}: values")
    for d in dims:
        if not 0 <= d < len(z):
            raise ValueError(f"{fn}: dimension {d} is out of range for a latent of size {len(z)}")
    codes = np.tile(z, (len(dims), len(values), 1))
    codes[np.arange(len(dims)), :, dims] = values
    images = decoder_fn(codes.reshape(-1, len(z)))
    grid = make_grid(images, nrow=len(values), value_range=value_range)
    return _show_grid(grid, path, title, cmap)
