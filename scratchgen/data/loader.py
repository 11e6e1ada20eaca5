"""``DataLoader``: batches of a dataset as ``sg.Tensor``s on a device.

Fetching and stacking happen on the host (NumPy); each finished batch crosses to the
device once, explicitly (``sg.tensor(batch, device=...)``). ``collate`` stacks a list
of examples; ``batch_to_device`` moves a stacked batch.

Shuffling is deterministic: with ``seed=k`` the loader owns a generator seeded with
``k`` and epoch ``e`` always sees the same order; with ``seed=None`` each epoch draws
its permutation from the global host generator (seeded by ``sg.manual_seed``).
"""
import math

import numpy as np

from .. import backend
from ..autograd import Tensor, tensor
from .dataset import as_generator
from ..checks import positive_int


def collate(items):
    """Stack a list of examples (all with the same structure) along a new first axis.

    arrays and numbers -> one host NumPy array (Python floats become the default
    float dtype, ints int64, NumPy arrays keep their dtype); Tensors -> one Tensor on
    their device; strings -> a list of strings; tuples/lists and dicts -> the same
    container of collated fields.
    """
    if len(items) == 0:
        raise ValueError("collate: cannot collate an empty list of examples")
    first = items[0]
    if isinstance(first, Tensor):
        xp = first.xp
        return Tensor(xp.stack([t.data for t in items]))
    if isinstance(first, str):
        return list(items)
    if isinstance(first, dict):
        return {k: collate([it[k] for it in items]) for k in first}
    if isinstance(first, (tuple, list)):
        lengths = {len(it) for it in items}
        if len(lengths) != 1:
            raise ValueError(f"collate: examples have different numbers of fields "
                             f"{sorted(lengths)}")
        return tuple(collate([it[j] for it in items]) for j in range(len(first)))
    if isinstance(first, float):
        return np.asarray(items, dtype=backend.get_default_dtype())
    if isinstance(first, (bool, int, np.ndarray, np.generic)):
        out = np.stack([np.asarray(it) for it in items])
        if out.dtype == object:
            raise TypeError("collate: examples hold object arrays; expected numbers")
        return out
    raise TypeError(f"collate: do not know how to batch examples of type "
                    f"{type(first).__name__}; expected arrays, numbers, strings, Tensors, "
                    "or tuples/dicts of those")


def batch_to_device(batch, device=None):
    """Host arrays -> ``sg.Tensor`` on ``device`` (one explicit transfer each); Tensors
    are moved with ``.to``; lists of strings pass through; containers recurse."""
    if isinstance(batch, Tensor):
        return batch if device is None else batch.to(device)
    if isinstance(batch, np.ndarray):
        return tensor(batch, device=device)
    if isinstance(batch, tuple):
        return tuple(batch_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: batch_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list):         # strings stay host-side Python objects
        return batch
    raise TypeError(f"batch_to_device: unexpected batch element of type {type(batch).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` examples.

    Args:
        dataset: has ``len`` and ``__getitem__`` (``get_batch`` is used when present).
        batch_size: examples per batch; the last batch may be smaller unless
            ``drop_last``.
        shuffle: visit the examples in a new random order each epoch.
        seed: int (the loader's own generator: reproducible epochs), numpy Generator,
            or None (the global host generator, seeded by ``sg.manual_seed``).
        device: where batches land ('cpu', 'emu', 'cuda'); None = the default device.

    Each batch has the structure of one example: a tuple of Tensors for a
    ``TensorDataset``, a Tensor for array examples, a list for strings.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 device=None):
        if not (hasattr(dataset, '__len__') and hasattr(dataset, '__getitem__')):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = positive_int(batch_size, 'batch_size', 'DataLoader')
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = None if device is None else backend.canonical_device(device)
        self.seed = seed
        self._rng = as_generator(seed, 'DataLoader') if seed is not None else None

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else backend.host_rng()
        return rng.permutation(n)

    def _fetch(self, idx):
        if hasattr(self.dataset, 'get_batch'):
            return self.dataset.get_batch(idx)
        return collate([self.dataset[int(i)] for i in idx])

    def __iter__(self):
        order = self._order()
        device = backend.canonical_device(self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield batch_to_device(self._fetch(idx), device)

    def __repr__(self):
        return (f"DataLoader(len(dataset)={len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed!r}, "
                f"device={self.device!r})")
