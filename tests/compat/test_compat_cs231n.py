"""fastcnn.compat.cs231n's convolution, pooling, affine, relu, batchnorm,
losses, conv sandwiches and ThreeLayerConvNet against plain-loop versions of
CS231n's conventions.

Every function is compared with `_cs231n_loops` (one output element per loop
iteration) in float32 and float64 over odd shapes, gradient-checked by
central differences in float64, and the ThreeLayerConvNet trained a few SGD
steps through compat must match the same training through the loops. The
layers of the 2018+ editions are in test_compat_cs231n_layers.py, cache
layouts and `import *` in test_compat_cs231n_caches.py, the update rules in
test_compat_cs231n_optim.py.
"""

import numpy as np
import pytest

import fastcnn
from fastcnn.compat.cs231n import fast_layers as FL, layer_utils as LU, layers as L
from fastcnn.compat.cs231n.classifiers.cnn import ThreeLayerConvNet

import _cs231n_loops as loops
from _helpers import DTYPES, assert_close, distinct, numeric_grad, rand

GRAD_TOL = 1e-6  # finite differences (eps 1e-6) in float64


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny shapes: one thread is as fast and keeps this file quick on a busy machine
    (conftest restores the thread count after each test)."""
    fastcnn.set_num_threads(1)


CONV_CASES = [  # x shape, w shape, stride, pad
    ((2, 3, 7, 5), (4, 3, 3, 2), 1, 1),
    ((1, 2, 9, 8), (3, 2, 3, 3), 2, 0),
    ((2, 1, 6, 7), (2, 1, 4, 3), 3, 2),
    ((3, 3, 5, 5), (5, 3, 5, 5), 1, 2),
    ((1, 4, 4, 6), (1, 4, 1, 1), 1, 0),
]
POOL_CASES = [  # x shape, pool_height, pool_width, stride
    ((2, 3, 6, 6), 2, 2, 2),
    ((2, 2, 7, 5), 3, 2, 2),
    ((1, 1, 5, 5), 3, 3, 1),
    ((1, 3, 8, 9), 2, 3, 3),
]
CONV_FORWARDS = (L.conv_forward_naive, FL.conv_forward_fast, FL.conv_forward_strides, FL.conv_forward_im2col)
CONV_BACKWARDS = (
    L.conv_backward_naive,
    FL.conv_backward_fast,
    FL.conv_backward_strides,
    FL.conv_backward_im2col,
)
POOL_FORWARDS = (L.max_pool_forward_naive, FL.max_pool_forward_fast, FL.max_pool_forward_im2col)
POOL_BACKWARDS = (
    L.max_pool_backward_naive,
    FL.max_pool_backward_fast,
    FL.max_pool_backward_reshape,
    FL.max_pool_backward_im2col,
)


def conv_param(stride, pad):
    return {"stride": stride, "pad": pad}


def pool_param(ph, pw, s):
    return {"pool_height": ph, "pool_width": pw, "stride": s}


# ------------------------------------------------------------------ convolution


@pytest.mark.parametrize("xs, ws, stride, pad", CONV_CASES)
@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_conv_matches_loops(xs, ws, stride, pad, dt):
    rng = np.random.default_rng(0)
    x, w, b = rand(rng, xs, dt), rand(rng, ws, dt), rand(rng, ws[:1], dt)
    cp = conv_param(stride, pad)
    expected, loop_cache = loops.conv_forward_naive(x, w, b, cp)
    dout = rand(rng, expected.shape, dt)
    want = loops.conv_backward_naive(dout, loop_cache)
    for forward in CONV_FORWARDS:
        out, cache = forward(x, w, b, cp)
        assert_close(out, expected, f"{forward.__name__} out")
        for backward in CONV_BACKWARDS:  # any forward's cache pairs with any backward
            for got, expect, name in zip(backward(dout, cache), want, "dx dw db".split()):
                assert_close(got, expect, f"{forward.__name__} -> {backward.__name__} {name}")


def test_conv_gradcheck_f64():
    rng = np.random.default_rng(2)
    x, w, b = rand(rng, (2, 2, 5, 6)), rand(rng, (3, 2, 3, 3)), rand(rng, (3,))
    cp = conv_param(2, 1)
    out, cache = FL.conv_forward_fast(x, w, b, cp)
    dout = rand(rng, out.shape)
    dx, dw, db = FL.conv_backward_fast(dout, cache)
    f = lambda: FL.conv_forward_fast(x, w, b, cp)[0]
    assert_close(dx, numeric_grad(f, x, dout), "dx", GRAD_TOL)
    assert_close(dw, numeric_grad(f, w, dout), "dw", GRAD_TOL)
    assert_close(db, numeric_grad(f, b, dout), "db", GRAD_TOL)


def test_conv_bad_input_names_the_argument():
    x, w, b = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="conv_param needs the key 'pad'"):
        FL.conv_forward_fast(x, w, b, {"stride": 1})
    with pytest.raises(ValueError, match=r"conv_param\['stride'\] must be a positive integer"):
        L.conv_forward_naive(x, w, b, {"stride": 0, "pad": 1})
    with pytest.raises(TypeError, match="conv_param must be a dict"):
        FL.conv_forward_im2col(x, w, b, (1, 1))
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\)"):
        FL.conv_forward_fast(x[0], w, b, conv_param(1, 1))
    with pytest.raises(ValueError, match="channel"):
        FL.conv_forward_fast(np.zeros((1, 3, 5, 5)), w, b, conv_param(1, 1))
    with pytest.raises(TypeError, match=r"b must be a real numeric array, got object \(NoneType\)"):
        FL.conv_forward_fast(x, w, None, conv_param(1, 1))


# ---------------------------------------------------------------------- pooling


@pytest.mark.parametrize("xs, ph, pw, s", POOL_CASES)
@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_max_pool_matches_loops(xs, ph, pw, s, dt):
    rng = np.random.default_rng(3)
    x = distinct(rng, xs, dt)
    pp = pool_param(ph, pw, s)
    expected, loop_cache = loops.max_pool_forward_naive(x, pp)
    dout = rand(rng, expected.shape, dt)
    want = loops.max_pool_backward_naive(dout, loop_cache)
    forwards = POOL_FORWARDS + ((FL.max_pool_forward_reshape,) if ph == pw == s else ())
    for forward in forwards:
        out, cache = forward(x, pp)
        assert_close(out, expected, f"{forward.__name__} out")
        for backward in POOL_BACKWARDS:
            assert_close(backward(dout, cache), want, f"{forward.__name__} -> {backward.__name__}")


def test_max_pool_ties_go_to_the_first_maximum():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 5.0  # window (0, 0): maxima at (0, 1) and (1, 1)
    dout = np.ones((1, 1, 2, 2))
    for forward in (L.max_pool_forward_naive, FL.max_pool_forward_fast, FL.max_pool_forward_reshape):
        dx = FL.max_pool_backward_fast(dout, forward(x, pool_param(2, 2, 2))[1])
        expected = np.zeros_like(x)
        expected[0, 0, 0, 1] = 1.0  # the first in row-major order
        expected[0, 0, 0, 2] = expected[0, 0, 2, 0] = expected[0, 0, 2, 2] = 1.0  # all-zero windows
        assert_close(dx, expected, forward.__name__)


def test_max_pool_gradcheck_f64():
    rng = np.random.default_rng(4)
    x = distinct(rng, (2, 2, 7, 6))
    pp = pool_param(3, 2, 2)
    out, cache = FL.max_pool_forward_fast(x, pp)
    dout = rand(rng, out.shape)
    f = lambda: FL.max_pool_forward_fast(x, pp)[0]
    assert_close(FL.max_pool_backward_fast(dout, cache), numeric_grad(f, x, dout), "dx", GRAD_TOL)


def test_max_pool_bad_input_names_the_argument():
    x = np.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match="pool_param needs the key 'pool_width'"):
        FL.max_pool_forward_fast(x, {"pool_height": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"pool_param\['stride'\] must be a positive integer"):
        L.max_pool_forward_naive(x, pool_param(2, 2, -1))
    with pytest.raises(ValueError, match="reshape needs pool_height == pool_width == stride"):
        FL.max_pool_forward_reshape(x, pool_param(3, 3, 2))
    with pytest.raises(ValueError, match="max_pool_forward_reshape needs"):
        FL.max_pool_forward_reshape(np.zeros((1, 2, 5, 6)), pool_param(2, 2, 2))
    with pytest.raises(ValueError, match="larger than"):
        FL.max_pool_forward_fast(x, pool_param(7, 2, 1))
    out, cache = FL.max_pool_forward_fast(x, pool_param(2, 2, 2))
    with pytest.raises(ValueError, match=r"max_pool_backward_fast: dout has shape \(1, 2, 2, 2\)"):
        FL.max_pool_backward_fast(np.zeros((1, 2, 2, 2)), cache)


# ----------------------------------------------------------------- affine, relu


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("xs", [(3, 2, 5, 1), (4, 7), (1, 3, 3)])
def test_affine_and_relu_match_loops(xs, dt):
    rng = np.random.default_rng(5)
    d = int(np.prod(xs[1:]))
    x, w, b = rand(rng, xs, dt), rand(rng, (d, 6), dt), rand(rng, (6,), dt)
    out, cache = L.affine_forward(x, w, b)
    assert cache[0] is x and cache[1] is w and cache[2] is b  # the course's (x, w, b)
    expected, loop_cache = loops.affine_forward(x, w, b)
    assert_close(out, expected, "affine out")
    dout = rand(rng, out.shape, dt)
    for got, want, name in zip(
        L.affine_backward(dout, cache), loops.affine_backward(dout, loop_cache), "dx dw db".split()
    ):
        assert_close(got, want, name)
    r, rc = L.relu_forward(x)
    assert rc is x  # the course's cache: x
    assert_close(r, loops.relu_forward(x)[0], "relu")
    assert_close(L.relu_backward(x, rc), loops.relu_backward(x, x), "relu dx")


def test_affine_relu_gradcheck_f64():
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, (3, 2, 2, 2)), rand(rng, (8, 5)), rand(rng, (5,))
    out, cache = LU.affine_relu_forward(x, w, b)
    dout = rand(rng, out.shape)
    dx, dw, db = LU.affine_relu_backward(dout, cache)
    f = lambda: LU.affine_relu_forward(x, w, b)[0]
    for got, a, name in ((dx, x, "dx"), (dw, w, "dw"), (db, b, "db")):
        assert_close(got, numeric_grad(f, a, dout), name, GRAD_TOL)


# -------------------------------------------------------------------- batchnorm


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_batchnorm_matches_loops_and_updates_running_stats(dt):
    rng = np.random.default_rng(7)
    gamma, beta = rand(rng, (5,), dt), rand(rng, (5,), dt)
    ours, theirs = {"mode": "train", "momentum": 0.8}, {"mode": "train", "momentum": 0.8}
    for step in range(3):
        x = (3 * rand(rng, (6, 5), dt) + 2).astype(dt)
        out, cache = L.batchnorm_forward(x, gamma, beta, ours)
        expected, loop_cache = loops.batchnorm_forward(x, gamma, beta, theirs)
        assert_close(out, expected, f"out, step {step}")
        for k in ("running_mean", "running_var"):
            assert_close(ours[k], theirs[k], k)
        dout = rand(rng, out.shape, dt)
        want = loops.batchnorm_backward(dout, loop_cache)
        for backward in (L.batchnorm_backward, L.batchnorm_backward_alt):
            for got, expect, name in zip(backward(dout, cache), want, "dx dgamma dbeta".split()):
                assert_close(got, expect, f"{backward.__name__} {name}")
    # test mode: the running statistics, left unchanged
    ours["mode"] = theirs["mode"] = "test"
    before = ours["running_mean"].copy()
    x = rand(rng, (4, 5), dt)
    out, cache = L.batchnorm_forward(x, gamma, beta, ours)
    expected, loop_cache = loops.batchnorm_forward(x, gamma, beta, theirs)
    assert_close(out, expected, "test-mode out")
    assert np.array_equal(ours["running_mean"], before)
    dout = rand(rng, out.shape, dt)
    assert_close(
        L.batchnorm_backward(dout, cache)[0], loops.batchnorm_backward(dout, loop_cache)[0], "test-mode dx"
    )
    with pytest.raises(ValueError, match="mode"):
        L.batchnorm_forward(x, gamma, beta, {"mode": "eval"})
    with pytest.raises(ValueError, match="bn_param needs the key 'mode'"):
        L.batchnorm_forward(x, gamma, beta, {})


def test_batchnorm_defaults_are_cs231n():
    x = np.arange(12.0).reshape(4, 3) ** 1.5
    bn_param = {"mode": "train"}
    out, _ = L.batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert_close(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))  # eps 1e-5
    assert_close(bn_param["running_mean"], 0.1 * x.mean(0))  # momentum 0.9 from zeros
    assert_close(bn_param["running_var"], 0.1 * x.var(0))  # from zeros, as the course's
    assert bn_param["running_mean"].dtype == x.dtype


def test_batchnorm_test_mode_before_training_uses_zero_statistics():
    """The course's running_var starts at 0: test mode before any training
    divides by sqrt(eps), as the notebooks' test-time checks expect."""
    x = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, -1.0])
    out, _ = L.batchnorm_forward(x, gamma, beta, {"mode": "test"})
    assert_close(out, gamma * x / np.sqrt(1e-5) + beta)
    out, _ = L.spatial_batchnorm_forward(x[:, :, None, None], gamma, beta, {"mode": "test", "eps": 1e-3})
    assert_close(out[:, :, 0, 0], gamma * x / np.sqrt(1e-3) + beta)


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_spatial_batchnorm_matches_loops(dt):
    rng = np.random.default_rng(8)
    x = rand(rng, (3, 4, 5, 2), dt)
    gamma, beta = rand(rng, (4,), dt), rand(rng, (4,), dt)
    ours, theirs = {"mode": "train"}, {"mode": "train"}
    out, cache = L.spatial_batchnorm_forward(x, gamma, beta, ours)
    expected, loop_cache = loops.spatial_batchnorm_forward(x, gamma, beta, theirs)
    assert_close(out, expected, "out")
    assert_close(ours["running_var"], theirs["running_var"], "running_var")
    dout = rand(rng, out.shape, dt)
    for got, want, name in zip(
        L.spatial_batchnorm_backward(dout, cache),
        loops.spatial_batchnorm_backward(dout, loop_cache),
        "dx dgamma dbeta".split(),
    ):
        assert_close(got, want, name)


