"""The autograd engine: backward/grad semantics, grad modes, graph freeing, errors."""
import gc
import tracemalloc

import numpy as np
import pytest

import scratchgen as sg


def test_backward_accumulates_into_leaves(device):
    x = sg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5, 7, 9])
    assert x.grad.dtype == np.float32 and x.grad.device == device


def test_shared_subexpression_sums_both_paths(device):
    x = sg.tensor([2.0], device=device, requires_grad=True)
    y = x * x                   # y used twice: dz/dx = 2 * 2x * ... via product rule
    z = (y * y + y).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4 * 2.0 ** 3 + 2 * 2.0])


def test_gradient_argument_and_nonscalar_error(device):
    x = sg.randn(3, 2, device=device, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    g = sg.randn(3, 2, device=device)
    y.backward(gradient=g)
    np.testing.assert_allclose(x.grad.numpy(), 2 * g.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(gradient=sg.ones(2, 3, device=device))


def test_graph_is_freed_unless_retained(device):
    x = sg.randn(4, device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1, rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_grad_returns_without_accumulating(device):
    x = sg.randn(3, device=device, requires_grad=True)
    w = sg.randn(3, device=device, requires_grad=True)
    y = (x * w).sum()
    gx, gw = sg.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    np.testing.assert_allclose(gw.numpy(), x.numpy())
    assert x.grad is None and w.grad is None


def test_grad_unused_input(device):
    x = sg.randn(3, device=device, requires_grad=True)
    u = sg.randn(3, device=device, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="not used"):
        sg.grad(y, [x, u], retain_graph=True)
    gx, gu = sg.grad(y, [x, u], allow_unused=True)
    assert gu is None


def test_grad_of_intermediate(device):
    x = sg.randn(3, device=device, requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = sg.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy(), rtol=1e-6)


def test_create_graph_gives_second_derivative(device):
    x = sg.tensor([0.5, -1.0, 2.0], dtype=sg.float64, device=device, requires_grad=True)
    y = (x ** 3).sum()
    (g,) = sg.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    (h,) = sg.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())


def test_gradient_penalty_pattern(device):
    """WGAN-GP needs d/dw of ||d critic / d x||^2: a mixed second derivative."""
    x = sg.randn(4, 3, dtype=sg.float64, device=device, requires_grad=True)
    w = sg.randn(3, 1, dtype=sg.float64, device=device, requires_grad=True)
    out = ((x @ w).exp()).sum()
    (gx,) = sg.grad(out, x, create_graph=True)
    penalty = (gx * gx).sum()
    penalty.backward()
    # closed form: gx = exp(xw) w^T, penalty = sum_i exp(2 x_i w) * |w|^2
    xn, wn = x.numpy(), w.numpy()
    e = np.exp(2 * xn @ wn)
    expected = 2 * (xn.T @ e) * (wn ** 2).sum() + 2 * e.sum() * wn
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-10)


def test_no_grad_and_enable_grad(device):
    x = sg.randn(3, device=device, requires_grad=True)
    with sg.no_grad():
        y = x * 2
        with sg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad

    @sg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    assert sg.is_grad_enabled()


def test_set_grad_enabled():
    x = sg.randn(2, requires_grad=True)
    with sg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_detach_and_requires_grad_rules(device):
    x = sg.randn(3, device=device, requires_grad=True)
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    with pytest.raises(RuntimeError, match="floating-point"):
        sg.tensor([1, 2, 3], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        sg.randn(3, device=device).sum().backward()


def test_retain_grad_on_intermediate(device):
    x = sg.randn(3, device=device, requires_grad=True)
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy(), rtol=1e-6)


def test_mixing_devices_is_a_clear_error():
    a = sg.ones(3, device='cpu')
    b = sg.ones(3, device='emu')
    with pytest.raises(RuntimeError, match="different devices"):
        a + b


def test_deep_chain_does_not_recurse():
    x = sg.tensor([1.0], dtype=sg.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_deterministic_backward(device):
    def run():
        sg.manual_seed(3)
        x = sg.randn(5, 4, device=device, requires_grad=True)
        w = sg.randn(4, 4, device=device, requires_grad=True)
        h = x @ w
        ((h * h).exp().mean() + (h @ w).sum()).backward()
        return x.grad.numpy(), w.grad.numpy()
    a, b = run(), run()
    for u, v in zip(a, b):
        assert np.array_equal(u, v)


def test_anomaly_detection_names_the_op(device):
    x = sg.tensor([1.0, 1000.0], device=device, requires_grad=True)
    with sg.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"Exp produced NaN/Inf in its forward output"):
            x.exp()
    y = sg.tensor([0.0, 1.0], device=device, requires_grad=True)
    out = (y ** 0.5).sum()          # forward is finite; d/dy at 0 is infinite
    with sg.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"PowConst produced NaN/Inf") as err:
            out.backward()
    assert "created at" in str(err.value)
    out2 = (y ** 0.5).sum()
    out2.backward()                  # outside anomaly mode: no error, inf gradient
    assert np.isinf(y.grad.numpy()[0])


