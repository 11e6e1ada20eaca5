"""Counting models: the full joint table, naive Bayes, and naive Bayes over pixels.

All three are fitted by maximum likelihood with Laplace (add-alpha) smoothing, which
has a closed form: a categorical variable with K values, seen n_j times in N draws,
gets

    theta_j = (n_j + alpha) / (N + K alpha)                     (alpha = 0: plain ML)

* ``FullJointCategorical``: one categorical over every feature combination,
  p(x) = theta_{x_1 ... x_d}; K = prod_k d_k cells, K - 1 free parameters.
* ``CategoricalNaiveBayes``: features independent (given the class y, if labels are
  given): p(x | y) = prod_k theta_{y, k, x_k}, theta_{y,k,l} = (n_{ykl} + alpha) /
  (N_y + d_k alpha), p(y) = (N_y + alpha) / (N + C alpha); sum_k (d_k - 1) free
  parameters per class (plus C - 1 for p(y)).
* ``PixelNaiveBayes``: naive Bayes on an image's pixels: an independent categorical
  over quantised colours per pixel, or an independent Gaussian per pixel value
  (mean and variance by maximum likelihood).

Counting happens on the host (NumPy); ``log_prob`` and ``sample`` take and return
Tensors on any device and do their math with that device's array module. Equations,
the measured comparison on the avatars and the lessons: docs/naive_bayes.md.
"""
import math

import numpy as np       # host-side counting only; device math uses the input's xp

from .. import backend, checks
from ..autograd import Tensor, randn
from ..autograd.creation import host_array

__all__ = ['FullJointCategorical', 'CategoricalNaiveBayes', 'PixelNaiveBayes']


# ----------------------------------------------------------------------------- helpers
def _host_indices(X, who, sizes=None, name='X'):
    """Integer feature indices (N, d) on the host, checked against ``sizes``."""
    X = host_array(X, who=f"{who}: {name}")
    if X.ndim != 2:
        raise ValueError(f"{who}: {name} must be a 2-D array (samples, features) of "
                         f"category indices, got shape {X.shape}")
    if X.dtype.kind not in 'iu':
        raise TypeError(f"{who}: {name} must hold integer category indices, got dtype {X.dtype}")
    if len(X) == 0:
        raise ValueError(f"{who}: {name} has no samples")
    X = X.astype(np.int64)
    if sizes is not None:
        if X.shape[1] != len(sizes):
            raise ValueError(f"{who}: {name} has {X.shape[1]} features per sample but the "
                             f"model has {len(sizes)} (n_categories={sizes})")
        bad = (X < 0) | (X >= np.array(sizes))
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"{who}: {name}[{i}, {j}] = {X[i, j]} is out of range for feature "
                             f"{j}, which has {sizes[j]} categories (expected 0..{sizes[j] - 1})")
    elif X.min() < 0:
        i, j = (int(v) for v in np.argwhere(X < 0)[0])
        raise ValueError(f"{who}: {name}[{i}, {j}] = {X[i, j]} is negative; category indices "
                         "start at 0")
    return X


def _device_indices(x, who, sizes):
    """Integer indices (n, d) as a raw array on x's device, checked against ``sizes``."""
    if not isinstance(x, Tensor):
        x = Tensor(backend.asarray(np.asarray(x)))
    a, xp = x.data, x.xp
    if a.ndim != 2:
        raise ValueError(f"{who}: expected a 2-D tensor (samples, features) of category "
                         f"indices, got shape {x.shape}")
    if a.dtype.kind not in 'iu':
        raise TypeError(f"{who}: expected integer category indices, got dtype {a.dtype}")
    if a.shape[1] != len(sizes):
        raise ValueError(f"{who}: got {a.shape[1]} features per sample but the model has "
                         f"{len(sizes)} (n_categories={sizes})")
    a = a.astype(np.int64)
    bad = (a < 0) | (a >= xp.asarray(list(sizes)))
    if bool(bad.any()):                       # one explicit sync, to name the culprit
        i, j = bad.nonzero()[0][0].item(), bad.nonzero()[1][0].item()
        raise ValueError(f"{who}: x[{i}, {j}] = {a[i, j].item()} is out of range for feature "
                         f"{j}, which has {sizes[j]} categories (expected 0..{sizes[j] - 1})")
    return a, xp


