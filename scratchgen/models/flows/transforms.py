"""Element-wise and linear transforms: affine, ActNorm, permutations, an LU-form matrix.

    ElementwiseAffine  z = x ⊙ exp(s) + b            log|det| = Σ_i s_i
    ActNorm            the same, s and b initialised from the first batch so that z has
                       zero mean and unit variance per feature (Kingma & Dhariwal, 2018)
    Permutation        z = x[π]                        log|det| = 0
    LULinear           z = W x + b,  W = P L U         log|det| = Σ_i log|u_ii|

On images (N, C, H, W) each acts on the channels at every pixel, so the log-dets are
multiplied by H·W. docs/flows.md, "Element-wise and linear flows".
"""
from ... import nn
from ...autograd import eye, no_grad, tensor, zeros
from ...checks import positive_int
from .base import Transform

__all__ = ['ElementwiseAffine', 'ActNorm', 'Permutation', 'Reverse', 'LULinear']


def _per_feature(p, x):
    """A (C,) parameter shaped to broadcast over x: (1, C) or (1, C, 1, 1)."""
    return p.reshape(1, -1, *([1] * (x.ndim - 2)))


def _pixels(x):
    """How many positions share the per-feature parameters: H·W for images, 1 for vectors."""
    n = 1
    for s in x.shape[2:]:
        n *= s
    return n


def _check_features(x, n, who):
    if x.ndim < 2 or x.shape[1] != n:
        raise ValueError(f"{who}: input of shape {x.shape} has {x.shape[1] if x.ndim > 1 else None} "
                         f"features on axis 1, expected {n}")


class ElementwiseAffine(Transform):
    """z = x ⊙ exp(s) + b, one (s_i, b_i) per feature; log|det| = Σ_i s_i (× H·W)."""

    def __init__(self, features):
        super().__init__()
        self.features = positive_int(features, 'features', type(self).__name__)
        self.log_scale = nn.Parameter(zeros(self.features))
        self.bias = nn.Parameter(zeros(self.features))

    def _logdet(self, x):
        return zeros(x.shape[0], dtype=x.dtype, device=x.device) + self.log_scale.sum() * _pixels(x)

    def forward(self, x, context=None):
        _check_features(x, self.features, type(self).__name__)
        s, b = _per_feature(self.log_scale, x), _per_feature(self.bias, x)
        return x * s.exp() + b, self._logdet(x)

    def inverse(self, z, context=None):
        _check_features(z, self.features, type(self).__name__)
        s, b = _per_feature(self.log_scale, z), _per_feature(self.bias, z)
        return (z - b) * (-s).exp(), -self._logdet(z)


class ActNorm(ElementwiseAffine):
    """ElementwiseAffine whose first forward call (in training mode) sets
    s = −log std(x), b = −mean(x) · exp(s) from that batch (per feature, over the batch
    and pixels), so the output starts standardised; later calls just apply it."""

    def __init__(self, features, eps=1e-6):
        super().__init__(features)
        self.eps = eps
        self.register_buffer('initialized', zeros(1))

    def forward(self, x, context=None):
        if self.training and not bool(self.initialized.data[0]):
            _check_features(x, self.features, 'ActNorm')
            with no_grad():
                axes = (0,) + tuple(range(2, x.ndim))
                mean, std = x.mean(axis=axes), x.std(axis=axes)
                s = -(std + self.eps).log()
                self.log_scale.data[...] = s.data
                self.bias.data[...] = (-mean * s.exp()).data
                self.initialized.data[...] = 1
        return super().forward(x, context)


class Permutation(Transform):
    """z = x[:, π] (features reordered, e.g. so the next coupling transforms the other
    half); log|det| = 0, and the inverse applies π⁻¹."""

    def __init__(self, permutation):
        super().__init__()
        perm = [int(i) for i in permutation]
        if sorted(perm) != list(range(len(perm))):
            raise ValueError(f"Permutation: {permutation!r} is not a permutation of 0..{len(perm) - 1}")
        self.perm = perm
        self.inv_perm = sorted(range(len(perm)), key=perm.__getitem__)

    def _apply(self, x, order):
        _check_features(x, len(order), type(self).__name__)
        return x.index_select(1, order)

    def forward(self, x, context=None):
        return self._apply(x, self.perm), zeros(x.shape[0], dtype=x.dtype, device=x.device)

    def inverse(self, z, context=None):
        return self._apply(z, self.inv_perm), zeros(z.shape[0], dtype=z.dtype, device=z.device)


