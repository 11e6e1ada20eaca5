"""Reductions and softmax: forward against NumPy, first and second derivatives, every
device; PyTorch cross-checks; stability at |x| = 1000; dtypes; axis errors."""
import warnings

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.ops.reduce import SoftmaxBackward
from helpers import OpCase, Spec, check_case

F = sg.functional


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    y = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return x - np_logsumexp(x, axis=axis, keepdims=True)


D = dict(distinct=True)      # max/min: no ties (a kink)

CASES = [
    OpCase('Sum', F.sum, [(3, 4)], reference=np.sum),
    OpCase('Sum', lambda x: x.sum(1), [(2, 3, 4)], name='Sum axis 1',
           reference=lambda x: x.sum(1)),
    OpCase('Sum', lambda x: x.sum(axis=(0, -1), keepdims=True), [Spec((2, 3, 4), noncontig=True)],
           name='Sum tuple keepdims noncontig', reference=lambda x: x.sum((0, 2), keepdims=True)),
    OpCase('Sum', lambda x: x.sum(dim=-2, keepdim=True), [(3, 1, 2)], name='Sum dim keepdim size-1',
           reference=lambda x: x.sum(-2, keepdims=True)),
    OpCase('Sum', lambda x: x.sum(0), [()], name='Sum 0-d', reference=lambda x: x),
    OpCase(('Sum', 'Mul'), F.mean, [(3, 4)], reference=np.mean, name='mean'),
    OpCase(('Sum', 'Mul'), lambda x: x.mean(dim=(0, 2)), [(2, 3, 4)], name='mean tuple',
           reference=lambda x: x.mean((0, 2))),
    OpCase(('Sum', 'Sub', 'Mul'), F.var, [(3, 4)], reference=lambda x: np.var(x, ddof=1), name='var'),
    OpCase(('Sum', 'Sub', 'Mul'), lambda x: x.var(1, unbiased=False, keepdims=True),
           [Spec((3, 4), noncontig=True)], name='var biased axis 1 keepdims',
           reference=lambda x: np.var(x, 1, keepdims=True)),
    OpCase(('Sqrt', 'Sum'), lambda x: x.std(dim=0), [(4, 3)], name='std axis 0',
           reference=lambda x: np.std(x, 0, ddof=1)),
    OpCase('Max', F.max, [Spec((3, 4), **D)], reference=np.max),
    OpCase('Max', lambda x: x.max(1), [Spec((2, 3, 4), **D)], name='Max axis 1',
           reference=lambda x: x.max(1)),
    OpCase('Max', lambda x: x.amax(axis=(0, 2), keepdims=True), [Spec((2, 3, 4), noncontig=True, **D)],
           name='Max tuple keepdims noncontig', reference=lambda x: x.max((0, 2), keepdims=True)),
    OpCase('Max', lambda x: x.max(dim=-1, keepdim=True), [Spec((3, 1), **D)], name='Max over size-1',
           reference=lambda x: x),
    OpCase('Min', F.min, [Spec((3, 4), **D)], reference=np.min),
    OpCase('Min', lambda x: x.min(0, keepdims=True), [Spec((3, 4), noncontig=True, **D)],
           name='Min axis 0 noncontig', reference=lambda x: x.min(0, keepdims=True)),
    OpCase('Argmax', F.argmax, [Spec((3, 4), **D)], differentiable=False, reference=np.argmax),
    OpCase('Argmax', lambda x: x.argmax(dim=1, keepdim=True), [Spec((2, 3, 4), **D)],
           differentiable=False, name='Argmax dim 1', reference=lambda x: x.argmax(1, keepdims=True)),
    OpCase('Argmin', lambda x: x.argmin(-1), [Spec((3, 4), noncontig=True, **D)],
           differentiable=False, reference=lambda x: x.argmin(-1)),
    OpCase('LogSumExp', F.logsumexp, [(3, 4)], reference=np_logsumexp),
    OpCase('LogSumExp', lambda x: x.logsumexp(dim=1, keepdim=True), [Spec((2, 3, 4), noncontig=True)],
           name='LogSumExp dim 1 keepdim', reference=lambda x: np_logsumexp(x, 1, True)),
    OpCase('LogSumExp', lambda x: F.logsumexp(x, (0, 2)), [(2, 1, 3)], name='LogSumExp tuple',
           reference=lambda x: np_logsumexp(x, (0, 2))),
    OpCase('LogSumExp', lambda x: F.logsumexp(x, 1), [Spec(values=[[1000.0, 999.0, 998.5],
                                                                   [-1000.0, -1001.0, -999.0]])],
           name='LogSumExp large', reference=lambda x: np_logsumexp(x, 1)),
    OpCase('Softmax', F.softmax, [(3, 4)], reference=np_softmax),
    OpCase('SoftmaxBackward', lambda y, g: SoftmaxBackward((1,))(y, g), [(3, 4), (3, 4)],
           reference=lambda y, g: y * (g - (g * y).sum(1, keepdims=True))),
    OpCase('SoftmaxBackward', lambda y, g: SoftmaxBackward((0, 2))(y, g),
           [Spec((2, 3, 2)), Spec((2, 3, 2), noncontig=True)], name='SoftmaxBackward tuple axes',
           reference=lambda y, g: y * (g - (g * y).sum((0, 2), keepdims=True))),
    OpCase('Softmax', lambda x: x.softmax(dim=0), [Spec((4, 3), noncontig=True)], name='Softmax dim 0',
           reference=lambda x: np_softmax(x, 0)),
    OpCase('Softmax', lambda x: F.softmax(x, axis=(1, 2)), [(2, 2, 3)], name='Softmax tuple',
           reference=lambda x: np_softmax(x, (1, 2))),
    OpCase('Softmax', lambda x: F.softmax(x * 300.0, 1), [(2, 3)], name='Softmax large logits',
           reference=lambda x: np_softmax(x * 300.0, 1)),
    OpCase('LogSoftmax', F.log_softmax, [(3, 4)], reference=np_log_softmax),
    OpCase('LogSoftmax', lambda x: x.log_softmax(0), [Spec((4, 3), noncontig=True)],
           name='LogSoftmax dim 0', reference=lambda x: np_log_softmax(x, 0)),
    OpCase('LogSoftmax', lambda x: F.log_softmax(x, dim=1), [(2, 1)], name='LogSoftmax size-1',
           reference=lambda x: np_log_softmax(x, 1)),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_reduce(case, device):
    check_case(case, device)


# ------------------------------------------------------------------ semantics
def test_max_splits_gradient_between_ties_like_torch_amax(device):
    x = sg.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], device=device, requires_grad=True)
    x.max(1).backward(sg.tensor([6.0, 3.0], device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 3, 3], [1, 1, 1]])
    y = sg.tensor([[1.0, -3.0, -3.0]], device=device, requires_grad=True)
    y.min().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0, 0.5, 0.5]])


