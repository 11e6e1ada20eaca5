"""Shape ops: forward against NumPy, first and second derivatives, every device;
PyTorch cross-checks for pad ordering, repeat, split/chunk, expand; error messages."""
import numpy as np
import pytest

import scratchgen as sg
from helpers import OpCase, Spec, check_case

NC = Spec((3, 4), noncontig=True)      # a transposed view: non-contiguous strides

CASES = [
    # Contiguous: a copy of a strided view, identity gradient
    OpCase('Contiguous', lambda x: x.contiguous() * 1.0, [NC], reference=lambda x: x),
    OpCase('Contiguous', lambda x: sg.permute(x, 1, 0).contiguous(), [(3, 4)],
           name='Contiguous of a permute', reference=lambda x: x.T),
    # SumTo / BroadcastTo: adjoint pair
    OpCase('SumTo', lambda x: sg.sum_to(x, (1, 4)), [(3, 4)],
           reference=lambda x: x.sum(0, keepdims=True)),
    OpCase('SumTo', lambda x: sg.sum_to(x, (3, 1)), [(2, 3, 4)], name='SumTo lead+inner',
           reference=lambda x: x.sum((0, 2))[:, None]),
    OpCase('SumTo', lambda x: sg.sum_to(x, (4,)), [NC], name='SumTo noncontig',
           reference=lambda x: x.sum(0)),
    OpCase('BroadcastTo', lambda x: sg.broadcast_to(x, (2, 3, 4)), [(3, 1)],
           reference=lambda x: np.broadcast_to(x, (2, 3, 4))),
    OpCase('BroadcastTo', lambda x: x.expand(2, -1, 5), [(3, 1)], name='expand -1 keeps',
           reference=lambda x: np.broadcast_to(x, (2, 3, 5))),
    OpCase('BroadcastTo', lambda x: x.expand(2, 3, 4), [Spec((3, 1), noncontig=True)],
           name='expand noncontig', reference=lambda x: np.broadcast_to(x, (2, 3, 4))),
    # Reshape and the functions built on it
    OpCase('Reshape', lambda x: x.reshape(2, -1), [(3, 4)],
           reference=lambda x: x.reshape(2, -1)),
    OpCase('Reshape', lambda x: x.view(-1), [NC], name='view of noncontig copies',
           reference=lambda x: x.reshape(-1)),
    OpCase('Reshape', lambda x: x.flatten(1), [(2, 3, 2)], name='flatten(1)',
           reference=lambda x: x.reshape(2, 6)),
    OpCase('Reshape', lambda x: x.flatten(0, 1), [(2, 3, 2)], name='flatten(0, 1)',
           reference=lambda x: x.reshape(6, 2)),
    OpCase('Reshape', lambda x: x.squeeze(), [(1, 3, 1)], name='squeeze all',
           reference=lambda x: x.squeeze()),
    OpCase('Reshape', lambda x: x.squeeze(-1), [(1, 3, 1)], name='squeeze(-1)',
           reference=lambda x: x.squeeze(-1)),
    OpCase('Reshape', lambda x: x.unsqueeze(1), [(2, 3)], name='unsqueeze(1)',
           reference=lambda x: x[:, None]),
    OpCase('Reshape', lambda x: x.unsqueeze(-1), [(2, 3)], name='unsqueeze(-1)',
           reference=lambda x: x[..., None]),
    # Permute and the transposes
    OpCase('Permute', lambda x: x.permute(2, 0, 1), [(2, 3, 4)],
           reference=lambda x: x.transpose(2, 0, 1)),
    OpCase('Permute', lambda x: x.transpose(0, 2), [(2, 3, 4)], name='transpose(0, 2)',
           reference=lambda x: x.swapaxes(0, 2)),
    OpCase('Permute', lambda x: x.T, [(2, 3, 4)], name='T reverses', reference=lambda x: x.T),
    OpCase('Permute', lambda x: x.mT, [NC], name='mT noncontig', reference=lambda x: x.T),
    OpCase('Permute', lambda x: sg.movedim(x, 0, -1), [(2, 3, 4)], name='movedim',
           reference=lambda x: np.moveaxis(x, 0, -1)),
    # Flip
    OpCase('Flip', lambda x: x.flip(0), [(3, 4)], reference=lambda x: x[::-1]),
    OpCase('Flip', lambda x: x.flip(-1), [NC], name='Flip -1 noncontig',
           reference=lambda x: x[:, ::-1]),
    OpCase('Flip', lambda x: x.flip((0, 2)), [(2, 3, 2)], name='Flip (0, 2)',
           reference=lambda x: x[::-1, :, ::-1]),
    # Concatenate / Split
    OpCase('Concatenate', lambda a, b, c: sg.cat([a, b, c], 0), [(1, 3), (2, 3), (3, 3)],
           reference=lambda a, b, c: np.concatenate([a, b, c], 0)),
    OpCase('Concatenate', lambda a, b: sg.cat([a, b], dim=1), [(2, 1, 2), (2, 3, 2)],
           name='cat dim 1', reference=lambda a, b: np.concatenate([a, b], 1)),
    OpCase('Concatenate', lambda a, b: sg.concatenate([a, b], axis=-1), [NC, (3, 2)],
           name='concatenate axis -1 noncontig', reference=lambda a, b: np.concatenate([a, b], -1)),
    OpCase('Concatenate', lambda a, b: sg.stack([a, b], 1), [(2, 3), (2, 3)], name='stack dim 1',
           reference=lambda a, b: np.stack([a, b], 1)),
    OpCase('Concatenate', lambda a, b: sg.stack([a, b], -1), [NC, NC], name='stack dim -1',
           reference=lambda a, b: np.stack([a, b], -1)),
    OpCase('Split', lambda x: x.split(2), [(5, 2)],
           reference=lambda x: tuple(np.split(x, [2, 4]))),
    OpCase('Split', lambda x: x.split([1, 3], dim=1), [(2, 4)], name='split sizes dim 1',
           reference=lambda x: tuple(np.split(x, [1], 1))),
    OpCase('Split', lambda x: x.split([2, 1, 1], -1)[1], [NC], name='split one piece used',
           reference=lambda x: x[:, 2:3]),
    OpCase('Split', lambda x: x.chunk(3, 2), [(2, 1, 5)], name='chunk 3 of 5',
           reference=lambda x: tuple(np.split(x, [2, 4], 2))),
    # ConstantPad: (left, right) for the last dim first
    OpCase('ConstantPad', lambda x: sg.pad(x, (1, 2)), [(2, 3)],
           reference=lambda x: np.pad(x, [(0, 0), (1, 2)])),
    OpCase('ConstantPad', lambda x: sg.pad(x, (0, 1, 2, 0), value=0.5), [NC], name='pad 2 dims',
           reference=lambda x: np.pad(x, [(2, 0), (0, 1)], constant_values=0.5)),
    OpCase('ConstantPad', lambda x: sg.pad(x, (-1, 2, 1, -2)), [(3, 4)], name='pad negative crops',
           reference=lambda x: np.pad(x, [(1, 0), (0, 2)])[:-2, 1:]),
    # padding modes that select indices (gradient: scatter-add)
    OpCase('GetItem', lambda x: sg.pad(x, (2, 1), mode='reflect'), [(2, 4)], name='pad reflect',
           reference=lambda x: np.pad(x, [(0, 0), (2, 1)], mode='reflect')),
    OpCase('GetItem', lambda x: sg.pad(x, (1, 2, 2, 1), mode='replicate'), [NC],
           name='pad replicate 2d', reference=lambda x: np.pad(x, [(2, 1), (1, 2)], mode='edge')),
    OpCase('GetItem', lambda x: sg.pad(x, (0, 0, 3, 1), mode='circular'), [(2, 2, 3)],
           name='pad circular dim -2',
           reference=lambda x: np.pad(x, [(0, 0), (3, 1), (0, 0)], mode='wrap')),
    # repeat / tile / repeat_interleave: reshape + broadcast + reshape
    OpCase(('Reshape', 'BroadcastTo'), lambda x: x.repeat(2, 3), [(2, 3)], name='repeat',
           reference=lambda x: np.tile(x, (2, 3))),
    OpCase(('Reshape', 'BroadcastTo'), lambda x: x.repeat(2, 1, 2), [NC], name='repeat new dim',
           reference=lambda x: np.tile(x, (2, 1, 2))),
    OpCase(('Reshape', 'BroadcastTo'), lambda x: x.tile((2,)), [(2, 3)], name='tile short dims',
           reference=lambda x: np.tile(x, 2)),
    OpCase(('Reshape', 'BroadcastTo'), lambda x: x.repeat_interleave(2, dim=1), [(2, 3)],
           name='repeat_interleave int', reference=lambda x: np.repeat(x, 2, 1)),
    OpCase('GetItem', lambda x: x.repeat_interleave([1, 0, 3], dim=0), [(3, 2)],
           name='repeat_interleave counts', reference=lambda x: np.repeat(x, [1, 0, 3], 0)),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_shape(case, device):
    check_case(case, device)


# ----------------------------------------------------------------------------- behaviour
def test_dtypes_kept_and_views(device):
    x = sg.randn(2, 3, device=device)
    outs = [x.reshape(-1), x.T, x.flip(0), sg.cat([x, x]), x.split(1)[0], sg.pad(x, (1, 1)),
            sg.pad(x, (1, 1), mode='reflect'), x.repeat(2, 1), x.expand(4, 2, 3)]
    for y in outs:
        assert y.dtype == np.float32 and y.device == device
    i = sg.arange(6, device=device).reshape(2, 3)
    assert sg.cat([i, i], 1).dtype == np.int64 and sg.pad(i, (1, 0), value=7).numpy()[0, 0] == 7


def test_split_gradient_with_unused_pieces(device):
    x = sg.randn(5, 2, dtype=sg.float64, device=device, requires_grad=True)
    a, b, c = x.split(2)
    (c * 3.0).sum().backward()
    expected = np.zeros((5, 2))
    expected[4:] = 3.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_transpose_is_pytorch_not_numpy():
    x = sg.randn(2, 3, 4)
    assert x.transpose(0, 1).shape == (3, 2, 4)
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)
    assert sg.randn(3).T.shape == (3,)


