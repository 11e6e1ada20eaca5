"""``Module``, the base class of every layer and model, and the containers
``Sequential``, ``ModuleList`` and ``ModuleDict``.

A Module owns three kinds of state, each recorded by attribute assignment in the
order it is defined (so parameter order is deterministic and matches PyTorch's):

* parameters: ``Parameter`` leaves the optimizer trains (``self.weight = Parameter(...)``);
* buffers: Tensors that are state but not trained (BatchNorm's running mean),
  registered with ``register_buffer``;
* submodules: ``self.fc = Linear(...)``.

Everything else (walking the tree, moving it to a device, state dicts, the repr) is
built on those three ordered dicts.
"""
from collections import OrderedDict, namedtuple
from contextlib import contextmanager

import numpy as np

from .. import backend
from ..autograd import Tensor, Parameter, no_grad

__all__ = ['Module', 'Sequential', 'ModuleList', 'ModuleDict', 'StateDictError', 'evaluating']


class StateDictError(RuntimeError):
    """``load_state_dict`` found keys it cannot load; lists every problem at once."""

    def __init__(self, message, missing_keys=(), unexpected_keys=(), mismatched=()):
        super().__init__(message)
        self.missing_keys = list(missing_keys)
        self.unexpected_keys = list(unexpected_keys)
        self.mismatched = list(mismatched)


_IncompatibleKeys = namedtuple('IncompatibleKeys', ['missing_keys', 'unexpected_keys'])


def _indent(text, spaces=2):
    lines = text.split('\n')
    return '\n'.join([lines[0]] + [' ' * spaces + line for line in lines[1:]])


