"""DiT (scratchgen/models/diffusion/dit.py, docs/dit.md): patchify/unpatchify, adaLN-Zero
identity at init, gradchecks, padding ignored by cross-attention, a short training run."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.models import diffusion as D
from scratchgen.models.diffusion.dit import AdaLNZeroBlock, sincos_position_2d
from scratchgen.models.gpt import GPTConfig


def wake_up(net, rng, std=0.3):
    """Give every zero-initialised adaLN and output weight random values, so the gates
    are open and every path of the network matters (at init they are exactly zero)."""
    for name, p in net.named_parameters():
        if '.ada.' in name or name.startswith('ada.') or 'final.linear' in name:
            p.data[...] = rng.standard_normal(p.shape).astype(p.dtype) * std
    return net


def tiny_dit(dtype=sg.float64, **kw):
    sg.manual_seed(0)
    args = dict(patch=2, width=8, depth=1, heads=2, context_dim=6, time_dim=4)
    args.update(kw)
    net = D.DiT(2, 4, **args)
    return net.double() if dtype == sg.float64 else net


def text_cond(rng, B=2, L=4, Dm=6, pad_last=(1, 0), dtype=np.float64):
    pad = np.zeros((B, L), dtype=bool)
    for b, n in enumerate(pad_last):
        if n:
            pad[b, -n:] = True
    return D.TextCondition(sg.tensor(rng.standard_normal((B, L, Dm)).astype(dtype)),
                           sg.tensor(pad), sg.tensor(rng.standard_normal((B, Dm)).astype(dtype)))


# ----------------------------------------------------------------------------- patches
def test_patchify_round_trip_and_layout():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 4))
    tok = D.patchify(sg.tensor(x), 2)
    assert tok.shape == (2, 6, 12)                     # (6/2)(4/2) patches of 2*2*3 numbers
    # token 3 = grid row 1, column 1: pixels rows 2..3, columns 2..3, as (row, col, channel)
    np.testing.assert_array_equal(tok.numpy()[1, 3], x[1, :, 2:4, 2:4].transpose(1, 2, 0).ravel())
    np.testing.assert_array_equal(D.unpatchify(tok, 2, 3, (6, 4)).numpy(), x)
    t = rng.standard_normal((2, 6, 12))
    np.testing.assert_array_equal(D.patchify(D.unpatchify(sg.tensor(t), 2, 3, (6, 4)), 2).numpy(), t)
    assert D.patchify(sg.tensor(x.astype(np.float32)), 1).dtype == sg.float32


def test_patch_shape_errors():
    with pytest.raises(ValueError, match=r"patchify: expected x of shape \(B, C, H, W\) with H "
                                         r"and W divisible by patch 2, got \(2, 3, 7, 8\)"):
        D.patchify(sg.randn(2, 3, 7, 8), 2)
    with pytest.raises(ValueError, match=r"unpatchify: expected tokens of shape \(B, 16, 12\) for 3 "
                                           r"channels, size \(8, 8\) and patch 2, got \(2, 16, 8\)"):
        D.unpatchify(sg.randn(2, 16, 8), 2, 3, 8)
    with pytest.raises(ValueError, match=r"unpatchify: size \(8, 7\) is not divisible by patch 2"):
        D.unpatchify(sg.randn(2, 16, 12), 2, 3, (8, 7))
    with pytest.raises(ValueError, match="DiT: input_size \\(6, 6\\) must be divisible by patch 4"):
        D.DiT(1, 6, patch=4)
    net = tiny_dit(dtype=sg.float32)
    with pytest.raises(ValueError, match=r"DiT: expected x of shape \(B, 2, 4, 4\), got \(2, 1, 4, 4\)"):
        net(sg.randn(2, 1, 4, 4), sg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"DiT: expected times t of shape \(2,\)"):
        net(sg.randn(2, 2, 4, 4), sg.tensor([1.0]))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"DiT: cond.pooled must have shape \(3, 6\)"):
        net(sg.randn(3, 2, 4, 4), sg.tensor([1.0, 2.0, 3.0]), text_cond(rng, dtype=np.float32))
    with pytest.raises(ValueError, match="DiT: a prompt is all padding"):
        net(sg.randn(2, 2, 4, 4), sg.tensor([1.0, 2.0]), text_cond(rng, pad_last=(4, 0),
                                                                   dtype=np.float32))
    plain = D.DiT(2, 4, width=8, depth=1, heads=2)
    with pytest.raises(ValueError, match="DiT: got a TextCondition but the network was built "
                                         "without context_dim"):
        plain(sg.randn(2, 2, 4, 4), sg.tensor([1.0, 2.0]), text_cond(rng, dtype=np.float32))


def test_sincos_position_table():
    pe = sincos_position_2d(8, (2, 3)).numpy()          # 6 patches, row-major
    assert pe.shape == (6, 8) and pe.dtype == np.float32
    # the first half depends only on the row, the second only on the column
    np.testing.assert_allclose(pe[0, :4], pe[2, :4])
    np.testing.assert_allclose(pe[0, 4:], pe[3, 4:])
    assert np.abs(pe[0, :4] - pe[3, :4]).max() > 0.1 and np.abs(pe[0, 4:] - pe[1, 4:]).max() > 0.1
    np.testing.assert_allclose(pe[0], [0, 0, 1, 1, 0, 0, 1, 1], atol=1e-7)   # [sin, cos] at 0
    with pytest.raises(ValueError, match="sincos_position_2d: dim must be divisible by 4"):
        sincos_position_2d(6, 2)


# ----------------------------------------------------------------------------- adaLN-Zero
def test_adaln_zero_block_is_the_identity_at_init():
    """Every gate is zero at init, so the block returns its input exactly, even with the
    attention and MLP weights nonzero; opening one gate breaks the identity."""
    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    blk = AdaLNZeroBlock(GPTConfig(vocab_size=1, block_size=5, n_layer=1, n_head=2, n_embd=8),
                         context_dim=6).double()
    x = rng.standard_normal((2, 5, 8))
    c = sg.tensor(rng.standard_normal((2, 8)))
    cond = text_cond(rng)
    out = blk(sg.tensor(x), c, cond.tokens, cond.padding).numpy()
    np.testing.assert_array_equal(out, x)
    blk.ada.bias.data[8 * 8:9 * 8] = 0.5                  # the cross-attention gate α_x
    assert np.abs(blk(sg.tensor(x), c, cond.tokens, cond.padding).numpy() - x).max() > 1e-3


@pytest.mark.parametrize('pos_embed', ['sincos', 'learned'])
def test_dit_outputs_zeros_at_init_and_keeps_dtype(pos_embed):
    rng = np.random.default_rng(0)
    net = tiny_dit(dtype=sg.float32, pos_embed=pos_embed, num_classes=3, depth=2)
    x = sg.randn(2, 2, 4, 4)
    t = sg.tensor([3.0, 700.0])
    for cond in (None, sg.tensor([0, 2]), text_cond(rng, dtype=np.float32)):
        out = net(x, t, cond)
        assert out.shape == x.shape and out.dtype == sg.float32
        assert not out.numpy().any()
    wake_up(net, rng)
    a, b = net(x, t, sg.tensor([0, 2])).numpy(), net(x, t, sg.tensor([1, 2])).numpy()
    assert np.abs(a[0] - b[0]).max() > 1e-4 and np.allclose(a[1], b[1])   # labels matter


# ----------------------------------------------------------------------------- gradients
def test_dit_gradcheck():
    """float64, random upstream gradients, with the gates opened (random adaLN weights):
    w.r.t. the input, the time, the text tokens and pooled vector, and weights of the
    patch embedding, the adaLN map, self- and cross-attention and the output layer."""
    rng = np.random.default_rng(1)
    net = wake_up(tiny_dit(), rng)
    cond = text_cond(rng)
    x = sg.tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True)
    t = sg.tensor([5.0, 40.0], dtype=sg.float64, requires_grad=True)
    tokens = sg.tensor(cond.tokens.numpy(), requires_grad=True)
    pooled = sg.tensor(cond.pooled.numpy(), requires_grad=True)
    blk = net.blocks[0]
    weights = [net.patch_embed.weight, blk.ada.weight, blk.attn.c_attn.weight,
               blk.cross.k_proj_weight, net.final.linear.weight]

    def fn(x, t, tokens, pooled, *ws):
        return net(x, t, D.TextCondition(tokens, cond.padding, pooled))
    assert gradcheck(fn, [x, t, tokens, pooled] + weights, rtol=1e-4, full_jacobian_max=64,
                     name='DiT')


def test_dit_class_conditional_gradcheck_learned_positions():
    rng = np.random.default_rng(2)
    net = wake_up(tiny_dit(context_dim=None, num_classes=3, pos_embed='learned'), rng)
    x = sg.tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True)
    t = sg.tensor([5.0, 40.0], dtype=sg.float64)
    y = sg.tensor([0, 2])
    assert gradcheck(lambda x, a, b: net(x, t, y), [x, net.learned_pos.weight,
                                                    net.blocks[0].mlp.c_fc.weight],
                     rtol=1e-4, full_jacobian_max=64, name='DiT (labels)')


# ----------------------------------------------------------------------------- padding
def test_padded_context_tokens_do_not_change_the_output():
    rng = np.random.default_rng(3)
    net = wake_up(tiny_dit(), rng)
    cond = text_cond(rng, pad_last=(2, 1))
    x, t = sg.tensor(rng.standard_normal((2, 2, 4, 4))), sg.tensor([5.0, 40.0], dtype=sg.float64)
    ref = net(x, t, cond).numpy()
    tok = cond.tokens.numpy().copy()
    tok[0, -2:] += 5 * rng.standard_normal((2, 6))      # only padded positions change
    tok[1, -1:] += 5 * rng.standard_normal((1, 6))
    out = net(x, t, D.TextCondition(sg.tensor(tok), cond.padding, cond.pooled)).numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    tok[1, 0] += 1.0                                    # a real token: the output moves
    out = net(x, t, D.TextCondition(sg.tensor(tok), cond.padding, cond.pooled)).numpy()
    assert np.abs(out[1] - ref[1]).max() > 1e-4 and np.allclose(out[0], ref[0], atol=1e-12)


# ----------------------------------------------------------------------------- training
def test_short_training_lowers_the_loss():
    """150 Adam steps of ε-prediction (diffusion_loss) on four fixed 1x8x8 patterns with
    a DiT (patch 2, width 32, depth 2), class-conditional: the loss starts at ~1 (the
    network outputs 0 and ε has unit variance) and the mean of the last 30 falls below 0.15."""
    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    patterns = np.zeros((4, 1, 8, 8), np.float32) - 1.0
    patterns[0, :, :4] = patterns[1, :, :, :4] = 1.0            # top half, left half
    patterns[2, :, 2:6, 2:6] = 1.0                              # a centred square
    patterns[3, :, ::2] = 1.0                                   # stripes
    net = D.DiT(1, 8, patch=2, width=32, depth=2, heads=4, num_classes=4)
    schedule = D.Schedule('cosine', 100)
    opt = sg.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(150):
        y = rng.integers(0, 4, 32)
        loss = D.diffusion_loss(net, schedule, sg.tensor(patterns[y]), 'eps', sg.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[:5]) > 0.8 and np.mean(losses[-30:]) < 0.15, \
        (np.mean(losses[:5]), np.mean(losses[-30:]))


def test_diffusion_config_builds_a_dit():
    """DiffusionConfig(arch='dit'): Diffusion's loss (with label dropout) and sampler run
    through the DiT; hidden is its width."""
    sg.manual_seed(0)
    m = D.Diffusion(D.DiffusionConfig(data_shape=(1, 8, 4), arch='dit', patch=2, hidden=16,
                                      depth=1, heads=2, time_dim=8, num_classes=2, T=20))
    assert isinstance(m.net, D.DiT) and m.net.num_tokens == 8
    loss = m.loss(sg.randn(3, 1, 8, 4), sg.tensor([0, 1, 1]))
    assert loss.shape == () and abs(loss.item() - 1.0) < 1.0      # zero output at init: ~E ε²
    x = m.sample(2, steps=3, y=sg.tensor([0, 1]), w=2.0)
    assert x.shape == (2, 1, 8, 4) and np.isfinite(x.numpy()).all()
    with pytest.raises(ValueError, match="DiffusionConfig: arch 'dit' does not fit"):
        D.DiffusionConfig(data_shape=(4,), arch='dit')


def test_zero_init_wakes_up_from_the_output():
    """With adaLN-Zero and a zero output layer the first gradient reaches only the output
    layer; after one step the gates and the patch embedding (through the identity blocks)
    get gradients; after two steps every parameter does (docs/dit.md)."""
    sg.manual_seed(0)
    net = D.DiT(1, 4, patch=2, width=8, depth=2, heads=2, num_classes=2)
    opt = sg.optim.Adam(net.parameters(), lr=1e-2)
    schedule = D.Schedule('cosine', 100)
    x0, y = sg.randn(8, 1, 4, 4), sg.tensor(np.arange(8) % 2)
    seen = []
    for _ in range(3):
        loss = D.diffusion_loss(net, schedule, x0, 'eps', y)
        opt.zero_grad()
        loss.backward()
        seen.append({n for n, p in net.named_parameters()
                     if p.grad is not None and np.abs(p.grad.numpy()).max() > 0})
        opt.step()
    assert seen[0] == {'final.linear.weight', 'final.linear.bias'}
    assert seen[1] == seen[0] | {'final.ada.weight', 'final.ada.bias', 'patch_embed.weight',
                                 'patch_embed.bias'} | {f"blocks.{i}.ada.{k}" for i in range(2)
                                                        for k in ('weight', 'bias')}
    assert seen[2] == {n for n, _ in net.named_parameters()}


def test_dit_runs_on_every_device(device):
    """The same numbers on every device (no host leaks; 'emu' refuses what CuPy refuses)."""
    rng = np.random.default_rng(4)
    net = wake_up(tiny_dit(), rng)
    cond = text_cond(rng)
    x, t = rng.standard_normal((2, 2, 4, 4)), np.array([5.0, 40.0])
    ref = net(sg.tensor(x), sg.tensor(t), cond).numpy()
    net.to(device)
    moved = D.TextCondition(*(sg.tensor(a.numpy(), device=device) for a in cond))
    out = net(sg.tensor(x, device=device), sg.tensor(t, device=device), moved)
    assert out.device == device
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_cross_attention_weights_for_word_maps():
    """keep_weights stores each block's cross-attention weights (B, N, L): rows sum to 1
    and padded tokens get weight 0; off by default."""
    rng = np.random.default_rng(5)
    net = wake_up(tiny_dit(depth=2), rng)
    cond = text_cond(rng, pad_last=(1, 0))
    x, t = sg.tensor(rng.standard_normal((2, 2, 4, 4))), sg.tensor([5.0, 40.0], dtype=sg.float64)
    blocks = net.cross_attention_blocks()
    assert len(blocks) == 2
    net(x, t, cond)
    assert all(b.weights is None for b in blocks)
    for b in blocks:
        b.keep_weights = True
    net(x, t, cond)
    for b in blocks:
        w = b.weights.numpy()
        assert w.shape == (2, 4, 4)                       # (B, N tokens, L words)
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
        assert not w[0, :, -1].any() and (w[1] > 0).all()
