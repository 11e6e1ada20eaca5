"""Training objectives and the conversions between what a network may predict
(docs/diffusion.md, "The ε objective").

With x_t = a x_0 + s ε,  a = √ᾱ_t,  s = √(1 − ᾱ_t)  (a² + s² = 1), a network can predict

    ε       (DDPM; the "simple" loss  E ‖ε − ε_θ(x_t, t)‖²)
    x_0     (E ‖x_0 − x̂_θ‖², which is the ε loss weighted by SNR(t))
    v = a ε − s x_0     (Salimans & Ho; E ‖v − v_θ‖² is the ε loss weighted by 1 + SNR)

and each one gives the others:

    x_0 = (x_t − s ε) / a,      ε = (x_t − a x_0) / s,
    x_0 = a x_t − s v,          ε = s x_t + a v.

t is drawn uniformly from {1, ..., T}. ``weighting='min_snr'`` (Hang et al. 2023,
"Min-SNR") reweights each example so that its loss is the x_0 loss times min(SNR, γ),
w ‖target − pred‖² = min(SNR, γ) ‖x_0 − x̂_0‖², whatever the network predicts:

    ε:  w = min(SNR, γ) / SNR      v:  w = min(SNR, γ) / (SNR + 1)      x_0:  w = min(SNR, γ)

which stops the low-noise steps (large SNR, easy and visually unimportant) from
dominating the gradient; γ = 5 in the paper.
"""
from ...checks import one_of
from ...autograd import randint
from ... import functional as F

__all__ = ['PREDICTIONS', 'WEIGHTINGS', 'to_eps', 'to_x0', 'target', 'loss_weight',
           'diffusion_loss']

PREDICTIONS = ('eps', 'v', 'x0')
WEIGHTINGS = ('none', 'min_snr')


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


def loss_weight(a, s, prediction, weighting='none', gamma=5.0):
    """The per-example weight of the squared error (shaped like ``a``), or None for
    'none'. SNR = a² / s²; see the module docstring."""
    one_of(weighting, WEIGHTINGS, 'weighting', 'loss_weight')
    one_of(prediction, PREDICTIONS, 'prediction', 'loss_weight')
    if weighting == 'none':
        return None
    snr = (a * a) / (s * s)
    clipped = F.minimum(snr, float(gamma))
    if prediction == 'eps':
        return clipped / snr
    if prediction == 'v':
        return clipped / (snr + 1.0)
    return clipped


def diffusion_loss(net, schedule, x0, prediction='eps', y=None, weighting='none', gamma=5.0):
    """E_{t, ε} w_t ‖target − net(x_t, t, y)‖² (mean over the batch and dimensions), a
    scalar Tensor; t ~ U{1..T}, x_t ~ q(x_t | x_0), w_t = 1 or the Min-SNR weight."""
    t = randint(1, schedule.T + 1, size=(x0.shape[0],), device=x0.device)
    x_t, eps = schedule.q_sample(x0, t)
    a, s = schedule.coefficients(x0, t)
    pred = net(x_t, t.to(x0.dtype), y)
    w = loss_weight(a, s, prediction, weighting, gamma)
    if w is None:
        return F.mse_loss(pred, target(x0, eps, a, s, prediction))
    return (w * F.mse_loss(pred, target(x0, eps, a, s, prediction), reduction='none')).mean()
