"""A user's own data files (the demos' --data): good files load, bad ones are named."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import DataFileError, load_images, load_points


def test_load_points_npy_and_npz(tmp_path):
    pts = np.random.default_rng(0).standard_normal((50, 2))
    np.save(tmp_path / 'p.npy', pts)
    np.savez(tmp_path / 'p.npz', points=pts)
    for name in ('p.npy', 'p.npz'):
        got = load_points(tmp_path / name)
        assert got.dtype == np.float32 and got.shape == (50, 2)
        np.testing.assert_allclose(got, pts, rtol=1e-6)


@pytest.mark.parametrize('arr, match', [
    (np.zeros((10, 3)), r"shape \(10, 3\); expected an array of shape \(N, 2\)"),
    (np.zeros(10), r"shape \(10,\)"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), 'NaN or inf'),
    (np.array([['a', 'b'], ['c', 'd']]), 'dtype <U1; expected numbers'),
])
def test_load_points_refuses_bad_arrays(tmp_path, arr, match):
    np.save(tmp_path / 'bad.npy', arr)
    with pytest.raises(DataFileError, match=match) as e:
        load_points(tmp_path / 'bad.npy')
    assert 'bad.npy' in str(e.value)


def test_load_points_missing_and_unreadable(tmp_path):
    with pytest.raises(DataFileError, match="no file at .*nope.npy"):
        load_points(tmp_path / 'nope.npy')
    (tmp_path / 'junk.npy').write_text('not numpy')
    with pytest.raises(DataFileError, match="cannot read .*junk.npy"):
        load_points(tmp_path / 'junk.npy')
    np.savez(tmp_path / 'other.npz', x=np.zeros((4, 2)))
    with pytest.raises(DataFileError, match=r"holds \['x'\] but no 'points'"):
        load_points(tmp_path / 'other.npz')


def test_load_images_grey_colour_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.uniform(size=(6, 8, 8))
    np.savez(tmp_path / 'g.npz', images=grey)
    x, y = load_images(tmp_path / 'g.npz')
    assert x.shape == (6, 1, 8, 8) and x.dtype == np.float32 and y is None
    col, lab = rng.uniform(size=(6, 3, 8, 8)), np.arange(6) % 2
    np.savez(tmp_path / 'c.npz', images=col, labels=lab)
    x, y = load_images(tmp_path / 'c.npz')
    assert x.shape == (6, 3, 8, 8) and y.dtype == np.int64
    np.testing.assert_array_equal(y, lab)


@pytest.mark.parametrize('arrays, match', [
    (dict(images=np.full((4, 8, 8), 255.0)), r"range over \[255, 255\]; expected values in \[0, 1\]"),
    (dict(images=np.zeros((4, 8))), r"has shape \(4, 8\)"),
    (dict(pixels=np.zeros((4, 8, 8))), r"holds \['pixels'\] but no 'images'"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.zeros(3, dtype=int)), r"'labels' .* shape \(3,\)"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.zeros(4)), r"'labels' .* dtype float64"),
])
def test_load_images_refuses_bad_files(tmp_path, arrays, match):
    np.savez(tmp_path / 'bad.npz', **arrays)
    with pytest.raises(DataFileError, match=match):
        load_images(tmp_path / 'bad.npz')
    np.save(tmp_path / 'single.npy', np.zeros((4, 8, 8)))
    with pytest.raises(DataFileError, match="single array, not a .npz"):
        load_images(tmp_path / 'single.npy')


def test_data_file_error_is_a_value_error():
    assert issubclass(DataFileError, ValueError) and sg.data.load_points is load_points


def test_load_categories(tmp_path):
    X = np.random.default_rng(0).integers(0, 4, (30, 3)).astype(np.int32)
    np.save(tmp_path / 'x.npy', X)
    got = sg.data.load_categories(tmp_path / 'x.npy')
    assert got.dtype == np.int64 and got.shape == (30, 3)
    np.testing.assert_array_equal(got, X)


@pytest.mark.parametrize('arr, match', [
    (np.zeros((5, 2)), r"holds dtype float64; expected a .npy of non-negative integers"),
    (np.zeros(5, dtype=np.int64), r"shape \(5,\)"),
    (np.array([[0, 1], [2, -1]]), r"\[1, 1\] = -1 is negative"),
])
def test_load_categories_refuses_bad_arrays(tmp_path, arr, match):
    np.save(tmp_path / 'bad.npy', arr)
    with pytest.raises(DataFileError, match=match) as e:
        sg.data.load_categories(tmp_path / 'bad.npy')
    assert 'bad.npy' in str(e.value)


def test_load_text(tmp_path):
    (tmp_path / 't.txt').write_text('héllo wörld', encoding='utf-8')
    assert sg.data.load_text(tmp_path / 't.txt') == 'héllo wörld'
    with pytest.raises(DataFileError, match=r"'.*t.txt' holds 11 characters; expected a UTF-8 "
                                            r"text file of at least 1,000"):
        sg.data.load_text(tmp_path / 't.txt', min_chars=1000)
    (tmp_path / 'b.txt').write_bytes(b'\xff\xfe bad')
    with pytest.raises(DataFileError, match=r"cannot read '.*b.txt' as UTF-8 text"):
        sg.data.load_text(tmp_path / 'b.txt')
    with pytest.raises(DataFileError, match=r"no file at '.*none.txt'"):
        sg.data.load_text(tmp_path / 'none.txt')
