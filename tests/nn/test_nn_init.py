"""nn.init (formulas, statistics, in place, seeded, on the tensor's device), the default
initialisation of every layer, and the positional/time encodings."""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen.nn import init


def _param(*shape, device='cpu', dtype=sg.float32):
    return nn.Parameter(sg.zeros(*shape, device=device, dtype=dtype))


# ----------------------------------------------------------------------------- init
def test_calculate_gain_matches_torch():
    torch = pytest.importorskip('torch')
    for name, param in [('linear', None), ('conv2d', None), ('conv_transpose2d', None),
                        ('sigmoid', None), ('tanh', None), ('relu', None), ('leaky_relu', None),
                        ('leaky_relu', 0.2), ('leaky_relu', math.sqrt(5)), ('selu', None)]:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param), rel=1e-12), name
    with pytest.raises(ValueError, match='unsupported'):
        init.calculate_gain('swish')


def test_init_is_in_place_without_graph_and_keeps_device_and_dtype(device):
    p = _param(30, 40, device=device)
    arr = p.data
    out = init.kaiming_uniform_(p)
    assert out is p and p.data is arr and p.creator is None and p.requires_grad
    assert p.device == device and p.dtype == np.float32 and p.numpy().any()
    q = _param(3, 4, device=device, dtype=sg.float64)
    init.normal_(q)
    assert q.dtype == np.float64 and q.device == device


