"""Dense layers: ``Linear``, plus the shape-only ``Identity``, ``Flatten`` and ``Unflatten``."""

from . import functional as F
from ._utils import new_parameter, reset_like_pytorch_
from ..checks import positive_int
from .module import Module

__all__ = ['Identity', 'Linear', 'Flatten', 'Unflatten']


class Identity(Module):
    """Returns its input (a placeholder; any constructor arguments are ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x W^T + b.  x (..., in_features) -> y (..., out_features).

    weight (out_features, in_features) and bias (out_features,) start as
    U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's default.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = positive_int(in_features, 'in_features', 'Linear')
        self.out_features = positive_int(out_features, 'out_features', 'Linear')
        self.weight = new_parameter(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = new_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_like_pytorch_(self.weight, self.bias, self.in_features)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: input of shape {x.shape} has last dim "
                             f"{x.shape[-1] if x.ndim else None}, expected {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dims ``start_dim``..``end_dim`` into one: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        nd = max(x.ndim, 1)
        start, end = self.start_dim % nd, self.end_dim % nd
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for input of shape {x.shape}")
        merged = 1
        for s in x.shape[start:end + 1]:
            merged *= s
        return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: (N, 48) -> (N, 3, 4, 4)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        size = 1
        for s in self.unflattened_size:
            size *= s
        if size != x.shape[d]:
            raise ValueError(f"Unflatten: dim {self.dim} of input shape {x.shape} has size "
                             f"{x.shape[d]}, which cannot be split into {self.unflattened_size}")
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
