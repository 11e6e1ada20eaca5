"""Meta-test: every registered op has a case in tests/ops (DESIGN.md, gradient-check bar)."""
import importlib.util
import pathlib

from scratchgen.autograd import Function


def _all_cases():
    cases = []
    for path in sorted((pathlib.Path(__file__).parent / 'ops').glob('test_*.py')):
        spec = importlib.util.spec_from_file_location(f"_cov_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cases += getattr(mod, 'CASES', [])
    return cases


def test_every_registered_op_has_a_case():
    import scratchgen  # noqa: F401  registers every op
    covered = {op for case in _all_cases() for op in case.ops}
    missing = sorted(set(Function.registry) - covered)
    assert not missing, f"ops without a gradient-check case in tests/ops: {missing}"


def test_differentiable_ops_have_second_order_cases():
    """An op checked only to first order must say why in its case (OpCase(why=...))."""
    cases = _all_cases()
    twice = {op for c in cases if c.differentiable and c.second_order for op in c.ops}
    excused = {op for c in cases if c.differentiable and not c.second_order for op in c.ops}
    first = {op for c in cases if c.differentiable for op in c.ops}
    missing = sorted(first - twice - excused)
    assert not missing, f"differentiable ops with no second-order case: {missing}"
