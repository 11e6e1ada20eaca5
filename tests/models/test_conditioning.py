"""TextCondition and concat_conditions (the CFG double batch of a text-conditioned model)."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.models.diffusion import TextCondition, concat_conditions


def _cond(rng, B, L, D):
    return TextCondition(sg.tensor(rng.standard_normal((B, L, D))),
                         sg.tensor(rng.random((B, L)) < 0.5),
                         sg.tensor(rng.standard_normal((B, D))))


def test_concat_stacks_every_field_in_order():
    rng = np.random.default_rng(0)
    a, b = _cond(rng, 2, 3, 4), _cond(rng, 5, 3, 4)
    c = concat_conditions(a, b)
    for field in TextCondition._fields:
        got, x, y = (getattr(v, field).numpy() for v in (c, a, b))
        assert np.array_equal(got, np.concatenate([x, y], 0)), field
    assert c.padding.dtype == np.bool_


def test_concat_rejects_different_token_lengths():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match=r"concat_conditions: token shapes \(2, 3, 4\) and \(2, 5, 4\)"):
        concat_conditions(_cond(rng, 2, 3, 4), _cond(rng, 2, 5, 4))
