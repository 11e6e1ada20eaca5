"""Optimizers: update rules by hand and against torch.optim, groups, state dicts, errors."""
import math
import pathlib

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import optim
from scratchgen.autograd import Tensor


def param(values, device='cpu', dtype=np.float64):
    return sg.Parameter(sg.tensor(np.asarray(values, dtype=dtype), device=device))


def set_grad(p, values):
    p.grad = sg.tensor(np.asarray(values, dtype=p.dtype), device=p.device)


def run_scalar(make_opt, grads, theta0=1.0, device='cpu'):
    """Values of a one-element parameter after each step with the given gradients."""
    p = param([theta0], device)
    opt = make_opt([p])
    out = []
    for g in grads:
        set_grad(p, [g])
        opt.step()
        out.append(float(p.numpy()[0]))
    return out


GRADS = [0.5, -1.5, 2.0, 0.25]


# ----------------------------------------------------------------------------- by hand
def test_sgd_by_hand(device):
    assert run_scalar(lambda ps: optim.SGD(ps, lr=0.1), [2.0, -1.0], device=device) == \
        pytest.approx([0.8, 0.9], abs=1e-15)
    # momentum 0.9, dampening 0.5: b1 = g1 = 2, b2 = 0.9*2 + 0.5*(-1) = 1.3
    got = run_scalar(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
                     [2.0, -1.0], device=device)
    assert got == pytest.approx([0.8, 0.8 - 0.13], abs=1e-15)
    # nesterov: step uses g + mu*b; b1 = 2 -> 2 + 0.9*2 = 3.8; b2 = 0.9*2 - 1 = 0.8 -> -1 + 0.72
    got = run_scalar(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                     [2.0, -1.0], device=device)
    assert got == pytest.approx([1 - 0.38, 1 - 0.38 - 0.1 * (-1 + 0.72)], abs=1e-15)
    # weight decay adds 0.5*theta; maximize ascends
    assert run_scalar(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.5), [2.0],
                      device=device) == pytest.approx([1 - 0.1 * 2.5], abs=1e-15)
    assert run_scalar(lambda ps: optim.SGD(ps, lr=0.1, maximize=True), [2.0],
                      device=device) == pytest.approx([1.2], abs=1e-15)


def adam_reference(grads, lr, b1, b2, eps, wd=0.0, decoupled=False, amsgrad=False, theta=1.0):
    m = v = vmax = 0.0
    out = []
    for t, g in enumerate(grads, 1):
        if wd and decoupled:
            theta *= 1 - lr * wd
        elif wd:
            g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = max(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - b2 ** t)
        theta -= lr * (m / (1 - b1 ** t)) / (math.sqrt(vhat) + eps)
        out.append(theta)
    return out


def test_adam_first_step_moves_by_lr(device):
    # m̂ = g and v̂ = g² after one step, so the step is lr * g / (|g| + eps)
    for g in (3.0, -0.01):
        got = run_scalar(lambda ps: optim.Adam(ps, lr=0.1, eps=1e-8), [g], device=device)
        assert got[0] == pytest.approx(1 - 0.1 * g / (abs(g) + 1e-8), abs=1e-14)


@pytest.mark.parametrize('kw', [dict(), dict(weight_decay=0.3), dict(amsgrad=True),
                                dict(weight_decay=0.3, amsgrad=True)])
def test_adam_by_hand(kw, device):
    grads = [2.0, 0.1, -0.05, 0.01]          # shrinking: amsgrad's max matters
    got = run_scalar(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.8, 0.9), eps=1e-6, **kw),
                     grads, device=device)
    ref = adam_reference(grads, 0.1, 0.8, 0.9, 1e-6, wd=kw.get('weight_decay', 0.0),
                         amsgrad=kw.get('amsgrad', False))
    assert got == pytest.approx(ref, rel=1e-12)
    if kw.get('amsgrad'):
        plain = adam_reference(grads, 0.1, 0.8, 0.9, 1e-6, wd=kw.get('weight_decay', 0.0))
        assert abs(got[-1] - plain[-1]) > 1e-3     # the option changes the result


def test_adamw_by_hand(device):
    got = run_scalar(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5), GRADS, device=device)
    assert got == pytest.approx(adam_reference(GRADS, 0.1, 0.9, 0.999, 1e-8, wd=0.5,
                                               decoupled=True), rel=1e-12)
    coupled = adam_reference(GRADS, 0.1, 0.9, 0.999, 1e-8, wd=0.5)
    assert abs(got[-1] - coupled[-1]) > 1e-3


