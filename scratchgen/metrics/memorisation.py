"""Memorisation check: how far is each generated sample from the training set?

A model that copies its training data produces samples at distance ~0 from some
training example. Compare the distances with those of held-out real samples to the
training set: generated samples much closer than held-out data suggest copying.
"""
from ._common import as_samples, check_same_dim, nearest_neighbours

__all__ = ['nearest_training_distance']


def nearest_training_distance(samples, train, return_index=False):
    """Euclidean distance from each sample to its nearest training example.

    samples (N, ...) and train (M, ...) with matching trailing shapes (images are
    flattened). Distances are computed in blocks, so memory stays bounded (about 32 MB
    of distances at a time) whatever N and M. Returns an (N,) float64 array, and the
    (N,) indices of the nearest training examples when ``return_index`` is true.
    """
    fn = 'nearest_training_distance'
    x, t = as_samples(samples, fn, 'samples'), as_samples(train, fn, 'train')
    check_same_dim(x, t, fn, ('samples', 'train'))
    if len(t) == 0:
        raise ValueError(f"{fn}: train is empty")
    dist, idx = nearest_neighbours(x, t)
    return (dist, idx) if return_index else dist
