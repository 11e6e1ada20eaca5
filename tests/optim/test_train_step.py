"""sg.optim.train_step: the same update as the five lines it replaces; a non-finite loss
is refused by name before anything changes."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn


def _setup(seed=0):
    sg.manual_seed(seed)
    model = nn.Linear(3, 2).to(dtype='float64')
    opt = sg.optim.Adam(model.parameters(), lr=0.1)
    sched = sg.optim.LinearLR(opt, 1.0, 0.5, 10)
    ema = sg.optim.EMA(model, decay=0.9)
    return model, opt, sched, ema


def test_matches_the_manual_loop():
    x = sg.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    a, b = _setup(), _setup()
    for step in range(3):
        model, opt, sched, ema = a
        loss = (model(x) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); ema.update()
        model, opt, sched, ema = b
        value = sg.optim.train_step((model(x) ** 2).mean(), opt, sched, ema, 'test', step)
        assert value == pytest.approx(loss.item(), rel=1e-12)
    for (n, p), (_, q) in zip(a[0].named_parameters(), b[0].named_parameters()):
        assert np.array_equal(p.numpy(), q.numpy()), n
    assert a[1].param_groups[0]['lr'] == b[1].param_groups[0]['lr']


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_loss_raises_and_changes_nothing(bad):
    model, opt, sched, ema = _setup()
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    lr = opt.param_groups[0]['lr']
    loss = (model(sg.tensor(np.ones((2, 3)))) * bad).sum()
    with pytest.raises(FloatingPointError, match=r"my_demo: the loss became (nan|inf) at step 7; lower --lr"):
        sg.optim.train_step(loss, opt, sched, ema, 'my_demo', 7, hint='lower --lr')
    for n, p in model.named_parameters():
        assert np.array_equal(p.numpy(), before[n]) and p.grad is None, n
    assert opt.param_groups[0]['lr'] == lr
