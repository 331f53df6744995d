"""fastcnn.compat.cs231n against plain-loop versions of CS231n's conventions.

Every function is compared with `_cs231n_loops` (one output element per loop
iteration) in float32 and float64 over odd shapes, gradient-checked by
central differences in float64, and the ThreeLayerConvNet trained a few SGD
steps through compat must match the same training through the loops.
"""

import numpy as np
import pytest

import fastcnn
from fastcnn.compat import cs231n as C

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
    out, cache = C.conv_forward_fast(x, w, b, cp)
    expected, loop_cache = loops.conv_forward_naive(x, w, b, cp)
    assert_close(out, expected, "out")
    dout = rand(rng, out.shape, dt)
    for got, want, name in zip(
        C.conv_backward_fast(dout, cache), loops.conv_backward_naive(dout, loop_cache), "dx dw db".split()
    ):
        assert_close(got, want, name)


def test_conv_aliases_share_one_cache_format():
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, (2, 3, 6, 6)), rand(rng, (4, 3, 3, 3)), rand(rng, (4,))
    dout = rand(rng, (2, 4, 6, 6))
    cp = conv_param(1, 1)
    want = C.conv_backward_fast(dout, C.conv_forward_fast(x, w, b, cp)[1])
    for fwd in (C.conv_forward_naive, C.conv_forward_im2col, C.conv_forward_strides):
        out, cache = fwd(x, w, b, cp)
        for bwd in (C.conv_backward_naive, C.conv_backward_im2col, C.conv_backward_strides):
            for got, expect in zip(bwd(dout, cache), want):
                assert_close(got, expect)


def test_conv_gradcheck_f64():
    rng = np.random.default_rng(2)
    x, w, b = rand(rng, (2, 2, 5, 6)), rand(rng, (3, 2, 3, 3)), rand(rng, (3,))
    cp = conv_param(2, 1)
    out, cache = C.conv_forward_fast(x, w, b, cp)
    dout = rand(rng, out.shape)
    dx, dw, db = C.conv_backward_fast(dout, cache)
    f = lambda: C.conv_forward_fast(x, w, b, cp)[0]
    assert_close(dx, numeric_grad(f, x, dout), "dx", GRAD_TOL)
    assert_close(dw, numeric_grad(f, w, dout), "dw", GRAD_TOL)
    assert_close(db, numeric_grad(f, b, dout), "db", GRAD_TOL)


# ---------------------------------------------------------------------- pooling


@pytest.mark.parametrize("xs, ph, pw, s", POOL_CASES)
@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_max_pool_matches_loops(xs, ph, pw, s, dt):
    rng = np.random.default_rng(3)
    x = distinct(rng, xs, dt)
    pp = pool_param(ph, pw, s)
    out, cache = C.max_pool_forward_fast(x, pp)
    expected, loop_cache = loops.max_pool_forward_naive(x, pp)
    assert_close(out, expected, "out")
    dout = rand(rng, out.shape, dt)
    assert_close(C.max_pool_backward_fast(dout, cache), loops.max_pool_backward_naive(dout, loop_cache), "dx")
    # every alias, and the naive cache (x, pool_param) without indices
    for fwd in (C.max_pool_forward_naive, C.max_pool_forward_reshape, C.max_pool_forward_im2col):
        for bwd in (C.max_pool_backward_naive, C.max_pool_backward_reshape, C.max_pool_backward_im2col):
            o, c = fwd(x, pp)
            assert_close(bwd(dout, c), bwd(dout, c[:2]), "dx from (x, pool_param)")
            assert_close(bwd(dout, c), loops.max_pool_backward_naive(dout, loop_cache))


def test_max_pool_gradcheck_f64():
    rng = np.random.default_rng(4)
    x = distinct(rng, (2, 2, 7, 6))
    pp = pool_param(3, 2, 2)
    out, cache = C.max_pool_forward_fast(x, pp)
    dout = rand(rng, out.shape)
    f = lambda: C.max_pool_forward_fast(x, pp)[0]
    assert_close(C.max_pool_backward_fast(dout, cache), numeric_grad(f, x, dout), "dx", GRAD_TOL)


