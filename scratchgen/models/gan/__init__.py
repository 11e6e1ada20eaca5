"""Generative adversarial networks: the losses, the networks and the training step.

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
    hinge            L_D = E max(0, 1 − D(x)) + E max(0, 1 + D(G(z)));  L_G = −E D(G(z))
    energy-based     D(x) = mean_k (Dec(Enc(x))_k − x_k)², an autoencoder's reconstruction
    (EBGAN)          error (an energy: low on data);  L_D = E D(x) + E max(0, m − D(G(z)));
                     L_G = E D(G(z)) + λ_PT f_PT(Enc(G(z))), f_PT the mean squared cosine
                     similarity between the codes of two different fakes of a batch

The logit losses use log σ(s) = −softplus(−s) and log(1 − σ(s)) = −softplus(s), stable
for any s. docs/gan.md derives each objective, explains mode collapse and the
evaluation measures, and holds the measured results.

    losses.py     MinimaxLoss, NonSaturatingLoss, LSGANLoss, WGANLoss and WGANGPLoss (on
                  their common WassersteinLoss), HingeLoss, EBGANLoss, make_loss,
                  gradient_penalty, pulling_away, clip_weights_
    networks.py   MLPGenerator, MLPDiscriminator (2-D toys), DCGANGenerator,
                  DCGANDiscriminator (16x16 to 32x32 images); all optionally conditional;
                  EBGAN's MLPAutoencoderDiscriminator, ConvAutoencoderDiscriminator and
                  autoencoder_energy
    training.py   PRESETS (optimizer settings of the original papers), make_optimizers,
                  GANConfig, GAN: n_critic critic steps, then one generator step

    model = GAN.from_config(GANConfig(loss='wgan-gp'))       # 2-D points, paper's optimizer
    stats = model.train_step(next_batch)                     # in your loop
"""
from .losses import *        # noqa: F401,F403
from .networks import *      # noqa: F401,F403
from .training import *      # noqa: F401,F403
from . import losses, networks, training

__all__ = losses.__all__ + networks.__all__ + training.__all__
