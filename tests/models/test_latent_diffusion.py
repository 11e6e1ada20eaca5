"""Text-to-image pieces (docs/text_to_image.md): the VAE's spatial latent, the U-Net's
cross-attention to text tokens (shapes, padding masks, gradcheck) and LatentDiffusion
(prompt dropping, guidance, a short run lowers the loss)."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.models.vae import VAE, VAEConfig, gaussian_kl
from scratchgen.models.diffusion import UNet, CrossAttentionBlock, TextCondition
from scratchgen.models.latent_diffusion import (LatentDiffusion, LatentDiffusionConfig,
                                                latent_scale)
from scratchgen.models.clip import TextEncoder
from scratchgen.data.captions import encode_captions, caption_shapes


# ----------------------------------------------------------------------------- spatial VAE
def spatial_vae(**kw):
    sg.manual_seed(0)
    return VAE(VAEConfig(data_shape=(3, 8, 8), arch='conv', channels=(4, 6),
                         latent_shape=(2, 2, 2), **kw))


def test_spatial_latent_shapes_and_kl():
    vae = spatial_vae(conv_depth=1)
    assert vae.config.latent_dim == 8 and vae.config.z_shape == (2, 2, 2)
    x = sg.tensor(np.random.default_rng(0).random((5, 3, 8, 8)).astype(np.float32))
    mu, logvar = vae.encode(x)
    assert mu.shape == (5, 2, 2, 2) and logvar.shape == (5, 2, 2, 2)
    assert vae.decode(mu).shape == (5, 3, 8, 8) and vae.sample(3).shape == (3, 3, 8, 8)
    # the KL sums over every latent dimension, as for the flat latent
    m, lv = mu.numpy().reshape(5, -1), logvar.numpy().reshape(5, -1)
    np.testing.assert_allclose(gaussian_kl(mu, logvar).numpy(),
                               0.5 * (m ** 2 + np.exp(lv) - lv - 1).sum(1), rtol=1e-5)
    assert vae.log_likelihood(x, k=4).shape == (5,)
    assert vae.interpolate(x[:2], x[2:4], steps=3).shape == (2, 3, 3, 8, 8)
    # no dense layer anywhere: the decoder is fully convolutional
    assert not any(isinstance(m, sg.nn.Linear) for m in vae.modules())
    with pytest.raises(ValueError, match=r"decode: expected z of shape \(N, 2, 2, 2\)"):
        vae.decode(sg.randn(5, 8))


def test_spatial_latent_config_errors():
    with pytest.raises(ValueError, match=r"latent_shape \(4, 3, 3\) must have the spatial size "
                                         r"\(4, 4\)"):
        VAEConfig(data_shape=(3, 16, 16), arch='conv', channels=(8, 8), latent_shape=(4, 3, 3))
    with pytest.raises(ValueError, match="needs arch='conv'"):
        VAEConfig(data_shape=(3, 16, 16), arch='mlp', latent_shape=(4, 4, 4))


def test_spatial_vae_elbo_gradcheck():
    vae = spatial_vae(conv_depth=1).double()
    rng = np.random.default_rng(1)
    x = sg.tensor(rng.random((2, 3, 8, 8)))
    eps = sg.tensor(rng.standard_normal((2, 2, 2, 2)))
    params = [vae.encoder.head.weight, vae.decoder.body[0].weight, vae.decoder.deconvs[-1].bias]
    assert gradcheck(lambda *ps: vae.elbo(x, eps).elbo, params, name='spatial VAE ELBO')


# ----------------------------------------------------------------------------- cross-attention
def condition(B=3, L=4, D=5, seed=0, pad_from=(4, 2, 1), dtype=np.float32):
    rng = np.random.default_rng(seed)
    padding = np.arange(L)[None, :] >= np.array(pad_from[:B])[:, None]
    return TextCondition(sg.tensor(rng.standard_normal((B, L, D)).astype(dtype)),
                         sg.tensor(padding), sg.tensor(rng.standard_normal((B, D)).astype(dtype)))


def tiny_text_unet(dtype=None, mults=(1, 2)):
    sg.manual_seed(0)
    net = UNet(2, channels=4, channel_mults=mults, groups=2, heads=2, context_dim=5)
    return net.double() if dtype == sg.float64 else net


def test_cross_attention_shapes_and_weights():
    sg.manual_seed(0)
    block = CrossAttentionBlock(4, context_dim=5, heads=2, groups=2)
    x, cond = sg.randn(3, 4, 2, 3), condition()
    block.keep_weights = True
    out = block(x, cond)
    assert out.shape == x.shape and out.dtype == sg.float32
    w = block.weights.numpy()                       # (B, H*W, L): pixels read the words
    assert w.shape == (3, 6, 4)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert np.all(w[1, :, 2:] == 0) and np.all(w[2, :, 1:] == 0)     # padding gets no weight
    with pytest.raises(ValueError, match=r"CrossAttentionBlock: expected cond.tokens of shape "
                                         r"\(3, L, 5\), got \(3, 4, 6\)"):
        block(x, TextCondition(sg.randn(3, 4, 6), cond.padding, cond.pooled))


def test_unet_with_context_ignores_padded_tokens():
    net = tiny_text_unet()
    x, t = sg.randn(3, 2, 4, 4), sg.tensor([5.0, 300.0, 900.0])
    cond = condition()
    out = net(x, t, cond).numpy()
    assert out.shape == (3, 2, 4, 4) and len(net.cross_attention_blocks()) == 7   # 2 down, mid, 4 up
    tokens = cond.tokens.numpy().copy()
    tokens[cond.padding.numpy()] = 50.0             # change only the padded positions
    out2 = net(x, t, TextCondition(sg.tensor(tokens), cond.padding, cond.pooled)).numpy()
    np.testing.assert_array_equal(out, out2)
    words = cond.tokens.numpy().copy()
    words[:, 0] += 1.0                              # a real token does change the output
    out3 = net(x, t, TextCondition(sg.tensor(words), cond.padding, cond.pooled)).numpy()
    assert np.abs(out3 - out).max() > 1e-4
    with pytest.raises(TypeError, match="UNet: built with context_dim=5, so y must be a "
                                        "TextCondition"):
        net(x, t, sg.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="pick one condition"):
        UNet(2, channels=4, num_classes=3, context_dim=5)


def test_unet_cross_attention_gradcheck():
    net = tiny_text_unet(sg.float64, mults=(1,))
    rng = np.random.default_rng(2)
    x = sg.tensor(rng.standard_normal((2, 2, 2, 2)))
    cond = condition(B=2, L=3, pad_from=(3, 1), seed=3, dtype=np.float64)
    tokens = sg.tensor(cond.tokens.numpy(), requires_grad=True)
    pooled = sg.tensor(cond.pooled.numpy(), requires_grad=True)
    t = sg.tensor([10.0, 600.0], dtype=sg.float64)
    cross = net.cross_attention_blocks()[0].attn
    assert gradcheck(lambda tok, pool, wk: net(x, t, TextCondition(tok, cond.padding, pool)),
                     [tokens, pooled, cross.k_proj_weight], name='UNet cross-attention')


# ----------------------------------------------------------------------------- latent diffusion
def tiny_ldm(p_uncond=0.2):
    sg.manual_seed(0)
    vae = VAE(VAEConfig(data_shape=(3, 16, 16), arch='conv', channels=(8, 8),
                        latent_shape=(2, 4, 4)))
    text = TextEncoder(width=8, n_layer=1, n_head=2)
    net = UNet(2, channels=8, channel_mults=(1,), groups=4, heads=2, context_dim=8)
    return LatentDiffusion(vae, text, net, encode_captions,
                           LatentDiffusionConfig(T=100, p_uncond=p_uncond, context=4))


def test_latent_diffusion_frozen_parts_and_guidance():
    ldm = tiny_ldm()
    assert all(not p.requires_grad for p in ldm.vae.parameters())
    assert all(not p.requires_grad for p in ldm.text_encoder.parameters())
    assert set(map(id, ldm.trainable_parameters())) == set(map(id, ldm.net.parameters()))
    cond = ldm.condition(['large green triangle', 'small red circle'])
    assert cond.tokens.shape == (2, 4, 8) and cond.padding.numpy().sum() == 0
    null = ldm.null_condition(2)
    assert null.padding.numpy()[:, 1:].all() and not null.padding.numpy()[:, 0].any()
    z = sg.randn(2, 2, 4, 4)
    e_c, e_u = ldm.eps_fn(cond, 1.0)(z, 50), ldm.eps_fn(cond, 0.0)(z, 50)
    e_g = ldm.eps_fn(cond, 3.0)(z, 50)
    np.testing.assert_allclose(e_g.numpy(), (e_u + 3.0 * (e_c - e_u)).numpy(), atol=1e-5)
    dropped = ldm.drop_prompts(ldm.condition(['large green triangle'] * 200))
    frac = dropped.padding.numpy()[:, 1].mean()           # dropped rows are the empty prompt
    assert 0.1 < frac < 0.3
    images = ldm.generate(['medium blue square'] * 2, w=2.0, steps=3)
    assert images.shape == (2, 3, 16, 16) and 0 <= images.numpy().min() <= images.numpy().max() <= 1
    for bad, msg in ((['large green hexagon'], "unknown word 'hexagon'"),
                     (['a large green triangle now'], 'context is 4')):
        with pytest.raises(ValueError, match=msg):
            ldm.condition(bad)


def test_latent_scale():
    mu = np.random.default_rng(0).standard_normal((50, 2, 4, 4)) * 3.0
    assert abs(latent_scale(mu) - 1 / 3.0) < 0.02
    with pytest.raises(ValueError, match="latent_scale"):
        latent_scale(np.zeros(4))


def test_latent_diffusion_short_run_lowers_loss():
    """40 Adam steps on latents of 64 captioned images: the Min-SNR-weighted v-loss falls
    from about 0.35 to below 0.2."""
    ldm = tiny_ldm(p_uncond=0.1)
    data = caption_shapes(64, seed=0)
    z0 = ldm.encode_images(sg.tensor(data.images))
    ldm.config.scale = latent_scale(z0)
    z0 = z0 * ldm.config.scale
    cond = ldm.condition(data.captions)
    opt = sg.optim.Adam(ldm.trainable_parameters(), lr=3e-3)
    sg.manual_seed(1)

    def mean_loss(k=8):
        with sg.no_grad():
            return float(np.mean([ldm.loss(z0, cond).item() for _ in range(k)]))
    before = mean_loss()
    for _ in range(40):
        loss = ldm.loss(z0, cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = mean_loss()
    assert before > 0.3 and after < 0.2, (before, after)