def _host_log(p):
    with np.errstate(divide='ignore'):
        return np.log(p)                      # log 0 = -inf: impossible under the model


class _DeviceTables:
    """Host parameter arrays copied to a device once, on first use there."""

    def __init__(self, **host_arrays):
        self.host, self._cache = host_arrays, {}

    def get(self, name, device):
        key = (name, device)
        if key not in self._cache:
            self._cache[key] = backend.to_device(self.host[name], device)
        return self._cache[key]


# ----------------------------------------------------------------------------- full joint
class FullJointCategorical:
    """One probability per feature combination: a categorical over K = prod d_k cells.

    theta_j = (n_j + alpha) / (N + K alpha). With alpha = 0 (maximum likelihood) every
    combination missing from the training set gets probability 0, so the model can
    never generate anything new; with alpha > 0 all missing combinations get the same
    probability alpha / (N + K alpha), however plausible or absurd they are.

    n_categories: values per feature, e.g. (3, 8, 4, 6, 7) for the avatars. Pass it:
    inferred from the data (largest index + 1) a value never seen would be dropped.
    """

    def __init__(self, alpha=0.0, n_categories=None):
        self.alpha = checks.number(alpha, 'alpha', 'FullJointCategorical', low=0)
        self.n_categories = None if n_categories is None else \
            checks.int_tuple(n_categories, 'n_categories', 'FullJointCategorical')
        self.counts_ = self.probs_ = None

    def fit(self, X):
        """Count the combinations in X (N, d) of category indices (Tensor or array)."""
        who = 'FullJointCategorical.fit'
        X = _host_indices(X, who, self.n_categories)
        sizes = self.n_categories or tuple(int(m) + 1 for m in X.max(0))
        self.n_categories = sizes
        K, N = int(np.prod(sizes)), len(X)
        cells = np.ravel_multi_index(tuple(X.T), sizes)
        self.counts_ = np.bincount(cells, minlength=K).reshape(sizes)
        self.probs_ = (self.counts_ + self.alpha) / (N + K * self.alpha)
        # p(x_1..x_k), the table summed over the later features, for k = 1..d
        marginals = {f'marginal{k}': self.probs_.sum(axis=tuple(range(k + 1, len(sizes))))
                     for k in range(len(sizes))}
        self._tables = _DeviceTables(log_probs=_host_log(self.probs_).reshape(-1), **marginals)
        return self

    def _check_fitted(self, who):
        if self.probs_ is None:
            raise RuntimeError(f"{who}: call fit(X) first")

    def prob_table(self):
        """p(x) for every combination: a host float64 array of shape n_categories."""
        self._check_fitted('FullJointCategorical.prob_table')
        return self.probs_.copy()

    def log_prob(self, x):
        """log p(x) for each row of x (n, d) (an integer Tensor on any device): (n,)."""
        who = 'FullJointCategorical.log_prob'
        self._check_fitted(who)
        a, xp = _device_indices(x, who, self.n_categories)
        strides = np.cumprod((1,) + self.n_categories[:0:-1])[::-1]   # C-order strides
        cell = sum(a[:, k] * int(s) for k, s in enumerate(strides))
        table = self._tables.get('log_probs', backend.device_of(a))
        return Tensor(table[cell].astype(backend.get_default_dtype()))

    def sample(self, n, device=None):
        """n combinations drawn from the table: an int64 Tensor (n, d) on ``device``.

        One feature at a time, by the chain rule p(x) = prod_k p(x_k | x_1..x_{k-1}):
        x_k is drawn with weights p(x_1..x_{k-1}, x_k) (a row of the marginal table), so
        no draw ever touches all K cells at once."""
        who = 'FullJointCategorical.sample'
        self._check_fitted(who)
        n, device = checks.nonnegative_int(n, 'n', who), backend.canonical_device(device)
        xp = backend.array_module(device)
        X = []
        for k, d_k in enumerate(self.n_categories):
            marginal = self._tables.get(f'marginal{k}', device)         # shape (d_1..d_k)
            weights = marginal[tuple(X)] if X else xp.broadcast_to(marginal, (n, d_k))
            X.append(backend.sample_categorical(weights))               # (n,)
        return Tensor(xp.stack(X, axis=1).astype(np.int64))

    def n_free_parameters(self):
        """K - 1: the cell probabilities, less one because they sum to 1."""
        if self.n_categories is None:
            raise RuntimeError("FullJointCategorical.n_free_parameters: unknown until "
                               "n_categories is given or fit(X) is called")
        return int(np.prod(self.n_categories)) - 1