def test_batchnorm_gradchecks_f64():
    rng = np.random.default_rng(9)
    for forward, backward, shape, channels in (
        (L.batchnorm_forward, L.batchnorm_backward, (5, 3), 3),
        (L.spatial_batchnorm_forward, L.spatial_batchnorm_backward, (2, 3, 3, 2), 3),
    ):
        x, gamma, beta = rand(rng, shape), rand(rng, (channels,)), rand(rng, (channels,))
        # (f runs within this iteration: the loop variables it reads are current)
        f = lambda: forward(x, gamma, beta, {"mode": "train"})[0]  # noqa: B023
        out, cache = forward(x, gamma, beta, {"mode": "train"})
        dout = rand(rng, out.shape)
        for got, a, name in zip(backward(dout, cache), (x, gamma, beta), "dx dgamma dbeta".split()):
            assert_close(got, numeric_grad(f, a, dout), f"{forward.__name__} {name}", GRAD_TOL)


# ----------------------------------------------------------------------- losses


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("loss", ["softmax_loss", "svm_loss"])
def test_losses_match_loops_and_gradcheck(loss, dt):
    rng = np.random.default_rng(10)
    x, y = rand(rng, (7, 5), dt), rng.integers(0, 5, 7)
    value, dx = getattr(L, loss)(x, y)
    want_value, want_dx = getattr(loops, loss)(x, y)
    tol = 1e-5 if dt == np.float32 else 1e-12
    assert abs(value - want_value) <= tol * max(1, abs(want_value))
    assert_close(dx, want_dx, "dx")
    if dt == np.float64:
        f = lambda: getattr(L, loss)(x, y)[0]
        assert_close(dx, numeric_grad(f, x, 1.0), "numeric dx", GRAD_TOL)


