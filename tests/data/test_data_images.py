"""jars and shapes: shapes/dtypes/ranges, determinism, factors that fully describe the
images, and descriptions that match the factors."""
import numpy as np
import pytest

from scratchgen.data import jars, render_jars, shapes, render_shapes, SHAPE_CLASSES, SHAPE_COLOURS
from scratchgen.data.images import JAR_HEIGHT_RANGE, JAR_WIDTH_RANGE


def test_jars_shapes_ranges_determinism():
    x, f = jars(64, seed=0)
    assert x.shape == (64, 1, 32, 32) and x.dtype == np.float32
    assert f.shape == (64, 2) and f.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert (f[:, 0] >= JAR_HEIGHT_RANGE[0]).all() and (f[:, 0] <= JAR_HEIGHT_RANGE[1]).all()
    assert (f[:, 1] >= JAR_WIDTH_RANGE[0]).all() and (f[:, 1] <= JAR_WIDTH_RANGE[1]).all()
    x2, f2 = jars(64, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(f, f2)
    assert not np.array_equal(f, jars(64, seed=1)[1])


def test_jar_images_are_described_by_height_and_width():
    x, f = jars(32, seed=3)
    np.testing.assert_allclose(render_jars(f[:, 0], f[:, 1]), x, atol=1e-5)
    # the visible extent measures the factors: rows/columns with any ink
    ink = x[:, 0].sum(axis=2)                                 # per row
    assert np.allclose(ink.sum(1) > 0, True)
    height_px = (x[:, 0] > 0).any(axis=2).sum(1)
    width_px = (x[:, 0] > 0).any(axis=1).sum(1)
    assert np.all(np.abs(height_px - f[:, 0]) <= 2)
    assert np.all(np.abs(width_px - f[:, 1]) <= 2)
    # images change continuously (here linearly) with the factors: no pixel snapping
    for dh, dw in [(0.1, 0.0), (0.0, 0.1)]:
        a = render_jars([15, 15 + dh, 15 + dh / 10], [12, 12 + dw, 12 + dw / 10])
        big, small = np.abs(a[1] - a[0]).sum(), np.abs(a[2] - a[0]).sum()
        assert small > 0 and abs(big / small - 10) < 0.5


def test_render_jars_errors():
    with pytest.raises(ValueError, match='heights must lie'):
        render_jars([40.0], [10.0])
    with pytest.raises(ValueError, match='equal length'):
        render_jars([10.0, 12.0], [10.0])


@pytest.mark.parametrize('size', [16, 28])
def test_shapes_outputs(size):
    d = shapes(200, size=size, seed=0)
    assert d.images.shape == (200, 3, size, size) and d.images.dtype == np.float32
    assert d.images.min() >= 0 and d.images.max() <= 1
    assert d.labels.dtype == np.int64 and set(d.labels.tolist()) == {0, 1, 2}
    assert len(d.descriptions) == 200
    f = d.factors
    np.testing.assert_array_equal(f['shape'], d.labels)
    assert (f['x'] > 0).all() and (f['x'] < size).all()
    # every shape is fully inside the image: no ink on the border rows/columns
    border = np.concatenate([d.images[:, :, 0, :], d.images[:, :, -1, :],
                             d.images[:, :, :, 0], d.images[:, :, :, -1]], axis=-1)
    assert border.max() < 0.5
    d2 = shapes(200, size=size, seed=0)
    np.testing.assert_array_equal(d.images, d2.images)
    assert d.descriptions == d2.descriptions


def test_shapes_descriptions_match_factors_and_pixels():
    d = shapes(300, size=28, seed=1)
    names = list(SHAPE_COLOURS)
    for desc, k, c, img in zip(d.descriptions, d.labels, d.factors['colour'], d.images):
        size_word, colour_word, shape_word = desc.split()
        assert shape_word == SHAPE_CLASSES[k]
        assert colour_word == names[c]
        assert size_word in ('small', 'medium', 'large')
        brightest = img.reshape(3, -1)[:, img.sum(0).argmax()]
        np.testing.assert_allclose(brightest, SHAPE_COLOURS[colour_word], atol=0.02)
    # size words are ordered by scale
    scale = d.factors['scale']
    words = np.array([s.split()[0] for s in d.descriptions])
    assert scale[words == 'small'].max() < scale[words == 'medium'].min()
    assert scale[words == 'medium'].max() < scale[words == 'large'].min()


def test_shape_classes_have_the_expected_area():
    """Filled area / r^2: circle pi, square 4 * 0.85^2, triangle (3 sqrt3 / 4) 1.25^2."""
    r = np.full(3, 8.0)
    img = render_shapes([0, 1, 2], [14, 14, 14], [14, 14, 16], r, np.ones(3), size=28)
    area = img.sum(axis=(1, 2, 3)) / 64.0
    np.testing.assert_allclose(area, [np.pi, 4 * 0.85 ** 2, 3 * np.sqrt(3) / 4 * 1.25 ** 2],
                               rtol=0.03)


def test_grey_shapes():
    d = shapes(50, size=16, seed=2, color=False)
    assert d.images.shape == (50, 1, 16, 16)
    assert all(s.split()[1] in ('dim', 'bright') for s in d.descriptions)
    np.testing.assert_allclose(d.images.reshape(50, -1).max(1), d.factors['intensity'], atol=0.02)
    with pytest.raises(ValueError, match='size must be'):
        shapes(3, size=4)
