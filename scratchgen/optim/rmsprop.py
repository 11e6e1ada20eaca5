"""``RMSprop``: divide the gradient by a running root mean square of recent gradients.

With g the gradient (negated when ``maximize``), α the smoothing constant, μ the
momentum, η the learning rate (docs/optim.md):

    g ← g + λ θ
    s ← α s + (1 − α) g²
    ḡ ← α ḡ + (1 − α) g;   d ← √(s − ḡ²) + ε     (centered)
                           d ← √s + ε            (otherwise)
    b ← μ b + g / d;   θ ← θ − η b               (momentum > 0)
    θ ← θ − η g / d                              (otherwise)
"""
from .optimizer import Optimizer, _check


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        _check(group['alpha'] >= 0, self.name, 'alpha', group['alpha'], '>= 0')
        _check(group['momentum'] >= 0, self.name, 'momentum', group['momentum'], '>= 0')

    def _update(self, p, grad, state, group):
        xp = p.xp
        if not state:
            state['step'] = 0
            state['square_avg'] = xp.zeros_like(p.data)
        # buffers appear when their option is first used (it may be switched on later)
        if group['momentum'] > 0 and 'momentum_buffer' not in state:
            state['momentum_buffer'] = xp.zeros_like(p.data)
        if group['centered'] and 'grad_avg' not in state:
            state['grad_avg'] = xp.zeros_like(p.data)
        alpha = group['alpha']
        g = -grad if group['maximize'] else grad
        if group['weight_decay'] != 0:
            g = g + group['weight_decay'] * p.data
        state['step'] += 1
        s = state['square_avg']
        s *= alpha
        s += (1 - alpha) * (g * g)
        if group['centered']:
            g_avg = state['grad_avg']
            g_avg *= alpha
            g_avg += (1 - alpha) * g
            denom = xp.sqrt(s - g_avg * g_avg) + group['eps']
        else:
            denom = xp.sqrt(s) + group['eps']
        if group['momentum'] > 0:
            buf = state['momentum_buffer']
            buf *= group['momentum']
            buf += g / denom
            p.data -= group['lr'] * buf
        else:
            p.data -= group['lr'] * (g / denom)