def test_loss_known_values_and_bad_labels():
    x = np.zeros((4, 10))
    y = np.arange(4)
    assert np.isclose(L.softmax_loss(x, y)[0], np.log(10))
    assert np.isclose(L.svm_loss(x, y)[0], 9.0)
    with pytest.raises(ValueError, match=r"labels y must lie in \[0, 10\)"):
        L.softmax_loss(x, np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="y must hold 4 integer labels"):
        L.svm_loss(x, np.zeros(4))


# ----------------------------------------------------------------- layer_utils


def test_conv_relu_pool_and_conv_relu_match_loops_and_gradcheck():
    rng = np.random.default_rng(11)
    x, w, b = rand(rng, (2, 3, 6, 7)), rand(rng, (4, 3, 3, 3)), rand(rng, (4,))
    cp, pp = conv_param(1, 1), pool_param(2, 2, 2)
    for ours_f, ours_b, loop_f, loop_b, args in (
        (
            LU.conv_relu_pool_forward,
            LU.conv_relu_pool_backward,
            loops.conv_relu_pool_forward,
            loops.conv_relu_pool_backward,
            (cp, pp),
        ),
        (
            LU.conv_relu_forward,
            LU.conv_relu_backward,
            loops.conv_relu_forward,
            loops.conv_relu_backward,
            (cp,),
        ),
    ):
        out, cache = ours_f(x, w, b, *args)
        expected, loop_cache = loop_f(x, w, b, *args)
        assert_close(out, expected, ours_f.__name__)
        dout = rand(rng, out.shape)
        grads = ours_b(dout, cache)
        for got, want in zip(grads, loop_b(dout, loop_cache)):
            assert_close(got, want, ours_b.__name__)
        # (f runs within this iteration: the loop variables it reads are current)
        f = lambda: ours_f(x, w, b, *args)[0]  # noqa: B023
        for got, a, name in zip(grads, (x, w, b), "dx dw db".split()):
            assert_close(got, numeric_grad(f, a, dout), f"{ours_b.__name__} {name}", GRAD_TOL)


