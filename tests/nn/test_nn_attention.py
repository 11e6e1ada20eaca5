"""Attention: scaled_dot_product_attention and MultiheadAttention against PyTorch (outputs,
returned weights and gradients), gradient checks on every device, and the key/value
cache (incremental decoding equals the full causal forward)."""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
import scratchgen.nn.functional as F


def _t(a, device='cpu', grad=True):
    return sg.tensor(a, device=device, requires_grad=grad)


# ----------------------------------------------------------------------------- SDPA
def _sdpa_case(rng, batch, L, S, E, Ev):
    return (rng.standard_normal(batch + (L, E)), rng.standard_normal(batch + (S, E)),
            rng.standard_normal(batch + (S, Ev)))


SDPA_CASES = {
    'plain': dict(batch=(2, 3), L=4, S=4),
    'cross': dict(batch=(2,), L=3, S=5),
    'bool mask': dict(batch=(2, 2), L=3, S=4, mask='bool'),
    'float mask': dict(batch=(2,), L=3, S=4, mask='float'),
    'causal': dict(batch=(2, 2), L=4, S=4, is_causal=True),
    'causal L<S': dict(batch=(1,), L=2, S=4, is_causal=True),
    'scale': dict(batch=(2,), L=3, S=3, scale=0.3),
}


def _sdpa_inputs(case, rng):
    q, k, v = _sdpa_case(rng, case['batch'], case['L'], case['S'], 4, 3)
    mask = None
    if case.get('mask') == 'bool':       # broadcast over the batch; every row keeps a key
        mask = rng.random((case['L'], case['S'])) < 0.6
        mask[:, 0] = True
    elif case.get('mask') == 'float':
        mask = rng.standard_normal(case['batch'] + (case['L'], case['S']))
    return q, k, v, mask


@pytest.mark.parametrize('name', SDPA_CASES)
def test_sdpa_matches_torch(name):
    torch = pytest.importorskip('torch')
    case = SDPA_CASES[name]
    q, k, v, mask = _sdpa_inputs(case, np.random.default_rng(1))
    kw = dict(is_causal=case.get('is_causal', False), scale=case.get('scale'))
    ours = [_t(a) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=None if mask is None else sg.tensor(mask),
                                         **kw)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    ref = torch.nn.functional.scaled_dot_product_attention(
        *theirs, attn_mask=None if mask is None else torch.tensor(mask), **kw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(sg.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('name', ['plain', 'cross', 'bool mask', 'causal'])
def test_sdpa_gradcheck(name, device):
    case = SDPA_CASES[name]
    q, k, v, mask = _sdpa_inputs(SDPA_CASES[name] | {'batch': (1,)}, np.random.default_rng(3))
    xs = [_t(a, device) for a in (q, k, v)]
    m = None if mask is None else sg.tensor(mask, device=device)

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m,
                                              is_causal=case.get('is_causal', False))
    out = fn(*xs)
    assert out.shape == q.shape[:-1] + (3,) and out.dtype == np.float64 and out.device == device
    assert sg.gradcheck(fn, xs)
    assert sg.gradgradcheck(fn, xs)


def test_sdpa_float_mask_gets_a_gradient(device):
    rng = np.random.default_rng(4)
    q, k, v = (_t(a, device) for a in _sdpa_case(rng, (1,), 2, 3, 2, 2))
    bias = _t(rng.standard_normal((2, 3)), device)      # e.g. a learned relative-position bias
    f = lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b)  # noqa: E731
    assert sg.gradcheck(f, [q, k, v, bias])
    assert sg.gradgradcheck(f, [q, k, v, bias])


def test_sdpa_bool_mask_semantics_and_dropout():
    rng = np.random.default_rng(5)
    q, k, v = (sg.tensor(a) for a in _sdpa_case(rng, (), 2, 3, 4, 2))
    keep_first = sg.tensor(np.array([[True, False, False], [True, True, False]]))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep_first).numpy()
    np.testing.assert_allclose(out[0], v.numpy()[0])     # only key 0 is visible to query 0
    # dropout_p=1 drops every weight; dropout_p in (0, 1) is reproducible under a seed
    assert not F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy().any()
    sg.manual_seed(7)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    sg.manual_seed(7)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, F.scaled_dot_product_attention(q, k, v).numpy())


