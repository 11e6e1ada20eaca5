"""Generative models, one family per module (docs/<family>.md explains each)."""
from . import naive_bayes
from .naive_bayes import FullJointCategorical, CategoricalNaiveBayes, PixelNaiveBayes
from . import vae
from .vae import VAE, VAEConfig, Autoencoder
from . import gan, gpt
from .gan import GAN, DCGANGenerator, DCGANDiscriminator, MLPGenerator, MLPDiscriminator
from .gpt import GPT, GPTConfig
from . import diffusion
from .diffusion import Diffusion, DiffusionConfig