def test_conv_bn_relu_matches_loops_and_gradcheck_f64():
    rng = np.random.default_rng(12)
    x, w, b = rand(rng, (2, 2, 4, 5)), rand(rng, (3, 2, 3, 3)), rand(rng, (3,))
    gamma, beta = rand(rng, (3,)), rand(rng, (3,))
    cp = conv_param(1, 1)
    ours, theirs = {"mode": "train"}, {"mode": "train"}
    out, cache = LU.conv_bn_relu_forward(x, w, b, gamma, beta, cp, ours)
    expected, loop_cache = loops.conv_bn_relu_forward(x, w, b, gamma, beta, cp, theirs)
    assert_close(out, expected, "out")
    assert_close(ours["running_var"], theirs["running_var"], "running_var")
    dout = rand(rng, out.shape)
    grads = LU.conv_bn_relu_backward(dout, cache)
    want = loops.conv_bn_relu_backward(dout, loop_cache)
    for got, expect, name in zip(grads, want, "dx dw db dgamma dbeta".split()):
        assert_close(got, expect, name)
    f = lambda: LU.conv_bn_relu_forward(x, w, b, gamma, beta, cp, {"mode": "train"})[0]
    for got, a, name in ((grads[0], x, "dx"), (grads[1], w, "dw"), (grads[3], gamma, "dgamma")):
        assert_close(got, numeric_grad(f, a, dout), name, GRAD_TOL)
    assert np.allclose(grads[2], 0, atol=1e-6)  # a bias before batchnorm has no effect


