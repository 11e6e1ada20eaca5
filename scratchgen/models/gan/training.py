"""Training a GAN: the papers' optimizer presets, ``GANConfig`` and the ``GAN`` step.

``GAN.train_step`` is one step of the game: ``n_critic`` critic updates, then one
generator update. The loop around it lives in the demos (demos/gan_toy2d.py,
demos/dcgan_images.py); docs/gan.md explains each piece.
"""
from dataclasses import dataclass, field

from ... import optim
from ... import functional as F
from ...autograd import no_grad, randn
from ...checks import int_at_least, positive_int
from .losses import LOSSES, critic_scores, make_loss
from .networks import (ConvAutoencoderDiscriminator, DCGANDiscriminator, DCGANGenerator,
                       MLPAutoencoderDiscriminator, MLPDiscriminator, MLPGenerator)

__all__ = ['PRESETS', 'make_optimizers', 'GANConfig', 'GAN']


# Optimizer settings from the papers that introduced each method.
PRESETS = {
    # Goodfellow et al. 2014, the MNIST run of their code: SGD, momentum 0.5, k = 1
    'gan2014': dict(optimizer='sgd', lr=0.1, momentum=0.5, n_critic=1),
    # Radford et al. 2016 (DCGAN): Adam, lr 2e-4, beta1 0.5; batch 128
    'dcgan': dict(optimizer='adam', lr=2e-4, betas=(0.5, 0.999), n_critic=1),
    # Mao et al. 2017 (LSGAN) train with DCGAN's Adam settings
    'lsgan': dict(optimizer='adam', lr=2e-4, betas=(0.5, 0.999), n_critic=1),
    # Arjovsky et al. 2017 (WGAN): RMSprop lr 5e-5, 5 critic steps, clip 0.01; batch 64
    'wgan': dict(optimizer='rmsprop', lr=5e-5, n_critic=5),
    # Gulrajani et al. 2017 (WGAN-GP): Adam lr 1e-4, betas (0, 0.9), 5 critic steps,
    # lambda 10; batch 64
    'wgan-gp': dict(optimizer='adam', lr=1e-4, betas=(0.0, 0.9), n_critic=5),
}


