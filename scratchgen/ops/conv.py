"""Convolution, pooling and nearest-neighbour resizing of NCHW tensors (PyTorch semantics).

conv2d by im2col: the padded input is read through kh*kw shifted, strided views, one
per kernel offset, stacked into ``cols`` of shape (N, C, kh, kw, Ho, Wo); one batched
matmul with the weight, viewed as (groups, O/groups, C/groups*kh*kw), then gives the
output directly in NCHW. conv_transpose2d is its adjoint: one matmul spreads every
input pixel over the kernel (``cols`` again), and col2im adds each offset's slice back
onto a zero canvas at the shifted, strided positions. Both read the same geometry:

    padding is per side, ((top, bottom), (left, right)), and *exact*: the padded input
    is exactly the region the kernel windows cover, (out - 1) * stride + dilation *
    (k - 1) + 1 rows. A negative bottom/right amount drops rows no window reaches;
    conv_transpose2d's output_padding is such a negative amount seen from the other side.

With exact padding the three Functions are adjoint to one another with *the same*
options, so every derivative is one of them again and can be differentiated again:

    Conv2d(x, w)            dx = ConvTranspose2d(gy, w)     dw = Conv2dWeightGrad(x, gy)
    ConvTranspose2d(x, w)   dx = Conv2d(gy, w)              dw = Conv2dWeightGrad(gy, x)
    Conv2dWeightGrad(x, gy) dx = ConvTranspose2d(gy, ggw)   dgy = Conv2d(x, ggw)

Pooling uses the same windows: max_pool2d remembers which kernel offset won in each
window, and its gradient is a scatter to those positions (MaxPool2dScatter) whose own
gradient is the matching gather (MaxPool2dGather). avg_pool2d is linear; its gradient
AvgPool2dScatter has avg_pool2d as gradient. interpolate (nearest) is a gather with
precomputed source rows and columns; its gradient adds back to the sources.

Where the channels are wide and the images small (groups 1, at least ``WIDE_CHANNELS``
channels on the side that im2col/col2im copies, at most ``WIDE_MAX_PIXELS`` pixels in
the per-sample product), the three Functions instead work channels-last: the windows
are copied as (N, Ho, Wo, kh, kw, C) blocks whose innermost axis is the contiguous
channel axis, and each product is *one* GEMM over all N * Ho * Wo pixels (the weight
gradient too, with no sum over the batch afterwards). The batch-major layout wins when
C is small (a 1-channel image's inner runs would be one float) or the images large
(its per-sample products are then big enough, and NCHW <-> NHWC copies cost more);
measured in docs/benchmarks.md.

At stride 1, conv_transpose2d is computed as a conv2d instead: the same map is a
correlation of its input, padded by the kernel's span less ``padding``, with the kernel
flipped and its in/out channels swapped (``_flipped``, ``_full_pads``). im2col's copies
then replace col2im's read-add-writes, which cost twice as much (docs/benchmarks.md).

On the host the batch-major path builds ``cols`` for a block of samples at a time, about
``backend.CACHE_BLOCK_BYTES`` (1 MB) each, and multiplies it right away, while it is
still in cache; a GPU takes the whole batch as one block.

Loops run over kernel offsets and those blocks, never over pixels.
"""
import math
import numbers
import struct

from .. import backend
from ..autograd import Function
from ..checks import int_pair, positive_int


__all__ = ['conv2d', 'conv_transpose2d', 'max_pool2d', 'avg_pool2d', 'interpolate',
           'upsample_nearest']


# ----------------------------------------------------------------------------- windows
def _offsets(kernel):
    """Kernel offsets (i, j) in row-major order (max_pool2d's tie order)."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _window(a, i, j, stride, dilation, out_hw):
    """The strided view of padded ``a`` that kernel offset (i, j) sees at every output pixel."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    return a[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]