def test_training_memory_is_flat():
    """1,000 steps of a small MLP must not grow memory (graph freed, no cycles kept)."""
    sg.manual_seed(0)
    w1 = sg.randn(8, 32, requires_grad=True)
    w2 = sg.randn(32, 1, requires_grad=True)
    x = sg.randn(64, 8)
    t = sg.randn(64, 1)

    def step():
        h = (x @ w1).exp() * 0.01
        loss = ((h @ w2 - t) ** 2).mean()
        loss.backward()
        with sg.no_grad():
            w1.data -= 1e-4 * w1.grad.data
            w2.data -= 1e-4 * w2.grad.data
        w1.grad = w2.grad = None

    for _ in range(50):
        step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        step()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 1,000 steps"


def test_zeroing_one_grad_leaves_shared_gradients_alone(device):
    a = sg.randn(3, device=device, requires_grad=True)
    b = sg.randn(3, device=device, requires_grad=True)
    (a + b).sum().backward()           # Add hands the same gradient array to both
    a.grad.zero_()
    np.testing.assert_array_equal(a.grad.numpy(), 0)
    np.testing.assert_array_equal(b.grad.numpy(), 1)


def test_backward_skips_inputs_that_need_no_gradient(device):
    x = sg.randn(4, 3, device=device)                  # data: no gradient wanted
    w = sg.randn(3, 2, device=device, requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 2)


@pytest.mark.parametrize('data, kind', [
    (['a', 'b'], 'strings'), (np.array(['x']), 'strings'), ([object()], 'Python objects'),
    ([1 + 2j], 'complex numbers'), ([b'x'], 'bytes'),
])
def test_tensor_refuses_non_numeric_data(data, kind):
    """As in PyTorch: sg.tensor(['a', 'b']) is an error, never a string tensor."""
    with pytest.raises(TypeError, match=rf"tensor: cannot build a tensor from \w+ holding {kind} "
                                        r"\(dtype .*\); expected bool, integer or floating"):
        sg.tensor(data)


def test_tensor_refuses_ragged_lists_and_says_what_it_expected():
    with pytest.raises(TypeError, match="expected numbers, nested lists of equal length"):
        sg.tensor([[1, 2], [3]])


def test_trace_prints_each_forward_op_with_shapes():
    import io
    buf = io.StringIO()
    w = sg.randn(3, 2, requires_grad=True)
    with sg.trace(file=buf) as t:
        y = (sg.randn(4, 3) @ w).tanh().sum()
    y.backward()                                   # outside the block: not traced
    names = [r[0] for r in t.records]
    assert names == ['MatMul', 'Tanh', 'Sum']
    assert t.records[0][1] == [(4, 3), (3, 2)] and t.records[0][2] == [(4, 2)]
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3 and 'MatMul' in lines[0] and '(4, 3) float32, (3, 2) float32 -> (4, 2) float32' in lines[0]


def test_trace_shows_backward_ops_only_when_asked():
    w = sg.randn(3, requires_grad=True)
    with sg.trace(quiet=True) as fwd_only:
        (w * w).sum().backward()
    assert {r[3] for r in fwd_only.records} == {'fwd'}
    with sg.trace(quiet=True, backward=True) as both:
        (w * w).sum().backward()
    phases = [r[3] for r in both.records]
    assert phases[:2] == ['fwd', 'fwd'] and 'bwd' in phases[2:]
    from scratchgen.autograd.grad_mode import _state
    assert _state.tracer is None and _state.in_backward == 0
