"""Elementwise math and activations: one Function per primitive, derivative beside it.

Backward rules reuse the forward output where that is cheaper and stable
(``exp``: dy/dx = y); they are written with Tensor ops so they can be differentiated
again.
"""
from ..autograd import Function


__all__ = ['exp', 'log']


class Exp(Function):
    def forward(self, x):
        return self.xp_of(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    def forward(self, x):
        return self.xp_of(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


TENSOR_METHODS = {'exp': exp, 'log': log}
