"""scratchgen: generative deep learning from scratch on NumPy and CuPy.

    import scratchgen as sg
    x = sg.randn(3, 4, requires_grad=True)
    (x * x).sum().backward()
"""
from . import backend
from .backend import (float16, float32, float64, int8, int32, int64, uint8, bool_,
                      manual_seed, set_default_device, get_default_device, default_device,
                      cuda_is_available, set_num_threads, get_num_threads,
                      set_default_dtype, get_default_dtype)
from .autograd import *          # noqa: F401,F403  Tensor, grad, no_grad, tensor, zeros, ...
from . import ops
from .functional import *        # noqa: F401,F403  exp, matmul, where, cat, ...
from . import functional
from . import nn, optim, io, data, metrics, viz, models
from .io import save, load

__version__ = '0.1.0'
