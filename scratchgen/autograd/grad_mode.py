"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``; anomaly detection switch."""
import functools


class _State:
    """Process-wide switches (plain attributes: read on every op, so kept cheap)."""
    enabled = True
    anomaly = False
    tracer = None          # an active ``trace`` (see trace.py), or None
    in_backward = 0        # > 0 while the engine walks the graph


_state = _State()


def is_grad_enabled():
    return _state.enabled


def is_anomaly_enabled():
    return _state.anomaly


class _GradMode:
    """Context manager and decorator that sets the grad mode and restores it on exit."""
    mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = self.mode

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Ops inside record no graph (inference, parameter updates)."""
    mode = False


class enable_grad(_GradMode):
    """Re-enable graph recording inside a ``no_grad`` block."""
    mode = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode):
        self.mode = bool(mode)

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class detect_anomaly:
    """Within this block, the first op whose forward output or backward gradient
    holds NaN/Inf raises, naming the op and the line that created it."""

    def __enter__(self):
        self._prev = is_anomaly_enabled()
        _state.anomaly = True

    def __exit__(self, *exc):
        _state.anomaly = self._prev
        return False
