"""Variational autoencoders (``VAE``) and, for contrast, a plain ``Autoencoder``.

A VAE (Kingma & Welling, 2014) models data x through a latent code z in R^d:

    p(z) = N(0, I)                                   prior
    p_θ(x | z) = Bernoulli(x; sigmoid(decoder(z)))   or  N(x; decoder(z), σ²)    decoder
    q_φ(z | x) = N(z; μ(x), diag σ²(x))              encoder, outputs (μ, log σ²)

and is trained by maximising the evidence lower bound (ELBO) on log p_θ(x):

    ELBO(x) = E_{q_φ(z|x)}[ log p_θ(x | z) ] − β · KL( q_φ(z | x) ‖ p(z) )   ≤ log p_θ(x)  (β = 1)
    KL      = ½ Σ_j ( μ_j² + σ_j² − log σ_j² − 1 )                          (closed form)
    z       = μ + σ ⊙ ε,   ε ~ N(0, I)            (reparameterisation: z is differentiable in μ, σ)

``log_likelihood(x, k)`` estimates log p_θ(x) with the importance-weighted bound (IWAE)

    L_k(x) = log (1/k) Σ_i  p_θ(x | z_i) p(z_i) / q_φ(z_i | x),    z_i ~ q_φ(z | x),

with E[L_1] = ELBO ≤ E[L_k] ≤ E[L_{k+1}] → log p_θ(x). The derivation, which line
computes which term, and measured results: docs/vae.md.

``VAEConfig`` picks the networks: an MLP on flattened x (2-D points or images) or
stride-2 convolutions (images), and the decoder likelihood. With ``latent_shape=(C, h, w)``
(arch 'conv') the latent is a small image itself: the encoder is fully convolutional and
outputs (2C, h, w) (μ and log σ² per latent pixel), the decoder maps (C, h, w) back to x
with convolutions only, and the KL sums over all C·h·w latent dimensions. That is the
autoencoder a latent diffusion model runs in (docs/text_to_image.md). Training is
``loss = vae.loss(batch); loss.backward(); opt.step()``, written out in the demos
(demos/vae_jars.py, demos/vae_images.py).
"""
import math
from collections import namedtuple
from dataclasses import dataclass, asdict

from .. import checks, nn
from ..autograd import Parameter, no_grad, rand, randn, zeros
from ..functional import binary_cross_entropy_with_logits, sigmoid, stack

__all__ = ['VAEConfig', 'VAE', 'Autoencoder', 'Encoder', 'Decoder', 'ELBOTerms',
           'gaussian_kl']

LOG_2PI = math.log(2.0 * math.pi)

ELBOTerms = namedtuple('ELBOTerms', 'elbo log_px_z kl')
ELBOTerms.__doc__ = """Per-example terms, each (N,): elbo = log_px_z − kl (β = 1);
log_px_z is the one-sample estimate of E_q[log p(x|z)]; kl is exact."""


