"""Normalizing flows: every transform inverts exactly, its logdet is log|det| of the
numerical Jacobian, gradients in the parameters pass gradcheck, MADE is autoregressive,
the spline inverse is exact at knots and in the tails, densities integrate to 1, NaNs
name their layer, and a short run reaches a stated NLL. docs/flows.md."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.models import flows as fl
from scratchgen.models.flows import build_flow, FlowConfig


def randomise(module, seed=0, scale=0.3):
    """Every parameter ~ N(0, scale²) (a fresh flow is the identity, which proves
    nothing); ActNorm marked initialised so it keeps them."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(0, scale, p.shape).astype(p.dtype)
    for m in module.modules():
        if isinstance(m, fl.ActNorm):
            m.initialized.data[...] = 1
    return module


def mlp(n_in, n_out):
    return fl.mlp_conditioner(n_in, n_out, (8,))


# name -> (builder, input shape); every builder makes a transform with random parameters
TRANSFORMS = {
    'elementwise_affine': (lambda: fl.ElementwiseAffine(3), (3,)),
    'actnorm': (lambda: fl.ActNorm(3), (3,)),
    'actnorm_images': (lambda: fl.ActNorm(2), (2, 2, 2)),
    'permutation': (lambda: fl.Permutation([2, 0, 1]), (3,)),
    'reverse': (lambda: fl.Reverse(3), (3,)),
    'lu_linear': (lambda: fl.LULinear(3, permutation=[1, 2, 0]), (3,)),
    'affine_coupling': (lambda: fl.AffineCoupling(3, [0], mlp(1, 4)), (3,)),
    'spline_coupling': (lambda: fl.SplineCoupling(3, [1], mlp(1, 2 * 11), bins=4, tail_bound=2.0), (3,)),
    'maf': (lambda: fl.MAF(3, (8,)), (3,)),
    'iaf': (lambda: fl.IAF(3, (8,), order=[2, 0, 1]), (3,)),
    'squeeze': (lambda: fl.Squeeze(), (1, 2, 2)),
    'inv_conv_1x1': (lambda: fl.InvConv1x1(2), (2, 2, 2)),
    'image_coupling': (lambda: fl.AffineCoupling(2, [0], fl.conv_conditioner(1, 2, 3)), (2, 2, 2)),
    'logit': (lambda: fl.Logit(0.05), (3,)),
}
FLOWS = {
    'realnvp': dict(kind='realnvp', data_shape=(3,), hidden=(8,), layers=2),
    'spline': dict(kind='spline', data_shape=(3,), hidden=(8,), layers=2, bins=4, tail_bound=2.0),
    'maf': dict(kind='maf', data_shape=(3,), hidden=(8,), layers=2),
    'iaf': dict(kind='iaf', data_shape=(3,), hidden=(8,), layers=2, linear='reverse'),
    'multiscale': dict(kind='multiscale', data_shape=(1, 4, 4), hidden=(4,), layers=1, levels=2),
}


def make(name, dtype=sg.float64, seed=0):
    build, shape = TRANSFORMS[name]
    sg.manual_seed(seed)
    t = randomise(build(), seed).to(dtype)
    return t, shape


def inputs(name, shape, n=4, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, (n, *shape)) if name in ('logit', 'multiscale') else \
        rng.normal(0, 1, (n, *shape))
    return sg.tensor(x.astype(dtype))


# ----------------------------------------------------------------------------- inverses
@pytest.mark.parametrize('dtype, tol', [(np.float64, 1e-10), (np.float32, 1e-5)], ids=['f64', 'f32'])
@pytest.mark.parametrize('name', list(TRANSFORMS))
def test_transform_inverse_recovers_input(name, dtype, tol):
    t, shape = make(name, dtype)
    x = inputs(name, shape, dtype=dtype)
    z, ld = t(x)
    x_back, ld_inv = t.inverse(z)
    assert z.dtype == dtype and ld.dtype == dtype and ld.shape == (4,)
    np.testing.assert_allclose(x_back.numpy(), x.numpy(), atol=tol, rtol=0)
    np.testing.assert_allclose(ld_inv.numpy(), -ld.numpy(), atol=tol * 10, rtol=tol)


