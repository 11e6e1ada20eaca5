"""Latent diffusion with a text prompt (docs/text_to_image.md): a frozen VAE, a frozen
text encoder and a denoiser that reads the prompt, trained with the diffusion objective.

    z_0 = λ · μ_φ(x)                 the VAE's posterior mean, scaled by λ = 1 / std(μ)
                                     so the latent has about unit variance, as N(0, I) does
    c   = TextEncoder(prompt)        TextCondition(tokens, padding, pooled)
    c'  = c, or the empty prompt ∅ with probability p_uncond       (guidance training)
    loss = E_{t, ε} w_t ‖target − net(z_t, t, c')‖²,   z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε
           (``diffusion.diffusion_loss``: ε-, v- or x₀-prediction, Min-SNR weight w_t)

Sampling runs any sampler of ``diffusion.samplers`` in the latent with the guided
prediction ε̂ = ε̂(z, t, ∅) + w (ε̂(z, t, c) − ε̂(z, t, ∅)) (``cfg_combine``; one batched
pass over [∅, c]), then decodes: x = decoder(z_0 / λ). The denoiser is any
``net(z_t, t, cond)`` taking a ``TextCondition``: the U-Net with ``context_dim``
(cross-attention) or a DiT. The diffusion runs on C·h·w = 64 numbers per 16x16 RGB image
(768 pixels), which is where the compute saving comes from.
"""
from dataclasses import dataclass

import numpy as np

from .. import nn
from .. import functional as F
from ..autograd import no_grad, rand, randn, tensor
from ..checks import positive_int, number, one_of
from .diffusion import (Schedule, PREDICTIONS, WEIGHTINGS, diffusion_loss, predict_eps,
                        guided_eps_fn, TextCondition, concat_conditions)
from .diffusion import samplers

__all__ = ['LatentDiffusionConfig', 'LatentDiffusion', 'latent_scale']


@dataclass
class LatentDiffusionConfig:
    """T, schedule, prediction, weighting, snr_gamma: as ``DiffusionConfig``. p_uncond: the
    probability a training prompt is replaced by the empty prompt. scale: λ, the factor
    that brings the VAE latent to unit variance (``latent_scale``). context: the text
    encoder's token length (prompts are padded to it)."""
    T: int = 1000
    schedule: str = 'cosine'
    prediction: str = 'v'
    weighting: str = 'min_snr'
    snr_gamma: float = 5.0
    p_uncond: float = 0.1
    scale: float = 1.0
    context: int = 8

    def __post_init__(self):
        who = 'LatentDiffusionConfig'
        positive_int(self.T, 'T', who)
        one_of(self.schedule, ('linear', 'cosine'), 'schedule', who)
        one_of(self.prediction, PREDICTIONS, 'prediction', who)
        one_of(self.weighting, WEIGHTINGS, 'weighting', who)
        number(self.snr_gamma, 'snr_gamma', who, 0, low_open=True)
        number(self.p_uncond, 'p_uncond', who, 0, 1)
        number(self.scale, 'scale', who, 0, low_open=True)
        positive_int(self.context, 'context', who)


def latent_scale(mu):
    """λ = 1 / std(μ) over a batch of VAE posterior means (any shape; host arrays or Tensors)."""
    m = np.asarray(mu.numpy() if hasattr(mu, 'numpy') else mu, dtype=np.float64)
    std = float(m.std())
    if not std > 0:
        raise ValueError(f"latent_scale: the latents have standard deviation {std}; expected > 0")
    return 1.0 / std


def _index(cond, rows):
    """The rows of a TextCondition (host integer array)."""
    return TextCondition(cond.tokens[rows], cond.padding[rows], cond.pooled[rows])


