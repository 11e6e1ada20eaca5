"""Elementwise ops: forward against NumPy, first and second derivatives, every device;
PyTorch cross-checks of the activations; stability at |x| = 1000; dtypes; the array erf
(scratchgen/ops/special.py) against math.erf."""
import math
import warnings

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend
from scratchgen.ops import special
from scratchgen.ops.unary import GeluBackward, SiluBackward, _gelu_saved
from helpers import OpCase, Spec, check_case

F = sg.functional
np_erf = np.vectorize(math.erf, otypes=[float])
POS = dict(low=0.5, high=2.0)          # domain of log, sqrt, rsqrt


def np_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))    # independent of the op's formula


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


def np_gelu_tanh_grad(x):
    """d/dx of 0.5 x (1 + tanh(u)) by the chain rule, written out independently."""
    c, a = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(c * (x + a * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * c * (1 + 3 * a * x ** 2)


CASES = [
    OpCase('Exp', F.exp, [(3, 4)], reference=np.exp),
    OpCase('Exp', lambda x: x.exp(), [Spec((3, 4), noncontig=True)], name='Exp noncontig method',
           reference=np.exp),
    OpCase('Log', F.log, [Spec((3, 4), **POS)], reference=np.log),
    OpCase('Log1p', F.log1p, [Spec((3, 4), low=-0.5, high=2.0)], reference=np.log1p),
    OpCase('Expm1', F.expm1, [(3, 4)], reference=np.expm1),
    OpCase('Sqrt', F.sqrt, [Spec((3, 4), **POS)], reference=np.sqrt),
    OpCase('Rsqrt', F.rsqrt, [Spec((3, 4), **POS)], reference=lambda x: 1 / np.sqrt(x)),
    OpCase('Abs', F.abs, [Spec((3, 4), away_from=(0,))], reference=np.abs),
    OpCase('Abs', lambda x: abs(x), [Spec((4, 3), away_from=(0,), noncontig=True)],
           name='Abs builtin noncontig', reference=np.abs),
    OpCase('Sign', F.sign, [Spec((3, 4), away_from=(0,))], reference=np.sign, second_order=False,
           why='sign is piecewise constant: its derivative is zero and has no derivative to check'),
    OpCase('Sin', F.sin, [(3, 4)], reference=np.sin),
    OpCase('Cos', F.cos, [(3, 4)], reference=np.cos),
    OpCase('Erf', F.erf, [Spec((2, 4), low=-3, high=3)], reference=np_erf),
    OpCase('Tanh', F.tanh, [(3, 4)], reference=np.tanh),
    OpCase('Sigmoid', F.sigmoid, [(3, 4)], reference=np_sigmoid),
    OpCase('Sigmoid', F.sigmoid, [Spec(values=[-30.0, -8.0, -0.1, 0.0, 0.2, 9.0, 30.0])],
           reference=np_sigmoid, name='Sigmoid large |x|'),
    OpCase('Relu', F.relu, [Spec((3, 4), away_from=(0,))], reference=lambda x: np.maximum(x, 0)),
    OpCase('LeakyRelu', F.leaky_relu, [Spec((3, 4), away_from=(0,))],
           reference=lambda x: np.where(x > 0, x, 0.01 * x)),
    OpCase('LeakyRelu', lambda x: F.leaky_relu(x, negative_slope=0.2),
           [Spec((3, 4), away_from=(0,), noncontig=True)], name='LeakyRelu slope 0.2',
           reference=lambda x: np.where(x > 0, x, 0.2 * x)),
    OpCase('Elu', F.elu, [Spec((3, 4), away_from=(0,))],
           reference=lambda x: np.where(x > 0, x, np.expm1(x))),
    OpCase('Elu', lambda x: F.elu(x, alpha=0.5), [Spec((3, 4), away_from=(0,))],
           reference=lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), name='Elu alpha 0.5'),
    OpCase('Gelu', F.gelu, [Spec((2, 4), low=-4, high=4)],
           reference=lambda x: x * 0.5 * (1 + np_erf(x / math.sqrt(2)))),
    OpCase('Gelu', lambda x: F.gelu(x, approximate='tanh'), [Spec((3, 4), low=-4, high=4)],
           name='Gelu tanh', reference=lambda x: 0.5 * x * (
               1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    OpCase('GeluBackward', lambda x, g: GeluBackward('none', _gelu_saved(x.data, 'none'))(x, g),
           [Spec((2, 4), low=-4, high=4), (2, 4)],
           reference=lambda x, g: g * (0.5 * (1 + np_erf(x / math.sqrt(2)))
                                       + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))),
    OpCase('GeluBackward', lambda x, g: GeluBackward('tanh', _gelu_saved(x.data, 'tanh'))(x, g),
           [Spec((3, 4), low=-4, high=4), Spec((3, 4), noncontig=True)], name='GeluBackward tanh',
           reference=lambda x, g: g * np_gelu_tanh_grad(x)),
    OpCase('Silu', F.silu, [Spec((3, 4), low=-5, high=5)],
           reference=lambda x: x * np_sigmoid(x)),
    OpCase('SiluBackward', lambda x, g: SiluBackward(F.sigmoid(x).data)(x, g),
           [Spec((3, 4), low=-5, high=5), Spec((3, 4), noncontig=True)],
           reference=lambda x, g: g * np_sigmoid(x) * (1 + x * (1 - np_sigmoid(x)))),
    OpCase('Softplus', F.softplus, [Spec((3, 4), low=-5, high=5)], reference=np_softplus),
    OpCase('Softplus', lambda x: F.softplus(x, beta=2.0, threshold=1.0),
           [Spec((3, 4), low=-2, high=2, away_from=(0.5,))], name='Softplus beta 2 threshold 1',
           reference=lambda x: np_softplus(x, 2.0, 1.0)),
    OpCase('Clip', lambda x: F.clip(x, -0.5, 0.5), [Spec((3, 4), low=-1, high=1, away_from=(-0.5, 0.5))],
           reference=lambda x: np.clip(x, -0.5, 0.5)),
    OpCase('Clip', lambda x: x.clamp(min=0.1), [Spec((3, 4), away_from=(0.1,))],
           reference=lambda x: np.maximum(x, 0.1), name='Clip min only'),
    OpCase('Clip', lambda x: x.clip(max=0.1), [Spec((3, 4), away_from=(0.1,))],
           reference=lambda x: np.minimum(x, 0.1), name='Clip max only'),
    OpCase(('Maximum', 'Minimum'), lambda x, lo, hi: F.clamp(x, lo, hi), [(3, 4), (4,), (3, 1)],
           name='clamp tensor bounds', reference=lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)),
    OpCase('Maximum', F.maximum, [(3, 4), (3, 4)], reference=np.maximum),
    OpCase('Maximum', F.maximum, [Spec((4, 3), noncontig=True), (3,)], name='Maximum broadcast noncontig',
           reference=np.maximum),
    OpCase('Maximum', lambda x: sg.maximum(x, 0.3), [Spec((5,), away_from=(0.3,))],
           name='Maximum scalar', reference=lambda x: np.maximum(x, 0.3)),
    OpCase('Minimum', F.minimum, [(2, 3, 1), (3, 4)], reference=np.minimum),
    OpCase('Where', lambda c, a, b: F.where(c, a, b),
           [Spec(values=[[True], [False], [True]], dtype=bool), (3, 4), (4,)], reference=np.where),
    OpCase('Where', lambda c, a: F.where(c, a, 0.5),
           [Spec(values=[True, False, False, True], dtype=bool), Spec((4,), noncontig=True)],
           name='Where scalar', reference=lambda c, a: np.where(c, a, 0.5)),
    OpCase('Where', lambda c, b: b.where(c, -2.0), [Spec(values=[[True, False]], dtype=bool), (3, 2)],
           name='Where method', reference=lambda c, b: np.where(c, b, -2.0)),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_unary(case, device):
    check_case(case, device)


# ------------------------------------------------------------------ dtypes and devices
UNARY = {
    'exp': F.exp, 'log': F.log, 'log1p': F.log1p, 'expm1': F.expm1, 'sqrt': F.sqrt,
    'rsqrt': F.rsqrt, 'abs': F.abs, 'sign': F.sign, 'sin': F.sin, 'cos': F.cos, 'erf': F.erf,
    'tanh': F.tanh, 'sigmoid': F.sigmoid, 'relu': F.relu, 'leaky_relu': F.leaky_relu,
    'elu': F.elu, 'gelu': F.gelu, 'gelu_tanh': lambda x: F.gelu(x, approximate='tanh'),
    'silu': F.silu, 'softplus': F.softplus, 'clip': lambda x: F.clip(x, 0.7, 1.2),
    'maximum': lambda x: F.maximum(x, 1.0), 'minimum': lambda x: F.minimum(1.0, x),
    'where': lambda x: F.where(x > 1.0, x, 0.0),
}


@pytest.mark.parametrize('name', sorted(UNARY))
def test_float32_in_float32_out(name, device):
    x = sg.tensor(np.array([0.5, 1.5, 2.0], dtype=np.float32), device=device, requires_grad=True)
    y = UNARY[name](x)
    assert y.dtype == np.float32 and y.device == device, (name, y.dtype, y.device)
    y.backward(sg.ones_like(y))
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape, name


def test_tensor_methods_match_functions(device):
    x = sg.tensor([[0.3, -0.6, 2.0]], device=device)
    for name in ['exp', 'log1p', 'expm1', 'abs', 'sign', 'sin', 'cos', 'erf', 'tanh',
                 'sigmoid', 'relu']:
        np.testing.assert_array_equal(getattr(x, name)().numpy(), UNARY[name](x).numpy())
    np.testing.assert_array_equal(x.clamp(-1, 1).numpy(), np.clip(x.numpy(), -1, 1))
    np.testing.assert_array_equal(x.clip(-1, 1).numpy(), np.clip(x.numpy(), -1, 1))
    np.testing.assert_array_equal(x.maximum(x * 2).numpy(), np.maximum(x.numpy(), 2 * x.numpy()))
    np.testing.assert_array_equal(x.minimum(x * 2).numpy(), np.minimum(x.numpy(), 2 * x.numpy()))
    np.testing.assert_array_equal(abs(x).numpy(), np.abs(x.numpy()))


def test_maximum_minimum_split_the_gradient_on_ties(device):
    for fn, a_gets in ((F.maximum, [1.0, 0.0, 2.0]), (F.minimum, [1.0, 2.0, 0.0])):
        a = sg.tensor([1.0, 2.0, 3.0], dtype=sg.float64, device=device, requires_grad=True)
        b = sg.tensor([1.0, 5.0, 0.0], dtype=sg.float64, device=device, requires_grad=True)
        fn(a, b).backward(sg.tensor([2.0, 2.0, 2.0], dtype=sg.float64, device=device))
        np.testing.assert_array_equal(a.grad.numpy(), a_gets)
        np.testing.assert_array_equal(b.grad.numpy(), 2.0 - np.array(a_gets))


def test_masked_out_entries_get_zero_even_from_an_infinite_gradient(device):
    x = sg.tensor([-1.0, 2.0], dtype=sg.float64, device=device, requires_grad=True)
    for fn in (F.relu, lambda x: F.clip(x, 0.0, 1.0)):
        x.grad = None
        fn(x).backward(sg.tensor([np.inf, 0.5], dtype=sg.float64, device=device))
        assert x.grad.numpy()[0] == 0.0


# ------------------------------------------------------------------ stability
def test_no_overflow_at_large_magnitude(device):
    """|x| = 1000 in float32: exp(1000) overflows, the stable forms must never compute it."""
    x = sg.tensor(np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0], dtype=np.float32),
                  device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        outs = {'sigmoid': F.sigmoid(x), 'softplus': F.softplus(x), 'silu': F.silu(x),
                'elu': F.elu(x), 'gelu': F.gelu(x), 'gelu_tanh': F.gelu(x, approximate='tanh')}
        for y in outs.values():
            y.backward(sg.ones_like(y))
    for name, y in outs.items():
        assert np.isfinite(y.numpy()).all(), name
    np.testing.assert_allclose(outs['sigmoid'].numpy(), [0, 2.0611537e-09, 0.5, 1 - 2.0611537e-09, 1],
                               rtol=1e-6)
    np.testing.assert_allclose(outs['softplus'].numpy(), [0, 2.0611537e-09, math.log(2), 20, 1000],
                               rtol=1e-6)
    np.testing.assert_allclose(outs['elu'].numpy(), [-1, np.expm1(-20.0), 0, 20, 1000], rtol=1e-6)
    assert np.isfinite(x.grad.numpy()).all()


# ------------------------------------------------------------------ special.erf
# special.erf is SciPy's (cupyx's on CUDA) where installed and fast, erf_rational in
# float32 on the host (SciPy's float32 loop is slower), erf_series the float64 fallback.
# All are held to the same bar, and erf falls back to the series without the library.
ERFS = [pytest.param(special.erf, id='library-or-series'),
        pytest.param(special.erf_series, id='series')]
ERFS_32 = ERFS + [pytest.param(special.erf_rational, id='rational')]


def test_erf_uses_the_library_and_falls_back_to_the_series(monkeypatch):
    scipy_special = pytest.importorskip('scipy.special')
    for xp in (np, backend.emu):
        assert backend.special_function('erf', xp, np.float64) is scipy_special.erf
        assert backend.special_function('ndtr', xp, np.float64) is scipy_special.ndtr
        assert backend.special_function('erf', xp, np.float32) is None     # erf_rational
    x = np.linspace(-4, 4, 101)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(special.erf(x32), special.erf_rational(x32))
    np.testing.assert_array_equal(special.ndtr(x32), special.ndtr_rational(x32))
    np.testing.assert_array_equal(special.erf(x), scipy_special.erf(x))
    monkeypatch.setattr(backend, 'special_function', lambda name, xp, dtype=None: None)
    np.testing.assert_array_equal(special.erf(x), special.erf_series(x))
    np.testing.assert_array_equal(special.erf(x32), special.erf_rational(x32))
    np.testing.assert_array_equal(F.gelu(sg.tensor(x)).numpy(),
                                  0.5 * x * (1 + special.erf_series(x * math.sqrt(0.5))))


@pytest.mark.parametrize('ndtr', [special.ndtr, special.ndtr_rational])
def test_ndtr_float32(ndtr, device):
    xs = np.concatenate([np.linspace(-8, 8, 8001), [0.0, 1e-30, -1e-30]]).astype(np.float32)
    got = backend.to_host(ndtr(backend.to_device(xs, device)))
    assert got.dtype == np.float32
    ref = [0.5 * math.erfc(-float(v) / math.sqrt(2.0)) for v in xs]
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-7)
    assert got.min() >= 0.0 and got.max() <= 1.0
    edges = np.array([np.inf, -np.inf, np.nan, 30.0, -30.0], dtype=np.float32)
    got = backend.to_host(ndtr(backend.to_device(edges, device)))
    np.testing.assert_array_equal(got, [1.0, 0.0, np.nan, 1.0, 0.0])


