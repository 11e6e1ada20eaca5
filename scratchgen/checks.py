"""Argument checks shared by every layer of the library (ops, nn, optim, data, models).

Each check returns the value in its canonical form (a Python int, a pair, a float) or
raises an error that names the function (``who``), the argument and what was expected,
so a user's mistake is reported where they made it. Everything that validates an
int, a pair or a number uses these; nothing hand-writes the same test again.
"""
import math
import operator

__all__ = ['int_at_least', 'int_in', 'positive_int', 'nonnegative_int', 'int_pair', 'number',
           'one_of', 'int_tuple']


def _as_int(value):
    """``value`` as a Python int, or None (bools are not ints here)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def int_at_least(value, minimum, name, who):
    """An int >= ``minimum``."""
    v = _as_int(value)
    if v is None or v < minimum:
        kind = {0: 'a non-negative int', 1: 'a positive int'}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{who}: {name} must be {kind}, got {value!r}")
    return v


def int_in(value, low, high, name, who):
    """An int in low..high (both included)."""
    v = _as_int(value)
    if v is None or not low <= v <= high:
        raise ValueError(f"{who}: {name} must be an int in {low}..{high}, got {value!r}")
    return v


def positive_int(value, name, who):
    return int_at_least(value, 1, name, who)


def nonnegative_int(value, name, who):
    return int_at_least(value, 0, name, who)


def int_tuple(value, name, who, minimum=1):
    """A non-empty tuple (or list) of ints >= ``minimum`` -> tuple of ints."""
    vals = tuple(_as_int(v) for v in value) if isinstance(value, (tuple, list)) else ()
    if not vals or any(v is None or v < minimum for v in vals):
        kind = 'positive ints' if minimum == 1 else f"ints >= {minimum}"
        raise ValueError(f"{who}: {name} must be a non-empty tuple of {kind}, got {value!r}")
    return vals


def int_pair(value, name, who, minimum=0):
    """An int or a pair of ints, each >= ``minimum`` -> a pair (kernel_size, stride, ...)."""
    pair = (_as_int(value),) * 2 if not isinstance(value, (tuple, list)) else \
        tuple(_as_int(v) for v in value)
    if len(pair) != 2 or any(v is None for v in pair):
        raise TypeError(f"{who}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{who}: {name} must be an int or a pair of ints >= {minimum}, "
                         f"got {value!r}")
    return pair


def number(value, name, who, low=None, high=None, low_open=False, high_open=False):
    """A finite real number in [low, high] (an end is open when ``*_open``) -> float."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) or \
        type(value).__module__ == 'numpy' and getattr(value, 'ndim', 1) == 0 and \
        getattr(value, 'dtype', None) is not None and value.dtype.kind in 'iuf'
    v = float(value) if ok else math.nan
    bad = not math.isfinite(v)
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        lo = '' if low is None else f"{'>' if low_open else '>='} {low}"
        hi = '' if high is None else f"{'<' if high_open else '<='} {high}"
        rng = ' and '.join(s for s in (lo, hi) if s)
        raise ValueError(f"{who}: {name} must be a finite number{' ' + rng if rng else ''}, "
                         f"got {value!r}")
    return v


def one_of(value, choices, name, who):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{who}: {name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value