@pytest.mark.parametrize('centered', [False, True])
@pytest.mark.parametrize('momentum', [0.0, 0.7])
def test_rmsprop_by_hand(centered, momentum, device):
    lr, alpha, eps, wd = 0.01, 0.9, 1e-8, 0.1
    theta, s, gbar, b, ref = 1.0, 0.0, 0.0, 0.0, []
    for g in GRADS:
        g = g + wd * theta
        s = alpha * s + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        d = math.sqrt(s - gbar * gbar if centered else s) + eps
        b = momentum * b + g / d
        theta -= lr * (b if momentum else g / d)
        ref.append(theta)
    got = run_scalar(lambda ps: optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=wd,
                                              momentum=momentum, centered=centered),
                     GRADS, device=device)
    assert got == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------------- vs torch
CONFIGS = [
    ('SGD', dict(lr=0.1)),
    ('SGD', dict(lr=0.1, momentum=0.9)),
    ('SGD', dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ('SGD', dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ('SGD', dict(lr=0.05, momentum=0.5, maximize=True)),
    ('Adam', dict(lr=0.01)),
    ('Adam', dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ('Adam', dict(lr=0.01, amsgrad=True)),
    ('Adam', dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ('AdamW', dict(lr=0.01)),
    ('AdamW', dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ('RMSprop', dict()),
    ('RMSprop', dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ('RMSprop', dict(lr=0.01, centered=True)),
    ('RMSprop', dict(lr=0.01, momentum=0.9)),
    ('RMSprop', dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.05, maximize=True)),
]
SHAPES = [(3, 4), (4,), ()]


def torch_pair(name, kw, device, dtype=np.float64, groups=None, steps=6, seed=0):
    """Run scratchgen's and torch's optimizer on the same parameters and gradients;
    return both parameter lists (host arrays)."""
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ps = [sg.Parameter(sg.tensor(a, device=device)) for a in init]
    ts = [torch.nn.Parameter(torch.tensor(a)) for a in init]

    def grouped(params):
        if groups is None:
            return params
        return [dict(params=[params[i] for i in idx], **extra) for idx, extra in groups]
    opt = getattr(optim, name)(grouped(ps), **kw)
    topt = getattr(torch.optim, name)(grouped(ts), **kw)
    for _ in range(steps):
        for p, t in zip(ps, ts):
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad = sg.tensor(g, device=device)
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    return [p.numpy() for p in ps], [t.detach().numpy() for t in ts], opt


@pytest.mark.parametrize('name,kw', CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_matches_torch_float64(name, kw, device):
    ours, theirs, _ = torch_pair(name, kw, device)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize('name,kw', CONFIGS[::3], ids=[f"{n}-{k}" for n, k in CONFIGS[::3]])
def test_matches_torch_float32_and_keeps_dtype(name, kw, device):
    ours, theirs, opt = torch_pair(name, kw, device, dtype=np.float32)
    for a, b in zip(ours, theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for st in opt.state.values():
        for v in st.values():
            assert isinstance(v, int) or v.dtype == np.float32


@pytest.mark.parametrize('name,kw', [('SGD', dict(lr=0.1, momentum=0.9)),
                                     ('Adam', dict(lr=0.01)), ('AdamW', dict(lr=0.01)),
                                     ('RMSprop', dict(lr=0.01, momentum=0.5, centered=True))])
def test_param_groups_match_torch(name, kw, device):
    groups = [([0, 2], dict(lr=0.5 * kw['lr'], weight_decay=0.2)), ([1], dict())]
    ours, theirs, opt = torch_pair(name, kw, device, groups=groups)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert opt.param_groups[0]['lr'] == 0.5 * kw['lr']
    assert opt.param_groups[1]['lr'] == kw['lr']


def test_add_param_group_matches_torch():
    torch = pytest.importorskip('torch')
    a, b = np.array([1.0, -2.0]), np.array([[0.5], [3.0]])
    pa, pb = param(a), param(b)
    ta, tb = torch.nn.Parameter(torch.tensor(a)), torch.nn.Parameter(torch.tensor(b))
    opt, topt = optim.Adam([pa], lr=0.1), torch.optim.Adam([ta], lr=0.1)
    for step in range(4):
        if step == 2:
            opt.add_param_group({'params': [pb], 'lr': 0.01, 'amsgrad': True})
            topt.add_param_group({'params': [tb], 'lr': 0.01, 'amsgrad': True})
        for p, t in ((pa, ta), (pb, tb)):
            g = np.sin(np.arange(p.numel()) + step).reshape(p.shape)
            p.grad, t.grad = sg.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(pa.numpy(), ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(pb.numpy(), tb.detach().numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- mechanics
@pytest.mark.parametrize('name,kw', CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_gradient_arrays_are_never_modified(name, kw, device):
    p = param(np.linspace(-1, 1, 6), device)
    shared = sg.tensor(np.linspace(2, 3, 6), device=device)
    before = shared.numpy()
    opt = getattr(optim, name)([p], **kw)
    for _ in range(3):
        p.grad = Tensor(shared.data)          # the gradient shares its array with `shared`
        opt.step()
    np.testing.assert_array_equal(shared.numpy(), before)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(shared.numpy(), before)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(6))


def test_zero_grad():
    p, q = param([1.0, 2.0]), param([3.0])
    opt = optim.SGD([p, q], lr=0.1)
    set_grad(p, [1.0, 1.0])
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    set_grad(p, [1.0, 1.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad.dtype == np.float64 and p.grad.numpy().tolist() == [0.0, 0.0]
    assert q.grad is None


def test_parameters_without_grad_are_skipped():
    p, q = param([1.0]), param([2.0])
    opt = optim.Adam([p, q], lr=0.1)
    set_grad(p, [1.0])
    opt.step()
    assert q.numpy().tolist() == [2.0] and q not in opt.state
    assert p.numpy()[0] != 1.0 and opt.state[p]['step'] == 1


def test_step_with_closure():
    p = param([3.0])
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert float(loss.item()) == 9.0
    assert p.numpy().tolist() == [3.0 - 0.25 * 6.0]


def test_step_records_no_graph():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    set_grad(p, [1.0, 1.0])
    opt.step()
    assert p.creator is None and p.is_leaf and p.requires_grad


def test_accepts_generators_and_dict_groups():
    ps = [param([1.0]), param([2.0])]
    opt = optim.SGD((p for p in ps), lr=0.1)
    assert len(opt.param_groups[0]['params']) == 2
    opt = optim.SGD([{'params': ps[:1]}, {'params': ps[1], 'lr': 0.5}], lr=0.1)
    assert [g['lr'] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]['momentum'] == 0.0      # defaults fill the rest
    assert 'SGD' in repr(opt) and 'Parameter Group 1' in repr(opt)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize('make,exc,match', [
    (lambda p: optim.SGD(p, lr=0.1), TypeError, 'iterable of Parameters'),
    (lambda p: optim.SGD([np.zeros(3)], lr=0.1), TypeError, 'parameter 0 of the group is a ndarray'),
    (lambda p: optim.SGD([p, 3.0], lr=0.1), TypeError, 'parameter 1 of the group is a float'),
    (lambda p: optim.SGD([], lr=0.1), ValueError, 'empty parameter list'),
    (lambda p: optim.SGD([p * 2], lr=0.1), ValueError, 'non-leaf'),
    (lambda p: optim.SGD([p, p], lr=0.1), ValueError, 'same parameter twice'),
    (lambda p: optim.SGD([{'params': [p]}, {'params': [p]}], lr=0.1), ValueError,
     'more than one parameter group'),
    (lambda p: optim.SGD([p], lr=-0.1), ValueError, 'invalid learning rate -0.1'),
    (lambda p: optim.SGD([{'params': [p], 'lr': -1.0}], lr=0.1), ValueError, 'learning rate'),
    (lambda p: optim.SGD([p], momentum=-0.5), ValueError, 'momentum'),
    (lambda p: optim.SGD([p], nesterov=True), ValueError, 'Nesterov'),
    (lambda p: optim.SGD([p], momentum=0.9, dampening=0.1, nesterov=True), ValueError, 'Nesterov'),
    (lambda p: optim.SGD([{'params': [p], 'learning_rate': 0.1}]), ValueError, 'unknown hyper'),
    (lambda p: optim.Adam([p], betas=(0.9, 1.0)), ValueError, 'beta2'),
    (lambda p: optim.Adam([p], betas=(-0.1, 0.9)), ValueError, 'beta1'),
    (lambda p: optim.Adam([p], betas=(0.9,)), ValueError, 'betas'),
    (lambda p: optim.Adam([p], eps=-1e-8), ValueError, 'eps'),
    (lambda p: optim.AdamW([p], weight_decay=-0.01), ValueError, 'weight_decay'),
    (lambda p: optim.RMSprop([p], alpha=-0.1), ValueError, 'alpha'),
    (lambda p: optim.SGD([sg.tensor([1, 2])], lr=0.1), TypeError, 'floating-point'),
])
def test_clear_errors(make, exc, match):
    p = param([1.0, 2.0])
    with pytest.raises(exc, match=match):
        make(p)


def test_add_param_group_rejects_a_parameter_already_present():
    p, q = param([1.0]), param([2.0])
    opt = optim.Adam([p, q])
    with pytest.raises(ValueError, match='more than one parameter group'):
        opt.add_param_group({'params': [q]})
    with pytest.raises(ValueError, match="no 'params'"):
        opt.add_param_group({'lr': 0.1})


# ----------------------------------------------------------------------------- state dicts
def make_params(device, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [sg.Parameter(sg.tensor(rng.standard_normal(s).astype(dtype), device=device))
            for s in SHAPES]


def grads_for(step, params):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(p.shape) for p in params]


def train(opt, params, steps, start=0):
    for step in range(start, start + steps):
        for p, g in zip(params, grads_for(step, params)):
            p.grad = sg.tensor(g.astype(p.dtype), device=p.device)
        opt.step()


@pytest.mark.parametrize('name,kw', CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_state_dict_round_trip_continues_identically(name, kw, device):
    params = make_params(device, dtype=np.float32)
    opt = getattr(optim, name)([{'params': params[:2]}, {'params': params[2:], 'lr': 0.02}], **kw)
    train(opt, params, 3)
    sd = opt.state_dict()
    snapshot = [p.numpy() for p in params]
    train(opt, params, 3, start=3)                  # the uninterrupted run

    fresh = [sg.Parameter(sg.tensor(a, device=device)) for a in snapshot]
    opt2 = getattr(optim, name)([{'params': fresh[:2]}, {'params': fresh[2:]}], **kw)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]['lr'] == 0.02
    train(opt2, fresh, 3, start=3)
    for a, b in zip(params, fresh):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_dict_layout_matches_torch():
    torch = pytest.importorskip('torch')
    params = make_params('cpu')
    tparams = [torch.nn.Parameter(torch.tensor(p.numpy())) for p in params]
    opt = optim.Adam([{'params': params[:1]}, {'params': params[1:]}], amsgrad=True)
    topt = torch.optim.Adam([{'params': tparams[:1]}, {'params': tparams[1:]}], amsgrad=True)
    params[2].grad, tparams[2].grad = sg.tensor(np.array(1.0)), torch.tensor(1.0, dtype=torch.float64)
    params[0].grad, tparams[0].grad = sg.tensor(np.ones(SHAPES[0])), torch.ones(SHAPES[0], dtype=torch.float64)
    opt.step()
    topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert [g['params'] for g in sd['param_groups']] == [g['params'] for g in tsd['param_groups']]
    assert set(sd['state']) == set(tsd['state']) == {0, 2}
    for i in (0, 2):
        assert set(sd['state'][i]) == set(tsd['state'][i])
        assert sd['state'][i]['step'] == int(tsd['state'][i]['step'])
        for k in ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'):
            np.testing.assert_allclose(sd['state'][i][k], tsd['state'][i][k].numpy(), rtol=1e-12)


def test_state_dict_is_a_snapshot_of_plain_values():
    params = make_params('cpu')
    opt = optim.Adam(params, lr=0.1)
    train(opt, params, 2)
    sd = opt.state_dict()
    m = sd['state'][0]['exp_avg'].copy()
    train(opt, params, 2, start=2)
    np.testing.assert_array_equal(sd['state'][0]['exp_avg'], m)
    assert sd['state'][0]['step'] == 2 and type(sd['state'][0]['step']) is int
    assert all(isinstance(v, (int, float, bool, tuple, list))
               for g in sd['param_groups'] for v in g.values())


def test_load_state_dict_moves_state_to_the_parameters_device():
    params = make_params('cpu')
    opt = optim.RMSprop(params, lr=0.01, momentum=0.9, centered=True)
    train(opt, params, 2)
    sd = opt.state_dict()
    emu = [sg.Parameter(p.to('emu').detach()) for p in params]
    opt2 = optim.RMSprop(emu, lr=0.01, momentum=0.9, centered=True)
    opt2.load_state_dict(sd)
    assert all(v.__class__.__name__ == 'EmuArray' for st in opt2.state.values()
               for v in st.values() if not isinstance(v, int))
    train(opt, params, 2, start=2)
    train(opt2, emu, 2, start=2)
    for a, b in zip(params, emu):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_state_dict_errors():
    params = make_params('cpu')
    opt = optim.Adam(params)
    train(opt, params, 1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match='1 parameter groups'):
        optim.Adam([{'params': params[:1]}, {'params': params[1:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match='has 2 parameters but the saved group has 3'):
        optim.Adam(params[:2]).load_state_dict(sd)
    swapped = [params[1], params[0], params[2]]
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(3, 4\) but "
                                         r"the parameter has shape \(4,\)"):
        optim.Adam(swapped).load_state_dict(sd)
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        optim.Adam(params).load_state_dict({'state': {}})


def test_optim_never_imports_numpy():
    root = pathlib.Path(optim.__file__).parent
    for path in root.glob('*.py'):
        src = path.read_text()
        assert 'import numpy' not in src and 'from numpy' not in src, path.name
