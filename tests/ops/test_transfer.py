"""``To`` (``Tensor.to``): device moves are differentiable twice (gradcheck in float64);
dtype casts send the gradient back in the source dtype and on the source device."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import To
from helpers import OpCase, Spec, check_case


def _other(device):
    """A device different from ``device`` (cpu <-> emu; cuda -> cpu)."""
    return 'emu' if device == 'cpu' else 'cpu'


CASES = [
    OpCase('To', lambda x: (x.to(_other(x.device)) * 3.0).to(x.device), [(3, 4)],
           name='To device round trip', reference=lambda x: 3.0 * x),
    OpCase('To', lambda x: x.to(_other(x.device)).to(x.device),
           [Spec((4, 3), noncontig=True)], name='To noncontig round trip',
           reference=lambda x: x),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_transfer(case, device):
    check_case(case, device)


def test_gradient_returns_to_source_device(device):
    x = sg.tensor([1.0, -2.0, 3.0], dtype=sg.float64, device=device, requires_grad=True)
    other = _other(device)
    y = x.to(other)
    assert y.device == other and y.creator is not None
    (y * sg.tensor([2.0, 3.0, 4.0], dtype=sg.float64, device=other)).sum().backward()
    assert x.grad.device == device and x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 4.0])


@pytest.mark.parametrize('src,dst', [(sg.float32, sg.float64), (sg.float64, sg.float32),
                                     (sg.float32, sg.float16)])
def test_dtype_cast_gradient_in_source_dtype(device, src, dst):
    """Not a gradcheck: a float32 round trip is too coarse for central differences."""
    host = np.array([0.5, -1.25, 2.0])
    w = np.array([1.5, -0.5, 0.25])
    x = sg.tensor(host, dtype=src, device=device, requires_grad=True)
    y = x.to(dst)
    assert y.dtype == dst and y.device == device
    (y * sg.tensor(w, dtype=dst, device=device)).sum().backward()
    assert x.grad.dtype == src and x.grad.device == device
    np.testing.assert_array_equal(x.grad.numpy(), w.astype(dst).astype(src))


def test_device_and_dtype_at_once(device):
    x = sg.tensor([1.0, 2.0], dtype=sg.float32, device=device, requires_grad=True)
    other = _other(device)
    y = x.to(other, sg.float64)
    assert y.device == other and y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.device == device and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_second_derivative_across_devices(device):
    x = sg.tensor([1.0, -2.0], dtype=sg.float64, device=device, requires_grad=True)
    y = x.to(_other(device), sg.float32)
    (g,) = sg.grad((y ** 3).sum(), x, create_graph=True)     # 3 x^2, back on x's device
    assert g.device == device and g.dtype == np.float64
    np.testing.assert_array_equal(g.numpy(), [3.0, 12.0])
    g.sum().backward()                                         # d/dx sum(3 x^2) = 6 x
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, -12.0])


def test_no_op_and_integer_casts(device):
    x = sg.randn(3, device=device, requires_grad=True)
    assert x.to(device) is x and x.to(sg.float32) is x and To.apply(x) is x
    i = sg.arange(3, device=device).to(sg.float32)
    assert i.dtype == np.float32 and not i.requires_grad
    np.testing.assert_array_equal(i.numpy(), [0.0, 1.0, 2.0])
    assert x.to(sg.int64).dtype == np.int64
