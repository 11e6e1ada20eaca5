"""Progressive distillation (Salimans & Ho 2022; docs/diffusion.md, "Progressive
distillation").

A student sampler with N deterministic DDIM steps (η = 0) on the grid
t_0 = T > t_1 > ... > t_N = 0 (``ddim_timesteps(T, N)``) learns to land, in one step
t -> t'', where its teacher lands in two, t -> t' -> t'' (the teacher's grid has 2N
steps; t' is the midpoint). With a_t = √ᾱ_t, s_t = √(1 − ᾱ_t) and x̂(z) the teacher's
x̂_0 (Algorithm 2 of the paper):

    z_t'  = a_t' x̂(z_t)  + (s_t' / s_t)  (z_t  − a_t  x̂(z_t))       teacher DDIM step t -> t'
    z_t'' = a_t'' x̂(z_t') + (s_t'' / s_t') (z_t' − a_t' x̂(z_t'))     teacher DDIM step t' -> t''
    x̃     = (z_t'' − (s_t'' / s_t) z_t) / (a_t'' − (s_t'' / s_t) a_t)

x̃ is the x̂_0 for which the student's single DDIM step t -> t'' lands exactly on z_t''
(solve z_t'' = a_t'' x̃ + (s_t'' / s_t)(z_t − a_t x̃) for x̃); ε̃ = (z_t − a_t x̃) / s_t
is the same target as noise. The student (initialised from the teacher) regresses its
own prediction kind on the target made from (x̃, ε̃), at z_t ~ q(z_t | x_0) for training
data x_0 and t drawn from its own grid; then it becomes the teacher, N halves, repeat.
``distill_loss`` is one such regression on a batch and ``distill_round`` one round of
them (demos/ddpm_toy2d.py and demos/ddpm_images.py ``--distill`` loop over rounds). A
class-conditional student
learns from the teacher given the same label (or the same "no label"), so it keeps both
the conditional and the unconditional sampler.
"""
import numpy as np          # host side only: drawing the batches

from ... import functional as F
from ... import optim
from ...autograd import no_grad, tensor
from ...checks import positive_int, number
from .objectives import to_eps, target
from .samplers import ddim_timesteps

__all__ = ['student_times', 'batch_eps_fn', 'distill_target', 'distill_loss', 'distill_round']


def student_times(T, steps):
    """(t, t', t'') for each of a ``steps``-step student: its grid ddim_timesteps(T, steps)
    and the midpoints from the teacher's grid ddim_timesteps(T, 2·steps); three lists."""
    ts = ddim_timesteps(T, 2 * steps)
    return ts[0:-1:2], ts[1::2], ts[2::2]


def batch_eps_fn(model, y=None):
    """ε̂(x, t) of a ``Diffusion`` at a (B,) Tensor of integer times t (one per example),
    given the labels y (B,) of a class-conditional model (None: no labels)."""
    def eps(x, t):
        a, s = model.schedule.coefficients(x, t)
        return to_eps(model.net(x, t.to(x.dtype), y), x, a, s, model.config.prediction)
    return eps


@no_grad()
def distill_target(teacher_eps, schedule, z_t, t, t_mid, t_next):
    """(x̃, ε̃): the targets that make one student DDIM step t -> t_next land where two
    teacher DDIM steps t -> t_mid -> t_next do. ``teacher_eps(x, t)`` takes a (B,) Tensor of
    integer times (``batch_eps_fn``); t, t_mid, t_next are (B,) integer Tensors with
    t > t_mid > t_next ≥ 0."""
    a, s = schedule.coefficients(z_t, t)
    a1, s1 = schedule.coefficients(z_t, t_mid)
    a2, s2 = schedule.coefficients(z_t, t_next)
    x = (z_t - s * teacher_eps(z_t, t)) / a                     # x̂(z_t)
    z1 = a1 * x + (s1 / s) * (z_t - a * x)                      # z_t'
    x = (z1 - s1 * teacher_eps(z1, t_mid)) / a1                 # x̂(z_t')
    z2 = a2 * x + (s2 / s1) * (z1 - a1 * x)                     # z_t''
    x_tilde = (z2 - (s2 / s) * z_t) / (a2 - (s2 / s) * a)
    return x_tilde, (z_t - a * x_tilde) / s


