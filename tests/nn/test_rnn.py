"""Recurrent layers (RNN, LSTM, GRU and their cells): gradient checks through time in
float64 (inputs, initial states and every parameter), shapes, errors, equality with
torch.nn on copied weights (outputs and gradients), and an LSTM that learns a task
needing memory."""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
import scratchgen.nn.functional as F


def _t(rng, shape, device='cpu'):
    return sg.tensor(rng.standard_normal(shape), device=device, requires_grad=True)


# ----------------------------------------------------------------------------- gradients
def _check_through_time(layer, B, T, device='cpu', seed=1):
    """gradcheck of (output, h_n[, c_n]) w.r.t. the input, the initial states and every
    parameter, with random upstream gradients on each output."""
    rng = np.random.default_rng(seed)
    layer = layer.double().to(device)
    mode = type(layer).__name__
    LD = layer.num_layers * layer.num_directions
    x = _t(rng, (B, T, layer.input_size) if layer.batch_first else (T, B, layer.input_size),
           device)
    states = [_t(rng, (LD, B, layer.hidden_size), device)
              for _ in range(2 if mode == 'LSTM' else 1)]
    inputs = [x] + states
    n = len(inputs)

    def fn(*args):
        x, *hx = args[:n]
        out, state = layer(x, tuple(hx) if mode == 'LSTM' else hx[0])
        return (out,) + (state if mode == 'LSTM' else (state,))
    assert sg.gradcheck(fn, inputs + list(layer.parameters()), name=f"{layer!r}")


@pytest.mark.parametrize('mode,kw', [('RNN', {}), ('RNN', dict(nonlinearity='relu')),
                                     ('LSTM', {}), ('GRU', {}),
                                     ('LSTM', dict(batch_first=True, bias=False)),
                                     ('GRU', dict(bidirectional=True, num_layers=1))],
                         ids=lambda v: v if isinstance(v, str) else
                         '-'.join(f"{k}={x}" for k, x in v.items()) or 'default')
def test_gradcheck_through_time(mode, kw):
    """Two layers (unless said), three steps: backpropagation through time and
    between layers."""
    kw = dict(num_layers=2, **kw) if 'num_layers' not in kw else kw
    _check_through_time(getattr(nn, mode)(2, 2, **kw), B=1, T=3)


def test_gradcheck_through_time_on_every_device(device):
    _check_through_time(nn.LSTM(2, 2), B=2, T=3, device=device)


def test_gradgradcheck_lstm():
    """Second order through a short sequence (the gates are smooth compositions)."""
    rng = np.random.default_rng(2)
    layer = nn.LSTM(1, 2).double()
    x = _t(rng, (2, 1, 1))
    assert sg.gradgradcheck(lambda x, *p: layer(x)[0], [x] + list(layer.parameters()))


@pytest.mark.parametrize('cell', ['RNNCell', 'LSTMCell', 'GRUCell'])
def test_cell_gradcheck(cell, device):
    rng = np.random.default_rng(3)
    m = getattr(nn, cell)(3, 4).double().to(device)
    x, h = _t(rng, (2, 3), device), _t(rng, (2, 4), device)
    params = list(m.parameters())
    if cell == 'LSTMCell':
        c = _t(rng, (2, 4), device)
        assert sg.gradcheck(lambda x, h, c, *p: m(x, (h, c)), [x, h, c] + params)
    else:
        assert sg.gradcheck(lambda x, h, *p: m(x, h), [x, h] + params)


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize('mode', ['RNN', 'LSTM', 'GRU'])
@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('bidirectional', [False, True])
def test_shapes(mode, batch_first, bidirectional):
    L, B, T, I, H = 3, 2, 5, 4, 6
    D = 2 if bidirectional else 1
    layer = getattr(nn, mode)(I, H, num_layers=L, batch_first=batch_first,
                              bidirectional=bidirectional)
    G = {'RNN': 1, 'LSTM': 4, 'GRU': 3}[mode]
    names = dict(layer.named_parameters())
    assert len(names) == 4 * L * D
    assert names['weight_ih_l0'].shape == (G * H, I)
    assert names['weight_ih_l1'].shape == (G * H, D * H)
    assert names['weight_hh_l2'].shape == (G * H, H)
    assert names['bias_hh_l2'].shape == (G * H,)
    assert ('weight_ih_l0_reverse' in names) == bidirectional
    x = sg.randn(B, T, I) if batch_first else sg.randn(T, B, I)
    for hx in (None, 'given'):
        if hx == 'given':
            h0 = sg.zeros(L * D, B, H)
            hx = (h0, sg.zeros(L * D, B, H)) if mode == 'LSTM' else h0
        out, state = layer(x, hx)
        assert out.shape == ((B, T, D * H) if batch_first else (T, B, D * H))
        assert out.dtype == np.float32
        h_n = state[0] if mode == 'LSTM' else state
        assert h_n.shape == (L * D, B, H)          # never batch first, as PyTorch
        if mode == 'LSTM':
            assert state[1].shape == (L * D, B, H)
    # unbatched: (T, I) -> (T, D*H), states (L*D, H); equals the batch of one
    x1 = x[0] if batch_first else x[:, 0]
    out1, state1 = layer(x1)
    assert out1.shape == (T, D * H)
    ref = out[0] if batch_first else out[:, 0]
    np.testing.assert_allclose(out1.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    h1 = state1[0] if mode == 'LSTM' else state1
    assert h1.shape == (L * D, H)


def test_last_output_is_final_state_and_state_carries_over():
    """output[-1] is h_n of the last layer; running two halves with the carried state
    equals running the whole sequence (what a stateful language model relies on)."""
    rng = np.random.default_rng(4)
    for mode in ('RNN', 'LSTM', 'GRU'):
        layer = getattr(nn, mode)(3, 5, num_layers=2, batch_first=True).double()
        x = sg.tensor(rng.standard_normal((2, 8, 3)))
        out, state = layer(x)
        h_n = state[0] if mode == 'LSTM' else state
        np.testing.assert_allclose(out.numpy()[:, -1], h_n.numpy()[-1], rtol=1e-12)
        a, sa = layer(x[:, :5])
        b, sb = layer(x[:, 5:], sa)
        np.testing.assert_allclose(np.concatenate([a.numpy(), b.numpy()], 1), out.numpy(),
                                   rtol=1e-12, atol=1e-14)
        for u, v in zip(sb if mode == 'LSTM' else [sb], state if mode == 'LSTM' else [state]):
            np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-12, atol=1e-14)


