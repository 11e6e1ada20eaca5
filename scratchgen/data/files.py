"""A user's own data for the demos (``--data PATH``): checked, with errors that name the
file, what it holds and the shape that was expected.

    load_points(path, dim=2)   a .npy (or .npz with ``points``) of shape (N, dim)
    load_images(path)          a .npz with ``images`` (N, H, W) or (N, C, H, W) in [0, 1]
                               and optional integer ``labels`` (N,)
    load_categories(path)      a .npy of integer category indices (N, d), one row per sample
    load_text(path)            a UTF-8 text file
"""
import os

import numpy as np

__all__ = ['load_points', 'load_images', 'load_categories', 'load_text', 'DataFileError']


class DataFileError(ValueError):
    """A data file that cannot be used: missing, unreadable, or of the wrong shape."""


def _open(path, who, expected):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFileError(f"{who}: no file at {path!r}; expected {expected}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataFileError(f"{who}: cannot read {path!r} as a NumPy .npy/.npz file ({e}); "
                            f"expected {expected}") from None


def _finite_float(a, path, who, what):
    if a.dtype.kind not in 'biuf':
        raise DataFileError(f"{who}: {what} in {path!r} has dtype {a.dtype}; expected numbers")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise DataFileError(f"{who}: {what} in {path!r} contains NaN or inf")
    return a


def load_points(path, dim=2):
    """Points (N, dim) as float32 from a .npy, or from the ``points`` array of a .npz."""
    who, expected = 'load_points', f"an array of shape (N, {dim}) of finite numbers"
    a = _open(path, who, expected)
    if isinstance(a, np.lib.npyio.NpzFile):
        with a:
            if 'points' not in a.files:
                raise DataFileError(f"{who}: {path!r} holds {sorted(a.files)} but no 'points'; "
                                    f"expected {expected} (a .npy, or a .npz with 'points')")
            a = a['points']
    if a.ndim != 2 or a.shape[1] != dim or len(a) < 2:
        raise DataFileError(f"{who}: {path!r} holds an array of shape {a.shape}; expected "
                            f"{expected}, N >= 2")
    return _finite_float(a, path, who, 'the points')


def load_images(path):
    """``(images, labels)`` from a .npz: images float32 (N, C, H, W) in [0, 1] (a grey
    (N, H, W) array gets C = 1), labels int64 (N,) or None when the file has none."""
    who = 'load_images'
    expected = "a .npz with 'images' of shape (N, H, W) or (N, C, H, W) in [0, 1] " \
               "(and optional integer 'labels' of shape (N,))"
    f = _open(path, who, expected)
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise DataFileError(f"{who}: {path!r} is a single array, not a .npz archive; expected "
                            f"{expected}")
    with f:
        if 'images' not in f.files:
            raise DataFileError(f"{who}: {path!r} holds {sorted(f.files)} but no 'images'; "
                                f"expected {expected}")
        x = f['images']
        labels = f['labels'] if 'labels' in f.files else None
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or len(x) < 2 or min(x.shape[2:]) < 4 or x.shape[1] > 4:
        raise DataFileError(f"{who}: 'images' in {path!r} has shape {x.shape}; expected "
                            f"{expected}, N >= 2, H, W >= 4, C <= 4")
    x = _finite_float(x, path, who, "'images'")
    if x.min() < 0.0 or x.max() > 1.0:
        raise DataFileError(f"{who}: 'images' in {path!r} range over [{x.min():.3g}, "
                            f"{x.max():.3g}]; expected values in [0, 1] (divide 8-bit images "
                            "by 255)")
    if labels is not None:
        if labels.shape != (len(x),) or labels.dtype.kind not in 'iu' or labels.min() < 0:
            raise DataFileError(f"{who}: 'labels' in {path!r} has shape {labels.shape} and dtype "
                                f"{labels.dtype}; expected non-negative integers of shape "
                                f"({len(x)},), one per image")
        labels = labels.astype(np.int64)
    return x, labels


def load_categories(path):
    """Category indices int64 (N, d) from a .npy: row i is sample i, column k its value of
    feature k, a non-negative integer (0 .. d_k - 1)."""
    who, expected = 'load_categories', "a .npy of non-negative integers of shape (N, d), N >= 2"
    a = _open(path, who, expected)
    if isinstance(a, np.lib.npyio.NpzFile):
        a.close()
        raise DataFileError(f"{who}: {path!r} is a .npz archive; expected {expected}")
    if a.ndim != 2 or len(a) < 2 or a.shape[1] < 1:
        raise DataFileError(f"{who}: {path!r} holds an array of shape {a.shape}; expected {expected}")
    if a.dtype.kind not in 'iu':
        raise DataFileError(f"{who}: {path!r} holds dtype {a.dtype}; expected {expected}")
    if a.min() < 0:
        i, j = (int(v) for v in np.argwhere(a < 0)[0])
        raise DataFileError(f"{who}: {path!r}[{i}, {j}] = {a[i, j]} is negative; expected {expected}")
    return a.astype(np.int64)


def load_text(path, min_chars=1):
    """The contents of a UTF-8 text file, at least ``min_chars`` characters long."""
    who, expected = 'load_text', "a UTF-8 text file"
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFileError(f"{who}: no file at {path!r}; expected {expected}")
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DataFileError(f"{who}: cannot read {path!r} as UTF-8 text ({e}); "
                            f"expected {expected}") from None
    if len(text) < min_chars:
        raise DataFileError(f"{who}: {path!r} holds {len(text)} characters; expected {expected} "
                            f"of at least {min_chars:,}")
    return text
