"""Elementwise math and activations: one Function per primitive, derivative beside it.

Backward rules reuse the forward output where that is cheaper and stable
(``exp``: dy/dx = y); they are written with Tensor ops so they can be differentiated
again. Where a derivative is piecewise (relu, leaky_relu, elu, softplus, clip,
max-selection), the pieces are told apart once, from the forward input, by a constant
bool ``_mask(cond)``, and the rule picks with ``where(mask, gy, ...)``: the mask has no
derivative, which is exact away from the kinks, and a masked-out entry gets 0 even
where the upstream gradient is infinite. At a kink the value follows PyTorch
(relu'(0) = 0, abs'(0) = sign(0) = 0, clip passes the gradient at the bounds, maximum
splits it on ties).

Forward formulas are the numerically stable ones: ``softplus`` uses ``exp(-|x|)``
only, so no input overflows; ``sigmoid`` lets exp(-x) overflow to inf, whose
reciprocal is the exact limit 0.
"""
import math
import numbers

from .. import backend
from ..autograd import Function, Tensor
from . import special
from ..autograd.tensor import as_tensor_like


__all__ = ['exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'abs', 'sign', 'sin', 'cos',
           'tanh', 'sigmoid', 'relu', 'leaky_relu', 'elu', 'erf', 'gelu', 'silu', 'softplus',
           'clip', 'clamp', 'maximum', 'minimum', 'where']

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715


def _number(v):
    """A Python int or float: NumPy scalars (np.float64) would promote float32 arrays."""
    return int(v) if isinstance(v, numbers.Integral) else float(v)


def _mask(cond):
    """A bool array computed from forward inputs, as a constant Tensor (no gradient),
    for a backward rule to pick with ``where``. NumPy compares 0-d arrays into a scalar
    (np.bool_), so that is made a 0-d array again."""
    if not backend.is_array(cond):
        cond = backend.xp_of(cond).asarray(cond)
    return Tensor(cond)


def _sigmoid(xp, x):
    """1 / (1 + exp(-x)) in four in-place passes. Where exp(-x) overflows (x < -88 in
    float32) it is inf and the result the exact limit 0, so the overflow is let pass."""
    t = xp.negative(x)
    if t.dtype.kind != 'f':
        t = t.astype(xp.float64)
    with backend.overflow_ok():
        xp.exp(t, out=t)
    t += 1.0
    return xp.reciprocal(t, out=t)


