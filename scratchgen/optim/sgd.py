"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov, weight decay.

With g the gradient (negated when ``maximize``), λ the weight decay, μ the momentum,
τ the dampening and η the learning rate (docs/optim.md):

    g ← g + λ θ
    b ← g                      on the first step
    b ← μ b + (1 − τ) g        afterwards
    g ← g + μ b   (Nesterov)   or   g ← b
    θ ← θ − η g
"""
from .optimizer import Optimizer, _check


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        _check(group['momentum'] >= 0, self.name, 'momentum', group['momentum'], '>= 0')
        if group['nesterov']:
            _check(group['momentum'] > 0 and group['dampening'] == 0, self.name,
                   'nesterov setting', (group['momentum'], group['dampening']),
                   'Nesterov momentum needs momentum > 0 and dampening = 0')

    def _update(self, p, grad, state, group):
        g = -grad if group['maximize'] else grad
        if group['weight_decay'] != 0:
            g = g + group['weight_decay'] * p.data
        momentum = group['momentum']
        if momentum != 0:
            if 'momentum_buffer' not in state:
                # a new array: g may be p.grad's own (and NumPy turns 0-d results into scalars)
                buf = state['momentum_buffer'] = p.xp.array(g, dtype=p.dtype, copy=True)
            else:
                buf = state['momentum_buffer']
                buf *= momentum
                buf += (1 - group['dampening']) * g
            g = g + momentum * buf if group['nesterov'] else buf
        p.data -= group['lr'] * g
