"""Learning-rate schedules: ``StepLR``, ``CosineAnnealingLR``, ``LinearLR`` /
``LinearWarmup``, ``LambdaLR``, ``SequentialLR`` to run them one after another, and
``warmup_cosine``, the transformer schedule built from them.

Each schedule is a closed-form function of the step count t (``last_epoch``) and the
learning rate each parameter group started with (``base_lrs``); ``step()`` advances t
and writes ``lr_at(t)`` into the optimizer's groups. Call it once per optimizer step
(or per epoch, whichever t counts). The values equal PyTorch's schedulers of the same
names; formulas in docs/optim.md.

Usage, the common "linear warmup, then cosine decay":

    warmup = LinearWarmup(opt, warmup_steps=100, start_factor=0.01)
    cosine = CosineAnnealingLR(opt, T_max=900)
    sched = SequentialLR(opt, [warmup, cosine], milestones=[100])
    for step in range(1000):
        ...; opt.step(); sched.step()
"""
import bisect
import math

from .optimizer import Optimizer
from ..checks import nonnegative_int, number, positive_int


class LRScheduler:
    """Base class: subclasses define ``lr_at(t)``, the learning rates at step t."""
    _not_saved = ('optimizer',)

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{self.name}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault('initial_lr', group['lr'])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if 'initial_lr' not in group:
                    raise KeyError(f"{self.name}: resuming with last_epoch={last_epoch} needs "
                                   f"'initial_lr' in param_groups[{i}]; load the optimizer's "
                                   "state_dict first")
        self.base_lrs = [group['initial_lr'] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    @property
    def name(self):
        return type(self).__name__

    def lr_at(self, t):
        raise NotImplementedError

    def step(self):
        """Advance one step and set the optimizer's learning rates."""
        self.last_epoch += 1
        self._set_lrs(self.lr_at(self.last_epoch))

    def _set_lrs(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group['lr'] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self):
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Step count, base learning rates and settings (plain Python values)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                if k not in self._not_saved}

    def load_state_dict(self, state_dict):
        expected = set(LRScheduler.state_dict(self))
        if set(state_dict) != expected:
            raise ValueError(f"{self.name}.load_state_dict: expected keys {sorted(expected)}, "
                             f"got {sorted(state_dict)}")
        for k, v in state_dict.items():
            setattr(self, k, list(v) if isinstance(v, (list, tuple)) else v)


class StepLR(LRScheduler):
    """lr = base_lr · γ^⌊t / step_size⌋ (decay by γ every ``step_size`` steps)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        positive_int(step_size, 'step_size', 'StepLR')
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        return [base * self.gamma ** (t // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base_lr − η_min) · (1 + cos(π t / T_max)) / 2.

    Falls from base_lr at t = 0 to η_min at t = T_max (and rises again after, as the
    cosine does, like PyTorch)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        positive_int(T_max, 'T_max', 'CosineAnnealingLR')
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        c = (1 + math.cos(math.pi * t / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = base_lr · (s + (e − s) · min(t, T) / T): the factor goes linearly from
    ``start_factor`` s to ``end_factor`` e over ``total_iters`` T steps, then stays."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        for what, f in (('start_factor', start_factor), ('end_factor', end_factor)):
            if not 0 <= f <= 1:
                raise ValueError(f"{type(self).__name__}: {what} must be in [0, 1], got {f!r}")
        positive_int(total_iters, 'total_iters', type(self).__name__)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        factor = s + (e - s) * min(t, n) / n
        return [base * factor for base in self.base_lrs]


class LinearWarmup(LinearLR):
    """Linear warmup: the learning rate rises from ``start_factor``·base_lr at step 0 to
    base_lr at step ``warmup_steps``, then stays (``LinearLR`` with end_factor 1)."""

    def __init__(self, optimizer, warmup_steps, start_factor=1.0 / 3, last_epoch=-1):
        super().__init__(optimizer, start_factor, 1.0, warmup_steps, last_epoch)


class LambdaLR(LRScheduler):
    """lr = base_lr · f(t) for a function f (one per parameter group, or one for all).
    The functions are not part of ``state_dict``: pass the same ones when resuming."""
    _not_saved = ('optimizer', 'lr_lambdas')

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        if not all(callable(f) for f in self.lr_lambdas):
            raise TypeError("LambdaLR: lr_lambda must be a function of the step (or a list)")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        return [base * f(t) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until step ``milestones[0]``, then ``schedulers[1]`` from its
    own step 0, and so on: scheduler i sees t − milestones[i−1]."""
    _not_saved = ('optimizer', 'schedulers')

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR: expected at least one scheduler")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] is a {type(s).__name__}, "
                                "not a scheduler")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({s.name}) belongs to a "
                                 "different optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {len(milestones)}")
        if any(not isinstance(m, int) or m < 1 for m in milestones) or \
                any(a >= b for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: milestones must be increasing positive ints, "
                             f"got {milestones}")
        self.schedulers, self.milestones = schedulers, milestones
        super().__init__(optimizer, last_epoch)

    def _current(self, t):
        """(scheduler, its local step) at global step t."""
        i = bisect.bisect_right(self.milestones, t)
        return self.schedulers[i], t - (self.milestones[i - 1] if i else 0)

    def lr_at(self, t):
        scheduler, local = self._current(t)
        return scheduler.lr_at(local)

    def step(self):
        super().step()
        scheduler, local = self._current(self.last_epoch)   # keep the child's view in sync
        scheduler.last_epoch, scheduler._last_lr = local, self.get_last_lr()

    def state_dict(self):
        state = super().state_dict()
        state['schedulers'] = [s.state_dict() for s in self.schedulers]
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        children = state_dict.pop('schedulers', None)
        if children is None or len(children) != len(self.schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: expected states of "
                             f"{len(self.schedulers)} schedulers")
        super().load_state_dict(state_dict)
        for s, child in zip(self.schedulers, children):
            s.load_state_dict(child)


def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr_ratio=0.1):
    """The usual transformer schedule: the learning rate rises linearly from ~0 over
    ``warmup_steps`` (at least 1), then follows a half cosine down to ``min_lr_ratio``
    times the peak at ``total_steps``. A ``SequentialLR`` of ``LinearWarmup`` and
    ``CosineAnnealingLR``; call ``.step()`` after each optimizer step."""
    who = 'warmup_cosine'
    warmup_steps = max(1, nonnegative_int(warmup_steps, 'warmup_steps', who))
    decay_steps = max(1, positive_int(total_steps, 'total_steps', who) - warmup_steps)
    min_lr_ratio = number(min_lr_ratio, 'min_lr_ratio', who, low=0, high=1)
    base = optimizer.param_groups[0]['lr']
    warm = LinearWarmup(optimizer, warmup_steps, start_factor=1.0 / warmup_steps)
    cos = CosineAnnealingLR(optimizer, T_max=decay_steps, eta_min=base * min_lr_ratio)
    return SequentialLR(optimizer, [warm, cos], milestones=[warmup_steps])
