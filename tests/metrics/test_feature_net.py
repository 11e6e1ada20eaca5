"""The self-trained feature net: it learns an easy task, its features separate
distributions for the Fréchet distance, and classifier_accuracy scores conditional samples."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend, metrics


def _bars(n, seed, size=10):
    """Class 0: a horizontal bar, 1: a vertical bar, 2: a centred square; random
    position, faint noise background."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = 0.2 * rng.random((n, size, size)).astype(np.float32)
    pos = rng.integers(1, size - 1, n)
    rows = np.arange(size)
    x[y == 0] = np.where(rows[None, :, None] == pos[y == 0, None, None], 1.0, x[y == 0])
    x[y == 1] = np.where(rows[None, None, :] == pos[y == 1, None, None], 1.0, x[y == 1])
    c = slice(size // 2 - 2, size // 2 + 2)
    x[y == 2, c, c] = 1.0
    return x, y


@pytest.fixture(scope='module')
def data():
    return _bars(600, 0), _bars(300, 1)


@pytest.fixture(scope='module')
def mlp(data):
    (x, y), _ = data
    return metrics.train_feature_net(x, y, epochs=4, seed=0)


def test_mlp_learns_and_exposes_features(data, mlp):
    _, (xt, yt) = data
    assert mlp.history[-1] < mlp.history[0]
    assert mlp.accuracy(xt, yt) > 0.95
    f = mlp.features(xt)
    assert f.shape == (300, 64) and f.dtype == np.float64
    assert np.all(f >= 0)                       # post-ReLU activations
    np.testing.assert_array_equal(mlp.predict(xt[:5]), mlp.logits(xt[:5]).argmax(1))
    np.testing.assert_array_equal(mlp(xt), f)    # calling the net gives features
    # same inputs as a Tensor give the same features
    np.testing.assert_allclose(mlp.features(sg.tensor(xt)), f)


def test_features_drive_frechet_distance(data, mlp):
    (x, y), (xt, yt) = data
    same = metrics.frechet_distance(x[:300], xt, features=mlp.features)
    collapsed = metrics.frechet_distance(xt[yt == 0], xt, features=mlp.features)
    assert collapsed > 5 * same, (same, collapsed)
    noise = np.random.default_rng(2).random(xt.shape).astype(np.float32)
    assert metrics.frechet_distance(noise, xt, features=mlp) > 5 * same


def test_classifier_accuracy_for_conditional_samples(data, mlp):
    _, (xt, yt) = data
    assert metrics.classifier_accuracy(mlp, xt[yt == 1], 1) > 0.95
    assert metrics.classifier_accuracy(mlp, xt[yt == 1], 0) < 0.05
    assert metrics.classifier_accuracy(mlp, xt, sg.tensor(yt)) == mlp.accuracy(xt, yt)

    class Oracle:                                 # anything with predict() works
        def predict(self, samples):
            return np.zeros(len(samples), int)
    assert metrics.classifier_accuracy(Oracle(), xt, yt) == pytest.approx((yt == 0).mean())
    with pytest.raises(ValueError, match=r"labels of shape \(3,\) do not match 300 samples"):
        metrics.classifier_accuracy(mlp, xt, [0, 1, 2])
    with pytest.raises(TypeError, match="must have a predict"):
        metrics.classifier_accuracy(object(), xt, yt)


def test_deterministic_and_leaves_global_rng_alone(data):
    (x, y), _ = data
    backend.manual_seed(5)
    expected = sg.randn(3).numpy()
    backend.manual_seed(5)
    a = metrics.train_feature_net(x[:200], y[:200], epochs=1, hidden=32, seed=3)
    np.testing.assert_array_equal(sg.randn(3).numpy(), expected)
    b = metrics.train_feature_net(x[:200], y[:200], epochs=1, hidden=32, seed=3)
    np.testing.assert_array_equal(a.features(x[:20]), b.features(x[:20]))
    c = metrics.train_feature_net(x[:200], y[:200], epochs=1, hidden=32, seed=4)
    assert not np.allclose(a.features(x[:20]), c.features(x[:20]))


def test_conv_net_on_device(data, device):
    (x, y), (xt, yt) = data
    net = metrics.train_feature_net(x[:, None], y, arch='conv', epochs=3, lr=3e-3,
                                    batch_size=64, feature_dim=32, device=device, seed=0)
    assert net.accuracy(xt[:, None], yt) > 0.9
    assert net.features(xt[:7, None]).shape == (7, 32)
    # (N, H, W) input gets its channel axis added, consistently at train and use time
    net2 = metrics.train_feature_net(x[:100], y[:100], arch='conv', epochs=1, seed=0)
    assert net2.features(xt[:4]).shape == (4, 64)


def test_errors(data, mlp):
    (x, y), _ = data
    with pytest.raises(ValueError, match=r"FeatureNet.features: inputs of shape \(2, 5, 5\)"):
        mlp.features(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="arch must be 'mlp' or 'conv'"):
        metrics.train_feature_net(x, y, arch='resnet')
    with pytest.raises(ValueError, match="arch='conv' needs images"):
        metrics.train_feature_net(x.reshape(600, -1), y, arch='conv')
    with pytest.raises(TypeError, match="integer class indices"):
        metrics.train_feature_net(x, y.astype(np.float32))
    with pytest.raises(ValueError, match="label 2 is out of range for 2 classes"):
        metrics.train_feature_net(x, y, n_classes=2)
