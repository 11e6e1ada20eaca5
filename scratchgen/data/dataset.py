"""Datasets: ``Dataset`` (the protocol), ``TensorDataset``, ``Subset``, ``random_split``.

A dataset is anything with ``len(ds)`` and ``ds[i]``. It may also offer
``ds.get_batch(indices)`` returning a whole batch already stacked (the structure of one
example with a leading batch dimension); the ``DataLoader`` uses it to fetch a batch
with one fancy-index instead of a Python loop over the batch.

Datasets hold host NumPy arrays (or Tensors, which stay on their device); moving a
batch to the training device is the loader's job, done once per batch, explicitly.
"""
import numpy as np

from ..autograd import Tensor
from .. import backend


def as_generator(seed, where='data'):
    """A NumPy Generator from ``seed``: an int, a Generator, or None (the global host
    generator that ``sg.manual_seed`` seeds)."""
    if seed is None:
        return backend.host_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise TypeError(f"{where}: seed must be a non-negative int, a numpy Generator or None, "
                    f"got {seed!r}")


class Dataset:
    """Base class: subclasses define ``__len__`` and ``__getitem__(i)``.

    ``__getitem__`` returns one example: an array, a number, a string, or a tuple or
    dict of those. Optionally ``get_batch(indices)`` returns a batch already stacked.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


def _check_index(index, n, where):
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise TypeError(f"{where}: index must be an int, got {type(index).__name__}")
    if not -n <= index < n:
        raise IndexError(f"{where}: index {index} is out of range for a dataset of "
                         f"length {n}")
    return int(index) % n


class TensorDataset(Dataset):
    """Examples are the rows of several equally long arrays: ``ds[i] = (a[i], b[i], ...)``.

    Each array may be host data (NumPy arrays, lists) or an ``sg.Tensor``; Tensors stay
    on their device and are indexed there. A single array gives 1-tuples, like PyTorch.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array")
        self.arrays = []
        for k, a in enumerate(arrays):
            if not isinstance(a, Tensor):
                a = np.asarray(a)
                if a.dtype == object:
                    raise TypeError(f"TensorDataset: array {k} has object dtype; expected "
                                    "numbers (keep strings in your own Dataset)")
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: array {k} is 0-d; expected a leading "
                                 "example dimension")
            self.arrays.append(a)
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            shapes = [tuple(a.shape) for a in self.arrays]
            raise ValueError(f"TensorDataset: arrays must have the same length (first "
                             f"dimension), got shapes {shapes}")
        self._n = lengths[0]

    def __len__(self):
        return self._n

    def __getitem__(self, index):
        i = _check_index(index, self._n, 'TensorDataset')
        return tuple(Tensor(a.data[i]) if isinstance(a, Tensor) else a[i]
                     for a in self.arrays)

    def get_batch(self, indices):
        """A whole batch: one fancy-index per array (on each array's own device)."""
        idx = np.asarray(indices, dtype=np.int64)
        out = []
        for a in self.arrays:
            if isinstance(a, Tensor):
                out.append(Tensor(a.data[backend.to_device(idx, a.device)]))
            else:
                out.append(a[idx])
        return tuple(out)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}) for a dataset of "
                             f"length {n}, got range [{self.indices.min()}, "
                             f"{self.indices.max()}]")

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index(index, len(self), 'Subset')])]

    def get_batch(self, indices):
        inner = self.indices[np.asarray(indices, dtype=np.int64)]
        if hasattr(self.dataset, 'get_batch'):
            return self.dataset.get_batch(inner)
        from .loader import collate
        return collate([self.dataset[int(i)] for i in inner])


def random_split(dataset, lengths, seed=None):
    """Split into non-overlapping ``Subset``s of the given lengths (they must add up to
    ``len(dataset)``), by a random permutation drawn from ``seed``."""
    lengths = [int(k) for k in lengths]
    if any(k < 0 for k in lengths) or sum(lengths) != len(dataset):
        raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum "
                         f"to the dataset length {len(dataset)}")
    perm = as_generator(seed, 'random_split').permutation(len(dataset))
    ends = np.cumsum(lengths)
    return [Subset(dataset, perm[end - k:end]) for k, end in zip(lengths, ends)]