def test_sdpa_errors():
    q, k, v = sg.randn(2, 3, 4), sg.randn(2, 5, 4), sg.randn(2, 5, 6)
    with pytest.raises(ValueError, match='either attn_mask or is_causal'):
        F.scaled_dot_product_attention(q, k, v, attn_mask=sg.ones(3, 5), is_causal=True)
    with pytest.raises(ValueError, match=r'feature sizes \(4 != 3\)'):
        F.scaled_dot_product_attention(q, sg.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match=r'different lengths \(5 != 4\)'):
        F.scaled_dot_product_attention(q, k, sg.randn(2, 4, 6))
    with pytest.raises(ValueError, match=r'attn_mask of shape \(4, 5\) does not broadcast'):
        F.scaled_dot_product_attention(q, k, v, attn_mask=sg.zeros(4, 5))
    with pytest.raises(TypeError, match='bool or floating'):
        F.scaled_dot_product_attention(q, k, v, attn_mask=sg.zeros(3, 5, dtype=sg.int64))
    with pytest.raises(TypeError, match='host NumPy array'):
        F.scaled_dot_product_attention(*(t.to('emu') for t in (q, k, v)),
                                       attn_mask=np.ones((3, 5), bool))


def test_attention_makes_permuted_operands_contiguous():
    """The score matmul runs on contiguous copies (faster), and results are unchanged."""
    x = sg.randn(2, 5, 3, 4)              # (B, T, H, D) -> heads view (B, H, T, D)
    q = x.permute(0, 2, 1, 3)
    assert not q.data.flags['C_CONTIGUOUS']
    assert q.contiguous().data.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(q.contiguous().numpy(), q.numpy())
    out = F.scaled_dot_product_attention(q, q, q)
    ref = F.scaled_dot_product_attention(*(sg.tensor(q.numpy()) for _ in range(3)))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- MHA vs torch
def _pair(torch, E=8, H=2, kdim=None, vdim=None, bias=True, batch_first=True, seed=0):
    """Our MultiheadAttention with torch's weights, loaded through load_state_dict."""
    torch.manual_seed(seed)
    theirs = torch.nn.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim,
                                         batch_first=batch_first).double()
    with torch.no_grad():           # non-zero biases so that they are tested too
        for name, p in theirs.named_parameters():
            if 'bias' in name:
                p.normal_()
    ours = nn.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim,
                                 batch_first=batch_first).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _compare_mha(torch, ours, theirs, shapes, masks=None, **kw):
    """shapes: of query, key, value; or one shape for self-attention (the same tensor
    passed three times, which takes the fused-projection path)."""
    rng = np.random.default_rng(11)
    self_attention = len(shapes) == 1
    arrays = [rng.standard_normal(s) for s in shapes]
    masks = masks or {}
    ours_in = [_t(a) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    args = ours_in * 3 if self_attention else ours_in
    targs = theirs_in * 3 if self_attention else theirs_in
    out, w = ours(*args, **{k: None if m is None else sg.tensor(m) for k, m in masks.items()},
                  **kw)
    ref, ref_w = theirs(*targs, **{k: None if m is None else torch.tensor(m)
                                   for k, m in masks.items()}, **kw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    if ref_w is None:
        assert w is None
    else:
        assert w.shape == tuple(ref_w.shape)
        np.testing.assert_allclose(w.numpy(), ref_w.detach().numpy(), rtol=1e-9, atol=1e-12)
    g = rng.standard_normal(out.shape)
    loss = (out * sg.tensor(g)).sum()
    ref_loss = (ref * torch.tensor(g)).sum()
    if ref_w is not None:                 # the returned weights are differentiable too
        gw = rng.standard_normal(w.shape)
        loss = loss + (w * sg.tensor(gw)).sum()
        ref_loss = ref_loss + (ref_w * torch.tensor(gw)).sum()
    loss.backward()
    ref_loss.backward()
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-11)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-8, atol=1e-11,
                                   err_msg=name)
    return out, w


def test_mha_self_attention_matches_torch():
    torch = pytest.importorskip('torch')
    ours, theirs = _pair(torch)
    x = (2, 5, 8)
    _compare_mha(torch, ours, theirs, [x])                 # one tensor: fused projection
    _compare_mha(torch, ours, theirs, [x], average_attn_weights=False)
    _compare_mha(torch, ours, theirs, [x], need_weights=False)
    _compare_mha(torch, ours, theirs, [x, x, x])           # three tensors of the same shape


