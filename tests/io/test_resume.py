"""Interrupt a training run, resume from its checkpoint: the continued losses equal the
uninterrupted run's bitwise. Model, Adam, a warmup+cosine schedule, EMA, gradient
clipping and RNG use (minibatch sampling and dropout) all have to be restored exactly."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend, nn, optim
from scratchgen.io import load, save
from scratchgen.nn import functional as F
from scratchgen.optim import lr_scheduler as L

STEPS, INTERRUPT_AT = 24, 9


def make_data(device):
    sg.manual_seed(123)
    X = sg.randn(64, 4, device=device)
    y = (X * 0.5).sum(axis=1, keepdims=True) + 0.1 * sg.randn(64, 1, device=device)
    return X, y


def build(device, seed):
    sg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.25),
                          nn.Linear(16, 1)).to(device)
    opt = optim.Adam(model.parameters(), lr=0.02, weight_decay=1e-4)
    warmup = L.LinearWarmup(opt, warmup_steps=5, start_factor=0.1)
    sched = L.SequentialLR(opt, [warmup, L.CosineAnnealingLR(opt, T_max=STEPS - 5)], [5])
    ema = optim.EMA(model, decay=0.9, warmup=True)
    return model, opt, sched, ema


def train(parts, data, start, stop):
    model, opt, sched, ema = parts
    X, y = data
    losses = []
    for _ in range(start, stop):
        idx = sg.randint(0, 64, (16,), device=X.device)       # RNG: minibatch
        loss = F.mse_loss(model(X[idx]), y[idx])             # RNG: dropout
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), max_norm=0.5)
        opt.step()
        sched.step()
        ema.update()
        losses.append(loss.item())
    return losses


def checkpoint(parts, step):
    model, opt, sched, ema = parts
    return {'model': model.state_dict(), 'optimizer': opt.state_dict(),
            'scheduler': sched.state_dict(), 'ema': ema.state_dict(),
            'rng': backend.get_rng_state(), 'step': step}


def restore(parts, ckpt):
    model, opt, sched, ema = parts
    model.load_state_dict(ckpt['model'])
    opt.load_state_dict(ckpt['optimizer'])
    sched.load_state_dict(ckpt['scheduler'])
    ema.load_state_dict(ckpt['ema'])
    backend.set_rng_state(ckpt['rng'])
    return ckpt['step']


def full_run(device, seed=0):
    data = make_data(device)
    parts = build(device, seed)
    return train(parts, data, 0, STEPS), parts


def weights(parts):
    model, _, _, ema = parts
    return [p.numpy() for p in model.parameters()] + [backend.to_host(s) for s in ema.shadow]


def test_resume_is_bitwise_identical(tmp_path, device):
    expected, uninterrupted = full_run(device)

    data = make_data(device)
    parts = build(device, seed=0)
    first = train(parts, data, 0, INTERRUPT_AT)
    save(checkpoint(parts, INTERRUPT_AT), tmp_path / 'ckpt.npz')
    del parts                                                  # the process "dies"

    data = make_data(device)
    fresh = build(device, seed=777)                            # different initial weights
    start = restore(fresh, load(tmp_path / 'ckpt.npz', device=device))
    assert start == INTERRUPT_AT
    rest = train(fresh, data, start, STEPS)

    assert first + rest == expected                            # bitwise: float ==
    for a, b in zip(weights(uninterrupted), weights(fresh)):
        np.testing.assert_array_equal(a, b)
    assert fresh[1].param_groups[0]['lr'] == uninterrupted[1].param_groups[0]['lr']


def test_resume_needs_every_piece(tmp_path):
    """The test above can fail: leaving out any piece of the checkpoint changes the losses."""
    expected, _ = full_run('cpu')
    data = make_data('cpu')
    parts = build('cpu', seed=0)
    train(parts, data, 0, INTERRUPT_AT)
    save(checkpoint(parts, INTERRUPT_AT), tmp_path / 'ckpt.npz')
    for left_out in ('optimizer', 'scheduler', 'rng'):
        ckpt = load(tmp_path / 'ckpt.npz')
        fresh = build('cpu', seed=777)
        backend.manual_seed(5)
        if left_out != 'optimizer':
            fresh[1].load_state_dict(ckpt['optimizer'])
        if left_out != 'scheduler':
            fresh[2].load_state_dict(ckpt['scheduler'])
        if left_out != 'rng':
            backend.set_rng_state(ckpt['rng'])
        fresh[0].load_state_dict(ckpt['model'])
        rest = train(fresh, data, INTERRUPT_AT, STEPS)
        assert rest != expected[INTERRUPT_AT:], left_out


def test_same_seed_gives_identical_losses():
    a, _ = full_run('cpu', seed=3)
    b, _ = full_run('cpu', seed=3)
    c, _ = full_run('cpu', seed=4)
    assert a == b
    assert a != c
    assert all(np.isfinite(a)) and a[-1] < a[0]               # it does train
