"""Indexing ops: forward against NumPy, first and second derivatives, every device
(repeated indices, masks, negative steps, non-contiguous inputs); PyTorch cross-checks
for mixed keys, gather, index_select, embedding; error messages."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.ops.index import GetItemGrad
from helpers import OpCase, Spec, check_case

NC = Spec((3, 4), noncontig=True)
MASK = [[True, False, True, True], [False, False, True, False], [True, True, False, False]]


def _dev(x, host):
    """Host data as an index tensor on x's device (explicit move)."""
    return sg.tensor(np.array(host), device=x.device)


def _scatter(key, shape):
    """GetItemGrad on its own, with a key built on the gradient's device."""
    def fn(g):
        dev_key = tuple(g.xp.asarray(k) if isinstance(k, list) else k for k in key)
        return GetItemGrad(dev_key, any(isinstance(k, list) for k in key), shape)(g)
    return fn


def _np_scatter(key, shape):
    def ref(g):
        out = np.zeros(shape)
        np.add.at(out, tuple(np.array(k) if isinstance(k, list) else k for k in key), g)
        return out
    return ref


CASES = [
    # basic indexing: a view, gradient by assignment into zeros
    OpCase('GetItem', lambda x: x[1], [(3, 4)], reference=lambda x: x[1]),
    OpCase('GetItem', lambda x: x[-1, 1:3], [NC], name='int+slice noncontig',
           reference=lambda x: x[-1, 1:3]),
    OpCase('GetItem', lambda x: x[::-2, 1::2], [(5, 4)], name='negative step',
           reference=lambda x: x[::-2, 1::2]),
    OpCase('GetItem', lambda x: x[None, ..., 1, None], [(2, 3, 4)], name='None and Ellipsis',
           reference=lambda x: x[None, ..., 1, None]),
    OpCase('GetItem', lambda x: x[1, 2], [(3, 4)], name='scalar element',
           reference=lambda x: x[1, 2]),
    # integer arrays (repeats accumulate), masks, mixtures
    OpCase('GetItem', lambda x: x[[0, 2, 2, 0, 2]], [(3, 2)], name='repeated rows (list)',
           reference=lambda x: x[[0, 2, 2, 0, 2]]),
    OpCase('GetItem', lambda x: x[:, _dev(x, [[3, 3], [-1, 0]])], [NC],
           name='2-d int tensor on dim 1 with repeats and -1',
           reference=lambda x: x[:, [[3, 3], [-1, 0]]]),
    OpCase('GetItem', lambda x: x[_dev(x, MASK)], [(3, 4)], name='bool mask',
           reference=lambda x: x[np.array(MASK)]),
    OpCase('GetItem', lambda x: x[:, _dev(x, [True, False, True])], [(2, 3, 2)],
           name='bool mask on dim 1', reference=lambda x: x[:, [True, False, True]]),
    OpCase('GetItem', lambda x: x[[1, 1, 0], ::-1, [2, 2, 0]], [(2, 3, 4)],
           name='arrays separated by a negative-step slice',
           reference=lambda x: x[[1, 1, 0], ::-1, [2, 2, 0]]),
    OpCase('GetItem', lambda x: x[0, :, [1, 1, 3]], [(2, 3, 4)],
           name='int, slice, array (torch order)',
           reference=lambda x: x[0][:, [1, 1, 3]]),
    # the adjoint on its own: scatter-add with repeats, and assignment for basic keys
    OpCase('GetItemGrad', _scatter(([0, 2, 2, 1],), (3, 2)), [(4, 2)],
           reference=_np_scatter(([0, 2, 2, 1],), (3, 2))),
    OpCase('GetItemGrad', _scatter((slice(None, None, -2), 1), (5, 3)), [(3,)],
           name='GetItemGrad basic', reference=_np_scatter((slice(None, None, -2), 1), (5, 3))),
    OpCase('GetItemGrad', _scatter((slice(None), [1, 1], None), (2, 3)), [Spec((2, 2, 1))],
           name='GetItemGrad slice+array+None',
           reference=_np_scatter((slice(None), [1, 1], None), (2, 3))),
    # gather / index_select / embedding are GetItem with a built key
    OpCase('GetItem', lambda x: sg.gather(x, 0, _dev(x, [[2, 0, 2, 2], [1, 1, 0, 2]])), [(3, 4)],
           name='gather dim 0',
           reference=lambda x: np.take_along_axis(x, np.array([[2, 0, 2, 2], [1, 1, 0, 2]]), 0)),
    OpCase('GetItem', lambda x: x.gather(1, _dev(x, [[3, 3], [0, 1], [2, 2]])), [NC],
           name='gather dim 1 noncontig',
           reference=lambda x: np.take_along_axis(x, np.array([[3, 3], [0, 1], [2, 2]]), 1)),
    OpCase('GetItem', lambda x: x.gather(-1, _dev(x, [[[1, 1, 0]], [[0, 0, 0]]])), [(2, 3, 2)],
           name='gather dim -1 smaller index',
           reference=lambda x: np.take_along_axis(x[:, :1], np.array([[[1, 1, 0]], [[0, 0, 0]]]),
                                                  -1)),
    OpCase('GetItem', lambda x: x.index_select(0, [2, 2, 0]), [(3, 2)], name='index_select dim 0',
           reference=lambda x: x[[2, 2, 0]]),
    OpCase('GetItem', lambda x: x.index_select(1, _dev(x, [1, 1])), [(2, 3, 2)],
           name='index_select dim 1', reference=lambda x: x[:, [1, 1]]),
    OpCase('GetItem', lambda x: sg.index_select(x, 2, [1, 0, 1]), [(2, 2, 2)],
           name='index_select dim 2', reference=lambda x: x[:, :, [1, 0, 1]]),
    OpCase('GetItem', lambda w: sg.embedding(_dev(w, [[1, 3, 1], [0, 1, 1]]), w), [(4, 2)],
           name='embedding repeated ids', reference=lambda w: w[[[1, 3, 1], [0, 1, 1]]]),
    # masked_fill
    OpCase('MaskedFill', lambda x, m: x.masked_fill(m, -1.5),
           [(3, 4), Spec(values=MASK, dtype=bool)],
           reference=lambda x, m: np.where(m, -1.5, x)),
    OpCase('MaskedFill', lambda x, m: sg.masked_fill(x, m, 0.0),
           [NC, Spec(values=[[False, True, True, False]], dtype=bool)],
           name='MaskedFill broadcast mask',
           reference=lambda x, m: np.where(m, 0.0, x)),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_index(case, device):
    check_case(case, device)


# ----------------------------------------------------------------------------- behaviour
def test_repeated_indices_accumulate(device):
    w = sg.zeros(4, 2, dtype=sg.float64, device=device, requires_grad=True)
    ids = [1, 3, 1, 1]
    sg.embedding(sg.tensor(ids, device=device), w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0, 3, 0, 1])
    x = sg.zeros(3, dtype=sg.float64, device=device, requires_grad=True)
    x[[2, 2, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 3])


