"""The fused attention op (ops/attention.py): OpCases to second order (outputs out and
weights, float masks with gradients, bool masks, the causal triangle, rows that see no
key), its two backward paths against each other, and PyTorch's SDPA."""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn.functional as nnF
from scratchgen.ops import attention as att
from helpers import OpCase, Spec, check_case


def np_attention(q, k, v, mask=None, scale=None, causal_offset=None):
    """Direct NumPy: softmax over keys, a row of -inf scores giving zero weights."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ np.swapaxes(k, -1, -2)) * scale
    if mask is not None:
        s = s + mask
    if causal_offset is not None:
        L, S = s.shape[-2:]
        s = s + np.where(np.arange(S)[None, :] <= np.arange(L)[:, None] + causal_offset,
                         0.0, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    empty = np.isneginf(top)
    e = np.exp(s - np.where(empty, 0.0, top))
    p = e / np.where(empty, 1.0, e.sum(axis=-1, keepdims=True))
    return p @ v, p


# key padding: batch 0 hides keys 2 and 3, batch 1 none (-inf entries, a constant)
PAD = np.zeros((2, 1, 1, 4))
PAD[0, ..., 2:] = -np.inf
# query 1 sees no key at all, query 2 only two
EMPTY_ROW = np.zeros((3, 4))
EMPTY_ROW[1] = -np.inf
EMPTY_ROW[2, :2] = -np.inf

CASES = [
    OpCase('Attention', lambda q, k, v: att.attention(q, k, v),
           [(2, 2, 3), (2, 3, 3), (2, 3, 2)], name='Attention out and weights',
           reference=lambda q, k, v: np_attention(q, k, v)),
    OpCase('Attention', lambda q, k, v: att.attention(q, k, v)[0],
           [(2, 1, 2, 3), Spec((2, 1, 3, 3), noncontig=True), Spec((2, 1, 3, 2), noncontig=True)],
           name='Attention out only, non-contiguous k and v',
           reference=lambda q, k, v: np_attention(q, k, v)[0]),
    OpCase('Attention', lambda q, k, v, m: att.attention(q, k, v, m, scale=0.7),
           [(2, 2, 3), (2, 3, 3), (2, 3, 2), (1, 3)], name='Attention float mask with a gradient',
           reference=lambda q, k, v, m: np_attention(q, k, v, m, scale=0.7)),
    OpCase('Attention', lambda q, k, v, m: att.attention(q, k, v, m)[0],
           [(2, 1, 2, 3), (2, 1, 4, 3), (2, 1, 4, 2), Spec(values=PAD, grad=False)],
           name='Attention key padding (-inf entries)',
           reference=lambda q, k, v, m: np_attention(q, k, v, m)[0]),
    OpCase('Attention', lambda q, k, v, m: att.attention(q, k, v, m),
           [(1, 3, 3), (1, 4, 3), (1, 4, 2), Spec(values=EMPTY_ROW, grad=False)],
           name='Attention a row that sees no key',
           reference=lambda q, k, v, m: np_attention(q, k, v, m)),
    OpCase('Attention', lambda q, k, v: att.attention(q, k, v, causal_offset=0),
           [(1, 3, 3), (1, 3, 3), (1, 3, 2)], name='Attention causal',
           reference=lambda q, k, v: np_attention(q, k, v, causal_offset=0)),
    OpCase('Attention', lambda q, k, v, m: att.attention(q, k, v, m, causal_offset=2)[0],
           [(2, 2, 3), (2, 4, 3), (2, 4, 2), (2, 1, 4)], name='Attention causal with a cache and a mask',
           reference=lambda q, k, v, m: np_attention(q, k, v, m, causal_offset=2)[0]),
    # the causal loop in blocks of 1 and 2 queries (BLOCK_ROWS on small inputs), with
    # a mask and with queries that see no key (offset -1: query 0 sees nothing)
    OpCase('Attention', lambda q, k, v, m: att.attention(q, k, v, m, causal_offset=1, block_rows=2),
           [(2, 3, 2), (2, 4, 2), (2, 4, 2), (1, 4)], name='Attention causal blocks of 2',
           reference=lambda q, k, v, m: np_attention(q, k, v, m, causal_offset=1)),
    OpCase('Attention', lambda q, k, v: att.attention(q, k, v, causal_offset=-1, block_rows=1),
           [(1, 3, 2), (1, 3, 2), (1, 3, 2)], name='Attention causal blocks of 1, an empty row',
           reference=lambda q, k, v: np_attention(q, k, v, causal_offset=-1)),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_op(case, device):
    check_case(case, device)


def _grads(fn, inputs, create_graph):
    """First-order gradients of sum(out * g1) + sum(P * g2) for random g1, g2."""
    rng = np.random.default_rng(3)
    out, p = fn(*inputs)
    g1, g2 = (sg.tensor(rng.standard_normal(t.shape)) for t in (out, p))
    loss = (out * g1).sum() + (p * g2).sum()
    return [g.numpy() for g in sg.grad(loss, [t for t in inputs if t.requires_grad],
                                       create_graph=create_graph)]


@pytest.mark.parametrize('offset, rows', [(None, None), (0, None), (2, None), (0, 2), (-1, 1)])
def test_both_backward_paths_agree(offset, rows):
    """Plain backward runs on arrays, create_graph=True on ops: the same gradient."""
    rng = np.random.default_rng(0)
    q, k, v, m = (sg.tensor(rng.standard_normal(s), requires_grad=True)
                  for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)])
    m.data[0, 4] = -np.inf
    fn = lambda *xs: att.attention(*xs, causal_offset=offset, block_rows=rows)   # noqa: E731
    fast, ops = _grads(fn, [q, k, v, m], False), _grads(fn, [q, k, v, m], True)
    for a, b in zip(fast, ops):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_sdpa_and_gpt_attention_use_the_op():
    from helpers import record_ops
    q = sg.randn(2, 2, 4, 8, requires_grad=True)
    with record_ops() as rec:
        nnF.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
    assert 'Attention' in rec.seen and 'Softmax' not in rec.seen
    cfg = sg.models.GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = sg.models.GPT(cfg)
    with record_ops() as rec:
        model(sg.tensor(np.zeros((2, 8), dtype=np.int64)))
    assert 'Attention' in rec.seen and 'Softmax' not in rec.seen


@pytest.mark.parametrize('is_causal', [False, True])
def test_matches_torch_sdpa_with_a_fully_masked_row(is_causal):
    """Values and gradients of q, k, v against PyTorch's SDPA, float64, including a
    query that sees no key (zero output and gradients in both)."""
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(1)
    hosts = [rng.standard_normal(s) for s in [(2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5), (2, 2, 4, 5)]]
    keep = np.ones((4, 4), dtype=bool)
    if not is_causal:
        keep[2] = False                      # query 2 sees nothing
    xs = [sg.tensor(h, requires_grad=True) for h in hosts[:3]]
    mask = None if is_causal else sg.tensor(keep)
    out = nnF.scaled_dot_product_attention(*xs, attn_mask=mask, is_causal=is_causal)
    out.backward(sg.tensor(hosts[3]))
    ts = [torch.tensor(h, requires_grad=True) for h in hosts[:3]]
    out_t = torch.nn.functional.scaled_dot_product_attention(
        *ts, attn_mask=None if is_causal else torch.tensor(keep), is_causal=is_causal)
    out_t.backward(torch.tensor(hosts[3]))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    if not is_causal:
        assert np.all(out.numpy()[:, :, 2] == 0) and np.all(xs[0].grad.numpy()[:, :, 2] == 0)