# ----------------------------------------------------------------------------- config
@dataclass
class VAEConfig:
    """Architecture and likelihood of a VAE or Autoencoder.

    data_shape: (D,) for vectors such as 2-D points, (C, H, W) for images.
    arch: 'mlp' (dense layers on the flattened x) or 'conv' (images only: one
        Conv2d(kernel 4, stride 2, padding 1) + ReLU per entry of ``channels``, each
        halving H and W, then dense layers; the decoder mirrors it with ConvTranspose2d).
    hidden: widths of the dense hidden layers (the decoder uses them in reverse).
    likelihood: 'bernoulli' (the decoder outputs logits; x in [0, 1]) or 'gaussian'.
    decoder_std: Gaussian σ of p(x|z): a fixed number, or 'learned' (one log σ per data
        dimension, a parameter, floored at ``min_std``).
    beta: weight of the KL term in the training loss (1 gives the ELBO).
    latent_shape: None (a flat latent of ``latent_dim`` numbers) or (C, h, w), a spatial
        latent for arch 'conv', with h, w the image size after the stride-2 stages
        (H / 2^len(channels)); latent_dim is then C·h·w. ``conv_depth`` extra 3x3
        conv + ReLU layers follow each stride-2 stage (and precede each upsampling one).
    """
    data_shape: tuple = (1, 16, 16)
    latent_dim: int = 16
    arch: str = 'mlp'
    hidden: tuple = (256, 256)
    channels: tuple = (32, 64)
    likelihood: str = 'bernoulli'
    decoder_std: object = 'learned'
    min_std: float = 1e-3
    beta: float = 1.0
    latent_shape: object = None
    conv_depth: int = 0

    def __post_init__(self):
        who = 'VAEConfig'
        self.data_shape = checks.int_tuple(self.data_shape, 'data_shape', who)
        self.hidden = tuple(checks.positive_int(h, 'hidden width', who) for h in self.hidden)
        self.channels = tuple(checks.positive_int(c, 'channels', who) for c in self.channels)
        self.latent_dim = checks.positive_int(self.latent_dim, 'latent_dim', who)
        checks.one_of(self.arch, ('mlp', 'conv'), 'arch', who)
        if self.arch == 'conv':
            if len(self.data_shape) != 3:
                raise ValueError(f"{who}: arch='conv' needs images, data_shape (C, H, W); got "
                                 f"{self.data_shape}")
            if not self.channels:
                raise ValueError(f"{who}: arch='conv' needs at least one entry in channels")
            smallest = 2 ** len(self.channels)
            if min(self.data_shape[1:]) < smallest:
                raise ValueError(f"{who}: {len(self.channels)} stride-2 stages need images of at "
                                 f"least {smallest}x{smallest}, got {self.data_shape}")
        checks.one_of(self.likelihood, ('bernoulli', 'gaussian'), 'likelihood', who)
        if self.decoder_std != 'learned' and not (isinstance(self.decoder_std, (int, float))
                                                  and self.decoder_std > 0):
            raise ValueError(f"{who}: decoder_std must be 'learned' or a positive number, got "
                             f"{self.decoder_std!r}")
        self.min_std = checks.number(self.min_std, 'min_std', who, low=0, low_open=True)
        self.beta = checks.number(self.beta, 'beta', who, low=0)
        self.conv_depth = checks.nonnegative_int(self.conv_depth, 'conv_depth', who)
        if self.latent_shape is not None:
            self.latent_shape = checks.int_tuple(self.latent_shape, 'latent_shape', who)
            if self.arch != 'conv' or len(self.latent_shape) != 3:
                raise ValueError(f"{who}: a spatial latent_shape (C, h, w) needs arch='conv', "
                                 f"got arch={self.arch!r}, latent_shape={self.latent_shape}")
            hw = tuple(_conv_sizes(self)[-1])
            if tuple(self.latent_shape[1:]) != hw:
                raise ValueError(f"{who}: latent_shape {self.latent_shape} must have the spatial "
                                 f"size {hw} that {len(self.channels)} stride-2 stages give "
                                 f"for data_shape {self.data_shape}")
            self.latent_dim = math.prod(self.latent_shape)

    @property
    def z_shape(self):
        """The shape of one z: (latent_dim,) or the spatial latent_shape (C, h, w)."""
        return (self.latent_dim,) if self.latent_shape is None else tuple(self.latent_shape)

    @property
    def data_size(self):
        """Number of dimensions of one x (D, or C*H*W)."""
        return math.prod(self.data_shape)


def _config(config, overrides):
    if config is None:
        return VAEConfig(**overrides)
    if not isinstance(config, VAEConfig):
        raise TypeError(f"expected a VAEConfig, got {type(config).__name__}")
    return VAEConfig(**{**asdict(config), **overrides}) if overrides else config


# ----------------------------------------------------------------------------- networks
def _mlp(sizes):
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _conv_sizes(config):
    """Spatial size (H, W) before each stride-2 stage and after the last."""
    sizes = [config.data_shape[1:]]
    for _ in config.channels:
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))     # kernel 4, stride 2, padding 1 halves (floor)
    return sizes


def _conv_stack(c, depth):
    """``depth`` 3x3 conv + ReLU layers at a constant width c."""
    layers = []
    for _ in range(depth):
        layers += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU()]
    return layers


