"""Generative adversarial networks: the losses, the networks and the training loop.

A generator G maps noise z ~ N(0, I) to samples; a discriminator (a *critic* for the
Wasserstein losses) D gives each sample one real score s = D(x). They take turns, each
lowering its own loss (E over real x, noise z; σ the logistic sigmoid):

    minimax          L_D = −E log σ(D(x)) − E log(1 − σ(D(G(z))))
                     L_G =  E log(1 − σ(D(G(z))))               (G plays −L_D: a zero-sum game)
    non-saturating   L_D as above;  L_G = −E log σ(D(G(z)))
    least squares    L_D = ½E (D(x) − b)² + ½E (D(G(z)) − a)²;  L_G = ½E (D(G(z)) − c)²
    Wasserstein      L_D = E D(G(z)) − E D(x);  L_G = −E D(G(z));  D kept Lipschitz by
                     clipping every weight to [−c, c] after each critic step (WGAN)
                     or by adding λ E (‖∇ₓD(x̂)‖₂ − 1)², x̂ = εx + (1 − ε)G(z),
                     ε ~ U[0, 1] per sample, to L_D (WGAN-GP)

The logit losses use log σ(s) = −softplus(−s) and log(1 − σ(s)) = −softplus(s), stable
for any s. docs/gan.md derives each objective, explains mode collapse and the
evaluation measures, and holds the measured results.

    losses     MinimaxLoss, NonSaturatingLoss, LSGANLoss, WGANLoss, WGANGPLoss, make_loss,
               gradient_penalty, clip_weights_
    presets    PRESETS (optimizer settings of the original papers), make_optimizers
    networks   MLPGenerator, MLPDiscriminator (2-D toys), DCGANGenerator,
               DCGANDiscriminator (16x16 to 32x32 images); all optionally conditional
    training   GAN: n_critic critic steps, then one generator step

Conditional GANs pass integer labels y to both networks: the generator concatenates a
learned label embedding to z; the discriminator either concatenates an embedding to
its input ('concat') or adds the projection <embed(y), φ(x)> of its features to the
score ('projection', Miyato & Koyama 2018).
"""
import math

from .. import nn, optim
from .. import functional as F
from ..autograd import Tensor, grad, no_grad, rand, randn

__all__ = ['GANLoss', 'MinimaxLoss', 'NonSaturatingLoss', 'LSGANLoss', 'WGANLoss',
           'WGANGPLoss', 'HingeLoss', 'LOSSES', 'make_loss', 'gradient_penalty', 'clip_weights_',
           'PRESETS', 'make_optimizers', 'MLPGenerator', 'MLPDiscriminator',
           'DCGANGenerator', 'DCGANDiscriminator', 'GAN']


# ============================================================================ losses
class GANLoss:
    """One GAN objective: ``d_loss(real_scores, fake_scores)``, ``g_loss(fake_scores)``,
    an optional extra critic term ``penalty(D, real, fake, labels)`` and a hook run
    after each critic step, ``after_critic_step(D)``. Scores are D's raw outputs (N,).
    ``preset`` names the entry of ``PRESETS`` from the loss's own paper."""
    name = 'base'
    preset = 'dcgan'

    def d_loss(self, real, fake):
        raise NotImplementedError

    def g_loss(self, fake):
        raise NotImplementedError

    def penalty(self, critic, real, fake, labels=None):
        """Extra critic loss that needs the critic itself (None: none)."""
        return None

    def after_critic_step(self, critic):
        """Called after each critic update (weight clipping lives here)."""

    def __repr__(self):
        return f"{type(self).__name__}()"


class MinimaxLoss(GANLoss):
    """The original zero-sum game: D is a logistic classifier of real vs fake, and G
    minimises exactly what D maximises, E log(1 − D(G(z))). Its gradient vanishes when
    D confidently rejects the fakes (early in training): the loss saturates."""
    name = 'minimax'

    def d_loss(self, real, fake):
        # −log σ(r) = softplus(−r);  −log(1 − σ(f)) = softplus(f)
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake):
        return -F.softplus(fake).mean()            # E log(1 − σ(f))