def test_max_returns_values_only_and_max_of_two_tensors(device):
    x = sg.tensor([[1.0, 5.0], [7.0, 2.0]], device=device)
    np.testing.assert_array_equal(x.max(dim=1).numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(x.argmax(dim=1).numpy(), [1, 0])
    np.testing.assert_array_equal(sg.max(x, x.T).numpy(), [[1, 7], [7, 2]])
    np.testing.assert_array_equal(x.min(x.T).numpy(), [[1, 5], [5, 2]])


def test_argmax_is_int64_without_grad(device):
    x = sg.randn(3, 4, device=device, requires_grad=True)
    for i in (x.argmax(), x.argmin(1), x.argmax(0, keepdims=True)):
        assert i.dtype == np.int64 and not i.requires_grad and i.device == device
    assert x.argmax(keepdims=True).shape == (1, 1)
    assert x.argmax().item() == int(np.argmax(x.numpy()))


REDUCTIONS = {
    'sum': F.sum, 'mean': F.mean, 'var': F.var, 'std': F.std, 'max': F.max, 'min': F.min,
    'logsumexp': F.logsumexp, 'softmax': F.softmax, 'log_softmax': F.log_softmax,
}


@pytest.mark.parametrize('name', sorted(REDUCTIONS))
def test_float32_in_float32_out(name, device):
    x = sg.randn(3, 4, device=device, requires_grad=True)
    y = REDUCTIONS[name](x)
    assert y.dtype == np.float32 and y.device == device
    y.backward(sg.ones_like(y) * 0.5)
    assert x.grad.dtype == np.float32 and x.grad.shape == (3, 4)


@pytest.mark.parametrize('name', sorted(REDUCTIONS) + ['argmax', 'argmin'])
def test_out_of_range_axis_names_op_and_shape(name):
    fn = getattr(F, name)
    x = sg.randn(2, 3)
    with pytest.raises(ValueError, match=rf"{name}: axis -3 is out of range for a tensor of shape \(2, 3\)"):
        fn(x, dim=-3)
    if name not in ('argmax', 'argmin'):
        with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range .* shape \(2, 3\)"):
            fn(x, axis=(0, 2))


def test_other_bad_input_is_refused():
    x = sg.randn(2, 3)
    with pytest.raises(TypeError, match="argmax: axis must be an int or None"):
        x.argmax((0, 1))
    with pytest.raises(TypeError, match="sum: got both axis=0 and dim=1"):
        x.sum(0, dim=1)
    with pytest.raises(ValueError, match=r"max: cannot reduce over an empty axis .* shape \(0, 3\)"):
        sg.zeros(0, 3).max(0)


def test_log_softmax_and_friends_do_not_overflow(device):
    x = sg.tensor(np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -999.0]], dtype=np.float32),
                  device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ls, sm, lse = F.log_softmax(x, 1), F.softmax(x, 1), F.logsumexp(x, 1)
        w = sg.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], device=device)
        ((ls * w).sum() + (sm * w).sum() + lse.sum()).backward()
    np.testing.assert_allclose(ls.numpy()[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    np.testing.assert_allclose(lse.numpy(), [1000.0, -999.0 + np.log1p(2 * np.exp(-1.0))], rtol=1e-6)
    np.testing.assert_allclose(sm.numpy()[0], [1.0, 0.0, 0.0], atol=1e-30)
    assert np.isfinite(x.grad.numpy()).all()


# ------------------------------------------------------------------ PyTorch cross-checks
def _torch_compare(fn_sg, fn_torch, x_host, device, rtol=1e-10, atol=1e-12):
    torch = pytest.importorskip('torch')
    x = sg.tensor(x_host, device=device, requires_grad=True)
    y = fn_sg(x)
    g_host = np.random.default_rng(3).standard_normal(y.shape)
    y.backward(sg.tensor(g_host, device=device))
    xt = torch.tensor(x_host, requires_grad=True)
    yt = fn_torch(xt)
    yt.backward(torch.tensor(g_host))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)


X = np.random.default_rng(2).standard_normal((3, 4, 5)) * 3


@pytest.mark.parametrize('dim', [None, 1, (0, 2), -1])
@pytest.mark.parametrize('unbiased', [True, False])
def test_var_std_match_torch(dim, unbiased, device):
    torch = pytest.importorskip('torch')
    for ours, theirs in [(F.var, torch.var), (F.std, torch.std)]:
        for keep in (False, True):
            if dim is None:
                _torch_compare(lambda x: ours(x, unbiased=unbiased),
                               lambda x: theirs(x, unbiased=unbiased), X, device)
            else:
                _torch_compare(lambda x: ours(x, dim, unbiased=unbiased, keepdim=keep),
                               lambda x: theirs(x, dim, unbiased=unbiased, keepdim=keep), X, device)


@pytest.mark.parametrize('dim', [0, (1, 2), -1])
def test_logsumexp_matches_torch(dim, device):
    torch = pytest.importorskip('torch')
    _torch_compare(lambda x: F.logsumexp(x, dim), lambda x: torch.logsumexp(x, dim), X, device)
    _torch_compare(lambda x: F.logsumexp(x, dim=dim, keepdim=True),
                   lambda x: torch.logsumexp(x, dim, keepdim=True), X * 300, device)


@pytest.mark.parametrize('dim', [0, 1, -1])
def test_softmax_log_softmax_match_torch(dim, device):
    torch = pytest.importorskip('torch')
    _torch_compare(lambda x: x.softmax(dim), lambda x: x.softmax(dim), X, device)
    _torch_compare(lambda x: x.log_softmax(dim=dim), lambda x: x.log_softmax(dim=dim), X * 300, device)


def test_amax_ties_match_torch(device):
    torch = pytest.importorskip('torch')
    x = np.array([[1.0, 4.0, 4.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 0.0, -1.0]])
    _torch_compare(lambda x: x.max(1), lambda x: x.amax(1), x, device)
    _torch_compare(lambda x: x.min(dim=0, keepdim=True), lambda x: x.amin(0, keepdim=True), x, device)
    _torch_compare(lambda x: x.max(), lambda x: x.amax(), x, device)
