"""``Function``: one differentiable primitive. The base class every op derives from.

An op subclasses ``Function`` and writes two methods:

* ``forward(*arrays) -> array | tuple``: raw backend arrays in and out;
* ``backward(*grad_outputs) -> Tensor | tuple``: output gradients (Tensors, or None
  where an output got no gradient) in, input gradients out, built from other ops, so
  that gradients of gradients work with no extra code.

Options of an op (axis, stride, ...) go to ``__init__``. ``Op(opts)(x, y)`` runs it.
Every subclass is recorded in ``Function.registry`` so the tests can check that each
op has a gradient-check case.
"""
import traceback
import weakref

from .. import backend
from .grad_mode import _state
from .tensor import Tensor, as_tensor_like


class Function:
    registry = {}            # name -> class, for the op-coverage meta-test
    differentiable = True    # False for comparisons, argmax, ... (no backward)
    _seq = 0                 # creation counter: deterministic tie-break in the graph walk
    released = False         # True once backward has used and dropped the saved state

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if register:
            if cls.__name__ in Function.registry:
                raise TypeError(f"op name {cls.__name__!r} registered twice")
            Function.registry[cls.__name__] = cls

    def __call__(self, *inputs):
        for x in inputs:
            if not isinstance(x, Tensor):     # a Python scalar, e.g. the 0.5 of x * 0.5
                inputs = [t if isinstance(t, Tensor) else as_tensor_like(t, inputs)
                          for t in inputs]
                break
        arrays = [t.data for t in inputs]
        kind = type(arrays[0]) if arrays else None
        for a in arrays:                      # one array type: one device (no per-call set)
            if type(a) is not kind and len({t.device for t in inputs}) > 1:
                raise RuntimeError(f"{self.name}: inputs are on different devices "
                                   f"({', '.join(x.device for x in inputs)}); move them with .to()")
        outs = self.forward(*arrays)
        single = type(outs) is not tuple
        if single:
            outs = (outs,)
        if self.differentiable and _state.enabled and any([t._requires_grad for t in inputs]):
            self.inputs = inputs
            self.generation = max([t.generation for t in inputs])
            Function._seq += 1
            self.seq = Function._seq
            outputs = [Tensor._from_op(backend.ensure_array(o), True, self, self.generation + 1)
                       for o in outs]
            self.outputs = [weakref.ref(o) for o in outputs]
        else:
            outputs = [Tensor._from_op(backend.ensure_array(o), False) for o in outs]
        if _state.tracer is not None:
            _state.tracer.record(self, inputs, outputs)
        if _state.anomaly:
            self.stack = ''.join(traceback.format_stack(limit=12)[:-1])
            check_finite(self, outs, 'forward output')
        return outputs[0] if single else tuple(outputs)

    xp_of = staticmethod(backend.xp_of)   # the array module of a forward input

    @property
    def name(self):
        return type(self).__name__

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{self.name} is not differentiable")

    def output(self, i=0):
        """The i-th output Tensor (held weakly; alive whenever its gradient is needed)."""
        return self.outputs[i]()

    def release(self):
        """Drop inputs, outputs and saved arrays once backward has used them."""
        self.__dict__.clear()
        self.released = True

    def __repr__(self):
        return f"<{self.name}>"


def check_finite(fn, arrays, what):
    for a in arrays:
        if a is None:
            continue
        a = a.data if isinstance(a, Tensor) else a
        xp = backend.xp_of(a)
        if a.dtype.kind in 'fc' and not bool(xp.isfinite(a).all()):
            where = getattr(fn, 'stack', '')
            raise RuntimeError(f"detect_anomaly: {fn.name} produced NaN/Inf in its {what} "
                               f"(shape {tuple(a.shape)}).\nThe op was created at:\n{where}")
