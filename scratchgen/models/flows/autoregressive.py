"""Autoregressive flows: each z_i depends on x_i and on the features before it only.

MADE (Germain et al., 2015) gives all the conditionals in one network pass: each unit
gets a degree, and a weight is kept only where it cannot carry x_j to an output about
x_i with j ≥ i (in the chosen order), so output i is a function of x_<i alone:

    input degree  m(x_i) = position of i in the order (1 … D)
    hidden        weight j -> k kept iff m(k) ≥ m(j);   output i <- k kept iff m(i) > m(k)

MAF (Papamakarios et al., 2017) and IAF (Kingma et al., 2016) use it for an affine
autoregressive map, α kept in (−B, B) by a soft clamp:

    MAF   z_i = (x_i − μ_i(x_<i)) · exp(−α_i(x_<i))    density: one pass;  sampling: D passes
    IAF   x_i = z_i · exp(α_i(z_<i)) + μ_i(z_<i)        sampling: one pass; density: D passes
    log|det ∂z/∂x| = −Σ_i α_i  (triangular Jacobian)

The sequential direction needs x_<i (or z_<i) before it can compute step i; repeating a
full pass D times fixes one more feature each time (pass k is exact for every feature
of degree ≤ k), which is the loop in the code. docs/flows.md, "Autoregressive flows".
"""
from ... import functional as F
from ... import nn
from ...autograd import tensor, zeros_like
from ...checks import int_tuple, nonnegative_int, number, positive_int
from .base import Transform
from .coupling import soft_clamp

__all__ = ['made_degrees', 'MaskedLinear', 'MADE', 'MAF', 'IAF']


def made_degrees(features, hidden, order=None, context_dim=0):
    """Degrees of every layer's units. ``order``: the features in the order they are
    generated (default 0, 1, …, D−1); feature order[r] gets degree r + 1. Inputs: those
    degrees, then 0 for each context input (which may reach every hidden unit); hidden
    units cycle through 1 … D−1 (0 … D−1 with a context, so that even the first feature
    sees it); the outputs repeat the inputs' degrees."""
    order = list(range(features)) if order is None else [int(o) for o in order]
    if sorted(order) != list(range(features)):
        raise ValueError(f"made_degrees: order must be a permutation of 0..{features - 1}, "
                         f"got {order}")
    degree = [0] * features
    for rank, feature in enumerate(order):
        degree[feature] = rank + 1
    degrees = [degree + [0] * context_dim]
    for h in hidden:      # with a context, degree-0 units carry it to the first feature
        degrees.append([k % features if context_dim else k % max(1, features - 1) + 1
                        for k in range(h)])
    return degrees, degree


class MaskedLinear(nn.Linear):
    """y = x (W ⊙ M)^T + b with a fixed 0/1 mask M (out_features, in_features)."""

    def __init__(self, in_features, out_features, mask):
        super().__init__(in_features, out_features)
        self.register_buffer('mask', tensor(mask, dtype=self.weight.dtype))

    def forward(self, x):
        return x @ (self.weight * self.mask).mT + self.bias


class MADE(nn.Module):
    """Masked autoencoder: x (N, D) [+ context (N, C)] -> (N, D, P), where the P outputs
    about feature i depend only on the features before i in ``order`` (and the context).
    The last layer starts at zero."""

    def __init__(self, features, hidden=(64, 64), params_per_feature=2, order=None, context_dim=0):
        super().__init__()
        who = 'MADE'
        self.features = positive_int(features, 'features', who)
        self.hidden = int_tuple(hidden, 'hidden', who)
        self.params_per_feature = positive_int(params_per_feature, 'params_per_feature', who)
        self.context_dim = nonnegative_int(context_dim, 'context_dim', who)
        degrees, self.degree = made_degrees(self.features, self.hidden, order, self.context_dim)
        out_degrees = [m for m in self.degree for _ in range(self.params_per_feature)]
        layers = []
        for d_in, d_out in zip(degrees[:-1], degrees[1:]):
            mask = [[float(o >= i) for i in d_in] for o in d_out]
            layers += [MaskedLinear(len(d_in), len(d_out), mask), nn.ReLU()]
        mask = [[float(o > i) for i in degrees[-1]] for o in out_degrees]
        last = MaskedLinear(len(degrees[-1]), len(out_degrees), mask)
        last.weight.data[...] = 0
        last.bias.data[...] = 0
        self.net = nn.Sequential(*layers, last)

    def forward(self, x, context=None):
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"MADE: input of shape {x.shape}; expected (N, {self.features})")
        if self.context_dim:
            if context is None or tuple(context.shape) != (x.shape[0], self.context_dim):
                raise ValueError(f"MADE: needs a context of shape ({x.shape[0]}, {self.context_dim}), "
                                 f"got {None if context is None else context.shape}")
            x = F.cat([x, context], 1)
        return self.net(x).reshape(x.shape[0], self.features, self.params_per_feature)


class MAF(Transform):
    """Masked autoregressive flow layer: z = (x − μ(x)) ⊙ exp(−α(x)), (μ, α) from a MADE."""

    def __init__(self, features, hidden=(64, 64), order=None, context_dim=0, scale_bound=3.0):
        super().__init__()
        self.features = positive_int(features, 'features', type(self).__name__)
        self.made = MADE(features, hidden, 2, order, context_dim)
        self.scale_bound = number(scale_bound, 'scale_bound', type(self).__name__, low=0, low_open=True)

    def _mu_alpha(self, u, context):
        theta = self.made(u, context)
        return theta[:, :, 0], soft_clamp(theta[:, :, 1], self.scale_bound)

    def forward(self, x, context=None):                     # density: one pass
        mu, alpha = self._mu_alpha(x, context)
        return (x - mu) * (-alpha).exp(), -alpha.sum(1)

    def inverse(self, z, context=None):                     # sampling: D passes
        x = zeros_like(z)
        for _ in range(self.features):                      # pass k fixes degree k
            mu, alpha = self._mu_alpha(x, context)
            x = z * alpha.exp() + mu
        return x, alpha.sum(1)


class IAF(MAF):
    """Inverse autoregressive flow layer: x = z ⊙ exp(α(z)) + μ(z), (μ, α) from a MADE
    on z; the same map as MAF with the roles of x and z swapped."""

    def forward(self, x, context=None):                     # density: D passes
        z = zeros_like(x)
        for _ in range(self.features):
            mu, alpha = self._mu_alpha(z, context)
            z = (x - mu) * (-alpha).exp()
        return z, -alpha.sum(1)

    def inverse(self, z, context=None):                     # sampling: one pass
        mu, alpha = self._mu_alpha(z, context)
        return z * alpha.exp() + mu, alpha.sum(1)
