"""Samplers, the exact likelihood, inpainting and guidance (docs/diffusion.md).

Every function takes ``eps_fn(x, t) -> ε̂``, the noise predicted at a float time
t in [0, T] (a trained network through ``Diffusion.eps_fn``, or an exact formula), and
a ``Schedule`` (ᾱ_t, β_t, β(u) there). Notation: a_t = √ᾱ_t, s_t = √(1 − ᾱ_t), u = t/T.

DDPM ancestral step t -> t − 1 (Ho et al. 2020, eq. 11):
    x_{t−1} = (x_t − β_t / s_t · ε̂) / √α_t + σ_t z,   σ_t² = β_t  or  β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) β_t
    (no noise at the last step, t = 1)
DDIM step t -> t' (Song, Meng & Ermon 2021, eq. 12), any decreasing times T = τ_0 > ... > τ_S = 0:
    x̂_0 = (x_t − s_t ε̂) / a_t,   σ = η √((1 − ᾱ_t')/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_t'),
    x_t' = a_t' x̂_0 + √(1 − ᾱ_t' − σ²) ε̂ + σ z          (η = 0: deterministic, invertible)
VP-SDE (Song et al. 2021), score ∇ log p_t(x) = −ε̂ / s_t:
    reverse SDE   dx = [−½ β(u) x − β(u) ∇log p] du + √β(u) dW̄     (Euler–Maruyama, u: 1 -> u_min)
    flow ODE      dx/du = f(x, u) = −½ β(u) (x − ε̂ / s_t)           (Heun or RK4, same marginals)
Exact likelihood (the instantaneous change of variables, d log p(x(u))/du = −div f):
    log p_{u_min}(x) = log N(x(1); 0, I) + ∫_{u_min}^1 div f(x(u), u) du,
    div f exact (D backward passes; D = 2) or Hutchinson's E_v[vᵀ (∂f/∂x) v], v Rademacher.
Inpainting (known pixels y under mask m = 1), after every DDPM step:
    x_{t−1} ← m ⊙ (a_{t−1} y + s_{t−1} z) + (1 − m) ⊙ x_{t−1}
Classifier-free guidance (w = 0: unconditional, w = 1: conditional, w > 1: guided):
    ε̂ = ε̂_u + w (ε̂_c − ε̂_u)
The SDE and ODE stop at t_min (default 1, the first training step) and return the
denoised x̂_0 = (x − s ε̂) / a there.
"""
import math

from ...checks import positive_int, number, one_of
from ...autograd import Tensor, no_grad, enable_grad, grad, randn_like, rand_like, zeros
from ... import functional as F

__all__ = ['ddpm_step', 'ddpm_sample', 'ddim_timesteps', 'ddim_step', 'ddim_sample',
           'ddim_encode', 'denoise', 'sde_sample', 'ode_drift', 'ode_sample',
           'ode_log_likelihood', 'inpaint', 'cfg_combine']


def _check_x(x, who):
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise TypeError(f"{who}: expected a batch Tensor (B, ...), got "
                        f"{getattr(x, 'shape', type(x).__name__)}")


# ----------------------------------------------------------------------------- DDPM
def ddpm_step(eps_fn, schedule, x, t, variance='beta'):
    """One ancestral step x_t -> x_{t−1} (t an int in 1..T)."""
    ab_t, ab_prev = schedule.alpha_bar(t), schedule.alpha_bar(t - 1)
    beta = 1.0 - ab_t / ab_prev
    mean = (x - beta / math.sqrt(1.0 - ab_t) * eps_fn(x, t)) / math.sqrt(1.0 - beta)
    if t == 1:
        return mean
    var = beta if variance == 'beta' else (1.0 - ab_prev) / (1.0 - ab_t) * beta
    return mean + math.sqrt(var) * randn_like(x)


