"""Dataset, TensorDataset, Subset, random_split, DataLoader: batching, shuffling,
determinism, devices, collation and errors."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import (Dataset, TensorDataset, Subset, random_split, DataLoader, collate)


def _ds(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(x, y), x, y


def test_tensor_dataset_items_and_len():
    ds, x, y = _ds()
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == 3
    np.testing.assert_array_equal(ds[-1][0], x[-1])
    with pytest.raises(IndexError, match='out of range'):
        ds[10]


def test_tensor_dataset_rejects_unequal_lengths():
    with pytest.raises(ValueError, match=r'same length.*\(3, 2\).*\(4,\)'):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match='at least one'):
        TensorDataset()


def test_loader_batches_in_order_on_device(device):
    ds, x, y = _ds(10)
    batches = list(DataLoader(ds, batch_size=4, device=device))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    for b in batches:
        assert isinstance(b[0], sg.Tensor) and b[0].device == device
        assert b[0].dtype == np.float32 and b[1].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)


def test_loader_len_and_drop_last():
    ds, _, _ = _ds(10)
    assert len(DataLoader(ds, 4)) == 3
    assert len(DataLoader(ds, 4, drop_last=True)) == 2
    assert len(DataLoader(ds, 5, drop_last=True)) == 2
    batches = list(DataLoader(ds, 4, drop_last=True))
    assert [len(b[1]) for b in batches] == [4, 4]


def test_shuffle_is_a_permutation_and_deterministic_per_seed():
    ds, _, y = _ds(50)

    def epochs(loader, k=2):
        return [np.concatenate([b[1].numpy() for b in loader]) for _ in range(k)]

    a = epochs(DataLoader(ds, 7, shuffle=True, seed=3))
    b = epochs(DataLoader(ds, 7, shuffle=True, seed=3))
    c = epochs(DataLoader(ds, 7, shuffle=True, seed=4))
    for e in a:
        assert sorted(e.tolist()) == y.tolist()         # every example exactly once
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])               # a new order each epoch
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], y)


def test_shuffle_without_seed_follows_manual_seed():
    ds, _, _ = _ds(30)
    sg.manual_seed(7)
    a = np.concatenate([b[1].numpy() for b in DataLoader(ds, 8, shuffle=True)])
    sg.manual_seed(7)
    b = np.concatenate([b[1].numpy() for b in DataLoader(ds, 8, shuffle=True)])
    np.testing.assert_array_equal(a, b)


def test_features_and_labels_stay_paired_under_shuffle(device):
    ds, x, y = _ds(20)
    for xb, yb in DataLoader(ds, 6, shuffle=True, seed=0, device=device):
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


def test_tensor_dataset_of_device_tensors(device):
    x = sg.tensor(np.arange(12, dtype=np.float32).reshape(6, 2), device=device)
    ds = TensorDataset(x)
    (b,), = list(DataLoader(ds, 6, device=device))
    assert b.device == device
    np.testing.assert_array_equal(b.numpy(), x.numpy())
    (b,), = list(DataLoader(ds, 6, device='cpu'))       # crosses devices explicitly
    assert b.device == 'cpu'


class _Dicts(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {'x': np.full(2, i, dtype=np.float32), 'label': i, 'w': 0.5 * i, 'text': f"item {i}"}


def test_generic_dataset_collates_dicts_numbers_and_strings(device):
    batches = list(DataLoader(_Dicts(), 2, device=device))
    b = batches[0]
    assert b['x'].shape == (2, 2) and b['x'].device == device
    assert b['label'].dtype == np.int64
    assert b['w'].dtype == np.float32
    assert b['text'] == ['item 0', 'item 1']
    assert batches[-1]['text'] == ['item 4']


def test_subset_and_random_split():
    ds, x, _ = _ds(10)
    sub = Subset(ds, [7, 2])
    np.testing.assert_array_equal(sub[0][0], x[7])
    a, b = random_split(ds, [6, 4], seed=0)
    ia, ib = set(a.indices.tolist()), set(b.indices.tolist())
    assert len(ia) == 6 and len(ib) == 4 and not ia & ib and ia | ib == set(range(10))
    a2, _ = random_split(ds, [6, 4], seed=0)
    np.testing.assert_array_equal(a.indices, a2.indices)
    (xb, yb), = list(DataLoader(a, 6))
    np.testing.assert_array_equal(xb.numpy(), x[a.indices])
    with pytest.raises(ValueError, match='sum'):
        random_split(ds, [5, 4])


def test_loader_errors():
    ds, _, _ = _ds(4)
    with pytest.raises(ValueError, match='batch_size'):
        DataLoader(ds, 0)
    with pytest.raises(TypeError, match='__len__'):
        DataLoader(object(), 2)
    with pytest.raises(ValueError, match='unknown device'):
        DataLoader(ds, 2, device='tpu')
    with pytest.raises(TypeError, match='seed'):
        list(DataLoader(ds, 2, shuffle=True, seed=-1))
    with pytest.raises(TypeError, match='do not know how to batch'):
        collate([object(), object()])


class _DeviceTensors(Dataset):
    def __init__(self, device):
        self.device = device

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return sg.tensor(np.full(2, i, dtype=np.float32), device=self.device), i


def test_generic_dataset_of_device_tensors(device):
    """Tensor examples are stacked on their own device (no trip through the host)."""
    batches = list(DataLoader(_DeviceTensors(device), 3, device=device))
    x, y = batches[0]
    assert x.device == device and x.shape == (3, 2)
    np.testing.assert_array_equal(x.numpy(), [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(batches[1][1].numpy(), [3])
