"""``Tensor``: an array on a device, plus what the engine needs to differentiate it.

A Tensor made by an op remembers that op (``creator``); a leaf made by the user has
none. ``backward()`` hands the graph to ``engine.backward``.

The math methods and operators (``+``, ``@``, ``.sum()``, ``.reshape()`` ...) are
attached by ``scratchgen.ops`` when the package is imported (``ops/__init__.py``), so
this layer never imports the layer above it.
"""
import numpy as np

from .. import backend


class Tensor:
    __slots__ = ('data', 'grad', '_requires_grad', 'creator', 'generation',
                 'retains_grad', 'name', '__weakref__')
    __array_ufunc__ = None      # make `np_scalar * tensor` defer to Tensor.__rmul__
    __hash__ = object.__hash__  # == is elementwise, tensors still hash by identity

    def __init__(self, data, requires_grad=False, name=None):
        if isinstance(data, Tensor):
            data = data.data
        if not backend.is_array(data):
            raise TypeError(f"Tensor: expected a backend array, got {type(data).__name__}; "
                            "use sg.tensor(data) to build from Python data")
        self.data = data
        self.grad = None
        self.creator = None
        self.generation = 0
        self.retains_grad = False
        self.name = name
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, data, requires_grad, creator=None, generation=0):
        """The lean constructor for an op's output or a constant (no checks: speed)."""
        t = cls.__new__(cls)
        t.data, t.grad, t.creator, t.generation = data, None, creator, generation
        t.retains_grad, t.name = False, None
        t._requires_grad = requires_grad and data.dtype.kind in 'fc'
        return t

    # ------------------------------------------------------------------ properties
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and self.data.dtype.kind not in 'fc':
            raise RuntimeError(f"requires_grad: only floating-point tensors can require "
                               f"gradients, got dtype {self.data.dtype}")
        if not value and self.creator is not None:
            raise RuntimeError("requires_grad: cannot turn off gradients of a non-leaf "
                               "tensor; use .detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.creator is None

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def xp(self):
        """The array module of this tensor's device."""
        return backend.xp_of(self.data)

    def size(self, dim=None):
        """The shape (PyTorch's ``size()``), or the length of one dimension."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    def dim(self):
        return self.ndim

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        """A host NumPy copy, detached from the graph."""
        return backend.to_host(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, "
                             f"got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """The same data (shared), cut from the graph."""
        return Tensor(self.data)

    def to(self, device_or_dtype=None, dtype=None, device=None):
        """``t.to('emu')``, ``t.to(sg.float64)``, ``t.to(device, dtype)``.
        Differentiable: the gradient flows back across devices and dtypes."""
        device, dtype = backend.parse_to_args('Tensor.to', device_or_dtype, device, dtype)
        from .transfer import To
        return To.apply(self, device, dtype)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self.to('cpu')

    def cuda(self):
        return self.to('cuda')

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph=False, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        from .engine import backward
        backward([self], None if gradient is None else [gradient], retain_graph,
                 create_graph, inputs=inputs)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self.creator is not None:
            self.retains_grad = True
        return self

    def zero_(self):
        """Make this tensor all zeros (used as ``p.grad.zero_()``). The tensor gets fresh
        storage, so an array it shared with another tensor is left untouched."""
        self.data = self.xp.zeros_like(self.data)
        return self

    # ------------------------------------------------------------------ display
    def __repr__(self):
        body = repr(backend.to_host(self.data)).replace('array(', '').rstrip(')')
        body = body.split(', dtype=')[0]
        extras = []
        if self.dtype != backend.get_default_dtype() and self.dtype.kind == 'f' or self.dtype.kind != 'f':
            extras.append(f"dtype={self.dtype}")
        if self.device != 'cpu':
            extras.append(f"device='{self.device}'")
        if self.creator is not None:
            extras.append(f"grad_fn=<{self.creator.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return 'tensor(' + ', '.join([body] + extras) + ')'

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.data.size} "
                               "elements is ambiguous")
        return bool(self.data.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable (``requires_grad=True``)."""
    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return 'Parameter containing:\n' + super().__repr__()


def as_tensor_like(x, others):
    """Turn a Python/NumPy scalar (or host array) into a Tensor that matches the first
    Tensor in ``others`` in device, and in dtype for scalars: scalars never promote."""
    if isinstance(x, Tensor):
        return x
    for ref in others:
        if isinstance(ref, Tensor):
            break
    else:
        raise TypeError("an op needs at least one Tensor input")
    if isinstance(x, _SCALARS):
        dtype = ref.data.dtype
        if dtype.kind not in 'fc' and not isinstance(x, _EXACT):
            dtype = backend.get_default_dtype()
        # a constant, so no requires_grad check: the lean constructor (speed: x * 0.5)
        return Tensor._from_op(backend.xp_of(ref.data).asarray(x, dtype=dtype), False)
    if backend.is_array(x) and backend.device_of(x) == ref.device:
        return Tensor(x)
    if isinstance(x, np.ndarray) and ref.device != 'cpu':
        raise TypeError(f"a host NumPy array of shape {x.shape} was mixed with a tensor on "
                        f"'{ref.device}'; wrap it with sg.tensor(..., device='{ref.device}')")
    return Tensor(backend.asarray(x, device=ref.device))


_SCALARS = (bool, int, float, np.number, np.bool_)
_EXACT = (int, bool, np.integer, np.bool_)      # scalars that keep an integer dtype