@no_grad()
def ddpm_sample(eps_fn, schedule, x_T, variance='beta', callback=None):
    """Ancestral sampling over all T steps from x_T ~ N(0, I). ``variance``: 'beta'
    (σ² = β_t) or 'posterior' (σ² = β̃_t). ``callback(t, x_t)`` sees every x_t."""
    _check_x(x_T, 'ddpm_sample')
    one_of(variance, ('beta', 'posterior'), 'variance', 'ddpm_sample')
    x = x_T
    for t in range(schedule.T, 0, -1):
        x = ddpm_step(eps_fn, schedule, x, t, variance)
        if callback is not None:
            callback(t - 1, x)
    return x


# ----------------------------------------------------------------------------- DDIM
def ddim_timesteps(T, steps):
    """steps + 1 evenly spaced integer times, decreasing, the first exactly T and the last 0
    (round(T (1 − i/steps)), i = 0..steps)."""
    T, steps = positive_int(T, 'T', 'ddim_timesteps'), positive_int(steps, 'steps', 'ddim_timesteps')
    if steps > T:
        raise ValueError(f"ddim_timesteps: steps ({steps}) must be at most T ({T})")
    return [round(T * (1 - i / steps)) for i in range(steps + 1)]


def _check_timesteps(timesteps, T, who):
    ts = [int(t) for t in timesteps]
    if len(ts) < 2 or ts[-1] != 0 or ts[0] > T or any(a <= b for a, b in zip(ts, ts[1:])):
        raise ValueError(f"{who}: timesteps must decrease strictly from at most T = {T} to 0, "
                         f"got {list(timesteps)}")
    return ts


def ddim_step(eps_fn, schedule, x, t, t_next, eta=0.0, clip_x0=None):
    """One DDIM step x_t -> x_{t_next} (t_next < t to sample; t_next > t with η = 0 to
    encode). ``clip_x0 = c`` clips x̂_0 to [−c, c] (images in [−1, 1]) and recomputes ε̂."""
    ab_t, ab_n = schedule.alpha_bar(t), schedule.alpha_bar(t_next)
    eps = eps_fn(x, t)
    x0 = (x - math.sqrt(1.0 - ab_t) * eps) / math.sqrt(ab_t)
    if clip_x0 is not None:
        x0 = F.clip(x0, -clip_x0, clip_x0)
        eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1.0 - ab_t)
    sigma = eta * math.sqrt((1.0 - ab_n) / (1.0 - ab_t) * (1.0 - ab_t / ab_n)) if eta > 0 else 0.0
    x = math.sqrt(ab_n) * x0 + math.sqrt(max(1.0 - ab_n - sigma ** 2, 0.0)) * eps
    return x + sigma * randn_like(x) if sigma > 0 else x


@no_grad()
def ddim_sample(eps_fn, schedule, x_T, steps=50, eta=0.0, timesteps=None, callback=None,
                clip_x0=None):
    """DDIM from x_T over ``timesteps`` (default ``ddim_timesteps(T, steps)``); η = 0 is
    deterministic, η = 1 with all T steps is DDPM with σ² = β̃_t. ``clip_x0``: see
    ``ddim_step``."""
    _check_x(x_T, 'ddim_sample')
    eta = number(eta, 'eta', 'ddim_sample', 0)
    ts = _check_timesteps(timesteps if timesteps is not None else
                          ddim_timesteps(schedule.T, steps), schedule.T, 'ddim_sample')
    x = x_T
    for t, t_next in zip(ts[:-1], ts[1:]):
        x = ddim_step(eps_fn, schedule, x, t, t_next, eta, clip_x0)
        if callback is not None:
            callback(t_next, x)
    return x