class LatentDiffusion(nn.Module):
    """Frozen ``vae`` (a VAE with a spatial ``latent_shape``), frozen ``text_encoder``
    (``forward(ids, padding) -> (tokens (B, L, D), pooled (B, D))``), ``tokenize``
    (``captions, context -> (ids, padding)`` host arrays, e.g.
    ``scratchgen.data.captions.encode_captions``) and a trainable ``net(z_t, t, cond)``.

        ldm = LatentDiffusion(vae, text_encoder, unet, encode_captions, config)
        z0 = ldm.encode_images(x)                  # (B, C, h, w), unit variance
        loss = ldm.loss(z0, ldm.condition(captions))
        images = ldm.generate(['large green triangle'] * 8, w=3.0)
    """

    def __init__(self, vae, text_encoder, net, tokenize, config=None):
        super().__init__()
        self.config = config or LatentDiffusionConfig()
        if vae.config.latent_shape is None:
            raise ValueError("LatentDiffusion: the VAE needs a spatial latent_shape (C, h, w), "
                             "got a flat latent")
        self.vae, self.text_encoder, self.net = vae, text_encoder, net
        self.tokenize = tokenize
        self.vae.requires_grad_(False)
        self.text_encoder.requires_grad_(False)
        self.schedule = Schedule(self.config.schedule, self.config.T)
        self.latent_shape = tuple(vae.config.latent_shape)

    def trainable_parameters(self):
        """The denoiser's parameters (the VAE and the text encoder stay frozen)."""
        return list(self.net.parameters())

    def train(self, mode=True):
        """Only the denoiser switches mode; the frozen parts stay in evaluation mode."""
        super().train(mode)
        self.vae.eval()
        self.text_encoder.eval()
        return self

    def _device(self):
        return next(iter(self.net.parameters())).device

    # ------------------------------------------------------------------ the two frozen ends
    @no_grad()
    def condition(self, captions):
        """TextCondition for a list of prompts (padded to ``config.context`` tokens)."""
        if isinstance(captions, str):
            raise TypeError("LatentDiffusion.condition: expected a list of prompts, got one "
                            "string (wrap it in a list)")
        ids, padding = self.tokenize(list(captions), self.config.context)
        dev = self._device()
        ids, padding = tensor(np.asarray(ids), device=dev), tensor(np.asarray(padding), device=dev)
        tokens, pooled = self.text_encoder(ids, padding)
        return TextCondition(tokens.detach(), padding, pooled.detach())

    def null_condition(self, n):
        """The empty prompt, encoded, n times: the unconditional input of guidance."""
        return self.condition([''] * positive_int(n, 'n', 'LatentDiffusion.null_condition'))

    @no_grad()
    def encode_images(self, x, batch=500):
        """Images (B, C, H, W) in [0, 1] -> scaled latents λ μ(x) (B, *latent_shape)."""
        out = []
        for i in range(0, x.shape[0], batch):
            out.append(self.vae.encode(x[i:i + batch])[0] * self.config.scale)
        return F.cat(out, 0) if len(out) > 1 else out[0]

    @no_grad()
    def decode_latents(self, z):
        """Scaled latents -> images in [0, 1] (the decoder's mean)."""
        return F.clip(self.vae.decode(z * (1.0 / self.config.scale)), 0.0, 1.0)

    # ------------------------------------------------------------------ training
    def drop_prompts(self, cond):
        """Each prompt replaced by the empty prompt with probability p_uncond."""
        p = self.config.p_uncond
        if p == 0:
            return cond
        B = cond.tokens.shape[0]
        null = self.null_condition(1)
        drop = rand(B, device=cond.tokens.device) < p
        return TextCondition(F.where(drop.reshape(B, 1, 1), null.tokens, cond.tokens),
                             F.where(drop.reshape(B, 1), null.padding, cond.padding),
                             F.where(drop.reshape(B, 1), null.pooled, cond.pooled))

    def loss(self, z0, cond):
        """The training loss (scalar Tensor) on scaled latents z0 (B, C, h, w) and their
        prompts' TextCondition (dropped to the empty prompt with probability p_uncond)."""
        if tuple(z0.shape[1:]) != self.latent_shape:
            raise ValueError(f"LatentDiffusion.loss: expected latents of shape (B, "
                             f"{', '.join(map(str, self.latent_shape))}), got {z0.shape}")
        if cond.tokens.shape[0] != z0.shape[0]:
            raise ValueError(f"LatentDiffusion.loss: {z0.shape[0]} latents but "
                             f"{cond.tokens.shape[0]} prompts")
        c = self.config
        return diffusion_loss(self.net, self.schedule, z0, c.prediction, self.drop_prompts(cond),
                              c.weighting, c.snr_gamma)

    # ------------------------------------------------------------------ sampling
    def predict_eps(self, z, t, cond):
        """ε̂(z, t, cond) at one float time t."""
        return predict_eps(self.net, self.schedule, self.config.prediction, z, t, cond)

    def eps_fn(self, cond, w=1.0):
        """ε̂(z, t) for the samplers: conditional (w = 1), unconditional (w = 0) or guided,
        ε̂_u + w (ε̂_c − ε̂_u), in one batched pass over [∅, c] (``guided_eps_fn``)."""
        return guided_eps_fn(self.predict_eps, cond, w,
                             lambda: self.null_condition(cond.tokens.shape[0]), concat_conditions)

    @no_grad()
    def sample_latents(self, cond, w=1.0, sampler='ddim', steps=25, callback=None):
        """Scaled latents for the prompts in ``cond``, from z_T ~ N(0, I)."""
        one_of(sampler, ('ddpm', 'ddim'), 'sampler', 'LatentDiffusion.sample_latents')
        p = next(iter(self.net.parameters()))
        z = randn(cond.tokens.shape[0], *self.latent_shape, dtype=p.dtype, device=p.device)
        eps = self.eps_fn(cond, w)
        if sampler == 'ddpm':
            return samplers.ddpm_sample(eps, self.schedule, z, callback=callback)
        return samplers.ddim_sample(eps, self.schedule, z, steps, callback=callback)

    def generate(self, captions, w=1.0, sampler='ddim', steps=25, callback=None):
        """Images (B, C, H, W) in [0, 1], one per prompt in ``captions``."""
        self.net.eval()
        z = self.sample_latents(self.condition(captions), w, sampler, steps, callback)
        return self.decode_latents(z)
