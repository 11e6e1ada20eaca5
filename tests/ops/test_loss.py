"""Losses: gradient checks (first and second order) on every device, values and gradients
against PyTorch in float64 (reductions, weights, ignore_index, label smoothing), numerical
stability at huge logits, dtypes, and the error messages."""
import warnings

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.functional as F
from helpers import OpCase, Spec, check_case


def _ints(values):
    """A class-index target: a constant int64 input (not a gradcheck input)."""
    return Spec(values=values, dtype=np.int64, grad=False)


def _const(shape, low, high):
    """A floating input that is not differentiated (class weights, ...)."""
    return Spec(shape, low=low, high=high, grad=False)


def _np_log_softmax(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _np_picked(logp, t):
    """logp[n, t[n, ...], ...]: the log-probability of each target class (dim 1)."""
    return np.take_along_axis(logp, t[:, None], 1)[:, 0]


def _np_bce(x, t):
    return -(t * np.log(x) + (1 - t) * np.log1p(-x))


def _np_smoothed_ce(x, t, w, eps, ignore_index=-100):
    """PyTorch's label-smoothed, weighted cross entropy of class indices, 'mean'."""
    logp, keep = _np_log_softmax(x, 1), t != ignore_index
    logp, t = logp[keep], t[keep]
    nll = -w[t] * _np_picked(logp, t)
    uniform = -(w * logp).sum(1)
    return ((1 - eps) * nll + eps / x.shape[1] * uniform).sum() / w[t].sum()


PROB = Spec((3, 4), low=0.05, high=0.95)     # probabilities away from the clamps
UNIT = Spec((3, 4), low=0.0, high=1.0)        # soft binary targets

CASES = [
    # regression losses (compositions)
    OpCase(['Sub', 'Mul', 'Sum'], lambda x, t: F.mse_loss(x, t), [(3, 4), (3, 4)],
           reference=lambda x, t: ((x - t) ** 2).mean(), name='mse_loss mean'),
    OpCase('Mul', lambda x, t: F.mse_loss(x, t, reduction='none'),
           [Spec((2, 3), noncontig=True), (2, 3)], name='mse_loss none noncontig',
           reference=lambda x, t: (x - t) ** 2),
    # l1 and smooth_l1 get input = t + d with d away from their kinks (0, +-beta)
    OpCase('Abs', lambda d, t: F.l1_loss(t + d, t, reduction='sum'),
           [Spec((3, 4), away_from=(0,), margin=0.1), (3, 4)],
           reference=lambda d, t: np.abs(d).sum(), name='l1_loss sum'),
    OpCase(['Abs', 'Where'], lambda d, t: F.smooth_l1_loss(t + d, t),
           [Spec((3, 4), away_from=(-1, 0, 1), margin=0.1), (3, 4)],
           reference=lambda d, t: np.where(np.abs(d) < 1, 0.5 * d * d, np.abs(d) - 0.5).mean(),
           name='smooth_l1_loss mean'),
    OpCase('Where', lambda d, t: F.smooth_l1_loss(t + d, t, reduction='none', beta=0.5),
           [Spec((2, 3), away_from=(-0.5, 0, 0.5), margin=0.1), (2, 3)],
           name='smooth_l1_loss none beta=0.5',
           reference=lambda d, t: np.where(np.abs(d) < 0.5, d * d, np.abs(d) - 0.25)),
    OpCase(['Div', 'Log'], lambda x, t, v: F.gaussian_nll_loss(x, t, v),
           [(3, 2), (3, 2), Spec((3, 2), low=0.5, high=2.0)],
           reference=lambda x, t, v: (0.5 * (np.log(v) + (x - t) ** 2 / v)).mean(),
           name='gaussian_nll_loss'),
    OpCase('Log', lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=True, reduction='none'),
           [(3, 2), (3, 2), Spec((3,), low=0.5, high=2.0)], name='gaussian_nll_loss shared var full',
           reference=lambda x, t, v: 0.5 * (np.log(v[:, None]) + (x - t) ** 2 / v[:, None]
                                            + np.log(2 * np.pi))),
    OpCase('Log', lambda x, t: F.kl_div(x, t, reduction='batchmean'),
           [(3, 4), Spec((3, 4), low=0.1, high=1.0)],
           reference=lambda x, t: (t * (np.log(t) - x)).sum() / 3, name='kl_div batchmean'),
    OpCase('Exp', lambda x, t: F.kl_div(x, t, reduction='sum', log_target=True), [(3, 4), (3, 4)],
           reference=lambda x, t: (np.exp(t) * (t - x)).sum(), name='kl_div log_target'),
    # binary cross entropy (dedicated Functions)
    OpCase('BinaryCrossEntropy', lambda x, t: F.binary_cross_entropy(x, t, reduction='none'),
           [PROB, UNIT], reference=_np_bce,
           name='binary_cross_entropy none'),
    OpCase('BinaryCrossEntropy', lambda x, t, w: F.binary_cross_entropy(x, t, w),
           [Spec((2, 3), low=0.05, high=0.95, noncontig=True), Spec((2, 3), low=0, high=1),
            _const((3,), 0.5, 2.0)], name='binary_cross_entropy weight noncontig',
           reference=lambda x, t, w: (w * _np_bce(x, t)).mean()),
    OpCase('BinaryCrossEntropyWithLogits',
           lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction='none'),
           [Spec((3, 4), low=-4, high=4), UNIT],
           reference=lambda x, t: -(t * np.log(1 / (1 + np.exp(-x)))
                                    + (1 - t) * np.log(1 - 1 / (1 + np.exp(-x)))),
           name='binary_cross_entropy_with_logits none'),
    OpCase('BinaryCrossEntropyWithLogits',
           lambda x, t, pw, w: F.binary_cross_entropy_with_logits(x, t, w, pos_weight=pw,
                                                                  reduction='sum'),
           [Spec((3, 4), low=-4, high=4), UNIT, Spec((4,), low=0.5, high=2.0),
            _const((3, 1), 0.5, 2.0)], name='binary_cross_entropy_with_logits pos_weight weight',
           reference=lambda x, t, pw, w: (w * (pw * t * np.logaddexp(0, -x)
                                               + (1 - t) * np.logaddexp(0, x))).sum()),
    # class losses
    OpCase(['GetItem', 'Div'], lambda x, t: F.nll_loss(x, t), [(4, 3), _ints([0, 2, 1, 2])],
           reference=lambda x, t: -x[np.arange(4), t].mean(), name='nll_loss'),
    OpCase('GetItem', lambda x, t, w: F.nll_loss(x, t, w, ignore_index=1, reduction='none'),
           [(4, 3), _ints([0, 1, 2, 2]), _const((3,), 0.5, 2.0)], name='nll_loss weight ignore none',
           reference=lambda x, t, w: -w[t] * _np_picked(x, t) * (t != 1)),
    OpCase(['LogSoftmax', 'GetItem'], lambda x, t: F.cross_entropy(x, t),
           [(4, 3), _ints([0, 2, -100, 1])],
           reference=lambda x, t: -_np_log_softmax(x, 1)[[0, 1, 3], [0, 2, 1]].mean(),
           name='cross_entropy ignore_index'),
    OpCase('LogSoftmax', lambda x, t: F.cross_entropy(x, t, reduction='sum'),
           [(2, 3, 2), _ints([[0, 2], [1, 1]])], name='cross_entropy (N,C,d) sum',
           reference=lambda x, t: -_np_picked(_np_log_softmax(x, 1), t).sum()),
    OpCase('LogSoftmax', lambda x, t: F.cross_entropy(x, t), [(3,), _ints(2)],
           reference=lambda x, t: -_np_log_softmax(x, 0)[2], name='cross_entropy (C,)'),
    OpCase('LogSoftmax', lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.2),
           [Spec((3, 4), noncontig=True), _ints([3, 0, -100]), _const((4,), 0.5, 2.0)],
           name='cross_entropy smoothing weight noncontig',
           reference=lambda x, t, w: _np_smoothed_ce(x, t, w, 0.2)),
    OpCase('LogSoftmax', lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.1),
           [(3, 4), UNIT, _const((4,), 0.5, 2.0)], name='cross_entropy probability target',
           reference=lambda x, t, w: -(w * (0.9 * t + 0.1 / 4) * _np_log_softmax(x, 1)).sum(1).mean()),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_loss(case, device):
    check_case(case, device)


