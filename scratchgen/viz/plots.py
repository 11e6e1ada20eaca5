"""2-D plots (samples, densities) and training curves."""
import numpy as np

from ..autograd.creation import host_array
from ._figure import new_figure, save

__all__ = ['scatter2d', 'density2d', 'density_image', 'training_curves', 'moving_average']


def _point_sets(data, fn):
    """An (N, 2) array, a dict label -> points, or a list of (points, label) pairs ->
    list of (points (N, 2), label or None)."""
    if isinstance(data, dict):
        data = [(pts, label) for label, pts in data.items()]
    elif not (isinstance(data, list) and data and isinstance(data[0], tuple)
              and len(data[0]) == 2 and isinstance(data[0][1], (str, type(None)))):
        data = [(data, None)]            # one set of points (not (points, label) pairs)
    sets = []
    for pts, label in data:
        a = host_array(pts, np.float64, f"{fn}: points")
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"{fn}: points must have shape (N, 2), got {a.shape}"
                             + (f" for {label!r}" if label is not None else ''))
        sets.append((a, label))
    return sets


def _limits(lim, points):
    if lim is not None:
        return tuple(lim)
    lo, hi = float(points.min()), float(points.max())
    pad = 0.05 * (hi - lo) or 1.0
    return lo - pad, hi + pad


def scatter2d(data, path=None, title=None, lim=None, means=None, s=4.0, alpha=0.5,
              size=5.0):
    """Scatter plot of 2-D points with equal axes; save as PNG when ``path``; return it.

    data: points (N, 2), a list of (points, label) pairs or a dict label -> points
    (each set gets its own colour and a legend entry). lim: (low, high) for both axes
    (default: the data's extent). means: optional (K, 2) mode centres drawn as crosses.
    """
    fn = 'scatter2d'
    sets = _point_sets(data, fn)
    fig = new_figure(size, size)
    ax = fig.add_subplot()
    for pts, label in sets:
        ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=alpha, label=label, linewidths=0)
    if means is not None:
        m = host_array(means, np.float64, f"{fn}: means")
        ax.scatter(m[:, 0], m[:, 1], marker='x', c='k', s=30, label='modes')
    lo, hi = _limits(lim, np.concatenate([p for p, _ in sets]))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect('equal')
    if any(label is not None for _, label in sets) or means is not None:
        legend = ax.legend(loc='upper right', fontsize=8)
        for handle in legend.legend_handles:     # legend dots readable whatever s is
            handle.set_sizes([20.0])
            handle.set_alpha(1.0)
    if title:
        ax.set_title(title, fontsize=10)
    return save(fig, path)


def density_image(source, lim=None, resolution=200, log=False):
    """The array ``density2d`` draws: ``(image, (low, high))`` with image[i, j] the
    density (or log-density) at y = row i, x = column j, rows going up in y."""
    fn = 'density2d'
    if callable(source):
        lo, hi = (-4.0, 4.0) if lim is None else map(float, lim)
        ticks = np.linspace(lo, hi, resolution, dtype=np.float32)
        gx, gy = np.meshgrid(ticks, ticks)        # row i has y = ticks[i]
        pts = np.stack([gx.ravel(), gy.ravel()], 1)
        logp = host_array(source(pts), np.float64, f"{fn}: log-density")
        if logp.size != len(pts):
            raise ValueError(f"{fn}: the function returned {logp.size} values for "
                             f"{len(pts)} points; expected one log-density per point")
        logp = logp.reshape(resolution, resolution)
        return (logp if log else np.exp(logp)), (lo, hi)
    pts = _point_sets(source, fn)[0][0]
    lo, hi = _limits(lim, pts)
    hist, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=resolution,
                                range=[[lo, hi], [lo, hi]], density=True)
    if log:                                    # empty bins stay blank (NaN)
        with np.errstate(divide='ignore'):
            hist = np.where(hist > 0, np.log(hist), np.nan)
    return hist, (lo, hi)


def density2d(source, path=None, title=None, lim=None, resolution=200, log=False,
              size=5.0):
    """Heat map of a 2-D density; save as PNG when ``path``; return the figure.

    source: either a function mapping a float32 NumPy array of points (M, 2) to their
    log-densities (M,) (NumPy or Tensor), evaluated on a ``resolution`` x ``resolution``
    grid, or samples (N, 2), shown as a normalised 2-D histogram with ``resolution``
    bins per axis. lim: (low, high) for both axes (default (-4, 4) for a function, the
    samples' extent for samples). log: show log-density instead of density.
    """
    image, (lo, hi) = density_image(source, lim, resolution, log)
    fig = new_figure(size, size)
    ax = fig.add_subplot()
    ax.imshow(image, origin='lower', extent=(lo, hi, lo, hi), cmap='viridis',
              interpolation='bilinear' if callable(source) else 'nearest')
    ax.set_aspect('equal')
    if title:
        ax.set_title(title, fontsize=10)
    return save(fig, path)


def moving_average(v, window):
    """Centred moving average: the mean of the ``window`` values around each step
    (fewer at the ends), so the smoothed curve does not lag behind the raw one."""
    c = np.cumsum(np.r_[0.0, v])
    k = np.arange(len(v))
    lo = np.maximum(k - window // 2, 0)
    hi = np.minimum(k - window // 2 + window, len(v))
    return (c[hi] - c[lo]) / (hi - lo)


def training_curves(curves, path=None, title=None, smooth=0, logy=False, xlabel='step'):
    """One panel per curve; save as PNG when ``path``; return the figure.

    curves: dict name -> values (a list/array, one per step) or (steps, values).
    smooth: window of a centred moving average drawn over the faded raw curve (0 = none;
    noisy GAN losses read better with e.g. 50); capped at a fifth of the curve's length
    so short curves keep their shape. logy: logarithmic y axis.
    """
    fn = 'training_curves'
    if not isinstance(curves, dict) or not curves:
        raise TypeError(f"{fn}: curves must be a non-empty dict name -> list of values")
    ncols = min(3, len(curves))
    nrows = -(-len(curves) // ncols)
    fig = new_figure(4.0 * ncols, 3.0 * nrows + (0.3 if title else 0.0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, series) in zip(axes, curves.items()):
        if isinstance(series, tuple) and len(series) == 2:
            steps, values = (host_array(a, np.float64, f"{fn}: {name}") for a in series)
        else:
            values = host_array(series, np.float64, f"{fn}: {name}")
            steps = np.arange(len(values))
        if values.ndim != 1 or steps.shape != values.shape:
            raise ValueError(f"{fn}: curve {name!r} must be 1-D values (with matching "
                             f"steps), got values {values.shape} and steps {steps.shape}")
        window = min(int(smooth), len(values) // 5)
        if window > 1:
            ax.plot(steps, values, alpha=0.3, color='C0')
            ax.plot(steps, moving_average(values, window), color='C0')
        else:
            ax.plot(steps, values, color='C0')
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        if logy:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
    for ax in axes[len(curves):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return save(fig, path)
