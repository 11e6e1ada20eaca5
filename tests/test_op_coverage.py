"""Meta-tests on the op specifications in tests/ops (DESIGN.md, gradient-check bar):
every registered op has a case, and every differentiable op is checked to second order
or its case says why not. Each check is a function of (cases, registry) returning the
offending op names, and is shown to fail on a throw-away op."""
import contextlib
import importlib.util
import pathlib

import pytest

import scratchgen  # noqa: F401  registers every op
from scratchgen.autograd import Function
from helpers import OpCase


def _all_cases():
    cases = []
    for path in sorted((pathlib.Path(__file__).parent / 'ops').glob('test_*.py')):
        spec = importlib.util.spec_from_file_location(f"_cov_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cases += getattr(mod, 'CASES', [])
    return cases


def ops_without_a_case(cases, registry):
    """Registered ops that no case exercises."""
    covered = {op for case in cases for op in case.ops}
    return sorted(set(registry) - covered)


def ops_without_second_order(cases, registry):
    """Differentiable registered ops that have cases, but none checked to second order
    and none that says why (``OpCase(second_order=False, why=...)``). A case run with
    ``differentiable=False`` checks no derivative at all, so it counts for nothing."""
    twice, excused, seen = set(), set(), set()
    for c in cases:
        seen.update(c.ops)
        if c.differentiable and c.second_order:
            twice.update(c.ops)
        elif c.differentiable and c.why:
            excused.update(c.ops)
    return sorted(op for op, cls in registry.items()
                  if cls.differentiable and op in seen and op not in twice | excused)


def test_every_registered_op_has_a_case():
    missing = ops_without_a_case(_all_cases(), Function.registry)
    assert not missing, f"ops without a gradient-check case in tests/ops: {missing}"


def test_differentiable_ops_have_second_order_cases():
    """An op checked only to first order must say why in its case (OpCase(why=...))."""
    missing = ops_without_second_order(_all_cases(), Function.registry)
    assert not missing, f"differentiable ops with no second-order case and no reason: {missing}"


# ----------------------------------------------------------------------------- the checks can fail
@contextlib.contextmanager
def _throwaway_op():
    """A Function subclass registered for the duration of the block, then removed, so
    that it never leaks into the registry other tests see."""
    class ThrowawayOp(Function):
        def forward(self, x):
            return x * 2.0

        def backward(self, gy):
            return gy * 2.0
    try:
        assert Function.registry['ThrowawayOp'] is ThrowawayOp
        yield ThrowawayOp
    finally:
        Function.registry.pop('ThrowawayOp', None)


def _case(op, **kw):
    return OpCase(op.__name__, lambda x: op()(x), [(3,)], reference=lambda x: 2.0 * x, **kw)


def _first_order_cases(op):
    """Cases of ``op`` that check no second derivative: one whose reason was lost (the
    constructor insists on one, the meta-test is the second line), one run as if the op
    had no derivative."""
    lost = _case(op, second_order=False, why='?')
    lost.why = None
    return [lost], [_case(op, differentiable=False)]


def test_an_op_without_a_case_is_reported():
    cases = _all_cases()
    with _throwaway_op() as op:
        assert ops_without_a_case(cases, Function.registry) == [op.__name__]
        assert ops_without_a_case(cases + _first_order_cases(op)[0], Function.registry) == []
    assert 'ThrowawayOp' not in Function.registry
    assert ops_without_a_case(cases, Function.registry) == []


def test_an_op_with_only_first_order_cases_and_no_reason_is_reported():
    cases = _all_cases()
    with _throwaway_op() as op:
        for first_order in _first_order_cases(op):
            assert ops_without_second_order(cases + first_order, Function.registry) == [op.__name__]
        excused = _case(op, second_order=False, why='a reason')
        assert ops_without_second_order(cases + [excused], Function.registry) == []
        twice = _case(op)
        assert ops_without_second_order(cases + _first_order_cases(op)[0] + [twice],
                                        Function.registry) == []
    assert 'ThrowawayOp' not in Function.registry


def test_a_case_without_a_reference_is_refused():
    with pytest.raises(ValueError, match="reference=... is required"):
        OpCase('Add', lambda a, b: a + b, [(3,), (3,)])