def test_mha_cross_attention_matches_torch():
    torch = pytest.importorskip('torch')
    ours, theirs = _pair(torch, kdim=3, vdim=5)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    _compare_mha(torch, ours, theirs, [(2, 4, 8), (2, 6, 3), (2, 6, 5)])
    same, same_t = _pair(torch, seed=1)           # packed weights, different lengths
    _compare_mha(torch, same, same_t, [(2, 4, 8), (2, 7, 8), (2, 7, 8)],
                 average_attn_weights=False)


def test_mha_masks_match_torch():
    torch = pytest.importorskip('torch')
    ours, theirs = _pair(torch, H=4)
    rng = np.random.default_rng(12)
    B, L, S = 2, 3, 5
    shapes = [(B, L, 8), (B, S, 8), (B, S, 8)]
    pad = np.zeros((B, S), bool)
    pad[0, 3:] = True                                    # padding at the end of sequence 0
    block = rng.random((L, S)) < 0.3
    block[:, 0] = False                                  # every query keeps one key
    block3 = rng.random((B * 4, L, S)) < 0.3
    block3[..., 1] = False
    _compare_mha(torch, ours, theirs, shapes, masks={'key_padding_mask': pad})
    _compare_mha(torch, ours, theirs, shapes, masks={'attn_mask': block})
    _compare_mha(torch, ours, theirs, shapes, masks={'attn_mask': block3,
                                                     'key_padding_mask': pad})
    _compare_mha(torch, ours, theirs, shapes,
                 masks={'attn_mask': rng.standard_normal((L, S)),
                        'key_padding_mask': rng.standard_normal((B, S))})
    causal = np.triu(np.ones((4, 4), bool), 1)
    _compare_mha(torch, ours, theirs, [(B, 4, 8)], masks={'attn_mask': causal}, is_causal=True)


def test_mha_is_causal_alone_equals_explicit_causal_mask():
    m = nn.MultiheadAttention(8, 2).double()
    x = sg.randn(2, 4, 8, dtype=sg.float64)
    a, wa = m(x, x, x, is_causal=True)
    b, wb = m(x, x, x, attn_mask=sg.tensor(np.triu(np.ones((4, 4), bool), 1)))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert not np.triu(wa.numpy()[0], 1).any()


def test_mha_sequence_first_unbatched_and_no_bias_match_torch():
    torch = pytest.importorskip('torch')
    ours, theirs = _pair(torch, batch_first=False)
    _compare_mha(torch, ours, theirs, [(5, 2, 8), (6, 2, 8), (6, 2, 8)])
    _compare_mha(torch, ours, theirs, [(5, 2, 8)])
    _compare_mha(torch, ours, theirs, [(5, 8)])
    ours, theirs = _pair(torch, bias=False, seed=2)
    assert ours.in_proj_bias is None and ours.out_proj.bias is None
    _compare_mha(torch, ours, theirs, [(3, 8), (4, 8), (4, 8)],
                 masks={'key_padding_mask': np.array([False, False, True, False])})


# ----------------------------------------------------------------------------- MHA gradchecks
@pytest.mark.parametrize('kind', ['fused', 'packed', 'cross'])
def test_mha_gradcheck(kind, device):
    """fused: self-attention on one tensor (one projection matmul, then split);
    packed: three tensors, packed in_proj_weight split in three; cross: kdim, vdim."""
    if kind == 'fused':
        m = nn.MultiheadAttention(4, 2)
        shapes = [(1, 3, 4)]
    elif kind == 'packed':
        m = nn.MultiheadAttention(4, 2)
        shapes = [(1, 3, 4)] * 3
    else:
        m = nn.MultiheadAttention(4, 2, kdim=3, vdim=2)
        shapes = [(1, 2, 4), (1, 3, 3), (1, 3, 2)]
    m.double().to(device)
    with sg.no_grad():
        nn.init.normal_(m.in_proj_bias)
        nn.init.normal_(m.out_proj.bias)
    rng = np.random.default_rng(5)
    xs = [_t(rng.standard_normal(s), device) for s in shapes]
    params = list(m.parameters())
    pad = sg.tensor(np.array([[False, False, True]]), device=device)

    def fn(*args):
        q, k, v = args[:3] if kind != 'fused' else args[:1] * 3
        return m(q, k, v, key_padding_mask=pad, is_causal=kind != 'cross')
    out, w = fn(*xs)
    assert out.device == device and out.dtype == np.float64
    assert sg.gradcheck(fn, xs + params)
    # second order: vector-Jacobian products per input and a random direction (the
    # row-by-row full Jacobian of ~100 gradient entries would take a minute)
    assert sg.gradgradcheck(fn, xs + params, full_jacobian_max=20)