class Encoder(nn.Module):
    """x (N, *data_shape) -> (N, out_features): features (flatten, or stride-2 convs),
    then an MLP. The VAE asks for 2d outputs (μ and log σ²), the Autoencoder for d.
    With a spatial ``latent_shape`` (C, h, w): stride-2 convs, then a 3x3 conv to
    ``out_channels`` (2C for the VAE), no dense layers: (N, out_channels, h, w)."""

    def __init__(self, config, out_features, out_channels=None):
        super().__init__()
        if config.latent_shape is not None:
            layers, c_in = [], config.data_shape[0]
            for c_out in config.channels:
                layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
                layers += _conv_stack(c_out, config.conv_depth)
                c_in = c_out
            self.features = nn.Sequential(*layers)
            self.head = nn.Conv2d(c_in, out_channels, 3, padding=1)
            return
        if config.arch == 'mlp':
            self.features = nn.Flatten()
            n_features = config.data_size
        else:
            layers, c_in = [], config.data_shape[0]
            for c_out in config.channels:
                layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
                c_in = c_out
            self.features = nn.Sequential(*layers, nn.Flatten())
            h, w = _conv_sizes(config)[-1]
            n_features = c_in * h * w
        self.head = _mlp((n_features,) + config.hidden + (out_features,))

    def forward(self, x):
        return self.head(self.features(x))


class Decoder(nn.Module):
    """z (N, d) -> (N, *data_shape): the raw parameters of p(x|z) (logits, or the
    Gaussian mean). The mirror image of ``Encoder``."""

    def __init__(self, config):
        super().__init__()
        self.data_shape = config.data_shape
        self.spatial = config.latent_shape is not None
        if self.spatial:        # fully convolutional: 3x3 conv in, then the mirror image
            self.sizes = _conv_sizes(config)[::-1]
            c = config.channels[::-1]
            self.body = nn.Sequential(nn.Conv2d(config.latent_shape[0], c[0], 3, padding=1),
                                      nn.ReLU(), *_conv_stack(c[0], config.conv_depth))
            outs = c[1:] + (config.data_shape[0],)
            self.deconvs = nn.ModuleList([nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
                                          for c_in, c_out in zip(c, outs)])
            self.refine = nn.ModuleList([nn.Sequential(*_conv_stack(c_out, config.conv_depth))
                                         for c_out in outs[:-1]])
            return
        widths = (config.latent_dim,) + config.hidden[::-1]
        if config.arch == 'mlp':
            self.body = _mlp(widths + (config.data_size,))
            self.deconvs = None
            return
        self.sizes = _conv_sizes(config)[::-1]           # smallest first
        c = config.channels[::-1]
        h, w = self.sizes[0]
        self.body = nn.Sequential(_mlp(widths + (c[0] * h * w,)), nn.ReLU(),
                                  nn.Unflatten(1, (c[0], h, w)))
        outs = c[1:] + (config.data_shape[0],)
        self.deconvs = nn.ModuleList([nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
                                      for c_in, c_out in zip(c, outs)])

    def forward(self, z):
        h = self.body(z)
        if self.deconvs is None:
            return h.reshape((len(z),) + self.data_shape)
        for i, deconv in enumerate(self.deconvs):
            # output_size recovers odd sizes the encoder floored (7 -> 3 -> 7, not 6)
            h = deconv(h, output_size=self.sizes[i + 1])
            if i < len(self.deconvs) - 1:
                h = h.relu()
                if self.spatial:
                    h = self.refine[i](h)
        return h


# ----------------------------------------------------------------------------- models
def gaussian_kl(mu, logvar):
    """KL( N(μ, diag exp(logvar)) ‖ N(0, I) ) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1), over
    the last axis (over all axes after the first for a spatial latent (N, C, h, w))."""
    if mu.ndim > 2:
        mu, logvar = mu.reshape(mu.shape[0], -1), logvar.reshape(logvar.shape[0], -1)
    return 0.5 * (mu * mu + logvar.exp() - logvar - 1.0).sum(axis=-1)


