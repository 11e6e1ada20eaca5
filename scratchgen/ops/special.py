"""Special functions on raw arrays, for the ops that need them (NumPy has none).

``erf`` uses a library made for it where one is installed (SciPy's ``special.erf`` on
the host, ``cupyx.scipy.special.erf`` on CUDA; ``backend.special_function`` picks it),
and otherwise the series below (SciPy is not a dependency). The array module comes from
the input (``backend.xp_of``), so the same code runs on every device.
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


def erf(x):
    """The error function, elementwise, in the input's float dtype (non-float input gives
    the default dtype): the library function where installed, else ``erf_series``."""
    xp = backend.xp_of(x)
    lib = backend.special_function('erf', xp)
    if lib is None:
        return erf_series(x)
    dtype = x.dtype if x.dtype.kind == 'f' else backend.get_default_dtype()
    work = dtype if dtype in ('float32', 'float64') else 'float32'   # SciPy's two loops
    return lib(x.astype(work, copy=False)).astype(dtype, copy=False)


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
