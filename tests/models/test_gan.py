"""GANs: loss values, the gradient penalty against finite differences, weight clipping,
networks and conditioning, and a short 2-D training run that must approach the data."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.models import gan

from helpers import ring_mmd_before_after

REAL = [2.0, -1.0, 0.5]
FAKE = [0.5, -3.0, 30.0]


def _log_sigmoid(s):
    return -math.log1p(math.exp(-s)) if s > 0 else s - math.log1p(math.exp(s))


def _mean(v):
    return sum(v) / len(v)


# ----------------------------------------------------------------------------- losses
@pytest.mark.parametrize('name, d_expected, g_expected', [
    ('minimax',
     _mean([-_log_sigmoid(r) for r in REAL]) + _mean([-_log_sigmoid(-f) for f in FAKE]),
     _mean([_log_sigmoid(-f) for f in FAKE])),                  # log(1 - sigma(f))
    ('nonsaturating',
     _mean([-_log_sigmoid(r) for r in REAL]) + _mean([-_log_sigmoid(-f) for f in FAKE]),
     _mean([-_log_sigmoid(f) for f in FAKE])),
    ('lsgan',                                                   # a=0, b=1, c=1
     0.5 * _mean([(r - 1) ** 2 for r in REAL]) + 0.5 * _mean([f ** 2 for f in FAKE]),
     0.5 * _mean([(f - 1) ** 2 for f in FAKE])),
    ('wgan', _mean(FAKE) - _mean(REAL), -_mean(FAKE)),
    ('wgan-gp', _mean(FAKE) - _mean(REAL), -_mean(FAKE)),
    ('hinge',                                                   # margins at +1 and -1
     _mean([max(0.0, 1 - r) for r in REAL]) + _mean([max(0.0, 1 + f) for f in FAKE]),
     -_mean(FAKE)),
])
def test_loss_values_on_hand_made_scores(name, d_expected, g_expected, device):
    loss = gan.make_loss(name)
    real, fake = sg.tensor(REAL, device=device), sg.tensor(FAKE, device=device)
    d, g = loss.d_loss(real, fake), loss.g_loss(fake)
    assert d.dtype == np.float32 and g.dtype == np.float32 and d.shape == ()
    assert d.item() == pytest.approx(d_expected, rel=1e-5)
    assert g.item() == pytest.approx(g_expected, rel=1e-5)


def test_lsgan_custom_targets():
    loss = gan.LSGANLoss(a=-1.0, b=1.0, c=0.0)
    real, fake = sg.tensor(REAL), sg.tensor(FAKE)
    expected_d = 0.5 * _mean([(r - 1) ** 2 for r in REAL]) + 0.5 * _mean([(f + 1) ** 2 for f in FAKE])
    assert loss.d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-5)
    assert loss.g_loss(fake).item() == pytest.approx(0.5 * _mean([f ** 2 for f in FAKE]), rel=1e-5)


def test_logit_losses_are_finite_for_huge_scores():
    real, fake = sg.tensor([200.0, -200.0]), sg.tensor([-200.0, 200.0])
    for name in ('minimax', 'nonsaturating'):
        loss = gan.make_loss(name)
        assert loss.d_loss(real, fake).item() == pytest.approx(200.0, rel=1e-5)
        assert math.isfinite(loss.g_loss(fake).item())


def test_nonsaturating_gradient_is_strong_where_minimax_saturates():
    # D confidently rejects the fake (logit -8): the minimax G loss barely moves it
    f = sg.tensor([-8.0], requires_grad=True)
    (g_mm,) = sg.grad(gan.MinimaxLoss().g_loss(f), [f])
    (g_ns,) = sg.grad(gan.NonSaturatingLoss().g_loss(f), [f])
    sig = 1 / (1 + math.exp(8.0))
    assert g_mm.item() == pytest.approx(-sig, rel=1e-4)          # -sigma(f)
    assert g_ns.item() == pytest.approx(-(1 - sig), rel=1e-4)    # -(1 - sigma(f))
    assert abs(g_ns.item()) > 1000 * abs(g_mm.item())


def test_make_loss_errors():
    with pytest.raises(ValueError, match="unknown loss 'hinge2'"):
        gan.make_loss('hinge2')
    with pytest.raises(ValueError, match='clip must be positive'):
        gan.WGANLoss(clip=0.0)
    assert isinstance(gan.make_loss('wgan-gp', lam=0.1), gan.WGANGPLoss)



def test_wgan_and_wgan_gp_share_the_critic_loss_and_differ_in_the_constraint():
    real, fake = sg.tensor(REAL), sg.tensor(FAKE)
    clip, gp = gan.WGANLoss(clip=0.05), gan.WGANGPLoss(lam=1.0)
    assert isinstance(clip, gan.WassersteinLoss) and isinstance(gp, gan.WassersteinLoss)
    assert not isinstance(gp, gan.WGANLoss)
    assert clip.d_loss(real, fake).item() == gp.d_loss(real, fake).item()
    assert clip.g_loss(fake).item() == gp.g_loss(fake).item()
    critic = _tiny_critic()
    weights = [p.numpy().copy() for p in critic.parameters()]
    gp.after_critic_step(critic)                       # no clipping for the penalty loss
    assert all(np.array_equal(p.numpy(), w) for p, w in zip(critic.parameters(), weights))
    assert clip.penalty(critic, real, fake) is None    # no penalty for the clipping loss
    clip.after_critic_step(critic)
    assert max(np.abs(p.numpy()).max() for p in critic.parameters()) <= 0.05

# ----------------------------------------------------------------------------- gradient penalty
def _tiny_critic(n_classes=None):
    sg.manual_seed(3)
    return gan.MLPDiscriminator(in_dim=2, hidden=5, depth=2, n_classes=n_classes,
                                embed_dim=3).double()


def _numeric_input_gradients(critic, x, labels, h=1e-6):
    """Central differences of each sample's score with respect to its own input."""
    def score(xs):
        with sg.no_grad():
            lab = None if labels is None else sg.tensor(labels)
            return critic(sg.tensor(xs), lab).numpy()
    g = np.zeros_like(x)
    for j in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, j] = h
        g[:, j] = (score(x + step) - score(x - step)) / (2 * h)
    return g


