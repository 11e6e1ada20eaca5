"""``Adam`` and ``AdamW``: adaptive moment estimation, with L2 or decoupled weight decay.

With g the gradient (negated when ``maximize``), t the step count, η the learning rate
(docs/optim.md):

    g ← g + λ θ                           Adam's weight decay (L2, enters the moments)
    θ ← θ (1 − η λ)                       AdamW's weight decay (decoupled)
    m ← β₁ m + (1 − β₁) g
    v ← β₂ v + (1 − β₂) g²
    v̂ ← max(v̂, v)                         with amsgrad, and v̂ replaces v below
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
"""
from .optimizer import Optimizer, _check


class Adam(Optimizer):
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        betas = group['betas']
        _check(len(betas) == 2, self.name, 'betas', betas, 'a pair (beta1, beta2)')
        for i, beta in enumerate(betas):
            _check(0 <= beta < 1, self.name, f'beta{i + 1}', beta, 'in [0, 1)')

    def _update(self, p, grad, state, group):
        xp = p.xp
        if not state:
            state['step'] = 0
            state['exp_avg'] = xp.zeros_like(p.data)
            state['exp_avg_sq'] = xp.zeros_like(p.data)
        if group['amsgrad'] and 'max_exp_avg_sq' not in state:
            state['max_exp_avg_sq'] = xp.zeros_like(p.data)
        lr, (beta1, beta2), wd = group['lr'], group['betas'], group['weight_decay']
        g = -grad if group['maximize'] else grad
        if wd != 0:
            if self.decoupled_weight_decay:
                p.data *= 1 - lr * wd
            else:
                g = g + wd * p.data
        state['step'] += 1
        t = state['step']
        m, v = state['exp_avg'], state['exp_avg_sq']
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        if group['amsgrad']:
            v = xp.maximum(state['max_exp_avg_sq'], v, out=state['max_exp_avg_sq'])
        step_size = lr / (1 - beta1 ** t)
        denom = xp.sqrt(v) / (1 - beta2 ** t) ** 0.5 + group['eps']
        p.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ(1 − ηλ) before the
    Adam step, instead of adding λθ to the gradient."""
    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