# ------------------------------------------------------------------ exp, log, powers
class Exp(Function):
    def forward(self, x):
        return self.xp_of(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    def forward(self, x):
        return self.xp_of(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Log1p(Function):
    """log(1 + x), accurate for small x."""

    def forward(self, x):
        return self.xp_of(x).log1p(x)

    def backward(self, gy):
        return gy / (self.inputs[0] + 1.0)


class Expm1(Function):
    """exp(x) - 1, accurate for small x."""

    def forward(self, x):
        return self.xp_of(x).expm1(x)

    def backward(self, gy):
        return gy * (self.output() + 1.0)


class Sqrt(Function):
    def forward(self, x):
        return self.xp_of(x).sqrt(x)

    def backward(self, gy):                      # d sqrt(x) = 1 / (2 sqrt(x))
        return gy * 0.5 / self.output()


class Rsqrt(Function):
    """1 / sqrt(x)."""

    def forward(self, x):
        return 1.0 / self.xp_of(x).sqrt(x)

    def backward(self, gy):                      # d x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2
        y = self.output()
        return gy * (y * y * y * -0.5)


# ------------------------------------------------------------------ sign, abs, trig
class Abs(Function):
    def forward(self, x):
        return self.xp_of(x).abs(x)

    def backward(self, gy):                      # sign(x); 0 at x = 0 as in PyTorch
        return gy * sign(self.inputs[0])


class Sign(Function):
    """-1, 0 or 1. Piecewise constant: its derivative is zero (PyTorch returns zeros too)."""

    def forward(self, x):
        return self.xp_of(x).sign(x)

    def backward(self, gy):
        return gy * 0.0


class Sin(Function):
    def forward(self, x):
        return self.xp_of(x).sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    def forward(self, x):
        return self.xp_of(x).cos(x)

    def backward(self, gy):
        return gy * -sin(self.inputs[0])


class Erf(Function):
    """The error function (computed in ops/special.py, since NumPy has none)."""

    def forward(self, x):
        return special.erf(x)

    def backward(self, gy):                      # d erf(x) = 2/sqrt(pi) exp(-x^2)
        x = self.inputs[0]
        return gy * (exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


# ------------------------------------------------------------------ activations
class Tanh(Function):
    def forward(self, x):
        return self.xp_of(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1.0 - y * y)


class Sigmoid(Function):
    def forward(self, x):
        return _sigmoid(self.xp_of(x), x)

    def backward(self, gy):
        y = self.output()
        return gy * (y * (1.0 - y))


class Relu(Function):
    def forward(self, x):
        return self.xp_of(x).maximum(x, 0.0)

    def backward(self, gy):                      # 1 where x > 0, else 0 (also at 0)
        return where(_mask(self.inputs[0].data > 0), gy, 0.0)


class LeakyRelu(Function):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return self.xp_of(x).where(x > 0, x, x * self.negative_slope)

    def backward(self, gy):
        return where(_mask(self.inputs[0].data > 0), gy, gy * self.negative_slope)


class Elu(Function):
    """x for x > 0, alpha (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0):
        self.alpha = float(alpha)

    def forward(self, x):
        xp = self.xp_of(x)
        # expm1 of the clipped input: the unused branch must not overflow for large x
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0.0)))

    def backward(self, gy):                      # x <= 0: alpha exp(x) = y + alpha
        return where(_mask(self.inputs[0].data > 0), gy, gy * (self.output() + self.alpha))


class Gelu(Function):
    """x * Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch does.

    Forward keeps Phi(x) (or the tanh) for the first derivative, which one fused op
    computes (GeluBackward); its own derivative is written in ops, so every order works."""

    def __init__(self, approximate='none'):
        if approximate not in ('none', 'tanh'):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.saved = _gelu_saved(x, self.approximate)
        if self.approximate == 'tanh':
            return 0.5 * x * (1.0 + self.saved)
        return x * self.saved

    def backward(self, gy):
        return GeluBackward(self.approximate, self.saved)(self.inputs[0], gy)


def _gelu_saved(x, approximate):
    """What GeluBackward needs from the forward: Phi(x), or tanh(u) for 'tanh'."""
    if approximate == 'tanh':
        return backend.xp_of(x).tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * (x * x * x)))
    return special.ndtr(x)


class GeluBackward(Function):
    """gy * gelu'(x), fused, given ``saved`` = _gelu_saved(x) from the forward:
    gelu'(x) = Phi(x) + x phi(x); for 'tanh', 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x)
    with t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3)."""

    def __init__(self, approximate, saved):
        self.approximate, self.saved = approximate, saved

    def forward(self, x, gy):
        xp = self.xp_of(x)
        if self.approximate == 'tanh':
            t = self.saved
            d = x * x
            d *= 3.0 * _GELU_TANH_C
            d += 1.0
            d *= 0.5 * _SQRT_2_OVER_PI
            d *= x
            d *= 1.0 - t * t
            d += 0.5
            d += 0.5 * t
        else:
            d = x * x
            d *= -0.5
            d = xp.exp(d, out=d)
            d *= x
            d *= 1.0 / math.sqrt(2.0 * math.pi)
            d += self.saved
        d *= gy
        return d

    def backward(self, u):
        x, gy = self.inputs
        if self.approximate == 'tanh':
            t = tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * (x * x * x)))
            du = _SQRT_2_OVER_PI * (1.0 + (3.0 * _GELU_TANH_C) * (x * x))
            d1 = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
            # gelu'' = (1 - t^2) (u' + x (u''/2 - t u'^2)), u'' = 6 c a x
            half_ddu = (3.0 * _SQRT_2_OVER_PI * _GELU_TANH_C) * x
            d2 = (1.0 - t * t) * (du + x * (half_ddu - t * du * du))
        else:
            cdf = 0.5 * (1.0 + erf(x * math.sqrt(0.5)))
            pdf = exp(-0.5 * (x * x)) * (1.0 / math.sqrt(2.0 * math.pi))
            d1 = cdf + x * pdf                   # d (x Phi(x)) = Phi(x) + x phi(x)
            d2 = pdf * (2.0 - x * x)             # phi'(x) = -x phi(x)
        gx = u * gy * d2 if x.requires_grad else None
        ggy = u * d1 if gy.requires_grad else None
        return gx, ggy


class Silu(Function):
    """x * sigmoid(x) (a.k.a. swish). The forward keeps s = sigmoid(x) for the fused
    backward (SiluBackward), which then needs no exponential of its own."""

    def forward(self, x):
        self.s = _sigmoid(self.xp_of(x), x)
        return x * self.s

    def backward(self, gy):
        return SiluBackward(self.s)(self.inputs[0], gy)


class SiluBackward(Function):
    """gy * silu'(x), fused, given s = sigmoid(x) from the forward:
    silu'(x) = s (1 + x (1 - s)); its own derivative, for double backward,
    silu''(x) = s (1 - s) (2 + x (1 - 2 s))."""

    def __init__(self, s):
        self.s = s

    def forward(self, x, gy):
        d = 1.0 - self.s                         # in place: one temporary, not five
        d *= x
        d += 1.0
        d *= self.s
        d *= gy
        return d

    def backward(self, gg):
        x, gy = self.inputs
        s = sigmoid(x)                           # a Tensor, so this is differentiable again
        gx = gg * gy * (s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))) if x.requires_grad else None
        ggy = gg * (s * (1.0 + x * (1.0 - s))) if gy.requires_grad else None
        return gx, ggy


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        xp = self.xp_of(x)
        z = x * self.beta
        # log(1 + e^z) = log1p(e^-|z|) + max(z, 0): exp never sees a positive argument
        soft = (xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0.0)) * (1.0 / self.beta)
        return xp.where(z > self.threshold, x, soft)

    def backward(self, gy):                      # sigmoid(beta x); 1 in the linear part
        x = self.inputs[0]
        return where(_mask(x.data * self.beta > self.threshold), gy, gy * sigmoid(x * self.beta))


# ------------------------------------------------------------------ clipping, selection
class Clip(Function):
    """Clip to [min, max] (either may be None). The gradient passes where
    min <= x <= max, bounds included, as in PyTorch's clamp."""

    def __init__(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        self.min = None if min is None else _number(min)
        self.max = None if max is None else _number(max)

    def forward(self, x):
        xp = self.xp_of(x)
        if self.min is not None:
            x = xp.maximum(x, self.min)
        if self.max is not None:
            x = xp.minimum(x, self.max)
        return x

    def backward(self, gy):
        x = self.inputs[0].data
        inside = True
        if self.min is not None:
            inside = inside & (x >= self.min)
        if self.max is not None:
            inside = inside & (x <= self.max)
        return where(_mask(inside), gy, 0.0)


class _Select(Function, register=False):
    """Elementwise maximum/minimum of two tensors. The gradient goes to the selected
    input; on ties it is split equally between both (as in PyTorch)."""

    def backward(self, gy):
        a, b = self.inputs[0].data, self.inputs[1].data
        a_wins, b_wins = _mask(self.wins(a, b)), _mask(self.wins(b, a))
        half = gy * 0.5                          # a tie: each gets half
        return (where(a_wins, gy, where(b_wins, 0.0, half)),
                where(b_wins, gy, where(a_wins, 0.0, half)))


class Maximum(_Select):
    def forward(self, a, b):
        return self.xp_of(a).maximum(a, b)

    def wins(self, a, b):
        return a > b


class Minimum(_Select):
    def forward(self, a, b):
        return self.xp_of(a).minimum(a, b)

    def wins(self, a, b):
        return a < b


class Where(Function):
    """``a`` where ``cond`` else ``b`` (cond: a bool tensor, no gradient)."""

    def forward(self, cond, a, b):
        return self.xp_of(a).where(cond, a, b)

    def backward(self, gy):
        cond, a, b = self.inputs
        ga = where(cond, gy, 0.0) if a.requires_grad else None
        gb = where(cond, 0.0, gy) if b.requires_grad else None
        return None, ga, gb


# ------------------------------------------------------------------ functional API
def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def log1p(x):
    return Log1p()(x)


def expm1(x):
    return Expm1()(x)


def sqrt(x):
    return Sqrt()(x)


def rsqrt(x):
    return Rsqrt()(x)


def abs(x):
    return Abs()(x)


def sign(x):
    return Sign()(x)


def sin(x):
    return Sin()(x)


def cos(x):
    return Cos()(x)


def erf(x):
    return Erf()(x)


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)


def relu(x):
    return Relu()(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyRelu(negative_slope)(x)


def elu(x, alpha=1.0):
    return Elu(alpha)(x)


def gelu(x, approximate='none'):
    return Gelu(approximate)(x)


def silu(x):
    return Silu()(x)


def softplus(x, beta=1.0, threshold=20.0):
    return Softplus(beta, threshold)(x)


def maximum(a, b):
    return Maximum()(a, b)


def minimum(a, b):
    return Minimum()(a, b)


def clip(x, min=None, max=None):
    """Clip to [min, max]. Tensor bounds go through maximum/minimum, so on exact ties
    with a bound the gradient is split (PyTorch gives it all to x)."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        if min is not None:
            x = maximum(x, min)
        return x if max is None else minimum(x, max)
    return Clip(min, max)(x)


clamp = clip


def where(cond, a, b):
    """Elementwise ``a if cond else b``, broadcasting all three (like torch.where).

    ``cond`` must be a bool Tensor; ``a`` or ``b`` may be a Python number, which takes
    the dtype of the other (a number never promotes a float32 tensor)."""
    if not isinstance(cond, Tensor) or cond.dtype != backend.bool_:
        got = cond.dtype if isinstance(cond, Tensor) else type(cond).__name__
        raise TypeError(f"where: condition must be a bool Tensor, got {got}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("where: at least one of a and b must be a Tensor")
    a, b = as_tensor_like(a, (b,)), as_tensor_like(b, (a,))
    return Where()(cond, a, b)


TENSOR_METHODS = {
    'exp': exp, 'log': log, 'log1p': log1p, 'expm1': expm1, 'sqrt': sqrt, 'rsqrt': rsqrt,
    'abs': abs, '__abs__': abs, 'sign': sign, 'sin': sin, 'cos': cos, 'erf': erf,
    'tanh': tanh, 'sigmoid': sigmoid, 'relu': relu,
    'clip': clip, 'clamp': clamp, 'maximum': maximum, 'minimum': minimum,
    # PyTorch's Tensor.where(condition, other) is where(condition, self, other)
    'where': lambda self, condition, other: where(condition, self, other),
}
