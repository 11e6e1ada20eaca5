"""Convolution, pooling and resizing: forward against direct NumPy loops, first and
second derivatives of every Function, forward (and first derivatives) against PyTorch,
dtypes, and the error messages."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.functional as F
from scratchgen.ops import conv as conv_ops
from helpers import OpCase, Spec, check_case


def vjp(f, wrt=0):
    """fn(*inputs, v) = v . d f(*inputs) / d inputs[wrt], built with create_graph so it
    is differentiable again. It runs f's gradient Functions forward, e.g.
    vjp(conv2d, wrt=1) is Conv2dWeightGrad and vjp(max_pool2d) is MaxPool2dScatter."""
    def fn(*args):
        *xs, v = args
        with sg.enable_grad():       # gradcheck evaluates under no_grad
            return sg.grad(f(*xs), xs[wrt], v, create_graph=True)[0]
    return fn


def conv(**opts):
    return lambda x, w, b=None: F.conv2d(x, w, b, **opts)


def convT(**opts):
    return lambda x, w, b=None: F.conv_transpose2d(x, w, b, **opts)


# ----------------------------------------------------------------------------- NumPy references
# Direct loops over output (or input) positions, written from PyTorch's definitions, for
# the small shapes of the cases below. Options as in torch.nn.functional.
def _two(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, i, j] = b[o] + sum over the group's channels c and taps (p, q) of
    w[o, c, p, q] * x_padded[n, c, i * sh + p * dh, j * sw + q * dw]."""
    (sh, sw), (dh, dw), (kh, kw) = _two(stride), _two(dilation), w.shape[2:]
    if padding == 'same':            # the odd row/col of an even kernel goes last
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in ((kh, dh), (kw, dw))]
    else:
        pads = [(p, p) for p in _two(padding)]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    out_c, cg = w.shape[:2]
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], out_c, oh, ow))
    for o in range(out_c):
        g = o // (out_c // groups)
        for i in range(oh):
            for j in range(ow):
                window = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                            j * sw:j * sw + dw * (kw - 1) + 1:dw]
                y[:, o, i, j] = (window * w[o]).sum((1, 2, 3))
    return y if b is None else y + b[:, None, None]


def np_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Every input pixel x[n, c, i, j] adds x[n, c, i, j] * w[c] onto the output of its
    group at rows i * sh + p * dh, cols j * sw + q * dw; then padding is cropped."""
    (sh, sw), (dh, dw), (kh, kw) = _two(stride), _two(dilation), w.shape[2:]
    (ph, pw), (oph, opw) = _two(padding), _two(output_padding)
    c_in, og = w.shape[:2]
    cg = c_in // groups
    h, wd = x.shape[2:]
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    y = np.zeros((x.shape[0], og * groups, full_h, full_w))
    for c in range(c_in):
        g = c // cg
        for i in range(h):
            for j in range(wd):
                y[:, g * og:(g + 1) * og, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                  j * sw:j * sw + dw * (kw - 1) + 1:dw] += x[:, c, i, j, None, None, None] * w[c]
    y = y[:, :, ph:full_h - ph, pw:full_w - pw]
    return y if b is None else y + b[:, None, None]


def np_vjp_of_linear(f, wrt=0):
    """The reference of vjp(f, wrt) for f linear in input ``wrt``: entry k of the
    vector-Jacobian product with v is <f(..., e_k, ...), v>, e_k the k-th unit array."""
    def ref(*args):
        *xs, v = args
        g = np.zeros_like(xs[wrt])
        for k in np.ndindex(g.shape):
            e = np.zeros_like(g)
            e[k] = 1.0
            g[k] = (f(*xs[:wrt], e, *xs[wrt + 1:]) * v).sum()
        return g
    return ref


def _taps(size, k, s, p, d, ceil_mode):
    """Pooling windows along one axis: for each output index, the input indices its
    window reads (padding left out) and how many of its k taps lie in the padded input.
    Ceil mode keeps a last, partial window if it starts inside the input or left pad."""
    span = d * (k - 1) + 1
    n = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    taps = []
    for o in range(n):
        pos = [o * s - p + t * d for t in range(k)]
        taps.append(([q for q in pos if 0 <= q < size], sum(q < size + p for q in pos)))
    return taps


def _windows(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """[(i, j, rows, cols, taps counted with padding)] for every output position."""
    kernel = _two(kernel)
    stride = kernel if stride is None else _two(stride)
    rows, cols = (_taps(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                  zip(x.shape[2:], kernel, stride, _two(padding), _two(dilation)))
    wins = [(i, j, r, c, nr * nc) for i, (r, nr) in enumerate(rows) for j, (c, nc) in enumerate(cols)]
    return wins, (len(rows), len(cols))


def np_max_pool2d(x, kernel, **opts):
    wins, out_hw = _windows(x, kernel, **opts)
    y = np.zeros(x.shape[:2] + out_hw)
    for i, j, r, c, _ in wins:
        y[:, :, i, j] = x[:, :, r][:, :, :, c].max((2, 3))
    return y


def _argmaxes(x, kernel, **opts):
    """((n, ch, i, j), (n, ch, row, col)): each window and where its maximum is."""
    wins, _ = _windows(x, kernel, **opts)
    for n, ch in np.ndindex(x.shape[:2]):
        for i, j, r, c, _ in wins:
            window = x[n, ch][np.ix_(r, c)]
            a, b = np.unravel_index(window.argmax(), window.shape)
            yield (n, ch, i, j), (n, ch, r[a], c[b])


def np_max_pool2d_scatter(x, v, kernel, **opts):
    """The gradient of max_pool2d: v goes to each window's maximum."""
    g = np.zeros_like(x)
    for out, at in _argmaxes(x, kernel, **opts):
        g[at] += v[out]
    return g