@no_grad()
def ddim_encode(eps_fn, schedule, x0, steps=50, timesteps=None):
    """Deterministic DDIM run backwards: x_0 -> x_T (the same steps as ``ddim_sample``
    with η = 0, in reverse order), so ``ddim_sample(ddim_encode(x)) ≈ x``."""
    _check_x(x0, 'ddim_encode')
    ts = _check_timesteps(timesteps if timesteps is not None else
                          ddim_timesteps(schedule.T, steps), schedule.T, 'ddim_encode')[::-1]
    x = x0
    for t, t_next in zip(ts[:-1], ts[1:]):
        x = ddim_step(eps_fn, schedule, x, t, t_next, 0.0)
    return x


# ----------------------------------------------------------------------------- SDE / ODE
def denoise(eps_fn, schedule, x, t):
    """x̂_0 = (x_t − s_t ε̂) / a_t, the posterior mean E[x_0 | x_t] (Tweedie)."""
    ab = schedule.alpha_bar(t)
    return (x - math.sqrt(1.0 - ab) * eps_fn(x, t)) / math.sqrt(ab)


def _time_grid(schedule, steps, t_min, who):
    steps = positive_int(steps, 'steps', who)
    t_min = number(t_min, 't_min', who, 0, schedule.T, low_open=True, high_open=True)
    T = schedule.T
    return [T - (T - t_min) * i / steps for i in range(steps + 1)]


@no_grad()
def sde_sample(eps_fn, schedule, x_T, steps=1000, t_min=1.0, callback=None):
    """Euler–Maruyama on the reverse VP-SDE from u = 1 to u_min = t_min / T, then x̂_0."""
    _check_x(x_T, 'sde_sample')
    ts, x = _time_grid(schedule, steps, t_min, 'sde_sample'), x_T
    for t, t_next in zip(ts[:-1], ts[1:]):
        h, b = (t - t_next) / schedule.T, schedule.beta_continuous(t)
        score = eps_fn(x, t) * (-1.0 / math.sqrt(1.0 - schedule.alpha_bar(t)))
        x = x + h * (0.5 * b * x + b * score) + math.sqrt(b * h) * randn_like(x)
        if callback is not None:
            callback(t_next, x)
    return denoise(eps_fn, schedule, x, ts[-1])


def ode_drift(eps_fn, schedule, x, t):
    """f(x, u) = dx/du = −½ β(u) (x − ε̂ / s_t), the probability-flow ODE."""
    s = math.sqrt(1.0 - schedule.alpha_bar(t))
    return (x - eps_fn(x, t) / s) * (-0.5 * schedule.beta_continuous(t))


def _euler(f, x, t, t_next, T):
    return x + f(x, t) * ((t_next - t) / T)


def _heun(f, x, t, t_next, T):
    h = (t_next - t) / T
    d1 = f(x, t)
    d2 = f(x + d1 * h, t_next)
    return x + (d1 + d2) * (0.5 * h)


def _rk4(f, x, t, t_next, T):
    h, t_mid = (t_next - t) / T, 0.5 * (t + t_next)
    k1 = f(x, t)
    k2 = f(x + k1 * (0.5 * h), t_mid)
    k3 = f(x + k2 * (0.5 * h), t_mid)
    k4 = f(x + k3 * h, t_next)
    return x + (k1 + 2.0 * k2 + 2.0 * k3 + k4) * (h / 6.0)


ODE_METHODS = {'euler': _euler, 'heun': _heun, 'rk4': _rk4}


@no_grad()
def ode_sample(eps_fn, schedule, x_T, steps=100, method='heun', t_min=1.0, callback=None):
    """The probability-flow ODE from u = 1 to u_min with ``method`` ('heun', 'rk4' or
    'euler'), then x̂_0. Deterministic."""
    _check_x(x_T, 'ode_sample')
    step = ODE_METHODS[one_of(method, tuple(ODE_METHODS), 'method', 'ode_sample')]
    ts, x = _time_grid(schedule, steps, t_min, 'ode_sample'), x_T
    for t, t_next in zip(ts[:-1], ts[1:]):
        x = step(lambda z, tt: ode_drift(eps_fn, schedule, z, tt), x, t, t_next, schedule.T)
        if callback is not None:
            callback(t_next, x)
    return denoise(eps_fn, schedule, x, ts[-1])