class _LatentVariableModel(nn.Module):
    """What the VAE and the Autoencoder share: the config, the decoder likelihood."""

    def __init__(self, config, overrides):
        super().__init__()
        self.config = _config(config, overrides)
        cfg = self.config
        if cfg.likelihood == 'gaussian' and cfg.decoder_std == 'learned':
            self.log_sigma = Parameter(zeros(*cfg.data_shape))      # σ = 1 at the start

    def _check_x(self, x, who):
        shape = tuple(self.config.data_shape)
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"{type(self).__name__}.{who}: expected x of shape (N, "
                             f"{', '.join(map(str, shape))}), got {x.shape}")
        if x.dtype.kind != 'f':
            raise TypeError(f"{type(self).__name__}.{who}: expected a floating x, got {x.dtype}")

    def log_px_given_z(self, x, out):
        """log p(x | z) per example (N,), given the decoder output ``out`` for z."""
        cfg = self.config
        if cfg.likelihood == 'bernoulli':
            # log Bernoulli(x; sigmoid(out)) = −BCE(out, x), stable for any logit
            log_p = -binary_cross_entropy_with_logits(out, x, reduction='none')
        else:
            if cfg.decoder_std == 'learned':
                log_sigma = self.log_sigma.clip(min=math.log(cfg.min_std))
                r = (x - out) * (-log_sigma).exp()
            else:
                log_sigma = math.log(cfg.decoder_std)
                r = (x - out) * (1.0 / cfg.decoder_std)
            log_p = -0.5 * r * r - log_sigma - 0.5 * LOG_2PI
        return log_p.reshape(len(x), -1).sum(axis=1)

    def decode(self, z):
        """The mean of p(x | z): probabilities (Bernoulli) or the Gaussian mean; (N, *data_shape)."""
        zs = self.config.z_shape
        if z.ndim != len(zs) + 1 or tuple(z.shape[1:]) != zs:
            raise ValueError(f"{type(self).__name__}.decode: expected z of shape (N, "
                             f"{', '.join(map(str, zs))}), got {z.shape}")
        out = self.decoder(z)
        return sigmoid(out) if self.config.likelihood == 'bernoulli' else out