class Reverse(Permutation):
    """The permutation D−1, …, 1, 0."""

    def __init__(self, features):
        super().__init__(range(positive_int(features, 'features', 'Reverse') - 1, -1, -1))


class LULinear(Transform):
    """z = W x + b with W = P L U kept invertible by construction:

        P  a fixed permutation,  L  unit lower-triangular (ones on the diagonal),
        U  upper-triangular with diagonal sign_i · exp(log_s_i),

    so log|det W| = Σ_i log_s_i (L has det 1, P has |det| 1). W starts as the identity.
    The inverse uses the exact finite Neumann series of the triangular factors,
    L⁻¹ = Σ_{k<D} (−N)^k for L = I + N with N strictly lower (N^D = 0), and likewise for
    U, so it is made of matmuls and differentiable like everything else.
    """

    def __init__(self, features, permutation=None):
        super().__init__()
        d = self.features = positive_int(features, 'features', type(self).__name__)
        perm = list(range(d)) if permutation is None else [int(i) for i in permutation]
        if sorted(perm) != list(range(d)):
            raise ValueError(f"{type(self).__name__}: {permutation!r} is not a permutation of 0..{d - 1}")
        self.lower = nn.Parameter(zeros(d, d))
        self.upper = nn.Parameter(zeros(d, d))
        self.log_s = nn.Parameter(zeros(d))
        self.bias = nn.Parameter(zeros(d))
        self.register_buffer('eye', eye(d))
        self.register_buffer('perm', eye(d)[perm])                      # P as a matrix
        self.register_buffer('sign', zeros(d) + 1)
        self.register_buffer('strict_lower', tensor([[float(j < i) for j in range(d)]
                                                     for i in range(d)]))

    def factors(self):
        """(P, L, U) as matrices."""
        L = self.lower * self.strict_lower + self.eye
        U = self.upper * self.strict_lower.mT + self.eye * (self.sign * self.log_s.exp())
        return self.perm, L, U

    def weight(self):
        P, L, U = self.factors()
        return P @ L @ U

    def _triangular_inverse(self, N):
        """(I + N)⁻¹ = Σ_{k=0}^{D-1} (−N)^k for nilpotent N (strictly triangular)."""
        inv, term = self.eye, self.eye
        for _ in range(self.features - 1):
            term = -(term @ N)
            inv = inv + term
        return inv

    def inverse_weight(self):
        """W⁻¹ = U⁻¹ L⁻¹ Pᵀ; with U = D (I + D⁻¹ N_U), D = diag(u_ii), U⁻¹ = (I + D⁻¹ N_U)⁻¹ D⁻¹."""
        P, L, U = self.factors()
        diag = self.sign * self.log_s.exp()
        L_inv = self._triangular_inverse(L - self.eye)
        U_inv = self._triangular_inverse((U - self.eye * diag) / diag.reshape(-1, 1)) / diag
        return U_inv @ L_inv @ P.mT

    def _logdet(self, x):
        return zeros(x.shape[0], dtype=x.dtype, device=x.device) + self.log_s.sum() * _pixels(x)

    def forward(self, x, context=None):
        _check_features(x, self.features, type(self).__name__)
        return self._features_last(x, lambda h: h @ self.weight().mT + self.bias), self._logdet(x)

    def inverse(self, z, context=None):
        _check_features(z, self.features, type(self).__name__)
        return self._features_last(z, lambda h: (h - self.bias) @ self.inverse_weight().mT), -self._logdet(z)

    @staticmethod
    def _features_last(x, fn):
        """Apply ``fn`` (acting on the last axis) to axis 1 of x (vectors or images)."""
        if x.ndim == 2:
            return fn(x)
        return fn(x.movedim(1, -1)).movedim(-1, 1)