# ----------------------------------------------------------------- affine, relu


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("xs", [(3, 2, 5, 1), (4, 7), (1, 3, 3)])
def test_affine_and_relu_match_loops(xs, dt):
    rng = np.random.default_rng(5)
    d = int(np.prod(xs[1:]))
    x, w, b = rand(rng, xs, dt), rand(rng, (d, 6), dt), rand(rng, (6,), dt)
    out, cache = C.affine_forward(x, w, b)
    expected, loop_cache = loops.affine_forward(x, w, b)
    assert_close(out, expected, "affine out")
    dout = rand(rng, out.shape, dt)
    for got, want, name in zip(
        C.affine_backward(dout, cache), loops.affine_backward(dout, loop_cache), "dx dw db".split()
    ):
        assert_close(got, want, name)
    r, rc = C.relu_forward(x)
    assert_close(r, loops.relu_forward(x)[0], "relu")
    assert_close(C.relu_backward(x, rc), loops.relu_backward(x, x), "relu dx")


def test_affine_relu_gradcheck_f64():
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, (3, 2, 2, 2)), rand(rng, (8, 5)), rand(rng, (5,))
    out, cache = C.affine_relu_forward(x, w, b)
    dout = rand(rng, out.shape)
    dx, dw, db = C.affine_relu_backward(dout, cache)
    f = lambda: C.affine_relu_forward(x, w, b)[0]
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
        out, cache = C.batchnorm_forward(x, gamma, beta, ours)
        expected, loop_cache = loops.batchnorm_forward(x, gamma, beta, theirs)
        assert_close(out, expected, f"out, step {step}")
        for k in ("running_mean", "running_var"):
            assert_close(ours[k], theirs[k], k)
        dout = rand(rng, out.shape, dt)
        for got, want, name in zip(
            C.batchnorm_backward(dout, cache),
            loops.batchnorm_backward(dout, loop_cache),
            "dx dgamma dbeta".split(),
        ):
            assert_close(got, want, name)
    assert C.batchnorm_backward_alt is C.batchnorm_backward
    # test mode: the running statistics, left unchanged
    ours["mode"] = theirs["mode"] = "test"
    before = ours["running_mean"].copy()
    x = rand(rng, (4, 5), dt)
    out, cache = C.batchnorm_forward(x, gamma, beta, ours)
    expected, loop_cache = loops.batchnorm_forward(x, gamma, beta, theirs)
    assert_close(out, expected, "test-mode out")
    assert np.array_equal(ours["running_mean"], before)
    dout = rand(rng, out.shape, dt)
    assert_close(
        C.batchnorm_backward(dout, cache)[0], loops.batchnorm_backward(dout, loop_cache)[0], "test-mode dx"
    )
    with pytest.raises(ValueError, match="mode"):
        C.batchnorm_forward(x, gamma, beta, {"mode": "eval"})


def test_batchnorm_defaults_are_cs231n():
    x = np.arange(12.0).reshape(4, 3)
    bn_param = {"mode": "train"}
    out, _ = C.batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert_close(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))  # eps 1e-5
    assert_close(bn_param["running_mean"], 0.1 * x.mean(0))  # momentum 0.9 from zeros
    assert_close(bn_param["running_var"], 0.9 + 0.1 * x.var(0))  # from ones


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_spatial_batchnorm_matches_loops(dt):
    rng = np.random.default_rng(8)
    x = rand(rng, (3, 4, 5, 2), dt)
    gamma, beta = rand(rng, (4,), dt), rand(rng, (4,), dt)
    ours, theirs = {"mode": "train"}, {"mode": "train"}
    out, cache = C.spatial_batchnorm_forward(x, gamma, beta, ours)
    expected, loop_cache = loops.spatial_batchnorm_forward(x, gamma, beta, theirs)
    assert_close(out, expected, "out")
    assert_close(ours["running_var"], theirs["running_var"], "running_var")
    dout = rand(rng, out.shape, dt)
    for got, want, name in zip(
        C.spatial_batchnorm_backward(dout, cache),
        loops.spatial_batchnorm_backward(dout, loop_cache),
        "dx dgamma dbeta".split(),
    ):
        assert_close(got, want, name)