class NonSaturatingLoss(MinimaxLoss):
    """D as in the minimax game; G maximises log D(G(z)) instead (Goodfellow et al.
    2014). Same fixed point, but strong gradients exactly where G is losing."""
    name = 'nonsaturating'

    def g_loss(self, fake):
        return F.softplus(-fake).mean()            # −E log σ(f)


class LSGANLoss(GANLoss):
    """Least squares (Mao et al. 2017): D regresses real scores to ``b`` and fake ones to
    ``a``; G pushes its scores to ``c``. With b − c = 1 and b − a = 2 (a=−1, b=1, c=0)
    the game minimises the Pearson χ² divergence between P_data + P_g and 2 P_g; the
    0-1 coding (a=0, b=c=1) is the common default."""
    name = 'lsgan'
    preset = 'lsgan'

    def __init__(self, a=0.0, b=1.0, c=1.0):
        self.a, self.b, self.c = float(a), float(b), float(c)

    def d_loss(self, real, fake):
        return 0.5 * ((real - self.b) ** 2).mean() + 0.5 * ((fake - self.a) ** 2).mean()

    def g_loss(self, fake):
        return 0.5 * ((fake - self.c) ** 2).mean()

    def __repr__(self):
        return f"LSGANLoss(a={self.a}, b={self.b}, c={self.c})"


class WGANLoss(GANLoss):
    """Wasserstein GAN (Arjovsky et al. 2017): the critic maximises E D(x) − E D(G(z)),
    a lower bound on the Earth-Mover distance W₁ (times K) as long as D is K-Lipschitz;
    every critic weight is clipped to [−clip, clip] after each critic step to keep
    it so."""
    name = 'wgan'
    preset = 'wgan'

    def __init__(self, clip=0.01):
        if not clip > 0:
            raise ValueError(f"WGANLoss: clip must be positive, got {clip!r}")
        self.clip = float(clip)

    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake):
        return -fake.mean()

    def after_critic_step(self, critic):
        clip_weights_(critic, self.clip)

    def __repr__(self):
        return f"WGANLoss(clip={self.clip})"


class WGANGPLoss(WGANLoss):
    """WGAN with a gradient penalty instead of clipping (Gulrajani et al. 2017): the
    optimal critic has gradient norm 1 almost everywhere between the two
    distributions, so deviations from 1 on random interpolates are penalised with
    weight ``lam`` (λ)."""
    name = 'wgan-gp'
    preset = 'wgan-gp'

    def __init__(self, lam=10.0):
        if not lam >= 0:
            raise ValueError(f"WGANGPLoss: lam must be >= 0, got {lam!r}")
        self.lam = float(lam)

    def penalty(self, critic, real, fake, labels=None):
        return gradient_penalty(critic, real, fake, labels, lam=self.lam)

    def after_critic_step(self, critic):
        pass

    def __repr__(self):
        return f"WGANGPLoss(lam={self.lam})"


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye 2017; used by SN-GAN and the projection discriminator of
    Miyato & Koyama 2018): D is a margin classifier, pushing real scores above +1 and
    fake ones below −1 and ignoring samples already past the margin; G raises its
    scores, −E D(G(z)), as in WGAN."""
    name = 'hinge'

    def d_loss(self, real, fake):
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_loss(self, fake):
        return -fake.mean()


LOSSES = {cls.name: cls for cls in (MinimaxLoss, NonSaturatingLoss, LSGANLoss, WGANLoss,
                                    WGANGPLoss, HingeLoss)}


def make_loss(name, **options):
    """A loss by name: 'minimax', 'nonsaturating', 'lsgan' (a, b, c), 'wgan' (clip),
    'wgan-gp' (lam), 'hinge'. A ``GANLoss`` instance is returned unchanged."""
    if isinstance(name, GANLoss):
        return name
    if name not in LOSSES:
        raise ValueError(f"make_loss: unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name](**options)


def _call(module, x, labels):
    return module(x) if labels is None else module(x, labels)


def gradient_penalty(critic, real, fake, labels=None, lam=10.0, eps=None):
    """λ E (‖∇ₓD(x̂)‖₂ − 1)² over x̂ = ε real + (1 − ε) fake, one ε ~ U[0, 1] per sample
    (or the given ``eps``, shape (N,)). The gradient is built with ``create_graph=True``
    so that the penalty itself can be differentiated with respect to D's weights."""
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {real.shape} and fake {fake.shape} must "
                         "have the same shape")
    n = real.shape[0]
    bshape = (n,) + (1,) * (real.ndim - 1)
    if eps is None:
        eps = rand(*bshape, dtype=real.dtype, device=real.device)
    else:
        eps = eps.reshape(bshape)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).detach().requires_grad_()
    scores = _call(critic, x_hat, labels)
    (g,) = grad(scores.sum(), [x_hat], create_graph=True)
    # the 1e-12 keeps sqrt differentiable where a gradient is exactly 0
    norm = ((g * g).reshape(n, -1).sum(1) + 1e-12).sqrt()
    return lam * ((norm - 1.0) ** 2).mean()


