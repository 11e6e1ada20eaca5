"""Weight initialisation (``nn.init``), with PyTorch's names, arguments and formulas.

Each function fills a tensor in place, without recording a graph, from the seeded
generator of the tensor's device (``sg.manual_seed``), and returns the tensor.

Fans of a weight of shape (out, in, *kernel): fan_in = in * prod(kernel),
fan_out = out * prod(kernel).

* xavier (Glorot): std = gain * sqrt(2 / (fan_in + fan_out));
* kaiming (He): std = gain / sqrt(fan), fan = fan_in or fan_out (``mode``);
* a uniform variant draws from U(-sqrt(3) std, sqrt(3) std), which has that std.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ['calculate_gain', 'uniform_', 'normal_', 'constant_', 'zeros_', 'ones_',
           'xavier_uniform_', 'xavier_normal_', 'kaiming_uniform_', 'kaiming_normal_',
           'orthogonal_']

_LINEAR_LIKE = ('linear', 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d',
                'conv_transpose2d', 'conv_transpose3d', 'sigmoid')


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance steady through ``nonlinearity``:
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    sqrt(2 / (1 + slope**2)) for leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == 'tanh':
        return 5.0 / 3
    if nonlinearity == 'relu':
        return math.sqrt(2.0)
    if nonlinearity == 'leaky_relu':
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == 'selu':
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _check(tensor, who):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != 'f':
        raise TypeError(f"{who}: expected a floating tensor, got dtype {tensor.dtype}")


def _fans(tensor, who):
    if tensor.ndim < 2:
        raise ValueError(f"{who}: fan in and fan out need a tensor with at least 2 dims, "
                         f"got shape {tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, values):
    """Write ``values`` (an array on the tensor's device) into the tensor's storage."""
    tensor.data[...] = values.astype(tensor.dtype, copy=False)
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    _check(tensor, 'uniform_')
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    u = backend.rand(tensor.shape, tensor.dtype, tensor.device)
    return _fill(tensor, u * float(b - a) + float(a))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std**2)."""
    _check(tensor, 'normal_')
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    z = backend.randn(tensor.shape, tensor.dtype, tensor.device)
    return _fill(tensor, z * float(std) + float(mean))


def constant_(tensor, val):
    _check(tensor, 'constant_')
    tensor.data[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check(tensor, 'xavier_uniform_')
    fan_in, fan_out = _fans(tensor, 'xavier_uniform_')
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, 'xavier_normal_')
    fan_in, fan_out = _fans(tensor, 'xavier_normal_')
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity, who):
    _check(tensor, who)
    if mode not in ('fan_in', 'fan_out'):
        raise ValueError(f"{who}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, who)
    fan = fan_in if mode == 'fan_in' else fan_out
    if fan == 0:
        raise ValueError(f"{who}: cannot initialise a tensor with zero {mode} "
                         f"(shape {tensor.shape})")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode='fan_in', nonlinearity='leaky_relu'):
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan); ``a`` is leaky_relu's negative slope.
    (PyTorch's Linear/Conv default is a=sqrt(5), which gives b = 1 / sqrt(fan_in).)"""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, 'kaiming_uniform_')
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode='fan_in', nonlinearity='leaky_relu'):
    """N(0, std**2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, 'kaiming_normal_'))


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix, times ``gain``: the Q of the QR decomposition of a
    Gaussian matrix, with signs fixed so that it is uniformly distributed (Saxe et al.).
    Trailing dims are flattened: shape (rows, prod(rest))."""
    _check(tensor, 'orthogonal_')
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dims, "
                         f"got shape {tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    work = np.float64 if tensor.dtype == np.float64 else np.float32   # QR has no float16
    flat = backend.randn((rows, cols), work, tensor.device)
    if rows < cols:
        flat = flat.T
    xp = tensor.xp
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diagonal(r))      # make the decomposition unique
    if rows < cols:
        q = q.T
    return _fill(tensor, q.reshape(tensor.shape) * float(gain))