def test_embedding_padding_row_gets_no_gradient(device):
    """padding_idx cuts its row from the graph on purpose (numeric gradcheck would disagree)."""
    w = sg.tensor(np.arange(6.0).reshape(3, 2), dtype=sg.float32, device=device, requires_grad=True)
    out = sg.embedding(sg.tensor([2, 0, 2, 1], device=device), w, padding_idx=2)
    np.testing.assert_array_equal(out.numpy(), np.arange(6.0).reshape(3, 2)[[2, 0, 2, 1]])
    (out * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2], [2, 2], [0, 0]])
    assert w.grad.dtype == np.float32 and w.grad.device == device


def test_host_index_data_is_moved_to_the_device(device):
    x = sg.arange(12, device=device).reshape(3, 4)
    host = np.array([2, 0])
    for idx in ([2, 0], host, sg.tensor(host)):     # lists, host arrays, cpu tensors
        out = x[idx]
        assert out.device == device
        np.testing.assert_array_equal(out.numpy(), np.arange(12).reshape(3, 4)[[2, 0]])
    assert x.index_select(1, host).device == device
    assert x[np.array([True, False, True])].shape == (2, 4)
    assert x[[]].shape == (0, 4)


def test_dtypes_and_iteration(device):
    x = sg.randn(3, 4, device=device)
    assert x[0].dtype == np.float32 and x[[0, 0]].dtype == np.float32
    assert x.masked_fill(x > 0, 1).dtype == np.float32
    assert sg.arange(4, device=device)[[1, 2]].dtype == np.int64
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (4,) for r in rows)
    np.testing.assert_array_equal(rows[2].numpy(), x.numpy()[2])


def test_double_backward_through_scatter(device):
    """d/dx of sum(v * grad(sum(x[idx]**2))) with repeats: second derivative in closed form."""
    x = sg.tensor([1.0, 2.0, 3.0], dtype=sg.float64, device=device, requires_grad=True)
    idx = [0, 2, 2]
    (g,) = sg.grad((x[idx] ** 2).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [2.0, 0.0, 12.0])
    (g * sg.tensor([1.0, 1.0, 1.0], dtype=sg.float64, device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 4.0])


# ----------------------------------------------------------------------------- torch cross-checks
def _pair(shape, seed=0):
    torch = pytest.importorskip('torch')
    host = np.random.default_rng(seed).standard_normal(shape)
    return sg.tensor(host, requires_grad=True), torch.tensor(host, requires_grad=True)


