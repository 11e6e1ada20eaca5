"""Arithmetic ops: forward against NumPy, first and second derivatives, every device."""
import numpy as np
import pytest

from scratchgen.ops.arith import Linear
from helpers import OpCase, Spec, check_case

CASES = [
    OpCase('Add', lambda a, b: a + b, [(3, 4), (3, 4)], reference=np.add),
    OpCase('Add', lambda a, b: a + b, [(2, 3, 4), (4,)], name='Add broadcast',
           reference=np.add),
    OpCase('Add', lambda a, b: a + b, [(3, 1), Spec((1, 4), noncontig=True)], name='Add size-1 dims',
           reference=np.add),
    OpCase('Add', lambda a: 2.5 + a, [(5,)], name='Add scalar', reference=lambda a: 2.5 + a),
    OpCase('Sub', lambda a, b: a - b, [(3, 4), (4,)], reference=np.subtract),
    OpCase('Sub', lambda a: 1.0 - a, [(3,)], name='Sub reflected', reference=lambda a: 1.0 - a),
    OpCase('Mul', lambda a, b: a * b, [(3, 4), Spec((3, 1))], reference=np.multiply),
    OpCase('Mul', lambda a, b: a * b, [Spec((4, 3), noncontig=True), (4, 3)], name='Mul noncontig',
           reference=np.multiply),
    OpCase('Div', lambda a, b: a / b, [(3, 4), Spec((3, 4), low=0.5, high=2.0)],
           reference=np.divide),
    OpCase('Div', lambda a: 3.0 / a, [Spec((4,), low=0.5, high=2.0)], name='Div reflected',
           reference=lambda a: 3.0 / a),
    OpCase('Neg', lambda a: -a, [(2, 3)], reference=np.negative),
    OpCase('PowConst', lambda a: a ** 3, [(2, 3)], reference=lambda a: a ** 3),
    OpCase('PowConst', lambda a: a ** 0.5, [Spec((5,), low=0.5, high=2.0)], name='PowConst sqrt',
           reference=np.sqrt),
    OpCase('PowConst', lambda a: a ** -2, [Spec((5,), low=0.5, high=2.0)], name='PowConst inverse',
           reference=lambda a: 1.0 / (a * a)),
    OpCase('Pow', lambda a, b: a ** b, [Spec((3, 2), low=0.5, high=2.0), Spec((2,), low=-1, high=2)],
           reference=np.power),
    OpCase('Pow', lambda a: 2.0 ** a, [(4,)], name='Pow reflected', reference=lambda a: 2.0 ** a),
    OpCase('MatMul', lambda a, b: a @ b, [(3, 4), (4, 2)], reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [(2, 3, 4), (4, 5)], name='MatMul batched broadcast',
           reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], name='MatMul batch dims',
           reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [Spec((3, 4), noncontig=True), Spec((4, 2), noncontig=True)],
           name='MatMul noncontig', reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [(4,), (4,)], name='MatMul 1d@1d', reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [(4,), (2, 4, 3)], name='MatMul 1d@3d', reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [(2, 3, 4), (4,)], name='MatMul 3d@1d', reference=np.matmul),
    # (..., K) @ (K, N) runs as one GEMM over all rows, forward and backward
    OpCase('MatMul', lambda a, b: a @ b, [(2, 2, 3, 4), Spec((4, 5), noncontig=True)],
           name='MatMul rows 4d@2d', reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b, [Spec((4, 3, 2), noncontig=True), (2, 3)],
           name='MatMul rows noncontig', reference=np.matmul),
    OpCase('MatMul', lambda a, b: a @ b.mT, [(2, 3, 4), (5, 4)], name='MatMul rows @ weight.T',
           reference=lambda a, b: a @ b.T),
]

LINEAR = [
    OpCase('Linear', lambda x, w, b: Linear()(x, w, b), [(2, 3, 4), (5, 4), (5,)],
           reference=lambda x, w, b: x @ w.T + b),
    OpCase('Linear', lambda x, w: Linear()(x, w), [(3, 4), Spec((5, 4), noncontig=True)],
           name='Linear no bias noncontig', reference=lambda x, w: x @ w.T),
    OpCase('Linear', lambda x, w, b: Linear()(x, w, b), [(4,), (3, 4), (3,)], name='Linear 1d',
           reference=lambda x, w, b: x @ w.T + b),
    OpCase('Linear', lambda x, w, b: Linear()(x, w, b), [Spec((2, 4), grad=False), (3, 4), (3,)],
           name='Linear data input', reference=lambda x, w, b: x @ w.T + b),
]
CASES += LINEAR
CASES += [
    OpCase('Lt', lambda a, b: a < b, [(3, 4), Spec(values=[0.0, 1.0, -1.0, 0.5])],
           differentiable=False, reference=np.less),
    OpCase('Le', lambda a, b: a <= b, [(3, 4), Spec(values=[0.0, 1.0, -1.0, 0.5])],
           differentiable=False, reference=np.less_equal),
    OpCase('Gt', lambda a, b: a > b, [(3, 4), Spec(values=[0.0, 1.0, -1.0, 0.5])],
           differentiable=False, reference=np.greater),
    OpCase('Ge', lambda a, b: a >= b, [(3, 4), Spec(values=[0.0, 1.0, -1.0, 0.5])],
           differentiable=False, reference=np.greater_equal),
    OpCase('Eq', lambda a, b: a == b, [Spec(values=[[0.0, 1.0], [2.0, 0.5]]), Spec(values=[0.0, 0.5])],
           differentiable=False, reference=np.equal),
    OpCase('Ne', lambda a, b: a != b, [Spec(values=[[0.0, 1.0], [2.0, 0.5]]), Spec(values=[0.0, 0.5])],
           differentiable=False, reference=np.not_equal),
]


@pytest.mark.parametrize('case', CASES, ids=repr)
def test_arith(case, device):
    check_case(case, device)


def test_comparisons_give_bool_without_grad(device):
    import scratchgen as sg
    a = sg.randn(3, device=device, requires_grad=True)
    m = a > 0
    assert m.dtype == np.bool_ and not m.requires_grad


def test_scalars_do_not_promote_float32(device):
    import scratchgen as sg
    x = sg.ones(3, device=device)
    for y in (x + 1.5, 2 * x, x / np.float64(3.0), x ** 2, 1.0 - x, np.float64(2.0) * x):
        assert y.dtype == np.float32


def test_matmul_error_names_shapes():
    import scratchgen as sg
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) do not align"):
        sg.ones(3, 4) @ sg.ones(5, 2)


@pytest.mark.parametrize('op', ['Mul', 'Div', 'Pow', 'MatMul', 'Where'])
def test_backward_skips_inputs_that_need_no_gradient(op):
    """The rule returns None (computes nothing) for an input without requires_grad."""
    import scratchgen as sg
    fns = {'Mul': lambda a, b: a * b, 'Div': lambda a, b: a / b, 'Pow': lambda a, b: a ** b,
           'MatMul': lambda a, b: a @ b, 'Where': lambda a, b: sg.where(a > 1.0, a, b)}
    host = np.array([[0.5, 1.5], [2.0, 1.25]])
    for needs in ((True, False), (False, True), (True, True)):
        a, b = (sg.tensor(host + i, dtype=sg.float64, requires_grad=r) for i, r in enumerate(needs))
        y = fns[op](a, b)
        assert type(y.creator).__name__ == op
        grads = y.creator.backward(sg.ones_like(y))[-2:]     # Where's first input is the condition
        assert [g is not None for g in grads] == list(needs), (op, needs)
