"""Optimizers, learning-rate schedules, gradient clipping and parameter averaging.

    opt = sg.optim.AdamW(model.parameters(), lr=3e-4)
    sched = sg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)   # or sg.optim.warmup_cosine
    ema = sg.optim.EMA(model, decay=0.999)
    loss.backward(); sg.optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); opt.zero_grad(); sched.step(); ema.update()
    sg.optim.train_step(loss, opt, sched, ema, who='my_demo', step=i)  # the same, NaN-checked

Update rules equal PyTorch's (docs/optim.md has each one as an equation).
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from . import lr_scheduler
from .lr_scheduler import (LRScheduler, StepLR, CosineAnnealingLR, LinearLR, LinearWarmup,
                           LambdaLR, SequentialLR, warmup_cosine)
from .clip import clip_grad_norm_, clip_grad_value_
from .ema import EMA
from .step import train_step

__all__ = ['Optimizer', 'SGD', 'Adam', 'AdamW', 'RMSprop', 'lr_scheduler', 'LRScheduler',
           'StepLR', 'CosineAnnealingLR', 'LinearLR', 'LinearWarmup', 'LambdaLR',
           'SequentialLR', 'warmup_cosine', 'clip_grad_norm_', 'clip_grad_value_', 'EMA',
           'train_step']