def test_init_range_and_dropout_between_layers():
    layer = nn.LSTM(4, 9, num_layers=2, dropout=0.5)
    bound = 1 / math.sqrt(9)
    for name, p in layer.named_parameters():
        a = p.numpy()
        assert np.abs(a).max() <= bound and a.std() > bound / 4, name
    x = sg.randn(6, 3, 4)
    with nn.evaluating(layer):
        y_eval = layer(x)[0].numpy()
    twin = nn.LSTM(4, 9, num_layers=2)
    twin.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(twin(x)[0].numpy(), y_eval, rtol=1e-6)   # eval: no dropout
    assert not np.allclose(layer(x)[0].numpy(), y_eval)                  # training: dropout


def test_dtype_follows_parameters():
    layer = nn.GRU(2, 3).double()
    out, h = layer(sg.tensor(np.ones((4, 1, 2))))
    assert out.dtype == np.float64 and h.dtype == np.float64


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_module_and_shapes():
    lstm = nn.LSTM(4, 3, num_layers=2, batch_first=True)
    with pytest.raises(ValueError, match=r"LSTM: input of shape \(2, 5, 7\).*input_size 4"):
        lstm(sg.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"LSTM: input of shape \(4,\)"):
        lstm(sg.randn(4))
    with pytest.raises(ValueError, match="at least one time step"):
        lstm(sg.zeros(2, 0, 4))
    with pytest.raises(ValueError, match=r"LSTM: h0 of shape \(1, 2, 3\) must be \(2, 2, 3\)"):
        lstm(sg.randn(2, 5, 4), (sg.zeros(1, 2, 3), sg.zeros(2, 2, 3)))
    with pytest.raises(ValueError, match=r"LSTM: c0 of shape"):
        lstm(sg.randn(2, 5, 4), (sg.zeros(2, 2, 3), sg.zeros(2, 3, 3)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a pair \(h0, c0\)"):
        lstm(sg.randn(2, 5, 4), sg.zeros(2, 2, 3))
    with pytest.raises(TypeError, match="LSTM: input has dtype float64 but the parameters"):
        lstm(sg.tensor(np.zeros((2, 5, 4))))
    with pytest.raises(TypeError, match="GRU: input must be a Tensor"):
        nn.GRU(4, 3)(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"RNN: h0 of shape \(1, 3\) must be \(1, 2, 3\)"):
        nn.RNN(4, 3)(sg.randn(5, 2, 4), sg.zeros(1, 3))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be one of 'tanh', 'relu'"):
        nn.RNN(4, 3, nonlinearity='sigmoid')
    with pytest.raises(ValueError, match="GRU: hidden_size must be a positive int"):
        nn.GRU(4, 0)
    with pytest.raises(ValueError, match="LSTM: dropout must be"):
        nn.LSTM(4, 3, dropout=1.5)
    with pytest.raises(ValueError, match=r"GRUCell: input of shape \(2, 5\) must be \(N, 4\)"):
        nn.GRUCell(4, 3)(sg.randn(2, 5))
    with pytest.raises(ValueError, match=r"LSTMCell: c of shape \(3,\) must be \(2, 3\)"):
        nn.LSTMCell(4, 3)(sg.randn(2, 4), (sg.zeros(2, 3), sg.zeros(3)))


# ----------------------------------------------------------------------------- vs torch
torch_cases = [('RNN', {}), ('RNN', dict(nonlinearity='relu', num_layers=2)),
               ('LSTM', dict(num_layers=2)), ('LSTM', dict(batch_first=True, bias=False)),
               ('LSTM', dict(num_layers=2, bidirectional=True, batch_first=True)),
               ('GRU', dict(num_layers=3)), ('GRU', dict(bidirectional=True)),
               ('LSTM', dict(unbatched=True)), ('GRU', dict(unbatched=True, num_layers=2))]


@pytest.mark.parametrize('mode,kw', torch_cases, ids=lambda v: v if isinstance(v, str) else
                         '-'.join(f"{k}={x}" for k, x in v.items()) or 'default')
def test_matches_torch(mode, kw):
    """Copied weights (load_state_dict checks names and shapes): outputs, final states
    and the gradients of input, initial states and every parameter agree."""
    torch = pytest.importorskip('torch')
    kw = dict(kw)
    unbatched = kw.pop('unbatched', False)
    rng = np.random.default_rng(5)
    I, H, B, T = 3, 4, 2, 6
    theirs = getattr(torch.nn, mode)(I, H, **kw).double()
    ours = getattr(nn, mode)(I, H, **kw).double()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    LD = kw.get('num_layers', 1) * (2 if kw.get('bidirectional') else 1)
    xshape = (T, I) if unbatched else (B, T, I) if kw.get('batch_first') else (T, B, I)
    hshape = (LD, H) if unbatched else (LD, B, H)
    arrays = [rng.standard_normal(xshape), rng.standard_normal(hshape)]
    if mode == 'LSTM':
        arrays.append(rng.standard_normal(hshape))
    xs = [sg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    if mode == 'LSTM':
        out, (h, c) = ours(xs[0], (xs[1], xs[2]))
        tout, (th, tc) = theirs(ts[0], (ts[1], ts[2]))
        pairs = [(out, tout), (h, th), (c, tc)]
    else:
        out, h = ours(xs[0], xs[1])
        tout, th = theirs(ts[0], ts[1])
        pairs = [(out, tout), (h, th)]
    loss, tloss = 0, 0
    for a, b in pairs:
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(a.shape)
        loss = loss + (a * sg.tensor(g)).sum()
        tloss = tloss + (b * torch.tensor(g)).sum()
    loss.backward()
    tloss.backward()
    for a, b in zip(xs, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


@pytest.mark.parametrize('cell', ['RNNCell', 'LSTMCell', 'GRUCell'])
def test_cells_match_torch(cell):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(6)
    theirs = getattr(torch.nn, cell)(3, 4).double()
    ours = getattr(nn, cell)(3, 4).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x, h, c = (rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4)))
    if cell == 'LSTMCell':
        y = ours(sg.tensor(x), (sg.tensor(h), sg.tensor(c)))
        ty = theirs(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
        for a, b in zip(y, ty):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
        y0, ty0 = ours(sg.tensor(x[0]))[0], theirs(torch.tensor(x[0]))[0]      # unbatched
    else:
        y, ty = ours(sg.tensor(x), sg.tensor(h)), theirs(torch.tensor(x), torch.tensor(h))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        y0, ty0 = ours(sg.tensor(x[0])), theirs(torch.tensor(x[0]))
    assert y0.shape == (4,)
    np.testing.assert_allclose(y0.numpy(), ty0.detach().numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- learning
def test_lstm_learns_to_recall_the_first_symbol():
    """At every one of 12 steps the target is the symbol seen at the first step (4
    symbols, random ones after it): at the last step only a network that carried it
    through 11 updates of its state beats chance (25%). Accuracy there must pass 95%
    after 100 Adam steps (it reaches 100% for seeds 0-4)."""
    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    V, T, H, B = 4, 12, 16, 32
    lstm = nn.LSTM(V, H, batch_first=True)
    head = nn.Linear(H, V)
    opt = sg.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.03)
    eye = np.eye(V, dtype=np.float32)

    def batch(n):
        seq = rng.integers(0, V, (n, T))
        return sg.tensor(eye[seq]), seq[:, 0]

    for step in range(100):
        x, first = batch(B)
        logits = head(lstm(x)[0])                                   # (B, T, V)
        loss = F.cross_entropy(logits.reshape(B * T, V), sg.tensor(np.repeat(first, T)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, first = batch(500)
    with sg.no_grad():
        acc = (head(lstm(x)[0][:, -1]).numpy().argmax(-1) == first).mean()
    assert acc > 0.95, f"recall accuracy at the last step {acc:.2f}"