def _pad(a, pads, value=0.0, contiguous=False):
    """Pad the last two axes by ((top, bottom), (left, right)) with ``value``; a negative
    amount crops. Returns ``a`` itself when there is nothing to do (a contiguous copy of
    it if ``contiguous``)."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return backend.xp_of(a).ascontiguousarray(a) if contiguous else a
    h, w = a.shape[-2:]
    out = backend.xp_of(a).full(a.shape[:-2] + (h + top + bottom, w + left + right), value,
                                dtype=a.dtype)
    kept = a[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    r, c = max(top, 0), max(left, 0)
    out[..., r:r + kept.shape[-2], c:c + kept.shape[-1]] = kept
    return out


def _negate(pads):
    return tuple((-a, -b) for a, b in pads)


def _im2col(xpad, kernel, stride, dilation, out_hw):
    """cols[n, c, i, j] = the window of offset (i, j): shape (N, C, kh, kw, Ho, Wo)."""
    n, c = xpad.shape[:2]
    cols = backend.xp_of(xpad).empty((n, c) + tuple(kernel) + tuple(out_hw), dtype=xpad.dtype)
    for i, j in _offsets(kernel):
        cols[:, :, i, j] = _window(xpad, i, j, stride, dilation, out_hw)
    return cols


def _col2im(cols, canvas_hw, stride, dilation):
    """Adjoint of _im2col: add each offset's slice back onto a zero canvas. One window
    never repeats a position, so the in-place += on its view is exact."""
    n, c, kh, kw, ho, wo = cols.shape
    canvas = backend.xp_of(cols).zeros((n, c) + tuple(canvas_hw), dtype=cols.dtype)
    for i, j in _offsets((kh, kw)):
        view = _window(canvas, i, j, stride, dilation, (ho, wo))
        view += cols[:, :, i, j]
    return canvas


# ----------------------------------------------------------------------------- wide: channels-last
WIDE_CHANNELS = 8      # the channels-last, one-GEMM path from this many channels ...
WIDE_MAX_PIXELS = 144  # ... up to this many pixels per sample in the product


def _wide(channels, pixels, groups):
    return groups == 1 and channels >= WIDE_CHANNELS and pixels <= WIDE_MAX_PIXELS


def _to_nhwc_padded(x, pads):
    """NCHW ``x`` -> a new NHWC array padded (or cropped) by ((top, bottom), (left, right))."""
    (top, bottom), (left, right) = pads
    n, c, h, w = x.shape
    out = backend.xp_of(x).zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    kept = x[:, :, max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    r, q = max(top, 0), max(left, 0)
    out[:, r:r + kept.shape[2], q:q + kept.shape[3], :] = kept.transpose(0, 2, 3, 1)
    return out


def _window_nhwc(a, i, j, stride, dilation, out_hw):
    """_window for an NHWC array: (N, Ho, Wo, C)."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    return a[:, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw, :]


def _im2col_rows(x, kernel, stride, padding, dilation, out_hw):
    """Rows of windows: (N * Ho * Wo, kh * kw * C), columns ordered (kh, kw, C)."""
    xpad = _to_nhwc_padded(x, padding)
    n, c = x.shape[:2]
    cols = backend.xp_of(x).empty((n,) + tuple(out_hw) + tuple(kernel) + (c,), dtype=x.dtype)
    for i, j in _offsets(kernel):
        cols[:, :, :, i, j, :] = _window_nhwc(xpad, i, j, stride, dilation, out_hw)
    return cols.reshape(n * out_hw[0] * out_hw[1], -1)


def _rows_of(a):
    """NCHW (N, C, H, W) -> (N * H * W, C), one copy."""
    n, c, h, w = a.shape
    return backend.xp_of(a).ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


def _nchw(rows, n, hw):
    """(N * H * W, C) -> a contiguous NCHW array."""
    xp = backend.xp_of(rows)
    return xp.ascontiguousarray(rows.reshape((n,) + tuple(hw) + (-1,)).transpose(0, 3, 1, 2))


