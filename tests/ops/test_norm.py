"""Normalization ops: layer_norm, batch_norm, group_norm — gradient checks (first and
second order) on every device, values and running statistics against PyTorch."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.functional as F
from helpers import OpCase, Spec, check_case


def _np_standardize(x, axes, eps=1e-5):
    m = x.mean(axis=axes, keepdims=True)
    v = x.var(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def _np_group_norm(x, groups):
    n, c = x.shape[:2]
    return _np_standardize(x.reshape(n, groups, -1), 2).reshape(x.shape)


def _bn_train(x, w, b):
    """batch_norm in training mode with fresh running statistics (they are mutated)."""
    c = x.shape[1]
    rm = sg.zeros(c, dtype=x.dtype, device=x.device)
    rv = sg.ones(c, dtype=x.dtype, device=x.device)
    return F.batch_norm(x, rm, rv, w, b, training=True)


def _bn_eval(x, w, b):
    c = x.shape[1]
    xp = x.xp
    rm = sg.Tensor(xp.linspace(-0.5, 0.5, c, dtype=x.dtype))
    rv = sg.Tensor(xp.linspace(0.5, 2.0, c, dtype=x.dtype))
    return F.batch_norm(x, rm, rv, w, b, training=False)


CASES = [
    # layer_norm
    OpCase('Standardize', lambda x: F.layer_norm(x, 4), [(3, 4)],
           reference=lambda x: _np_standardize(x, -1), name='layer_norm no affine'),
    OpCase(['Standardize', 'Mul', 'Add'], lambda x, w, b: F.layer_norm(x, (2, 3), w, b),
           [(2, 2, 3), (2, 3), (2, 3)],
           reference=lambda x, w, b: _np_standardize(x, (1, 2)) * w + b,
           name='layer_norm 2 dims affine'),
    OpCase('Standardize', lambda x, w: F.layer_norm(x, 3, w), [Spec((2, 3), noncontig=True), (3,)],
           name='layer_norm noncontig weight only', reference=lambda x, w: _np_standardize(x, -1) * w),
    OpCase('Standardize', lambda x, b: F.layer_norm(x, [3], bias=b), [(2, 1, 3), (3,)],
           name='layer_norm size-1 dim bias only', reference=lambda x, b: _np_standardize(x, -1) + b),
    # batch_norm, training: batch statistics
    OpCase(['Standardize', 'Mul', 'Add'], _bn_train, [(4, 3), (3,), (3,)],
           reference=lambda x, w, b: _np_standardize(x, 0) * w + b, name='batch_norm train (N,C)'),
    OpCase('Standardize', _bn_train, [(2, 3, 1, 2), (3,), (3,)],
           reference=lambda x, w, b: _np_standardize(x, (0, 2, 3)) * w[:, None, None]
           + b[:, None, None], name='batch_norm train (N,C,H,W)'),
    OpCase('Standardize', lambda x: _bn_train(x, None, None), [Spec((3, 2, 3), noncontig=True)],
           name='batch_norm train (N,C,L) noncontig', reference=lambda x: _np_standardize(x, (0, 2))),
    # batch_norm, eval: a fixed affine map from the running statistics
    OpCase(['Mul', 'Add'], _bn_eval, [(2, 3, 2), (3,), (3,)],
           reference=lambda x, w, b: (x - np.linspace(-0.5, 0.5, 3)[:, None])
           / np.sqrt(np.linspace(0.5, 2.0, 3)[:, None] + 1e-5) * w[:, None] + b[:, None],
           name='batch_norm eval'),
    OpCase('Mul', lambda x: _bn_eval(x, None, None), [(3, 2)], name='batch_norm eval no affine',
           reference=lambda x: (x - np.linspace(-0.5, 0.5, 2)) / np.sqrt(np.linspace(0.5, 2.0, 2) + 1e-5)),
    # group_norm
    OpCase('GroupNorm', lambda x, w, b: F.group_norm(x, 2, w, b),
           [(1, 4, 2), (4,), (4,)],
           reference=lambda x, w, b: _np_standardize(x.reshape(1, 2, 4), 2).reshape(1, 4, 2)
           * w[:, None] + b[:, None], name='group_norm 2 groups'),
    OpCase('Standardize', lambda x: F.group_norm(x, 3), [(2, 6, 1, 2)], name='group_norm (N,C,H,W)',
           reference=lambda x: _np_group_norm(x, 3)),
    OpCase('Standardize', lambda x: F.group_norm(x, 2), [Spec((3, 2, 3), noncontig=True)],
           name='group_norm instance norm noncontig', reference=lambda x: _np_group_norm(x, 2)),
    OpCase('Standardize', lambda x, w: F.group_norm(x, 1, w), [(2, 3, 2), (3,)],
           name='group_norm one group', reference=lambda x, w: _np_group_norm(x, 1) * w[:, None]),
    # group_norm with weight and bias: the fused GroupNorm op (its own backward, and the
    # rebuilt-from-ops one under create_graph)
    OpCase('GroupNorm', lambda x, w, b: F.group_norm(x, 3, w, b), [(2, 6, 2, 3), (6,), (6,)],
           reference=lambda x, w, b: _np_group_norm(x, 3) * w[:, None, None] + b[:, None, None],
           name='GroupNorm (N,C,H,W) affine'),
    OpCase('GroupNorm', lambda x, w, b: F.group_norm(x, 4, w, b),
           [Spec((3, 4, 5), noncontig=True), (4,), (4,)],
           reference=lambda x, w, b: _np_group_norm(x, 4) * w[:, None] + b[:, None],
           name='GroupNorm one channel a group, noncontig'),
    OpCase('GroupNorm', lambda x, w, b: F.group_norm(x, 1, w, b), [(2, 2, 3, 1), (2,), (2,)],
           reference=lambda x, w, b: _np_group_norm(x, 1) * w[:, None, None] + b[:, None, None],
           name='GroupNorm one group'),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_norm(case, device):
    check_case(case, device)


# ----------------------------------------------------------------------------- dtypes, stats
def test_float32_in_float32_out(device):
    x = sg.randn(4, 3, 2, device=device)
    w, b = sg.ones(3, device=device), sg.zeros(3, device=device)
    rm, rv = sg.zeros(3, device=device), sg.ones(3, device=device)
    for y in (F.layer_norm(x, 2), F.layer_norm(x, (3, 2), sg.ones(3, 2, device=device)),
              F.batch_norm(x, rm, rv, w, b, training=True), F.batch_norm(x, rm, rv, w, b),
              F.group_norm(x, 3, w, b)):
        assert y.dtype == np.float32 and y.device == device
    assert rm.dtype == np.float32 and rv.dtype == np.float32


def test_normalized_output_has_zero_mean_unit_variance(device):
    x = sg.randn(5, 8, device=device, dtype=sg.float64) * 3.0 + 2.0
    y = F.layer_norm(x, 8).numpy()
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-4)


def test_batch_norm_running_stats_update_in_place(device):
    x = sg.randn(6, 3, 2, dtype=sg.float64, device=device)
    rm, rv = sg.zeros(3, dtype=sg.float64, device=device), sg.ones(3, dtype=sg.float64, device=device)
    rm_data = rm.data
    F.batch_norm(x, rm, rv, training=True, momentum=0.2)
    h = x.numpy()
    assert rm.data is rm_data           # updated in place, same array
    np.testing.assert_allclose(rm.numpy(), 0.2 * h.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.8 + 0.2 * h.var(axis=(0, 2), ddof=1), rtol=1e-12)


def test_batch_norm_eval_does_not_touch_stats():
    x = sg.randn(4, 3)
    rm, rv = sg.randn(3), sg.rand(3) + 0.5
    before = rm.numpy(), rv.numpy()
    F.batch_norm(x, rm, rv, training=False)
    np.testing.assert_array_equal(rm.numpy(), before[0])
    np.testing.assert_array_equal(rv.numpy(), before[1])


def test_batch_norm_training_without_running_stats():
    x = sg.randn(4, 3, dtype=sg.float64)
    y = F.batch_norm(x, None, None, training=True).numpy()
    np.testing.assert_allclose(y, _np_standardize(x.numpy(), 0), rtol=1e-10)


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_op_and_shapes():
    x = sg.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(3,\) .*\(2, 3, 4\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(3,\).*needs \(4,\)"):
        F.layer_norm(x, 4, sg.ones(3))
    with pytest.raises(ValueError, match=r"group_norm: input of shape \(2, 3, 4\) has 3 channels"):
        F.group_norm(x, 2)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(4,\)"):
        F.batch_norm(x, sg.zeros(4), sg.ones(4), training=True)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(sg.randn(1, 3), sg.zeros(3), sg.ones(3), training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(TypeError, match="batch_norm: expected a floating-point input, got dtype int64"):
        F.batch_norm(sg.arange(6).reshape(2, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="layer_norm: weight is on 'emu'"):
        F.layer_norm(x, 4, sg.ones(4, device='emu'))


# ----------------------------------------------------------------------------- PyTorch
def _pair(host, requires_grad=True):
    torch = pytest.importorskip('torch')
    return (sg.tensor(host, requires_grad=requires_grad),
            torch.tensor(host, requires_grad=requires_grad))


def _compare(ours, theirs, tensors):
    """Forward values and the gradients for one random upstream gradient."""
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(ours.shape)
    ours.backward(sg.tensor(g))
    import torch
    theirs.backward(torch.tensor(g))
    for a, b in tensors:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    x, tx = _pair(rng.standard_normal((2, 3, 4)))
    w, tw = _pair(rng.standard_normal((3, 4)))
    b, tb = _pair(rng.standard_normal((3, 4)))
    _compare(F.layer_norm(x, (3, 4), w, b, eps=1e-3),
             torch.nn.functional.layer_norm(tx, (3, 4), tw, tb, eps=1e-3),
             [(x, tx), (w, tw), (b, tb)])


def test_group_norm_matches_torch():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    x, tx = _pair(rng.standard_normal((2, 6, 3, 2)))
    w, tw = _pair(rng.standard_normal(6))
    b, tb = _pair(rng.standard_normal(6))
    _compare(F.group_norm(x, 3, w, b), torch.nn.functional.group_norm(tx, 3, tw, tb),
             [(x, tx), (w, tw), (b, tb)])


@pytest.mark.parametrize('shape', [(5, 3), (4, 3, 2), (3, 2, 2, 3)])
@pytest.mark.parametrize('training', [True, False])
def test_batch_norm_matches_torch(shape, training):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    x, tx = _pair(rng.standard_normal(shape) * 2 + 1)
    w, tw = _pair(rng.standard_normal(shape[1]))
    b, tb = _pair(rng.standard_normal(shape[1]))
    rm, trm = _pair(rng.standard_normal(shape[1]), requires_grad=False)
    rv, trv = _pair(rng.uniform(0.5, 2, shape[1]), requires_grad=False)
    for _ in range(2):        # two steps: the running statistics compound
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3)
        ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.3)
        np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
    _compare(y, ty, [(x, tx), (w, tw), (b, tb)])


def test_group_norm_fused_gradient_of_some_inputs_only(device):
    """GroupNorm's backward computes only what is asked: x alone, or the parameters alone,
    each equal to the gradient when all three require it."""
    rng = np.random.default_rng(3)
    hosts = [rng.standard_normal(s) for s in ((2, 4, 3, 2), (4,), (4,), (2, 4, 3, 2))]

    def grads(need):
        ts = [sg.tensor(h, device=device, requires_grad=r) for h, r in zip(hosts[:3], need)]
        F.group_norm(ts[0], 2, ts[1], ts[2]).backward(sg.tensor(hosts[3], device=device))
        return [t.grad.numpy() if r else None for t, r in zip(ts, need)]
    full = grads((True, True, True))
    only_x, only_params = grads((True, False, False)), grads((False, True, True))
    np.testing.assert_allclose(only_x[0], full[0], rtol=1e-12)
    np.testing.assert_allclose(only_params[1], full[1], rtol=1e-12)
    np.testing.assert_allclose(only_params[2], full[2], rtol=1e-12)
