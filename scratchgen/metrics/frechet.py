"""Fréchet distance between Gaussian fits of two sample sets (the "FID" formula).

    FD = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})

This is the 2-Wasserstein distance squared between N(mu_1, S_1) and N(mu_2, S_2).
The matrix square roots come from symmetric eigendecompositions (no SciPy):
S_1^{1/2} S_2 S_1^{1/2} is symmetric positive semi-definite and has the same
eigenvalues as S_1 S_2, so its trace square root equals Tr((S_1 S_2)^{1/2}).
With ``features=`` the samples are first mapped to features (e.g. the penultimate
layer of ``train_feature_net``), as FID maps images through Inception.
"""
import numpy as np

from ._common import as_samples, check_same_dim
from ..autograd.creation import host_array

__all__ = ['sqrtm_psd', 'gaussian_fit', 'frechet_distance_gaussians', 'frechet_distance']


def sqrtm_psd(a):
    """The symmetric square root of a symmetric positive semi-definite matrix.

    Eigenvalues below 0 (round-off of a singular matrix) are clipped to 0.
    """
    a = 0.5 * (a + a.T)
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_fit(x):
    """Mean (D,) and unbiased covariance (D, D) of samples x (N, D), N >= 2."""
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (len(x) - 1)


def frechet_distance_gaussians(mu1, cov1, mu2, cov2):
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2) (closed form above)."""
    fn = 'frechet_distance_gaussians'
    mu1, mu2 = host_array(mu1, np.float64, fn).reshape(-1), host_array(mu2, np.float64, fn).reshape(-1)
    cov1, cov2 = host_array(cov1, np.float64, fn), host_array(cov2, np.float64, fn)
    d = len(mu1)
    for name, c in (('cov1', cov1), ('cov2', cov2)):
        if c.shape != (d, d):
            raise ValueError(f"{fn}: {name} has shape {c.shape}, expected ({d}, {d}) "
                             f"to match mu1 of shape ({d},)")
    if mu2.shape != (d,):
        raise ValueError(f"{fn}: mu2 has shape {mu2.shape}, expected ({d},)")
    root1 = sqrtm_psd(cov1)
    cross = root1 @ (0.5 * (cov2 + cov2.T)) @ root1
    w = np.linalg.eigvalsh(0.5 * (cross + cross.T))
    tr_sqrt = np.sqrt(np.clip(w, 0.0, None)).sum()
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt
    return float(max(fd, 0.0))      # exact value is >= 0; round-off can dip below


def frechet_distance(x, y, features=None):
    """Fréchet distance between Gaussian fits of samples x and y (0 = same mean and
    covariance; larger is worse). ``features``: optional callable mapping a batch of
    samples to an (N, F) feature array or Tensor, applied to x and y first.
    """
    fn = 'frechet_distance'
    if features is not None:
        if not callable(features):
            raise TypeError(f"{fn}: features must be a callable, got {type(features).__name__}")
        x, y = features(x), features(y)
    x, y = as_samples(x, fn, 'x'), as_samples(y, fn, 'y')
    check_same_dim(x, y, fn)
    for name, a in (('x', x), ('y', y)):
        if len(a) < 2:
            raise ValueError(f"{fn}: {name} needs at least 2 samples to fit a covariance, "
                             f"got {len(a)}")
    return frechet_distance_gaussians(*gaussian_fit(x), *gaussian_fit(y))
