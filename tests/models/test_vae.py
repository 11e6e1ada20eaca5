"""VAE and Autoencoder: ELBO gradients, the closed-form KL, the IWAE bound, a short
training run, checkpoints, devices, and a cross-check of the loss against PyTorch."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.io import load, save
from scratchgen.models.vae import VAE, Autoencoder, VAEConfig, gaussian_kl, LOG_2PI

TINY = dict(hidden=(4,), channels=(2,))
CONFIGS = {      # name -> config of a tiny model for each variant
    'mlp-bernoulli': VAEConfig(data_shape=(5,), latent_dim=2, **TINY),
    'mlp-gaussian-learned': VAEConfig(data_shape=(3,), latent_dim=2, likelihood='gaussian',
                                      **TINY),
    'mlp-gaussian-fixed': VAEConfig(data_shape=(1, 2, 2), latent_dim=2, likelihood='gaussian',
                                    decoder_std=0.5, **TINY),
    'conv-bernoulli': VAEConfig(data_shape=(1, 4, 5), latent_dim=2, arch='conv', **TINY),
}


def _data(config, n, rng):
    x = rng.random((n,) + config.data_shape)
    return (x > 0.5).astype(np.float64) if config.likelihood == 'bernoulli' else x


def prototypes(n, seed):
    """Tiny binary data with known structure: one of 4 patterns of 16 pixels, each pixel
    flipped with probability 0.05. Its entropy is log 4 + 16 H(0.05) = 4.56 nats; the
    independent-pixel model (all marginals 1/2) needs 16 log 2 = 11.09 nats."""
    rng = np.random.default_rng(seed)
    patterns = np.array([[1] * 8 + [0] * 8, [0] * 8 + [1] * 8, [1, 0] * 8, [0, 1] * 8])
    x = patterns[rng.integers(0, 4, n)]
    return np.abs(x - (rng.random(x.shape) < 0.05)).astype(np.float32)


def fit(model, x, steps, batch_size, lr, seed=0):
    """The demos' training loop: Adam on shuffled minibatches of the rows of x (host
    array) for ``steps`` steps. Returns the losses."""
    loader = sg.data.DataLoader(sg.data.TensorDataset(x), batch_size=batch_size, shuffle=True,
                                drop_last=True, seed=seed)
    opt = sg.optim.Adam(model.parameters(), lr=lr)
    losses = []
    while len(losses) < steps:
        for (batch,) in loader:
            loss = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


def neg_elbo(model, x):
    """Test −ELBO in nats per example (one z per x, exact KL)."""
    with sg.no_grad():
        return -model.elbo(sg.tensor(x)).elbo.mean().item()


@pytest.fixture(scope='module')
def trained():
    """A tiny VAE trained for 300 steps on ``prototypes`` (about a second)."""
    sg.manual_seed(0)
    model = VAE(data_shape=(16,), latent_dim=2, hidden=(32,))
    before = neg_elbo(model, prototypes(512, 2))
    losses = fit(model, prototypes(512, 1), steps=300, batch_size=64, lr=3e-3, seed=0)
    return model, before, losses


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize('name', list(CONFIGS))
def test_elbo_gradcheck_wrt_parameters(name):
    """d ELBO / d θ, φ against central differences, float64, the noise ε held fixed."""
    config = CONFIGS[name]
    model = VAE(config).double()
    rng = np.random.default_rng(1)
    x = sg.tensor(_data(config, 3, rng))
    eps = sg.tensor(rng.standard_normal((3, config.latent_dim)))
    params = list(model.parameters())
    assert all(p.dtype == sg.float64 for p in params)
    gradcheck(lambda *ps: model.elbo(x, eps).elbo, params, name=f"ELBO of {name}")


def test_beta_loss_gradcheck():
    model = VAE(CONFIGS['mlp-bernoulli'], beta=3.0).double()
    rng = np.random.default_rng(2)
    x = sg.tensor(_data(model.config, 4, rng))
    eps = sg.tensor(rng.standard_normal((4, 2)))
    gradcheck(lambda *ps: model.loss(x, eps), list(model.parameters()), name='beta-VAE loss')
    terms = model.elbo(x, eps)     # the loss is −mean(log p(x|z) − β KL)
    expected = -(terms.log_px_z - 3.0 * terms.kl).mean().item()
    assert model.loss(x, eps).item() == pytest.approx(expected, rel=1e-12)


def test_autoencoder_gradcheck():
    model = Autoencoder(CONFIGS['conv-bernoulli']).double()
    x = sg.tensor(_data(model.config, 3, np.random.default_rng(3)))
    gradcheck(lambda *ps: model(x), list(model.parameters()), name='autoencoder log p(x|z)')


# ----------------------------------------------------------------------------- the terms
def test_kl_matches_monte_carlo():
    """½ Σ (μ² + σ² − log σ² − 1) against the mean of log q(z) − log p(z), z ~ q."""
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((4, 3))
    logvar = rng.uniform(-2.0, 1.0, (4, 3))
    kl = gaussian_kl(sg.tensor(mu), sg.tensor(logvar)).numpy()
    assert kl.shape == (4,) and kl.dtype == np.float64
    eps = rng.standard_normal((200_000, 4, 3))
    z = mu + np.exp(0.5 * logvar) * eps
    log_q = -0.5 * (eps ** 2 + logvar + LOG_2PI).sum(-1)
    log_p = -0.5 * (z ** 2 + LOG_2PI).sum(-1)
    samples = log_q - log_p
    stderr = samples.std(0) / math.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(0) - kl) < 4 * stderr), (samples.mean(0), kl, stderr)
    zero = gaussian_kl(sg.zeros(2, 5), sg.zeros(2, 5)).numpy()
    np.testing.assert_array_equal(zero, 0.0)


def test_log_px_given_z_matches_formulas():
    rng = np.random.default_rng(4)
    x01 = (rng.random((3, 5)) > 0.5).astype(np.float64)
    logits = rng.standard_normal((3, 5))
    bern = VAE(CONFIGS['mlp-bernoulli']).double()
    p = 1.0 / (1.0 + np.exp(-logits))
    expected = (x01 * np.log(p) + (1 - x01) * np.log(1 - p)).sum(1)
    np.testing.assert_allclose(bern.log_px_given_z(sg.tensor(x01), sg.tensor(logits)).numpy(),
                               expected, rtol=1e-12)
    gauss = VAE(CONFIGS['mlp-gaussian-fixed']).double()
    x, mean = rng.standard_normal((3, 1, 2, 2)), rng.standard_normal((3, 1, 2, 2))
    expected = (-0.5 * ((x - mean) / 0.5) ** 2 - math.log(0.5) - 0.5 * LOG_2PI).sum((1, 2, 3))
    np.testing.assert_allclose(gauss.log_px_given_z(sg.tensor(x), sg.tensor(mean)).numpy(),
                               expected, rtol=1e-12)


def test_iwae_bound_above_elbo_and_increasing_in_k(trained):
    """E[L_1] = ELBO <= E[L_5] <= E[L_50] <= ..., averaged over 512 test points."""
    model = trained[0]
    x = sg.tensor(prototypes(512, 3))
    sg.manual_seed(1)
    elbo = np.mean([model.elbo(x).elbo.numpy().mean() for _ in range(20)])
    bounds = {k: model.log_likelihood(x, k=k).numpy().mean() for k in (1, 5, 50)}
    # L_1 is a one-sample ELBO: equal on average (a 1-sample mean of 512 points; ~0.1 nats)
    assert abs(bounds[1] - elbo) < 0.3
    assert bounds[5] > elbo + 0.1
    assert bounds[50] > bounds[5]
    assert bounds[50] < 0           # a bound on the log of a probability mass


def test_log_likelihood_batching_is_exact():
    """Chunks of the k samples (batch_k) give the same estimate as one batch: the noise
    is drawn in the same order and combined with logsumexp."""
    model = VAE(CONFIGS['conv-bernoulli']).double()
    x = sg.tensor(_data(model.config, 6, np.random.default_rng(5)))
    sg.manual_seed(7)
    whole = model.log_likelihood(x, k=10, batch_k=10).numpy()
    sg.manual_seed(7)
    chunked = model.log_likelihood(x, k=10, batch_k=3).numpy()
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    assert whole.shape == (6,) and whole.dtype == np.float64
    with pytest.raises(ValueError, match='k must be a positive int'):
        model.log_likelihood(x, k=0)


# ----------------------------------------------------------------------------- training
def test_training_lowers_test_negative_elbo(trained):
    """300 steps: test −ELBO from ~11.4 nats (init) to below 6.5 nats per example (the
    data's entropy is 4.56; independent pixels would need 11.09)."""
    model, before, losses = trained
    after = neg_elbo(model, prototypes(512, 2))
    assert before > 10.0
    assert after < 6.5, after
    assert np.mean(losses[-50:]) < np.mean(losses[:50])


def test_training_gaussian_decoder_on_2d_points():
    """2-D points on a noisy line segment, Gaussian decoder with a learned σ: test −ELBO
    below 2.0 nats after 400 steps (about 2.9 at initialisation)."""
    def line(n, seed):
        rng = np.random.default_rng(seed)
        t = rng.uniform(-1, 1, n)
        return (np.stack([t, 2 * t], 1) + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)
    sg.manual_seed(0)
    model = VAE(data_shape=(2,), latent_dim=1, hidden=(32,), likelihood='gaussian')
    before = neg_elbo(model, line(512, 2))
    fit(model, line(512, 1), steps=400, batch_size=64, lr=3e-3)
    after = neg_elbo(model, line(512, 2))
    assert before > 2.5 and after < 2.0, (before, after)


def test_autoencoder_trains():
    sg.manual_seed(0)
    model = Autoencoder(data_shape=(16,), latent_dim=2, hidden=(32,))
    x = sg.tensor(prototypes(256, 2))
    before = model.loss(x).item()
    fit(model, prototypes(512, 1), steps=200, batch_size=64, lr=3e-3)
    assert model.loss(x).item() < 0.6 * before


# ----------------------------------------------------------------------------- checkpoints
def test_save_load_reproduces_outputs_exactly(trained, tmp_path):
    model = trained[0]
    path = tmp_path / 'vae.npz'
    save({'config': model.config.__dict__, 'state': model.state_dict()}, path)
    ckpt = load(path)
    clone = VAE(VAEConfig(**ckpt['config']))
    clone.load_state_dict(ckpt['state'])
    x = sg.tensor(prototypes(64, 4))
    eps = sg.randn(64, 2)
    for fn in (lambda m: m.encode(x)[0], lambda m: m.encode(x)[1], lambda m: m.reconstruct(x),
               lambda m: m.elbo(x, eps).elbo, lambda m: m.decode(eps)):
        np.testing.assert_array_equal(fn(clone).numpy(), fn(model).numpy())
    for m in (model, clone):       # the same noise stream gives the same IWAE estimate
        sg.manual_seed(3)
        m.iwae = m.log_likelihood(x, k=20).numpy()
    np.testing.assert_array_equal(clone.iwae, model.iwae)


# ----------------------------------------------------------------------------- API
def test_methods_shapes_dtypes_and_devices(device):
    sg.manual_seed(0)
    model = VAE(CONFIGS['conv-bernoulli']).to(device)
    x = sg.tensor(_data(model.config, 3, np.random.default_rng(6)).astype(np.float32),
                  device=device)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 2) and mu.device == device
    terms = model.elbo(x)
    for t in terms:
        assert t.shape == (3,) and t.dtype == sg.float32 and t.device == device
    np.testing.assert_allclose(terms.elbo.numpy(), (terms.log_px_z - terms.kl).numpy())
    assert model.loss(x).shape == ()
    ll = model.log_likelihood(x, k=7, batch_k=2)
    assert ll.shape == (3,) and ll.dtype == sg.float32 and ll.device == device
    for out in (model.sample(5), model.sample(5, mean=False), model.reconstruct(x)):
        assert out.shape[1:] == (1, 4, 5) and out.device == device and out.dtype == sg.float32
    s = model.sample(50, mean=False).numpy()
    assert set(np.unique(s)) <= {0.0, 1.0}
    probs = model.sample(5).numpy()
    assert np.all((probs > 0) & (probs < 1))
    path = model.interpolate(x[:2], x[1:3], steps=4)
    assert path.shape == (2, 4, 1, 4, 5)
    # the ends of the path decode the posterior means of x0 and x1
    np.testing.assert_allclose(path[:, 0].numpy(), model.reconstruct(x[:2]).numpy(), atol=1e-6)
    np.testing.assert_allclose(path[:, -1].numpy(), model.reconstruct(x[1:3]).numpy(), atol=1e-6)


