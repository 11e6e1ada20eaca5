"""Numerical gradient checks: ``gradcheck`` and ``gradgradcheck``.

The bar (docs/gradcheck.md): float64; central differences; random upstream gradients
(never all ones, since e.g. sum(softmax(x)) is constant and would hide a wrong
backward); the full Jacobian for small inputs plus a random-direction check; a pass
means |numeric - analytic| <= atol + rtol * |analytic| everywhere. It also checks that
the gradient has the input's shape and dtype, that the inputs are not mutated, and
that two backward runs give identical results.
"""
import numpy as np

from .. import backend
from .engine import grad
from .grad_mode import no_grad, enable_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _flat_outputs(fn, inputs):
    """All floating outputs of fn, concatenated as one float64 host vector."""
    with no_grad():
        outs = _outputs(fn, inputs)
    parts = [backend.to_host(o.data).astype(np.float64).ravel()
             for o in outs if isinstance(o, Tensor) and o.dtype.kind == 'f']
    return np.concatenate(parts) if parts else np.zeros(0)


def _describe(name, inputs):
    shapes = ', '.join(str(t.shape) if isinstance(t, Tensor) else repr(t) for t in inputs)
    return f"{name} with inputs of shapes [{shapes}]"


def _compare(what, numeric, analytic, atol, rtol, context):
    numeric, analytic = np.asarray(numeric, float), np.asarray(analytic, float)
    err = np.abs(numeric - analytic)
    bound = atol + rtol * np.abs(analytic)
    bad = err > bound
    if not bad.any() and np.isfinite(analytic).all():
        return
    order = np.argsort(-(err - bound).ravel())[:5]
    rows = '\n'.join(f"    index {tuple(int(j) for j in np.unravel_index(i, numeric.shape))}: numeric "
                     f"{numeric.ravel()[i]:.8g}, analytic {analytic.ravel()[i]:.8g}, "
                     f"|diff| {err.ravel()[i]:.3g}" for i in order)
    raise GradcheckError(f"gradcheck failed for {context}: {what} mismatch "
                         f"({int(bad.sum())} of {bad.size} entries out of tolerance "
                         f"atol={atol}, rtol={rtol}); worst entries:\n{rows}")


def _perturb(t, flat_index, delta):
    idx = np.unravel_index(flat_index, t.shape)
    old = t.data[idx].item()
    t.data[idx] = old + delta
    return idx, old


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, full_jacobian_max=400,
              seed=0, name=None, raise_exception=True):
    """Check the analytic gradients of ``fn(*inputs)`` against central differences.

    ``inputs``: Tensors (those with ``requires_grad`` are checked, and must be float64)
    or other constants. ``full_jacobian_max``: inputs with at most this many elements
    get every Jacobian entry checked; all inputs get a random-direction check.
    Returns True, or raises ``GradcheckError`` describing the worst entries.
    """
    name = name or getattr(fn, '__name__', 'fn')
    inputs = list(inputs)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError(f"gradcheck({name}): no input requires grad")
    for t in diff:
        if t.dtype != np.float64:
            raise ValueError(f"gradcheck({name}): inputs must be float64, got {t.dtype} "
                             f"for shape {t.shape}")
    context = _describe(name, inputs)
    rng = np.random.default_rng(seed)
    snapshot = [backend.to_host(t.data) for t in diff]
    try:
        _check(fn, inputs, diff, eps, atol, rtol, full_jacobian_max, rng, context)
        for t, before in zip(diff, snapshot):
            if not np.array_equal(backend.to_host(t.data), before):
                raise GradcheckError(f"gradcheck failed for {context}: an input was mutated")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _analytic(fn, inputs, diff, vs):
    """The gradients of <fn(inputs), vs> for the inputs in diff: as host arrays (zeros
    where unused), and as returned by the engine (None where unused)."""
    outs = _outputs(fn, inputs)
    flt = [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == 'f']
    pairs = [(o, v) for o, v in zip(flt, vs) if o.requires_grad]
    if not pairs:
        return [np.zeros(t.shape) for t in diff], [None] * len(diff)
    gs = grad([o for o, _ in pairs], diff, [v for _, v in pairs], allow_unused=True)
    return [np.zeros(t.shape) if g is None else backend.to_host(g.data) for g, t in zip(gs, diff)], gs