@pytest.mark.parametrize('dtype, tol', [(np.float64, 1e-10), (np.float32, 1e-5)], ids=['f64', 'f32'])
@pytest.mark.parametrize('name', list(FLOWS))
def test_flow_inverse_recovers_input(name, dtype, tol):
    sg.manual_seed(0)
    flow = randomise(build_flow(**FLOWS[name]), scale=0.2).to(dtype)
    x = inputs(name, flow.data_shape, dtype=dtype)
    z, ld = flow(x)
    x_back, ld_inv = flow.transform.inverse(z)
    np.testing.assert_allclose(x_back.numpy(), x.numpy(), atol=tol, rtol=0)
    np.testing.assert_allclose(ld_inv.numpy(), -ld.numpy(), rtol=tol, atol=tol * 10)
    lp = flow.log_prob(x)
    assert lp.shape == (4,) and lp.dtype == dtype
    assert flow.sample(3).shape == (3, *flow.data_shape) and flow.sample(3).dtype == dtype
    trace = flow.trajectory(x)
    assert trace[0] is x and np.allclose(trace[-1].numpy(), z.numpy())


# ----------------------------------------------------------------------------- log-dets
def numerical_logdet(fn, x, eps=1e-6):
    """log|det J| per example of fn (one example -> one example), central differences."""
    out = []
    for xi in x.numpy():
        flat = xi.ravel()
        cols = []
        for j in range(flat.size):
            e = np.zeros_like(flat)
            e[j] = eps
            f = lambda v: fn(sg.tensor(v.reshape(1, *xi.shape))).numpy().ravel()   # noqa: E731
            cols.append((f(flat + e) - f(flat - e)) / (2 * eps))
        out.append(np.linalg.slogdet(np.stack(cols, 1))[1])
    return np.array(out)