def clip_weights_(module, clip):
    """Clip every parameter of ``module`` to [−clip, clip] in place (WGAN)."""
    with no_grad():
        for p in module.parameters():
            p.data[...] = p.xp.clip(p.data, -clip, clip)
    return module


# ============================================================================ presets
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


# ============================================================================ networks
def _check_conditioning(conditioning, who):
    if conditioning not in ('concat', 'projection'):
        raise ValueError(f"{who}: conditioning must be 'concat' or 'projection', "
                         f"got {conditioning!r}")


def _check_labels(labels, n_classes, n, who):
    if n_classes is None:
        if labels is not None:
            raise ValueError(f"{who}: labels were given but the model is unconditional "
                             "(n_classes=None)")
        return
    if labels is None:
        raise ValueError(f"{who}: the model is conditional ({n_classes} classes); pass labels")
    if labels.shape != (n,) or labels.dtype.kind not in 'iu':
        raise ValueError(f"{who}: labels must be {n} integers, got shape {labels.shape} "
                         f"dtype {labels.dtype}")


class _Generator(nn.Module):
    """What the generators share: noise, labels and ``sample``."""

    def _noise_and_labels(self, z, labels):
        _check_labels(labels, self.n_classes, z.shape[0], type(self).__name__)
        if self.n_classes is None:
            return z
        return F.cat([z, self.embed(labels)], dim=1)

    def sample(self, n, labels=None):
        """``n`` samples (no gradient); ``labels`` (n,) int Tensor when conditional, or
        an int for n samples of one class."""
        p = next(iter(self.parameters()))
        if isinstance(labels, int):
            labels = Tensor(p.xp.full((n,), labels, dtype='int64'))
        with no_grad():
            return self(randn(n, self.latent_dim, dtype=p.dtype, device=p.device), labels)


class MLPGenerator(_Generator):
    """z (N, latent_dim) -> x (N, out_dim): ``depth`` hidden layers of ``hidden`` ReLU
    units (with batch norm before the ReLU when ``batch_norm``), a linear output.
    ``n_classes``: conditional on labels via an embedding concatenated to z."""

    def __init__(self, latent_dim=2, out_dim=2, hidden=256, depth=3, batch_norm=False,
                 n_classes=None, embed_dim=8):
        super().__init__()
        self.latent_dim, self.out_dim, self.n_classes = latent_dim, out_dim, n_classes
        if n_classes is not None:
            self.embed = nn.Embedding(n_classes, embed_dim)
        layers, width = [], latent_dim + (embed_dim if n_classes is not None else 0)
        for _ in range(depth):
            layers += [nn.Linear(width, hidden)] + ([nn.BatchNorm1d(hidden)] if batch_norm else [])
            layers.append(nn.ReLU())
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        return self.net(self._noise_and_labels(z, labels))