def np_max_pool2d_gather(x, u, kernel, **opts):
    """The gradient of that scatter with respect to v: u read at each window's maximum."""
    _, out_hw = _windows(x, kernel, **opts)
    y = np.zeros(x.shape[:2] + out_hw)
    for out, at in _argmaxes(x, kernel, **opts):
        y[out] = u[at]
    return y


def np_avg_pool2d(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """The window's sum over its taps in the padded input (count_include_pad) or in the
    input itself."""
    wins, out_hw = _windows(x, kernel, stride, padding, 1, ceil_mode)
    y = np.zeros(x.shape[:2] + out_hw)
    for i, j, r, c, padded in wins:
        y[:, :, i, j] = x[:, :, r][:, :, :, c].sum((2, 3)) / (padded if count_include_pad
                                                              else len(r) * len(c))
    return y


def np_nearest(x, size=None, scale_factor=None):
    """PyTorch's 'nearest': output row i reads input row floor(i * H / Ho) for a size,
    floor(i / s) for a scale factor s (likewise the columns)."""
    hw = x.shape[2:]
    if size is not None:
        rows, cols = ((np.arange(o) * n) // o for n, o in zip(hw, size))
    else:
        rows, cols = (np.floor(np.arange(int(n * s)) / s).astype(int)
                      for n, s in zip(hw, _two(scale_factor)))
    return x[:, :, rows[:, None], cols]


X = Spec((2, 3, 5, 5))
CASES = [
    # conv2d: one Function; bias, stride, padding, dilation, groups, kernel shapes
    OpCase('Conv2d', conv(padding=1), [X, (4, 3, 3, 3), (4,)], name='conv2d pad 1 bias',
           reference=lambda x, w, b: np_conv2d(x, w, b, padding=1)),
    OpCase('Conv2d', conv(stride=2, padding=1), [(2, 2, 7, 6), (3, 2, 3, 3)],
           name='conv2d stride 2 odd size no bias',
           reference=lambda x, w: np_conv2d(x, w, stride=2, padding=1)),
    OpCase('Conv2d', conv(dilation=2, padding=(1, 2)), [(2, 2, 7, 7), (3, 2, 2, 3), (3,)],
           name='conv2d dilation 2 non-square kernel',
           reference=lambda x, w, b: np_conv2d(x, w, b, dilation=2, padding=(1, 2))),
    OpCase('Conv2d', conv(groups=2, stride=(2, 1)), [(2, 4, 5, 5), (4, 2, 3, 3), (4,)],
           name='conv2d groups 2',
           reference=lambda x, w, b: np_conv2d(x, w, b, groups=2, stride=(2, 1))),
    OpCase('Conv2d', conv(padding='same'), [(2, 2, 5, 5), (2, 2, 2, 4)], name='conv2d same even kernel',
           reference=lambda x, w: np_conv2d(x, w, padding='same')),
    OpCase('Conv2d', conv(stride=3), [(2, 2, 7, 7), (2, 2, 1, 1), (2,)], name='conv2d 1x1 stride 3',
           reference=lambda x, w, b: np_conv2d(x, w, b, stride=3)),
    OpCase('Conv2d', conv(padding=1), [Spec((2, 2, 5, 5), noncontig=True), Spec((3, 2, 3, 3), noncontig=True)],
           name='conv2d noncontig', reference=lambda x, w: np_conv2d(x, w, padding=1)),
    # conv_transpose2d
    OpCase('ConvTranspose2d', convT(stride=2, padding=1, output_padding=1),
           [(2, 2, 3, 3), (2, 2, 3, 3), (2,)], name='conv_transpose2d stride 2 output_padding',
           reference=lambda x, w, b: np_conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)),
    OpCase('ConvTranspose2d', convT(groups=2, dilation=2, padding=(1, 0)),
           [(2, 4, 3, 4), (4, 1, 2, 3), (2,)], name='conv_transpose2d groups dilation non-square',
           reference=lambda x, w, b: np_conv_transpose2d(x, w, b, groups=2, dilation=2, padding=(1, 0))),
    OpCase('ConvTranspose2d', convT(dilation=2, output_padding=1), [(2, 2, 4, 3), (2, 3, 3, 3)],
           name='conv_transpose2d output_padding < dilation',
           reference=lambda x, w: np_conv_transpose2d(x, w, dilation=2, output_padding=1)),
    OpCase('ConvTranspose2d', convT(stride=(1, 2)), [Spec((2, 2, 3, 4), noncontig=True), (2, 2, 2, 2)],
           name='conv_transpose2d noncontig',
           reference=lambda x, w: np_conv_transpose2d(x, w, stride=(1, 2))),
    # the weight gradient, as a Function of (x, gy) (w only fixes shapes; its derivative is 0)
    OpCase('Conv2dWeightGrad', vjp(conv(stride=2, padding=1), wrt=1),
           [(2, 2, 6, 5), (3, 2, 3, 3), (2, 3, 3, 3)], name='conv2d weight grad stride 2',
           reference=np_vjp_of_linear(lambda x, w: np_conv2d(x, w, stride=2, padding=1), wrt=1)),
    OpCase('Conv2dWeightGrad', vjp(conv(groups=2, dilation=2, padding=(0, 1)), wrt=1),
           [(2, 4, 6, 5), (2, 2, 2, 3), (2, 2, 4, 3)], name='conv2d weight grad groups dilation',
           reference=np_vjp_of_linear(lambda x, w: np_conv2d(x, w, groups=2, dilation=2, padding=(0, 1)),
                                      wrt=1)),
    OpCase('Conv2dWeightGrad', vjp(convT(stride=2, output_padding=1), wrt=1),
           [(2, 2, 3, 3), (2, 3, 2, 2), (2, 3, 7, 7)], name='conv_transpose2d weight grad',
           reference=np_vjp_of_linear(lambda x, w: np_conv_transpose2d(x, w, stride=2, output_padding=1),
                                      wrt=1)),
    # max pooling: inputs without ties (kinks), the scatter, and the gather
    OpCase('MaxPool2d', lambda x: F.max_pool2d(x, 2), [Spec((2, 3, 6, 6), distinct=True)],
           reference=lambda x: np_max_pool2d(x, 2)),
    OpCase('MaxPool2d', lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
           [Spec((2, 2, 7, 6), distinct=True)], name='max_pool2d overlapping padded',
           reference=lambda x: np_max_pool2d(x, 3, stride=2, padding=1)),
    OpCase('MaxPool2d', lambda x: F.max_pool2d(x, (2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
           [Spec((2, 2, 6, 7), distinct=True, noncontig=True)], name='max_pool2d dilation ceil noncontig',
           reference=lambda x: np_max_pool2d(x, (2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True)),
    OpCase('MaxPool2dScatter', vjp(lambda x: F.max_pool2d(x, 3, stride=2, padding=1)),
           [Spec((1, 2, 5, 5), distinct=True), (1, 2, 3, 3)], name='max_pool2d scatter',
           reference=lambda x, v: np_max_pool2d_scatter(x, v, 3, stride=2, padding=1)),
    OpCase('MaxPool2dGather', vjp(vjp(lambda x: F.max_pool2d(x, 2, stride=1)), wrt=1),
           [Spec((1, 2, 4, 5), distinct=True), (1, 2, 3, 4), (1, 2, 4, 5)], name='max_pool2d gather',
           reference=lambda x, v, u: np_max_pool2d_gather(x, u, 2, stride=1)),
    # average pooling
    OpCase('AvgPool2d', lambda x: F.avg_pool2d(x, 2), [(2, 3, 6, 6)],
           reference=lambda x: np_avg_pool2d(x, 2)),
    OpCase('AvgPool2d', lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
           [(2, 2, 7, 6)], name='avg_pool2d exclude pad',
           reference=lambda x: np_avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)),
    OpCase('AvgPool2d', lambda x: F.avg_pool2d(x, (3, 2), stride=2, padding=(1, 0), ceil_mode=True),
           [Spec((2, 2, 6, 7), noncontig=True)], name='avg_pool2d ceil noncontig',
           reference=lambda x: np_avg_pool2d(x, (3, 2), stride=2, padding=(1, 0), ceil_mode=True)),
    OpCase('AvgPool2dScatter', vjp(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)),
           [(2, 2, 7, 7), (2, 2, 4, 4)], name='avg_pool2d scatter',
           reference=np_vjp_of_linear(lambda x: np_avg_pool2d(x, 3, stride=2, padding=1,
                                                              count_include_pad=False))),
    # nearest resizing
    OpCase('InterpolateNearest', lambda x: F.interpolate(x, scale_factor=2), [(2, 2, 3, 4)],
           reference=lambda x: np_nearest(x, scale_factor=2)),
    OpCase('InterpolateNearest', lambda x: F.interpolate(x, size=(5, 3)), [Spec((2, 2, 3, 4), noncontig=True)],
           name='interpolate up and down noncontig', reference=lambda x: np_nearest(x, size=(5, 3))),
    OpCase('InterpolateNearestScatter', vjp(lambda x: F.interpolate(x, size=(7, 8))),
           [(2, 2, 3, 4), (2, 2, 7, 8)], name='interpolate scatter integer and general',
           reference=np_vjp_of_linear(lambda x: np_nearest(x, size=(7, 8)))),
    OpCase('InterpolateNearestScatter', vjp(lambda x: F.upsample_nearest(x, scale_factor=(3, 1.5))),
           [(1, 2, 2, 4), (1, 2, 6, 6)], name='upsample_nearest scatter',
           reference=np_vjp_of_linear(lambda x: np_nearest(x, scale_factor=(3, 1.5)))),
]


# Convolutions take one of two layouts by channel count (ops/conv.py, WIDE_CHANNELS):
# every case runs through both, the narrow (batch-major) one and the wide (channels-last,
# one GEMM) one, by moving the threshold. The narrow one builds its columns a cache
# block of samples at a time (backend.CACHE_BLOCK_BYTES): 'narrow-blocks' makes every
# sample its own block, so the loop over blocks runs more than once; 'col2im' turns off
# stride-1 conv_transpose2d as a correlation (TRANSPOSE_AS_CORRELATION).
LAYOUTS = {   # WIDE_CHANNELS, WIDE_MAX_PIXELS, CACHE_BLOCK_BYTES, TRANSPOSE_AS_CORRELATION
    'narrow': (10 ** 9, 0, sg.backend.CACHE_BLOCK_BYTES, True),
    'narrow-blocks': (10 ** 9, 0, 1, True),
    'col2im': (10 ** 9, 0, sg.backend.CACHE_BLOCK_BYTES, False),
    'wide': (1, 10 ** 9, sg.backend.CACHE_BLOCK_BYTES, True)}


@pytest.fixture(params=list(LAYOUTS))
def layout(request, monkeypatch):
    channels, pixels, block, correlate = LAYOUTS[request.param]
    monkeypatch.setattr(conv_ops, 'WIDE_CHANNELS', channels)
    monkeypatch.setattr(conv_ops, 'WIDE_MAX_PIXELS', pixels)
    monkeypatch.setattr(sg.backend, 'CACHE_BLOCK_BYTES', block)
    monkeypatch.setattr(conv_ops, 'TRANSPOSE_AS_CORRELATION', correlate)
    return request.param


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_conv(case, device, layout):
    if layout != 'narrow' and not any(op.startswith(('Conv', 'ConvTranspose')) for op in case.ops):
        pytest.skip('the layouts differ only in the convolutions')
    check_case(case, device)


# ----------------------------------------------------------------------------- vs PyTorch
CONV_CONFIGS = [
    ((2, 3, 7, 7), (4, 3, 3, 3), True, {}),
    ((2, 3, 7, 6), (4, 3, 3, 3), False, dict(stride=2, padding=1)),
    ((2, 4, 9, 8), (6, 2, 3, 2), True, dict(stride=(2, 3), padding=(1, 2), dilation=2, groups=2)),
    ((1, 6, 8, 8), (6, 1, 3, 3), True, dict(padding=1, groups=6)),
    ((2, 2, 6, 7), (3, 2, 4, 2), True, dict(padding='same', dilation=(1, 2))),
    ((2, 2, 6, 7), (3, 2, 4, 2), False, dict(padding='valid', stride=3)),
    ((3, 1, 5, 5), (2, 1, 5, 5), True, dict(padding=2, dilation=1)),
]
CONVT_CONFIGS = [
    ((2, 3, 4, 4), (3, 2, 3, 3), True, {}),
    ((2, 3, 4, 5), (3, 2, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 3, 4), (4, 3, 2, 3), False, dict(stride=(3, 2), padding=(0, 1), groups=2, dilation=(1, 2))),
    ((2, 2, 5, 5), (2, 2, 3, 3), True, dict(dilation=2, output_padding=1, padding=2)),
    ((1, 2, 4, 4), (2, 1, 4, 4), True, dict(stride=2, padding=1)),
]
POOL_CONFIGS = [
    (2, {}), (3, dict(stride=2, padding=1)), ((2, 3), dict(stride=(1, 2), padding=(1, 1))),
    (3, dict(stride=2, ceil_mode=True)), (3, dict(stride=2, padding=1, ceil_mode=True)),
    ((3, 2), dict(stride=(2, 3), padding=(1, 0), ceil_mode=True)),
    (2, dict(stride=3, padding=1, ceil_mode=True)),     # ceil mode's last window would start in the padding
]
RESIZE_CONFIGS = [
    dict(scale_factor=2), dict(scale_factor=(3, 2)), dict(size=(7, 5)), dict(size=(3, 2)),
    dict(scale_factor=1.5), dict(scale_factor=(0.5, 2.7)), dict(size=(10, 11)),
    dict(scale_factor=2.1), dict(scale_factor=1.7, recompute_scale_factor=True),
    dict(scale_factor=(1.1, 2.2)),
    dict(size=(9, 13), mode='nearest-exact'), dict(scale_factor=0.6, mode='nearest-exact'),
]


def _both(torch, *hosts):
    """(scratchgen tensors, torch tensors) of float64 host arrays, all requiring grad."""
    ours = [None if h is None else sg.tensor(h, requires_grad=True) for h in hosts]
    theirs = [None if h is None else torch.tensor(h, requires_grad=True) for h in hosts]
    return ours, theirs


def _compare_with_torch(torch, f_ours, f_torch, hosts, seed=1):
    """Forward and the gradients of a random projection agree to 1e-10."""
    ours, theirs = _both(torch, *hosts)
    y, yt = f_ours(*ours), f_torch(*theirs)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    v = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(sg.tensor(v))
    yt.backward(torch.tensor(v))
    for a, b in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same'")   # torch's note on its own speed
@pytest.mark.parametrize('xs, ws, bias, opts', CONV_CONFIGS)
def test_conv2d_matches_torch(xs, ws, bias, opts, layout):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    hosts = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0]) if bias else None]
    _compare_with_torch(torch, lambda x, w, b: F.conv2d(x, w, b, **opts),
                        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **opts), hosts)


