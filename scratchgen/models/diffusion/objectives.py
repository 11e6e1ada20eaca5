"""Training objectives and the conversions between what a network may predict
(docs/diffusion.md, "The ε objective").

With x_t = a x_0 + s ε,  a = √ᾱ_t,  s = √(1 − ᾱ_t)  (a² + s² = 1), a network can predict

    ε       (DDPM; the "simple" loss  E ‖ε − ε_θ(x_t, t)‖²)
    x_0     (E ‖x_0 − x̂_θ‖², which is the ε loss weighted by SNR(t))
    v = a ε − s x_0     (Salimans & Ho; E ‖v − v_θ‖² is the ε loss weighted by 1 + SNR)

and each one gives the others:

    x_0 = (x_t − s ε) / a,      ε = (x_t − a x_0) / s,
    x_0 = a x_t − s v,          ε = s x_t + a v.

t is drawn uniformly from {1, ..., T}.
"""
from ...checks import one_of
from ...autograd import randint
from ... import functional as F

__all__ = ['PREDICTIONS', 'to_eps', 'to_x0', 'target', 'diffusion_loss']

PREDICTIONS = ('eps', 'v', 'x0')


def to_eps(pred, x_t, a, s, prediction):
    """ε from a prediction of kind ``prediction`` ('eps', 'v' or 'x0')."""
    one_of(prediction, PREDICTIONS, 'prediction', 'to_eps')
    if prediction == 'eps':
        return pred
    if prediction == 'x0':
        return (x_t - a * pred) / s
    return s * x_t + a * pred


def to_x0(pred, x_t, a, s, prediction):
    """x_0 from a prediction of kind ``prediction``."""
    one_of(prediction, PREDICTIONS, 'prediction', 'to_x0')
    if prediction == 'x0':
        return pred
    if prediction == 'eps':
        return (x_t - s * pred) / a
    return a * x_t - s * pred


def target(x0, eps, a, s, prediction):
    """The regression target: ε, x_0 or v = a ε − s x_0."""
    one_of(prediction, PREDICTIONS, 'prediction', 'target')
    if prediction == 'eps':
        return eps
    if prediction == 'x0':
        return x0
    return a * eps - s * x0


def diffusion_loss(net, schedule, x0, prediction='eps', y=None):
    """E_{t, ε} ‖target − net(x_t, t, y)‖² (mean over the batch and dimensions), a scalar
    Tensor; t ~ U{1..T}, x_t ~ q(x_t | x_0)."""
    t = randint(1, schedule.T + 1, size=(x0.shape[0],), device=x0.device)
    x_t, eps = schedule.q_sample(x0, t)
    a, s = schedule.coefficients(x0, t)
    pred = net(x_t, t.to(x0.dtype), y)
    return F.mse_loss(pred, target(x0, eps, a, s, prediction))
