"""Gradient clipping against torch.nn.utils and by hand; shared gradients stay untouched."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import Tensor
from scratchgen.optim import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (5,), ()]


def setup(device, dtype, scale, seed=0):
    rng = np.random.default_rng(seed)
    grads = [np.asarray(scale * rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    ps = [sg.Parameter(sg.zeros(s, dtype=dtype, device=device)) for s in SHAPES]
    for p, g in zip(ps, grads):
        p.grad = sg.tensor(g, device=device)
    return ps, grads


def test_norm_by_hand(device):
    p, q = sg.Parameter(sg.zeros(2, device=device)), sg.Parameter(sg.zeros(1, device=device))
    p.grad, q.grad = sg.tensor([3.0, 0.0], device=device), sg.tensor([4.0], device=device)
    total = clip_grad_norm_([p, q], max_norm=1.0)
    assert isinstance(total, Tensor) and total.device == device and total.dtype == np.float32
    assert float(total.item()) == pytest.approx(5.0)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(p.grad.numpy(), [3 * coef, 0.0], rtol=1e-6)
    np.testing.assert_allclose(q.grad.numpy(), [4 * coef], rtol=1e-6)
    # below the limit: unchanged
    total = clip_grad_norm_([p, q], max_norm=10.0)
    np.testing.assert_allclose(p.grad.numpy(), [3 * coef, 0.0], rtol=1e-6)


@pytest.mark.parametrize('norm_type', [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize('scale', [0.1, 10.0])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_norm_matches_torch(norm_type, scale, dtype, device):
    torch = pytest.importorskip('torch')
    ps, grads = setup(device, dtype, scale)
    ts = [torch.nn.Parameter(torch.zeros(s, dtype=torch.from_numpy(g).dtype))
          for s, g in zip(SHAPES, grads)]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    total = clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm=2.0, norm_type=norm_type)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert total.dtype == dtype
    np.testing.assert_allclose(total.numpy(), ttotal.numpy(), rtol=rtol)
    for p, t in zip(ps, ts):
        assert p.grad.dtype == dtype and p.grad.shape == p.shape
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-7)


def test_value_matches_torch(device):
    torch = pytest.importorskip('torch')
    ps, grads = setup(device, np.float64, 2.0)
    ts = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    clip_grad_value_(ps, 0.5)
    torch.nn.utils.clip_grad_value_(ts, 0.5)
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())
    assert max(np.abs(p.grad.numpy()).max() for p in ps) == 0.5


@pytest.mark.parametrize('clip', [lambda ps: clip_grad_norm_(ps, 0.1),
                                  lambda ps: clip_grad_value_(ps, 0.1)], ids=['norm', 'value'])
def test_shared_gradient_arrays_untouched(clip, device):
    shared = sg.tensor(np.linspace(-3, 3, 7), device=device)
    before = shared.numpy()
    p = sg.Parameter(sg.zeros(7, dtype=sg.float64, device=device))
    p.grad = Tensor(shared.data)
    clip([p])
    np.testing.assert_array_equal(shared.numpy(), before)
    assert np.abs(p.grad.numpy()).max() <= 0.1 + 1e-12
    assert p.grad.data is not shared.data


def test_single_tensor_and_missing_grads():
    p, q = sg.Parameter(sg.zeros(2)), sg.Parameter(sg.zeros(2))
    p.grad = sg.tensor([6.0, 8.0])
    assert float(clip_grad_norm_(p, 5.0).item()) == pytest.approx(10.0)
    assert float(clip_grad_norm_([p, q], 5.0).item()) == pytest.approx(5.0, rel=1e-5)
    assert q.grad is None
    assert float(clip_grad_norm_([q], 1.0).item()) == 0.0


def test_errors():
    p = sg.Parameter(sg.zeros(2))
    p.grad = sg.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match='non-finite'):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match='max_norm must be >= 0'):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match='clip_value must be >= 0'):
        clip_grad_value_([p], -1.0)
    with pytest.raises(TypeError, match='item 0 is a ndarray'):
        clip_grad_norm_([np.zeros(2)], 1.0)