# ----------------------------------------------------------------------------- naive Bayes
class CategoricalNaiveBayes:
    """Independent categorical features (given the class, when labels are given).

    Unlabelled, ``fit(X)``: p(x) = prod_k theta_{k, x_k}, theta_kl = (n_kl + alpha) /
    (N + d_k alpha). Labelled, ``fit(X, y)``: a generative classifier p(x, y) = p(y)
    prod_k theta_{y, k, x_k}; ``predict_proba`` gives p(y | x) by Bayes' rule and
    ``sample(n, y=c)`` draws from p(x | y = c). The unlabelled model is the labelled one
    with a single class, and is stored that way.

    Fitted attributes: ``feature_probs_[k]``, theta for feature k, shape (d_k,)
    unlabelled or (C, d_k) labelled; ``class_prior_`` (C,) labelled, else None.
    """

    def __init__(self, alpha=1.0, n_categories=None):
        self.alpha = checks.number(alpha, 'alpha', 'CategoricalNaiveBayes', low=0)
        self.n_categories = None if n_categories is None else \
            checks.int_tuple(n_categories, 'n_categories', 'CategoricalNaiveBayes')
        self.labelled = False
        self.feature_probs_ = self.class_prior_ = None

    # -- fitting (host)
    def fit(self, X, y=None, n_classes=None):
        """Count each feature's values (per class when y (N,) is given).

        n_classes defaults to max(y) + 1."""
        who = 'CategoricalNaiveBayes.fit'
        X = _host_indices(X, who, self.n_categories)
        sizes = self.n_categories or tuple(int(m) + 1 for m in X.max(0))
        self.n_categories = sizes
        N, d, Kmax = len(X), len(sizes), max(sizes)
        self.labelled = y is not None
        if y is None:
            y, C = np.zeros(N, dtype=np.int64), 1
        else:
            y = host_array(y, who=f"{who}: y")
            if y.dtype == np.bool_:                  # two classes: False = 0, True = 1
                y = y.astype(np.int64)
            if y.ndim != 1 or len(y) != N:
                raise ValueError(f"{who}: y must hold one label per sample, shape ({N},), got "
                                 f"shape {y.shape}")
            y = _host_indices(y[:, None], who, None, name='y')[:, 0]
            C = int(y.max()) + 1 if n_classes is None else int(n_classes)
            if y.max() >= C:
                raise ValueError(f"{who}: labels must lie in 0..n_classes-1 = 0..{C - 1}, got "
                                 f"label {int(y.max())}")
        # counts[c, k, l] = how often feature k took value l in class c
        flat = (y[:, None] * d + np.arange(d)) * Kmax + X
        counts = np.bincount(flat.ravel(), minlength=C * d * Kmax).reshape(C, d, Kmax)
        class_counts = np.bincount(y, minlength=C)
        K = np.array(sizes)
        if self.alpha == 0 and np.any(class_counts == 0):
            c = int(np.flatnonzero(class_counts == 0)[0])
            raise ValueError(f"{who}: class {c} has no samples and alpha = 0, so its "
                             "probabilities would be 0/0; use alpha > 0 or drop the class")
        denom = class_counts[:, None, None] + K[None, :, None] * self.alpha
        valid = np.arange(Kmax)[None, :] < K[:, None]                  # (d, Kmax)
        theta = np.where(valid, (counts + self.alpha) / denom, 0.0)     # padding: prob 0
        prior = (class_counts + self.alpha) / (N + C * self.alpha) if self.labelled \
            else np.ones(1)
        self.counts_, self.class_counts_ = counts, class_counts
        self.theta_, self.prior_ = theta, prior
        self.feature_probs_ = [theta[:, k, :K_k] if self.labelled else theta[0, k, :K_k]
                               for k, K_k in enumerate(sizes)]
        self.class_prior_ = prior if self.labelled else None
        self.n_classes = C
        log_theta = np.where(valid, _host_log(theta), -np.inf)
        self._tables = _DeviceTables(log_theta=log_theta, log_prior=_host_log(prior),
                                     theta=theta, prior=prior)
        return self

    def _check_fitted(self, who):
        if self.feature_probs_ is None:
            raise RuntimeError(f"{who}: call fit(X) or fit(X, y) first")

    def _class_log_joint(self, x, who):
        """log p(x, y = c) for every row and class: raw (n, C) array, and xp."""
        self._check_fitted(who)
        a, xp = _device_indices(x, who, self.n_categories)
        device = backend.device_of(a)
        log_theta = self._tables.get('log_theta', device)              # (C, d, Kmax)
        d = len(self.n_categories)
        per_feature = log_theta[:, xp.arange(d), a]                     # (C, n, d)
        return per_feature.sum(-1).T + self._tables.get('log_prior', device), xp

    # -- density, classification, sampling (any device)
    def log_prob(self, x, y=None):
        """log p(x) for each row of x (n, d) (an integer Tensor on any device): (n,).

        Labelled models marginalise the class, log p(x) = logsumexp_c log p(x, c);
        pass y (n,) to get the joint log p(x, y) instead."""
        who = 'CategoricalNaiveBayes.log_prob'
        joint, xp = self._class_log_joint(x, who)
        if y is not None:
            yy = self._device_labels(y, len(joint), who, backend.device_of(joint))
            out = joint[xp.arange(len(joint)), yy]
        else:
            out = _logsumexp(joint, xp)
        return Tensor(out.astype(backend.get_default_dtype()))

    def predict_proba(self, x):
        """p(y | x) by Bayes' rule: a (n, C) Tensor whose rows sum to 1."""
        who = 'CategoricalNaiveBayes.predict_proba'
        self._check_fitted(who)
        if not self.labelled:
            raise RuntimeError(f"{who}: the model was fitted without labels; use fit(X, y)")
        joint, xp = self._class_log_joint(x, who)
        post = xp.exp(joint - _logsumexp(joint, xp)[:, None])
        return Tensor(post.astype(backend.get_default_dtype()))

    def sample(self, n, y=None, device=None, return_labels=False):
        """n feature vectors: an int64 Tensor (n, d) on ``device``.

        Labelled models draw the class from p(y) unless ``y`` is given (an int for all
        n, or n labels); ``return_labels=True`` returns (X, y)."""
        who = 'CategoricalNaiveBayes.sample'
        self._check_fitted(who)
        n, device = checks.nonnegative_int(n, 'n', who), backend.canonical_device(device)
        xp = backend.array_module(device)
        if y is None:
            prior = self._tables.get('prior', device)                    # (C,)
            y = backend.sample_categorical(xp.broadcast_to(prior, (n, self.n_classes)))
        else:
            if not self.labelled:
                raise RuntimeError(f"{who}: y= needs a model fitted with labels, fit(X, y)")
            if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
                y = xp.full((n,), int(y), dtype=np.int64)
            y = self._device_labels(y, n, who, device)
        theta = self._tables.get('theta', device)[y]                    # (n, d, Kmax)
        X = Tensor(backend.sample_categorical(theta))                   # padding: weight 0
        return (X, Tensor(y.astype(np.int64))) if return_labels else X

    def _device_labels(self, y, n, who, device):
        """Labels (n,) as a raw int64 array on ``device``, checked against n_classes."""
        if isinstance(y, Tensor):
            y = y.data
        elif not backend.is_array(y):
            y = backend.to_device(np.asarray(y), device)    # host labels: explicit copy
        if y.shape != (n,) or y.dtype.kind not in 'iu':
            raise ValueError(f"{who}: y must be {n} integer labels, got shape {tuple(y.shape)} "
                             f"and dtype {y.dtype}")
        y = y.astype(np.int64)
        if n and bool(((y < 0) | (y >= self.n_classes)).any()):
            raise ValueError(f"{who}: labels must lie in 0..{self.n_classes - 1}, got "
                             f"min {int(y.min())} and max {int(y.max())}")
        return y

    def prob_table(self):
        """p(x) for every feature combination (marginalising the class when labelled):
        a host float64 array of shape n_categories."""
        self._check_fitted('CategoricalNaiveBayes.prob_table')
        d = len(self.n_categories)
        table = self.prior_.reshape((-1,) + (1,) * d)
        for k in range(d):          # outer product, one feature at a time
            shape = [1] * (d + 1)
            shape[0], shape[k + 1] = self.n_classes, self.n_categories[k]
            table = table * self.theta_[:, k, :self.n_categories[k]].reshape(shape)
        return table.sum(0)

    def n_free_parameters(self):
        """C sum_k (d_k - 1), plus C - 1 for p(y) when labelled (23 for the avatars)."""
        if self.n_categories is None:
            raise RuntimeError("CategoricalNaiveBayes.n_free_parameters: unknown until "
                               "n_categories is given or fit is called")
        C = self.n_classes if self.feature_probs_ is not None else 1
        return C * sum(k - 1 for k in self.n_categories) + (C - 1)