class MLPDiscriminator(nn.Module):
    """x (N, in_dim) -> scores (N,): ``depth`` hidden layers of ``hidden`` leaky-ReLU
    units. ``n_classes``: conditional, by 'concat' (label embedding appended to x) or
    'projection' (score + <embed(y), last hidden layer>)."""

    def __init__(self, in_dim=2, hidden=256, depth=3, negative_slope=0.2, n_classes=None,
                 conditioning='projection', embed_dim=8):
        super().__init__()
        _check_conditioning(conditioning, 'MLPDiscriminator')
        self.in_dim, self.n_classes, self.conditioning = in_dim, n_classes, conditioning
        width = in_dim
        if n_classes is not None:
            if conditioning == 'concat':
                self.embed = nn.Embedding(n_classes, embed_dim)
                width += embed_dim
            else:
                self.embed = nn.Embedding(n_classes, hidden)
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(negative_slope)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x, labels=None):
        _check_labels(labels, self.n_classes, x.shape[0], 'MLPDiscriminator')
        if self.n_classes is not None and self.conditioning == 'concat':
            x = F.cat([x, self.embed(labels)], dim=1)
        h = self.body(x)
        score = self.head(h).reshape(-1)
        if self.n_classes is not None and self.conditioning == 'projection':
            score = score + (self.embed(labels) * h).sum(1)
        return score