# ----------------------------------------------------------------------------- PyTorch
def _t(host, grad=False):
    torch = pytest.importorskip('torch')
    return torch.tensor(host, requires_grad=grad)


def _close(ours, theirs, rtol=1e-10):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=1e-12)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 4))
Y = RNG.standard_normal((5, 4))
P = RNG.uniform(0.01, 0.99, (5, 4))
T01 = RNG.uniform(0, 1, (5, 4))
REDUCTIONS = ['mean', 'sum', 'none']


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_regression_losses_match_torch(reduction):
    tf = pytest.importorskip('torch').nn.functional
    x, y = sg.tensor(X), sg.tensor(Y)
    tx, ty = _t(X), _t(Y)
    _close(F.mse_loss(x, y, reduction), tf.mse_loss(tx, ty, reduction=reduction))
    _close(F.l1_loss(x, y, reduction), tf.l1_loss(tx, ty, reduction=reduction))
    for beta in (1.0, 0.3, 0.0):
        _close(F.smooth_l1_loss(x, y, reduction, beta),
               tf.smooth_l1_loss(tx, ty, reduction=reduction, beta=beta))


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_binary_losses_match_torch(reduction):
    tf = pytest.importorskip('torch').nn.functional
    w, pw = RNG.uniform(0.5, 2, (4,)), RNG.uniform(0.5, 3, (4,))
    edge = P.copy()
    edge[0] = [0.0, 1.0, 1e-50, 1 - 1e-12]     # PyTorch clamps each log at -100
    for probs in (P, edge):
        _close(F.binary_cross_entropy(sg.tensor(probs), sg.tensor(T01), reduction=reduction),
               tf.binary_cross_entropy(_t(probs), _t(T01), reduction=reduction))
    _close(F.binary_cross_entropy(sg.tensor(P), sg.tensor(T01), sg.tensor(w), reduction),
           tf.binary_cross_entropy(_t(P), _t(T01), _t(w), reduction=reduction))
    logits = X * 5
    _close(F.binary_cross_entropy_with_logits(sg.tensor(logits), sg.tensor(T01), reduction=reduction),
           tf.binary_cross_entropy_with_logits(_t(logits), _t(T01), reduction=reduction))
    _close(F.binary_cross_entropy_with_logits(sg.tensor(logits), sg.tensor(T01), sg.tensor(w),
                                              reduction, pos_weight=sg.tensor(pw)),
           tf.binary_cross_entropy_with_logits(_t(logits), _t(T01), _t(w), reduction=reduction,
                                               pos_weight=_t(pw)))