def test_ndtr_float64(device):
    xs = np.linspace(-8, 8, 4001)
    got = backend.to_host(special.ndtr(backend.to_device(xs, device)))
    ref = [0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in xs]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize('erf', ERFS_32)
def test_erf_dtypes(erf, device):
    for dtype, want in [(np.float16, np.float16), (np.float32, np.float32),
                        (np.float64, np.float64), (np.int64, backend.get_default_dtype())]:
        got = erf(backend.to_device(np.arange(-2, 3).astype(dtype), device))
        assert got.dtype == want, (dtype, got.dtype)
        np.testing.assert_allclose(backend.to_host(got).astype(np.float64),
                                   [math.erf(v) for v in range(-2, 3)], rtol=1e-3)


@pytest.mark.parametrize('erf', ERFS)
def test_erf_float64_matches_math_erf(erf, device):
    rng = np.random.default_rng(1)
    xs = np.concatenate([np.linspace(-7, 7, 20001), 2 * rng.standard_normal(5000),
                         np.logspace(-300, 1, 500), -np.logspace(-20, 0.5, 200),
                         [0.0, 1.0, np.nextafter(1.0, 0), 5.99, 6.0, 1e-310]])
    ref = np.array([math.erf(v) for v in xs])
    got = backend.to_host(erf(backend.to_device(xs, device)))
    assert got.dtype == np.float64
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
    assert rel.max() < 1e-15, f"max relative error {rel.max():.3g} at x = {xs[rel.argmax()]!r}"


