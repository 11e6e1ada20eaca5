"""EMA: the averaging math, warmup, swapping the averages in and out, state dicts."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.optim import EMA


class TinyModel:
    """Anything with parameters() works as a model."""

    def __init__(self, device='cpu', offset=0.0):
        self.w = sg.Parameter(sg.tensor(np.arange(6.0).reshape(2, 3) + offset, device=device))
        self.b = sg.Parameter(sg.tensor(np.array(offset - 1.0), device=device))

    def parameters(self):
        return iter([self.w, self.b])


def set_values(model, value):
    for p in model.parameters():
        p.data[...] = value


def test_update_math(device):
    model = TinyModel(device)
    w0 = model.w.numpy()
    ema = EMA(model, decay=0.9)
    expect = w0.copy()
    for k in range(1, 4):
        set_values(model, float(k))
        ema.update()
        expect = 0.9 * expect + 0.1 * k
    np.testing.assert_allclose(ema.shadow[0].get() if device == 'emu' else ema.shadow[0],
                               expect, rtol=1e-14)
    b_expect = ((-1.0 * 0.9 + 0.1) * 0.9 + 0.2) * 0.9 + 0.3
    assert float(ema.shadow[1]) == pytest.approx(b_expect, rel=1e-14)
    assert ema.num_updates == 3


def test_warmup_decay():
    model = TinyModel()
    ema = EMA(model, decay=0.99, warmup=True)
    set_values(model, 1.0)
    ema.update()                                     # n = 1: d = 2/11
    d = 2 / 11
    np.testing.assert_allclose(ema.shadow[0], d * np.arange(6.0).reshape(2, 3) + (1 - d))
    assert ema.current_decay() == pytest.approx(2 / 11)
    for _ in range(1000):
        ema.update()
    assert ema.current_decay() == 0.99
    assert EMA(model, decay=0.99).current_decay() == 0.99


def test_average_parameters_swaps_and_restores(device):
    model = TinyModel(device)
    ema = EMA(model, decay=0.5)
    set_values(model, 4.0)
    ema.update()                                     # averages: (w0 + 4) / 2
    averaged = (np.arange(6.0).reshape(2, 3) + 4.0) / 2
    with ema.average_parameters(model):
        np.testing.assert_allclose(model.w.numpy(), averaged)
        assert model.b.numpy() == pytest.approx(1.5)
    np.testing.assert_array_equal(model.w.numpy(), np.full((2, 3), 4.0))
    with pytest.raises(KeyError):
        with ema.average_parameters():
            np.testing.assert_allclose(model.w.numpy(), averaged)
            raise KeyError('boom')
    np.testing.assert_array_equal(model.w.numpy(), np.full((2, 3), 4.0))   # restored anyway


def test_copy_to_another_model(device):
    model, other = TinyModel(device), TinyModel(device, offset=10.0)
    ema = EMA(model.parameters(), decay=0.0)
    set_values(model, 7.0)
    ema.update()
    ema.copy_to(other)
    np.testing.assert_array_equal(other.w.numpy(), np.full((2, 3), 7.0))
    with pytest.raises(ValueError, match='do not match'):
        ema.copy_to([sg.Parameter(sg.zeros(3))])


def test_state_dict_round_trip():
    model = TinyModel()
    ema = EMA(model, decay=0.8, warmup=True)
    for k in range(3):
        set_values(model, float(k))
        ema.update()
    sd = ema.state_dict()
    ema2 = EMA(TinyModel(offset=5.0), decay=0.1)
    ema2.load_state_dict(sd)
    assert (ema2.decay, ema2.warmup, ema2.num_updates) == (0.8, True, 3)
    for a, b in zip(ema.shadow, ema2.shadow):
        np.testing.assert_array_equal(a, b)
    ema.update()
    np.testing.assert_array_equal(sd['shadow'][0], ema2.shadow[0])      # sd is a snapshot
    with pytest.raises(ValueError, match='averages 2 parameters, this EMA tracks 1'):
        EMA([sg.Parameter(sg.zeros(2))]).load_state_dict(sd)


def test_shadow_follows_the_parameter_device():
    model = TinyModel('cpu')
    ema = EMA(model, decay=0.5)
    model.w.data = model.w.to('emu').data            # the model moved
    model.b.data = model.b.to('emu').data
    ema.update()
    assert all(type(s).__name__ == 'EmuArray' for s in ema.shadow)


def test_errors():
    with pytest.raises(ValueError, match='decay must be in'):
        EMA([sg.Parameter(sg.zeros(1))], decay=1.5)
    with pytest.raises(TypeError, match='item 0 is a int'):
        EMA([3])