# ----------------------------------------------------------------------------- torch cross-checks
def _both(shape, seed=0):
    torch = pytest.importorskip('torch')
    host = np.random.default_rng(seed).standard_normal(shape)
    return host, sg.tensor(host, requires_grad=True), torch.tensor(host, requires_grad=True)


@pytest.mark.parametrize('mode', ['constant', 'reflect', 'replicate', 'circular'])
@pytest.mark.parametrize('widths', [(1, 2), (2, 0, 1, 1), (0, 1, 1, 0, 1, 1)])
def test_pad_matches_torch(mode, widths):
    torch = pytest.importorskip('torch')
    import torch.nn.functional as tF
    # torch's non-constant modes want (N, C) + one dim per padded dim
    shape = {2: (2, 3, 4), 4: (2, 3, 3, 4), 6: (1, 2, 2, 3, 3)}[len(widths)]
    host, x, tx = _both(shape)
    kw = {'value': 0.25} if mode == 'constant' else {}
    y, ty = sg.pad(x, widths, mode=mode, **kw), tF.pad(tx, widths, mode=mode, **kw)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=0, atol=0)
    g = np.random.default_rng(1).standard_normal(ty.shape)
    y.backward(sg.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_negative_constant_pad_matches_torch():
    torch = pytest.importorskip('torch')
    import torch.nn.functional as tF
    host, x, tx = _both((3, 5))
    y, ty = sg.pad(x, (-1, 2, 1, -2)), tF.pad(tx, (-1, 2, 1, -2))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())


