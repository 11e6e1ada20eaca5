"""Layers against PyTorch: the same weights (copied from torch through load_state_dict,
which also checks that parameter names and shapes agree) give the same outputs and the
same gradients for inputs and parameters."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn

torch = pytest.importorskip('torch')


def _randomize(theirs, rng):
    """Non-trivial weights for torch's module (e.g. norm layers start at ones/zeros)."""
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))


def compare(ours, theirs, shapes, train=True, steps=1, int_input=None, device='cpu'):
    """Copy torch's state into ours; run ``steps`` forward/backward passes on both and
    compare outputs, input gradients, parameter gradients and final state."""
    rng = np.random.default_rng(0)
    theirs = theirs.double()
    _randomize(theirs, rng)
    ours = ours.double().to(device)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.train(train), theirs.train(train)
    for _ in range(steps):
        ours.zero_grad(), theirs.zero_grad()
        if int_input is not None:
            arrays = [int_input]
            xs = [sg.tensor(int_input, device=device)]
            ts = [torch.tensor(int_input)]
        else:
            arrays = [rng.standard_normal(s) for s in shapes]
            xs = [sg.tensor(a, device=device, requires_grad=True) for a in arrays]
            ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        y, ty = ours(*xs), theirs(*ts)
        assert y.shape == tuple(ty.shape) and y.dtype == np.float64
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        g = rng.standard_normal(y.shape)
        y.backward(sg.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        if int_input is None:
            for a, b in zip(xs, ts):
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10)
        tp = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-9,
                                       atol=1e-10, err_msg=name)
    ts_state = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v.numpy(), ts_state[k].numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=k)


def test_linear():
    compare(nn.Linear(5, 3), torch.nn.Linear(5, 3), [(4, 5)])
    compare(nn.Linear(5, 3, bias=False), torch.nn.Linear(5, 3, bias=False), [(2, 3, 5)])


@pytest.mark.parametrize('kw', [dict(), dict(stride=2, padding=1), dict(padding='same', dilation=2),
                                dict(groups=2, bias=False), dict(padding=1, padding_mode='reflect'),
                                dict(padding=(2, 1), padding_mode='circular'),
                                dict(padding='same', padding_mode='replicate')],
                         ids=repr)
def test_conv2d(kw):
    compare(nn.Conv2d(4, 6, (3, 2) if 'dilation' not in kw else 3, **kw),
            torch.nn.Conv2d(4, 6, (3, 2) if 'dilation' not in kw else 3, **kw), [(2, 4, 7, 6)])


@pytest.mark.parametrize('kw', [dict(), dict(stride=2, padding=1, output_padding=1),
                                dict(groups=2, dilation=2, bias=False)], ids=repr)
def test_conv_transpose2d(kw):
    compare(nn.ConvTranspose2d(4, 6, 3, **kw), torch.nn.ConvTranspose2d(4, 6, 3, **kw),
            [(2, 4, 5, 4)])


def test_conv_on_emu_device():
    compare(nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1), [(2, 2, 5, 5)],
            device='emu')


@pytest.mark.parametrize('cls,shape', [('BatchNorm1d', (6, 3)), ('BatchNorm1d', (4, 3, 5)),
                                       ('BatchNorm2d', (4, 3, 2, 3))])
@pytest.mark.parametrize('kw', [dict(), dict(momentum=None), dict(affine=False),
                                dict(track_running_stats=False), dict(bias=False)], ids=repr)
def test_batchnorm_train_then_eval(cls, shape, kw):
    ours, theirs = getattr(nn, cls)(3, **kw), getattr(torch.nn, cls)(3, **kw)
    compare(ours, theirs, [shape], train=True, steps=3)     # running stats after 3 steps
    # eval mode with the running statistics (copied again by compare: equal anyway)
    compare(ours, theirs, [shape], train=False)


def test_layernorm():
    compare(nn.LayerNorm(5), torch.nn.LayerNorm(5), [(2, 3, 5)])
    compare(nn.LayerNorm((3, 5), eps=1e-3), torch.nn.LayerNorm((3, 5), eps=1e-3), [(2, 3, 5)])
    compare(nn.LayerNorm(5, bias=False), torch.nn.LayerNorm(5, bias=False), [(4, 5)])
    compare(nn.LayerNorm(5, elementwise_affine=False),
            torch.nn.LayerNorm(5, elementwise_affine=False), [(4, 5)])


def test_groupnorm():
    compare(nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6), [(3, 6, 2, 2)])
    compare(nn.GroupNorm(3, 6, affine=False), torch.nn.GroupNorm(3, 6, affine=False), [(2, 6, 5)])
    compare(nn.GroupNorm(6, 6, bias=False), torch.nn.GroupNorm(6, 6, bias=False), [(2, 6, 2, 3)])


def test_embedding():
    ids = np.array([[0, 4, 4, 2], [1, 0, 3, 4]])
    compare(nn.Embedding(5, 3), torch.nn.Embedding(5, 3), None, int_input=ids)
    ours, theirs = nn.Embedding(5, 3, padding_idx=4), torch.nn.Embedding(5, 3, padding_idx=4)
    compare(ours, theirs, None, int_input=ids)
    assert not ours.weight.grad.numpy()[4].any()


def test_pooling_upsample_flatten():
    compare(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), [(2, 3, 4, 6)])
    compare(nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            torch.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(1, 2, 6, 5)])
    compare(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [(1, 2, 5, 5)])
    compare(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2), [(1, 2, 3, 2)])
    compare(nn.Upsample(size=(5, 3)), torch.nn.Upsample(size=(5, 3)), [(1, 2, 3, 2)])
    compare(nn.Flatten(), torch.nn.Flatten(), [(2, 3, 2, 2)])


def test_small_convnet_state_dict_interchange():
    """A whole model: torch's state dict loads into ours (same keys, same order) and the
    outputs agree; ours saves back into torch's."""
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(),
                              lib.MaxPool2d(2), lib.Conv2d(4, 8, 3, padding=1), lib.GroupNorm(2, 8),
                              lib.SiLU(), lib.Flatten(), lib.Linear(8 * 3 * 3, 10))
    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(ours, theirs, [(2, 1, 6, 6)], train=True, steps=2)
    ours.eval(), theirs.eval()
    x = np.random.default_rng(3).standard_normal((2, 1, 6, 6))
    fresh = build(torch.nn).double().eval()
    fresh.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(ours(sg.tensor(x)).numpy(),
                               fresh(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