def _ce_inputs(shape, n_classes, ignore=-100):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(shape)
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, n_classes, tshape)
    if target.ndim:
        target.flat[1] = ignore
    return logits, target


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('shape', [(6, 4), (3, 4, 2, 3), (4,)])
@pytest.mark.parametrize('smoothing', [0.0, 0.15])
@pytest.mark.parametrize('weighted', [False, True])
def test_cross_entropy_and_nll_match_torch(reduction, shape, smoothing, weighted):
    torch = pytest.importorskip('torch')
    tf = torch.nn.functional
    c = shape[1] if len(shape) > 1 else shape[0]
    logits, target = _ce_inputs(shape, c, ignore=-100)
    w = np.random.default_rng(2).uniform(0.5, 2, c) if weighted else None
    ours_w, their_w = (sg.tensor(w), _t(w)) if weighted else (None, None)
    x, tx = sg.tensor(logits, requires_grad=True), _t(logits, grad=True)
    ours = F.cross_entropy(x, sg.tensor(target), ours_w, reduction=reduction,
                           label_smoothing=smoothing)
    theirs = tf.cross_entropy(tx, torch.tensor(target), their_w, reduction=reduction,
                              label_smoothing=smoothing)
    _close(ours, theirs)
    g = np.random.default_rng(3).standard_normal(ours.shape)
    ours.backward(sg.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    # nll_loss on the same log-probabilities, with another ignore_index
    ignore = 0 if len(shape) > 1 else -100     # (an unbatched target is never ignored here)
    _, target2 = _ce_inputs(shape, c, ignore=ignore)
    logp = _np_log_softmax(logits, 1 if len(shape) > 1 else 0)
    _close(F.nll_loss(sg.tensor(logp), sg.tensor(target2), ours_w, ignore, reduction),
           tf.nll_loss(_t(logp), torch.tensor(target2), their_w, ignore_index=ignore,
                       reduction=reduction))


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_cross_entropy_probability_targets_match_torch(reduction):
    tf = pytest.importorskip('torch').nn.functional
    logits = RNG.standard_normal((3, 4, 2))
    probs = np.exp(_np_log_softmax(RNG.standard_normal((3, 4, 2)), 1))
    w = RNG.uniform(0.5, 2, 4)
    for smoothing in (0.0, 0.2):
        for ours_w, their_w in ((None, None), (sg.tensor(w), _t(w))):
            _close(F.cross_entropy(sg.tensor(logits), sg.tensor(probs), ours_w,
                                   reduction=reduction, label_smoothing=smoothing),
                   tf.cross_entropy(_t(logits), _t(probs), their_w, reduction=reduction,
                                    label_smoothing=smoothing))


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")     # torch's kl_div notice
@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_gaussian_nll_and_kl_match_torch(reduction):
    tf = pytest.importorskip('torch').nn.functional
    var = RNG.uniform(0.2, 2, (5, 4))
    var[0, :2] = [1e-9, 0.0]                 # clamped at eps
    for v in (var, var[:, 0], var[:, :1], 0.7):
        for full in (False, True):
            ours_v = v if isinstance(v, float) else sg.tensor(v)
            their_v = v if isinstance(v, float) else _t(v)
            _close(F.gaussian_nll_loss(sg.tensor(X), sg.tensor(Y), ours_v, full, reduction=reduction),
                   tf.gaussian_nll_loss(_t(X), _t(Y), their_v, full, reduction=reduction))
    q = _np_log_softmax(X, 1)
    p = np.exp(_np_log_softmax(Y, 1))
    p[0, 0] = 0.0                            # 0 log 0 = 0
    for red in (reduction, 'batchmean'):
        _close(F.kl_div(sg.tensor(q), sg.tensor(p), red), tf.kl_div(_t(q), _t(p), reduction=red))
        _close(F.kl_div(sg.tensor(q), sg.tensor(np.log(p + 0.1)), red, log_target=True),
               tf.kl_div(_t(q), _t(np.log(p + 0.1)), reduction=red, log_target=True))


def test_gradients_match_torch():
    """Gradients (input and target) where the loss has a dedicated backward or a clamp."""
    torch = pytest.importorskip('torch')
    tf = torch.nn.functional
    var = RNG.uniform(0.2, 2, (5, 4))
    var[0, :2] = [1e-9, 0.0]               # the clamp passes the gradient unchanged
    pw = RNG.uniform(0.5, 3, (4,))
    cases = [
        (lambda a, b: F.binary_cross_entropy(a, b), lambda a, b: tf.binary_cross_entropy(a, b),
         [P, T01]),
        (lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c),
         lambda a, b, c: tf.binary_cross_entropy_with_logits(a, b, pos_weight=c), [X * 5, T01, pw]),
        (lambda a, b, c: F.gaussian_nll_loss(a, b, c), lambda a, b, c: tf.gaussian_nll_loss(a, b, c),
         [X, Y, var]),
        (lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), lambda a, b: tf.smooth_l1_loss(a, b, beta=0.5),
         [X, Y]),
    ]
    for ours_fn, their_fn, hosts in cases:
        ours = [sg.tensor(h, requires_grad=True) for h in hosts]
        theirs = [_t(h, grad=i < 2) for i, h in enumerate(hosts)]   # torch: no pos_weight grad
        ours_fn(*ours).backward()
        their_fn(*theirs).backward()
        for a, b in zip(ours[:2], theirs[:2]):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- stability