@pytest.mark.parametrize('sizes', [(2, 3), (2, 1, 2), (1, 1, 1), (3, 0)])
def test_repeat_and_tile_match_torch(sizes):
    torch = pytest.importorskip('torch')
    host, x, tx = _both((2, 3))
    np.testing.assert_array_equal(x.repeat(*sizes).numpy(), tx.repeat(*sizes).detach().numpy())
    np.testing.assert_array_equal(x.tile(sizes[-1:]).numpy(),
                                  torch.tile(tx, sizes[-1:]).detach().numpy())
    g = np.random.default_rng(2).standard_normal(tx.repeat(*sizes).shape)
    x.repeat(*sizes).backward(sg.tensor(g))
    tx.repeat(*sizes).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    counts = [2, 0, 1]
    np.testing.assert_array_equal(
        x.repeat_interleave(counts, dim=1).numpy(),
        tx.repeat_interleave(torch.tensor(counts), dim=1).detach().numpy())
    np.testing.assert_array_equal(x.repeat_interleave(2).numpy(),
                                  tx.repeat_interleave(2).detach().numpy())


@pytest.mark.parametrize('how', [2, 3, [1, 4], [0, 5, 0]])
def test_split_and_chunk_match_torch(how):
    torch = pytest.importorskip('torch')
    host, x, tx = _both((2, 5))
    ours, theirs = x.split(how, 1), tx.split(how, 1)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    if isinstance(how, int):
        ours, theirs = x.chunk(how, -1), tx.chunk(how, -1)
        assert [a.shape for a in ours] == [tuple(b.shape) for b in theirs]


