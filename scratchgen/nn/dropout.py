"""``Dropout``: zero each element with probability p in training, scale the rest by 1/(1-p)."""
from . import functional as F
from .module import Module

__all__ = ['Dropout']


class Dropout(Module):
    """In training: y = x * m / (1 - p), m ~ Bernoulli(1 - p) per element (from the seeded
    generator); in eval mode: y = x."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = inplace      # accepted for PyTorch compatibility; never in place

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
