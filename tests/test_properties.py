"""Property tests (hypothesis): binary ops broadcast like NumPy over random compatible
shapes, and reductions over random axes/keepdims match NumPy, on every device."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import scratchgen as sg
from conftest import DEVICES

SETTINGS = settings(max_examples=50, deadline=None)

BINARY = {
    '+': (lambda a, b: a + b, np.add),
    '-': (lambda a, b: a - b, np.subtract),
    '*': (lambda a, b: a * b, np.multiply),
    '/': (lambda a, b: a / b, np.divide),
    'maximum': (sg.maximum, np.maximum),
}


def _values(seed, shape, dtype, away_from_zero=False):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if away_from_zero:                 # divisors in [0.5, 2] in magnitude
        a = np.sign(a + 1e-12) * rng.uniform(0.5, 2.0, shape)
    return np.asarray(a, dtype=dtype)    # an array even for shape () (not a NumPy scalar)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('op', sorted(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       seed=st.integers(0, 2 ** 32 - 1), dtype=st.sampled_from([np.float64, np.float32]))
def test_binary_broadcasting_matches_numpy(op, device, shapes, seed, dtype):
    ours, theirs = BINARY[op]
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a = _values(seed, sa, dtype)
    b = _values(seed + 1, sb, dtype, away_from_zero=op == '/')
    y = ours(sg.tensor(a, device=device), sg.tensor(b, device=device))
    expected = theirs(a, b)
    assert y.shape == out_shape and y.dtype == dtype and y.device == device
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12 if dtype == np.float64 else 1e-6)


def _axis_strategy(ndim):
    """None, an int (possibly negative) or a tuple of distinct axes."""
    if ndim == 0:
        return st.none()
    single = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
    return st.one_of(st.none(), single, several)


REDUCTIONS = {
    'sum': (sg.sum, np.sum),
    'mean': (sg.mean, np.mean),
    'max': (sg.max, np.max),
    'min': (sg.min, np.min),
    'var': (sg.var, lambda x, axis, keepdims, unbiased: np.var(x, axis=axis, keepdims=keepdims,
                                                               ddof=int(unbiased))),
}


@st.composite
def _reduction_args(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=4)))
    axis = draw(_axis_strategy(len(shape)))
    return shape, axis, draw(st.booleans()), draw(st.booleans())


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('op', sorted(REDUCTIONS))
@SETTINGS
@given(args=_reduction_args(), seed=st.integers(0, 2 ** 32 - 1))
def test_reductions_match_numpy(op, device, args, seed):
    shape, axis, keepdims, unbiased = args
    ours, theirs = REDUCTIONS[op]
    x = _values(seed, shape, np.float64)
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    if op == 'var' and unbiased and np.prod([shape[a] for a in axes]) < 2:
        unbiased = False               # one sample: the unbiased variance is undefined
    kw = {'unbiased': unbiased} if op == 'var' else {}
    y = ours(sg.tensor(x, device=device), axis, keepdims=keepdims, **kw)
    expected = np.asarray(theirs(x, axis=axis, keepdims=keepdims, **kw))
    assert y.shape == expected.shape and y.dtype == np.float64 and y.device == device
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-14)
