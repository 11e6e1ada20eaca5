"""The tiny GPT: causality, initial loss, overfitting, key/value cache, checkpoints,
gradients (gradcheck in float64 and against PyTorch), generation and config errors."""
import dataclasses
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend
from scratchgen.autograd import gradcheck
from scratchgen.io import save, load
from scratchgen.models.gpt import GPT, GPTConfig

TINY = dict(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16)


def tiny(device='cpu', dtype=None, **changes):
    return GPT(GPTConfig(**{**TINY, **changes}), device=device, dtype=dtype)


def ids(rows, device='cpu', seed=0, vocab=TINY['vocab_size']):
    rng = np.random.default_rng(seed)
    return sg.tensor(rng.integers(0, vocab, rows), device=device)


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize('changes, message', [
    (dict(n_embd=18, n_head=4), 'n_embd (18) must be divisible by n_head (4)'),
    (dict(n_layer=0), 'n_layer must be a positive int'),
    (dict(vocab_size=2.5), 'vocab_size must be a positive int'),
    (dict(dropout=1.0), 'dropout must be a finite number >= 0 and < 1, got 1.0'),
    (dict(positional='rotary'), "positional must be one of 'learned', 'sinusoidal'"),
])
def test_bad_config_raises(changes, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')
                       .replace('[', r'\[')):
        GPTConfig(**{**TINY, **changes})


def test_sequence_longer_than_block_size_raises():
    model = tiny()
    with pytest.raises(ValueError, match=r'length 13 is longer than block_size 12'):
        model(ids((2, 13)))
    cache = model.new_cache()
    model(ids((1, 10)), kv_cache=cache)
    with pytest.raises(ValueError, match=r'length 3 after 10 cached positions is longer'):
        model(ids((1, 3)), kv_cache=cache)


def test_bad_inputs_raise():
    model = tiny()
    with pytest.raises(ValueError, match=r'idx must be a \(B, T\) integer Tensor'):
        model(sg.randn(2, 5))
    with pytest.raises(ValueError, match=r'targets must be a \(2, 5\) integer Tensor'):
        model(ids((2, 5)), ids((2, 4)))
    with pytest.raises(IndexError, match='out of range'):
        model(sg.tensor(np.full((1, 3), 11)))
    with pytest.raises(ValueError, match='temperature must be > 0'):
        model.generate(ids((1, 3)), 2, temperature=0.0)
    with pytest.raises(ValueError, match='max_new_tokens must be a non-negative int'):
        model.generate(ids((1, 3)), -1)
    with pytest.raises(TypeError, match='expected a GPTConfig'):
        GPT(TINY)


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize('positional', ['learned', 'sinusoidal'])
def test_causality(device, positional):
    """Changing token t changes no logits before position t, and does change those at t."""
    model = tiny(device, positional=positional)
    x = ids((3, 12), device)
    logits, _ = model(x)
    assert logits.shape == (3, 12, 11) and logits.dtype == sg.float32 and logits.device == device
    for t in (0, 5, 11):
        changed = x.numpy()
        changed[:, t] = (changed[:, t] + 1) % 11
        logits2, _ = model(sg.tensor(changed, device=device))
        a, b = logits.numpy(), logits2.numpy()
        np.testing.assert_array_equal(a[:, :t], b[:, :t])
        assert np.abs(a[:, t:] - b[:, t:]).max(axis=-1).min() > 1e-6


def test_loss_at_init_is_log_vocab(device):
    """Small initial weights give near-uniform predictions: loss ~ ln(vocab)."""
    model = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=32),
                device=device)
    x = ids((8, 32), device, vocab=50)
    y = ids((8, 32), device, seed=1, vocab=50)
    _, loss = model(x, y)
    assert loss.shape == () and loss.dtype == sg.float32 and loss.device == device
    assert abs(loss.item() - math.log(50)) < 0.03


def test_ignored_targets_leave_the_mean():
    model = tiny()
    x, y = ids((2, 6)), ids((2, 6), seed=1)
    logits, loss = model(x, y)
    masked = y.numpy()
    masked[:, :3] = -1
    _, loss_masked = model(x, sg.tensor(masked))
    logp = logits.numpy().astype(np.float64)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, y.numpy()[..., None], -1)[..., 0]
    assert loss.item() == pytest.approx(-picked.mean(), rel=1e-5)
    assert loss_masked.item() == pytest.approx(-picked[:, 3:].mean(), rel=1e-5)


def test_overfits_a_tiny_batch():
    """Four fixed sequences (distinct first tokens, so every next token is determined by
    its prefix) are memorised: the loss falls from ~ln(11) to near zero."""
    sg.manual_seed(0)
    model = tiny(n_layer=1)
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 11, (4, 9))
    seq[:, 0] = [0, 1, 2, 3]
    x, y = sg.tensor(seq[:, :-1]), sg.tensor(seq[:, 1:])
    opt = model.configure_optimizers(weight_decay=0.0, learning_rate=1e-2)
    for _ in range(150):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.02
    out = model.generate(sg.tensor(seq[:, :1]), 8, greedy=True)
    np.testing.assert_array_equal(out.numpy(), seq)


