"""Position and time encodings: ``SinusoidalPositionalEncoding``,
``LearnedPositionalEmbedding`` (for sequences) and ``SinusoidalTimeEmbedding`` (for
diffusion timesteps).

Sinusoidal position encoding (Vaswani et al.), position p, feature pair i:
    PE[p, 2i] = sin(p / 10000^(2i/d)),   PE[p, 2i+1] = cos(p / 10000^(2i/d)).
Diffusion time embedding (the DDPM reference code), h = dim // 2:
    f_i = exp(-ln(max_period) i / (h - 1)),  emb(t) = [sin(t f_0..h-1), cos(t f_0..h-1)]
(a zero column appended when dim is odd).
"""
import math

from . import init
from ._utils import new_parameter
from ..checks import positive_int
from .module import Module
from .. import backend
from .. import functional as ops
from ..autograd import Tensor

__all__ = ['SinusoidalPositionalEncoding', 'LearnedPositionalEmbedding',
           'SinusoidalTimeEmbedding']


def _check_sequence(x, dim, offset, max_len, who):
    if x.ndim < 2 or x.shape[-1] != dim:
        raise ValueError(f"{who}: expected input (..., T, {dim}), got shape {x.shape}")
    T = x.shape[-2]
    if offset < 0 or offset + T > max_len:
        raise ValueError(f"{who}: positions {offset}..{offset + T - 1} exceed max_len {max_len}")
    return T


class SinusoidalPositionalEncoding(Module):
    """x (..., T, d_model) -> x + PE[offset:offset + T] (fixed, not trained).

    ``offset`` is the position of the first element (e.g. ``len(kv_cache)`` when
    decoding one token at a time). The table is a non-persistent buffer: it follows
    ``.to()`` but is not saved in ``state_dict``.
    """

    def __init__(self, d_model, max_len=5000, device=None, dtype=None):
        super().__init__()
        self.d_model = positive_int(d_model, 'd_model', 'SinusoidalPositionalEncoding')
        self.max_len = positive_int(max_len, 'max_len', 'SinusoidalPositionalEncoding')
        xp = backend.array_module(device)
        dtype = backend.get_default_dtype() if dtype is None else dtype
        pos = xp.arange(max_len, dtype=backend.float64).reshape(max_len, 1)
        # 1 / 10000^(2i/d) for the even feature indices 2i
        freq = xp.exp(xp.arange(0, d_model, 2, dtype=backend.float64)
                      * (-math.log(10000.0) / d_model))
        pe = xp.zeros((max_len, d_model), dtype=backend.float64)
        pe[:, 0::2] = xp.sin(pos * freq)
        pe[:, 1::2] = xp.cos(pos * freq[:d_model // 2])
        self.register_buffer('pe', Tensor(pe.astype(dtype)), persistent=False)

    def encoding(self, length, offset=0):
        """PE[offset:offset + length] as a (length, d_model) Tensor."""
        return Tensor(self.pe.data[offset:offset + length])

    def forward(self, x, offset=0):
        T = _check_sequence(x, self.d_model, offset, self.max_len, 'SinusoidalPositionalEncoding')
        return x + self.encoding(T, offset)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """x (..., T, dim) -> x + weight[offset:offset + T], a trained (max_len, dim) table
    initialised N(0, 0.02^2) (as GPT-2)."""

    def __init__(self, max_len, dim, device=None, dtype=None):
        super().__init__()
        self.max_len = positive_int(max_len, 'max_len', 'LearnedPositionalEmbedding')
        self.dim = positive_int(dim, 'dim', 'LearnedPositionalEmbedding')
        self.weight = new_parameter(max_len, dim, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight, 0.0, 0.02)

    def encoding(self, length, offset=0):
        """weight[offset:offset + length], a (length, dim) Tensor (trained)."""
        return self.weight[offset:offset + length]

    def forward(self, x, offset=0):
        T = _check_sequence(x, self.dim, offset, self.max_len, 'LearnedPositionalEmbedding')
        return x + self.encoding(T, offset)

    def extra_repr(self):
        return f"max_len={self.max_len}, dim={self.dim}"


class SinusoidalTimeEmbedding(Module):
    """Diffusion timesteps t (B,) (float or int; need not be integers) -> (B, dim)
    features [sin(t f), cos(t f)] (see the module docstring). Differentiable in t."""

    def __init__(self, dim, max_period=10000.0, device=None, dtype=None):
        super().__init__()
        self.dim = positive_int(dim, 'dim', 'SinusoidalTimeEmbedding')
        if dim < 2:
            raise ValueError(f"SinusoidalTimeEmbedding: dim must be at least 2, got {dim}")
        self.max_period = float(max_period)
        half = dim // 2
        xp = backend.array_module(device)
        dtype = backend.get_default_dtype() if dtype is None else dtype
        freqs = xp.exp(xp.arange(half, dtype=backend.float64)
                       * (-math.log(self.max_period) / max(half - 1, 1)))
        self.register_buffer('freqs', Tensor(freqs.astype(dtype)), persistent=False)

    def forward(self, t):
        if t.ndim != 1:
            raise ValueError(f"SinusoidalTimeEmbedding: expected timesteps of shape (B,), "
                             f"got shape {t.shape}")
        if t.dtype != self.freqs.dtype:
            t = t.to(self.freqs.dtype)
        args = t.reshape(-1, 1) * self.freqs                  # (B, dim // 2)
        parts = [ops.sin(args), ops.cos(args)]
        if self.dim % 2:
            parts.append(Tensor(t.xp.zeros((t.shape[0], 1), dtype=args.dtype)))
        return ops.cat(parts, -1)

    def extra_repr(self):
        return f"dim={self.dim}, max_period={self.max_period}"
