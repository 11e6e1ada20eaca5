"""Special functions on raw arrays, for the ops that need them (NumPy has none).

``erf`` and ``ndtr`` (the normal CDF, Phi) use a library made for them where one is
installed and fast (``backend.special_function``): ``cupyx.scipy.special`` on CUDA,
SciPy on the host in float64. In float32 on the host SciPy's loop is ~4x slower than
the rational approximation below (``erf_rational``, ~24 in-place NumPy passes), so that
is used there, with or without SciPy; float64 without SciPy uses the series
(``erf_series``; SciPy is not a dependency). The array module comes from the input
(``backend.xp_of``), so the same code runs on every device.
"""
import math

from .. import backend


__all__ = []        # array functions for the ops, not part of the functional API

# erfcx(x) = exp(x^2) erfc(x) on 1 <= x <= 6 as a Chebyshev series in y = 4 / (4 + x),
# computed for this file by Chebyshev interpolation in mpmath at 40 digits
_ERFCX_CHEB = (0.22896004277014242, 0.16243308614798768, 0.030546548004245635,
               0.004893614652291596, 0.0006662818879211081, 7.627526890767855e-05,
               7.17253879856132e-06, 5.276056048140737e-07, 2.6827997189790735e-08,
               5.074522858022717e-10, -5.089140782409653e-11, -4.625848914621038e-12,
               -4.155798504769821e-14, 1.6159386369237732e-14, 7.31751943043825e-16,
               -4.849547417994387e-17, -4.365404011250046e-18)


# erf(x) ~ x P(x^2) / Q(x^2) for |x| <= 4 (beyond, float32 erf rounds to +-1), P and Q
# of degree 5 in x^2, Q(0) = 1: fitted for this file by iteratively reweighted least
# squares against mpmath's erf on 6,500 points of [0, 4], minimising the relative error
# (at most 2.5e-8 in exact arithmetic; float32 rounding adds up to ~3 ulp).
_ERF_P = (1.1283791392936078, 0.19354764585190154, 0.05310205840076848,
          0.0038834475494510935, 0.0002845669684105115, 1.9867455487432295e-06)
_ERF_Q = (1.0, 0.5048596903250361, 0.11535104182311033, 0.015207458512471501,
          0.0011855939597651566, 3.741985030375483e-05)
_ERF_BOUND = 4.0
# Phi(x) = 1/2 + erf(x / sqrt 2) / 2 = 1/2 + x P(x^2 / 2) / (2 sqrt(2) Q(x^2 / 2)): the same
# fit with the k-th coefficients divided by 2^k (and P's by 2 sqrt 2 as well)
_NDTR_P = tuple(c / (2.0 ** k * 2.0 * math.sqrt(2.0)) for k, c in enumerate(_ERF_P))
_NDTR_Q = tuple(c / 2.0 ** k for k, c in enumerate(_ERF_Q))


def _float_dtype(x):
    return x.dtype if x.dtype.kind == 'f' else backend.get_default_dtype()


def erf(x):
    """The error function, elementwise, in the input's float dtype (non-float input gives
    the default dtype): the library function where installed and fast (module
    docstring), else ``erf_rational`` below float64 and ``erf_series`` in float64."""
    xp, dtype = backend.xp_of(x), _float_dtype(x)
    lib = backend.special_function('erf', xp, dtype)
    if lib is not None:
        work = dtype if dtype in ('float32', 'float64') else 'float32'   # SciPy's two loops
        return lib(x.astype(work, copy=False)).astype(dtype, copy=False)
    return erf_series(x) if dtype == 'float64' else erf_rational(x)


def ndtr(x):
    """The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, elementwise, in the
    input's float dtype; chosen as ``erf`` is (the library, else ``ndtr_rational`` below
    float64, else the series)."""
    xp, dtype = backend.xp_of(x), _float_dtype(x)
    lib = backend.special_function('ndtr', xp, dtype)
    if lib is not None:
        work = dtype if dtype in ('float32', 'float64') else 'float32'
        return lib(x.astype(work, copy=False)).astype(dtype, copy=False)
    if dtype != 'float64':
        return ndtr_rational(x)
    cdf = erf_series(x * math.sqrt(0.5))
    cdf += 1.0
    cdf *= 0.5
    return cdf


