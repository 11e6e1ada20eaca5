"""``trace``: print each op as it runs, so a reader can follow one forward pass.

    with sg.trace():
        loss = model(x).sum()
    #   1  MatMul             (64, 2) float32, (2, 32) float32 -> (64, 32) float32
    #   2  Add                (64, 32) float32, (32,) float32 -> (64, 32) float32

Each line is one ``Function`` call: its name, its inputs' shapes and dtypes, and its
outputs'. Ops that the backward pass runs are left out unless ``backward=True`` (they
are marked ``bwd``). The records are also kept in ``.records`` as tuples
``(name, input_shapes, output_shapes, phase)``.
"""
import sys

from .grad_mode import _state


def _describe(t):
    return f"{tuple(t.shape)} {t.dtype}"


class trace:
    def __init__(self, file=None, backward=False, quiet=False):
        self.file, self.backward, self.quiet = file, backward, quiet
        self.records = []

    def __enter__(self):
        self._prev, _state.tracer = _state.tracer, self
        return self

    def __exit__(self, *exc):
        _state.tracer = self._prev
        return False

    def record(self, fn, inputs, outputs):
        """Called by ``Function.__call__`` for every op while the trace is active."""
        phase = 'bwd' if _state.in_backward else 'fwd'
        if phase == 'bwd' and not self.backward:
            return
        self.records.append((fn.name, [tuple(t.shape) for t in inputs],
                             [tuple(t.shape) for t in outputs], phase))
        if not self.quiet:
            ins = ', '.join(_describe(t) for t in inputs)
            outs = ', '.join(_describe(t) for t in outputs)
            mark = f" {phase}" if self.backward else ''
            print(f"{len(self.records):4d}{mark}  {fn.name:<18} {ins} -> {outs}",
                  file=self.file or sys.stdout)
