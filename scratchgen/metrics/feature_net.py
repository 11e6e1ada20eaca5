"""A small self-trained classifier as the feature map for Fréchet distance, and
classifier accuracy for conditional models.

FID measures images through an Inception network trained on ImageNet; that needs a
download of its weights and is tuned to photographs. scratchgen trains its own small
classifier on the dataset at hand instead (seconds on a CPU, no downloads) and uses its
penultimate layer as the feature map:

    net = train_feature_net(train_images, train_labels)
    fd = frechet_distance(generated, real, features=net.features)
    acc = classifier_accuracy(net, generated, requested_labels)

Numbers are only comparable between runs that use the same feature net (same data,
architecture and seed). See docs/metrics.md.
"""
import numpy as np

from .. import backend, nn, optim
from .. import functional as F
from ..autograd import no_grad, tensor
from ..autograd.creation import host_array

__all__ = ['FeatureNet', 'train_feature_net', 'classifier_accuracy']


class MLPClassifier(nn.Module):
    """flatten -> Linear -> ReLU -> Linear -> ReLU (features) -> Linear (logits)."""

    def __init__(self, sample_shape, n_classes, hidden=256, feature_dim=64):
        super().__init__()
        self.fc1 = nn.Linear(int(np.prod(sample_shape)), hidden)
        self.fc2 = nn.Linear(hidden, feature_dim)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x):
        h = F.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return F.relu(self.fc2(h))

    def forward(self, x):
        return self.head(self.features(x))


class ConvClassifier(nn.Module):
    """Two stride-2 3x3 convs (each halves H and W) -> Linear -> ReLU (features) -> Linear."""

    def __init__(self, sample_shape, n_classes, feature_dim=64):
        super().__init__()
        c, h, w = sample_shape
        self.conv1 = nn.Conv2d(c, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        h, w = (h + 3) // 4, (w + 3) // 4       # after two stride-2 convs (padding 1)
        self.fc = nn.Linear(32 * h * w, feature_dim)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x))))
        return F.relu(self.fc(h.reshape(h.shape[0], -1)))

    def forward(self, x):
        return self.head(self.features(x))


class FeatureNet:
    """A trained classifier with host-side helpers (inputs: NumPy arrays or Tensors).

    ``features(x)`` -> (N, feature_dim) penultimate-layer activations (float64 NumPy);
    ``predict(x)`` -> (N,) class indices; ``accuracy(x, labels)`` -> fraction correct.
    Calling the net is ``features``, so ``features=net`` works in ``frechet_distance``.
    ``history`` holds the mean training loss of each epoch.
    """

    def __init__(self, module, input_shape, model_shape, mean, std, device, n_classes):
        self.module, self.n_classes, self.device = module, n_classes, device
        # input_shape: a sample as given, e.g. (H, W); model_shape: as the module takes it (1, H, W)
        self.input_shape, self.model_shape = tuple(input_shape), tuple(model_shape)
        self.mean, self.std = mean, std
        self.history = []

    def to_device(self, host_batch):
        """Standardise a host batch (B, *input_shape) and put it on the net's device."""
        x = (host_batch.reshape((-1,) + self.model_shape) - self.mean) / self.std
        return tensor(x.astype(np.float32), device=self.device)

    def _map(self, images, method, batch_size, fn):
        x = _images(images, f"FeatureNet.{fn}")
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"FeatureNet.{fn}: inputs of shape {x.shape} do not match the "
                             f"training samples' shape (N, *{self.input_shape})")
        with no_grad():
            outs = [getattr(self.module, method)(self.to_device(x[i:i + batch_size])).numpy()
                    for i in range(0, len(x), batch_size)]
        return np.concatenate(outs).astype(np.float64)

    def features(self, images, batch_size=512):
        return self._map(images, 'features', batch_size, 'features')

    def logits(self, images, batch_size=512):
        return self._map(images, 'forward', batch_size, 'logits')

    def predict(self, images, batch_size=512):
        return self.logits(images, batch_size).argmax(1)

    def accuracy(self, images, labels, batch_size=512):
        return classifier_accuracy(self, images, labels, batch_size)

    __call__ = features