def distill_loss(student, teacher, x0, t, t_mid, t_next, y=None):
    """One regression of progressive distillation (a scalar Tensor): z_t ~ q(z_t | x_0) at
    the student's times t (B,), the target (x̃, ε̃) of two ``teacher`` DDIM steps
    t -> t_mid -> t_next (``distill_target``), and the mean squared error of the
    ``student``'s own output kind (ε, v or x₀) against it. ``student`` and ``teacher`` are
    ``Diffusion`` models with the same schedule; y: labels (B,) given to both, or None."""
    schedule = student.schedule
    z_t, _ = schedule.q_sample(x0, t)
    x_tilde, eps_tilde = distill_target(batch_eps_fn(teacher, y), schedule, z_t, t, t_mid, t_next)
    a, s = schedule.coefficients(z_t, t)
    pred = student.net(z_t, t.to(z_t.dtype), y)
    return F.mse_loss(pred, target(x_tilde, eps_tilde, a, s, student.config.prediction))


def distill_round(teacher, x0, steps, train_steps, batch, lr, seed=0, labels=None,
                  p_uncond=0.0, callback=None):
    """One round of progressive distillation -> the student, a ``Diffusion`` whose
    ``steps``-step DDIM sampler matches the ``teacher``'s at 2·``steps``.

    The student starts as a copy of the teacher and takes ``train_steps`` Adam steps (the
    learning rate ``lr`` decays linearly to 0) on ``distill_loss``, each on ``batch``
    training examples from ``x0`` (a host array, N × data shape, in the model's data
    scale) and one student step per example from its grid. A class-conditional teacher
    needs ``labels`` (N,); each example's label is replaced by "no label" with
    probability ``p_uncond``, so the student keeps the unconditional sampler too.
    ``callback(step, loss)`` is called after every step."""
    who = 'distill_round'
    steps = positive_int(steps, 'steps', who)
    train_steps = positive_int(train_steps, 'train_steps', who)
    batch = positive_int(batch, 'batch', who)
    p_uncond = number(p_uncond, 'p_uncond', who, low=0, high=1)
    n_classes = teacher.config.num_classes
    if n_classes and labels is None:
        raise ValueError(f"{who}: the teacher is class-conditional ({n_classes} classes): "
                         "pass the labels of x0")
    if 2 * steps > teacher.config.T:
        raise ValueError(f"{who}: a {steps}-step student needs a {2 * steps}-step teacher, "
                         f"more than its T = {teacher.config.T}")
    device = next(iter(teacher.parameters())).device
    student = type(teacher)(teacher.config).to(device)
    student.load_state_dict(teacher.state_dict())                   # start from the teacher
    opt = optim.Adam(student.parameters(), lr=lr)
    sched = optim.LinearLR(opt, 1.0, 0.0, train_steps)
    grid = [np.array(g) for g in student_times(teacher.config.T, steps)]   # (t, t', t'')
    rng = np.random.default_rng(seed)
    for step in range(1, train_steps + 1):
        idx = rng.integers(0, len(x0), batch)
        i = rng.integers(0, steps, batch)                           # a student step per example
        t, t_mid, t_next = (tensor(g[i], dtype='int64', device=device) for g in grid)
        y = None
        if n_classes:                                               # the label, or "no label"
            y = tensor(np.where(rng.random(batch) < p_uncond, n_classes, labels[idx]),
                       device=device)
        loss = distill_loss(student, teacher, tensor(x0[idx], device=device), t, t_mid, t_next, y)
        value = optim.train_step(loss, opt, sched, None, who, step,
                                 hint='lower the learning rate')
        if callback is not None:
            callback(step, value)
    return student
