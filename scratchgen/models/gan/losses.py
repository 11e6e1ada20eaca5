"""The GAN objectives: one ``GANLoss`` per paper, the gradient penalty and weight clipping.

Each loss gives the critic's loss ``d_loss(real_scores, fake_scores)`` and the
generator's ``g_loss(fake_scores)`` on D's raw scores (for EBGAN: D's energies); the
equations are in the package docstring (``scratchgen/models/gan/__init__.py``) and
derived in docs/gan.md.
"""
from ... import functional as F
from ...autograd import grad, no_grad, rand
from ...checks import number

__all__ = ['GANLoss', 'MinimaxLoss', 'NonSaturatingLoss', 'LSGANLoss', 'WassersteinLoss',
           'WGANLoss', 'WGANGPLoss', 'HingeLoss', 'EBGANLoss', 'LOSSES', 'make_loss',
           'critic_scores', 'gradient_penalty', 'pulling_away', 'clip_weights_']


class GANLoss:
    """One GAN objective: ``d_loss(real_scores, fake_scores)``, ``g_loss(fake_scores)``,
    an optional extra critic term ``penalty(D, real, fake, labels)``, an optional extra
    generator term ``generator_penalty(D, fake, labels)``, a hook run after each critic
    step, ``after_critic_step(D)``, and ``check_critic(D, who)``, which raises when D
    is of the wrong kind for the loss. Scores are D's raw outputs (N,).
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

    def generator_penalty(self, critic, fake, labels=None):
        """Extra generator loss that needs the critic and G's samples (None: none)."""
        return None

    def after_critic_step(self, critic):
        """Called after each critic update (weight clipping lives here)."""

    def check_critic(self, critic, who):
        """Raise ValueError if ``critic`` cannot play this loss (any critic can, here)."""

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


class WassersteinLoss(GANLoss):
    """What WGAN and WGAN-GP share (Arjovsky et al. 2017): the critic maximises
    E D(x) − E D(G(z)), a lower bound on the Earth-Mover distance W₁ (times K) as long
    as D is K-Lipschitz, and G lowers −E D(G(z)). The subclasses differ only in how they
    keep D Lipschitz."""
    preset = 'wgan'

    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake):
        return -fake.mean()


class WGANLoss(WassersteinLoss):
    """Wasserstein GAN with weight clipping: every critic weight is clipped to
    [−clip, clip] after each critic step."""
    name = 'wgan'

    def __init__(self, clip=0.01):
        if not clip > 0:
            raise ValueError(f"WGANLoss: clip must be positive, got {clip!r}")
        self.clip = float(clip)

    def after_critic_step(self, critic):
        clip_weights_(critic, self.clip)

    def __repr__(self):
        return f"WGANLoss(clip={self.clip})"


class WGANGPLoss(WassersteinLoss):
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


class EBGANLoss(GANLoss):
    """Energy-based GAN (Zhao, Mathieu & LeCun 2017): D is an autoencoder and its
    "score" is an energy, the reconstruction error E(x) = mean_k (Dec(Enc(x))_k − x_k)²
    (``autoencoder_energy``), low on data. D lowers the energy of real samples and
    raises that of fakes up to the margin m, no further:
    L_D = E E(x) + E max(0, m − E(G(z))); G lowers the energy of its samples,
    L_G = E E(G(z)), plus ``pt_weight`` (λ_PT) times the pulling-away term of D's codes
    of the fakes (``pulling_away``), which rewards a batch of fakes whose codes point in
    different directions (against mode collapse). D must be an autoencoder
    discriminator (``MLPAutoencoderDiscriminator``, ``ConvAutoencoderDiscriminator``)."""
    name = 'ebgan'

    def __init__(self, margin=1.0, pt_weight=0.1):
        self.margin = number(margin, 'margin', 'EBGANLoss', low=0, low_open=True)
        self.pt_weight = number(pt_weight, 'pt_weight', 'EBGANLoss', low=0)

    def d_loss(self, real, fake):
        return real.mean() + F.relu(self.margin - fake).mean()

    def g_loss(self, fake):
        return fake.mean()

    def generator_penalty(self, critic, fake, labels=None):
        if not self.pt_weight:
            return None
        # a second pass through the encoder: the energy's pass is inside D's forward
        return self.pt_weight * pulling_away(critic.encode(fake))

    def check_critic(self, critic, who):
        if not callable(getattr(critic, 'encode', None)):
            raise ValueError(f"{who}: the 'ebgan' loss needs an autoencoder discriminator "
                             f"(D(x) an energy, D.encode(x) its codes), got "
                             f"{type(critic).__name__}")

    def __repr__(self):
        return f"EBGANLoss(margin={self.margin}, pt_weight={self.pt_weight})"


LOSSES = {cls.name: cls for cls in (MinimaxLoss, NonSaturatingLoss, LSGANLoss, WGANLoss,
                                    WGANGPLoss, HingeLoss, EBGANLoss)}


def make_loss(name, **options):
    """A loss by name: 'minimax', 'nonsaturating', 'lsgan' (a, b, c), 'wgan' (clip),
    'wgan-gp' (lam), 'hinge', 'ebgan' (margin, pt_weight). A ``GANLoss`` instance is
    returned unchanged."""
    if isinstance(name, GANLoss):
        return name
    if name not in LOSSES:
        raise ValueError(f"make_loss: unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name](**options)


def critic_scores(critic, x, labels=None):
    """D(x), or D(x, labels) for a conditional critic (a plain callable may take no labels)."""
    return critic(x) if labels is None else critic(x, labels)


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
    scores = critic_scores(critic, x_hat, labels)
    (g,) = grad(scores.sum(), [x_hat], create_graph=True)
    # the 1e-12 keeps sqrt differentiable where a gradient is exactly 0
    norm = ((g * g).reshape(n, -1).sum(1) + 1e-12).sqrt()
    return lam * ((norm - 1.0) ** 2).mean()


def pulling_away(codes, eps=1e-12):
    """EBGAN's pulling-away term of a batch of codes s_1..s_N (N, ...), flattened per
    sample: the mean squared cosine similarity over ordered pairs i ≠ j,

        f_PT = 1/(N(N−1)) Σ_{i≠j} (s_iᵀ s_j / (‖s_i‖ ‖s_j‖))²,

    0 when the codes are orthogonal, 1 when they are all parallel. ``eps`` inside the
    square root keeps a zero code differentiable."""
    n = codes.shape[0]
    if codes.ndim < 2 or n < 2:
        raise ValueError(f"pulling_away: codes must be (N, ...) with N >= 2, got shape "
                         f"{codes.shape}")
    s = codes.reshape(n, -1)
    u = s / ((s * s).sum(1, keepdims=True) + eps).sqrt()       # unit rows
    cos = u @ u.T                                               # (N, N) cosines
    diag = ((u * u).sum(1) ** 2).sum()                          # the i = j terms (≈ N)
    return ((cos * cos).sum() - diag) / (n * (n - 1))


def clip_weights_(module, clip):
    """Clip every parameter of ``module`` to [−clip, clip] in place (WGAN)."""
    with no_grad():
        for p in module.parameters():
            p.data[...] = p.xp.clip(p.data, -clip, clip)
    return module
