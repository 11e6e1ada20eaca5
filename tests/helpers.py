"""Shared test machinery: the op-case specification and its runner.

An ``OpCase`` is the specification of one op: the function to check, how to build
its inputs, which registered ops it covers, and a NumPy reference for its forward (a
direct loop where the op is a convolution or a pooling). ``check_case`` runs forward on
every device, compares it with the CPU result and with the reference (values and
dtype), then first-order ``gradcheck`` and, unless the case says why not,
``gradgradcheck`` — in float64 with random upstream gradients. The specification thus
stands without PyTorch. ``tests/test_op_coverage.py`` fails when a registered op has no
case, or only first-order cases and no reason.
"""
import numpy as np

import scratchgen as sg
from scratchgen import backend
from scratchgen.autograd import Function


class Spec:
    """How to build one input: a shape plus options.

    low/high: uniform range (default standard normal); away_from: values to keep a
    distance from (kinks such as relu's 0); noncontig: build as a transposed view;
    grad: whether it requires grad; dtype: e.g. int64 for index inputs; values: a
    fixed host array (ignores the rest).
    """

    def __init__(self, shape=(), low=None, high=None, away_from=(), margin=0.05,
                 noncontig=False, grad=True, dtype=np.float64, values=None, distinct=False):
        self.shape, self.low, self.high = tuple(shape), low, high
        self.away_from, self.margin, self.noncontig = tuple(away_from), margin, noncontig
        self.grad, self.dtype, self.values, self.distinct = grad, np.dtype(dtype), values, distinct

    def host(self, rng):
        if self.values is not None:
            return np.array(self.values, dtype=self.dtype)
        shape = self.shape[::-1] if self.noncontig else self.shape
        if self.low is not None:
            a = rng.uniform(self.low, self.high, shape)
        else:
            a = rng.standard_normal(shape)
        for k in self.away_from:            # push values out of (k - margin, k + margin)
            close = np.abs(a - k) < self.margin
            a = np.where(close, k + np.sign(a - k + 1e-12) * (self.margin + np.abs(a - k)), a)
        if self.distinct and a.size:         # no ties (max/min/sort kinks)
            order = rng.permutation(a.size).reshape(a.shape)
            a = a + 0.1 * order
        a = a.astype(self.dtype)
        return a.T if self.noncontig else a


def as_spec(s):
    if isinstance(s, Spec):
        return s
    return Spec(s)


class OpCase:
    """One test case of one or more ops.

    ops: names of the registered Functions this case exercises (checked at runtime);
    fn: the function of Tensors to check; inputs: Specs (or shapes);
    reference: a function of the host (NumPy) inputs giving the expected output(s), in
    the expected dtype — required;
    second_order: also run gradgradcheck (False needs ``why``); differentiable: False for
    ops without backward (then forward only).
    """

    def __init__(self, ops, fn, inputs, second_order=True, differentiable=True,
                 reference=None, name=None, atol=1e-5, rtol=1e-4, eps=1e-6, why=None):
        if reference is None:
            raise ValueError(f"OpCase {name or ops!r}: reference=... is required (a NumPy "
                             "function of the host inputs, or a direct loop)")
        if differentiable and not second_order and not why:
            raise ValueError("OpCase: second_order=False needs why='...' (the reason)")
        if rtol > 1e-4 or atol > 1e-5:
            raise ValueError("OpCase: tolerances may not be looser than DESIGN.md's "
                             "(rtol <= 1e-4, atol <= 1e-5)")
        self.ops = (ops,) if isinstance(ops, str) else tuple(ops)
        self.fn, self.inputs = fn, [as_spec(s) for s in inputs]
        self.second_order, self.differentiable = second_order, differentiable
        self.reference, self.atol, self.rtol, self.eps = reference, atol, rtol, eps
        self.why = why
        shapes = ','.join(str(s.shape) for s in self.inputs)
        self.name = name or f"{'+'.join(self.ops)}{shapes}"

    def __repr__(self):
        return self.name


def make_inputs(case, device, seed=0):
    rng = np.random.default_rng(seed)
    hosts = [s.host(rng) for s in case.inputs]
    tensors = []
    for s, h in zip(case.inputs, hosts):
        arr = backend.to_device(np.ascontiguousarray(h.T) if s.noncontig else h, device)
        if s.noncontig:
            arr = arr.T    # a transposed (non-contiguous) view with the wanted values
        t = sg.Tensor(arr, requires_grad=s.grad and s.dtype.kind == 'f')
        tensors.append(t)
    return hosts, tensors


class record_ops:
    """Context manager recording which registered ops run."""

    def __enter__(self):
        self.seen = set()
        self._orig = Function.__call__
        seen, orig = self.seen, self._orig

        def call(f, *args):
            seen.add(type(f).__name__)
            return orig(f, *args)
        Function.__call__ = call
        return self

    def __exit__(self, *exc):
        Function.__call__ = self._orig
        return False


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _host(out):
    return [backend.to_host(o.data) for o in _outputs(out)]


def check_case(case, device):
    hosts, xs = make_inputs(case, device)
    with record_ops() as rec:
        out = case.fn(*xs)
    missing = [op for op in case.ops if op not in rec.seen]
    assert not missing, f"{case.name}: declared ops {missing} did not run (ran {sorted(rec.seen)})"
    outs = _outputs(out)
    for o in outs:
        assert o.device == device, f"{case.name}: output on {o.device}, expected {device}"
    if device != 'cpu':
        _, xs_cpu = make_inputs(case, 'cpu')
        ref = _host(case.fn(*xs_cpu))
        for a, b in zip(_host(out), ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{case.name}: {device} differs from cpu")
    # the forward against the NumPy reference: as many outputs, the same dtype (float64
    # inputs give float64 outputs; comparisons bool, argmax int64), the same values
    expected = [np.asarray(e) for e in _outputs(case.reference(*hosts))]
    assert len(expected) == len(outs), \
        f"{case.name}: {len(outs)} outputs, the reference gives {len(expected)}"
    for o, a, e in zip(outs, _host(out), expected):
        assert o.dtype == e.dtype, f"{case.name}: output dtype {o.dtype}, expected {e.dtype}"
        assert o.dtype.kind != 'f' or o.dtype == np.float64, \
            f"{case.name}: float64 inputs gave a {o.dtype} output"
        assert a.shape == e.shape, f"{case.name}: output shape {a.shape}, expected {e.shape}"
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-10,
                                   err_msg=f"{case.name}: forward differs from the NumPy reference")
    if not case.differentiable:
        return
    assert sg.gradcheck(case.fn, xs, eps=case.eps, atol=case.atol, rtol=case.rtol, name=case.name)
    if case.second_order:
        assert sg.gradgradcheck(case.fn, xs, eps=case.eps, atol=case.atol, rtol=case.rtol,
                                name=case.name)


def ring_mmd_before_after(model, G, steps=300, seed=0):
    """A short 2-D GAN run on ring8_wide: MMD² (bandwidth 1) of 500 generator samples to
    500 reference points before and after ``steps`` training steps of batch 128."""
    from scratchgen import metrics
    rng = np.random.default_rng(seed)
    ref = sg.data.toy2d('ring8_wide', 500, seed=123)

    def mmd():
        return metrics.mmd2_unbiased(G.sample(500).numpy(), ref, bandwidth=1.0)
    before = mmd()
    for _ in range(steps):
        model.train_step(lambda: sg.tensor(sg.data.toy2d('ring8_wide', 128, seed=rng)))
    return before, mmd()