def make_optimizers(preset, generator, discriminator, **overrides):
    """(g_optimizer, d_optimizer, n_critic) from a ``PRESETS`` name (or a dict like its
    entries); ``overrides`` replace entries, e.g. ``lr=1e-4, n_critic=1``."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"make_optimizers: unknown preset {preset!r}; expected one of "
                             f"{sorted(PRESETS)}")
        preset = PRESETS[preset]
    cfg = dict(preset, **overrides)
    n_critic = cfg.pop('n_critic', 1)
    kind = cfg.pop('optimizer')
    cls = {'adam': optim.Adam, 'rmsprop': optim.RMSprop, 'sgd': optim.SGD}.get(kind)
    if cls is None:
        raise ValueError(f"make_optimizers: unknown optimizer {kind!r}; expected 'adam', "
                         "'rmsprop' or 'sgd'")
    return cls(generator.parameters(), **cfg), cls(discriminator.parameters(), **cfg), n_critic


@dataclass
class GANConfig:
    """The settings a user picks for a GAN; ``GAN.from_config(config)`` builds it.

    arch: 'mlp' (points: ``MLPGenerator``/``MLPDiscriminator``) or 'dcgan' (images:
        ``DCGANGenerator``/``DCGANDiscriminator``).
    data_dim: dimension of one point (mlp); channels, image_size: the images (dcgan).
    latent_dim: dimension of the noise z.
    width: hidden units of every MLP layer, or DCGAN's channels at full resolution.
    depth: hidden layers of each MLP (dcgan: fixed by image_size).
    g_batch_norm: batch norm in the MLP generator (the DCGAN generator always has it).
    d_norm: normalisation in the DCGAN discriminator: 'batch', 'layer', 'spectral' or
        None ('layer' or None for the gradient penalty, which batch norm breaks; 'batch',
        'layer' or None for EBGAN's autoencoder).
    n_classes, conditioning: conditional on integer labels (None: unconditional), by
        'projection' or 'concat' in the discriminator.
    loss, loss_options: the objective, ``make_loss(loss, **loss_options)``. With
        loss='ebgan' the discriminator is an autoencoder (``MLPAutoencoderDiscriminator``
        of ``depth`` layers per half, or ``ConvAutoencoderDiscriminator``) with a
        ``code_dim`` code; EBGAN is unconditional.
    preset, optim_options, n_critic: the optimizers, ``make_optimizers(preset, G, D,
        **optim_options)`` (preset None: the loss's own paper; n_critic None: the preset's).
    aux_weight, aux_on_fakes: the AC-GAN class head (dcgan, conditional; 0: none).
    """
    arch: str = 'mlp'
    data_dim: int = 2
    channels: int = 3
    image_size: int = 32
    latent_dim: int = 2
    width: int = 128
    depth: int = 3
    g_batch_norm: bool = True
    d_norm: object = 'batch'
    n_classes: object = None
    conditioning: str = 'projection'
    loss: str = 'nonsaturating'
    loss_options: dict = field(default_factory=dict)
    preset: object = None
    optim_options: dict = field(default_factory=dict)
    n_critic: object = None
    aux_weight: float = 0.0
    aux_on_fakes: bool = True
    code_dim: int = 32

    def __post_init__(self):
        who = 'GANConfig'
        if self.arch not in ('mlp', 'dcgan'):
            raise ValueError(f"{who}: arch must be 'mlp' or 'dcgan', got {self.arch!r}")
        for name in ('data_dim', 'channels', 'latent_dim', 'width', 'depth', 'code_dim'):
            positive_int(getattr(self, name), name, who)
        if self.loss not in LOSSES:
            raise ValueError(f"{who}: unknown loss {self.loss!r}; expected one of "
                             f"{sorted(LOSSES)}")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"{who}: unknown preset {self.preset!r}; expected None or one of "
                             f"{sorted(PRESETS)}")
        if self.n_classes is not None:
            int_at_least(self.n_classes, 2, 'n_classes (None or a count)', who)
            if self.loss == 'ebgan':
                raise ValueError(f"{who}: loss='ebgan' is unconditional; got n_classes="
                                 f"{self.n_classes} (use n_classes=None)")
        if self.aux_weight and (self.arch != 'dcgan' or self.n_classes is None):
            raise ValueError(f"{who}: aux_weight={self.aux_weight} needs arch='dcgan' and "
                             f"n_classes (the class head is on the DCGAN discriminator)")
        # the rest (d_norm, conditioning, image_size, n_critic, aux_weight >= 0) is checked
        # by the networks and GAN that from_config builds


class GAN:
    """Alternating training of a generator and a discriminator/critic.
    ``GAN.from_config(GANConfig(...))`` builds the networks and optimizers from one config.

    ``loss``: a ``GANLoss`` or its name (see ``make_loss``). Optimizers come from
    ``preset`` (a ``PRESETS`` name; default: the loss's own paper) with ``overrides``
    (e.g. ``lr=1e-4, betas=(0.5, 0.9), n_critic=5``), unless ``g_optimizer`` and
    ``d_optimizer`` are given. One ``train_step`` makes ``n_critic`` critic updates,
    each on a fresh real batch, then one generator update on a batch of the same size
    (and, when conditional, the last real batch's labels).

    ``aux_weight`` > 0 (AC-GAN, Odena et al. 2017; needs a conditional D with
    ``aux_classifier=True``): D also learns to classify real and generated images by
    their label, and G is also trained to make its images classified as the label they
    were generated for; both cross-entropies enter the losses with this weight.
    ``aux_on_fakes=False`` trains D's class head on real images only, so that it stays a
    classifier of the data that G's images must satisfy (the paper trains it on both).
    """

    def __init__(self, generator, discriminator, loss='nonsaturating', preset=None,
                 g_optimizer=None, d_optimizer=None, n_critic=None, aux_weight=0.0,
                 aux_on_fakes=True, **overrides):
        self.G, self.D = generator, discriminator
        if not aux_weight >= 0:
            raise ValueError(f"GAN: aux_weight must be >= 0, got {aux_weight!r}")
        if aux_weight and getattr(discriminator, 'classifier', None) is None:
            raise ValueError(f"GAN: aux_weight={aux_weight} needs a discriminator with a class "
                             f"head (DCGANDiscriminator(n_classes=..., aux_classifier=True))")
        self.aux_weight, self.aux_on_fakes = float(aux_weight), bool(aux_on_fakes)
        self.loss = make_loss(loss)
        self.loss.check_critic(discriminator, 'GAN')
        if (g_optimizer is None) != (d_optimizer is None):
            raise ValueError("GAN: give both g_optimizer and d_optimizer, or neither")
        if g_optimizer is None:
            g_optimizer, d_optimizer, preset_critic = make_optimizers(
                preset or self.loss.preset, generator, discriminator, **overrides)
            n_critic = preset_critic if n_critic is None else n_critic
        elif overrides or preset is not None:
            raise ValueError("GAN: preset/overrides apply only when the optimizers are not given")
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.n_critic = 1 if n_critic is None else positive_int(n_critic, 'n_critic', 'GAN')
        self.steps = 0
        self.config = None

    @classmethod
    def from_config(cls, config, device=None):
        """The generator, discriminator and optimizers that a ``GANConfig`` describes,
        on ``device``. The config is kept as ``.config``."""
        if not isinstance(config, GANConfig):
            raise TypeError(f"GAN.from_config: expected a GANConfig, got {type(config).__name__}")
        c = config
        ebgan = c.loss == 'ebgan'
        if c.arch == 'mlp':
            G = MLPGenerator(c.latent_dim, c.data_dim, c.width, c.depth,
                             batch_norm=c.g_batch_norm, n_classes=c.n_classes)
            D = MLPAutoencoderDiscriminator(c.data_dim, c.width, c.depth, c.code_dim) if ebgan \
                else MLPDiscriminator(c.data_dim, c.width, c.depth, n_classes=c.n_classes,
                                      conditioning=c.conditioning)
        else:
            G = DCGANGenerator(c.latent_dim, c.channels, c.image_size, c.width,
                               n_classes=c.n_classes)
            D = ConvAutoencoderDiscriminator(c.channels, c.image_size, c.width, c.code_dim,
                                             norm=c.d_norm) if ebgan \
                else DCGANDiscriminator(c.channels, c.image_size, c.width, norm=c.d_norm,
                                        n_classes=c.n_classes, conditioning=c.conditioning,
                                        aux_classifier=c.aux_weight > 0)
        model = cls(G.to(device), D.to(device), make_loss(c.loss, **c.loss_options),
                    preset=c.preset, n_critic=c.n_critic, aux_weight=c.aux_weight,
                    aux_on_fakes=c.aux_on_fakes, **c.optim_options)
        model.config = config
        return model

    def _noise(self, n, ref):
        return randn(n, self.G.latent_dim, dtype=ref.dtype, device=ref.device)

    def _scores(self, x, labels):
        """D's scores and, when training an AC head, its class logits (else None)."""
        if self.aux_weight:
            return self.D(x, labels, return_logits=True)
        return critic_scores(self.D, x, labels), None

    def critic_step(self, real, labels=None):
        """One update of D on a real batch and as many fresh fakes. Returns floats."""
        with no_grad():
            fake = self.G(self._noise(real.shape[0], real), labels)
        (d_real, c_real), (d_fake, c_fake) = self._scores(real, labels), self._scores(fake, labels)
        loss = self.loss.d_loss(d_real, d_fake)
        stats = {'d_loss': loss.item(), 'd_real': d_real.mean().item(),
                 'd_fake': d_fake.mean().item()}
        if self.aux_weight:
            aux = F.cross_entropy(c_real, labels)
            if self.aux_on_fakes:
                aux = aux + F.cross_entropy(c_fake, labels)
            stats['d_aux'] = aux.item()
            loss = loss + self.aux_weight * aux
        penalty = self.loss.penalty(self.D, real, fake, labels)
        if penalty is not None:
            stats['penalty'] = penalty.item()
            loss = loss + penalty
        self.d_optimizer.zero_grad()
        loss.backward()
        self.d_optimizer.step()
        self.loss.after_critic_step(self.D)
        return stats

    def generator_step(self, n, labels=None, ref=None):
        """One update of G on ``n`` fresh fakes. D's weights get no gradient (cheaper)."""
        p = next(iter(self.G.parameters())) if ref is None else ref
        self.D.requires_grad_(False)
        try:
            fake = self.G(self._noise(n, p), labels)
            score, logits = self._scores(fake, labels)
            loss = self.loss.g_loss(score)
            stats = {}
            if self.aux_weight:
                loss = loss + self.aux_weight * F.cross_entropy(logits, labels)
            penalty = self.loss.generator_penalty(self.D, fake, labels)
            if penalty is not None:
                stats['g_penalty'] = penalty.item()
                loss = loss + penalty
            self.g_optimizer.zero_grad()
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        self.g_optimizer.step()
        return {'g_loss': loss.item(), **stats}

    def train_step(self, next_batch):
        """``n_critic`` critic steps then one generator step. ``next_batch``: a callable
        or iterator giving a real batch x, or (x, labels) for a conditional GAN.
        Returns the last critic step's numbers and the generator loss."""
        for _ in range(self.n_critic):
            batch = next_batch() if callable(next_batch) else next(next_batch)
            real, labels = batch if isinstance(batch, (tuple, list)) else (batch, None)
            stats = self.critic_step(real, labels)
        stats.update(self.generator_step(real.shape[0], labels, real))
        self.steps += 1
        return stats

    def sample(self, n, labels=None):
        return self.G.sample(n, labels)

    def __repr__(self):
        return (f"GAN(loss={self.loss!r}, n_critic={self.n_critic}, "
                f"g_optimizer={type(self.g_optimizer).__name__}, "
                f"d_optimizer={type(self.d_optimizer).__name__})")
