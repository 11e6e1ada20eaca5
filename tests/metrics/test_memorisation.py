"""nearest_training_distance: exact distances, bounded-memory blocks, copies give 0."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import metrics
from scratchgen.metrics import _common


def test_known_offsets_and_exact_copies():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((300, 2, 4, 4)) * 10          # points far apart
    pick = rng.permutation(300)[:40]
    offsets = rng.standard_normal((40, 32))
    offsets *= (np.linspace(0, 0.5, 40) / np.linalg.norm(offsets, axis=1))[:, None]
    samples = train[pick] + offsets.reshape(40, 2, 4, 4)
    dist, idx = metrics.nearest_training_distance(samples, train, return_index=True)
    np.testing.assert_array_equal(idx, pick)
    np.testing.assert_allclose(dist, np.linspace(0, 0.5, 40), atol=1e-12)
    assert dist[0] == 0.0                                      # an exact copy


def test_blocks_match_brute_force(monkeypatch):
    rng = np.random.default_rng(1)
    samples, train = rng.standard_normal((123, 5)), rng.standard_normal((77, 5))
    brute = np.sqrt(((samples[:, None] - train[None]) ** 2).sum(-1)).min(1)
    monkeypatch.setattr(_common, '_BLOCK_ENTRIES', 200)   # about 2 rows per block
    np.testing.assert_allclose(metrics.nearest_training_distance(samples, train), brute,
                               rtol=1e-12)
    monkeypatch.setattr(_common, '_BLOCK_ENTRIES', 1)     # one row per block
    np.testing.assert_allclose(metrics.nearest_training_distance(samples, train), brute,
                               rtol=1e-12)


def test_tensor_inputs(device):
    rng = np.random.default_rng(2)
    samples = rng.standard_normal((20, 3)).astype(np.float32)
    train = rng.standard_normal((30, 3)).astype(np.float32)
    d = metrics.nearest_training_distance(sg.tensor(samples, device=device),
                                          sg.tensor(train, device=device))
    assert d.shape == (20,) and d.dtype == np.float64
    np.testing.assert_allclose(d, metrics.nearest_training_distance(samples, train))


def test_errors():
    with pytest.raises(ValueError, match=r"samples has 3 features .* train has 4"):
        metrics.nearest_training_distance(np.zeros((2, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="train is empty"):
        metrics.nearest_training_distance(np.zeros((2, 3)), np.zeros((0, 3)))