@pytest.mark.parametrize('name', list(TRANSFORMS))
def test_logdet_matches_numerical_jacobian(name):
    t, shape = make(name)
    x = inputs(name, shape, n=3)
    _, ld = t(x)
    expected = numerical_logdet(lambda v: t(v)[0], x)
    np.testing.assert_allclose(ld.numpy(), expected, rtol=1e-6, atol=1e-6)
    z = t(x)[0]                                              # and the inverse's
    np.testing.assert_allclose(t.inverse(z)[1].numpy(), numerical_logdet(lambda v: t.inverse(v)[0], z),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('name', list(FLOWS))
def test_flow_logdet_matches_numerical_jacobian(name):
    sg.manual_seed(0)
    flow = randomise(build_flow(**FLOWS[name]), scale=0.2).double()
    x = inputs(name, flow.data_shape, n=2)
    np.testing.assert_allclose(flow(x)[1].numpy(), numerical_logdet(lambda v: flow(v)[0], x),
                               rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize('name', [n for n in TRANSFORMS if list(make(n)[0].parameters())])
def test_gradcheck_in_parameters(name):
    t, shape = make(name)
    x = inputs(name, shape, n=2)
    params = list(t.parameters())
    gradcheck(lambda *ps: t(x), params, name=f"{name} (z, logdet)")
    gradcheck(lambda *ps: t.inverse(x), params, name=f"{name} inverse (x, logdet)")


def test_gradcheck_of_log_prob_in_input_and_parameters():
    sg.manual_seed(0)
    flow = randomise(build_flow(**FLOWS['spline']), scale=0.2).double()
    x = inputs('spline', (3,), n=2)
    x.requires_grad = True
    gradcheck(lambda x, *ps: flow.log_prob(x), [x, *flow.parameters()], name='spline log_prob')


# ----------------------------------------------------------------------------- MADE
def test_made_jacobian_is_strictly_triangular_in_its_order():
    order = [2, 0, 3, 1]
    made = randomise(fl.MADE(4, (16, 16), params_per_feature=2, order=order)).double()
    x = inputs('made', (4,), n=1)
    eps, jac = 1e-6, np.zeros((4, 2, 4))
    for j in range(4):
        e = np.zeros((1, 4))
        e[0, j] = eps
        jac[:, :, j] = (made(sg.tensor(x.numpy() + e)).numpy()[0] -
                        made(sg.tensor(x.numpy() - e)).numpy()[0]) / (2 * eps)
    rank = {feature: r for r, feature in enumerate(order)}
    for i in range(4):
        for j in range(4):
            may_depend = rank[j] < rank[i]
            if not may_depend:
                assert np.all(jac[i, :, j] == 0), f"output {i} depends on input {j}"
    assert np.abs(jac[order[-1], :, order[0]]).max() > 1e-8     # and the allowed links exist


def test_made_context_reaches_every_output():
    made = randomise(fl.MADE(3, (8,), 1, context_dim=2)).double()
    x = sg.tensor(np.zeros((1, 3)))
    a = made(x, sg.tensor(np.array([[1.0, 0.0]]))).numpy()
    b = made(x, sg.tensor(np.array([[0.0, 1.0]]))).numpy()
    assert np.all(a != b)


# ----------------------------------------------------------------------------- splines
def spline_params(bins=5, n=1, seed=3):
    rng = np.random.default_rng(seed)
    return [sg.tensor(rng.normal(0, 1, (n, 1, k))) for k in (bins, bins, bins - 1)]


def test_spline_inverse_is_finite_and_exact_at_knots_and_in_the_tails():
    B = 3.0
    w, h, d = spline_params()
    knots = fl.coupling._knots(w, B, fl.coupling.MIN_BIN_WIDTH).numpy().ravel()
    y_knots = fl.coupling._knots(h, B, fl.coupling.MIN_BIN_HEIGHT).numpy().ravel()
    x = np.concatenate([knots, knots + 1e-12, knots - 1e-12, [-B, B, -7.0, 5.0, 1e6, -1e6]])
    n = len(x)
    w, h, d = (t.expand(n, 1, t.shape[-1]) for t in (w, h, d))
    xt = sg.tensor(x.reshape(n, 1))
    y, ld = fl.rational_quadratic_spline(xt, w, h, d, B)
    x_back, ld_inv = fl.rational_quadratic_spline(y, w, h, d, B, inverse=True)
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(ld.numpy()))
    assert np.all(np.isfinite(x_back.numpy())) and np.all(np.isfinite(ld_inv.numpy()))
    np.testing.assert_allclose(x_back.numpy().ravel(), x, atol=1e-10, rtol=1e-12)
    np.testing.assert_allclose(ld_inv.numpy(), -ld.numpy(), atol=1e-9)
    np.testing.assert_allclose(y.numpy().ravel()[:len(knots)], y_knots, atol=1e-12)   # knots -> knots
    tails = np.abs(x) > B
    assert np.all(y.numpy().ravel()[tails] == x[tails]) and np.all(ld.numpy().ravel()[tails] == 0)
    # y exactly at every y-knot, in float32 too: the root formula never sees a negative discriminant
    for dtype in (np.float64, np.float32):
        yk = sg.tensor(y_knots.reshape(-1, 1).astype(dtype))
        m = len(y_knots)
        p = [sg.tensor(t.numpy()[:1].astype(dtype)).expand(m, 1, t.shape[-1]) for t in (w, h, d)]
        xb, ldb = fl.rational_quadratic_spline(yk, *p, B, inverse=True)
        assert np.all(np.isfinite(xb.numpy())) and np.all(np.isfinite(ldb.numpy()))
        np.testing.assert_allclose(xb.numpy().ravel(), knots, atol=1e-10 if dtype == np.float64 else 2e-5)


def test_spline_is_monotone_and_slope_one_at_the_bounds():
    B = 2.0
    w, h, d = spline_params(bins=6)
    x = np.linspace(-B, B, 2001)
    w, h, d = (t.expand(len(x), 1, t.shape[-1]) for t in (w, h, d))
    y, ld = fl.rational_quadratic_spline(sg.tensor(x.reshape(-1, 1)), w, h, d, B)
    assert np.all(np.diff(y.numpy().ravel()) > 0)
    assert abs(ld.numpy()[0, 0]) < 1e-6 and abs(ld.numpy()[-1, 0]) < 1e-2


# ----------------------------------------------------------------------------- densities
def grid_mass(flow, lim=7.0, n=300):
    ticks = np.linspace(-lim, lim, n)
    gx, gy = np.meshgrid(ticks, ticks)
    pts = sg.tensor(np.stack([gx.ravel(), gy.ravel()], 1))
    with sg.no_grad():
        p = np.exp(flow.log_prob(pts).numpy())
    return p.sum() * (ticks[1] - ticks[0]) ** 2


@pytest.mark.parametrize('kind', ['realnvp', 'spline', 'maf'])
def test_density_integrates_to_one(kind):
    sg.manual_seed(0)
    flow = randomise(build_flow(kind=kind, hidden=(8,), layers=2), scale=0.2).double()
    assert abs(grid_mass(flow) - 1) < 0.01


def test_conditional_flow_uses_its_context():
    sg.manual_seed(0)
    for kind in ('realnvp', 'spline', 'maf'):
        flow = randomise(build_flow(kind=kind, hidden=(8,), layers=2, context_dim=3)).double()
        x = inputs(kind, (2,), n=2)
        c0, c1 = sg.tensor(np.eye(3)[[0, 0]]), sg.tensor(np.eye(3)[[1, 1]])
        assert np.all(flow.log_prob(x, c0).numpy() != flow.log_prob(x, c1).numpy())
        z, _ = flow(x, c0)
        np.testing.assert_allclose(flow.transform.inverse(z, c0)[0].numpy(), x.numpy(), atol=1e-10)
        assert flow.sample(2, c1).shape == (2, 2)
        with pytest.raises(ValueError, match=r"needs a context of shape \(2, 3\)"):
            flow.log_prob(x)


def test_pixel_made_is_a_normalised_distribution_and_samples():
    sg.manual_seed(0)
    model = randomise(fl.PixelMADE((1, 2, 2), hidden=(8,)), scale=1.0).double()
    every = np.array([[(i >> b) & 1 for b in range(4)] for i in range(16)], dtype=np.float64)
    lp = model.log_prob(sg.tensor(every.reshape(16, 1, 2, 2)))
    assert lp.dtype == np.float64 and lp.shape == (16,)
    assert abs(np.exp(lp.numpy()).sum() - 1) < 1e-12
    s = model.sample(5).numpy()
    assert s.shape == (5, 1, 2, 2) and set(np.unique(s)) <= {0.0, 1.0}


def test_dequantize_fills_each_level_cell():
    x = sg.tensor(np.array([[0.0, 0.5, 1.0, 0.25, 0.79]], dtype=np.float32).repeat(200, 0))
    y = fl.dequantize(x, 5).numpy()
    k = np.array([0, 2, 4, 1, 3])
    assert y.dtype == np.float32 and np.all(y >= k / 5) and np.all(y < (k + 1) / 5)


def test_flow_on_every_device(device):
    sg.manual_seed(0)
    flow = randomise(build_flow(kind='spline', hidden=(8,), layers=2))
    x = inputs('spline', (2,), dtype=np.float32)
    ref = flow.log_prob(x).numpy()
    flow.to(device)
    got = flow.log_prob(x.to(device))
    assert got.device == device
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)
    assert flow.sample(4).device == device


