"""Every layer gradient-checked in float64 through its inputs AND its parameters (and to
second order where the layer is smooth), on every device; plus shape/mode behaviour."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn


def _inputs(shapes, device, seed=0, away_from_zero=False, distinct=False):
    rng = np.random.default_rng(seed)
    xs = []
    for shape in shapes:
        a = rng.standard_normal(shape)
        if away_from_zero:        # keep clear of kinks at 0 (relu, leaky_relu, elu)
            a = np.where(np.abs(a) < 0.1, np.sign(a + 1e-12) * (0.1 + np.abs(a)), a)
        if distinct:              # no ties (max pooling)
            a = a + 0.05 * rng.permutation(a.size).reshape(a.shape)
        xs.append(sg.tensor(a, device=device, requires_grad=True))
    return xs


def check_layer(module, shapes, device, second_order=True, seed=None, **kw):
    """gradcheck (and gradgradcheck) of ``module(*inputs)`` w.r.t. inputs and parameters.

    The module is cast to float64 and moved to ``device``; the gradient checks perturb
    the very Parameter objects the module uses. ``seed``: reseed before every call, so
    that random layers (dropout) draw the same mask at each evaluation.
    """
    module.double().to(device)
    xs = _inputs(shapes, device, **kw)
    params = list(module.parameters())
    n = len(xs)

    def fn(*args):
        if seed is not None:
            sg.manual_seed(seed)
        return module(*args[:n])
    fn.__name__ = type(module).__name__
    out = fn(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        if o is not None:
            assert o.dtype == np.float64 and o.device == device
    assert sg.gradcheck(fn, xs + params)
    if second_order:
        assert sg.gradgradcheck(fn, xs + params)
    return out


# ----------------------------------------------------------------------------- dense
def test_linear(device):
    y = check_layer(nn.Linear(3, 2), [(4, 3)], device)
    assert y.shape == (4, 2)


def test_linear_batched_input_without_bias(device):
    y = check_layer(nn.Linear(3, 2, bias=False), [(2, 3, 3)], device)
    assert y.shape == (2, 3, 2)


def test_linear_rejects_wrong_features():
    with pytest.raises(ValueError, match=r'Linear: input of shape \(4, 5\) has last dim 5, expected 3'):
        nn.Linear(3, 2)(sg.randn(4, 5))


def test_identity_flatten_unflatten(device):
    x = sg.randn(2, 3, 4, 5, device=device)
    assert nn.Identity(7, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    check_layer(nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 3))), [(2, 6)], device)
    with pytest.raises(ValueError, match='Unflatten'):
        nn.Unflatten(1, (4, 4))(sg.randn(2, 6))


# ----------------------------------------------------------------------------- convolution
def test_conv2d(device):
    y = check_layer(nn.Conv2d(2, 3, 3, padding=1), [(2, 2, 4, 4)], device)
    assert y.shape == (2, 3, 4, 4)


def test_conv2d_strided_dilated_grouped(device):
    y = check_layer(nn.Conv2d(4, 2, (2, 3), stride=2, padding=(1, 0), dilation=(1, 2),
                              groups=2, bias=False), [(1, 4, 5, 6)], device)
    assert y.shape == (1, 2, 3, 1)


@pytest.mark.parametrize('mode', ['reflect', 'replicate', 'circular'])
def test_conv2d_padding_modes(mode, device):
    y = check_layer(nn.Conv2d(1, 2, 3, padding=1, padding_mode=mode), [(1, 1, 4, 4)], device)
    assert y.shape == (1, 2, 4, 4)


def test_conv2d_same_and_valid_padding():
    x = sg.randn(1, 2, 7, 6)
    assert nn.Conv2d(2, 3, 4, padding='same')(x).shape == (1, 3, 7, 6)
    assert nn.Conv2d(2, 3, 3, padding='same', dilation=2)(x).shape == (1, 3, 7, 6)
    assert nn.Conv2d(2, 3, 3, padding='valid')(x).shape == (1, 3, 5, 4)
    assert nn.Conv2d(2, 3, 4, padding='same', padding_mode='reflect')(x).shape == (1, 3, 7, 6)
    with pytest.raises(ValueError, match='stride 1'):
        nn.Conv2d(2, 3, 3, stride=2, padding='same')


def test_conv_errors():
    with pytest.raises(ValueError, match='divisible by groups'):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r'Conv2d: input of shape \(1, 3, 5, 5\) has 3 channels, expected 2'):
        nn.Conv2d(2, 4, 3)(sg.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r'\(N, C, H, W\)'):
        nn.Conv2d(2, 4, 3)(sg.randn(2, 5, 5))
    with pytest.raises(ValueError, match='output_padding'):
        nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)


def test_conv_transpose2d(device):
    y = check_layer(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
                    [(1, 2, 3, 3)], device)
    assert y.shape == (1, 3, 6, 6)


def test_conv_transpose2d_groups_and_output_size(device):
    m = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, groups=2).double().to(device)
    x = sg.randn(1, 4, 3, 3, dtype=sg.float64, device=device)
    assert m(x).shape == (1, 2, 5, 5)
    assert m(x, output_size=(6, 6)).shape == (1, 2, 6, 6)
    assert m(x, output_size=(1, 2, 6, 5)).shape == (1, 2, 6, 5)
    with pytest.raises(ValueError, match='output_size'):
        m(x, output_size=(8, 8))
    check_layer(m, [(1, 4, 2, 2)], device)


def test_pooling(device):
    y = check_layer(nn.MaxPool2d(2), [(1, 2, 4, 4)], device, distinct=True)
    assert y.shape == (1, 2, 2, 2)
    y = check_layer(nn.AvgPool2d(3, stride=2, padding=1), [(1, 2, 5, 5)], device)
    assert y.shape == (1, 2, 3, 3)


def test_upsample(device):
    y = check_layer(nn.Upsample(scale_factor=2), [(1, 2, 2, 3)], device)
    assert y.shape == (1, 2, 4, 6)
    assert nn.Upsample(size=(5, 4))(sg.randn(1, 1, 2, 2)).shape == (1, 1, 5, 4)
    with pytest.raises(ValueError, match='exactly one'):
        nn.Upsample()


# ----------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize('shape', [(4, 3), (3, 3, 2)])
def test_batchnorm1d_train_and_eval(shape, device):
    bn = nn.BatchNorm1d(3)
    with sg.no_grad():                       # non-trivial affine parameters
        bn.weight.data[...] = sg.tensor([0.5, 1.5, -1.0]).data
        bn.bias.data[...] = sg.tensor([0.1, -0.2, 0.3]).data
    check_layer(bn, [shape], device)
    assert int(bn.num_batches_tracked.item()) > 0
    bn.eval()
    check_layer(bn, [shape], device)


def test_batchnorm2d_train_and_eval(device):
    bn = nn.BatchNorm2d(2)
    check_layer(bn, [(2, 2, 2, 3)], device)
    bn.eval()
    check_layer(bn, [(2, 2, 2, 3)], device)


def test_batchnorm_running_stats_momentum_and_modes():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((8, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -2.0] for _ in range(3)]
    bn = nn.BatchNorm1d(3, momentum=0.2).double()
    mean, var = np.zeros(3), np.ones(3)
    for x in xs:
        bn(sg.tensor(x))
        mean = 0.8 * mean + 0.2 * x.mean(0)
        var = 0.8 * var + 0.2 * x.var(0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 3
    # eval: normalise with the running statistics, and leave them alone
    bn.eval()
    y = bn(sg.tensor(xs[0])).numpy()
    np.testing.assert_allclose(y, (xs[0] - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 3
    # momentum=None: cumulative average over batches
    cma = nn.BatchNorm1d(3, momentum=None).double()
    for x in xs:
        cma(sg.tensor(x))
    np.testing.assert_allclose(cma.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0),
                               rtol=1e-12)
    # no running statistics: batch statistics in eval mode too, no buffers saved
    free = nn.BatchNorm1d(3, track_running_stats=False).double().eval()
    y = free(sg.tensor(xs[1])).numpy()
    np.testing.assert_allclose(y, (xs[1] - xs[1].mean(0)) / np.sqrt(xs[1].var(0) + 1e-5),
                               rtol=1e-10)
    assert list(free.state_dict()) == ['weight', 'bias']
    assert list(nn.BatchNorm2d(2, affine=False).state_dict()) == [
        'running_mean', 'running_var', 'num_batches_tracked']
    with pytest.raises(ValueError, match='channels'):
        bn(sg.randn(4, 5))
    with pytest.raises(ValueError, match='dims'):
        nn.BatchNorm2d(3)(sg.randn(4, 3))


def test_layernorm(device):
    ln = nn.LayerNorm(4)
    with sg.no_grad():
        nn.init.normal_(ln.weight)
        nn.init.normal_(ln.bias)
    check_layer(ln, [(2, 3, 4)], device)
    check_layer(nn.LayerNorm((2, 3), bias=False), [(2, 2, 3)], device)
    check_layer(nn.LayerNorm(3, elementwise_affine=False), [(2, 3)], device)
    with pytest.raises(ValueError, match='LayerNorm'):
        nn.LayerNorm(4)(sg.randn(2, 3))


def test_groupnorm(device):
    gn = nn.GroupNorm(2, 4)
    with sg.no_grad():
        nn.init.normal_(gn.weight)
        nn.init.normal_(gn.bias)
    check_layer(gn, [(2, 4, 2, 2)], device)
    check_layer(nn.GroupNorm(1, 2, affine=False), [(2, 2, 3)], device)
    with pytest.raises(ValueError, match='divisible'):
        nn.GroupNorm(3, 4)


# ----------------------------------------------------------------------------- misc layers
def test_dropout(device):
    drop = nn.Dropout(0.5)
    y = check_layer(drop, [(4, 5)], device, seed=3)
    zeros = (y.numpy() == 0)
    assert 0 < zeros.sum() < 20
    drop.eval()
    x = sg.randn(4, 5, device=device)
    assert drop(x) is x or np.array_equal(drop(x).numpy(), x.numpy())
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_embedding(device):
    emb = nn.Embedding(5, 3).double().to(device)
    ids = sg.tensor([[0, 3, 3], [4, 1, 0]], device=device)
    y = emb(ids)
    assert y.shape == (2, 3, 3) and y.dtype == np.float64
    np.testing.assert_array_equal(y.numpy()[0, 1], emb.weight.numpy()[3])
    assert sg.gradcheck(lambda w: emb(ids), [emb.weight])
    assert sg.gradgradcheck(lambda w: emb(ids) ** 2, [emb.weight])
    with pytest.raises(TypeError, match='integers'):
        emb(sg.randn(2))


def test_embedding_padding_idx_gets_no_gradient(device):
    emb = nn.Embedding(4, 2, padding_idx=1).to(device)
    assert not emb.weight.numpy()[1].any()
    emb(sg.tensor([1, 2, 1], device=device)).sum().backward()
    g = emb.weight.grad.numpy()
    assert not g[1].any() and (g[2] == 1).all()


ACTIVATIONS = [
    (nn.ReLU(), True), (nn.LeakyReLU(0.2), True), (nn.ELU(0.7), True),
    (nn.GELU(), True), (nn.GELU('tanh'), True), (nn.SiLU(), True), (nn.Sigmoid(), True),
    (nn.Tanh(), True), (nn.Softplus(beta=2.0, threshold=5.0), True), (nn.Softmax(dim=0), True),
    (nn.Softmax(), True), (nn.LogSoftmax(dim=1), True),
]


@pytest.mark.parametrize('act,smooth', ACTIVATIONS, ids=lambda a: repr(a) if not isinstance(a, bool) else '')
def test_activations(act, smooth, device):
    y = check_layer(act, [(3, 4)], device, second_order=smooth, away_from_zero=True)
    assert y.shape == (3, 4)


def test_activation_values_match_torch():
    torch = pytest.importorskip('torch')
    x = np.random.default_rng(0).standard_normal((3, 5)) * 3
    pairs = [(nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
             (nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.GELU(), torch.nn.GELU()),
             (nn.GELU('tanh'), torch.nn.GELU('tanh')), (nn.SiLU(), torch.nn.SiLU()),
             (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()),
             (nn.Softplus(2.0, 3.0), torch.nn.Softplus(2.0, 3.0)),
             (nn.Softmax(0), torch.nn.Softmax(0)), (nn.LogSoftmax(1), torch.nn.LogSoftmax(1))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(sg.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=repr(ours))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match='approximate'):
        nn.GELU('fast')


def test_sequential_model_gradcheck(device):
    """A small conv net end to end: every parameter of every layer gets a checked gradient."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.GroupNorm(1, 2), nn.SiLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 3), nn.Tanh())
    # first order only: each layer is checked to second order above; the composition's
    # double backward takes ~15 s on emu
    y = check_layer(model, [(2, 1, 4, 4)], device, second_order=False)
    assert y.shape == (2, 3)


def test_float32_forward_keeps_dtype(device):
    x = sg.randn(2, 2, 4, 4, device=device)
    for m in (nn.Conv2d(2, 2, 3), nn.ConvTranspose2d(2, 2, 3), nn.BatchNorm2d(2),
              nn.GroupNorm(1, 2), nn.LayerNorm(4), nn.Upsample(scale_factor=2), nn.Dropout()):
        assert m.to(device)(x).dtype == np.float32, m
    assert nn.Linear(4, 3).to(device)(x).dtype == np.float32
