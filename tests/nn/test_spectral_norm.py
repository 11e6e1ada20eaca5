"""SpectralNorm: σ from power iteration matches the SVD, the layer runs with W / σ, and the
whole wrapper is gradient-checked in float64 (first and second order) on every device."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn


def _sigma_svd(w):
    w = w.numpy()
    return np.linalg.svd(w.reshape(w.shape[0], -1), compute_uv=False)[0]


@pytest.mark.parametrize('make', [lambda: nn.Linear(7, 5), lambda: nn.Conv2d(3, 4, 3)])
def test_power_iteration_finds_the_largest_singular_value(make):
    sg.manual_seed(0)
    sn = nn.SpectralNorm(make()).double()
    sn.power_iteration(100)
    assert sn.sigma().item() == pytest.approx(_sigma_svd(sn.weight), rel=1e-8)


def test_training_calls_normalise_the_weight_and_eval_calls_do_not_iterate(device):
    sg.manual_seed(1)
    sn = nn.SpectralNorm(nn.Linear(6, 4)).double().to(device)
    x = sg.tensor(np.random.default_rng(0).standard_normal((3, 6)), device=device)
    for _ in range(30):                           # one power step per training call
        sn(x)
    w_eff = sn.weight.numpy() / sn.sigma().item()
    assert _sigma_svd(sg.tensor(w_eff)) == pytest.approx(1.0, abs=1e-6)
    # the output is the wrapped layer's with W / σ
    expected = x.numpy() @ w_eff.T + sn.module.bias.numpy()
    np.testing.assert_allclose(sn(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    sn.eval()
    u = sn.u.numpy().copy()
    sn(x)
    np.testing.assert_array_equal(sn.u.numpy(), u)


@pytest.mark.parametrize('make, shape', [(lambda: nn.Linear(4, 3), (2, 4)),
                                         (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 4, 4))])
def test_spectral_norm_gradcheck(make, shape, device):
    sg.manual_seed(2)
    sn = nn.SpectralNorm(make()).double().to(device)
    sn.power_iteration(5)
    sn.eval()                                     # u, v fixed: a deterministic function
    x = sg.tensor(np.random.default_rng(3).standard_normal(shape), device=device,
                  requires_grad=True)
    params = list(sn.parameters())
    assert len(params) == 2                       # the raw weight and the layer's bias

    def fn(x, *p):
        return sn(x)
    assert sg.gradcheck(fn, [x] + params)
    assert sg.gradgradcheck(fn, [x] + params)


def test_state_dict_round_trip():
    sg.manual_seed(4)
    a = nn.SpectralNorm(nn.Linear(5, 3))
    x = sg.randn(2, 5)
    a(x)
    assert set(a.state_dict()) == {'weight', 'u', 'v', 'module.bias'}
    sg.manual_seed(5)
    b = nn.SpectralNorm(nn.Linear(5, 3))
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_spectral_norm_errors():
    with pytest.raises(TypeError, match="SpectralNorm: expected a layer with a 'weight'"):
        nn.SpectralNorm(nn.ReLU())
    sn = nn.spectral_norm(nn.Linear(2, 2))
    with pytest.raises(TypeError, match='already spectrally normalised'):
        nn.SpectralNorm(sn)
    with pytest.raises(ValueError, match='n_power_iterations must be a positive int'):
        nn.SpectralNorm(nn.Linear(2, 2), n_power_iterations=0)