@pytest.mark.parametrize('dtype', [sg.float32, sg.float64])
def test_huge_logits_stay_finite_without_warnings(dtype, device):
    logits = sg.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 3.0]], dtype=dtype,
                       device=device, requires_grad=True)
    bits = sg.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]], dtype=dtype, device=device)
    classes = sg.tensor([1, 0], device=device)
    pw = sg.tensor([2.0, 0.5, 1.0], dtype=dtype, device=device)
    with warnings.catch_warnings():     # overflow, divide, invalid all warn
        warnings.simplefilter('error')
        losses = [F.binary_cross_entropy_with_logits(logits, bits),
                  F.binary_cross_entropy_with_logits(logits, bits, pos_weight=pw),
                  F.cross_entropy(logits, classes, label_smoothing=0.1),
                  F.cross_entropy(logits, F.softmax(-logits, 1).detach())]
        for loss in losses:
            assert loss.dtype == dtype and np.isfinite(loss.item())
            logits.grad = None
            loss.backward()
            assert np.isfinite(logits.grad.numpy()).all()
        # the exact values: (1 - t) x + softplus(-x) -> 1000 for a confidently wrong logit
        per = F.binary_cross_entropy_with_logits(logits, bits, reduction='none').numpy()
        np.testing.assert_allclose(per[0, :2], [1000.0, 1000.0], rtol=1e-6)
        ce = F.cross_entropy(logits, classes, reduction='none').numpy()
        np.testing.assert_allclose(ce, [2000.0, 2000.0], rtol=1e-6)