def _check(fn, inputs, diff, eps, atol, rtol, full_max, rng, context):
    with no_grad():
        flt = [o for o in _outputs(fn, inputs) if isinstance(o, Tensor) and o.dtype.kind == 'f']
    # random upstream gradients, one per floating output
    vs = [Tensor(backend.asarray(rng.standard_normal(o.shape), device=o.device)) for o in flt]
    v_flat = np.concatenate([backend.to_host(v.data).ravel() for v in vs]) if vs else np.zeros(0)

    analytic, raw = _analytic(fn, inputs, diff, vs)
    for t, g in zip(diff, raw):
        if g is not None and (g.shape != t.shape or g.dtype != t.dtype):
            raise GradcheckError(f"gradcheck failed for {context}: gradient has shape {g.shape} "
                                 f"dtype {g.dtype}, input has shape {t.shape} dtype {t.dtype}")
    again, _ = _analytic(fn, inputs, diff, vs)
    for a, b in zip(analytic, again):
        if not np.array_equal(a, b):
            raise GradcheckError(f"gradcheck failed for {context}: two backward runs differ "
                                 f"(max |diff| {np.abs(a - b).max():.3g})")

    n_out = v_flat.size
    for k, t in enumerate(diff):
        if t.data.size <= full_max:
            # numeric Jacobian column by column; compare v^T J, and the full J when small
            jac = np.zeros((n_out, t.data.size))
            for j in range(t.data.size):
                idx, old = _perturb(t, j, eps)
                plus = _flat_outputs(fn, inputs)
                t.data[idx] = old - eps
                minus = _flat_outputs(fn, inputs)
                t.data[idx] = old
                jac[:, j] = (plus - minus) / (2 * eps)
            _compare(f"vector-Jacobian product for input {k}", (v_flat @ jac).reshape(t.shape),
                     analytic[k], atol, rtol, context)
            if n_out * t.data.size <= 4 * full_max * full_max and n_out <= full_max:
                _compare_full_jacobian(fn, inputs, diff, k, jac, flt, atol, rtol, context)
    # random direction through all inputs at once
    us = [rng.standard_normal(t.shape) for t in diff]
    saved = [t.data.copy() for t in diff]
    for t, u in zip(diff, us):
        t.data[...] = t.data + backend.asarray(eps * u, device=t.device)
    plus = _flat_outputs(fn, inputs)
    for t, s, u in zip(diff, saved, us):
        t.data[...] = s - backend.asarray(eps * u, device=t.device)
    minus = _flat_outputs(fn, inputs)
    for t, s in zip(diff, saved):
        t.data[...] = s
    numeric = v_flat @ ((plus - minus) / (2 * eps))
    analytic_dir = sum(float((g * u).sum()) for g, u in zip(analytic, us))
    _compare("random-direction derivative", numeric, analytic_dir, atol, rtol, context)


def _compare_full_jacobian(fn, inputs, diff, k, jac, flt, atol, rtol, context):
    """Analytic Jacobian row by row (one-hot upstream gradients) against the numeric one."""
    n_out = jac.shape[0]
    rows = np.zeros_like(jac)
    sizes = [o.data.size for o in flt]
    offsets = np.cumsum([0] + sizes)
    for r in range(n_out):
        which = int(np.searchsorted(offsets, r, side='right') - 1)
        vs = []
        for i, o in enumerate(flt):
            v = np.zeros(o.shape)
            if i == which:
                v.ravel()[r - offsets[i]] = 1.0
            vs.append(Tensor(backend.asarray(v, device=o.device)))
        analytic, _ = _analytic(fn, inputs, diff, vs)
        rows[r] = analytic[k].ravel()
    _compare(f"Jacobian of input {k}", jac, rows, atol, rtol, context)


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, full_jacobian_max=100,
                  seed=0, name=None, raise_exception=True):
    """Check second derivatives: gradcheck of (x, v) -> d<fn(x), v>/dx, with random v,
    the first-order gradient built with ``create_graph=True``."""
    name = name or getattr(fn, '__name__', 'fn')
    inputs = list(inputs)
    diff_pos = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    with no_grad():
        flt = [o for o in _outputs(fn, inputs) if isinstance(o, Tensor) and o.dtype.kind == 'f']
    rng = np.random.default_rng(seed + 1)
    vs = [Tensor(backend.asarray(rng.standard_normal(o.shape), device=o.device),
                 requires_grad=True) for o in flt]
    n = len(inputs)

    def first_derivative(*args):
        with enable_grad():      # numeric evaluation runs under no_grad; this must not
            return _first(*args)

    def _first(*args):
        xs, v = list(args[:n]), list(args[n:])
        outs = [o for o in _outputs(fn, xs) if isinstance(o, Tensor) and o.dtype.kind == 'f']
        pairs = [(o, g) for o, g in zip(outs, v) if o.requires_grad]
        diff = [xs[i] for i in diff_pos]
        if not pairs:
            return tuple(Tensor(t.xp.zeros(t.shape, dtype=t.dtype)) for t in diff)
        gs = grad([o for o, _ in pairs], diff, [g for _, g in pairs], create_graph=True,
                  allow_unused=True)
        return tuple(Tensor(t.xp.zeros(t.shape, dtype=t.dtype)) if g is None else g
                     for g, t in zip(gs, diff))
    first_derivative.__name__ = f"grad of {name}"
    return gradcheck(first_derivative, inputs + vs, eps, atol, rtol, full_jacobian_max,
                     seed + 2, name=f"second derivative of {name}",
                     raise_exception=raise_exception)