# ----------------------------------------------------------------------------- training
def test_too_high_learning_rate_names_the_layer_that_made_nan():
    sg.manual_seed(0)
    flow = build_flow(kind='realnvp', hidden=(8,), layers=2)
    x = sg.tensor(sg.data.toy2d('moons', 256, seed=0).astype(np.float32))
    opt = sg.optim.SGD(flow.parameters(), lr=1e6)
    with pytest.raises(RuntimeError, match=r"(?s)flow layer \d \((ActNorm|LULinear|AffineCoupling)\.forward\): "
                       r"detect_anomaly: \w+ produced NaN/Inf.*flows/(transforms|coupling)\.py"):
        with sg.detect_anomaly():
            for _ in range(20):
                loss = -flow.log_prob(x).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()


def test_short_training_reaches_stated_nll():
    """Two affine couplings on a correlated, shifted Gaussian learn it: test NLL within
    0.05 nats of the true entropy after 300 steps."""
    rng = np.random.default_rng(0)
    A = np.array([[1.0, 0.0], [0.8, 0.5]])
    make_x = lambda n: (rng.normal(0, 1, (n, 2)) @ A.T + [1.0, -2.0]).astype(np.float32)  # noqa: E731
    train, test = sg.tensor(make_x(2000)), sg.tensor(make_x(2000))
    entropy = 1 + math.log(2 * math.pi) + math.log(abs(np.linalg.det(A)))
    sg.manual_seed(0)
    flow = build_flow(kind='realnvp', hidden=(16,), layers=2)
    opt = sg.optim.Adam(flow.parameters(), lr=1e-2)
    for step in range(300):
        batch = train[rng.integers(0, 2000, 256)]
        loss = -flow.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with sg.no_grad():
        nll = -float(flow.log_prob(test).mean().item())
    assert nll < entropy + 0.05, (nll, entropy)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize('changes, message', [
    (dict(kind='glow'), "kind must be one of"),
    (dict(kind='multiscale'), "kind 'multiscale' is for images"),
    (dict(kind='spline', data_shape=(1,)), "coupling flows need D >= 2"),
    (dict(layers=0), "layers must be a positive int"),
    (dict(kind='multiscale', data_shape=(1, 6, 6), levels=2), "not divisible by 4"),
])
def test_bad_config_raises(changes, message):
    with pytest.raises(ValueError, match=message):
        FlowConfig(**changes)