def test_dropout_only_in_training():
    model = tiny(dropout=0.3)
    x = ids((2, 8))
    a, b = model(x)[0].numpy(), model(x)[0].numpy()
    assert not np.array_equal(a, b)
    model.eval()
    np.testing.assert_array_equal(model(x)[0].numpy(), model(x)[0].numpy())


# ----------------------------------------------------------------------------- kv cache
def test_cached_logits_equal_full_forward(device):
    """Prefill 5 tokens, then feed the rest one at a time: every position's logits equal
    those of one forward pass over the whole sequence (float64: agreement to 1e-12)."""
    model = tiny(device, dtype=sg.float64).eval()
    x = ids((2, 12), device)
    full, _ = model(x)
    cache = model.new_cache()
    parts = [model(x[:, :5], kv_cache=cache)[0]]
    for t in range(5, 12):
        parts.append(model(x[:, t:t + 1], kv_cache=cache)[0])
    assert len(cache[0]) == 12
    stepped = np.concatenate([p.numpy() for p in parts], axis=1)
    np.testing.assert_allclose(stepped, full.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize('positional', ['learned', 'sinusoidal'])
def test_generate_cached_equals_uncached(device, positional):
    """Greedy and sampled (top-k) generation give the same tokens with and without the
    cache, also beyond block_size (where the context window slides)."""
    model = tiny(device, positional=positional)
    prompt = ids((3, 4), device)
    greedy = [model.generate(prompt, 15, greedy=True, use_cache=c).numpy() for c in (True, False)]
    np.testing.assert_array_equal(greedy[0], greedy[1])
    sampled = []
    for c in (True, False):
        sg.manual_seed(7)
        sampled.append(model.generate(prompt, 15, temperature=2.0, top_k=5, use_cache=c).numpy())
    np.testing.assert_array_equal(sampled[0], sampled[1])
    assert sampled[0].shape == (3, 19)
    np.testing.assert_array_equal(sampled[0][:, :4], prompt.numpy())
    assert not np.array_equal(sampled[0], greedy[0])


def test_generate_sampling():
    model = tiny()
    prompt = ids((200, 3))
    # top_k=1 keeps only the most likely token: greedy decoding
    np.testing.assert_array_equal(model.generate(prompt, 4, top_k=1).numpy(),
                                  model.generate(prompt, 4, greedy=True).numpy())
    # top_k=2: every sampled token is one of the two most likely ones
    out = model.generate(prompt, 1, top_k=2).numpy()
    logits = model.eval()(prompt)[0].numpy()[:, -1]
    top2 = np.argsort(logits, axis=-1)[:, -2:]
    assert all(out[i, -1] in top2[i] for i in range(200))
    assert len(set(out[:, -1] == top2[:, 1])) == 2          # both of them occur
    assert model.training is False                          # generate restores the mode
    model.train()
    model.generate(prompt, 1)
    assert model.training is True


# ----------------------------------------------------------------------------- checkpoints
def test_save_load_round_trip(tmp_path):
    model = tiny(positional='learned')
    path = tmp_path / 'gpt.npz'
    save({'config': dataclasses.asdict(model.config), 'model': model.state_dict()}, path)
    sg.manual_seed(123)
    ckpt = load(path)
    restored = GPT(GPTConfig(**ckpt['config']))
    x = ids((2, 12))
    assert not np.array_equal(restored(x)[0].numpy(), model(x)[0].numpy())
    restored.load_state_dict(ckpt['model'])
    np.testing.assert_array_equal(restored(x)[0].numpy(), model(x)[0].numpy())
    assert list(ckpt['model']) == list(model.state_dict())


# ----------------------------------------------------------------------------- gradients
def test_gradcheck_loss_wrt_parameters():
    """d loss / d theta of a one-layer GPT in float64 against central differences,
    for a parameter of every kind (tied embedding, positions, attention, MLP, norms)."""
    model = GPT(GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=8),
                dtype=sg.float64)
    for p in model.parameters():         # move LayerNorm/bias off their 1/0 start values
        p.data[...] += backend.asarray(np.random.default_rng(1).normal(0, 0.1, p.shape))
    x = ids((2, 6), vocab=7)
    tgt = ids((2, 6), seed=1, vocab=7).numpy()
    tgt[0, :2] = -1                      # ignored targets included
    y = sg.tensor(tgt)
    params = dict(model.named_parameters())
    names = ['wte.weight', 'wpe.weight', 'blocks.0.ln_1.weight', 'blocks.0.attn.c_attn.weight',
             'blocks.0.attn.c_proj.bias', 'blocks.0.mlp.c_fc.bias', 'ln_f.bias']
    chosen = [params[n] for n in names]

    def loss_fn(*_):
        return model(x, y)[1]

    assert gradcheck(loss_fn, chosen, name='GPT loss')


