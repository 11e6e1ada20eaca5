"""Dropout: gradient checks at a fixed seed, the mask's statistics and reproducibility,
and the identities at p = 0, p = 1 and in eval mode."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.functional as F
from helpers import OpCase, Spec, check_case


def _seeded_dropout(p, seed=3):
    """Dropout with the generator re-seeded on every call, so that the numerical
    gradient check sees the same mask each time it evaluates the function."""
    def fn(x):
        sg.manual_seed(seed)
        return F.dropout(x, p)
    return fn


def _np_dropout(p, seed=3):
    """The reference: keep x / (1 - p) where u < 1 - p, u the first uniform draw of the
    stream that ``sg.manual_seed(seed)`` starts (NumPy's default_rng on the host devices)."""
    def ref(x):
        keep = np.random.default_rng(seed).random(x.shape) < 1.0 - p
        return x * keep * (1.0 / (1.0 - p) if p < 1.0 else 0.0)
    return ref


CASES = [
    OpCase('Dropout', _seeded_dropout(0.3), [(3, 4)], name='dropout p=0.3',
           reference=_np_dropout(0.3)),
    OpCase('Dropout', _seeded_dropout(0.5), [Spec((2, 3, 2), noncontig=True)],
           name='dropout noncontig', reference=_np_dropout(0.5)),
    OpCase('Dropout', _seeded_dropout(1.0), [(4,)], name='dropout p=1', reference=_np_dropout(1.0)),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_dropout(case, device):
    check_case(case, device)


def test_mean_preserved_and_drop_rate(device):
    p = 0.3
    x = sg.ones(200_000, device=device)
    y = F.dropout(x, p).numpy()
    assert y.dtype == np.float32
    # per-element std of y is sqrt(p / (1 - p)) = 0.65, so the mean's std is 0.0015
    assert abs(y.mean() - 1.0) < 0.01
    assert abs((y == 0).mean() - p) < 0.01
    np.testing.assert_allclose(y[y != 0], 1.0 / (1.0 - p), rtol=1e-6)


def test_same_seed_same_mask(device):
    x = sg.randn(50, 20, device=device)
    sg.manual_seed(7)
    a = F.dropout(x, 0.4).numpy()
    sg.manual_seed(7)
    b = F.dropout(x, 0.4).numpy()
    c = F.dropout(x, 0.4).numpy()          # the generator moved on: a new mask
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_gradient_is_mask_times_scale(device):
    p = 0.25
    x = (sg.rand(30, 10, device=device, dtype=sg.float64) + 0.5).requires_grad_()
    y = F.dropout(x, p)
    g = sg.randn(30, 10, device=device, dtype=sg.float64)
    y.backward(g)
    kept = (y.numpy() != 0)                # x > 0 everywhere, so y == 0 only where dropped
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(x.grad.numpy(), g.numpy() * kept / (1 - p), rtol=1e-15)
    np.testing.assert_allclose(y.numpy(), x.detach().numpy() * kept / (1 - p), rtol=1e-15)


def test_identity_cases(device):
    x = sg.randn(4, 3, device=device, requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    y = F.dropout(x, 1.0)
    assert y.dtype == np.float32 and not y.numpy().any()
    y.sum().backward()
    assert not x.grad.numpy().any()


def test_bad_arguments():
    x = sg.randn(3)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout: probability has to be between 0 and 1, "
                                             f"but got p={p}"):
            F.dropout(x, p)
    with pytest.raises(TypeError, match="dropout: expected a floating-point input, got dtype int64"):
        F.dropout(sg.arange(3), 0.5)
    with pytest.raises(TypeError, match="dropout: p must be a number"):
        F.dropout(x, '0.5')