@pytest.mark.parametrize('erf', ERFS_32)
def test_erf_float32_and_special_values(erf, device):
    xs = np.linspace(-5, 5, 4001).astype(np.float32)
    got = backend.to_host(erf(backend.to_device(xs, device)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [math.erf(float(v)) for v in xs], rtol=5e-7, atol=1e-30)
    edges = np.array([np.inf, -np.inf, np.nan, -0.0, 30.0])
    got = backend.to_host(erf(backend.to_device(edges, device)))
    np.testing.assert_array_equal(got, [1.0, -1.0, np.nan, -0.0, 1.0])
    assert np.signbit(got[3])


# ------------------------------------------------------------------ errors
def test_errors_are_clear():
    x = sg.randn(3)
    with pytest.raises(TypeError, match="where: condition must be a bool Tensor, got float32"):
        F.where(x, x, 0.0)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(x, approximate='fast')
    with pytest.raises(ValueError, match="clip: at least one of min and max"):
        x.clamp()


# ------------------------------------------------------------------ PyTorch cross-checks
def _torch_compare(fn_sg, fn_torch, x_host, device, rtol=1e-7, atol=1e-12):
    """Values and input gradients (random upstream gradient) against PyTorch, float64."""
    torch = pytest.importorskip('torch')
    g_host = np.random.default_rng(5).standard_normal(x_host.shape)
    x = sg.tensor(x_host, device=device, requires_grad=True)
    y = fn_sg(x)
    y.backward(sg.tensor(g_host, device=device))
    xt = torch.tensor(x_host, requires_grad=True)
    yt = fn_torch(xt)
    yt.backward(torch.tensor(g_host))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)