def _images(images, fn):
    x = host_array(images, np.float32, fn)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{fn}: expected a non-empty batch of samples (N, ...), "
                         f"got shape {x.shape}")
    return x


def _labels(labels, n, fn):
    y = host_array(labels, None, f"{fn}: labels")
    if y.ndim == 0:
        y = np.full(n, y)      # one class for the whole batch
    if y.dtype.kind not in 'iu':
        raise TypeError(f"{fn}: labels must be integer class indices, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{fn}: labels of shape {y.shape} do not match {n} samples")
    if y.min() < 0:
        raise ValueError(f"{fn}: labels must be non-negative, got {y.min()}")
    return y.astype(np.int64)


def train_feature_net(images, labels, arch='mlp', hidden=256, feature_dim=64, epochs=5,
                      batch_size=128, lr=1e-3, seed=0, device=None, n_classes=None):
    """Train a small classifier on (images, labels) and return it as a ``FeatureNet``.

    images: (N, ...) samples, e.g. (N, H, W), (N, C, H, W) or flat vectors; labels: (N,)
    ints in [0, n_classes). arch: 'mlp' (flattens the input; ``hidden`` units) or 'conv'
    (needs (N, H, W) or (N, C, H, W)). Inputs are standardised with the training set's
    mean and standard deviation. ``seed`` fixes the initialisation and the batch order
    (the global generator is seeded for the initialisation, then restored).
    """
    fn = 'train_feature_net'
    x = _images(images, fn)
    y = _labels(labels, len(x), fn)
    if arch not in ('mlp', 'conv'):
        raise ValueError(f"{fn}: arch must be 'mlp' or 'conv', got {arch!r}")
    input_shape = model_shape = x.shape[1:]
    if arch == 'conv':
        if x.ndim == 3:
            model_shape = (1,) + input_shape
        elif x.ndim != 4:
            raise ValueError(f"{fn}: arch='conv' needs images of shape (N, H, W) or "
                             f"(N, C, H, W), got {x.shape}")
    n_classes = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if y.max() >= n_classes:
        raise ValueError(f"{fn}: label {y.max()} is out of range for {n_classes} classes")
    device = backend.canonical_device(device)

    state = backend.get_rng_state()
    backend.manual_seed(seed)
    try:
        if arch == 'mlp':
            module = MLPClassifier(model_shape, n_classes, hidden, feature_dim)
        else:
            module = ConvClassifier(model_shape, n_classes, feature_dim)
    finally:
        backend.set_rng_state(state)
    module.to(device)
    net = FeatureNet(module, input_shape, model_shape, float(x.mean()), float(x.std()) or 1.0,
                     device, n_classes)

    opt = optim.Adam(module.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            logits = module(net.to_device(x[idx]))
            loss = F.cross_entropy(logits, tensor(y[idx], device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        net.history.append(total / len(x))
    return net


def classifier_accuracy(net, samples, labels, batch_size=512):
    """Fraction of ``samples`` that ``net`` classifies as ``labels``.

    For a conditional model: generate samples for requested classes and pass those
    classes as labels (one int applies to every sample). ``net`` is a ``FeatureNet``
    or anything with ``predict(samples)``. 1 is ideal; 1 / n_classes is chance.
    """
    fn = 'classifier_accuracy'
    if not hasattr(net, 'predict'):
        raise TypeError(f"{fn}: net must have a predict(samples) method, "
                        f"got {type(net).__name__}")
    pred = (net.predict(samples, batch_size) if isinstance(net, FeatureNet)
            else host_array(net.predict(samples), None, fn))
    y = _labels(labels, len(pred), fn)
    return float((pred == y).mean())
