"""The CLIP-style model: InfoNCE against a direct computation, the text encoder ignores
padding, clear errors for bad prompts, gradchecks in float64, a checkpoint round trip,
and a short training run that learns (loss down, zero-shot far above chance)."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.data import captions as cap
from scratchgen.models.clip import (CLIP, CLIPConfig, TextEncoder, ImageEncoder, clip_loss,
                                    l2_normalize, train_clip, save_clip, load_clip)

TINY = dict(width=8, n_layer=1, n_head=2, image_size=8, channels=(4, 6), embed_dim=6)


def tiny(dtype=None, **changes):
    return CLIP(CLIPConfig(**{**TINY, **changes}), dtype=dtype)


def test_clip_loss_equals_direct_computation_on_a_hand_made_matrix():
    z = np.array([[3.0, 1.0, 0.0],
                  [0.5, 2.0, -1.0],
                  [1.0, 1.0, 1.0]])
    # image -> caption: row i picks column i; caption -> image: column j picks row j
    rows = [-math.log(math.exp(z[i, i]) / sum(math.exp(v) for v in z[i])) for i in range(3)]
    cols = [-math.log(math.exp(z[j, j]) / sum(math.exp(z[i, j]) for i in range(3)))
            for j in range(3)]
    want = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    got = clip_loss(sg.tensor(z)).item()
    assert abs(got - want) < 1e-12
    assert abs(want - 0.444259) < 1e-6             # the number itself, worked by hand once
    # perfectly separated pairs: the loss goes to 0; all-equal logits: log B
    assert clip_loss(sg.tensor(50 * np.eye(4))).item() < 1e-12
    assert abs(clip_loss(sg.tensor(np.zeros((5, 5)))).item() - math.log(5)) < 1e-12
    # not symmetric in its two halves: transposing swaps them, the mean stays
    assert abs(clip_loss(sg.tensor(z.T)).item() - want) < 1e-12
    with pytest.raises(ValueError, match=r"clip_loss: logits must be a square \(B, B\) matrix"
                                         r".*got shape \(2, 3\)"):
        clip_loss(sg.tensor(np.zeros((2, 3))))


def test_gradchecks_of_the_new_pieces_float64():
    rng = np.random.default_rng(0)
    up = sg.tensor(rng.standard_normal((3, 5)))
    assert gradcheck(lambda x: (l2_normalize(x) * up).sum(),
                     [sg.tensor(rng.standard_normal((3, 5)), requires_grad=True)])
    assert gradcheck(lambda z: clip_loss(z) * 1.7,
                     [sg.tensor(rng.standard_normal((4, 4)), requires_grad=True)])
    sg.manual_seed(0)
    m = tiny(dtype='float64')
    ids, pad = cap.encode_captions(["small red circle", "large blue", "green"])
    x = sg.tensor(rng.uniform(0, 1, (3, 3, 8, 8)))
    upz = sg.tensor(rng.standard_normal((3, 3)))
    assert gradcheck(lambda t: (m.logits(t, ids, pad) * upz).sum(),
                     [sg.tensor(x.numpy(), requires_grad=True)], rtol=1e-4)
    # parameter gradients: logit_scale and one token embedding against central differences
    for p, index in [(m.logit_scale, (0,)), (m.text.wte.weight, (cap.VOCAB.index('red'), 3))]:
        m.zero_grad()
        (m.loss(x, ids, pad) * 1.3).backward()
        analytic = p.grad.numpy()[index]
        keep, eps, f = p.data[index], 1e-6, []
        for v in (keep + eps, keep - eps):
            p.data[index] = v
            with sg.no_grad():
                f.append((m.loss(x, ids, pad) * 1.3).item())
        p.data[index] = keep
        numeric = (f[0] - f[1]) / (2 * eps)
        assert abs(numeric - analytic) <= 1e-7 + 1e-4 * abs(analytic), (numeric, analytic)
        assert abs(analytic) > 1e-6


def test_text_encoder_ignores_padding():
    sg.manual_seed(1)
    te = TextEncoder(width=16, n_layer=2, n_head=2).to(dtype='float64')
    ids, pad = cap.encode_captions(["small red circle", "red", "", "large square"])
    tokens, pooled = te(ids, pad)
    assert tokens.shape == (4, 4, 16) and pooled.shape == (4, 16) and tokens.dtype == np.float64
    rng = np.random.default_rng(0)
    ids2 = ids.copy()
    ids2[pad] = rng.integers(2, len(cap.VOCAB), pad.sum())     # other words where padding is
    tokens2, pooled2 = te(ids2, pad)
    np.testing.assert_array_equal(pooled.numpy(), pooled2.numpy())
    np.testing.assert_array_equal(tokens.numpy(), tokens2.numpy())
    assert np.all(tokens.numpy()[pad] == 0)                      # padded outputs are zero
    # ...while the same changes unmasked do change the embedding (the test can fail)
    tokens3, pooled3 = te(ids2, np.zeros_like(pad))
    assert np.abs(pooled3.numpy()[1:3] - pooled.numpy()[1:3]).max(1).min() > 1e-2
    # encode() = encode_captions + forward, as a TextCondition
    cond = te.encode(["small red circle", "red", "", "large square"])
    np.testing.assert_array_equal(cond.pooled.numpy(), pooled.numpy())
    np.testing.assert_array_equal(cond.padding.numpy(), pad)


def test_prompt_errors_are_clear():
    te = TextEncoder(width=8, n_layer=1, n_head=2)
    with pytest.raises(ValueError, match=r"unknown word 'purple' in caption 'purple circle'"):
        te.encode(["purple circle"])
    with pytest.raises(ValueError, match=r"caption 'small red circle top' has 4 words.*context "
                                         r"is 4"):
        te.encode(["small red circle top"])
    ids, pad = cap.encode_captions(["red circle"], context=6)
    with pytest.raises(ValueError, match=r"TextEncoder.forward: 6 tokens per caption is more "
                                         r"than the context 4"):
        te(ids, pad)
    ids, pad = cap.encode_captions(["red circle"])
    with pytest.raises(ValueError, match=r"position 0 \(the <cls> token\) is padding"):
        te(ids, np.ones_like(pad))
    with pytest.raises(ValueError, match=r"padding must be a bool array of the ids' shape"):
        te(ids, pad[:, :3])
    with pytest.raises(ValueError, match=r"ImageEncoder: images must have shape \(B, 3, 16, "
                                         r"16\), got \(2, 3, 8, 8\)"):
        ImageEncoder()(sg.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"CLIPConfig: width \(10\) must be divisible by "
                                         r"n_head \(4\)"):
        CLIPConfig(width=10)


def test_checkpoint_round_trip(tmp_path):
    sg.manual_seed(2)
    m = tiny()
    with sg.no_grad():
        m.logit_scale.data[...] = 2.5
    x = cap.caption_shapes(5, seed=0, size=8).images
    path = tmp_path / 'clip.npz'
    save_clip(m, path, steps=7)
    m2, extra = load_clip(path)
    assert extra == {'steps': 7} and m2.config == m.config
    np.testing.assert_array_equal(m2.similarity(x, cap.ALL_CAPTIONS[:9]),
                                  m.similarity(x, cap.ALL_CAPTIONS[:9]))
    assert m2.logit_scale.item() == 2.5
    sg.save({'model': {}}, tmp_path / 'other.npz')
    with pytest.raises(sg.io.CheckpointError, match="not of a CLIP"):
        load_clip(tmp_path / 'other.npz')


def test_short_run_learns():
    """200 steps of a small CLIP on 16x16 captioned shapes: the loss falls from about
    log(55) = 4.0 to below 1.5, and zero-shot shape, colour and size accuracy over all 63
    captions on fresh images are far above chance (1/3, 1/7, 1/3): > 50%, 90%, 60%."""
    sg.manual_seed(0)
    m = CLIP(CLIPConfig(width=32, n_layer=1, n_head=2, channels=(16, 32), embed_dim=32))
    d = cap.caption_shapes(3000, seed=0)
    losses = train_clip(m, d.images, d.captions, steps=200, batch_size=96, lr=3e-3, seed=0)['loss']
    assert losses[0] > 3.5
    assert np.mean(losses[-20:]) < 1.5, np.mean(losses[-20:])
    e = cap.caption_shapes(400, seed=5)
    pred = cap.caption_attributes([cap.ALL_CAPTIONS[i] for i in m.zero_shot(e.images)])
    acc = (pred == e.attributes).mean(0)
    assert acc[0] > 0.5 and acc[1] > 0.9 and acc[2] > 0.6, acc    # (shape, colour, size)


def test_avatar_captions_short_run_learns():
    """The avatar caption set: CLIPConfig.for_captions('avatars') reads the five-word
    captions; 60 steps on 32x32 avatars lower the loss from about log(64) = 4.2 and
    zero-shot over all 4,032 captions reads both colours at twice chance or more (1/8 and
    1/6) on held-out combinations (measured: 0.42 and 0.43)."""
    sg.manual_seed(0)
    m = CLIP(CLIPConfig.for_captions('avatars', width=16, n_layer=1, n_head=2,
                                     image_size=32, channels=(8, 16, 16), embed_dim=16))
    assert m.config.context == 6 and m.config.vocab_size == len(cap.AVATAR_VOCAB)
    d = cap.caption_avatars(1500, seed=0)
    losses = train_clip(m, d.images, d.captions, steps=60, batch_size=64, lr=3e-3,
                        seed=0)['loss']
    assert losses[0] > 4.0
    assert np.mean(losses[-10:]) < 3.3, np.mean(losses[-10:])      # measured 2.86
    e = cap.caption_avatars(300, seed=5, split='holdout')
    pred = cap.avatar_caption_attributes([cap.AVATAR_CAPTIONS[i] for i in m.zero_shot(e.images)])
    acc = (pred == e.attributes).mean(0)
    assert acc[1] > 0.25 and acc[3] > 0.3, acc          # clothing colour, hair colour
    with pytest.raises(ValueError, match="captions must be one of 'shapes', 'avatars'"):
        CLIPConfig(captions='faces')


def test_avatar_checkpoint_keeps_its_caption_set(tmp_path):
    sg.manual_seed(3)
    m = CLIP(CLIPConfig.for_captions('avatars', **{**TINY, 'image_size': 32}))
    save_clip(m, tmp_path / 'clip.npz')
    m2, _ = load_clip(tmp_path / 'clip.npz')
    assert m2.config.captions == 'avatars' and m2.text.vocab == cap.AVATAR_VOCAB
    caps = list(cap.AVATAR_HOLDOUT_CAPTIONS[:5])
    np.testing.assert_array_equal(m2.embed_captions(caps), m.embed_captions(caps))
    with pytest.raises(ValueError, match="unknown word 'small'"):
        m2.embed_captions(["small red circle"])