X_WIDE = np.concatenate([np.linspace(-8, 8, 161), [-30.0, -19.5, 19.5, 20.5, 30.0]])


@pytest.mark.parametrize('approximate', ['none', 'tanh'])
def test_gelu_matches_torch(approximate, device):
    torch = pytest.importorskip('torch')
    _torch_compare(lambda x: F.gelu(x, approximate=approximate),
                   lambda x: torch.nn.functional.gelu(x, approximate=approximate), X_WIDE, device)


def test_gelu_float32_matches_torch(device):
    """float32 runs the rational Phi (ops/special.ndtr_rational): values and input
    gradients within a few float32 ulps of PyTorch's float32 GELU."""
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(7)
    x_host = np.concatenate([np.linspace(-9, 9, 2001), 3 * rng.standard_normal(4000)]
                            ).astype(np.float32)
    g_host = rng.standard_normal(x_host.shape).astype(np.float32)
    x = sg.tensor(x_host, device=device, requires_grad=True)
    y = F.gelu(x)
    y.backward(sg.tensor(g_host, device=device))
    xt = torch.tensor(x_host, requires_grad=True)
    yt = torch.nn.functional.gelu(xt)
    yt.backward(torch.tensor(g_host))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize('beta,threshold', [(1.0, 20.0), (2.0, 5.0), (0.5, 3.0)])
