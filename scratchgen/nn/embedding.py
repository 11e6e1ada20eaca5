"""``Embedding``: a lookup table of learned vectors, one row per token id."""
from . import functional as F
from . import init
from ._utils import new_parameter
from ..checks import positive_int
from .module import Module

__all__ = ['Embedding']


class Embedding(Module):
    """ids (*) of integers in [0, num_embeddings) -> vectors (*, embedding_dim): row
    ``ids`` of weight (num_embeddings, embedding_dim), which starts as N(0, 1) (PyTorch's
    default). Row ``padding_idx``, if given, starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = positive_int(num_embeddings, 'num_embeddings', 'Embedding')
        self.embedding_dim = positive_int(embedding_dim, 'embedding_dim', 'Embedding')
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.weight = new_parameter(num_embeddings, embedding_dim, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids):
        if ids.dtype.kind not in 'iu':
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else '')