class Module:
    """Base class of layers and models. Subclasses call ``super().__init__()`` first,
    assign parameters/submodules as attributes, and define ``forward``."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist
        object.__setattr__(self, '_parameters', OrderedDict())
        object.__setattr__(self, '_buffers', OrderedDict())
        object.__setattr__(self, '_non_persistent', set())
        object.__setattr__(self, '_modules', OrderedDict())
        object.__setattr__(self, 'training', True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _check_init(self, name):
        if '_parameters' not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called; "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._check_init(name)
            self._forget(name, self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_init(name)
            self._forget(name, self._modules)
            self._modules[name] = value
        elif '_parameters' in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r} "
                                f"of {type(self).__name__}: expected a Parameter or None")
            self._parameters[name] = None
        elif '_buffers' in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer {name!r}: "
                                "expected a Tensor or None")
            self._buffers[name] = value
        elif '_modules' in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to submodule {name!r}: "
                                "expected a Module or None")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep=None):
        """Drop ``name`` from the registries other than ``keep`` and from the plain
        attributes (it is being rebound; within ``keep`` it keeps its position)."""
        for d in (self._parameters, self._buffers, self._modules):
            if d is not keep:
                d.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):     # only called when normal lookup fails
        d = self.__dict__
        for registry in ('_parameters', '_buffers', '_modules'):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def _check_name(self, name, what):
        if not isinstance(name, str) or not name or '.' in name:
            raise KeyError(f"{what} name must be a non-empty string without '.', got {name!r}")
        if hasattr(type(self), name):
            raise KeyError(f"{what} name {name!r} clashes with an attribute of "
                           f"{type(self).__name__}")

    def _register(self, caller, what, name, value, cls, store):
        """Checks shared by register_parameter/register_buffer/add_module, then store."""
        self._check_init(name)
        self._check_name(name, what)
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"{caller}: {name!r} must be a {cls.__name__} or None, "
                            f"got {type(value).__name__}")
        self._forget(name, store)
        store[name] = value

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent optional one)."""
        self._register('register_parameter', 'parameter', name, param, Parameter,
                       self._parameters)

    def register_buffer(self, name, tensor, persistent=True):
        """Register non-trained state. Persistent buffers are part of ``state_dict``."""
        if isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer: {name!r} is a Parameter; use register_parameter")
        self._register('register_buffer', 'buffer', name, tensor, Tensor, self._buffers)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        self._register('add_module', 'module', name, module, Module, self._modules)

    register_module = add_module

    def get_submodule(self, target):
        """The submodule at a dotted path, e.g. ``'blocks.0.attn'``."""
        mod = self
        for part in target.split('.') if target else []:
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"get_submodule: {type(mod).__name__} has no submodule "
                                     f"{part!r} (path {target!r})")
            mod = mod._modules[part]
        return mod

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, memo=None, prefix='', remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, mod in self._modules.items():
            if mod is not None:
                yield from mod.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                             remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, mod in self._modules.items():
            if mod is not None and id(mod) not in seen:
                seen.add(id(mod))
                yield name, mod

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, registry).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix='', recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) in definition order; a shared (tied) parameter once."""
        yield from self._named_members('_parameters', prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix='', recurse=True, remove_duplicate=True):
        yield from self._named_members('_buffers', prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule (children first), then on self."""
        for mod in self.children():
            mod.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, 'training', mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter: drop them, or (``set_to_none=False``)
        replace them by zeros. A new zero array, never zeroing in place: a gradient
        array may be shared with other tensors of the graph."""
        for p in self.parameters():
            if p.grad is None:
                continue
            p.grad = None if set_to_none else Tensor(p.grad.xp.zeros_like(p.grad.data))

    # ------------------------------------------------------------------ devices and dtypes
    def _apply_to_tensors(self, convert):
        """Replace the array of every parameter, gradient and buffer by ``convert(array)``,
        in place: the Parameter objects stay the same, so optimizers holding them stay valid."""
        with no_grad():
            for m in self.modules():
                for p in m._parameters.values():
                    if p is not None:
                        p.data = convert(p.data)
                        if p.grad is not None:
                            p.grad = Tensor(convert(p.grad.data))
                for b in m._buffers.values():
                    if b is not None:
                        b.data = convert(b.data)
        return self

    def to(self, device_or_dtype=None, dtype=None, device=None):
        """Move parameters and buffers to ``device`` and/or cast floating ones to ``dtype``:
        ``m.to('emu')``, ``m.to(sg.float64)``, ``m.to('cpu', sg.float32)``."""
        device, dtype = backend.parse_to_args('Module.to', device_or_dtype, device, dtype)
        if dtype is not None:
            if dtype.kind != 'f':
                raise TypeError(f"Module.to: only floating dtypes are allowed, got {dtype}")

        def convert(a):
            if dtype is not None and a.dtype.kind == 'f' and a.dtype != dtype:
                a = a.astype(dtype)
            if device is not None and backend.device_of(a) != device:
                a = backend.to_device(a, device)
            return a
        return self._apply_to_tensors(convert)

    def cpu(self):
        return self.to('cpu')

    def cuda(self):
        return self.to('cuda')

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    def half(self):
        return self.to(dtype=np.float16)

    # ------------------------------------------------------------------ state dicts
    def state_dict(self, prefix='', keep_vars=False):
        """Ordered {dotted name: Tensor} of parameters and persistent buffers.

        The tensors are detached but share memory with the module (as in PyTorch):
        copy them (``{k: sg.tensor(v) ...}``) to keep a snapshot while training on.
        """
        out = OrderedDict()
        for mod_prefix, mod in self.named_modules(prefix=prefix, remove_duplicate=False):
            dot = f"{mod_prefix}." if mod_prefix else ''
            for name, p in mod._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (Tensors or arrays, any device) into this
        module's parameters and buffers, in place, on the module's device.

        Shape or dtype mismatches always raise; with ``strict`` missing and unexpected
        keys raise too. The error lists every problem. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched, problems = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = value.data if isinstance(value, Tensor) else value
            if not backend.is_array(arr):
                arr = np.asarray(arr)
                if arr.dtype == object:
                    problems.append(f"{key}: value of type {type(value).__name__} is not an array")
                    mismatched.append(key)
                    continue
            shape, dtype = tuple(arr.shape), np.dtype(arr.dtype)
            if shape != target.shape:
                problems.append(f"{key}: shape {shape} in the checkpoint, "
                                f"{target.shape} in the model")
                mismatched.append(key)
            elif dtype != target.dtype:
                problems.append(f"{key}: dtype {dtype} in the checkpoint, "
                                f"{target.dtype} in the model")
                mismatched.append(key)
        if strict:
            if missing:
                problems.insert(0, "missing key(s): " + ', '.join(missing))
            if unexpected:
                problems.insert(1 if missing else 0, "unexpected key(s): " + ', '.join(unexpected))
        if problems:
            raise StateDictError(f"load_state_dict: cannot load into {type(self).__name__} "
                                 f"({len(problems)} problem(s)):\n  " + '\n  '.join(problems),
                                 missing, unexpected, mismatched)
        with no_grad():
            for key, target in own.items():
                if key in state_dict:
                    value = state_dict[key]
                    arr = value.data if isinstance(value, Tensor) else value
                    target.data[...] = backend.asarray(arr, device=target.device)
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ display
    def extra_repr(self):
        """The text between the parentheses of this module's repr line."""
        return ''

    def __repr__(self):
        lines = [f"({name}): " + _indent(repr(mod)) for name, mod in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + '\n  '.join(body) + '\n)'


# ============================================================================ containers
class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``
    (or from an OrderedDict of names to modules)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        return mods[_check_index(idx, len(mods), 'Sequential')][1]

    def __setitem__(self, idx, module):
        name = list(self._modules)[_check_index(idx, len(self), 'Sequential')]
        self.add_module(name, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


def _check_index(idx, n, who):
    if not isinstance(idx, (int, np.integer)):
        raise TypeError(f"{who} indices must be integers or slices, got {type(idx).__name__}")
    if not -n <= idx < n:
        raise IndexError(f"{who} index {idx} is out of range for length {n}")
    return int(idx) % n


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_check_index(idx, len(mods), 'ModuleList')]

    def __setitem__(self, idx, module):
        self.add_module(str(_check_index(idx, len(self), 'ModuleList')), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it instead")


class ModuleDict(Module):
    """A dict of named modules whose parameters are registered, in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, 'items') else modules
        for k, m in items:
            self[k] = m

    def pop(self, key):
        m = self[key]
        del self._modules[key]
        return m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it instead")


@contextmanager
def evaluating(module):
    """``with nn.evaluating(model): ...`` runs the block in eval mode (dropout off,
    BatchNorm on its running statistics) and then puts every submodule back in the mode
    it had, even if the block raises."""
    if not isinstance(module, Module):
        raise TypeError(f"evaluating: expected a Module, got {type(module).__name__}")
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            object.__setattr__(m, 'training', mode)