# ----------------------------------------------------------------------------- cache
@pytest.mark.parametrize('chunks', [[1, 1, 1, 1, 1, 1], [3, 1, 2], [6]])
def test_kv_cache_incremental_decoding_equals_full_causal_forward(chunks, device):
    m = nn.MultiheadAttention(8, 2).double().to(device)
    x = sg.randn(2, 6, 8, dtype=sg.float64, device=device)
    full, _ = m(x, x, x, is_causal=True, need_weights=False)
    cache = nn.KVCache()
    outs, start = [], 0
    with sg.no_grad():
        for n in chunks:
            step = sg.tensor(x.numpy()[:, start:start + n], device=device)
            y, w = m(step, step, step, is_causal=True, cache=cache)
            assert w.shape == (2, n, start + n)
            outs.append(y.numpy())
            start += n
            assert len(cache) == start
    np.testing.assert_allclose(np.concatenate(outs, axis=1), full.numpy(), rtol=1e-10,
                               atol=1e-12)
    cache.reset()
    assert len(cache) == 0 and cache.key is None


def test_kv_cache_with_positional_offset():
    """A decoder step: positions continue at len(cache)."""
    pe = nn.SinusoidalPositionalEncoding(8, max_len=16).double()
    m = nn.MultiheadAttention(8, 2).double()
    x = sg.randn(1, 5, 8, dtype=sg.float64)
    h = pe(x)
    full, _ = m(h, h, h, is_causal=True)
    cache = nn.KVCache()
    outs = []
    for t in range(5):
        step = pe(sg.tensor(x.numpy()[:, t:t + 1]), offset=len(cache))
        outs.append(m(step, step, step, is_causal=True, cache=cache)[0].numpy())
    np.testing.assert_allclose(np.concatenate(outs, 1), full.numpy(), rtol=1e-10, atol=1e-12)


def test_kv_cache_rejects_mismatched_batch():
    m = nn.MultiheadAttention(4, 2)
    cache = nn.KVCache()
    x = sg.randn(2, 3, 4)
    m(x, x, x, cache=cache)
    y = sg.randn(1, 1, 4)
    with pytest.raises(ValueError, match='KVCache'):
        m(y, y, y, cache=cache)


# ----------------------------------------------------------------------------- misc MHA
def test_mha_dropout_only_in_training():
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = sg.randn(2, 4, 8)
    m.eval()
    a, wa = m(x, x, x)
    b, _ = m(x, x, x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(wa.numpy().sum(-1), 1.0, rtol=1e-5)
    m.train()
    c, wc = m(x, x, x)
    assert not np.allclose(c.numpy(), a.numpy())
    assert (wc.numpy() == 0).any()


def test_mha_default_init():
    E = 64
    m = nn.MultiheadAttention(E, 4)
    bound = np.sqrt(6.0 / (E + 3 * E))          # xavier_uniform over the (3E, E) matrix
    w = m.in_proj_weight.numpy()
    assert w.shape == (3 * E, E) and np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound and abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert not m.in_proj_bias.numpy().any() and not m.out_proj.bias.numpy().any()
    assert np.abs(m.out_proj.weight.numpy()).max() <= 1 / np.sqrt(E)


def test_mha_errors():
    with pytest.raises(ValueError, match='divisible'):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    x = sg.randn(2, 3, 8)
    with pytest.raises(ValueError, match='feature sizes'):
        m(x, sg.randn(2, 3, 4), x)
    with pytest.raises(ValueError, match='same batch'):
        m(x, sg.randn(1, 3, 8), sg.randn(1, 3, 8))
    with pytest.raises(ValueError, match=r'key_padding_mask of shape \(2, 4\)'):
        m(x, x, x, key_padding_mask=sg.zeros(2, 4, dtype=sg.bool_))
    with pytest.raises(ValueError, match=r'attn_mask of shape \(3, 4\)'):
        m(x, x, x, attn_mask=sg.zeros(3, 4, dtype=sg.bool_))
    with pytest.raises(ValueError, match='3-d'):
        m(sg.randn(8), sg.randn(8), sg.randn(8))
