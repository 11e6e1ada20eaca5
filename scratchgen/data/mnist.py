"""Real image data: ``mnist()``, ``fashion_mnist()`` (downloaded, cached, verified) and
``digits()`` (scikit-learn's bundled 8x8 digits).

Downloads go to a cache directory: the ``root`` argument, else ``$SCRATCHGEN_DATA``,
else ``~/.cache/scratchgen``, one folder per dataset. Each of the four published IDX
files is fetched from the first mirror that answers (urllib, with a timeout), checked
against its published MD5 and only then moved into place; a cached file is checked
the same way before use. Without network and without the files, the error says which
files to put where.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

import numpy as np

from .idx import read_idx

TIMEOUT = 30.0          # seconds per request

# name -> (mirrors, {file: md5}); MD5s of the files as published by the dataset authors.
SOURCES = {
    'mnist': (
        ['https://ossci-datasets.s3.amazonaws.com/mnist/',
         'https://storage.googleapis.com/cvdf-datasets/mnist/',
         'http://yann.lecun.com/exdb/mnist/'],
        {'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
         'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
         't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
         't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c'}),
    'fashion_mnist': (
        ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
         'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/'],
        {'train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
         'train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
         't10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79',
         't10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310'}),
}
FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                   'Sneaker', 'Bag', 'Ankle boot')
_SPLIT_FILES = {'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
                'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}


class DatasetUnavailableError(RuntimeError):
    """A dataset is neither cached nor downloadable (offline, mirrors down)."""


def data_dir(root=None):
    """The cache directory: ``root``, else ``$SCRATCHGEN_DATA``, else ``~/.cache/scratchgen``."""
    if root is not None:
        return os.fspath(root)
    return os.environ.get('SCRATCHGEN_DATA') or os.path.join(os.path.expanduser('~'), '.cache',
                                                             'scratchgen')


def md5sum(path):
    h = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _fetch(url, dest, timeout=TIMEOUT):
    """Download ``url`` to the file ``dest`` (the one place that touches the network)."""
    req = urllib.request.Request(url, headers={'User-Agent': 'scratchgen'})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, 'wb') as f:
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            f.write(block)


def _ensure_file(name, filename, folder, download):
    """Path of a verified copy of ``filename``, downloading it if needed and allowed."""
    mirrors, md5s = SOURCES[name]
    path = os.path.join(folder, filename)
    if os.path.exists(path):
        got = md5sum(path)
        if got == md5s[filename]:
            return path
        if not download:
            raise DatasetUnavailableError(
                f"{name}: cached file {path} has MD5 {got}, expected {md5s[filename]} "
                "(corrupt or partial); delete it or call with download=True")
    if not download:
        raise DatasetUnavailableError(
            f"{name}: {path} is not cached and download=False. Download "
            f"{filename} from one of {mirrors} into {folder}")
    os.makedirs(folder, exist_ok=True)
    errors = []
    for base in mirrors:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix='.part')
        os.close(fd)
        try:
            _fetch(base + filename, tmp)
            got = md5sum(tmp)
            if got != md5s[filename]:
                raise ValueError(f"MD5 {got} does not match the published {md5s[filename]}")
            os.replace(tmp, path)
            return path
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"  {base + filename}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DatasetUnavailableError(
        f"{name}: could not download {filename} from any mirror (are you offline?).\n"
        + '\n'.join(errors)
        + f"\nPut the file in {folder} (or set SCRATCHGEN_DATA / pass root=) and try again.")


def _load_idx_pair(name, split, root, download):
    if split not in _SPLIT_FILES:
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}")
    folder = os.path.join(data_dir(root), name)
    img_file, lab_file = _SPLIT_FILES[split]
    images = read_idx(_ensure_file(name, img_file, folder, download))
    labels = read_idx(_ensure_file(name, lab_file, folder, download))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{name}: expected images (n, H, W) and labels (n,), got "
                         f"{images.shape} and {labels.shape}")
    return (images.astype(np.float32) / 255.0)[:, None], labels.astype(np.int64)


def mnist(split='train', root=None, download=True):
    """MNIST handwritten digits: ``(images, labels)``, images float32 (n, 1, 28, 28) in
    [0, 1] (60,000 train / 10,000 test), labels int64 in 0..9."""
    return _load_idx_pair('mnist', split, root, download)


def fashion_mnist(split='train', root=None, download=True):
    """Fashion-MNIST (Zalando): like ``mnist`` but clothing; class names in
    ``FASHION_CLASSES``."""
    return _load_idx_pair('fashion_mnist', split, root, download)


def digits():
    """scikit-learn's bundled 8x8 digits (1,797 images, no download): ``(images,
    labels)``, images float32 (n, 1, 8, 8) in [0, 1] (pixel counts 0..16 / 16)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("digits: needs scikit-learn, which ships the 8x8 digits data; "
                          "install it with `pip install scikit-learn` (or use sg.data.mnist())"
                          ) from e
    d = load_digits()
    return (np.asarray(d.images, dtype=np.float32) / 16.0)[:, None], \
        np.asarray(d.target, dtype=np.int64)
