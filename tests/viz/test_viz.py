"""sg.viz: every plot writes a valid PNG of the figure's size; grids lay images out
exactly; matplotlib stays out of `import scratchgen` and out of pyplot's figure list."""
import struct
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('matplotlib')

import scratchgen as sg          # noqa: E402
from scratchgen import viz       # noqa: E402


def _png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the 8-byte signature."""
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', f"{path} is not a PNG"
    assert head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


def _check_png(fig, path):
    w, h = _png_size(path)
    fw, fh = fig.get_size_inches() * fig.dpi
    assert (w, h) == (round(fw), round(fh))
    assert w >= 100 and h >= 100


# ------------------------------------------------------------------ make_grid
def test_make_grid_layout_is_exact():
    imgs = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 3, 4), np.float32) / 4
    grid = viz.make_grid(imgs, nrow=2, padding=1, pad_value=0.5)
    # 3 rows x 2 columns of 3x4 tiles, one pixel of padding around each
    assert grid.shape == (3 * 4 + 1, 2 * 5 + 1, 1) and grid.dtype == np.float32
    for k in range(5):
        r, c = divmod(k, 2)
        tile = grid[1 + r * 4: 1 + r * 4 + 3, 1 + c * 5: 1 + c * 5 + 4, 0]
        np.testing.assert_array_equal(tile, k / 4)
    assert grid[0, 0, 0] == 0.5 and grid[-1, -1, 0] == 0.5
    np.testing.assert_array_equal(grid[9:12, 6:10, 0], 0.5)      # the empty sixth slot


def test_make_grid_accepts_every_layout_and_device(device):
    rng = np.random.default_rng(0)
    chw = rng.random((6, 3, 5, 7)).astype(np.float32)
    ref = viz.make_grid(chw, nrow=3)
    assert ref.shape == (2 * 7 + 2, 3 * 9 + 2, 3)
    np.testing.assert_array_equal(viz.make_grid(chw.transpose(0, 2, 3, 1), nrow=3), ref)
    np.testing.assert_array_equal(viz.make_grid(sg.tensor(chw, device=device), nrow=3), ref)
    grey = chw[:, :1]
    np.testing.assert_array_equal(viz.make_grid(grey[:, 0], nrow=3), viz.make_grid(grey, nrow=3))


def test_make_grid_value_ranges():
    x = np.array([[[0.0, 0.5, 1.0]]], np.float32)                # within [0, 1]: as is
    np.testing.assert_allclose(viz.make_grid(x, padding=0)[0, :, 0], [0, 0.5, 1])
    np.testing.assert_allclose(viz.make_grid(2 * x - 1, padding=0)[0, :, 0], [0, 0.5, 1])
    u8 = np.array([[[0, 51, 255]]], np.uint8)
    np.testing.assert_allclose(viz.make_grid(u8, padding=0)[0, :, 0], [0, 0.2, 1])
    wide = np.array([[[-3.0, 2.0, 7.0]]], np.float32)           # other: min..max
    np.testing.assert_allclose(viz.make_grid(wide, padding=0)[0, :, 0], [0, 0.5, 1])
    clipped = viz.make_grid(wide, padding=0, value_range=(0, 4))[0, :, 0]
    np.testing.assert_allclose(clipped, [0, 0.5, 1])


def test_make_grid_errors():
    with pytest.raises(ValueError, match=r"images of shape \(2, 5, 4, 4\) are not"):
        viz.make_grid(np.zeros((2, 5, 4, 4)))
    with pytest.raises(ValueError, match="nrow must be a positive int"):
        viz.make_grid(np.zeros((2, 4, 4)), nrow=0)
    with pytest.raises(ValueError, match="no images"):
        viz.make_grid(np.zeros((0, 4, 4)))


# ------------------------------------------------------------------ figures
def test_image_grid_writes_png(tmp_path):
    imgs = np.random.default_rng(1).random((10, 1, 8, 8))
    path = tmp_path / 'sub' / 'grid.png'
    fig = viz.image_grid(imgs, nrow=5, path=path, title='ten images')
    _check_png(fig, path)
    assert fig.axes[0].get_title() == 'ten images'
    # colour images, channels last
    fig = viz.image_grid(np.random.default_rng(2).random((4, 6, 6, 3)), 2, tmp_path / 'c.png')
    _check_png(fig, tmp_path / 'c.png')


def test_scatter2d_writes_png(tmp_path):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((100, 2)), rng.standard_normal((50, 2)) + 3
    fig = viz.scatter2d(a, tmp_path / 's1.png')
    _check_png(fig, tmp_path / 's1.png')
    fig = viz.scatter2d([(a, 'data'), (sg.tensor(b), 'model')], tmp_path / 's2.png',
                        means=np.zeros((1, 2)), lim=(-4, 6))
    _check_png(fig, tmp_path / 's2.png')
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ['data', 'model', 'modes']
    assert fig.axes[0].get_xlim() == (-4, 6)
    # a plain list of coordinate pairs is one set of points, not (points, label) pairs
    fig = viz.scatter2d([(0.0, 1.0), (2.0, 3.0), (1.0, 1.0)], lim=(0, 4))
    np.testing.assert_array_equal(fig.axes[0].collections[0].get_offsets(),
                                  [[0, 1], [2, 3], [1, 1]])
    with pytest.raises(ValueError, match=r"points must have shape \(N, 2\), got \(5, 3\)"):
        viz.scatter2d(np.zeros((5, 3)))


def test_density2d_orientation_and_png(tmp_path):
    centre = np.array([2.0, -1.0])
    # function branch: the peak of a Gaussian centred at (2, -1)
    img, (lo, hi) = viz.density_image(lambda p: -((p - centre) ** 2).sum(1) / 0.5,
                                      lim=(-4, 4), resolution=81)
    i, j = np.unravel_index(np.argmax(img), img.shape)
    ticks = np.linspace(lo, hi, 81)
    assert (ticks[j], ticks[i]) == pytest.approx((2.0, -1.0), abs=0.06)   # x column, y row
    # samples branch: the histogram peaks in the same place
    pts = centre + 0.3 * np.random.default_rng(4).standard_normal((20000, 2))
    hist, _ = viz.density_image(pts, lim=(-4, 4), resolution=16)
    i, j = np.unravel_index(np.argmax(hist), hist.shape)
    edges = np.linspace(-4, 4, 17)
    assert edges[j] <= 2.0 <= edges[j + 1] and edges[i] <= -1.0 <= edges[i + 1]
    assert (hist * (8 / 16) ** 2).sum() == pytest.approx(1.0, abs=1e-3)   # a density
    fig = viz.density2d(pts, tmp_path / 'd1.png', title='samples', log=True)
    _check_png(fig, tmp_path / 'd1.png')
    fig = viz.density2d(lambda p: sg.tensor(-0.5 * (p ** 2).sum(1)), tmp_path / 'd2.png',
                        resolution=50)
    _check_png(fig, tmp_path / 'd2.png')
    with pytest.raises(ValueError, match="returned 3 values for 2500 points"):
        viz.density2d(lambda p: np.zeros(3), resolution=50)


def test_training_curves_writes_png(tmp_path):
    curves = {'loss': list(np.exp(-np.arange(200) / 50)),
              'acc': (np.arange(0, 200, 20), np.linspace(0, 1, 10)),
              'lr': np.full(200, 1e-3), 'kl': [3.0, 2.0, 1.5, 1.2]}
    fig = viz.training_curves(curves, tmp_path / 'curves.png', title='run', smooth=10, logy=True)
    _check_png(fig, tmp_path / 'curves.png')
    assert [ax.get_title() for ax in fig.axes[:4]] == ['loss', 'acc', 'lr', 'kl']
    with pytest.raises(TypeError, match="non-empty dict"):
        viz.training_curves([1, 2, 3])


def test_moving_average_is_centred():
    v = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    np.testing.assert_allclose(viz.moving_average(v, 3), [0, 1, 1, 1, 0])
    np.testing.assert_allclose(viz.moving_average(np.arange(10.0), 4)[2:8], np.arange(2, 8) - 0.5)


def test_latent_traversal_decodes_the_sweep(tmp_path):
    seen = []

    def decoder(z):
        seen.append(z.copy())
        return np.broadcast_to(z[:, :1, None], (len(z), 4, 4))   # image brightness = z[0]
    z0 = np.array([0.5, -0.25, 1.0], np.float32)
    fig = viz.latent_traversal(decoder, z0, dims=[0, 2], values=[-1, 0, 1],
                               path=tmp_path / 't.png', title='z sweep')
    _check_png(fig, tmp_path / 't.png')
    codes = seen[0].reshape(2, 3, 3)
    assert seen[0].dtype == np.float32
    np.testing.assert_array_equal(codes[0, :, 0], [-1, 0, 1])      # row 0 sweeps z[0]
    np.testing.assert_array_equal(codes[0, :, 1:], np.tile(z0[1:], (3, 1)))
    np.testing.assert_array_equal(codes[1, :, 2], [-1, 0, 1])      # row 1 sweeps z[2]
    np.testing.assert_array_equal(codes[1, :, :2], np.tile(z0[:2], (3, 1)))
    with pytest.raises(ValueError, match="dimension 3 is out of range for a latent of size 3"):
        viz.latent_traversal(decoder, z0, dims=[3])


def test_figures_bypass_pyplot(tmp_path):
    plt = pytest.importorskip('matplotlib.pyplot')
    before = plt.get_fignums()
    for k in range(5):
        viz.image_grid(np.zeros((2, 4, 4)), path=tmp_path / f'{k}.png')
        viz.scatter2d(np.zeros((3, 2)))
    assert plt.get_fignums() == before


def test_import_scratchgen_does_not_import_matplotlib():
    code = ("import sys, scratchgen, scratchgen.viz, scratchgen.metrics; "
            "sys.exit(1 if 'matplotlib' in sys.modules else 0)")
    assert subprocess.run([sys.executable, '-c', code]).returncode == 0


def test_graph_draws_every_op_and_leaf_of_a_small_model(tmp_path):
    m = sg.nn.Sequential(sg.nn.Linear(2, 8), sg.nn.Tanh(), sg.nn.Linear(8, 1))
    with sg.trace(quiet=True) as t:                # every op the forward ran
        loss = ((m(sg.randn(4, 2)) - 1.0) ** 2).mean()
    path = tmp_path / 'graph.png'
    fig = sg.viz.graph(loss, path, params=dict(m.named_parameters()))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    texts = [t.get_text() for t in fig.axes[0].texts]
    ran = [r[0] for r in t.records]
    assert {'Tanh', 'Sub', 'PowConst', 'Sum'} <= set(ran)
    for op in set(ran):
        assert op in texts, f"op {op} missing from the drawn graph: {texts}"
    for name, p in m.named_parameters():
        assert f"{name}\n{tuple(p.shape)}" in texts
    assert 'autograd graph of a () tensor' in fig.axes[0].get_title()


def test_graph_refuses_tensors_without_a_graph():
    x = sg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"graph: the tensor of shape \(3,\) has no graph"):
        sg.viz.graph(x)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(ValueError, match="freed by backward"):
        sg.viz.graph(y)
    with pytest.raises(TypeError, match="graph: expected a Tensor, got list"):
        sg.viz.graph([1, 2])
    with pytest.raises(ValueError, match="more than max_nodes=2 ops"):
        sg.viz.graph(((x * 2).exp() + 1).sum(), max_nodes=2)
