"""``train_step``: the five lines every training loop repeats, with a finite-loss check."""
import math

__all__ = ['train_step']


def train_step(loss, optimizer, scheduler=None, ema=None, who='train_step', step=None,
               hint=None):
    """One optimisation step on a scalar ``loss``: zero the gradients, backpropagate,
    ``optimizer.step()``, then ``scheduler.step()`` and ``ema.update()`` when given.
    Returns ``loss.item()``.

    A NaN or infinite loss raises a FloatingPointError naming ``who`` and ``step`` (and
    ``hint``, e.g. "lower --lr") before anything is updated, so the parameters, the
    optimizer state and the EMA stay as they were after the last good step.
    """
    value = loss.item()
    if not math.isfinite(value):
        at = '' if step is None else f" at step {step}"
        raise FloatingPointError(f"{who}: the loss became {value}{at}" +
                                 (f"; {hint}" if hint else ''))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    if ema is not None:
        ema.update()
    return value