def _w_rows(w):
    """A weight (A, B, kh, kw) as (A, kh * kw * B): the (kh, kw, C) column order."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _span(k, d):
    """Rows covered by a kernel of size k with dilation d."""
    return d * (k - 1) + 1


def _out_hw(padded_hw, kernel, stride, dilation):
    return tuple((p - _span(k, d)) // s + 1
                 for p, k, s, d in zip(padded_hw, kernel, stride, dilation))


def _padded_hw(hw, pads):
    return tuple(h + a + b for h, (a, b) in zip(hw, pads))


# ----------------------------------------------------------------------------- convolution
def _correlate(x, w, b, stride, padding, dilation, groups):
    """Conv2d's forward on arrays: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None."""
    n, g, o = x.shape[0], groups, w.shape[0]
    out_hw = _out_hw(_padded_hw(x.shape[2:], padding), w.shape[2:], stride, dilation)
    if _wide(x.shape[1], out_hw[0] * out_hw[1], g):   # one (N Ho Wo, K) @ (K, O) GEMM
        cols = _im2col_rows(x, w.shape[2:], stride, padding, dilation, out_hw)
        rows = backend.matmul(cols, _w_rows(w).T)
        if b is not None:
            rows += b
        return _nchw(rows, n, out_hw)
    xp, xpad, p = backend.xp_of(x), _pad(x, padding), out_hw[0] * out_hw[1]
    wg = w.reshape(g, o // g, -1)
    y = xp.empty((n, o) + out_hw, dtype=xp.result_type(x, w))
    for s in backend.batch_blocks(x, n, x.itemsize * wg.shape[2] * g * p):
        cols = _im2col(xpad[s], w.shape[2:], stride, dilation, out_hw)   # still in cache:
        m = cols.shape[0]                                                 # (m, G, K, HoWo)
        backend.matmul(wg, cols.reshape(m, g, -1, p), out=y[s].reshape(m, g, o // g, p))
    if b is not None:
        y += b.reshape(o, 1, 1)
    return y


def _flipped(w, groups):
    """A conv_transpose2d weight (C, O/groups, kh, kw) as the conv2d weight
    (O, C/groups, kh, kw) of the same map at stride 1: in and out swapped within each
    group, the kernel turned by 180 degrees."""
    c, og, kh, kw = w.shape
    wg = w.reshape(groups, c // groups, og, kh, kw).swapaxes(1, 2)
    return backend.xp_of(w).ascontiguousarray(
        wg.reshape(groups * og, c // groups, kh, kw)[:, :, ::-1, ::-1])


def _full_pads(padding, kernel, dilation):
    """The padding that makes conv2d with the flipped kernel a stride-1 conv_transpose2d
    cropped by ``padding``: the kernel's span less one, less the crop, on each side."""
    return tuple((_span(k, d) - 1 - a, _span(k, d) - 1 - z)
                 for (a, z), k, d in zip(padding, kernel, dilation))


class Conv2d(Function):
    """y = conv2d(x, w) + b for x (N, C, H, W), w (O, C/groups, kh, kw), optional b (O,).

    ``padding`` is exact and per side (module docstring)."""

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w, b=None):
        return _correlate(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gy):
        x, w = self.inputs[:2]
        opts = (self.stride, self.padding, self.dilation, self.groups)
        gx = ConvTranspose2d(*opts)(gy, w) if x.requires_grad else None
        gw = Conv2dWeightGrad(w.shape[2:], *opts)(x, gy) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if self.inputs[2].requires_grad else None


TRANSPOSE_AS_CORRELATION = True   # stride-1 ConvTranspose2d as a Conv2d (False: col2im,
                                  # the path it replaced; bench/paired.py unet compares)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b for x (N, C, H, W), w (C, O/groups, kh, kw): the
    adjoint of Conv2d with the same options. The canvas that col2im fills is cropped by
    ``padding`` (a negative amount extends it with zeros: output_padding)."""

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w, b=None):
        if tuple(self.stride) == (1, 1) and TRANSPOSE_AS_CORRELATION:
            # At stride 1 the adjoint is itself a correlation (flipped kernel, padded
            # input): im2col's plain copies then replace col2im's nine read-add-writes,
            # over the input's channels rather than the output's (half the time or less).
            return _correlate(x, _flipped(w, self.groups), b, (1, 1),
                              _full_pads(self.padding, w.shape[2:], self.dilation),
                              self.dilation, self.groups)
        n, c, h, wd = x.shape
        g, (og, kh, kw) = self.groups, w.shape[1:]
        canvas_hw = tuple((i - 1) * s + _span(k, d) for i, k, s, d in
                          zip((h, wd), (kh, kw), self.stride, self.dilation))
        if _wide(og, h * wd, g):                      # one (N H W, C) @ (C, kh kw O) GEMM
            cols = backend.matmul(_rows_of(x), _w_rows(w)).reshape(n, h, wd, kh, kw, og)
            canvas = self.xp_of(x).zeros((n,) + canvas_hw + (og,), dtype=cols.dtype)
            for i, j in _offsets((kh, kw)):
                view = _window_nhwc(canvas, i, j, self.stride, self.dilation, (h, wd))
                view += cols[:, :, :, i, j, :]
            y = _pad(canvas.transpose(0, 3, 1, 2), _negate(self.padding), contiguous=True)
            if b is not None:
                y += b.reshape(-1, 1, 1)
            return y
        wt = w.reshape(g, c // g, og * kh * kw).swapaxes(1, 2)      # (G, O/G*kh*kw, C/G)
        cols = backend.matmul(backend.xp_of(w).ascontiguousarray(wt),
                              x.reshape(n, g, c // g, h * wd))
        cols = cols.reshape(n, g * og, kh, kw, h, wd)
        y = _pad(_col2im(cols, canvas_hw, self.stride, self.dilation), _negate(self.padding))
        if b is not None:
            y += b.reshape(-1, 1, 1)
        return y

    def backward(self, gy):
        x, w = self.inputs[:2]
        opts = (self.stride, self.padding, self.dilation, self.groups)
        gx = Conv2d(*opts)(gy, w) if x.requires_grad else None
        gw = Conv2dWeightGrad(w.shape[2:], *opts)(gy, x) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if self.inputs[2].requires_grad else None


class Conv2dWeightGrad(Function):
    """dL/dw of conv2d(x, w) given gy = dL/dy: every kernel offset's window of x,
    correlated with gy over batch and pixels. Shape (O, C/groups, kh, kw)."""

    def __init__(self, kernel_size, stride, padding, dilation, groups):
        self.kernel_size = tuple(kernel_size)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, gy):
        (n, c), (o, ho, wo), g = x.shape[:2], gy.shape[1:], self.groups
        if _wide(c, ho * wo, g):                      # one (O, N Ho Wo) @ (N Ho Wo, K) GEMM
            cols = _im2col_rows(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                (ho, wo))
            gw = backend.matmul(_rows_of(gy).T, cols).reshape((o,) + self.kernel_size + (c,))
            return self.xp_of(gw).ascontiguousarray(gw.transpose(0, 3, 1, 2))
        xpad, p, k = _pad(x, self.padding), ho * wo, c * math.prod(self.kernel_size)
        gys, gwt = gy.reshape(n, g, o // g, p).swapaxes(2, 3), 0
        for s in backend.batch_blocks(x, n, x.itemsize * k * p):
            cols = _im2col(xpad[s], self.kernel_size, self.stride, self.dilation, (ho, wo))
            cols = cols.reshape(cols.shape[0], g, -1, p)                  # still in cache
            gwt = gwt + backend.matmul(cols, gys[s]).sum(axis=0)          # (G, K, O/G)
        return gwt.swapaxes(1, 2).reshape((o, c // g) + self.kernel_size)

    def backward(self, ggw):
        x, gy = self.inputs
        opts = (self.stride, self.padding, self.dilation, self.groups)
        gx = ConvTranspose2d(*opts)(gy, ggw) if x.requires_grad else None
        ggy = Conv2d(*opts)(x, ggw) if gy.requires_grad else None
        return gx, ggy


# ----------------------------------------------------------------------------- pooling
class MaxPool2d(Function):
    """Max over each window; remembers which offset won (the first in row-major order
    on ties, as PyTorch; NaN wins, so it propagates)."""

    def __init__(self, kernel_size, stride, padding, dilation):
        self.kernel_size, self.stride, self.padding, self.dilation = \
            kernel_size, stride, padding, dilation

    def forward(self, x):
        xp = self.xp_of(x)
        xpad = _pad(x, self.padding, value=-math.inf)
        out_hw = _out_hw(xpad.shape[2:], self.kernel_size, self.stride, self.dilation)
        best, self.winner = None, None
        for k, (i, j) in enumerate(_offsets(self.kernel_size)):
            v = _window(xpad, i, j, self.stride, self.dilation, out_hw)
            if best is None:
                best, self.winner = v.copy(), xp.zeros(v.shape, dtype=xp.int32)
                continue
            better = (v > best) | xp.isnan(v)
            best = xp.where(better, v, best)
            self.winner[better] = k
        return best

    def backward(self, gy):
        x = self.inputs[0]
        return MaxPool2dScatter(self.winner, x.shape[2:], self.kernel_size, self.stride,
                                self.padding, self.dilation)(gy)


class _MaxPoolRoute(Function, register=False):
    """Shared options of the two linear maps along max_pool2d's winners: ``winner``
    (the winning offset per output pixel) and the input's (H, W)."""

    def __init__(self, winner, in_hw, kernel_size, stride, padding, dilation):
        self.winner, self.in_hw = winner, tuple(in_hw)
        self.kernel_size, self.stride, self.padding, self.dilation = \
            kernel_size, stride, padding, dilation

    def _opts(self):
        return (self.winner, self.in_hw, self.kernel_size, self.stride, self.padding,
                self.dilation)


class MaxPool2dScatter(_MaxPoolRoute):
    """Input-shaped array holding each output pixel's value at its window's winner
    (summed where windows overlap): max_pool2d's gradient."""

    def forward(self, gy):
        canvas_hw = _padded_hw(self.in_hw, self.padding)
        canvas = self.xp_of(gy).zeros(gy.shape[:2] + canvas_hw, dtype=gy.dtype)
        for k, (i, j) in enumerate(_offsets(self.kernel_size)):
            view = _window(canvas, i, j, self.stride, self.dilation, gy.shape[2:])
            # where, not gy * mask: an inf in gy would put inf * 0 = nan on the losers
            view += self.xp_of(gy).where(self.winner == k, gy, 0.0)
        return _pad(canvas, _negate(self.padding))

    def backward(self, ggx):
        return MaxPool2dGather(*self._opts())(ggx)


class MaxPool2dGather(_MaxPoolRoute):
    """Each output pixel reads the input at its window's winner (adjoint of the scatter)."""

    def forward(self, a):
        xp = self.xp_of(a)
        apad = _pad(a, self.padding)
        out = xp.zeros(a.shape[:2] + self.winner.shape[2:], dtype=a.dtype)
        for k, (i, j) in enumerate(_offsets(self.kernel_size)):
            v = _window(apad, i, j, self.stride, self.dilation, out.shape[2:])
            out = xp.where(self.winner == k, v, out)
        return out

    def backward(self, gy):
        return MaxPool2dScatter(*self._opts())(gy)


class AvgPool2d(Function):
    """Sum over each window divided by ``divisor`` (a number, or an (Ho, Wo) array when
    windows count different numbers of elements)."""

    def __init__(self, kernel_size, stride, padding, divisor):
        self.kernel_size, self.stride, self.padding, self.divisor = \
            kernel_size, stride, padding, divisor

    def forward(self, x):
        xpad = _pad(x, self.padding)
        out_hw = _out_hw(xpad.shape[2:], self.kernel_size, self.stride, (1, 1))
        total = sum(_window(xpad, i, j, self.stride, (1, 1), out_hw)
                    for i, j in _offsets(self.kernel_size))
        return total / self.divisor

    def backward(self, gy):
        x = self.inputs[0]
        return AvgPool2dScatter(x.shape[2:], self.kernel_size, self.stride, self.padding,
                                self.divisor)(gy)


class AvgPool2dScatter(Function):
    """Adjoint of avg_pool2d: each output pixel's value / divisor added over its window."""

    def __init__(self, in_hw, kernel_size, stride, padding, divisor):
        self.in_hw = tuple(in_hw)
        self.kernel_size, self.stride, self.padding, self.divisor = \
            kernel_size, stride, padding, divisor

    def forward(self, gy):
        share = gy / self.divisor
        canvas = self.xp_of(gy).zeros(gy.shape[:2] + _padded_hw(self.in_hw, self.padding),
                                      dtype=share.dtype)
        for i, j in _offsets(self.kernel_size):
            view = _window(canvas, i, j, self.stride, (1, 1), gy.shape[2:])
            view += share
        return _pad(canvas, _negate(self.padding))

    def backward(self, ggx):
        return AvgPool2d(self.kernel_size, self.stride, self.padding, self.divisor)(ggx)


# ----------------------------------------------------------------------------- resizing
class InterpolateNearest(Function):
    """y[n, c, i, j] = x[n, c, rows[i], cols[j]] with precomputed source indices.

    ``rows``/``cols`` are Python lists of source indices (non-decreasing)."""

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols

    def forward(self, x):
        xp = self.xp_of(x)
        return x[:, :, xp.asarray(self.rows)[:, None], xp.asarray(self.cols)]

    def backward(self, gy):
        h, w = self.inputs[0].shape[2:]
        return InterpolateNearestScatter(self.rows, self.cols, (h, w))(gy)


class InterpolateNearestScatter(Function):
    """Adjoint of InterpolateNearest: each output pixel added back to its source."""

    def __init__(self, rows, cols, in_hw):
        self.rows, self.cols, self.in_hw = rows, cols, tuple(in_hw)

    def forward(self, gy):
        g = _sum_into(gy, self.cols, self.in_hw[1], axis=3)
        return _sum_into(g, self.rows, self.in_hw[0], axis=2)

    def backward(self, ggx):
        return InterpolateNearest(self.rows, self.cols)(ggx)


def _sum_into(a, src, size, axis):
    """out[.., k, ..] = sum of a[.., j, ..] over the j with src[j] == k, along ``axis``.

    An integer upscale (src[j] == j // s) is s strided slices added together; anything
    else goes through the backend's scatter-add (correct for repeated indices)."""
    lead = (slice(None),) * axis
    s = len(src) // size
    if s * size == len(src) and all(k == j // s for j, k in enumerate(src)):
        return sum(a[lead + (slice(r, None, s),)] for r in range(s))
    xp = backend.xp_of(a)
    out = xp.zeros(a.shape[:axis] + (size,) + a.shape[axis + 1:], dtype=a.dtype)
    return backend.scatter_add(out, lead + (xp.asarray(src),), a)


def _f32(v):
    """Round a Python float to float32: PyTorch computes nearest source indices in float32
    (for its float32 tensors), and float64 arithmetic picks a different row at some sizes."""
    return struct.unpack('f', struct.pack('f', v))[0]


def _nearest_sources(in_size, out_size, scale, exact):
    """Source index of every output row, as PyTorch's 'nearest' / 'nearest-exact'."""
    if not exact and out_size == in_size:
        return list(range(out_size))
    if not exact and out_size == 2 * in_size:
        return [j // 2 for j in range(out_size)]
    step = _f32(1.0 / scale) if scale is not None else _f32(in_size / out_size)
    if exact:
        return [min(math.floor(_f32((j + 0.5) * step)), in_size - 1) for j in range(out_size)]
    return [min(math.floor(_f32(j * step)), in_size - 1) for j in range(out_size)]


# ----------------------------------------------------------------------------- arguments
def _check_4d(fn, x, what='input', layout='(N, C, H, W)'):
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected a 4-d {what} {layout}, got shape {x.shape}")


def _check_bias(fn, bias, channels, weight):
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{fn}: bias of shape {bias.shape} does not match the {channels} "
                         f"output channels of weight {weight.shape}; expected ({channels},)")


def _exact_pads(fn, x, kernel, stride, padding, dilation, ceil_mode=False):
    """Output size and exact per-side pads for symmetric PyTorch ``padding`` (a pair)
    or explicit per-side pads. Rows no window reaches are cropped (floor mode); ceil
    mode adds the rows its last, partial window needs."""
    pads, out_hw = [], []
    for h, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        top, bottom = p if isinstance(p, tuple) else (p, p)
        free = h + top + bottom - _span(k, d)
        if free < 0:
            raise ValueError(f"{fn}: input of shape {x.shape} padded to {h + top + bottom} rows/cols "
                             f"is smaller than the kernel {tuple(kernel)} (dilation "
                             f"{tuple(dilation)} spans {_span(k, d)})")
        n = (free + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (n - 1) * s >= h + top:     # the last window must start inside
            n -= 1
        out_hw.append(n)
        pads.append((top, (n - 1) * s + _span(k, d) - h - top))
    return tuple(pads), tuple(out_hw)


def _conv_padding(fn, padding, kernel, stride, dilation):
    """PyTorch's padding (int, pair, 'same', 'valid') as per-dim values or side pairs."""
    if isinstance(padding, str):
        if padding == 'valid':
            return (0, 0)
        if padding == 'same':
            if stride != (1, 1):
                raise ValueError(f"{fn}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            # the odd row of an even kernel goes to the bottom/right, as in PyTorch
            return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for k, d in zip(kernel, dilation))
        raise ValueError(f"{fn}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    return int_pair(padding, 'padding', fn, 0)


# ----------------------------------------------------------------------------- functional API
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation) as torch.nn.functional.conv2d.

    input (N, C, H, W); weight (O, C/groups, kh, kw); bias (O,) or None; padding an
    int, a pair, 'same' or 'valid'."""
    fn = 'conv2d'
    _check_4d(fn, input)
    _check_4d(fn, weight, 'weight', '(out_channels, in_channels/groups, kh, kw)')
    positive_int(groups, 'groups', fn)
    o, cg = weight.shape[:2]
    if o % groups:
        raise ValueError(f"{fn}: groups={groups} does not divide the {o} output channels "
                         f"of weight {weight.shape}")
    if input.shape[1] != cg * groups:
        raise ValueError(f"{fn}: input of shape {input.shape} has {input.shape[1]} channels but "
                         f"weight {weight.shape} expects {cg * groups}"
                         + (f" ({cg} per group x {groups} groups)" if groups > 1 else ""))
    _check_bias(fn, bias, o, weight)
    stride = int_pair(stride, 'stride', fn, 1)
    dilation = int_pair(dilation, 'dilation', fn, 1)
    padding = _conv_padding(fn, padding, weight.shape[2:], stride, dilation)
    pads, _ = _exact_pads(fn, input, weight.shape[2:], stride, padding, dilation)
    f = Conv2d(stride, pads, dilation, groups)
    return f(input, weight) if bias is None else f(input, weight, bias)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed 2-d convolution as torch.nn.functional.conv_transpose2d (the gradient
    of conv2d w.r.t. its input). input (N, C, H, W); weight (C, O/groups, kh, kw).
    Output size (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1."""
    fn = 'conv_transpose2d'
    _check_4d(fn, input)
    _check_4d(fn, weight, 'weight', '(in_channels, out_channels/groups, kh, kw)')
    positive_int(groups, 'groups', fn)
    c, og = weight.shape[:2]
    if c % groups:
        raise ValueError(f"{fn}: groups={groups} does not divide the {c} input channels "
                         f"of weight {weight.shape}")
    if input.shape[1] != c:
        raise ValueError(f"{fn}: input of shape {input.shape} has {input.shape[1]} channels but "
                         f"weight {weight.shape} expects {c}")
    _check_bias(fn, bias, og * groups, weight)
    stride = int_pair(stride, 'stride', fn, 1)
    dilation = int_pair(dilation, 'dilation', fn, 1)
    padding = int_pair(padding, 'padding', fn, 0)
    output_padding = int_pair(output_padding, 'output_padding', fn, 0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"{fn}: output_padding {output_padding} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
    pads = tuple((p, p - op) for p, op in zip(padding, output_padding))
    out_hw = [(h - 1) * s + _span(k, d) - p - q for h, k, s, d, (p, q)
              in zip(input.shape[2:], weight.shape[2:], stride, dilation, pads)]
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: input of shape {input.shape} with weight {weight.shape}, "
                         f"padding {padding} and output_padding {output_padding} gives an "
                         f"empty output of size {tuple(out_hw)}")
    f = ConvTranspose2d(stride, pads, dilation, groups)
    return f(input, weight) if bias is None else f(input, weight, bias)


def _pool_args(fn, input, kernel_size, stride, padding, dilation):
    _check_4d(fn, input)
    kernel = int_pair(kernel_size, 'kernel_size', fn, 1)
    stride = kernel if stride is None or stride == () else int_pair(stride, 'stride', fn, 1)
    padding = int_pair(padding, 'padding', fn, 0)
    for p, k, d in zip(padding, kernel, dilation):
        if 2 * p > _span(k, d):      # else a window could lie entirely in the padding
            raise ValueError(f"{fn}: padding {padding} should be at most half of the "
                             f"kernel size {kernel}")
    return kernel, stride, padding


def _window_counts(input, kernel, stride, padding, pads, out_hw, count_include_pad):
    """(Ho, Wo) array: how many counted elements each avg_pool2d window holds. The
    counted region is the input (plus its padding with count_include_pad), never the
    extra rows of ceil mode; pooling its indicator counts them."""
    grow = padding if count_include_pad else (0, 0)
    counted = tuple(h + 2 * g for h, g in zip(input.shape[2:], grow))
    ones = input.xp.ones((1, 1) + counted, dtype=input.dtype)
    ones = _pad(ones, tuple((top - g, bottom - g) for (top, bottom), g in zip(pads, grow)))
    return sum(_window(ones, i, j, stride, (1, 1), out_hw) for i, j in _offsets(kernel))[0, 0]


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over kh x kw windows (torch.nn.functional.max_pool2d). Padding is -inf; the
    gradient goes to the first maximum of each window in row-major order."""
    fn = 'max_pool2d'
    dilation = int_pair(dilation, 'dilation', fn, 1)
    kernel, stride, padding = _pool_args(fn, input, kernel_size, stride, padding, dilation)
    pads, _ = _exact_pads(fn, input, kernel, stride, padding, dilation, ceil_mode)
    return MaxPool2d(kernel, stride, pads, dilation)(input)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over kh x kw windows (torch.nn.functional.avg_pool2d). With
    ``count_include_pad`` the zero padding counts in the mean; the extra rows of
    ``ceil_mode`` never do."""
    fn = 'avg_pool2d'
    kernel, stride, padding = _pool_args(fn, input, kernel_size, stride, padding, (1, 1))
    pads, out_hw = _exact_pads(fn, input, kernel, stride, padding, (1, 1), ceil_mode)
    extra = [bottom - p for (_, bottom), p in zip(pads, padding)]
    if count_include_pad and max(extra) <= 0:
        divisor = float(kernel[0] * kernel[1])      # every window lies in the padded input
    else:
        divisor = _window_counts(input, kernel, stride, padding, pads, out_hw, count_include_pad)
    return AvgPool2d(kernel, stride, pads, divisor)(input)


def interpolate(input, size=None, scale_factor=None, mode='nearest', recompute_scale_factor=None):
    """Resize (N, C, H, W) to ``size`` or by ``scale_factor`` (torch.nn.functional.
    interpolate) with mode 'nearest' or 'nearest-exact'. Source indices follow PyTorch."""
    fn = 'interpolate'
    _check_4d(fn, input)
    if mode not in ('nearest', 'nearest-exact'):
        raise ValueError(f"{fn}: mode {mode!r} is not supported; use 'nearest' or 'nearest-exact'")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: give exactly one of size and scale_factor "
                         f"(got size={size!r}, scale_factor={scale_factor!r})")
    in_hw = input.shape[2:]
    if size is not None:
        out_hw, scales = int_pair(size, 'size', fn, 1), (None, None)
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
        if len(scales) != 2 or not all(isinstance(s, numbers.Real) and s > 0 for s in scales):
            raise ValueError(f"{fn}: scale_factor must be a positive number or a pair, "
                             f"got {scale_factor!r}")
        out_hw = tuple(math.floor(h * float(s)) for h, s in zip(in_hw, scales))
        if min(out_hw) < 1:
            raise ValueError(f"{fn}: scale_factor {scale_factor!r} makes input of shape "
                             f"{input.shape} empty ({out_hw})")
        if recompute_scale_factor:
            scales = (None, None)
    exact = mode == 'nearest-exact'
    rows, cols = (_nearest_sources(i, o, s, exact) for i, o, s in zip(in_hw, out_hw, scales))
    return InterpolateNearest(rows, cols)(input)


def upsample_nearest(input, size=None, scale_factor=None):
    """interpolate(input, size, scale_factor, mode='nearest')."""
    return interpolate(input, size, scale_factor, mode='nearest')


TENSOR_METHODS = {}
