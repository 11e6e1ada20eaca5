"""``scratchgen.nn``: Module and Parameter, layers, recurrent layers, attention, positional
encodings, init.

    import scratchgen as sg
    import scratchgen.nn as nn
    import scratchgen.nn.functional as F

    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))

Names, parameter shapes and default initialisations follow PyTorch's ``torch.nn``, so
weights can be copied across one to one. See docs/nn.md.
"""
from ..autograd import Parameter
from .module import Module, Sequential, ModuleList, ModuleDict, StateDictError, evaluating
from .linear import Identity, Linear, Flatten, Unflatten
from .conv import Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, Upsample
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm
from .activation import (ReLU, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, Softplus, Softmax,
                         LogSoftmax)
from .dropout import Dropout
from .spectral import SpectralNorm, spectral_norm
from .embedding import Embedding
from .attention import MultiheadAttention, KVCache
from .rnn import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from .positional import (SinusoidalPositionalEncoding, LearnedPositionalEmbedding,
                         SinusoidalTimeEmbedding)
from . import init
from . import functional