@pytest.mark.parametrize('xs, ws, bias, opts', CONVT_CONFIGS)
def test_conv_transpose2d_matches_torch(xs, ws, bias, opts, layout):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    out = ws[1] * opts.get('groups', 1)
    hosts = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(out) if bias else None]
    _compare_with_torch(torch, lambda x, w, b: F.conv_transpose2d(x, w, b, **opts),
                        lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **opts), hosts)


@pytest.mark.parametrize('kernel, opts', POOL_CONFIGS)
@pytest.mark.parametrize('pool', ['max', 'avg', 'avg_exclude_pad'])
def test_pools_match_torch(pool, kernel, opts):
    torch = pytest.importorskip('torch')
    tf = torch.nn.functional
    # small integers: many ties inside windows, which must route like PyTorch's
    x = np.random.default_rng(0).integers(-2, 3, (2, 3, 7, 8)).astype(np.float64)
    if pool == 'max':
        ours = lambda x: F.max_pool2d(x, kernel, **opts)             # noqa: E731
        theirs = lambda x: tf.max_pool2d(x, kernel, **opts)          # noqa: E731
    else:
        extra = dict(count_include_pad=pool == 'avg')
        ours = lambda x: F.avg_pool2d(x, kernel, **opts, **extra)    # noqa: E731
        theirs = lambda x: tf.avg_pool2d(x, kernel, **opts, **extra)  # noqa: E731
    _compare_with_torch(torch, ours, theirs, [x])


