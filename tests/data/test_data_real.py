"""IDX reading/writing and the MNIST / Fashion-MNIST / digits loaders, with small IDX
files written here and the downloader replaced: these tests never touch the network."""
import gzip
import hashlib
import importlib
import os
import sys
import urllib.error

import numpy as np
import pytest

from scratchgen.data import (read_idx, write_idx, mnist, fashion_mnist, digits, data_dir,
                             DatasetUnavailableError)

# the module (the attribute scratchgen.data.mnist is the function of the same name)
real = importlib.import_module('scratchgen.data.mnist')


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download attempt fails as if offline (and is recorded)."""
    calls = []

    def offline(url, dest, timeout=None):
        calls.append(url)
        raise urllib.error.URLError('network is unreachable (test)')
    monkeypatch.setattr(real, '_fetch', offline)
    return calls


@pytest.mark.parametrize('dtype', ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'])
@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype).newbyteorder('=') and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable
    raw = open(path, 'rb').read()
    assert (raw[:2] == b'\x1f\x8b') == (suffix == '.gz')


def test_idx_byte_layout_is_big_endian(tmp_path):
    """Hand-written bytes (not via write_idx): int32 values stored big-endian."""
    body = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, 'big') + \
        (258).to_bytes(4, 'big') + (-1).to_bytes(4, 'big', signed=True)
    (tmp_path / 'x').write_bytes(body)
    np.testing.assert_array_equal(read_idx(tmp_path / 'x'), [258, -1])
    (tmp_path / 'x.gz').write_bytes(gzip.compress(body))
    np.testing.assert_array_equal(read_idx(tmp_path / 'x.gz'), [258, -1])


def test_idx_errors(tmp_path):
    (tmp_path / 'bad').write_bytes(b'\x01\x02\x08\x01')
    with pytest.raises(ValueError, match='not an IDX file'):
        read_idx(tmp_path / 'bad')
    (tmp_path / 'code').write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match='unknown IDX type code 0x07'):
        read_idx(tmp_path / 'code')
    (tmp_path / 'short').write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match=r'shape \(5,\).*2 data bytes'):
        read_idx(tmp_path / 'short')
    with pytest.raises(TypeError, match='no IDX type code'):
        write_idx(tmp_path / 'c', np.zeros(2, dtype=np.complex64))


def _fake_split(folder, name, n, seed):
    """Write a small fake dataset and register its MD5s as the published ones."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    md5s = {}
    for fname, arr in [('train-images-idx3-ubyte.gz', images),
                       ('train-labels-idx1-ubyte.gz', labels)]:
        write_idx(folder / fname, arr)
        md5s[fname] = hashlib.md5((folder / fname).read_bytes()).hexdigest()
    return images, labels, md5s


@pytest.mark.parametrize('name, loader', [('mnist', mnist), ('fashion_mnist', fashion_mnist)])
def test_loader_reads_a_verified_cache(tmp_path, monkeypatch, no_network, name, loader):
    images, labels, md5s = _fake_split(tmp_path / name, name, 7, seed=1)
    mirrors, published = real.SOURCES[name]
    monkeypatch.setitem(real.SOURCES, name, (mirrors, {**published, **md5s}))
    x, y = loader('train', root=tmp_path)
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int64
    np.testing.assert_allclose(x[:, 0] * 255, images, atol=1e-3)
    np.testing.assert_array_equal(y, labels)
    assert no_network == []                         # cached: nothing downloaded


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('SCRATCHGEN_DATA', str(tmp_path))
    assert data_dir() == str(tmp_path)
    images, labels, md5s = _fake_split(tmp_path / 'mnist', 'mnist', 3, seed=2)
    monkeypatch.setitem(real.SOURCES, 'mnist', (real.SOURCES['mnist'][0],
                                                {**real.SOURCES['mnist'][1], **md5s}))
    np.testing.assert_array_equal(mnist('train')[1], labels)
    monkeypatch.delenv('SCRATCHGEN_DATA')
    assert data_dir().endswith(os.path.join('.cache', 'scratchgen'))


def test_offline_and_not_cached_gives_a_clear_error(tmp_path, no_network):
    with pytest.raises(DatasetUnavailableError) as e:
        mnist('test', root=tmp_path)
    msg = str(e.value)
    assert 'could not download t10k-images-idx3-ubyte.gz' in msg and 'offline' in msg
    assert str(tmp_path / 'mnist') in msg
    assert len(no_network) == len(real.SOURCES['mnist'][0])    # every mirror was tried
    assert not [p for p in (tmp_path / 'mnist').iterdir()]    # no partial files left


def test_corrupt_cache_is_not_used(tmp_path, no_network):
    folder = tmp_path / 'fashion_mnist'
    folder.mkdir()
    write_idx(folder / 'train-images-idx3-ubyte.gz', np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetUnavailableError, match='MD5'):
        fashion_mnist('train', root=tmp_path, download=False)
    with pytest.raises(DatasetUnavailableError, match='could not download'):
        fashion_mnist('train', root=tmp_path)           # tries to replace it, offline
    assert len(no_network) == len(real.SOURCES['fashion_mnist'][0])


def test_download_verifies_the_checksum(tmp_path, monkeypatch):
    """A mirror serving the wrong bytes is rejected; the next mirror's good copy is kept."""
    good = gzip.compress(b'good bytes')
    served = iter([b'tampered', good])

    def fake_fetch(url, dest, timeout=None):
        with open(dest, 'wb') as f:
            f.write(next(served))
    monkeypatch.setattr(real, '_fetch', fake_fetch)
    fname = 'train-labels-idx1-ubyte.gz'
    monkeypatch.setitem(real.SOURCES, 'mnist', (['http://a/', 'http://b/'],
                                                {fname: hashlib.md5(good).hexdigest()}))
    path = real._ensure_file('mnist', fname, str(tmp_path), download=True)
    assert open(path, 'rb').read() == good


def test_not_cached_and_download_false(tmp_path):
    with pytest.raises(DatasetUnavailableError, match='download=False'):
        mnist('train', root=tmp_path, download=False)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        mnist('val', root=tmp_path)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'sklearn', None)      # makes `import sklearn` fail
    monkeypatch.setitem(sys.modules, 'sklearn.datasets', None)
    with pytest.raises(ImportError, match='pip install scikit-learn'):
        digits()


def test_digits_with_sklearn():
    pytest.importorskip('sklearn')
    x, y = digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and set(y.tolist()) == set(range(10))