def test_errors_name_the_function_and_shapes():
    flow = build_flow(kind='maf')
    with pytest.raises(ValueError, match=r"Flow.forward: x has shape \(3, 5\); expected \(N, 2\)"):
        flow.log_prob(sg.zeros(3, 5))
    with pytest.raises(ValueError, match="Squeeze: height and width must be even"):
        fl.Squeeze()(sg.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="not a permutation"):
        fl.Permutation([0, 0, 1])


def test_pixelcnn_mask_is_autoregressive_and_model_normalised():
    """The logit of pixel (i, j) depends only on pixels before it in raster order (its
    Jacobian is strictly lower-triangular), and p sums to 1 over all 2x2 images."""
    sg.manual_seed(0)
    model = randomise(fl.PixelCNN((1, 4, 4), channels=4, layers=2), scale=0.5).double()
    x = sg.tensor(np.random.default_rng(0).random((1, 1, 4, 4)))
    jac = np.zeros((16, 16))
    for j in range(16):
        e = np.zeros(16)
        e[j] = 1e-6
        up = model.logits(sg.tensor(x.numpy() + e.reshape(1, 1, 4, 4))).numpy().ravel()
        down = model.logits(sg.tensor(x.numpy() - e.reshape(1, 1, 4, 4))).numpy().ravel()
        jac[:, j] = (up - down) / 2e-6
    assert np.all(jac[np.triu_indices(16)] == 0)
    assert np.abs(jac[np.tril_indices(16, -1)]).max() > 1e-6       # and it does see the past
    small = randomise(fl.PixelCNN((1, 2, 2), channels=4, layers=1), scale=1.0).double()
    every = np.array([[(i >> b) & 1 for b in range(4)] for i in range(16)], dtype=np.float64)
    lp = small.log_prob(sg.tensor(every.reshape(16, 1, 2, 2)))
    assert lp.dtype == np.float64 and abs(np.exp(lp.numpy()).sum() - 1) < 1e-12
    assert small.sample(3).shape == (3, 1, 2, 2)