@pytest.mark.parametrize('n_classes', [None, 3])
def test_gradient_penalty_equals_finite_differences(n_classes):
    critic = _tiny_critic(n_classes)
    rng = np.random.default_rng(0)
    real, fake, eps = rng.normal(size=(4, 2)), rng.normal(size=(4, 2)), rng.uniform(size=4)
    labels = None if n_classes is None else np.array([0, 2, 1, 2])
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    norms = np.linalg.norm(_numeric_input_gradients(critic, x_hat, labels), axis=1)
    expected = 10.0 * np.mean((norms - 1) ** 2)
    got = gan.gradient_penalty(critic, sg.tensor(real), sg.tensor(fake),
                               None if labels is None else sg.tensor(labels),
                               lam=10.0, eps=sg.tensor(eps))
    assert got.dtype == np.float64
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    """The penalty's gradient w.r.t. a weight (a second-order gradient) matches
    central differences of the penalty itself."""
    critic = _tiny_critic()
    rng = np.random.default_rng(1)
    real, fake, eps = (sg.tensor(rng.normal(size=(3, 2))), sg.tensor(rng.normal(size=(3, 2))),
                       sg.tensor(rng.uniform(size=3)))

    def penalty():
        return gan.gradient_penalty(critic, real, fake, lam=10.0, eps=eps)
    w = critic.body[0].weight
    (analytic,) = sg.grad(penalty(), [w])
    numeric = np.zeros(w.shape)
    h = 1e-6
    for idx in np.ndindex(*w.shape):
        old = w.data[idx]
        w.data[idx] = old + h
        plus = penalty().item()
        w.data[idx] = old - h
        minus = penalty().item()
        w.data[idx] = old
        numeric[idx] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(analytic.numpy(), numeric, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_on_images(device):
    critic = gan.DCGANDiscriminator(channels=1, image_size=16, width=4, norm='layer').to(device)
    real, fake = sg.randn(3, 1, 16, 16, device=device), sg.randn(3, 1, 16, 16, device=device)
    p = gan.gradient_penalty(critic, real, fake)
    assert p.shape == () and p.dtype == np.float32 and p.item() >= 0
    p.backward()
    # a bias that feeds only a leaky ReLU or the output does not shape the input
    # gradient, so the penalty gives it no gradient; every other parameter gets one
    for name, q in critic.named_parameters():
        assert (q.grad is None) == (name in ('body.3.bias', 'head.bias')), name


# ----------------------------------------------------------------------------- clipping
def test_weight_clipping_keeps_every_critic_weight_in_bounds(device):
    sg.manual_seed(0)
    G = gan.MLPGenerator(latent_dim=2, hidden=16, depth=2).to(device)
    D = gan.MLPDiscriminator(hidden=16, depth=2).to(device)
    for p in D.parameters():           # start far outside the box
        p.data[...] = p.data * 100.0
    # a large learning rate would push weights far out again on every step
    model = gan.GAN(G, D, gan.WGANLoss(clip=0.05), preset='wgan', lr=0.5, n_critic=2)
    data = sg.data.toy2d('ring8_wide', 64, seed=0)

    def batch():
        return sg.tensor(data, device=device)
    moved = False
    for _ in range(5):
        before = [p.numpy() for p in D.parameters()]
        model.train_step(batch)
        for p, b in zip(D.parameters(), before):
            w = p.numpy()
            assert np.abs(w).max() <= 0.05
            moved |= not np.array_equal(w, b)
    assert moved
    assert max(np.abs(p.numpy()).max() for p in D.parameters()) == pytest.approx(0.05)


def test_clip_weights_in_place():
    m = gan.MLPDiscriminator(hidden=4, depth=1)
    ids = [id(p) for p in m.parameters()]
    for p in m.parameters():
        p.data[...] = np.linspace(-3, 3, p.data.size).reshape(p.shape).astype(np.float32)
    gan.clip_weights_(m, 0.5)
    assert [id(p) for p in m.parameters()] == ids
    for p in m.parameters():
        w = p.numpy()
        assert w.min() >= -0.5 and w.max() <= 0.5 and (np.abs(w) == 0.5).any()


# ----------------------------------------------------------------------------- training loop
def test_train_step_uses_n_critic_fresh_batches(device):
    sg.manual_seed(0)
    G = gan.MLPGenerator(hidden=8, depth=1).to(device)
    D = gan.MLPDiscriminator(hidden=8, depth=1).to(device)
    model = gan.GAN(G, D, 'wgan-gp')
    assert model.n_critic == 5 and isinstance(model.d_optimizer, sg.optim.Adam)
    assert model.d_optimizer.param_groups[0]['betas'] == (0.0, 0.9)
    calls = []

    def batch():
        calls.append(1)
        return sg.randn(16, 2, device=device)
    g_before = [p.numpy() for p in G.parameters()]
    stats = model.train_step(batch)
    assert len(calls) == 5 and model.steps == 1
    assert set(stats) >= {'d_loss', 'g_loss', 'penalty', 'd_real', 'd_fake'}
    assert any(not np.array_equal(p.numpy(), b) for p, b in zip(G.parameters(), g_before))
    assert all(p.requires_grad for p in D.parameters())       # restored after the G step


def test_presets_and_overrides():
    G, D = gan.MLPGenerator(hidden=4, depth=1), gan.MLPDiscriminator(hidden=4, depth=1)
    g_opt, d_opt, n_critic = gan.make_optimizers('wgan', G, D)
    assert isinstance(d_opt, sg.optim.RMSprop) and n_critic == 5
    assert d_opt.param_groups[0]['lr'] == 5e-5
    g_opt, d_opt, n_critic = gan.make_optimizers('dcgan', G, D, lr=1e-3, n_critic=2)
    assert g_opt.param_groups[0]['lr'] == 1e-3 and g_opt.param_groups[0]['betas'] == (0.5, 0.999)
    assert n_critic == 2
    with pytest.raises(ValueError, match='unknown preset'):
        gan.make_optimizers('adam', G, D)
    with pytest.raises(ValueError, match='GAN: n_critic must be a positive int, got 0'):
        gan.GAN(G, D, 'lsgan', n_critic=0)



def test_gan_from_config_builds_what_the_config_says(device):
    cfg = gan.GANConfig(width=16, depth=2, loss='wgan-gp', loss_options=dict(lam=0.5),
                        optim_options=dict(lr=1e-3))
    sg.manual_seed(0)
    model = gan.GAN.from_config(cfg, device=device)
    assert model.config is cfg and model.n_critic == 5 and model.loss.lam == 0.5
    assert model.d_optimizer.param_groups[0]['lr'] == 1e-3
    assert model.G.latent_dim == 2 and model.sample(7).shape == (7, 2)
    assert model.sample(7).device == device
    # the same networks, in the same order of random draws, as built by hand
    sg.manual_seed(0)
    G = gan.MLPGenerator(2, 2, 16, 2, batch_norm=True)
    D = gan.MLPDiscriminator(2, 16, 2)
    for a, b in zip(list(model.G.parameters()) + list(model.D.parameters()),
                    list(G.parameters()) + list(D.parameters())):
        assert np.array_equal(a.numpy(), b.numpy())

    cfg = gan.GANConfig(arch='dcgan', channels=1, image_size=16, latent_dim=8, width=4,
                        n_classes=3, aux_weight=1.0, d_norm='layer', n_critic=2)
    model = gan.GAN.from_config(cfg, device=device)
    assert model.n_critic == 2 and model.D.classifier is not None
    assert model.sample(4, labels=1).shape == (4, 1, 16, 16)


def test_gan_config_errors():
    with pytest.raises(ValueError, match="GANConfig: arch must be 'mlp' or 'dcgan', got 'conv'"):
        gan.GANConfig(arch='conv')
    with pytest.raises(ValueError, match="GANConfig: unknown loss 'wgan2'"):
        gan.GANConfig(loss='wgan2')
    with pytest.raises(ValueError, match="GANConfig: unknown preset 'adam'"):
        gan.GANConfig(preset='adam')
    with pytest.raises(ValueError, match="GANConfig: width must be a positive int, got 0"):
        gan.GANConfig(width=0)
    with pytest.raises(ValueError, match="GANConfig: aux_weight=1.0 needs arch='dcgan' and n_classes"):
        gan.GANConfig(arch='dcgan', aux_weight=1.0)
    with pytest.raises(TypeError, match="GAN.from_config: expected a GANConfig, got dict"):
        gan.GAN.from_config({'loss': 'wgan'})

def test_short_2d_run_lowers_mmd_to_the_data():
    # least squares: the most reliable of the losses on short runs (the non-saturating
    # GAN hops between modes of this ring for the first few hundred steps)
    sg.manual_seed(0)
    G = gan.MLPGenerator(latent_dim=2, hidden=64, depth=2)
    D = gan.MLPDiscriminator(hidden=64, depth=2)
    before, after = ring_mmd_before_after(gan.GAN(G, D, 'lsgan', lr=1e-3), G)
    assert before > 0.3
    assert after < 0.1 * before, (before, after)


# ----------------------------------------------------------------------------- networks
@pytest.mark.parametrize('size', [16, 32])
def test_dcgan_shapes(size, device):
    G = gan.DCGANGenerator(latent_dim=8, channels=3, image_size=size, width=4).to(device)
    D = gan.DCGANDiscriminator(channels=3, image_size=size, width=4).to(device)
    x = G(sg.randn(2, 8, device=device))
    assert x.shape == (2, 3, size, size) and x.dtype == np.float32
    assert np.abs(x.numpy()).max() <= 1.0                   # tanh output
    assert D(x).shape == (2,)
    kinds = [type(m).__name__ for m in G.net]
    assert 'ConvTranspose2d' in kinds and 'BatchNorm2d' in kinds and kinds[-1] == 'Tanh'
    assert any(isinstance(m, sg.nn.LeakyReLU) for m in D.body)


def test_dcgan_discriminator_spectral_norm(device):
    D = gan.DCGANDiscriminator(channels=3, image_size=16, width=4, norm='spectral',
                               n_classes=3).to(device)
    convs = [m for m in D.modules() if isinstance(m, sg.nn.Conv2d)]
    assert len(convs) == 3 and not any(isinstance(m, sg.nn.BatchNorm2d) for m in D.modules())
    assert sum(isinstance(m, sg.nn.SpectralNorm) for m in D.modules()) == 3
    for _ in range(30):             # power iteration runs in each training-mode call
        scores = D(sg.randn(4, 3, 16, 16, device=device), sg.tensor([0, 1, 2, 0], device=device))
    assert scores.shape == (4,)
    for sn in (m for m in D.modules() if isinstance(m, sg.nn.SpectralNorm)):
        w = sn.weight.numpy()
        top = np.linalg.svd(w.reshape(w.shape[0], -1), compute_uv=False)[0]
        assert sn.sigma().item() == pytest.approx(top, rel=1e-3)


@pytest.mark.parametrize('conditioning', ['concat', 'projection'])
def test_conditional_sampling_returns_requested_labels_shapes(conditioning, device):
    G = gan.MLPGenerator(latent_dim=3, out_dim=2, hidden=8, depth=1, n_classes=4).to(device)
    D = gan.MLPDiscriminator(hidden=8, depth=1, n_classes=4, conditioning=conditioning).to(device)
    labels = sg.tensor([0, 3, 1, 1, 2], device=device)
    x = G.sample(5, labels)
    assert x.shape == (5, 2) and x.device == device
    assert D(x, labels).shape == (5,)
    # the label matters: the same noise with another label gives another sample
    z = sg.randn(5, 3, device=device)
    assert not np.allclose(G(z, labels).numpy(), G(z, sg.tensor([1, 0, 0, 2, 3], device=device)).numpy())

    Gi = gan.DCGANGenerator(latent_dim=8, channels=1, image_size=16, width=4, n_classes=3).to(device)
    Di = gan.DCGANDiscriminator(channels=1, image_size=16, width=4, n_classes=3,
                                conditioning=conditioning).to(device)
    imgs = Gi.sample(4, labels=2)
    assert imgs.shape == (4, 1, 16, 16)
    assert Di(imgs, sg.tensor([2, 2, 2, 2], device=device)).shape == (4,)


def test_conditional_gan_learns_label_to_cluster():
    """Three labelled blobs: after a short run, samples requested for label k lie
    nearest to blob k."""
    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    G = gan.MLPGenerator(latent_dim=2, hidden=32, depth=2, n_classes=3)
    D = gan.MLPDiscriminator(hidden=32, depth=2, n_classes=3)
    model = gan.GAN(G, D, 'nonsaturating', lr=2e-3)

    def batch():
        y = rng.integers(0, 3, 128)
        x = centres[y] + 0.2 * rng.standard_normal((128, 2))
        return sg.tensor(x.astype(np.float32)), sg.tensor(y)
    for _ in range(250):
        model.train_step(batch)
    for k in range(3):
        x = G.sample(200, labels=k).numpy()
        nearest = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        assert (nearest == k).mean() > 0.9


def _band_images(rng, n):
    """16x16 one-channel images; class k has a bright band in rows 5k..5k+4."""
    y = rng.integers(0, 3, n)
    x = -np.ones((n, 1, 16, 16), np.float32)
    for k in range(3):
        x[y == k, :, 5 * k:5 * k + 5] = 1.0
    x += 0.1 * rng.standard_normal(x.shape).astype(np.float32)
    return sg.tensor(x), sg.tensor(y)


def _class_accuracy(D, x, y):
    """Accuracy and cross-entropy of D's class head (eval mode)."""
    D.eval()
    with sg.no_grad():
        _, logits = D(x, y, return_logits=True)
    D.train()
    return (float((logits.numpy().argmax(1) == y.numpy()).mean()),
            sg.functional.cross_entropy(logits, y).item())


def test_ac_gan_class_head_learns_and_teaches_the_generator():
    """AC-GAN: critic steps train D's class head on real images; generator steps then
    make G's images classified as the label they were generated for."""
    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    G = gan.DCGANGenerator(latent_dim=4, channels=1, image_size=16, width=8, n_classes=3)
    D = gan.DCGANDiscriminator(channels=1, image_size=16, width=8, n_classes=3,
                               aux_classifier=True)
    model = gan.GAN(G, D, 'nonsaturating', aux_weight=1.0, lr=2e-3)
    x_test, y_test = _band_images(rng, 300)
    labels = sg.tensor(np.arange(300) % 3)
    before_real, _ = _class_accuracy(D, x_test, y_test)
    for _ in range(40):
        model.critic_step(*_band_images(rng, 64))
    after_real, _ = _class_accuracy(D, x_test, y_test)
    assert before_real < 0.6 and after_real > 0.95
    _, ce_before = _class_accuracy(D, G.sample(300, labels), labels)
    for _ in range(40):            # G alone, against the frozen class head
        model.generator_step(64, sg.tensor(rng.integers(0, 3, 64)))
    acc_fake, ce_after = _class_accuracy(D, G.sample(300, labels), labels)
    assert acc_fake > 0.95 and ce_after < 0.25 * ce_before


@pytest.mark.parametrize('on_fakes', [True, False])
def test_ac_gan_discriminator_aux_loss_terms(on_fakes):
    """d_aux is CE on the real batch, plus CE on the fakes unless aux_on_fakes=False."""
    sg.manual_seed(1)
    rng = np.random.default_rng(1)
    G = gan.DCGANGenerator(latent_dim=4, channels=1, image_size=16, width=4, n_classes=3)
    D = gan.DCGANDiscriminator(channels=1, image_size=16, width=4, n_classes=3,
                               aux_classifier=True)
    model = gan.GAN(G, D, aux_weight=2.0, aux_on_fakes=on_fakes)
    x, y = _band_images(rng, 16)
    with sg.no_grad():
        ce_real = sg.functional.cross_entropy(D(x, y, return_logits=True)[1], y).item()
    d_aux = model.critic_step(x, y)['d_aux']
    if on_fakes:
        assert d_aux > ce_real + 0.5          # CE of 3 classes on fakes is near log 3
    else:
        assert d_aux == pytest.approx(ce_real, rel=1e-5)


def test_ac_gan_errors():
    with pytest.raises(ValueError, match='aux_classifier=True needs n_classes'):
        gan.DCGANDiscriminator(image_size=16, aux_classifier=True)
    D = gan.DCGANDiscriminator(channels=1, image_size=16, width=4, n_classes=3)
    G = gan.DCGANGenerator(latent_dim=4, channels=1, image_size=16, width=4, n_classes=3)
    with pytest.raises(ValueError, match='return_logits=True needs aux_classifier=True'):
        D(sg.randn(2, 1, 16, 16), sg.tensor([0, 1]), return_logits=True)
    with pytest.raises(ValueError, match='needs a discriminator with a class head'):
        gan.GAN(G, D, aux_weight=1.0)
    with pytest.raises(ValueError, match='aux_weight must be >= 0'):
        gan.GAN(G, D, aux_weight=-1.0)


def test_label_errors():
    G = gan.MLPGenerator(hidden=4, depth=1, n_classes=2)
    with pytest.raises(ValueError, match='conditional'):
        G(sg.randn(3, 2))
    with pytest.raises(ValueError, match='3 integers'):
        G(sg.randn(3, 2), sg.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match='unconditional'):
        gan.MLPDiscriminator(hidden=4, depth=1)(sg.randn(3, 2), sg.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="'concat' or 'projection'"):
        gan.MLPDiscriminator(conditioning='sum')
    with pytest.raises(ValueError, match='power of two'):
        gan.DCGANGenerator(image_size=24)
    with pytest.raises(ValueError, match="norm must be"):
        gan.DCGANDiscriminator(norm='instance')