def test_saturated_probabilities_without_warnings(device):
    x = sg.tensor([0.0, 1.0, 0.0, 1.0], device=device, requires_grad=True)
    t = sg.tensor([0.0, 1.0, 1.0, 0.0], device=device)
    with warnings.catch_warnings():     # overflow, divide, invalid all warn
        warnings.simplefilter('error')
        loss = F.binary_cross_entropy(x, t, reduction='none')
        np.testing.assert_array_equal(loss.numpy(), [0.0, 0.0, 100.0, 100.0])
        loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


# ----------------------------------------------------------------------------- dtypes
def test_float32_losses_are_float32(device):
    x = sg.randn(4, 3, device=device)
    y = sg.randn(4, 3, device=device)
    p = sg.rand(4, 3, device=device) * 0.9 + 0.05
    t = sg.tensor([0, 2, 1, -100], device=device)
    for loss in (F.mse_loss(x, y), F.l1_loss(x, y, 'sum'), F.smooth_l1_loss(x, y, 'none'),
                 F.binary_cross_entropy(p, p), F.binary_cross_entropy_with_logits(x, p),
                 F.cross_entropy(x, t, sg.ones(3, device=device), label_smoothing=0.1),
                 F.cross_entropy(x, p), F.nll_loss(x, t, reduction='none'),
                 F.gaussian_nll_loss(x, y, p), F.kl_div(x, p)):
        assert loss.dtype == np.float32 and loss.device == device


# ----------------------------------------------------------------------------- errors
def test_class_index_errors_name_function_shapes_and_values(device):
    x = sg.randn(4, 3, device=device)
    with pytest.raises(ValueError, match=r"cross_entropy: target of shape \(4,\) holds class "
                                         r"indices \[-1, 3, 7\] out of range \[0, 3\) for input "
                                         r"of shape \(4, 3\)"):
        F.cross_entropy(x, sg.tensor([3, -1, 7, -100], device=device))
    with pytest.raises(ValueError, match=r"nll_loss: target of shape \(4,\) holds class indices \[5\]"):
        F.nll_loss(x, sg.tensor([0, 1, 5, 2], device=device))


def test_shape_and_dtype_errors():
    x = sg.randn(4, 3)
    with pytest.raises(ValueError, match=r"mse_loss: target of shape \(4,\) does not match "
                                         r"input of shape \(4, 3\)"):
        F.mse_loss(x, sg.randn(4))
    with pytest.raises(ValueError, match=r"cross_entropy: target of shape \(4, 1\) does not match input of "
                                         r"shape \(4, 3\); class-index targets need shape \(4,\)"):
        F.cross_entropy(x, sg.zeros(4, 1, dtype=sg.int64))
    with pytest.raises(ValueError, match=r"cross_entropy: a probability target must have input's shape"):
        F.cross_entropy(x, sg.zeros(4))
    with pytest.raises(TypeError, match="nll_loss: target must have an integer dtype, got float32"):
        F.nll_loss(x, sg.zeros(4))
    with pytest.raises(TypeError, match="cross_entropy: target must hold class indices .* got dtype bool"):
        F.cross_entropy(x, sg.zeros(4, dtype=sg.bool_))
    with pytest.raises(TypeError, match="mse_loss: input must have a floating-point dtype, got int64"):
        F.mse_loss(sg.arange(3), sg.arange(3))
    with pytest.raises(ValueError, match=r"cross_entropy: weight of shape \(4,\) must have one "
                                         r"entry per class"):
        F.cross_entropy(x, sg.zeros(4, dtype=sg.int64), weight=sg.ones(4))
    with pytest.raises(ValueError, match="l1_loss: reduction must be one of"):
        F.l1_loss(x, x, reduction='avg')
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(x, sg.zeros(4, dtype=sg.int64), label_smoothing=1.5)
    with pytest.raises(ValueError, match="binary_cross_entropy: input of shape .* must hold probabilities"):
        F.binary_cross_entropy(x, x)
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entries"):
        F.gaussian_nll_loss(x, x, -sg.ones(4, 3))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape \(3,\) does not fit input"):
        F.gaussian_nll_loss(x, x, sg.ones(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of shape "
                                         r"\(4,\) does not broadcast to input of shape \(4, 3\)"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=sg.ones(4))
    with pytest.raises(RuntimeError, match="mse_loss: target is on 'emu' but input is on 'cpu'"):
        F.mse_loss(x, sg.randn(4, 3, device='emu'))