def test_init_is_seeded_and_equal_on_cpu_and_emu():
    draws = []
    for dev in ('cpu', 'emu', 'cpu'):
        sg.manual_seed(5)
        p = _param(4, 6, device=dev)
        init.xavier_normal_(p)
        init.orthogonal_(q := _param(3, 5, device=dev))
        draws.append((p.numpy(), q.numpy()))
    for a, b in zip(draws[0], draws[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(draws[0], draws[2]):
        np.testing.assert_array_equal(a, b)


def test_uniform_normal_constant():
    p = _param(200, 300)
    init.uniform_(p, -2.0, 3.0)
    v = p.numpy()
    assert v.min() >= -2.0 and v.max() < 3.0
    assert abs(v.mean() - 0.5) < 0.02 and abs(v.std() - 5 / math.sqrt(12)) < 0.02
    init.normal_(p, 1.0, 0.5)
    v = p.numpy()
    assert abs(v.mean() - 1.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    init.constant_(p, 0.25)
    assert (p.numpy() == 0.25).all()
    init.zeros_(p)
    assert not p.numpy().any()
    init.ones_(p)
    assert (p.numpy() == 1).all()


@pytest.mark.parametrize('shape', [(300, 200), (64, 16, 3, 3)])
def test_xavier_and_kaiming_statistics(shape):
    fan_in = shape[1] * int(np.prod(shape[2:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))
    p = _param(*shape)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    init.xavier_uniform_(p, gain=2.0)
    v = p.numpy()
    assert np.abs(v).max() <= 2 * math.sqrt(3) * std and abs(v.std() / (2 * std) - 1) < 0.02
    init.xavier_normal_(p)
    assert abs(p.numpy().std() / std - 1) < 0.02
    init.kaiming_uniform_(p, mode='fan_out', nonlinearity='relu')
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(fan_out)
    v = p.numpy()
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    init.kaiming_normal_(p, a=0.1)
    std = math.sqrt(2 / (1 + 0.01)) / math.sqrt(fan_in)
    assert abs(p.numpy().std() / std - 1) < 0.02 and abs(p.numpy().mean()) < 0.05 * std


def test_fans_match_torch():
    torch = pytest.importorskip('torch')
    from scratchgen.nn.init import _fans
    for shape in [(3, 4), (8, 3, 5, 2), (6, 2, 3)]:
        assert _fans(_param(*shape), 'test') == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize('shape', [(4, 7), (7, 4), (5, 2, 3, 1), (6, 6)])
def test_orthogonal(shape, device):
    p = _param(*shape, device=device, dtype=sg.float64)
    init.orthogonal_(p, gain=1.5)
    m = p.numpy().reshape(shape[0], -1)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=1e-12)


def test_init_errors():
    with pytest.raises(ValueError, match='at least 2 dims'):
        init.xavier_uniform_(_param(5))
    with pytest.raises(ValueError, match='mode'):
        init.kaiming_normal_(_param(2, 2), mode='fan_avg')
    with pytest.raises(TypeError, match='floating'):
        init.normal_(sg.zeros(3, dtype=sg.int64))
    with pytest.raises(TypeError, match='Tensor'):
        init.zeros_(np.zeros(3))
    with pytest.raises(ValueError, match='a <= b'):
        init.uniform_(_param(2), 1.0, 0.0)


# ----------------------------------------------------------------------------- layer defaults
def _check_uniform(v, bound):
    assert np.abs(v).max() <= bound
    assert np.abs(v).max() > 0.9 * bound
    assert abs(v.std() / (bound / math.sqrt(3)) - 1) < 0.1


def test_linear_default_init_like_torch():
    lin = nn.Linear(256, 128)
    _check_uniform(lin.weight.numpy(), 1 / math.sqrt(256))
    _check_uniform(lin.bias.numpy(), 1 / math.sqrt(256))
    torch = pytest.importorskip('torch')
    t = torch.nn.Linear(256, 128)
    assert abs(lin.weight.numpy().std() / t.weight.detach().numpy().std() - 1) < 0.05


def test_conv_default_init_like_torch():
    conv = nn.Conv2d(16, 32, 3, groups=2)          # fan_in = 16 / 2 * 3 * 3 = 72
    _check_uniform(conv.weight.numpy(), 1 / math.sqrt(72))
    _check_uniform(conv.bias.numpy(), 1 / math.sqrt(72))
    tconv = nn.ConvTranspose2d(32, 16, 4)          # weight (32, 16, 4, 4): fan_in = 16 * 16
    assert tconv.weight.shape == (32, 16, 4, 4)
    _check_uniform(tconv.weight.numpy(), 1 / 16)
    torch = pytest.importorskip('torch')
    for ours, theirs in [(conv, torch.nn.Conv2d(16, 32, 3, groups=2)),
                         (tconv, torch.nn.ConvTranspose2d(32, 16, 4))]:
        for name, p in theirs.named_parameters():
            v = getattr(ours, name).numpy()
            assert v.shape == tuple(p.shape)
            assert abs(np.abs(v).max() / p.detach().abs().max().item() - 1) < 0.1, name


def test_other_layer_defaults():
    emb = nn.Embedding(500, 64)
    v = emb.weight.numpy()
    assert abs(v.mean()) < 0.02 and abs(v.std() - 1) < 0.02
    for m in (nn.BatchNorm2d(3), nn.LayerNorm(3), nn.GroupNorm(1, 3)):
        assert (m.weight.numpy() == 1).all() and not m.bias.numpy().any()
    bn = nn.BatchNorm1d(3)
    assert not bn.running_mean.numpy().any() and (bn.running_var.numpy() == 1).all()
    assert bn.num_batches_tracked.item() == 0
    pos = nn.LearnedPositionalEmbedding(512, 64)
    assert abs(pos.weight.numpy().std() - 0.02) < 0.001


def test_factory_device_and_dtype_arguments():
    for m in (nn.Linear(3, 2, device='emu', dtype=sg.float64),
              nn.Conv2d(2, 2, 3, device='emu', dtype=sg.float64),
              nn.BatchNorm2d(2, device='emu', dtype=sg.float64),
              nn.MultiheadAttention(4, 2, device='emu', dtype=sg.float64),
              nn.Embedding(3, 2, device='emu', dtype=sg.float64)):
        assert all(p.device == 'emu' and p.dtype == np.float64 for p in m.parameters()), m
        assert all(b.device == 'emu' for b in m.buffers())


def test_reset_parameters_redraws():
    lin = nn.Linear(4, 4)
    before = lin.weight.numpy()
    lin.reset_parameters()
    assert not np.array_equal(before, lin.weight.numpy())


# ----------------------------------------------------------------------------- positional
@pytest.mark.parametrize('d', [6, 7])
def test_sinusoidal_positional_encoding_values(d, device):
    pe = nn.SinusoidalPositionalEncoding(d, max_len=20).to(device)
    x = sg.zeros(2, 5, d, device=device)
    y = pe(x, offset=3)
    assert y.dtype == np.float32 and y.device == device and y.shape == (2, 5, d)
    pos = np.arange(3, 8)[:, None]
    ref = np.zeros((5, d))
    for i in range(0, d, 2):
        angle = pos[:, 0] / 10000 ** (i / d)
        ref[:, i] = np.sin(angle)
        if i + 1 < d:
            ref[:, i + 1] = np.cos(angle)
    np.testing.assert_allclose(y.numpy()[1], ref, atol=1e-6)
    assert list(pe.state_dict()) == []          # derived table, not saved
    assert [n for n, _ in pe.named_buffers()] == ['pe']
    with pytest.raises(ValueError, match='max_len'):
        pe(sg.zeros(1, 18, d, device=device), offset=3)


def test_positional_encodings_gradcheck(device):
    pe = nn.SinusoidalPositionalEncoding(4, max_len=8).double().to(device)
    x = sg.randn(2, 3, 4, dtype=sg.float64, device=device, requires_grad=True)
    assert sg.gradcheck(lambda x: pe(x, offset=2) ** 2, [x])
    lp = nn.LearnedPositionalEmbedding(6, 4).double().to(device)
    f = lambda x, w: lp(x, offset=1) ** 2   # noqa: E731
    assert sg.gradcheck(f, [x, lp.weight])
    assert sg.gradgradcheck(f, [x, lp.weight])
    lp(x, offset=1).sum().backward()
    g = lp.weight.grad.numpy()
    assert not g[0].any() and not g[4:].any() and (g[1:4] == 2).all()


def test_sinusoidal_time_embedding_matches_ddpm(device):
    dim = 8
    emb = nn.SinusoidalTimeEmbedding(dim).to(device)
    t = np.array([0.0, 1.5, 10.0, 999.0])
    y = emb(sg.tensor(t, dtype=sg.float32, device=device))
    assert y.shape == (4, dim) and y.dtype == np.float32 and y.device == device
    half = dim // 2
    freqs = np.exp(-math.log(10000) * np.arange(half) / (half - 1))
    ref = np.concatenate([np.sin(t[:, None] * freqs), np.cos(t[:, None] * freqs)], axis=1)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    ints = emb(sg.tensor([0, 10], device=device))          # integer timesteps are cast
    np.testing.assert_allclose(ints.numpy(), ref[[0, 2]], rtol=1e-5, atol=1e-5)
    odd = nn.SinusoidalTimeEmbedding(7).to(device)(sg.tensor(t, device=device))
    assert odd.shape == (4, 7) and not odd.numpy()[:, -1].any()
    with pytest.raises(ValueError, match=r'\(B,\)'):
        emb(sg.zeros(2, 1, device=device))


def test_sinusoidal_time_embedding_gradcheck(device):
    emb = nn.SinusoidalTimeEmbedding(6).double().to(device)
    t = sg.tensor([0.3, 2.0, 7.5], dtype=sg.float64, device=device, requires_grad=True)
    assert sg.gradcheck(emb, [t])
    assert sg.gradgradcheck(emb, [t])
