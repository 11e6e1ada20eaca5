"""Spectral normalisation (Miyato et al. 2018): run a layer with W / σ(W).

σ(W) is the largest singular value of the weight seen as a matrix (out_features, rest),
estimated by power iteration. A layer whose weight has σ = 1 is 1-Lipschitz (for linear
maps and convolutions up to the overlap of the kernel's windows), which is how SN-GAN
keeps a discriminator smooth without batch norm or a gradient penalty.
"""
from ..autograd import Parameter, no_grad, randn
from .module import Module
from ..checks import positive_int

__all__ = ['SpectralNorm', 'spectral_norm']


def _unit(t, eps):
    return t / ((t * t).sum().sqrt() + eps)


class SpectralNorm(Module):
    """Wraps ``module`` (any layer with a ``weight`` Parameter: Linear, Conv2d, ...) and
    calls it with ``weight / σ``.

    The raw weight becomes this wrapper's Parameter ``weight``; buffers ``u`` and ``v``
    hold the power-iteration vectors. In training mode every call first makes
    ``n_power_iterations`` steps v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖ (no gradient: u and v are
    treated as constants, as in the paper), then σ = uᵀWv, which is differentiable in W.
    In eval mode u and v are left as they are. One step per training call suffices because
    W changes little between calls, so the vectors stay close to the top singular pair.
    """

    def __init__(self, module, n_power_iterations=1, eps=1e-12):
        super().__init__()
        if isinstance(module, SpectralNorm):
            raise TypeError("SpectralNorm: the layer is already spectrally normalised")
        weight = getattr(module, '_parameters', {}).get('weight')
        if not isinstance(weight, Parameter):
            raise TypeError(f"SpectralNorm: expected a layer with a 'weight' Parameter, got "
                            f"{type(module).__name__}")
        positive_int(n_power_iterations, 'n_power_iterations', 'SpectralNorm')
        del module.weight                     # the wrapper owns it; the layer gets W / σ
        self.module = module
        self.weight = weight
        self.n_power_iterations, self.eps = n_power_iterations, eps
        rows = weight.shape[0]
        cols = weight.numel() // rows
        self.register_buffer('u', _unit(randn(rows, dtype=weight.dtype, device=weight.device), eps))
        self.register_buffer('v', _unit(randn(cols, dtype=weight.dtype, device=weight.device), eps))

    def _matrix(self):
        return self.weight.reshape(self.weight.shape[0], -1)

    def sigma(self):
        """The current estimate uᵀWv of the largest singular value (differentiable in W)."""
        return (self.u * (self._matrix() @ self.v)).sum()

    def power_iteration(self, steps=None):
        """Refine u and v by ``steps`` (default ``n_power_iterations``) steps."""
        with no_grad():
            w = self._matrix().detach()
            for _ in range(steps or self.n_power_iterations):
                self.v = _unit(w.T @ self.u, self.eps)
                self.u = _unit(w @ self.v, self.eps)

    def forward(self, *args, **kwargs):
        if self.training:
            self.power_iteration()
        # a plain attribute, not a Parameter: the layer reads self.weight as usual
        object.__setattr__(self.module, 'weight', self.weight / self.sigma())
        try:
            return self.module(*args, **kwargs)
        finally:
            del self.module.__dict__['weight']

    def extra_repr(self):
        return f"n_power_iterations={self.n_power_iterations}"


def spectral_norm(module, n_power_iterations=1, eps=1e-12):
    """``SpectralNorm(module, ...)``, named as in PyTorch's ``nn.utils.spectral_norm``."""
    return SpectralNorm(module, n_power_iterations, eps)
