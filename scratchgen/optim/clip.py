"""Gradient clipping: ``clip_grad_norm_`` (rescale all gradients together) and
``clip_grad_value_`` (clamp each entry). Call them between ``backward()`` and
``optimizer.step()``.

The gradients are replaced by new tensors (``p.grad = ...``), never changed in place:
a gradient array may be shared with another tensor.
"""
from .. import backend
from ..autograd import Tensor


def _params(parameters, who):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected Parameters, but item {i} is a {type(p).__name__}")
    return [p for p in params if p.grad is not None]


def _vector_norm(xp, a, norm_type):
    return backend.ensure_array(xp.linalg.norm(a.reshape(-1), ord=norm_type))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients so that their joint ``norm_type``-norm (all gradients as one
    long vector) is at most ``max_norm``. Returns the norm before clipping (a Tensor).

    coef = min(1, max_norm / (total_norm + 1e-6));  g ← coef · g   (as PyTorch)
    """
    norm_type = float(norm_type)
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm!r}")
    params = _params(parameters, 'clip_grad_norm_')
    if not params:
        xp = backend.array_module(None)
        return Tensor(xp.zeros((), dtype=backend.get_default_dtype()))
    xp = params[0].xp
    norms = [_vector_norm(xp, p.grad.data, norm_type) for p in params]
    total = _vector_norm(xp, xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           "gradients is non-finite, so it cannot be clipped; pass "
                           "error_if_nonfinite=False to clip anyway")
    # computed on the device, without a host sync: no branch on the value
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for p in params:
        g = p.grad.data
        p.grad = Tensor(backend.ensure_array(g * coef.astype(g.dtype)))
    return Tensor(total)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry into [−clip_value, clip_value]."""
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for p in _params(parameters, 'clip_grad_value_'):
        p.grad = Tensor(backend.ensure_array(p.xp.clip(p.grad.data, -clip_value, clip_value)))
