"""Learning-rate schedules: values by hand and against torch, chaining, state dicts."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import optim
from scratchgen.optim import lr_scheduler as L

BASE = (0.1, 0.03)      # two parameter groups with different learning rates


def make_opt(lib='sg'):
    if lib == 'sg':
        ps = [sg.Parameter(sg.zeros(2)), sg.Parameter(sg.zeros(3))]
        return optim.SGD([{'params': ps[:1], 'lr': BASE[0]}, {'params': ps[1:], 'lr': BASE[1]}])
    torch = pytest.importorskip('torch')
    ps = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    return torch.optim.SGD([{'params': ps[:1], 'lr': BASE[0]}, {'params': ps[1:], 'lr': BASE[1]}])


def lrs_over(sched, opt, steps):
    """[lrs at step 0, 1, ..., steps]: the optimizer's lrs and get_last_lr() agree."""
    out = []
    for _ in range(steps + 1):
        lrs = [g['lr'] for g in opt.param_groups]
        assert lrs == sched.get_last_lr()
        out.append(lrs)
        opt.step()
        sched.step()
    return out


def test_step_lr_by_hand():
    opt = make_opt()
    got = lrs_over(L.StepLR(opt, step_size=3, gamma=0.5), opt, 7)
    expect = [[b * 0.5 ** (t // 3) for b in BASE] for t in range(8)]
    np.testing.assert_allclose(got, expect, rtol=1e-15)
    assert got[2] == list(BASE) and got[3] == pytest.approx([0.05, 0.015])


def test_cosine_by_hand():
    opt = make_opt()
    got = lrs_over(L.CosineAnnealingLR(opt, T_max=10, eta_min=0.001), opt, 20)
    assert got[0] == pytest.approx(list(BASE), rel=1e-15)
    assert got[5] == pytest.approx([(b + 0.001) / 2 for b in BASE], rel=1e-12)
    assert got[10] == pytest.approx([0.001, 0.001], rel=1e-12)
    assert got[20] == pytest.approx(list(BASE), rel=1e-12)      # the cosine comes back up


def test_linear_warmup_by_hand():
    opt = make_opt()
    got = lrs_over(L.LinearWarmup(opt, warmup_steps=4, start_factor=0.0), opt, 6)
    expect = [[b * min(t, 4) / 4 for b in BASE] for t in range(7)]
    np.testing.assert_allclose(got, expect, rtol=1e-15, atol=0)


def test_lambda_lr_by_hand():
    opt = make_opt()
    got = lrs_over(L.LambdaLR(opt, [lambda t: 1 / (t + 1), lambda t: 2.0 ** -t]), opt, 3)
    np.testing.assert_allclose(got, [[BASE[0] / (t + 1), BASE[1] * 2.0 ** -t] for t in range(4)],
                               rtol=1e-15)


def test_sequential_warmup_then_cosine_by_hand():
    opt = make_opt()
    warm = L.LinearWarmup(opt, warmup_steps=3, start_factor=0.25)
    cos = L.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    got = lrs_over(L.SequentialLR(opt, [warm, cos], milestones=[3]), opt, 8)
    for t in range(3):
        assert got[t] == pytest.approx([b * (0.25 + 0.75 * t / 3) for b in BASE], rel=1e-14)
    for t in range(3, 9):
        c = (1 + math.cos(math.pi * (t - 3) / 4)) / 2
        assert got[t] == pytest.approx([b * c for b in BASE], rel=1e-12, abs=1e-17)


TORCH_CASES = [
    ('StepLR', lambda o, M: M.StepLR(o, step_size=4, gamma=0.3), 20),
    ('Cosine', lambda o, M: M.CosineAnnealingLR(o, T_max=7), 30),
    ('Cosine eta_min', lambda o, M: M.CosineAnnealingLR(o, T_max=10, eta_min=0.002), 35),
    ('LinearLR', lambda o, M: M.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=6), 10),
    ('LinearLR defaults', lambda o, M: M.LinearLR(o), 8),
    ('LambdaLR', lambda o, M: M.LambdaLR(o, lambda t: 0.95 ** t), 10),
    ('Sequential warmup+cosine', lambda o, M: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.01, total_iters=5), M.CosineAnnealingLR(o, T_max=15)],
        milestones=[5]), 25),
    ('Sequential three', lambda o, M: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.5, total_iters=2), M.StepLR(o, 3, 0.5),
            M.CosineAnnealingLR(o, T_max=5, eta_min=0.001)], milestones=[4, 10]), 20),
]


@pytest.mark.parametrize('name,make,steps', TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_matches_torch(name, make, steps):
    torch = pytest.importorskip('torch')
    opt, topt = make_opt('sg'), make_opt('torch')
    ours = lrs_over(make(opt, L), opt, steps)
    sched = make(topt, torch.optim.lr_scheduler)
    theirs = []
    for _ in range(steps + 1):
        theirs.append([g['lr'] for g in topt.param_groups])
        topt.step()
        sched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


def test_linear_warmup_is_torch_linear_lr():
    torch = pytest.importorskip('torch')
    opt, topt = make_opt('sg'), make_opt('torch')
    ours = lrs_over(L.LinearWarmup(opt, warmup_steps=5, start_factor=0.2), opt, 8)
    sched = torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.2, end_factor=1.0, total_iters=5)
    theirs = []
    for _ in range(9):
        theirs.append([g['lr'] for g in topt.param_groups])
        topt.step()
        sched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def make_sequential(opt):
    warm = L.LinearWarmup(opt, warmup_steps=4, start_factor=0.1)
    return L.SequentialLR(opt, [warm, L.CosineAnnealingLR(opt, T_max=10, eta_min=1e-4)],
                          milestones=[4])


