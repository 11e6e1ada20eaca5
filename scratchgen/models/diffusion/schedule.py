"""The noise schedule and the forward process q(x_t | x_0) (docs/diffusion.md, "Forward process").

Time is continuous, u in [0, 1], with T discrete steps at u = t / T (t = 0, 1, ..., T);
everything follows from one function, the signal level ᾱ(u) (ᾱ(0) = 1):

    linear:  ᾱ(u) = exp(−(b₀ u + ½ (b₁ − b₀) u²)),  b₀ = T β_start,  b₁ = T β_end
             (the continuous VP-SDE of Song et al.; its steps β_t below are the DDPM
             linear betas β_start..β_end up to O(β²))
    cosine:  ᾱ(u) = cos²(θ(u)) / cos²(θ(0)),  θ(u) = θ₀ + u (θ₁ − θ₀),  θ₀ = c/(1 + c) · π/2
             (Nichol & Dhariwal, c = 0.008; θ₁ is pulled in from π/2 so that ᾱ(1) =
             alpha_bar_min instead of 0: their β ≤ 0.999 clip, done smoothly)

    discrete:  ᾱ_t = ᾱ(t/T),  α_t = ᾱ_t / ᾱ_{t−1},  β_t = 1 − α_t
    VP-SDE:    β(u) = −d log ᾱ(u) / du,   dx = −½ β(u) x du + √β(u) dW
    SNR:       SNR(u) = ᾱ / (1 − ᾱ)

    q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I),   i.e.   x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.

The samplers and the network take the time as a float t in [0, T] (t = u T), so the
discrete steps and the continuous SDE/ODE share one ᾱ.
"""
import math

from ...checks import positive_int, number, one_of
from ...autograd import tensor, randn_like

__all__ = ['Schedule']


class Schedule:
    """``Schedule(kind='linear' | 'cosine', T=1000)``: ᾱ, α, β and SNR at float times
    t in [0, T] (Python floats, for one step of a sampler) and as tables indexed by
    integer t (``alpha_bar_table(like)[t]`` for a batch of training times)."""

    def __init__(self, kind='linear', T=1000, beta_start=1e-4, beta_end=0.02, cosine_s=0.008,
                 alpha_bar_min=1e-4):
        who = 'Schedule'
        self.kind = one_of(kind, ('linear', 'cosine'), 'kind', who)
        self.T = positive_int(T, 'T', who)
        self.beta_start = number(beta_start, 'beta_start', who, 0, 1, low_open=True)
        self.beta_end = number(beta_end, 'beta_end', who, self.beta_start, 1)
        self.b0, self.b1 = self.T * self.beta_start, self.T * self.beta_end
        self.cosine_s = number(cosine_s, 'cosine_s', who, 0, low_open=True)
        self.alpha_bar_min = number(alpha_bar_min, 'alpha_bar_min', who, 0, 1, True, True)
        self.theta0 = self.cosine_s / (1 + self.cosine_s) * math.pi / 2
        self.theta1 = math.acos(math.sqrt(self.alpha_bar_min) * math.cos(self.theta0))
        self._tables = {}

    # ------------------------------------------------------------------ scalars
    def _u(self, t):
        u = float(t) / self.T
        if not -1e-9 <= u <= 1 + 1e-9:
            raise ValueError(f"Schedule: time t must be in [0, {self.T}], got {t}")
        return min(max(u, 0.0), 1.0)

    def log_alpha_bar(self, t):
        """log ᾱ at time t in [0, T] (a float)."""
        u = self._u(t)
        if self.kind == 'linear':
            return -(self.b0 * u + 0.5 * (self.b1 - self.b0) * u * u)
        theta = self.theta0 + u * (self.theta1 - self.theta0)
        return 2 * math.log(math.cos(theta) / math.cos(self.theta0))

    def alpha_bar(self, t):
        """ᾱ(t)."""
        return math.exp(self.log_alpha_bar(t))

    def beta_continuous(self, t):
        """β(u) = −d log ᾱ / du of the VP-SDE, at t = u T (per unit u, not per step)."""
        u = self._u(t)
        if self.kind == 'linear':
            return self.b0 + u * (self.b1 - self.b0)
        theta = self.theta0 + u * (self.theta1 - self.theta0)
        return 2 * math.tan(theta) * (self.theta1 - self.theta0)

    def beta(self, t):
        """β_t = 1 − ᾱ_t / ᾱ_{t−1} of the discrete step t − 1 -> t (t = 1..T)."""
        return 1.0 - math.exp(self.log_alpha_bar(t) - self.log_alpha_bar(t - 1))

    def alpha(self, t):
        """α_t = 1 − β_t."""
        return 1.0 - self.beta(t)

    def snr(self, t):
        """SNR(t) = ᾱ / (1 − ᾱ)."""
        ab = self.alpha_bar(t)
        return ab / (1.0 - ab) if ab < 1 else math.inf

    # ------------------------------------------------------------------ tables
    def alpha_bar_table(self, like):
        """ᾱ_0..ᾱ_T as a (T + 1,) Tensor with ``like``'s device and dtype (cached)."""
        key = (like.device, like.dtype)
        if key not in self._tables:
            self._tables[key] = tensor([self.alpha_bar(t) for t in range(self.T + 1)],
                                       dtype=like.dtype, device=like.device)
        return self._tables[key]

    def coefficients(self, x0, t):
        """√ᾱ_t and √(1 − ᾱ_t) shaped (B, 1, ..., 1) to broadcast against x0 (B, ...)."""
        shape = (-1,) + (1,) * (x0.ndim - 1)
        ab = self.alpha_bar_table(x0)[t].reshape(*shape)
        return ab ** 0.5, (1.0 - ab) ** 0.5

    def q_sample(self, x0, t, noise=None):
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε for integer times t (B,) (a Tensor); returns
        (x_t, ε). ε ~ N(0, I) is drawn when ``noise`` is None."""
        if t.shape != (x0.shape[0],):
            raise ValueError(f"Schedule.q_sample: t must have shape ({x0.shape[0]},) for x0 of "
                             f"shape {x0.shape}, got {t.shape}")
        eps = randn_like(x0) if noise is None else noise
        a, s = self.coefficients(x0, t)
        return a * x0 + s * eps, eps

    def __repr__(self):
        return f"Schedule(kind={self.kind!r}, T={self.T})"