def test_softplus_matches_torch(beta, threshold, device):
    torch = pytest.importorskip('torch')
    _torch_compare(lambda x: F.softplus(x, beta=beta, threshold=threshold),
                   lambda x: torch.nn.functional.softplus(x, beta=beta, threshold=threshold),
                   X_WIDE, device)


@pytest.mark.parametrize('alpha', [1.0, 0.3])
def test_elu_matches_torch(alpha, device):
    torch = pytest.importorskip('torch')
    _torch_compare(lambda x: F.elu(x, alpha=alpha),
                   lambda x: torch.nn.functional.elu(x, alpha=alpha), X_WIDE, device)


@pytest.mark.parametrize('slope', [0.01, 0.2])
def test_leaky_relu_matches_torch(slope, device):
    torch = pytest.importorskip('torch')
    _torch_compare(lambda x: F.leaky_relu(x, negative_slope=slope),
                   lambda x: torch.nn.functional.leaky_relu(x, negative_slope=slope), X_WIDE, device)


def test_silu_sigmoid_tanh_erf_match_torch(device):
    torch = pytest.importorskip('torch')
    for ours, theirs in [(F.silu, torch.nn.functional.silu), (F.sigmoid, torch.sigmoid),
                         (F.tanh, torch.tanh), (F.erf, torch.erf)]:
        _torch_compare(ours, theirs, X_WIDE, device)


def test_kinks_follow_torch(device):
    """At the kinks the gradient follows PyTorch: relu'(0) = abs'(0) = 0, clamp passes
    the gradient at its bounds, maximum/minimum split it on ties."""
    torch = pytest.importorskip('torch')
    x_host = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    _torch_compare(F.relu, torch.relu, x_host, device)
    _torch_compare(F.abs, torch.abs, x_host, device)
    _torch_compare(F.sign, torch.sign, x_host, device)
    _torch_compare(lambda x: x.clamp(0.0, 1.0), lambda x: x.clamp(0.0, 1.0), x_host, device)
    other = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    _torch_compare(lambda x: F.maximum(x, sg.tensor(other, device=device)),
                   lambda x: torch.maximum(x, torch.tensor(other)), x_host, device)
    _torch_compare(lambda x: F.minimum(x, sg.tensor(other, device=device)),
                   lambda x: torch.minimum(x, torch.tensor(other)), x_host, device)
    _torch_compare(lambda x: F.maximum(x, x), lambda x: torch.maximum(x, x), x_host, device)


@pytest.mark.parametrize('fn, expected', [
    (lambda x: sg.functional.clamp(x, 0.0, 1.0), 1.0),
    (lambda x: sg.functional.clamp(x, max=0.1), 0.0),
    (lambda x: sg.functional.relu(x), 1.0),
    (lambda x: sg.functional.leaky_relu(-x, 0.2), -0.2),
    (lambda x: sg.functional.maximum(x, sg.tensor(0.1)), 1.0),
])
def test_masked_backward_rules_on_zero_dim_tensors(fn, expected):
    """NumPy turns comparisons of 0-d arrays into scalars; the backward masks still work."""
    x = sg.tensor(0.3, dtype='float64', requires_grad=True)
    fn(x).backward()
    assert x.grad.shape == () and x.grad.item() == pytest.approx(expected)
