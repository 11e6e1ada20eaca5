"""GAN networks: MLPs for 2-D points, DCGAN convolutions for 16x16 to 32x32 images.

A generator maps noise z (N, latent_dim) (and, when conditional, integer labels y) to
samples; a discriminator maps samples (and labels) to one raw score per sample.
Conditional generators concatenate a learned label embedding to z; conditional
discriminators either concatenate an embedding to their input ('concat') or add the
projection <embed(y), φ(x)> of their last features to the score ('projection',
Miyato & Koyama 2018). EBGAN's discriminators are autoencoders whose output is an
energy per sample, the reconstruction error. docs/gan.md, "Networks" and "EBGAN".
"""
import math

from ... import nn
from ... import functional as F
from ...autograd import Tensor, no_grad, randn
from ...checks import positive_int

__all__ = ['MLPGenerator', 'MLPDiscriminator', 'DCGANGenerator', 'DCGANDiscriminator',
           'autoencoder_energy', 'MLPAutoencoderDiscriminator', 'ConvAutoencoderDiscriminator']


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


# ----------------------------------------------------------------------------- EBGAN
def autoencoder_energy(reconstruction, x):
    """EBGAN's energy of each sample, the reconstruction error averaged over its
    dimensions (pixels × channels for images): E(x) = 1/d Σ_k (x̂_k − x_k)², shape (N,).
    (Zhao et al. write ‖Dec(Enc(x)) − x‖; we average the squares, so that the margin
    does not depend on the image size.)"""
    if reconstruction.shape != x.shape:
        raise ValueError(f"autoencoder_energy: reconstruction {reconstruction.shape} and "
                         f"input {x.shape} must have the same shape")
    d = reconstruction - x
    return (d * d).reshape(x.shape[0], -1).mean(1)


class _AutoencoderDiscriminator(nn.Module):
    """What the EBGAN discriminators share: D(x) = the energy of x, ``encode`` (the codes
    the pulling-away term looks at), ``reconstruct``. Unconditional only."""
    n_classes = None

    def encode(self, x):
        return self.encoder(x).reshape(x.shape[0], -1)

    def reconstruct(self, x):
        return self.decoder(self.encoder(x))

    def forward(self, x, labels=None):
        if labels is not None:
            raise ValueError(f"{type(self).__name__}: labels were given but the EBGAN "
                             "discriminator is unconditional")
        return autoencoder_energy(self.reconstruct(x), x)


class MLPAutoencoderDiscriminator(_AutoencoderDiscriminator):
    """EBGAN's discriminator for points: x (N, in_dim) -> energies (N,). The encoder is
    ``depth`` linear layers in_dim -> hidden -> ... -> code_dim, the decoder ``depth``
    layers code_dim -> hidden -> ... -> in_dim, leaky ReLU between them (none on the
    code or the output). With ``depth`` = 3 and ``hidden`` = 128 it costs about 1.25×
    ``MLPDiscriminator(depth=3)``."""

    def __init__(self, in_dim=2, hidden=128, depth=3, code_dim=32, negative_slope=0.2):
        super().__init__()
        for name, v in (('in_dim', in_dim), ('hidden', hidden), ('depth', depth),
                        ('code_dim', code_dim)):
            positive_int(v, name, 'MLPAutoencoderDiscriminator')
        self.in_dim, self.code_dim = in_dim, code_dim

        def mlp(n_in, n_out):
            widths = [n_in] + [hidden] * (depth - 1) + [n_out]
            layers = []
            for a, b in zip(widths[:-1], widths[1:]):
                layers += [nn.Linear(a, b), nn.LeakyReLU(negative_slope)]
            return nn.Sequential(*layers[:-1])
        self.encoder, self.decoder = mlp(in_dim, code_dim), mlp(code_dim, in_dim)


class ConvAutoencoderDiscriminator(_AutoencoderDiscriminator):
    """EBGAN's discriminator for images, DCGAN-like: x (N, C, H, W) -> energies (N,).
    The encoder is ``DCGANDiscriminator``'s body (stride-2 convolutions down to 4x4,
    channels doubling from ``width``, leaky ReLU 0.2) and a 4x4 convolution to a
    ``code_dim`` code; the decoder is ``DCGANGenerator``'s stack (a 4x4 transposed
    convolution, stride-2 transposed convolutions back to ``image_size``, ReLU) with a
    linear output (no tanh: the energy is a plain squared error). ``norm``: 'batch'
    (after every layer but the first, the code and the output), 'layer' or None."""

    def __init__(self, channels=3, image_size=16, width=32, code_dim=32, norm='batch'):
        super().__init__()
        k = _check_image_size(image_size, 'ConvAutoencoderDiscriminator')
        if norm not in ('batch', 'layer', None):
            raise ValueError(f"ConvAutoencoderDiscriminator: norm must be 'batch', 'layer' "
                             f"or None, got {norm!r}")
        for name, v in (('channels', channels), ('width', width), ('code_dim', code_dim)):
            positive_int(v, name, 'ConvAutoencoderDiscriminator')
        self.channels, self.image_size, self.code_dim = channels, image_size, code_dim

        def normalise(c):
            return [nn.BatchNorm2d(c)] if norm == 'batch' else \
                [nn.GroupNorm(1, c)] if norm == 'layer' else []
        c = width
        enc = [nn.Conv2d(channels, c, 4, 2, 1), nn.LeakyReLU(0.2)]
        for _ in range(k - 1):
            enc += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=norm is None)] + normalise(2 * c)
            enc.append(nn.LeakyReLU(0.2))
            c *= 2
        enc.append(nn.Conv2d(c, code_dim, 4, 1, 0))
        dec = [nn.ConvTranspose2d(code_dim, c, 4, 1, 0, bias=norm is None)] + normalise(c)
        dec.append(nn.ReLU())
        for _ in range(k - 1):
            dec += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=norm is None)] + normalise(c // 2)
            dec.append(nn.ReLU())
            c //= 2
        dec.append(nn.ConvTranspose2d(c, channels, 4, 2, 1))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        _dcgan_init_(self)