def _odd_rational(x, p, q, bound):
    """x P(x^2) / Q(x^2) in float32, x clipped to [-bound, bound] (so no power of a large
    x overflows), each polynomial by Horner's rule in place: two passes per coefficient."""
    xp = backend.xp_of(x)
    y = xp.clip(x.astype('float32', copy=False), -bound, bound)
    t = y * y
    num, den = t * p[-1], t * q[-1]
    num += p[-2]
    den += q[-2]
    for c in p[-3::-1]:
        num *= t
        num += c
    for c in q[-3::-1]:
        den *= t
        den += c
    num *= y
    num /= den
    return num


def erf_rational(x):
    """The error function at float32 precision (relative error within ~4e-7, as the
    tests check against ``math.erf``), in the input's float dtype: ``_ERF_P/_ERF_Q``."""
    out = _odd_rational(x, _ERF_P, _ERF_Q, _ERF_BOUND)
    backend.xp_of(out).clip(out, -1.0, 1.0, out=out)     # rounding may overshoot 1 by 2 ulp
    return out.astype(_float_dtype(x), copy=False)


def ndtr_rational(x):
    """Phi(x) at float32 precision (absolute error within ~1e-7), in the input's float
    dtype: ``_NDTR_P/_NDTR_Q``."""
    out = _odd_rational(x, _NDTR_P, _NDTR_Q, _ERF_BOUND * math.sqrt(2.0))
    backend.xp_of(out).clip(out, -0.5, 0.5, out=out)
    out += 0.5
    return out.astype(_float_dtype(x), copy=False)


def erf_series(x):
    """The error function from a Maclaurin and a Chebyshev series (the fallback).

    float64: about 3e-16 relative error (tests compare with ``math.erf``). float32 and
    float16 are computed in float32 with both series cut where their terms drop below
    float32 precision, which halves the work. Non-float input gives the default dtype.

    * ``|x| < 1``: the Maclaurin series
      ``erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))`` (terms < 1, no
      cancellation to speak of).
    * ``|x| >= 1``: ``erf(x) = 1 - exp(-x^2) * erfcx(x)``, where the scaled
      complementary error function ``erfcx(x) = exp(x^2) erfc(x)`` is a Chebyshev series
      in ``t = 4 / (4 + |x|)`` over ``1 <= |x| <= 6``, summed with Clenshaw's recurrence.
      Beyond 6, ``erfc < 2.2e-17`` and erf rounds to +-1.
    """
    xp = backend.xp_of(x)
    dtype = x.dtype if x.dtype.kind == 'f' else backend.get_default_dtype()
    exact = dtype == 'float64'
    n_taylor, n_cheb = (19, 17) if exact else (12, 9)
    a = xp.abs(x).astype('float64' if exact else 'float32')
    # Both branches run on every element (cheaper than boolean gathers); each sees its
    # input clipped to its own range, and `where` picks. In-place ops on our own arrays.

    s = xp.minimum(a, 1.0)                       # |x| < 1: Horner in t = x^2
    t = s * s
    p = xp.full_like(t, 0.0)
    for n in reversed(range(n_taylor)):
        p *= t
        p += (-1) ** n / (math.factorial(n) * (2 * n + 1))
    p *= s
    p *= 2.0 / math.sqrt(math.pi)

    z = xp.clip(a, 1.0, 6.0)                     # |x| >= 1: Clenshaw for erfcx
    y2 = 40.0 / (4.0 + z) - 6.0        # 2y, y = 4/(4+z) mapped from [0.4, 0.8] onto [-1, 1]
    b1, b2, tmp = xp.zeros_like(z), xp.zeros_like(z), xp.empty_like(z)
    for c in _ERFCX_CHEB[n_cheb - 1:0:-1]:      # b2 <- y2 b1 - b2 + c, then swap
        xp.multiply(y2, b1, out=tmp)
        b2 *= -1.0
        b2 += c
        b2 += tmp
        b1, b2 = b2, b1
    b1 *= 0.5 * y2
    b1 -= b2
    b1 += _ERFCX_CHEB[0]                         # b1 is now erfcx(z)
    z *= z
    z *= -1.0
    b1 *= xp.exp(z, out=z)
    out = xp.where(a < 1.0, p, 1.0 - b1)
    return xp.copysign(out, x).astype(dtype, copy=False)