def _dcgan_init_(module):
    """DCGAN's initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _check_image_size(image_size, who):
    if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"{who}: image_size must be a power of two >= 8 (16 and 32 are "
                         f"the intended sizes), got {image_size!r}")
    return int(math.log2(image_size)) - 2            # stride-2 layers between 4x4 and it


class DCGANGenerator(_Generator):
    """DCGAN generator (Radford et al. 2016): z -> 4x4 by a transposed convolution, then
    stride-2 transposed convolutions (kernel 4, padding 1) doubling the size up to
    ``image_size``, channels halving from ``width * 2^(k-1)`` to ``width``; batch norm
    and ReLU after each but the last, tanh at the output (images in [−1, 1])."""

    def __init__(self, latent_dim=64, channels=3, image_size=32, width=32, n_classes=None,
                 embed_dim=16):
        super().__init__()
        k = _check_image_size(image_size, 'DCGANGenerator')
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        self.n_classes = n_classes
        if n_classes is not None:
            self.embed = nn.Embedding(n_classes, embed_dim)
        c_in = latent_dim + (embed_dim if n_classes is not None else 0)
        c = width * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(c_in, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init_(self)
        if n_classes is not None:
            nn.init.normal_(self.embed.weight)

    def forward(self, z, labels=None):
        h = self._noise_and_labels(z, labels)
        return self.net(h.reshape(h.shape[0], h.shape[1], 1, 1))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: stride-2 convolutions (kernel 4, padding 1) halving the size
    down to 4x4, channels doubling from ``width``, leaky ReLU (0.2); normalisation
    after each but the first: ``norm='batch'`` (DCGAN), ``'layer'`` (one group per
    sample, for the gradient penalty, which batch norm breaks), ``'spectral'`` (no
    normalisation layers; every convolution runs with W / σ(W), SN-GAN) or None. A
    final 4x4 convolution gives one score per image.

    Conditional (``n_classes``): 'concat' appends the label embedding as constant
    extra input channels; 'projection' adds <embed(y), Σ_hw φ(x)> to the score,
    φ(x) the last 4x4 feature map. ``aux_classifier=True`` adds a linear class head on
    the mean of φ(x) (AC-GAN, Odena et al. 2017): ``D(x, y, return_logits=True)`` gives
    (score, class logits), which ``GAN(aux_weight=...)`` trains."""

    def __init__(self, channels=3, image_size=32, width=32, norm='batch', n_classes=None,
                 conditioning='projection', embed_dim=8, aux_classifier=False):
        super().__init__()
        k = _check_image_size(image_size, 'DCGANDiscriminator')
        _check_conditioning(conditioning, 'DCGANDiscriminator')
        if norm not in ('batch', 'layer', 'spectral', None):
            raise ValueError(f"DCGANDiscriminator: norm must be 'batch', 'layer', 'spectral' "
                             f"or None, got {norm!r}")
        if aux_classifier and n_classes is None:
            raise ValueError("DCGANDiscriminator: aux_classifier=True needs n_classes")
        self.channels, self.image_size, self.n_classes = channels, image_size, n_classes
        self.conditioning = conditioning
        c_in = channels + (embed_dim if n_classes is not None and conditioning == 'concat' else 0)
        c = width
        layers = [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
        for _ in range(k - 1):
            layers.append(nn.Conv2d(c, 2 * c, 4, 2, 1, bias=norm in (None, 'spectral')))
            c *= 2
            if norm == 'batch':
                layers.append(nn.BatchNorm2d(c))
            elif norm == 'layer':
                layers.append(nn.GroupNorm(1, c))
            layers.append(nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, 4, 1, 0)
        _dcgan_init_(self)
        if norm == 'spectral':
            self.body = nn.Sequential(*[nn.SpectralNorm(m) if isinstance(m, nn.Conv2d) else m
                                        for m in layers])
            self.head = nn.SpectralNorm(self.head)
        if n_classes is not None:
            self.embed = nn.Embedding(n_classes, embed_dim if conditioning == 'concat' else c)
            nn.init.normal_(self.embed.weight, 0.0, 0.02 if conditioning == 'projection' else 1.0)
        self.classifier = nn.Linear(c, n_classes) if aux_classifier else None

    def forward(self, x, labels=None, return_logits=False):
        _check_labels(labels, self.n_classes, x.shape[0], 'DCGANDiscriminator')
        n, _, h, w = x.shape
        if self.n_classes is not None and self.conditioning == 'concat':
            e = self.embed(labels)
            x = F.cat([x, e.reshape(n, -1, 1, 1).expand(n, e.shape[1], h, w)], dim=1)
        feat = self.body(x)
        score = self.head(feat).reshape(-1)
        if self.n_classes is not None and self.conditioning == 'projection':
            score = score + (self.embed(labels) * feat.sum((2, 3))).sum(1)
        if return_logits:
            if self.classifier is None:
                raise ValueError("DCGANDiscriminator: return_logits=True needs "
                                 "aux_classifier=True")
            return score, self.classifier(feat.mean((2, 3)))
        return score


# ============================================================================ training
class GAN:
    """Alternating training of a generator and a discriminator/critic.

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
        if (g_optimizer is None) != (d_optimizer is None):
            raise ValueError("GAN: give both g_optimizer and d_optimizer, or neither")
        if g_optimizer is None:
            g_optimizer, d_optimizer, preset_critic = make_optimizers(
                preset or self.loss.preset, generator, discriminator, **overrides)
            n_critic = preset_critic if n_critic is None else n_critic
        elif overrides or preset is not None:
            raise ValueError("GAN: preset/overrides apply only when the optimizers are not given")
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.n_critic = 1 if n_critic is None else int(n_critic)
        if self.n_critic < 1:
            raise ValueError(f"GAN: n_critic must be >= 1, got {n_critic!r}")
        self.steps = 0

    def _noise(self, n, ref):
        return randn(n, self.G.latent_dim, dtype=ref.dtype, device=ref.device)

    def _scores(self, x, labels):
        """D's scores and, when training an AC head, its class logits (else None)."""
        if self.aux_weight:
            return self.D(x, labels, return_logits=True)
        return _call(self.D, x, labels), None

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
            score, logits = self._scores(self.G(self._noise(n, p), labels), labels)
            loss = self.loss.g_loss(score)
            if self.aux_weight:
                loss = loss + self.aux_weight * F.cross_entropy(logits, labels)
            self.g_optimizer.zero_grad()
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        self.g_optimizer.step()
        return {'g_loss': loss.item()}

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
