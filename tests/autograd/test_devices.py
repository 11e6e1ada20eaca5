"""Devices: NumPy ('cpu'), the emulated device boundary ('emu'), CuPy ('cuda')."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend


def test_emu_refuses_implicit_host_conversion():
    x = sg.randn(3, device='emu')
    with pytest.raises(TypeError, match="implicit conversion"):
        np.asarray(x.data)
    with pytest.raises(TypeError, match="implicit conversion"):
        np.array(x.data)


def test_emu_refuses_mixing_host_and_device_arrays():
    x = sg.randn(3, device='emu')
    with pytest.raises(TypeError, match="mixes a host NumPy array"):
        x.data + np.ones(3)
    with pytest.raises(TypeError, match="mixes a host NumPy array"):
        np.concatenate([x.data, np.ones(3)])
    with pytest.raises(TypeError, match="host NumPy array"):
        x + np.ones(3)


def test_emu_reductions_return_0d_arrays_like_cupy():
    x = sg.randn(3, device='emu')
    s = x.data.sum()
    assert isinstance(s, backend.EmuArray) and s.ndim == 0


def test_explicit_transfer_works(device):
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = sg.tensor(host, device=device)
    assert t.device == device
    np.testing.assert_array_equal(t.numpy(), host)
    back = t.to('cpu')
    assert back.device == 'cpu' and isinstance(back.data, np.ndarray)
    assert t.tolist() == host.tolist()
    assert sg.tensor(2.5, device=device).item() == 2.5


def test_to_is_differentiable_across_devices():
    x = sg.randn(3, dtype=sg.float64, requires_grad=True)
    y = x.to('emu')
    (y * y).sum().backward()
    assert x.grad.device == 'cpu'
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


def test_to_dtype_keeps_gradient_dtype():
    x = sg.randn(3, requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32


def test_default_device_setting_and_context():
    assert sg.get_default_device() == 'cpu'
    with sg.default_device('emu'):
        assert sg.zeros(2).device == 'emu'
        assert sg.randn(2).device == 'emu'
    assert sg.zeros(2).device == 'cpu'
    sg.set_default_device('emu')
    try:
        assert sg.ones(1).device == 'emu'
    finally:
        sg.set_default_device('cpu')


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        sg.zeros(2, device='tpu')


@pytest.mark.skipif(backend.cuda_is_available(), reason="CUDA is available here")
def test_cuda_unavailable_says_what_is_missing():
    with pytest.raises(RuntimeError, match="device 'cuda'") as err:
        sg.zeros(2, device='cuda')
    assert "CuPy" in str(err.value)
    with pytest.raises(RuntimeError, match="device 'cuda'"):
        sg.randn(2).to('cuda')


def test_same_seed_same_numbers_on_cpu_and_emu():
    sg.manual_seed(7)
    a = sg.randn(5).numpy()
    sg.manual_seed(7)
    b = sg.randn(5, device='emu').numpy()
    np.testing.assert_array_equal(a, b)


def test_scatter_add_handles_repeated_indices(device):
    xp = backend.array_module(device)
    target = xp.zeros(4)
    idx = backend.asarray(np.array([0, 2, 2, 2]), device=device)
    vals = backend.asarray(np.array([1.0, 1.0, 2.0, 3.0]), device=device)
    backend.scatter_add(target, idx, vals)
    np.testing.assert_array_equal(backend.to_host(target), [1, 0, 6, 0])


def test_rng_state_round_trip():
    sg.manual_seed(1)
    state = backend.get_rng_state()
    a = sg.randn(4).numpy()
    backend.set_rng_state(state)
    np.testing.assert_array_equal(sg.randn(4).numpy(), a)


def test_tensor_factories(device):
    assert sg.tensor([1.0, 2.0], device=device).dtype == np.float32
    assert sg.tensor([1, 2], device=device).dtype == np.int64
    assert sg.tensor(np.zeros(2), device=device).dtype == np.float64
    assert sg.zeros(2, 3, device=device).shape == (2, 3)
    assert sg.full((2,), 7.0, device=device).numpy().tolist() == [7.0, 7.0]
    assert sg.arange(5, device=device).dtype == np.int64
    assert sg.arange(0, 1, 0.25, device=device).shape == (4,)
    np.testing.assert_allclose(sg.linspace(0, 1, 5, device=device).numpy(), np.linspace(0, 1, 5))
    r = sg.randint(0, 10, (100,), device=device).numpy()
    assert r.min() >= 0 and r.max() < 10
    u = sg.rand(1000, device=device).numpy()
    assert 0 <= u.min() and u.max() < 1
    x = sg.randn(2, 3, device=device)
    for like in (sg.zeros_like(x), sg.ones_like(x), sg.randn_like(x)):
        assert like.shape == (2, 3) and like.device == device and like.dtype == np.float32


def test_tensor_basics(device):
    x = sg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    assert x.shape == (2, 2) and x.ndim == 2 and x.numel() == 4 and x.size() == (2, 2)
    assert x.is_leaf and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.creator is not None
    assert "grad_fn=<Mul>" in repr(y)
    x.grad = sg.ones(2, 2, device=device)
    x.grad.zero_()
    assert x.grad.numpy().sum() == 0
    with pytest.raises(ValueError, match="one-element"):
        x.item()


def test_parse_to_args_is_shared_by_tensor_and_module():
    """Tensor.to and Module.to read their arguments through one parser."""
    from scratchgen import backend
    assert backend.parse_to_args('t', 'emu') == ('emu', None)
    assert backend.parse_to_args('t', np.float64) == (None, np.dtype(np.float64))
    assert backend.parse_to_args('t', 'cpu', dtype=np.float32) == ('cpu', np.dtype(np.float32))
    with pytest.raises(TypeError, match="t: got a dtype twice"):
        backend.parse_to_args('t', np.float64, dtype=np.float32)
    with pytest.raises(TypeError, match=r"t: expected a device .* or a dtype, got 'gpu0'"):
        backend.parse_to_args('t', 'gpu0')
    m = sg.nn.Linear(2, 2).to('emu', np.float64)
    assert m.weight.device == 'emu' and m.weight.dtype == np.float64
    assert sg.ones(2).to(device='emu', dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize('device', ['cpu', 'emu'])
def test_sample_categorical_frequencies_and_zero_weights(device):
    """The one categorical sampler: frequencies follow the weights, zero weights are
    never drawn, any leading shape, int64 on the weights' device."""
    from scratchgen import backend
    sg.manual_seed(0)
    w = backend.to_device(np.tile(np.array([1.0, 0.0, 3.0, 4.0]), (2, 20000, 1)), device)
    idx = backend.sample_categorical(w)
    assert backend.device_of(idx) == device and idx.dtype == np.int64 and idx.shape == (2, 20000)
    counts = np.bincount(backend.to_host(idx).ravel(), minlength=4) / idx.size
    assert counts[1] == 0.0
    np.testing.assert_allclose(counts, [0.125, 0.0, 0.375, 0.5], atol=0.01)