def test_max_pool2d_dilation_matches_torch():
    torch = pytest.importorskip('torch')
    x = np.random.default_rng(0).integers(-2, 3, (2, 2, 9, 8)).astype(np.float64)
    opts = dict(kernel_size=(3, 2), stride=2, padding=1, dilation=(2, 3))
    _compare_with_torch(torch, lambda x: F.max_pool2d(x, **opts),
                        lambda x: torch.nn.functional.max_pool2d(x, **opts), [x])


@pytest.mark.parametrize('opts', RESIZE_CONFIGS, ids=str)
def test_interpolate_matches_torch(opts):
    torch = pytest.importorskip('torch')
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    _compare_with_torch(torch, lambda x: F.interpolate(x, **opts),
                        lambda x: torch.nn.functional.interpolate(x, **opts), [x])


@pytest.mark.parametrize('pool', ['max', 'avg', 'resize'])
def test_second_derivatives_match_torch(pool):
    """The gradient's own gradient (MaxPool2dGather, AvgPool2d, InterpolateNearest run on
    u) agrees with PyTorch's double backward, ties included."""
    torch = pytest.importorskip('torch')
    tf = torch.nn.functional
    fs = {'max': (lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: tf.max_pool2d(x, 3, 2, 1)),
          'avg': (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                  lambda x: tf.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
          'resize': (lambda x: F.interpolate(x, size=(9, 5)), lambda x: tf.interpolate(x, size=(9, 5)))}
    ours, theirs = fs[pool]
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (2, 2, 7, 6)).astype(np.float64)
    y_shape = ours(sg.tensor(x)).shape
    v, u = rng.standard_normal(y_shape), rng.standard_normal(x.shape)
    results = []
    for lib, f in ((sg, ours), (torch, theirs)):
        xt, vt = lib.tensor(x, requires_grad=True), lib.tensor(v, requires_grad=True)
        gx = (sg.grad if lib is sg else torch.autograd.grad)(f(xt), xt, vt, create_graph=True)[0]
        gv = (sg.grad if lib is sg else torch.autograd.grad)(gx, vt, lib.tensor(u))[0]
        results.append(gv.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('mode', ['nearest', 'nearest-exact'])
def test_interpolate_source_indices_match_torch_float32(mode):
    """Source rows are computed in float32 as PyTorch does: at these sizes float64
    arithmetic would pick a different row (an arange input shows the row picked)."""
    torch = pytest.importorskip('torch')
    sizes = [dict(scale_factor=(s, 1)) for s in (0.45, 1.3, 2.3, 4.6, 5.4)] + \
        [dict(size=(o, 1)) for o in (3, 7, 29, 47, 101)]
    for h in (5, 16, 31):
        x = np.arange(h, dtype=np.float32).reshape(1, 1, h, 1)
        for opts in sizes:
            ours = F.interpolate(sg.tensor(x), mode=mode, **opts).numpy()
            theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **opts).numpy()
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{h} rows, {opts}")