def test_matches_pytorch():
    """Logits, loss and every parameter gradient equal a PyTorch implementation of the
    same architecture with the same weights."""
    torch = pytest.importorskip('torch')
    tF = torch.nn.functional
    model = tiny(dtype=sg.float64)
    for p in model.parameters():
        p.data[...] += backend.asarray(np.random.default_rng(2).normal(0, 0.1, p.shape))
    x, y = ids((3, 10)), ids((3, 10), seed=1)
    logits, loss = model(x, y)
    loss.backward()

    P = {k: torch.tensor(v.numpy(), requires_grad=True) for k, v in model.named_parameters()}
    H, C = model.config.n_head, model.config.n_embd

    def ln(h, name):
        return tF.layer_norm(h, (C,), P[name + '.weight'], P[name + '.bias'])

    def lin(h, name):
        return tF.linear(h, P[name + '.weight'], P[name + '.bias'])

    B, T = x.shape
    h = P['wte.weight'][torch.tensor(x.numpy())] + P['wpe.weight'][:T]
    for i in range(model.config.n_layer):
        b = f'blocks.{i}'
        q, k, v = lin(ln(h, b + '.ln_1'), b + '.attn.c_attn').split(C, dim=-1)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        a = tF.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + lin(a.transpose(1, 2).reshape(B, T, C), b + '.attn.c_proj')
        m = tF.gelu(lin(ln(h, b + '.ln_2'), b + '.mlp.c_fc'), approximate='tanh')
        h = h + lin(m, b + '.mlp.c_proj')
    ref_logits = ln(h, 'ln_f') @ P['wte.weight'].T
    ref_loss = tF.cross_entropy(ref_logits.reshape(B * T, -1), torch.tensor(y.numpy()).reshape(-1))
    ref_loss.backward()
    np.testing.assert_allclose(logits.numpy(), ref_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), P[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


# ----------------------------------------------------------------------------- helpers
def test_init_and_parameter_groups():
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=3, n_head=2, n_embd=64))
    params = dict(model.named_parameters())
    assert 'lm_head.weight' not in params           # the output layer is wte itself
    std = lambda n: float(params[n].numpy().std())
    assert std('wte.weight') == pytest.approx(0.02, rel=0.05)
    assert std('blocks.0.mlp.c_fc.weight') == pytest.approx(0.02, rel=0.05)
    assert std('blocks.0.mlp.c_proj.weight') == pytest.approx(0.02 / math.sqrt(6), rel=0.05)
    assert not params['blocks.0.attn.c_attn.bias'].numpy().any()
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-4)
    decay, no_decay = opt.param_groups
    assert decay['weight_decay'] == 0.1 and no_decay['weight_decay'] == 0.0
    assert all(p.ndim == 2 for p in decay['params'])
    assert all(p.ndim == 1 for p in no_decay['params'])
    assert len(decay['params']) + len(no_decay['params']) == len(params)
    assert model.num_parameters(non_embedding=False) == sum(p.numel() for p in params.values())
    sinus = GPT(GPTConfig(**{**TINY, 'positional': 'sinusoidal'}))
    assert not any('wpe' in k for k in sinus.state_dict())


def test_attention_maps():
    model = tiny()
    maps = model.attention_maps(ids((2, 7)))
    assert len(maps) == 2
    for w in maps:
        assert w.shape == (2, 2, 7, 7)
        a = w.numpy()
        np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-6)
        future = np.triu(np.ones((7, 7), dtype=bool), k=1)
        assert not a[..., future].any()                 # nothing attends to the future
        assert (a[..., ~future] > 0).all()


def test_bidirectional_block_sees_the_future_and_ignores_padding():
    """Block(causal=False): an early position depends on later ones; a key hidden by
    key_padding_mask leaves every other position's output unchanged; gradcheck."""
    from scratchgen.models.gpt import Block
    rng = np.random.default_rng(0)
    cfg = GPTConfig(vocab_size=5, block_size=6, n_layer=1, n_head=2, n_embd=8)
    blk = Block(cfg, causal=False).to(dtype='float64')
    x = rng.standard_normal((2, 5, 8))
    x2 = x.copy()
    x2[:, -1] += rng.standard_normal((2, 8))             # change only the last position
    y, y2 = blk(sg.tensor(x)).numpy(), blk(sg.tensor(x2)).numpy()
    assert np.abs(y[:, 0] - y2[:, 0]).max() > 1e-3     # position 0 saw position 4
    causal = Block(cfg).to(dtype='float64')
    causal.load_state_dict(blk.state_dict())
    assert np.allclose(causal(sg.tensor(x)).numpy()[:, 0], causal(sg.tensor(x2)).numpy()[:, 0])
    pad = np.zeros((2, 5), dtype=bool)
    pad[:, -1] = True                                  # the last position is padding
    m = sg.tensor(pad)
    y, y2 = blk(sg.tensor(x), key_padding_mask=m).numpy(), blk(sg.tensor(x2), key_padding_mask=m).numpy()
    assert np.allclose(y[:, :-1], y2[:, :-1], atol=1e-12)
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(2, 4\) should be \(2, 5\)"):
        blk(sg.tensor(x), key_padding_mask=sg.tensor(pad[:, :4]))
    up = rng.standard_normal((2, 5, 8))
    assert gradcheck(lambda t: (blk(t, key_padding_mask=m) * sg.tensor(up)).sum(),
                     [sg.tensor(x, requires_grad=True)], rtol=1e-4)