def test_gaussian_sampling_uses_sigma():
    model = VAE(data_shape=(2,), latent_dim=1, hidden=(4,), likelihood='gaussian',
                decoder_std=3.0)
    z = sg.zeros(4000, 1)
    mean = model.decode(z).numpy()
    draws = model._draw_x(z).numpy()
    assert np.abs((draws - mean).std(0) - 3.0).max() < 0.15


def test_conv_handles_odd_image_sizes():
    """28 -> 14 -> 7 -> 3 and back to 7 -> 14 -> 28 (output_size recovers the odd 7)."""
    model = VAE(data_shape=(1, 28, 28), latent_dim=3, arch='conv', channels=(2, 3, 4),
                hidden=(8,))
    x = sg.rand(2, 1, 28, 28)
    assert model.decoder(model.encode(x)[0]).shape == (2, 1, 28, 28)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="arch must be one of 'mlp', 'conv'"):
        VAEConfig(arch='rnn')
    with pytest.raises(ValueError, match='needs images'):
        VAEConfig(data_shape=(2,), arch='conv')
    with pytest.raises(ValueError, match='at least 8x8'):
        VAEConfig(data_shape=(1, 4, 4), arch='conv', channels=(2, 2, 2))
    with pytest.raises(ValueError, match="likelihood must be"):
        VAEConfig(likelihood='poisson')
    with pytest.raises(ValueError, match="decoder_std must be"):
        VAEConfig(likelihood='gaussian', decoder_std=0.0)
    model = VAE(CONFIGS['mlp-bernoulli'])
    with pytest.raises(ValueError, match=r"VAE.encode: expected x of shape \(N, 5\), got \(3, 4\)"):
        model.encode(sg.zeros(3, 4))
    with pytest.raises(ValueError, match=r"VAE.decode: expected z of shape \(N, 2\), got \(3, 3\)"):
        model.decode(sg.zeros(3, 3))
    with pytest.raises(TypeError, match='VAEConfig'):
        VAE({'latent_dim': 2})


# ----------------------------------------------------------------------------- PyTorch
def _bench_module():
    """bench/vae.py, whose PyTorch twin of the VAE the benchmark times: checking it here
    makes sure the benchmark compares the same model."""
    path = pathlib.Path(__file__).resolve().parents[2] / 'bench' / 'vae.py'
    spec = importlib.util.spec_from_file_location('bench_vae', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('arch', ['mlp', 'conv'])
def test_loss_and_gradients_match_pytorch(arch):
    torch = pytest.importorskip('torch')
    config = VAEConfig(data_shape=(1, 8, 8), latent_dim=3, arch=arch, hidden=(16,),
                       channels=(4, 6), beta=0.5)
    sg.manual_seed(0)
    model = VAE(config).double()
    net = _bench_module().build_torch_vae(config, torch).double()
    net.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(8)
    x = (rng.random((5, 1, 8, 8)) > 0.5).astype(np.float64)
    eps = rng.standard_normal((5, 3))
    loss = model.loss(sg.tensor(x), sg.tensor(eps))
    loss.backward()
    expected = net.loss(torch.tensor(x), torch.tensor(eps))
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    grads = dict(net.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=name)