def test_max_pool2d_routes_an_infinite_gradient_only_to_the_winner():
    x = sg.tensor([[[[1.0, 4.0], [3.0, 2.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).backward(sg.tensor([[[[float('inf')]]]]))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.0, np.inf], [0.0, 0.0]]]])


def test_max_pool2d_propagates_nan():
    x = sg.tensor([[[[1.0, float('nan')], [3.0, 2.0]]]])
    assert np.isnan(F.max_pool2d(x, 2).item())


# ----------------------------------------------------------------------------- dtypes, aliases
def test_float32_stays_float32(device):
    x = sg.randn(2, 2, 6, 6, device=device, requires_grad=True)
    w = sg.randn(4, 2, 3, 3, device=device, requires_grad=True)
    b = sg.randn(4, device=device, requires_grad=True)
    outs = [F.conv2d(x, w, b, padding=1), F.conv_transpose2d(x, w.permute(1, 0, 2, 3), stride=2),
            F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
            F.interpolate(x, scale_factor=1.5)]
    for y in outs:
        assert y.dtype == np.float32 and y.device == device
        y.sum().backward()
    for t in (x, w, b):
        assert t.grad.dtype == np.float32


def test_upsample_nearest_is_interpolate_nearest():
    x = sg.randn(1, 2, 3, 3)
    np.testing.assert_array_equal(F.upsample_nearest(x, scale_factor=2).numpy(),
                                  F.interpolate(x, scale_factor=2, mode='nearest').numpy())
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).numpy(),
                                  np.repeat(np.repeat(x.numpy(), 2, axis=2), 2, axis=3))