class VAE(_LatentVariableModel):
    """Variational autoencoder; see the module docstring for the objective.

        vae = VAE(VAEConfig(data_shape=(1, 16, 16), latent_dim=16, arch='conv'))
        loss = vae.loss(x)                 # −(E_q[log p(x|z)] − β KL), mean over the batch
        ll = vae.log_likelihood(x, k=100)  # IWAE estimate of log p(x), nats per example

    Keyword arguments override fields of ``config`` (``VAE(latent_dim=2)``).
    """

    def __init__(self, config=None, **overrides):
        super().__init__(config, overrides)
        cfg = self.config
        spatial_c = None if cfg.latent_shape is None else 2 * cfg.latent_shape[0]
        self.encoder = Encoder(cfg, 2 * cfg.latent_dim, spatial_c)
        self.decoder = Decoder(cfg)

    def encode(self, x):
        """q(z | x): (μ, log σ²), each (N, d), or (N, C, h, w) for a spatial latent."""
        self._check_x(x, 'encode')
        h = self.encoder(x)
        d = self.config.latent_dim if self.config.latent_shape is None \
            else self.config.latent_shape[0]
        return h[:, :d], h[:, d:]

    @staticmethod
    def reparameterize(mu, logvar, eps=None):
        """z = μ + σ ε with ε ~ N(0, I) (or the given ``eps``, e.g. fixed for a gradcheck)."""
        if eps is None:
            eps = randn(*mu.shape, dtype=mu.dtype, device=mu.device)
        return mu + (0.5 * logvar).exp() * eps

    def elbo(self, x, eps=None):
        """Per-example ``ELBOTerms(elbo, log_px_z, kl)``, one z sample per x (β = 1)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, eps)
        log_px_z = self.log_px_given_z(x, self.decoder(z))
        kl = gaussian_kl(mu, logvar)
        return ELBOTerms(log_px_z - kl, log_px_z, kl)

    forward = elbo

    def loss(self, x, eps=None):
        """The training loss: −(E_q[log p(x|z)] − β KL), averaged over the batch."""
        terms = self.elbo(x, eps)
        return -(terms.log_px_z - self.config.beta * terms.kl).mean()

    def log_likelihood(self, x, k=100, batch_k=None):
        """IWAE estimate L_k of log p(x) per example (N,), in nats; no gradients.

        The k importance samples are drawn ``batch_k`` at a time (default: about 4096
        decoder rows per batch) and combined with logsumexp, so memory stays bounded
        for any k.
        """
        k = checks.positive_int(k, 'k', 'VAE.log_likelihood')
        with no_grad():
            mu, logvar = self.encode(x)
            n, d, zs = mu.shape[0], self.config.latent_dim, self.config.z_shape
            mu, logvar = mu.reshape(n, d), logvar.reshape(n, d)
            batch_k = batch_k or max(1, min(k, 4096 // max(n, 1)))
            sigma = (0.5 * logvar).exp()
            parts = []
            for start in range(0, k, batch_k):
                m = min(batch_k, k - start)
                eps = randn(m, n, d, dtype=mu.dtype, device=mu.device)
                z = mu + sigma * eps                                         # (m, N, d)
                x_rep = x.unsqueeze(0).expand((m,) + x.shape).reshape((m * n,) + x.shape[1:])
                log_px_z = self.log_px_given_z(x_rep, self.decoder(z.reshape((m * n,) + zs)))
                log_pz = -0.5 * (z * z + LOG_2PI).sum(axis=-1)
                log_qz = -0.5 * (eps * eps + logvar + LOG_2PI).sum(axis=-1)   # (z−μ)/σ = ε
                log_w = log_px_z.reshape(m, n) + log_pz - log_qz
                parts.append(log_w.logsumexp(axis=0))
            return stack(parts).logsumexp(axis=0) - math.log(k)

    def sample(self, n, mean=True):
        """n draws of x: decode z ~ N(0, I); ``mean=True`` gives the mean of p(x|z)
        (the usual picture), ``mean=False`` a sample from it."""
        p = next(self.parameters())
        z = randn(n, *self.config.z_shape, dtype=p.dtype, device=p.device)
        with no_grad():
            return self.decode(z) if mean else self._draw_x(z)

    def _draw_x(self, z):
        out = self.decoder(z)
        if self.config.likelihood == 'bernoulli':
            u = rand(*out.shape, dtype=out.dtype, device=out.device)
            return (u < sigmoid(out)).to(out.dtype)
        noise = randn(*out.shape, dtype=out.dtype, device=out.device)
        cfg = self.config
        sigma = self.log_sigma.clip(min=math.log(cfg.min_std)).exp() \
            if cfg.decoder_std == 'learned' else cfg.decoder_std
        return out + sigma * noise

    def reconstruct(self, x):
        """Decode the posterior mean μ(x): the model's best guess of x through z."""
        with no_grad():
            return self.decode(self.encode(x)[0])

    def interpolate(self, x0, x1, steps=8):
        """Decode the straight line between the posterior means of x0 and x1 (each
        (N, *data_shape)) in ``steps`` points -> (N, steps, *data_shape)."""
        with no_grad():
            mu0, mu1 = self.encode(x0)[0], self.encode(x1)[0]
            t = [i / (steps - 1) for i in range(steps)] if steps > 1 else [0.0]
            z = stack([mu0 * (1.0 - a) + mu1 * a for a in t], axis=1)         # (N, steps, *z)
            out = self.decode(z.reshape((-1,) + tuple(mu0.shape[1:])))
            return out.reshape((len(x0), steps) + tuple(self.config.data_shape))


class Autoencoder(_LatentVariableModel):
    """A plain (deterministic) autoencoder: z = encoder(x), trained to maximise
    log p(x | z) with the same decoder likelihood as the VAE, and no prior. Nothing
    asks its codes to fill N(0, I), so decoding random codes lands in holes
    (docs/vae.md shows it)."""

    def __init__(self, config=None, **overrides):
        super().__init__(config, overrides)
        cfg = self.config
        self.encoder = Encoder(cfg, cfg.latent_dim,
                               None if cfg.latent_shape is None else cfg.latent_shape[0])
        self.decoder = Decoder(cfg)

    def encode(self, x):
        self._check_x(x, 'encode')
        return self.encoder(x)

    def forward(self, x):
        return self.log_px_given_z(x, self.decoder(self.encode(x)))

    def loss(self, x):
        """−log p(x | z = encoder(x)), averaged over the batch."""
        return -self.forward(x).mean()

    def reconstruct(self, x):
        with no_grad():
            return self.decode(self.encode(x))

