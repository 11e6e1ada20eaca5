"""Generative models, one family per module (docs/<family>.md explains each)."""
from . import naive_bayes
from .naive_bayes import FullJointCategorical, CategoricalNaiveBayes, PixelNaiveBayes
from . import vae
from .vae import VAE, VAEConfig, Autoencoder
from . import gan, gpt
from .gan import GAN, GANConfig, DCGANGenerator, DCGANDiscriminator, MLPGenerator, MLPDiscriminator
from .gpt import GPT, GPTConfig
from . import rnn_lm
from .rnn_lm import CharLSTM, CharLSTMConfig
from . import flows
from .flows import Flow, FlowConfig, build_flow, PixelMADE
from . import diffusion
from .diffusion import Diffusion, DiffusionConfig
from . import rlhf
from . import latent_diffusion
from .latent_diffusion import LatentDiffusion, LatentDiffusionConfig