def test_batchnorm_gradchecks_f64():
    rng = np.random.default_rng(9)
    for forward, backward, shape, channels in (
        (C.batchnorm_forward, C.batchnorm_backward, (5, 3), 3),
        (C.spatial_batchnorm_forward, C.spatial_batchnorm_backward, (2, 3, 3, 2), 3),
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
    value, dx = getattr(C, loss)(x, y)
    want_value, want_dx = getattr(loops, loss)(x, y)
    tol = 1e-5 if dt == np.float32 else 1e-12
    assert abs(value - want_value) <= tol * max(1, abs(want_value))
    assert_close(dx, want_dx, "dx")
    if dt == np.float64:
        f = lambda: getattr(C, loss)(x, y)[0]
        assert_close(dx, numeric_grad(f, x, 1.0), "numeric dx", GRAD_TOL)


def test_loss_known_values():
    x = np.zeros((4, 10))
    y = np.arange(4)
    assert np.isclose(C.softmax_loss(x, y)[0], np.log(10))
    assert np.isclose(C.svm_loss(x, y)[0], 9.0)


# ----------------------------------------------------------------- layer_utils


def test_conv_relu_pool_and_conv_relu_match_loops_and_gradcheck():
    rng = np.random.default_rng(11)
    x, w, b = rand(rng, (2, 3, 6, 7)), rand(rng, (4, 3, 3, 3)), rand(rng, (4,))
    cp, pp = conv_param(1, 1), pool_param(2, 2, 2)
    for ours_f, ours_b, loop_f, loop_b, args in (
        (
            C.conv_relu_pool_forward,
            C.conv_relu_pool_backward,
            loops.conv_relu_pool_forward,
            loops.conv_relu_pool_backward,
            (cp, pp),
        ),
        (C.conv_relu_forward, C.conv_relu_backward, loops.conv_relu_forward, loops.conv_relu_backward, (cp,)),
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


def test_conv_bn_relu_gradcheck_f64():
    rng = np.random.default_rng(12)
    x, w, b = rand(rng, (2, 2, 4, 5)), rand(rng, (3, 2, 3, 3)), rand(rng, (3,))
    gamma, beta = rand(rng, (3,)), rand(rng, (3,))
    cp = conv_param(1, 1)
    f = lambda: C.conv_bn_relu_forward(x, w, b, gamma, beta, cp, {"mode": "train"})[0]
    out, cache = C.conv_bn_relu_forward(x, w, b, gamma, beta, cp, {"mode": "train"})
    dout = rand(rng, out.shape)
    grads = C.conv_bn_relu_backward(dout, cache)
    assert len(grads) == 5
    for got, a, name in (
        (grads[0], x, "dx"),
        (grads[1], w, "dw"),
        (grads[3], gamma, "dgamma"),
        (grads[4], beta, "dbeta"),
    ):
        assert_close(got, numeric_grad(f, a, dout), name, GRAD_TOL)
    assert np.allclose(grads[2], 0, atol=1e-6)  # a bias before batchnorm has no effect


# ------------------------------------------------------------------------ dtypes


def test_dtypes_follow_numpy_promotion():
    rng = np.random.default_rng(13)
    x32, w32, b32 = (rand(rng, s, np.float32) for s in ((2, 3, 5, 5), (2, 3, 3, 3), (2,)))
    cp, pp = conv_param(1, 1), pool_param(2, 2, 2)
    out, cache = C.conv_relu_pool_forward(x32, w32, b32, cp, pp)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in C.conv_relu_pool_backward(np.ones_like(out), cache))
    out64, cache = C.conv_relu_pool_forward(x32.astype(np.float64), w32, b32, cp, pp)
    assert out64.dtype == np.float64  # float64 data, float32 weights: float64
    assert_close(out64.astype(np.float32), out)
    scores, _ = C.affine_forward(np.ones((2, 3), np.int64), np.ones((3, 2), np.float32), np.zeros(2))
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
    fast = C.ThreeLayerConvNet(**kw)
    slow = C.ThreeLayerConvNet(**kw, backend=loops)
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
    model = C.ThreeLayerConvNet()
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


def test_every_exported_name_exists():
    assert all(callable(getattr(C, name)) for name in C.__all__)
    import fastcnn.compat

    assert fastcnn.compat.cs231n is C
