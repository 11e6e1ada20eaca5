"""Small helpers shared by the layer files: parameter creation and PyTorch's default init.

Argument checks live in ``scratchgen.checks`` (one place for the whole library)."""
import math

import numpy as np

from .. import backend
from ..autograd import Parameter


def new_parameter(*shape, device=None, dtype=None):
    """An uninitialised Parameter of ``shape`` (each layer's ``reset_parameters`` fills it)."""
    dtype = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != 'f':
        raise TypeError(f"parameters must have a floating dtype, got {dtype}")
    xp = backend.array_module(device)
    return Parameter(xp.zeros(tuple(int(s) for s in shape), dtype=dtype))


def reset_like_pytorch_(weight, bias, fan_in):
    """PyTorch's default init for Linear and Conv layers: kaiming_uniform with a=sqrt(5),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range."""
    from . import init
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in)
        init.uniform_(bias, -bound, bound)
