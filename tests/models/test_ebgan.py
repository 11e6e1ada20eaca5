"""EBGAN: the autoencoder energy, the margin losses, the pulling-away term (values and
gradients), the autoencoder discriminators, the config, errors, and a short 2-D run
that must approach the data."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.models import gan

from helpers import ring_mmd_before_after


# ----------------------------------------------------------------------------- energy
def test_energy_is_the_mean_squared_reconstruction_error(device):
    recon = sg.tensor([[1.0, 2.0], [0.0, 0.0]], device=device)
    x = sg.tensor([[0.0, 0.0], [3.0, 4.0]], device=device)
    e = gan.autoencoder_energy(recon, x)
    assert e.shape == (2,) and e.dtype == np.float32
    np.testing.assert_allclose(e.numpy(), [(1 + 4) / 2, (9 + 16) / 2], rtol=1e-6)
    # images: the mean over channels and pixels
    img = sg.tensor(np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2))
    e = gan.autoencoder_energy(img, sg.zeros(2, 3, 2, 2))
    ref = (np.arange(24.0).reshape(2, 12) ** 2).mean(1)
    np.testing.assert_allclose(e.numpy(), ref, rtol=1e-6)
    with pytest.raises(ValueError, match=r"autoencoder_energy: reconstruction \(2, 2\) and "
                                         r"input \(2, 3\)"):
        gan.autoencoder_energy(sg.zeros(2, 2), sg.zeros(2, 3))


@pytest.mark.parametrize('kind', ['mlp', 'conv'])
def test_autoencoder_discriminator_energy_and_codes(kind, device):
    if kind == 'mlp':
        D, x = gan.MLPAutoencoderDiscriminator(2, 16, 2, code_dim=5), sg.randn(7, 2)
    else:
        D = gan.ConvAutoencoderDiscriminator(3, 16, 4, code_dim=6)
        x = sg.randn(7, 3, 16, 16)
    D, x = D.to(device), x.to(device=device)
    e = D(x)
    assert e.shape == (7,) and e.dtype == np.float32 and (e.numpy() >= 0).all()
    recon = D.reconstruct(x)
    assert recon.shape == x.shape
    # D(x) is the energy of its own reconstruction (batch norm: the same batch)
    expected = ((recon.numpy() - x.numpy()) ** 2).reshape(7, -1).mean(1)
    np.testing.assert_allclose(e.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert D.encode(x).shape == (7, D.code_dim)


def test_mlp_autoencoder_energy_gradcheck():
    sg.manual_seed(0)
    D = gan.MLPAutoencoderDiscriminator(2, 6, 2, code_dim=3).double()
    x = sg.tensor(np.random.default_rng(0).standard_normal((4, 2)), requires_grad=True)
    assert gradcheck(lambda x: D(x), [x], name='MLPAutoencoderDiscriminator energy')


# ----------------------------------------------------------------------------- losses
def test_margin_losses_on_hand_made_energies(device):
    real = sg.tensor([0.1, 0.3], device=device)
    fake = sg.tensor([0.2, 1.5, 3.0], device=device, requires_grad=True)   # m = 1: one active
    loss = gan.EBGANLoss(margin=1.0, pt_weight=0.0)
    d, g = loss.d_loss(real, fake), loss.g_loss(fake)
    assert d.shape == () and d.dtype == np.float32
    assert d.item() == pytest.approx(0.2 + (1.0 - 0.2) / 3, rel=1e-6)
    assert g.item() == pytest.approx((0.2 + 1.5 + 3.0) / 3, rel=1e-6)
    # the hinge: D pushes up only the fake below the margin
    (gf,) = sg.grad(d, [fake])
    np.testing.assert_allclose(gf.numpy(), [-1 / 3, 0.0, 0.0], rtol=1e-6)
    # every fake past the margin: the fake term is 0; a larger margin: all active
    assert gan.EBGANLoss(margin=0.1).d_loss(real, fake).item() == pytest.approx(0.2, rel=1e-6)
    assert gan.EBGANLoss(margin=4.0).d_loss(real, fake).item() == pytest.approx(
        0.2 + (3.8 + 2.5 + 1.0) / 3, rel=1e-6)
    assert gan.make_loss('ebgan', margin=2.0).margin == 2.0


def _pt_reference(s):
    s = s.reshape(len(s), -1)
    n, total = len(s), 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total += (s[i] @ s[j] / (np.linalg.norm(s[i]) * np.linalg.norm(s[j]))) ** 2
    return total / (n * (n - 1))


def test_pulling_away_term_equals_a_direct_computation(device):
    s = np.random.default_rng(1).standard_normal((6, 4))
    pt = gan.pulling_away(sg.tensor(s, device=device))
    assert pt.shape == () and pt.item() == pytest.approx(_pt_reference(s), rel=1e-6)
    # codes of any shape are flattened per sample (conv codes are (N, C, 1, 1))
    s4 = s.reshape(6, 4, 1, 1)
    assert gan.pulling_away(sg.tensor(s4)).item() == pytest.approx(_pt_reference(s), rel=1e-6)
    # orthogonal codes (of any lengths): 0; parallel or antiparallel codes: 1
    q = np.linalg.qr(np.random.default_rng(2).standard_normal((5, 5)))[0]
    orth = q * np.array([[0.5], [2.0], [1.0], [3.0], [0.1]])
    assert abs(gan.pulling_away(sg.tensor(orth)).item()) < 1e-6
    par = np.outer([1.0, -2.0, 0.5], [0.3, 1.0, -1.0])
    assert gan.pulling_away(sg.tensor(par)).item() == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match=r"pulling_away: codes must be \(N, \.\.\.\) with "
                                         r"N >= 2, got shape \(1, 4\)"):
        gan.pulling_away(sg.zeros(1, 4))


def test_pulling_away_gradcheck():
    s = sg.tensor(np.random.default_rng(3).standard_normal((5, 3)), requires_grad=True)
    assert gradcheck(gan.pulling_away, [s], name='pulling_away')


def test_generator_step_adds_the_pulling_away_term():
    sg.manual_seed(0)
    x = sg.tensor(sg.data.toy2d('ring8', 32, seed=0))
    for pt in (0.0, 0.5):
        G = gan.MLPGenerator(hidden=8, depth=1)
        D = gan.MLPAutoencoderDiscriminator(hidden=8, depth=2, code_dim=4)
        model = gan.GAN(G, D, gan.EBGANLoss(margin=1.0, pt_weight=pt))
        stats = model.train_step(lambda: x)
        assert ('g_penalty' in stats) == (pt > 0)
        if pt:
            assert 0 < stats['g_penalty'] <= pt
        assert stats['d_real'] >= 0 and stats['d_fake'] >= 0


# ----------------------------------------------------------------------------- config, errors
def test_config_builds_autoencoder_discriminators(device):
    model = gan.GAN.from_config(gan.GANConfig(loss='ebgan', width=16, depth=2, code_dim=4,
                                              loss_options=dict(margin=0.5)), device=device)
    assert isinstance(model.D, gan.MLPAutoencoderDiscriminator) and model.D.code_dim == 4
    assert model.loss.margin == 0.5 and model.loss.pt_weight == 0.1      # the default
    cfg = gan.GANConfig(arch='dcgan', loss='ebgan', channels=1, image_size=16, latent_dim=8,
                        width=4, d_norm=None)
    model = gan.GAN.from_config(cfg, device=device)
    assert isinstance(model.D, gan.ConvAutoencoderDiscriminator)
    x = sg.randn(3, 1, 16, 16).to(device=device)
    assert model.D(x).shape == (3,) and model.D.encode(x).shape == (3, 32)


def test_ebgan_errors():
    for bad in (0.0, -1.0, float('nan'), 'one'):
        with pytest.raises(ValueError, match='EBGANLoss: margin must be a finite number > 0'):
            gan.EBGANLoss(margin=bad)
    with pytest.raises(ValueError, match='EBGANLoss: pt_weight must be a finite number >= 0, '
                                         'got -0.1'):
        gan.EBGANLoss(pt_weight=-0.1)
    G, D = gan.MLPGenerator(hidden=4, depth=1), gan.MLPDiscriminator(hidden=4, depth=1)
    with pytest.raises(ValueError, match="GAN: the 'ebgan' loss needs an autoencoder "
                                         "discriminator .* got MLPDiscriminator"):
        gan.GAN(G, D, 'ebgan')
    with pytest.raises(ValueError, match="GANConfig: loss='ebgan' is unconditional; got "
                                         "n_classes=3"):
        gan.GANConfig(loss='ebgan', n_classes=3)
    with pytest.raises(ValueError, match='GANConfig: code_dim must be a positive int, got 0'):
        gan.GANConfig(loss='ebgan', code_dim=0)
    D = gan.MLPAutoencoderDiscriminator(hidden=4, depth=1)
    with pytest.raises(ValueError, match='MLPAutoencoderDiscriminator: labels were given'):
        D(sg.zeros(2, 2), sg.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match='MLPAutoencoderDiscriminator: depth must be a '
                                         'positive int, got 0'):
        gan.MLPAutoencoderDiscriminator(depth=0)
    with pytest.raises(ValueError, match="ConvAutoencoderDiscriminator: norm must be 'batch', "
                                         "'layer' or None, got 'spectral'"):
        gan.ConvAutoencoderDiscriminator(norm='spectral')
    with pytest.raises(ValueError, match='ConvAutoencoderDiscriminator: image_size must be'):
        gan.ConvAutoencoderDiscriminator(image_size=12)


# ----------------------------------------------------------------------------- learning
def test_short_2d_run_lowers_mmd_to_the_data():
    sg.manual_seed(0)
    G = gan.MLPGenerator(latent_dim=2, hidden=64, depth=2)
    D = gan.MLPAutoencoderDiscriminator(hidden=64, depth=2, code_dim=16)
    before, after = ring_mmd_before_after(
        gan.GAN(G, D, gan.EBGANLoss(margin=1.0, pt_weight=0.1), lr=1e-3), G)
    assert before > 0.3
    assert after < 0.02 * before, (before, after)      # measured: 0.91 -> 0.0006