def _logsumexp(a, xp):
    """log sum exp over the last axis, safe when a whole row is -inf."""
    m = a.max(-1)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return xp.log(xp.exp(a - m[:, None]).sum(-1)) + m


# ----------------------------------------------------------------------------- pixels
class PixelNaiveBayes:
    """Naive Bayes over the pixels of (N, C, H, W) images with values in [0, 1].

    kind='categorical': each pixel's colour is quantised to ``levels`` values per
    channel (``levels ** C`` colours) and modelled by its own categorical,
    theta_{p, c} = (n_{p, c} + alpha) / (N + levels**C alpha); samples use the centre
    of each colour bin. kind='gaussian': every pixel value is an independent Gaussian
    with its own mean and variance (variance floored at min_std**2).

    Each pixel is right on its own; nothing ties a pixel to its neighbours, which is
    why samples look like coloured noise (docs/naive_bayes.md).
    """

    def __init__(self, kind='categorical', levels=4, alpha=1.0, min_std=0.01):
        who = 'PixelNaiveBayes'
        self.kind = checks.one_of(kind, ('categorical', 'gaussian'), 'kind', who)
        self.levels = checks.int_at_least(levels, 2, 'levels', who)
        self.min_std = checks.number(min_std, 'min_std', who, low=0, low_open=True)
        self.alpha = checks.number(alpha, 'alpha', who, low=0)
        self.image_shape = None

    def _check_images(self, images, who, host):
        if host:
            x = host_array(images, who=f"{who}: images")
        else:
            x = images if isinstance(images, Tensor) else Tensor(backend.asarray(np.asarray(images)))
        shape = tuple(x.shape)
        if len(shape) != 4:
            raise ValueError(f"{who}: expected images (N, C, H, W), got shape {shape}")
        if self.image_shape is not None and shape[1:] != self.image_shape:
            raise ValueError(f"{who}: images of shape {shape[1:]} but the model was fitted on "
                             f"{self.image_shape}")
        if x.dtype.kind != 'f':
            raise TypeError(f"{who}: expected float images in [0, 1], got dtype {x.dtype}")
        return x

    def colour_index(self, images):
        """The quantised colour of every pixel: an int64 Tensor (n, H*W) on the images'
        device; for RGB, r L^2 + g L + b with each channel cut into L = levels bins."""
        x = self._check_images(images, 'PixelNaiveBayes.colour_index', host=False)
        return Tensor(self._colour_index(x.data, x.xp))

    def _colour_index(self, a, xp):
        """(n, C, H, W) values in [0, 1] -> (n, H*W) colour index in [0, levels**C)."""
        L = self.levels
        q = xp.clip(xp.floor(a * float(L)), 0, L - 1).astype(np.int64)
        index = q[:, 0]
        for c in range(1, a.shape[1]):           # a handful of channels
            index = index * L + q[:, c]
        return index.reshape(len(a), -1)

    def _colour_values(self):
        """(levels**C, C) centre of each colour bin."""
        C, L = self.image_shape[0], self.levels
        digits = np.stack(np.unravel_index(np.arange(L ** C), (L,) * C), axis=1)
        return (digits + 0.5) / L

    def fit(self, images):
        """Count colours (or average values) per pixel over N training images."""
        who = 'PixelNaiveBayes.fit'
        x = self._check_images(images, who, host=True).astype(np.float64)
        if len(x) == 0:
            raise ValueError(f"{who}: no images")
        self.image_shape = tuple(x.shape[1:])
        if self.kind == 'categorical':
            colours = self._colour_index(x, np)                        # (N, P)
            P, K = colours.shape[1], self.levels ** x.shape[1]
            flat = np.arange(P) * K + colours
            counts = np.bincount(flat.ravel(), minlength=P * K).reshape(P, K)
            self.probs_ = (counts + self.alpha) / (len(x) + K * self.alpha)   # (P, K)
            self._tables = _DeviceTables(log_probs=_host_log(self.probs_), probs=self.probs_,
                                         colours=self._colour_values())
        else:
            self.mean_ = x.mean(0)
            self.std_ = np.maximum(x.std(0), self.min_std)
            self._tables = _DeviceTables(mean=self.mean_, std=self.std_)
        return self

    def _check_fitted(self, who):
        if self.image_shape is None:
            raise RuntimeError(f"{who}: call fit(images) first")

    def log_prob(self, images):
        """Per image: log pmf of its quantised colours (categorical) or log density of
        its values (Gaussian), summed over pixels. A Tensor (n,) on the images' device."""
        who = 'PixelNaiveBayes.log_prob'
        self._check_fitted(who)
        x = self._check_images(images, who, host=False)
        a, xp, device = x.data.astype(np.float64), x.xp, x.device
        if self.kind == 'categorical':
            colours = self._colour_index(a, xp)                        # (n, P)
            table = self._tables.get('log_probs', device)              # (P, K)
            out = table[xp.arange(colours.shape[1]), colours].sum(-1)
        else:
            mean, std = self._tables.get('mean', device), self._tables.get('std', device)
            z = (a - mean) / std
            log_density = -0.5 * z * z - xp.log(std) - 0.5 * math.log(2 * math.pi)
            out = log_density.reshape(len(a), -1).sum(-1)
        return Tensor(out.astype(backend.get_default_dtype()))

    def sample(self, n, device=None):
        """n images drawn pixel by pixel, independently: float32 (n, C, H, W).

        Gaussian samples are not clipped to [0, 1] (they are the model's samples)."""
        who = 'PixelNaiveBayes.sample'
        self._check_fitted(who)
        n, device = checks.nonnegative_int(n, 'n', who), backend.canonical_device(device)
        xp = backend.array_module(device)
        C, H, W = self.image_shape
        if self.kind == 'categorical':
            probs = self._tables.get('probs', device)                    # (P, K)
            colours = backend.sample_categorical(xp.broadcast_to(probs, (n,) + probs.shape))
            rgb = self._tables.get('colours', device)[colours]           # (n, P, C)
            out = rgb.reshape(n, H, W, C).transpose(0, 3, 1, 2)
        else:
            noise = randn((n, C, H, W), dtype=np.float64, device=device).data
            out = self._tables.get('mean', device) + self._tables.get('std', device) * noise
        return Tensor(xp.ascontiguousarray(out.astype(np.float32)))

    def n_free_parameters(self):
        """Categorical: P (levels**C - 1); Gaussian: 2 C H W (a mean and a variance each)."""
        self._check_fitted('PixelNaiveBayes.n_free_parameters')
        C, H, W = self.image_shape
        if self.kind == 'categorical':
            return H * W * (self.levels ** C - 1)
        return 2 * C * H * W
