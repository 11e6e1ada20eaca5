"""``Optimizer``: the base class of every optimizer (parameter groups, state, checkpoints).

A subclass writes one method, ``_update(p, grad, state, group)``: the update rule for
one parameter, on raw backend arrays, changing ``p.data`` in place. The base class
does the bookkeeping around it:

* ``param_groups``: a list of dicts, each with its own ``params`` and hyperparameters
  (``lr``, ``weight_decay``, ...); missing hyperparameters come from the defaults;
* ``state``: per-parameter buffers (momentum, moment estimates, step counts),
  created lazily by ``_update`` on the parameter's device and dtype;
* ``state_dict()`` / ``load_state_dict()`` in PyTorch's layout: parameters are
  referred to by their index (counting through the groups in order), and the values
  are backend arrays, ints and floats, so ``sg.save`` stores them without pickle.

Gradients are read, never written: a gradient array may be shared with another
tensor, so every rule builds new arrays from ``grad`` instead of changing it.
"""
from collections import defaultdict

from .. import backend
from ..autograd import Tensor, no_grad, enable_grad


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = defaultdict(dict)     # Parameter -> {name: array | int}; tensors hash by identity
        if isinstance(params, Tensor) or isinstance(params, dict) or not _iterable(params):
            raise TypeError(f"{self.name}: params should be an iterable of Parameters or of "
                            f"dicts (parameter groups), got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{self.name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{'params': groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def name(self):
        return type(self).__name__

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyperparameters (unset ones default)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self.name}.add_param_group: expected a dict, "
                            f"got {type(param_group).__name__}")
        if 'params' not in param_group:
            raise ValueError(f"{self.name}.add_param_group: the group has no 'params' entry")
        params = param_group['params']
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self.name}: can only optimize Parameters (leaf Tensors), "
                                f"but parameter {i} of the group is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self.name}: cannot optimize a non-leaf tensor (parameter "
                                 f"{i}, shape {p.shape}); optimize the leaves it was computed from")
            if p.dtype.kind != 'f':
                raise TypeError(f"{self.name}: parameter {i} has dtype {p.dtype}; "
                                "only floating-point parameters can be optimized")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: a parameter group contains the same parameter twice")
        taken = {id(p) for g in self.param_groups for p in g['params']}
        if taken.intersection(ids):
            raise ValueError(f"{self.name}: some parameters appear in more than one "
                             "parameter group")
        unknown = [k for k in param_group if k != 'params' and k not in self.defaults
                   and k != 'initial_lr']
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameter(s) {unknown} in a parameter "
                             f"group; expected some of {sorted(self.defaults)}")
        group = {'params': params}
        for key, default in self.defaults.items():
            group[key] = param_group.get(key, default)
        if 'initial_lr' in param_group:
            group['initial_lr'] = param_group['initial_lr']
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Raise ValueError for invalid hyperparameters (subclasses extend this)."""
        _check(group['lr'] >= 0, self.name, 'learning rate', group['lr'], '>= 0')
        if 'weight_decay' in group:
            _check(group['weight_decay'] >= 0, self.name, 'weight_decay',
                   group['weight_decay'], '>= 0')
        if 'eps' in group:
            _check(group['eps'] >= 0, self.name, 'eps', group['eps'], '>= 0')

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none=True):
        """Forget the gradients. With ``set_to_none=False`` each gets a new zero array
        (not zeroed in place: the old array may be shared)."""
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is not None:
                    p.grad = None if set_to_none else Tensor(p.xp.zeros_like(p.grad.data))

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional)
        re-evaluates the model and returns the loss, as in PyTorch."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group['params']:
                    if p.grad is None:
                        continue
                    grad = p.grad.data
                    if grad.shape != p.data.shape:
                        raise RuntimeError(f"{self.name}: gradient of shape {tuple(grad.shape)} "
                                           f"for a parameter of shape {p.shape}")
                    self._update(p, grad, self.state[p], group)
        return loss

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """``{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index]}]}``.

        Arrays are copies, so the dict is a snapshot that later steps do not change."""
        index, groups = {}, []
        for group in self.param_groups:
            for p in group['params']:
                index.setdefault(id(p), len(index))
            packed = {k: v for k, v in group.items() if k != 'params'}
            packed['params'] = [index[id(p)] for p in group['params']]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group['params']:
                if self.state.get(p):
                    state[index[id(p)]] = {k: v.copy() if backend.is_array(v) else v
                                           for k, v in self.state[p].items()}
        return {'state': state, 'param_groups': groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by ``state_dict`` (possibly loaded by
        ``sg.load``). Arrays are copied onto each parameter's device, floating state in
        the parameter's dtype; the step counts stay ints."""
        who = f"{self.name}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {'state', 'param_groups'}:
            raise ValueError(f"{who}: expected a dict with keys 'state' and 'param_groups'")
        saved_groups = state_dict['param_groups']
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{who}: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        by_index = {}
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved['params']) != len(group['params']):
                raise ValueError(f"{who}: parameter group {g} has {len(group['params'])} "
                                 f"parameters but the saved group has {len(saved['params'])}")
            by_index.update(zip(saved['params'], group['params']))
        new_state = defaultdict(dict)
        for idx, entry in state_dict['state'].items():
            if idx not in by_index:
                raise ValueError(f"{who}: the saved state refers to parameter {idx!r}, which "
                                 "is not in the saved parameter groups")
            p = by_index[idx]
            new_state[p] = {name: self._restore_value(who, idx, name, value, p)
                            for name, value in entry.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            restored = {k: v for k, v in saved.items() if k != 'params'}
            restored['params'] = group['params']
            for key, default in self.defaults.items():
                restored.setdefault(key, default)
            self._check_group(restored)
            new_groups.append(restored)
        self.param_groups, self.state = new_groups, new_state

    @staticmethod
    def _restore_value(who, idx, name, value, p):
        if isinstance(value, Tensor):
            value = value.data
        if not backend.is_array(value):
            if not isinstance(value, (int, float)):
                raise TypeError(f"{who}: state '{name}' of parameter {idx} is a "
                                f"{type(value).__name__}; expected an array, int or float")
            return value
        if tuple(value.shape) != p.shape:
            raise ValueError(f"{who}: state '{name}' of parameter {idx} has shape "
                             f"{tuple(value.shape)} but the parameter has shape {p.shape}")
        dtype = p.dtype if value.dtype.kind == 'f' else None
        moved = backend.to_device(value, p.device, dtype)
        return moved.copy() if moved is value else moved

    def __repr__(self):
        lines = [f"{self.name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != 'params'):
                lines.append(f"    {key}: {group[key]}")
        return '\n'.join(lines + [')'])


def _iterable(obj):
    try:
        iter(obj)
        return True
    except TypeError:
        return False


def _check(ok, who, what, value, expected):
    if not ok:
        raise ValueError(f"{who}: invalid {what} {value!r} (expected {expected})")