@pytest.mark.parametrize('sizes', [(2, 3, 4), (-1, 4), (5, -1, 4)])
def test_expand_matches_torch(sizes):
    pytest.importorskip('torch')
    host, x, tx = _both((3, 1))
    np.testing.assert_array_equal(x.expand(*sizes).numpy(), tx.expand(*sizes).detach().numpy())


def test_flatten_squeeze_unsqueeze_match_torch():
    pytest.importorskip('torch')
    host, x, tx = _both((2, 1, 3, 1))
    for f in (lambda t: t.flatten(), lambda t: t.flatten(1, 2), lambda t: t.flatten(-2),
              lambda t: t.squeeze(), lambda t: t.squeeze(1), lambda t: t.squeeze(2),
              lambda t: t.unsqueeze(4), lambda t: t.unsqueeze(-5), lambda t: t.transpose(1, -1)):
        assert f(x).shape == tuple(f(tx).shape)


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_op_and_shapes():
    x = sg.randn(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape shape \(2, 3\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\) to \(2, 4\)"):
        x.expand(2, 4)
    with pytest.raises(ValueError, match=r"expand: size -1 is not allowed"):
        x.expand(-1, 2, 3)
    with pytest.raises(ValueError, match=r"cat: shapes must match except in dim 0, got \(2, 3\)"):
        sg.cat([x, sg.randn(2, 4)])
    with pytest.raises(TypeError, match=r"cat: tensors have different dtypes"):
        sg.cat([x, x.double()])
    with pytest.raises(ValueError, match=r"stack: expects tensors of equal shape"):
        sg.stack([x, sg.randn(3, 2)])
    with pytest.raises(ValueError, match=r"split: sizes \[1, 1\] must .* sum to 3"):
        x.split([1, 1], 1)
    with pytest.raises(IndexError, match=r"transpose: dim 2 is out of range .* shape \(2, 3\)"):
        x.transpose(0, 2)
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match=r"pad: pad \(1, 1, 1, 1, 1, 1\) must have an even"):
        sg.pad(x, (1,) * 6)
    with pytest.raises(ValueError, match=r"pad: reflect widths \(3, 0\) must be smaller than "
                                         r"the size 3 of dim 1 \(shape \(2, 3\)\)"):
        sg.pad(x, (3, 0), mode='reflect')
    with pytest.raises(ValueError, match=r"pad: unknown mode 'zeros'"):
        sg.pad(x, (1, 1), mode='zeros')
    with pytest.raises(ValueError, match=r"pad: negative widths"):
        sg.pad(x, (-1, 1), mode='replicate')
    with pytest.raises(ValueError, match=r"repeat: 1 repeat counts \(2,\) given for a tensor "
                                         r"of shape \(2, 3\)"):
        x.repeat(2)
    with pytest.raises(ValueError, match=r"flatten: start_dim 1 comes after end_dim 0"):
        x.flatten(1, 0)
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to"):
        x.broadcast_to((3, 3))