@pytest.mark.parametrize('make', [lambda o: L.StepLR(o, 2, 0.7),
                                  lambda o: L.CosineAnnealingLR(o, 6, 0.01),
                                  lambda o: L.LinearLR(o, 0.2, 0.8, 5),
                                  lambda o: L.LambdaLR(o, lambda t: 1.0 / (1 + t)),
                                  make_sequential],
                         ids=['StepLR', 'Cosine', 'LinearLR', 'LambdaLR', 'Sequential'])
def test_state_dict_resume(make):
    opt = make_opt()
    sched = make(opt)
    for _ in range(6):
        opt.step()
        sched.step()
    opt_sd, sched_sd = opt.state_dict(), sched.state_dict()
    uninterrupted = lrs_over(sched, opt, 8)

    opt2 = make_opt()
    sched2 = make(opt2)                       # a fresh schedule at step 0 ...
    opt2.load_state_dict(opt_sd)              # ... resumed from the checkpoint
    sched2.load_state_dict(sched_sd)
    assert sched2.last_epoch == 6
    assert lrs_over(sched2, opt2, 8) == uninterrupted


def test_state_dict_holds_plain_values():
    opt = make_opt()
    sd = make_sequential(opt).state_dict()
    assert 'optimizer' not in sd and len(sd['schedulers']) == 2
    assert sd['last_epoch'] == 0 and sd['schedulers'][1]['T_max'] == 10
    sd_lambda = L.LambdaLR(make_opt(), lambda t: 1.0).state_dict()
    assert 'lr_lambdas' not in sd_lambda


def test_initial_lr_recorded_and_last_epoch_resume():
    opt = make_opt()
    L.StepLR(opt, 2, 0.5)
    assert [g['initial_lr'] for g in opt.param_groups] == list(BASE)
    sched = L.StepLR(opt, 2, 0.5, last_epoch=3)          # resume at step 4
    assert sched.get_last_lr() == pytest.approx([b * 0.25 for b in BASE])
    with pytest.raises(KeyError, match='initial_lr'):
        L.StepLR(make_opt(), 2, 0.5, last_epoch=3)


@pytest.mark.parametrize('make,exc,match', [
    (lambda o: L.StepLR(o, step_size=0), ValueError, 'step_size must be a positive int'),
    (lambda o: L.StepLR(o, step_size=2.5), ValueError, 'step_size'),
    (lambda o: L.CosineAnnealingLR(o, T_max=0), ValueError, 'T_max'),
    (lambda o: L.LinearLR(o, start_factor=1.5), ValueError, 'start_factor must be in'),
    (lambda o: L.LinearWarmup(o, warmup_steps=0), ValueError, 'total_iters'),
    (lambda o: L.LambdaLR(o, [lambda t: 1.0]), ValueError, 'expected 2 lr_lambdas'),
    (lambda o: L.LambdaLR(o, 0.5), TypeError, 'function'),
    (lambda o: L.StepLR('not an optimizer', 2), TypeError, 'expected an Optimizer'),
    (lambda o: L.SequentialLR(o, [L.StepLR(o, 2)], milestones=[3]), ValueError, 'milestones'),
    (lambda o: L.SequentialLR(o, [L.StepLR(o, 2), L.StepLR(o, 2), L.StepLR(o, 2)],
                              milestones=[5, 3]), ValueError, 'increasing'),
    (lambda o: L.SequentialLR(o, [L.StepLR(make_opt(), 2)], []), ValueError, 'different optimizer'),
    (lambda o: L.SequentialLR(o, [], []), ValueError, 'at least one'),
])
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make(make_opt())


def test_load_state_dict_rejects_another_schedule():
    with pytest.raises(ValueError, match='expected keys'):
        L.StepLR(make_opt(), 2).load_state_dict(L.CosineAnnealingLR(make_opt(), 5).state_dict())


def test_warmup_cosine_schedule():
    """sg.optim.warmup_cosine: linear warm-up to the peak, half cosine down to
    min_lr_ratio x peak; every parameter group follows it (as GPT's decay / no-decay)."""
    ps = [sg.Parameter(sg.zeros(2)), sg.Parameter(sg.zeros(3))]
    opt = optim.AdamW([{'params': ps[:1], 'weight_decay': 0.1},
                       {'params': ps[1:], 'weight_decay': 0.0}], lr=1e-3)
    sched = optim.warmup_cosine(opt, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    lrs = []
    for _ in range(111):
        lrs.append(opt.param_groups[0]['lr'])
        assert opt.param_groups[1]['lr'] == lrs[-1]     # both groups follow the schedule
        sched.step()
    assert lrs[0] == pytest.approx(1e-4) and lrs[10] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[110] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match=r"warmup_cosine: total_steps must be a positive int"):
        optim.warmup_cosine(opt, warmup_steps=1, total_steps=0)
