"""``EMA``: an exponential moving average of a model's parameters.

After each optimizer step, ``update()`` moves each average θ̄ towards the parameter θ:

    θ̄ ← d θ̄ + (1 − d) θ,    d = decay   (or min(decay, (1 + n)/(10 + n)) with warmup,
                                         n = the number of updates so far)

Averaged weights often sample better than the raw ones (diffusion models, GANs).
Evaluate with them inside ``with ema.average_parameters():`` (the raw weights are
restored on exit, also on an exception), or copy them for good with ``copy_to()``.
Only parameters are averaged; buffers (e.g. BatchNorm running statistics) are not.
"""
import contextlib

from .. import backend
from ..autograd import Tensor


def _param_list(obj, who):
    if hasattr(obj, 'parameters') and callable(obj.parameters):
        obj = obj.parameters()
    params = [obj] if isinstance(obj, Tensor) else list(obj)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected a model or Parameters, but item {i} is a "
                            f"{type(p).__name__}")
    return params


class EMA:
    def __init__(self, parameters, decay=0.999, warmup=False):
        if not 0 <= decay <= 1:
            raise ValueError(f"EMA: decay must be in [0, 1], got {decay!r}")
        self.params = _param_list(parameters, 'EMA')
        self.decay, self.warmup = decay, bool(warmup)
        self.num_updates = 0
        self.shadow = [p.data.copy() for p in self.params]

    def current_decay(self):
        """The decay the last ``update()`` used (it grows during warmup)."""
        if not self.warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    def update(self):
        """θ̄ ← d θ̄ + (1 − d) θ for every parameter."""
        self.num_updates += 1
        d = self.current_decay()
        for i, p in enumerate(self.params):
            s = self._shadow_for(i, p)
            s *= d
            s += (1 - d) * p.data

    def _shadow_for(self, i, p):
        """The average of parameter i, moved if the parameter changed device or dtype."""
        s = self.shadow[i]
        if backend.device_of(s) != p.device or s.dtype != p.dtype:
            s = self.shadow[i] = backend.to_device(s, p.device, p.dtype).copy()
        return s

    def _targets(self, model, who):
        if model is None:
            return self.params
        params = _param_list(model, who)
        if [p.shape for p in params] != [tuple(s.shape) for s in self.shadow]:
            raise ValueError(f"{who}: the model's parameters (shapes "
                             f"{[p.shape for p in params]}) do not match the averaged ones "
                             f"({[tuple(s.shape) for s in self.shadow]})")
        return params

    def copy_to(self, model=None):
        """Overwrite the parameters (of ``model``, or the tracked ones) with the averages."""
        for i, p in enumerate(self._targets(model, 'EMA.copy_to')):
            p.data[...] = self._shadow_for(i, p)

    @contextlib.contextmanager
    def average_parameters(self, model=None):
        """Temporarily swap the averaged weights in; the raw ones come back on exit."""
        params = self._targets(model, 'EMA.average_parameters')
        backup = [p.data.copy() for p in params]
        self.copy_to(model)
        try:
            yield
        finally:
            for p, b in zip(params, backup):
                p.data[...] = b

    def state_dict(self):
        return {'decay': self.decay, 'warmup': self.warmup, 'num_updates': self.num_updates,
                'shadow': [s.copy() for s in self.shadow]}

    def load_state_dict(self, state_dict):
        shadow = list(state_dict['shadow'])
        if len(shadow) != len(self.params):
            raise ValueError(f"EMA.load_state_dict: the saved state averages {len(shadow)} "
                             f"parameters, this EMA tracks {len(self.params)}")
        for i, (s, p) in enumerate(zip(shadow, self.params)):
            s = s.data if isinstance(s, Tensor) else s
            if tuple(s.shape) != p.shape:
                raise ValueError(f"EMA.load_state_dict: average {i} has shape "
                                 f"{tuple(s.shape)} but the parameter has shape {p.shape}")
        self.shadow = [backend.to_device(s.data if isinstance(s, Tensor) else s,
                                         p.device, p.dtype).copy()
                       for s, p in zip(shadow, self.params)]
        self.decay, self.warmup = state_dict['decay'], bool(state_dict['warmup'])
        self.num_updates = int(state_dict['num_updates'])