def test_no_input_grad_when_input_does_not_require_it():
    x = sg.randn(2, 1, 5, 5)
    w = sg.randn(3, 1, 3, 3, requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad.shape == w.shape


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize('call, match', [
    (lambda: F.conv2d(sg.ones(2, 3, 8, 8), sg.ones(8, 4, 3, 3)),
     r"conv2d: input of shape \(2, 3, 8, 8\) has 3 channels but weight \(8, 4, 3, 3\) expects 4"),
    (lambda: F.conv2d(sg.ones(2, 4, 8, 8), sg.ones(6, 1, 3, 3), groups=2),
     r"conv2d: input of shape \(2, 4, 8, 8\) has 4 channels but weight \(6, 1, 3, 3\) expects 2"),
    (lambda: F.conv2d(sg.ones(2, 6, 8, 8), sg.ones(5, 2, 3, 3), groups=3),
     r"conv2d: groups=3 does not divide the 5 output channels of weight \(5, 2, 3, 3\)"),
    (lambda: F.conv2d(sg.ones(2, 4, 8, 8), sg.ones(4, 2, 3, 3), groups=0),
     r"conv2d: groups must be a positive int, got 0"),
    (lambda: F.conv2d(sg.ones(2, 3, 2, 8), sg.ones(4, 3, 3, 3)),
     r"conv2d: input of shape \(2, 3, 2, 8\) padded to 2 rows/cols is smaller than the kernel \(3, 3\)"),
    (lambda: F.conv2d(sg.ones(3, 8, 8), sg.ones(4, 3, 3, 3)),
     r"conv2d: expected a 4-d input \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: F.conv2d(sg.ones(2, 3, 8, 8), sg.ones(4, 3, 3)),
     r"conv2d: expected a 4-d weight .*, got shape \(4, 3, 3\)"),
    (lambda: F.conv2d(sg.ones(2, 3, 8, 8), sg.ones(4, 3, 3, 3), sg.ones(3)),
     r"conv2d: bias of shape \(3,\) does not match the 4 output channels"),
    (lambda: F.conv2d(sg.ones(2, 3, 8, 8), sg.ones(4, 3, 3, 3), stride=0),
     r"conv2d: stride must be an int or a pair of ints >= 1, got 0"),
    (lambda: F.conv2d(sg.ones(2, 3, 8, 8), sg.ones(4, 3, 3, 3), stride=2, padding='same'),
     r"conv2d: padding='same' is not supported for strided convolutions"),
    (lambda: F.conv2d(sg.ones(2, 3, 8, 8), sg.ones(4, 3, 3, 3), padding='full'),
     r"conv2d: padding must be an int, a pair, 'same' or 'valid', got 'full'"),
    (lambda: F.conv_transpose2d(sg.ones(2, 3, 4, 4), sg.ones(4, 2, 3, 3)),
     r"conv_transpose2d: input of shape \(2, 3, 4, 4\) has 3 channels but weight \(4, 2, 3, 3\) expects 4"),
    (lambda: F.conv_transpose2d(sg.ones(2, 3, 4, 4), sg.ones(3, 2, 3, 3), groups=2),
     r"conv_transpose2d: groups=2 does not divide the 3 input channels of weight \(3, 2, 3, 3\)"),
    (lambda: F.conv_transpose2d(sg.ones(2, 3, 4, 4), sg.ones(3, 2, 3, 3), stride=2, output_padding=2),
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than either stride \(2, 2\) or dilation"),
    (lambda: F.conv_transpose2d(sg.ones(2, 3, 1, 1), sg.ones(3, 2, 1, 1), padding=1),
     r"conv_transpose2d: input of shape \(2, 3, 1, 1\) .* gives an empty output"),
    (lambda: F.conv_transpose2d(sg.ones(3, 4, 4), sg.ones(3, 2, 3, 3)),
     r"conv_transpose2d: expected a 4-d input \(N, C, H, W\), got shape \(3, 4, 4\)"),
    (lambda: F.max_pool2d(sg.ones(2, 3, 1, 5), 2),
     r"max_pool2d: input of shape \(2, 3, 1, 5\) padded to 1 rows/cols is smaller than the kernel \(2, 2\)"),
    (lambda: F.max_pool2d(sg.ones(2, 3, 6, 6), 2, padding=2),
     r"max_pool2d: padding \(2, 2\) should be at most half of the kernel size \(2, 2\)"),
    (lambda: F.avg_pool2d(sg.ones(6, 6), 2), r"avg_pool2d: expected a 4-d input \(N, C, H, W\), got shape \(6, 6\)"),
    (lambda: F.interpolate(sg.ones(1, 1, 4, 4)), r"interpolate: give exactly one of size and scale_factor"),
    (lambda: F.interpolate(sg.ones(1, 1, 4, 4), scale_factor=2, mode='bilinear'),
     r"interpolate: mode 'bilinear' is not supported"),
    (lambda: F.interpolate(sg.ones(1, 1, 4, 4), scale_factor=0.1),
     r"interpolate: scale_factor 0.1 makes input of shape \(1, 1, 4, 4\) empty"),
])
def test_errors_name_the_function_and_shapes(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