def _compare_with_torch(ours, theirs, x, tx, seed=1):
    torch = pytest.importorskip('torch')
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    g = np.random.default_rng(seed).standard_normal(ours.shape)
    ours.backward(sg.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


MIXED_KEYS = [
    (0, slice(None), [1, 1, 3]),
    ([0, 1, 1], slice(None), [1, 1, 3]),
    (slice(None), 1, [2, 0, 2]),
    (1, [2, 0, 2], [1, 1, 3]),
    (Ellipsis, None, [3, 0]),
    ([[0, 1], [1, 1]], slice(1, None), 0),
    (slice(None), np.array([True, False, True])),
    (None, 1, slice(None), [3, 3, 0], None),
    (1, np.array(MASK)),
    (np.array([True, False]), slice(None, 2), [0, 3]),
    (np.array(0), slice(None), [1, 1]),
]


@pytest.mark.parametrize('key', MIXED_KEYS, ids=repr)
def test_getitem_matches_torch(key):
    torch = pytest.importorskip('torch')
    x, tx = _pair((2, 3, 4))
    tkey = tuple(torch.tensor(k) if isinstance(k, (list, np.ndarray)) else k for k in key)
    _compare_with_torch(x[key], tx[tkey], x, tx)


@pytest.mark.parametrize('dim', [0, 1, -1])
def test_gather_and_index_select_match_torch(dim):
    torch = pytest.importorskip('torch')
    x, tx = _pair((3, 4, 2))
    rng = np.random.default_rng(dim + 5)
    size = list(x.shape)
    size[dim] = 5
    size = [s if i == dim % 3 else max(s - 1, 1) for i, s in enumerate(size)]
    idx = rng.integers(0, x.shape[dim], size)
    _compare_with_torch(sg.gather(x, dim, sg.tensor(idx)), torch.gather(tx, dim, torch.tensor(idx)),
                        x, tx)
    x, tx = _pair((3, 4, 2))
    sel = rng.integers(0, x.shape[dim], 6)
    _compare_with_torch(x.index_select(dim, sel), tx.index_select(dim, torch.tensor(sel)), x, tx)


def test_embedding_and_masked_fill_match_torch():
    torch = pytest.importorskip('torch')
    import torch.nn.functional as tF
    w, tw = _pair((5, 3))
    ids = np.array([[0, 2, 2], [4, 2, 0]])
    _compare_with_torch(sg.embedding(sg.tensor(ids), w, padding_idx=-3),
                        tF.embedding(torch.tensor(ids), tw, padding_idx=-3), w, tw)
    x, tx = _pair((3, 4))
    m = np.array(MASK)[:, :1]
    _compare_with_torch(x.masked_fill(sg.tensor(m), 2.0), tx.masked_fill(torch.tensor(m), 2.0),
                        x, tx)


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_shapes():
    x = sg.randn(3, 4)
    with pytest.raises(IndexError, match=r"getitem: index 3 is out of range for dim 0 of size 3 "
                                         r"\(tensor shape \(3, 4\)\)"):
        x[3]
    with pytest.raises(IndexError, match=r"getitem: index -5 is out of range for dim 1 of size 4"):
        x[:, [0, -5]]
    with pytest.raises(IndexError, match=r"getitem: too many indices for a tensor of shape "
                                         r"\(3, 4\)"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match=r"getitem: bool mask of shape \(4,\) does not match "
                                         r"dims 0..0 \(3,\)"):
        x[np.array([True, False, True, True])]
    with pytest.raises(IndexError, match=r"getitem: index arrays must hold integers or bools, "
                                         r"got dtype float32"):
        x[sg.tensor([0.0])]
    with pytest.raises(IndexError, match=r"gather: index -1 is out of range for dim 1 of size 4 "
                                         r"\(tensor shape \(3, 4\); allowed \[0, 4\)\)"):
        x.gather(1, sg.tensor([[0, -1]]))
    with pytest.raises(ValueError, match=r"gather: index of shape \(4, 1\) does not fit input of "
                                         r"shape \(3, 4\)"):
        x.gather(1, sg.tensor([[0]] * 4))
    with pytest.raises(IndexError, match=r"index_select: index 4 is out of range for dim 1"):
        x.index_select(1, [4])
    with pytest.raises(IndexError, match=r"embedding: index 3 is out of range for dim 0 of size 3 "
                                         r"\(tensor shape \(3, 4\)"):
        sg.embedding(sg.tensor([0, 3]), x)
    with pytest.raises(ValueError, match=r"masked_fill: mask of shape \(2,\) does not broadcast "
                                         r"to the input shape \(3, 4\)"):
        x.masked_fill(sg.tensor([True, False]), 0.0)
    with pytest.raises(TypeError, match=r"masked_fill: mask must be a bool tensor, "
                                        r"got dtype int64"):
        x.masked_fill(sg.tensor([1, 0, 0, 1]), 0.0)