# ------------------------------------------------------------------------ dtypes


def test_dtypes_follow_numpy_promotion():
    rng = np.random.default_rng(13)
    x32, w32, b32 = (rand(rng, s, np.float32) for s in ((2, 3, 5, 5), (2, 3, 3, 3), (2,)))
    cp, pp = conv_param(1, 1), pool_param(2, 2, 2)
    out, cache = LU.conv_relu_pool_forward(x32, w32, b32, cp, pp)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in LU.conv_relu_pool_backward(np.ones_like(out), cache))
    out64, cache = LU.conv_relu_pool_forward(x32.astype(np.float64), w32, b32, cp, pp)
    assert out64.dtype == np.float64  # float64 data, float32 weights: float64
    assert_close(out64.astype(np.float32), out)
    scores, _ = L.affine_forward(np.ones((2, 3), np.int64), np.ones((3, 2), np.float32), np.zeros(2))
    assert scores.dtype == np.float64


# -------------------------------------------------------------- ThreeLayerConvNet


def _sgd_losses(model, x, y, steps, lr):
    losses = []
    for _ in range(steps):
        loss, grads = model.loss(x, y)
        losses.append(loss)
        for k in model.params:
            model.params[k] = model.params[k] - lr * grads[k]
    return losses


def test_three_layer_convnet_trains_like_the_loops():
    np.random.seed(0)
    kw = dict(
        input_dim=(3, 8, 7),
        num_filters=4,
        filter_size=3,
        hidden_dim=10,
        num_classes=5,
        weight_scale=0.3,
        reg=0.01,
        dtype=np.float64,
    )
    fast = ThreeLayerConvNet(**kw)
    slow = ThreeLayerConvNet(**kw, backend=loops)
    slow.params = {k: v.copy() for k, v in fast.params.items()}
    rng = np.random.default_rng(14)
    x, y = rng.standard_normal((4, 3, 8, 7)), rng.integers(0, 5, 4)
    fast_losses = _sgd_losses(fast, x, y, steps=3, lr=0.05)
    slow_losses = _sgd_losses(slow, x, y, steps=3, lr=0.05)
    assert np.allclose(fast_losses, slow_losses, rtol=1e-8, atol=0)
    assert fast_losses[-1] < fast_losses[0]
    for k in fast.params:
        err = np.max(np.abs(fast.params[k] - slow.params[k])) / np.max(np.abs(slow.params[k]))
        assert err <= 1e-8, f"{k}: relative error {err:.3g}"
    scores = fast.loss(x)
    assert scores.shape == (4, 5)
    assert_close(scores, slow.loss(x), "scores")


def test_three_layer_convnet_defaults():
    np.random.seed(1)
    model = ThreeLayerConvNet()
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {
        "W1": (32, 3, 7, 7),
        "b1": (32,),
        "W2": (32 * 16 * 16, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    assert all(v.dtype == np.float32 for v in model.params.values())
    x = np.random.randn(2, 3, 32, 32).astype(np.float32)
    loss, grads = model.loss(x, np.array([1, 2]))
    assert abs(loss - np.log(10)) < 1e-3  # tiny weights: uniform scores
    assert all(grads[k].shape == shapes[k] and grads[k].dtype == np.float32 for k in shapes)
    with pytest.raises(TypeError, match="lacks the layer functions"):
        ThreeLayerConvNet(backend=object())
