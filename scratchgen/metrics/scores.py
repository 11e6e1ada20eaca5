"""Classifier-based scores for generated images: the Inception score and the Mode score.

Both read only the class probabilities p(y|x) that a classifier assigns to generated
samples (rows of ``probs``, shape (N, K)). The original papers use an Inception network
trained on ImageNet; offline we use the in-repo ``train_feature_net`` classifier trained
on the same dataset, so the numbers compare models here, not with published values.

* ``inception_score(probs)`` = exp(E_x KL(p(y|x) || p(y))), p(y) = mean_x p(y|x)
  (Salimans et al. 2016). In [1, K]: high when each sample is confidently one class
  (low-entropy rows) and the classes are used evenly (high-entropy marginal).
* ``mode_score(probs, p_data)`` = exp(E_x KL(p(y|x) || p(y)) - KL(p(y) || p*(y))),
  p* the training labels' marginal (after Che et al. 2017): the Inception score
  penalised when the generated class balance differs from the data's. Writing p* in
  the first KL too would give back exactly the Inception score, because
  E_x KL(p(y|x) || p*) = E_x KL(p(y|x) || p(y)) + KL(p(y) || p*).
"""
import numpy as np
from ..autograd.creation import host_array


__all__ = ['inception_score', 'mode_score']

_TOL = 1e-4


def _probs(probs, fn):
    p = host_array(probs, np.float64, f"{fn}: probs")
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"{fn}: probs must have shape (N, K) with N >= 1 samples and "
                         f"K >= 2 classes, got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueError(f"{fn}: probs must be finite and non-negative")
    worst = np.abs(p.sum(1) - 1.0).max()
    if worst > _TOL:
        raise ValueError(f"{fn}: probs rows must each sum to 1 (class probabilities, "
                         f"e.g. a softmax); the worst row is off by {worst:.3g}")
    return p


def _mean_kl_rows(p, q):
    """mean_i KL(p_i || q) with 0 log 0 = 0."""
    on = p > 0
    logq = np.log(np.where(q > 0, q, 1.0))
    terms = np.where(on, p * (np.log(np.where(on, p, 1.0)) - logq), 0.0)
    return float(terms.sum(1).mean())


def inception_score(probs):
    """exp(E_x KL(p(y|x) || p(y))) over the rows of ``probs`` (N, K); in [1, K]."""
    p = _probs(probs, 'inception_score')
    return float(np.exp(max(_mean_kl_rows(p, p.mean(0)), 0.0)))


def mode_score(probs, p_data):
    """exp(E_x KL(p(y|x) || p(y)) - KL(p(y) || p_data)); ``p_data`` (K,) the data's
    class marginal. Equals the Inception score when the generated marginal matches
    ``p_data``, and is lower the more the two differ."""
    p = _probs(probs, 'mode_score')
    q = host_array(p_data, np.float64, 'mode_score: p_data')
    if q.shape != (p.shape[1],):
        raise ValueError(f"mode_score: p_data must have shape ({p.shape[1]},) to match "
                         f"probs {p.shape}, got {q.shape}")
    if not np.all(np.isfinite(q)) or q.min() < 0 or abs(q.sum() - 1.0) > _TOL:
        raise ValueError(f"mode_score: p_data must be a distribution over the "
                         f"{p.shape[1]} classes (non-negative, summing to 1)")
    p_y = p.mean(0)
    if np.any(q[p_y > 0] == 0):
        return 0.0                                # KL(p(y) || p_data) = inf
    return float(np.exp(max(_mean_kl_rows(p, p_y), 0.0) - _mean_kl_rows(p_y[None], q)))
