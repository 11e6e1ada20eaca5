"""MMD^2 and 1-NN two-sample accuracy on cases with known answers."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import metrics


def _gauss(n, d, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)) * scale + shift


def _mmd2_by_definition(x, y, h):
    """Unbiased MMD^2 written as the double sums of its definition (loops; tiny inputs)."""
    k = lambda a, b: np.exp(-((a - b) ** 2).sum() / (2 * h * h))   # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_mmd2_matches_definition_and_median_heuristic():
    x, y = _gauss(7, 3, seed=1), _gauss(5, 3, shift=0.5, seed=2)
    for h in (0.3, 1.0, 4.0):
        assert np.isclose(metrics.mmd2_unbiased(x, y, bandwidth=h),
                          _mmd2_by_definition(x, y, h), rtol=1e-10, atol=1e-12)
    z = np.concatenate([x, y])
    d = [np.linalg.norm(z[i] - z[j]) for i in range(12) for j in range(i + 1, 12)]
    h = np.median(d)
    assert np.isclose(metrics.median_bandwidth(z), h)
    assert np.isclose(metrics.mmd2_unbiased(x, y), _mmd2_by_definition(x, y, h))


def test_mmd2_closed_form_for_shifted_gaussians():
    # x ~ N(0, s^2 I), y ~ N(delta, s^2 I) in D dims, RBF bandwidth h:
    # MMD^2 = 2 (h^2 / (h^2 + 2 s^2))^(D/2) (1 - exp(-|delta|^2 / (2 (h^2 + 2 s^2))))
    d, s, h = 2, 1.0, 1.5
    delta = np.array([1.0, 0.5])
    c = h * h + 2 * s * s
    exact = 2 * (h * h / c) ** (d / 2) * (1 - np.exp(-(delta @ delta) / (2 * c)))
    x, y = _gauss(1500, d, seed=3), _gauss(1500, d, shift=delta, seed=4)
    est = metrics.mmd2_unbiased(x, y, bandwidth=h)
    assert abs(est - exact) < 0.15 * exact, (est, exact)


def test_mmd2_near_zero_for_same_distribution_and_large_when_shifted():
    x, y = _gauss(400, 2, seed=5), _gauss(400, 2, seed=6)
    same = metrics.mmd2_unbiased(x, y)
    shifted = metrics.mmd2_unbiased(x, y + 2.0)
    assert abs(same) < 0.01
    assert shifted > 0.3
    assert metrics.mmd2_unbiased(x, x + 0.3) < metrics.mmd2_unbiased(x, x + 1.0)


def test_mmd_permutation_test_rejects_only_when_distributions_differ():
    rejections = 0
    for trial in range(20):
        x, y = _gauss(40, 2, seed=100 + trial), _gauss(40, 2, seed=200 + trial)
        mmd2, p = metrics.mmd_permutation_test(x, y, n_permutations=99, seed=trial)
        assert 0 < p <= 1 and np.isclose(mmd2, metrics.mmd2_unbiased(x, y))
        assert np.isclose(p * 100, round(p * 100))    # p = (1 + k) / (1 + 99)
        rejections += p < 0.05
    assert rejections <= 4          # about 1 expected at level 0.05
    x, y = _gauss(40, 2, seed=7), _gauss(40, 2, shift=1.5, seed=8)
    mmd2, p = metrics.mmd_permutation_test(x, y, n_permutations=99, seed=0)
    assert p == pytest.approx(1 / 100)      # no permutation beats the observed split
    # deterministic given the seed
    assert metrics.mmd_permutation_test(x, y + 0.2, 50, seed=3) == \
        metrics.mmd_permutation_test(x, y + 0.2, 50, seed=3)


def test_one_nn_accuracy_known_answers():
    # separable sets: each point's nearest other point is in its own set
    assert metrics.one_nn_accuracy([[0.0], [1.0]], [[10.0], [11.0]]) == 1.0
    # interleaved: each point's nearest neighbour is in the other set
    assert metrics.one_nn_accuracy([[0.0], [10.0]], [[1.0], [11.0]]) == 0.0
    # an exact copy of the data (memorisation) scores 0, not the ideal 0.5
    x = _gauss(50, 3, seed=9)
    assert metrics.one_nn_accuracy(x, x.copy()) == 0.0
    # same distribution: about 0.5; separated: about 1
    x, y = _gauss(500, 2, seed=10), _gauss(500, 2, seed=11)
    assert abs(metrics.one_nn_accuracy(x, y) - 0.5) < 0.06
    assert metrics.one_nn_accuracy(x, y + 6.0) > 0.99
    # unequal sizes: balanced accuracy is still about 0.5
    assert abs(metrics.one_nn_accuracy(x[:150], y) - 0.5) < 0.08


def test_image_shaped_inputs_are_flattened():
    x = _gauss(30, 12, seed=12)
    y = _gauss(30, 12, seed=13)
    assert metrics.mmd2_unbiased(x.reshape(30, 3, 2, 2), y.reshape(30, 3, 2, 2)) == \
        pytest.approx(metrics.mmd2_unbiased(x, y))
    assert metrics.one_nn_accuracy(x.reshape(30, 3, 4), y.reshape(30, 3, 4)) == \
        metrics.one_nn_accuracy(x, y)


def test_tensor_inputs_on_any_device(device):
    x, y = _gauss(40, 2, seed=14), _gauss(40, 2, shift=0.5, seed=15)
    tx = sg.tensor(x.astype(np.float32), device=device)
    ty = sg.tensor(y.astype(np.float32), device=device)
    assert metrics.mmd2_unbiased(tx, ty) == pytest.approx(
        metrics.mmd2_unbiased(x.astype(np.float32), y.astype(np.float32)))
    assert metrics.one_nn_accuracy(tx, ty) == metrics.one_nn_accuracy(
        x.astype(np.float32), y.astype(np.float32))


def test_errors_name_the_function_and_shapes():
    with pytest.raises(ValueError, match=r"mmd2_unbiased: x has 3 features .* y has 2"):
        metrics.mmd2_unbiased(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="one_nn_accuracy: y needs at least 2 samples"):
        metrics.one_nn_accuracy(np.zeros((5, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="bandwidth must be a positive"):
        metrics.mmd2_unbiased(np.zeros((5, 2)), np.ones((5, 2)), bandwidth=0)
    with pytest.raises(ValueError, match="n_permutations"):
        metrics.mmd_permutation_test(np.zeros((5, 2)), np.ones((5, 2)), n_permutations=0)
    with pytest.raises(ValueError, match="NaN"):
        metrics.one_nn_accuracy(np.full((5, 2), np.nan), np.ones((5, 2)))