def _divergence(dx, x, probe):
    """div f per example: exact (one backward pass per dimension) when ``probe`` is None,
    else Hutchinson's vᵀ (∂f/∂x) v for the probe v."""
    B = x.shape[0]
    if probe is not None:
        g, = grad((dx * probe).sum(), [x])
        return (g * probe).reshape(B, -1).sum(axis=1)
    flat, total = dx.reshape(B, -1), 0.0
    for i in range(flat.shape[1]):
        g, = grad(flat[:, i].sum(), [x], retain_graph=True)
        total = total + g.reshape(B, -1)[:, i]
    return total


def ode_log_likelihood(eps_fn, schedule, x, steps=100, method='rk4', t_min=1.0,
                       divergence='auto'):
    """log p(x) in nats per example, (B,) Tensor, by integrating the probability-flow ODE
    from u_min to 1 together with ∫ div f du (see the module docstring). ``divergence``:
    'exact', 'hutchinson' (one Rademacher probe per example, fixed over the solve) or
    'auto' (exact for D ≤ 2). ``eps_fn`` must be differentiable in x."""
    _check_x(x, 'ode_log_likelihood')
    one_of(divergence, ('auto', 'exact', 'hutchinson'), 'divergence', 'ode_log_likelihood')
    step = ODE_METHODS[one_of(method, tuple(ODE_METHODS), 'method', 'ode_log_likelihood')]
    shape, (B, D) = x.shape, (x.shape[0], x[0].numel())
    exact = divergence == 'exact' or divergence == 'auto' and D <= 2
    probe = None if exact else (rand_like(x) < 0.5).to(x.dtype) * 2.0 - 1.0

    def f(z, t):                                  # z = [x flattened, ∫ div f] (B, D + 1)
        with enable_grad():
            xt = z[:, :D].reshape(*shape).detach().requires_grad_()
            dx = ode_drift(eps_fn, schedule, xt, t)
            div = _divergence(dx, xt, probe)
        return F.cat([dx.detach().reshape(B, D), div.detach().reshape(B, 1)], 1)

    with no_grad():
        z = F.cat([x.detach().reshape(B, D), zeros(B, 1, dtype=x.dtype, device=x.device)], 1)
        ts = _time_grid(schedule, steps, t_min, 'ode_log_likelihood')[::-1]
        for t, t_next in zip(ts[:-1], ts[1:]):
            z = step(f, z, t, t_next, schedule.T)
        x1, integral = z[:, :D], z[:, D]
        log_prior = (x1 * x1).sum(axis=1) * -0.5 - 0.5 * D * math.log(2 * math.pi)
        return log_prior + integral


# ----------------------------------------------------------------------------- conditioning
@no_grad()
def inpaint(eps_fn, schedule, x_T, known, mask, variance='beta'):
    """DDPM sampling that keeps ``known`` where ``mask`` is 1: after every step the
    known region is replaced by its noised copy a_{t−1} y + s_{t−1} z (exact at t = 0)."""
    _check_x(x_T, 'inpaint')
    if known.shape != x_T.shape:
        raise ValueError(f"inpaint: known {known.shape} must have x_T's shape {x_T.shape}")
    x, m = x_T, mask.to(x_T.dtype)
    for t in range(schedule.T, 0, -1):
        x = ddpm_step(eps_fn, schedule, x, t, variance)
        ab = schedule.alpha_bar(t - 1)
        y_t = math.sqrt(ab) * known + math.sqrt(1.0 - ab) * randn_like(known)
        x = m * y_t + (1.0 - m) * x
    return x


def cfg_combine(eps_u, eps_c, w):
    """Classifier-free guidance: ε̂ = ε̂_u + w (ε̂_c − ε̂_u); w = 0 is unconditional, w = 1
    conditional."""
    return eps_u + (eps_c - eps_u) * float(w)
