"""Batch norm, activations, softmax, dropout and softmax cross-entropy:
native (fastcnn.functional) against the NumPy reference, on every SIMD
path, both dtypes, both layouts; gradients by finite differences of the
native forward in float64; out=, non-contiguous input and bad arguments."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, numeric_grad, rand, using_threads

BN_SHAPES = [  # (shape, axis)
    ((4, 3, 5, 6), 1),
    ((2, 5, 7, 3), -1),
    ((6, 4), 1),
    ((3, 2, 9), 1),
    ((2, 9, 4), 2),
    ((1, 1, 1, 1), 1),
    ((5, 17, 3, 3), 1),
    ((40, 33), -1),
    ((2, 3, 2, 2, 3), 2),
    ((64, 8, 3, 3), 1),  # more images than reduction blocks
]
FUSED = [(None, 0.0), ("relu", 0.0), ("leaky_relu", 0.2)]


def _bn_inputs(rng, shape, axis, dtype):
    c = shape[axis]
    x = (rand(rng, shape) * 2 + 3).astype(dtype)  # a mean far from 0
    return x, rng.random(c) + 0.5, rng.standard_normal(c), rng.random(c), rng.random(c) + 0.5


@pytest.mark.parametrize("shape,axis", BN_SHAPES)
@pytest.mark.parametrize("activation,slope", FUSED)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_reference(isa, dtype, shape, axis, activation, slope, training):
    rng = np.random.default_rng(hash((shape, axis)) % 2**32)
    x, gamma, beta, mm, mv = _bn_inputs(rng, shape, axis, dtype)
    kw = dict(training=training, axis=axis, activation=activation, negative_slope=slope, return_stats=True)
    moving = [mm.astype(dtype), mv.astype(dtype)]
    moving_ref = [m.copy() for m in moving]
    y, (mean, inv_std) = F.batch_norm(x, gamma, beta, *moving, **kw)
    y_ref, (mean_ref, inv_ref) = R.batch_norm(x, gamma, beta, *moving_ref, **kw)
    assert_close(y, y_ref, "y")
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(inv_std, inv_ref, rtol=1e-6 if dtype == np.float32 else 1e-9)
    for got, want in zip(moving, moving_ref):
        assert_close(got, want, "moving statistics")
    dout = rand(rng, shape, dtype)
    got = F.batch_norm_backward(
        dout,
        x,
        gamma,
        beta,
        mean,
        inv_std,
        training=training,
        axis=axis,
        activation=activation,
        negative_slope=slope,
    )
    want = R.batch_norm_backward(
        dout,
        x,
        gamma,
        beta,
        mean,
        inv_std,
        training=training,
        axis=axis,
        activation=activation,
        negative_slope=slope,
    )
    for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
        assert_close(g, w, name, tol=1e-3 if dtype == np.float32 else None)


@pytest.mark.parametrize("shape,axis", [((3, 4, 3, 2), 1), ((4, 3, 2), -1), ((5, 3), 1)])
@pytest.mark.parametrize("activation,slope", FUSED)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_by_finite_differences(shape, axis, activation, slope, training):
    rng = np.random.default_rng(3)
    x, gamma, beta, mm, mv = _bn_inputs(rng, shape, axis, np.float64)
    dout = rand(rng, shape)
    kw = dict(training=training, axis=axis, activation=activation, negative_slope=slope)

    def forward():
        return F.batch_norm(x, gamma, beta, mm.copy(), mv.copy(), **kw)

    _, (mean, inv_std) = F.batch_norm(x, gamma, beta, mm.copy(), mv.copy(), return_stats=True, **kw)
    dx, dgamma, dbeta = F.batch_norm_backward(dout, x, gamma, beta, mean, inv_std, **kw)
    for name, got, a in (("dx", dx, x), ("dgamma", dgamma, gamma), ("dbeta", dbeta, beta)):
        np.testing.assert_allclose(got, numeric_grad(forward, a, dout), rtol=1e-5, atol=1e-6, err_msg=name)


def test_batch_norm_without_scale_and_center_and_needs():
    rng = np.random.default_rng(0)
    x = rand(rng, (4, 3, 2, 2))
    y, (mean, inv_std) = F.batch_norm(x, training=True, return_stats=True)
    assert_close(y, R.batch_norm(x, training=True))
    dx, dgamma, dbeta = F.batch_norm_backward(x, x, None, None, mean, inv_std, needs=("x",))
    assert dgamma is None and dbeta is None
    assert_close(dx, R.batch_norm_backward(x, x, None, None, mean, inv_std)[0])


def test_batch_norm_is_exact_for_a_large_mean():
    """The variance of values far from 0 keeps its digits (shifted sums)."""
    x = (1e4 + np.arange(24.0).reshape(2, 3, 4) % 5).astype(np.float32)
    _, (mean, inv_std) = F.batch_norm(x, training=True, return_stats=True, epsilon=0.0)
    var64 = x.astype(np.float64).var(axis=(0, 2))
    np.testing.assert_allclose(1 / inv_std**2, var64, rtol=1e-9)


def test_batch_norm_results_do_not_depend_on_threads():
    rng = np.random.default_rng(1)
    x = rand(rng, (37, 6, 9, 9), np.float32)
    dout = rand(rng, x.shape, np.float32)
    results = []
    for threads in (1, 2, 3):
        with using_threads(threads):
            y, (mean, inv_std) = F.batch_norm(x, training=True, return_stats=True, activation="relu")
            grads = F.batch_norm_backward(dout, x, None, None, mean, inv_std, activation="relu")
            results.append((y, mean, inv_std) + grads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_batch_norm_out_and_non_contiguous_input():
    rng = np.random.default_rng(2)
    x = rand(rng, (4, 6, 5, 3), np.float32)[:, ::2]  # non-contiguous
    out = np.empty(x.shape, np.float32)
    mm, mv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm(x, None, None, mm, mv, training=False, out=out)
    assert y.base is out or y is out or np.shares_memory(y, out)
    assert_close(out, R.batch_norm(x, None, None, mm, mv, training=False))
    inplace = np.ascontiguousarray(x)
    F.batch_norm(inplace, None, None, mm, mv, out=inplace)  # y may be x
    assert_close(inplace, out)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x: F.batch_norm(x, training=False), "moving_mean"),
        (lambda x: F.batch_norm(x, axis=0, training=True), "axis=0"),
        (lambda x: F.batch_norm(x, axis=5, training=True), "axis=5"),
        (lambda x: F.batch_norm(x, np.ones(2), training=True), r"gamma must have shape \(3,\)"),
        (lambda x: F.batch_norm(x, training=True, activation="tanh"), "activation"),
        (
            lambda x: F.batch_norm(x, training=True, activation="leaky_relu", negative_slope=-1),
            "negative_slope",
        ),
        (lambda x: F.batch_norm(x, training=True, out=np.empty((2, 3), np.float32)), "out must be"),
        (lambda x: F.batch_norm(x, training=True, out=np.empty(x.shape, np.float64)), "out must be"),
        (lambda x: F.batch_norm_backward(x[:1], x, None, None, np.zeros(3), np.ones(3)), "dout shape"),
        (lambda x: F.batch_norm(x[:, :, :0], training=True), "no values"),
    ],
)
def test_batch_norm_bad_arguments(call, match):
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises((ValueError, TypeError), match=match):
        call(x)


# ------------------------------------------------------------------ activations

ACTIVATIONS = [
    ("relu", F.relu, F.relu_backward, R.relu, R.relu_backward, {}),
    (
        "leaky_relu",
        F.leaky_relu,
        F.leaky_relu_backward,
        R.leaky_relu,
        R.leaky_relu_backward,
        {"negative_slope": 0.3},
    ),
    ("sigmoid", F.sigmoid, F.sigmoid_backward, R.sigmoid, R.sigmoid_backward, {}),
    ("tanh", F.tanh, F.tanh_backward, R.tanh, R.tanh_backward, {}),
]


@pytest.mark.parametrize("name,fwd,bwd,ref_fwd,ref_bwd,kw", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 40, 41), (1, 100003)])
def test_activation_matches_reference(isa, dtype, name, fwd, bwd, ref_fwd, ref_bwd, kw, shape):
    rng = np.random.default_rng(4)
    x = (rand(rng, shape) * 4).astype(dtype)
    x.flat[:3] = [np.nan, 60, -60][: min(3, x.size)]  # NaN in, saturation
    y = fwd(x, **kw)
    assert_close(y, ref_fwd(x, **kw), name)
    dout = rand(rng, shape, dtype)
    assert_close(bwd(dout, y, **kw), ref_bwd(dout, y, **kw), name + " backward")


@pytest.mark.parametrize("name,fwd,bwd,ref_fwd,ref_bwd,kw", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_gradient_by_finite_differences(name, fwd, bwd, ref_fwd, ref_bwd, kw):
    rng = np.random.default_rng(5)
    x = rand(rng, (3, 7))
    x[np.abs(x) < 1e-3] = 0.5  # away from relu's kink
    dout = rand(rng, x.shape)
    np.testing.assert_allclose(
        bwd(dout, fwd(x, **kw), **kw), numeric_grad(lambda: fwd(x, **kw), x, dout), rtol=1e-6, atol=1e-8
    )


def test_activation_out_in_place_and_non_contiguous():
    rng = np.random.default_rng(6)
    x = rand(rng, (6, 8), np.float32)
    view = x[:, ::2]
    assert_close(F.relu(view), R.relu(view))
    buf = x.copy()
    assert F.relu(buf, out=buf) is not None
    assert_close(buf, R.relu(x))
    with pytest.raises(ValueError, match="out must be"):
        F.relu(x, out=np.empty((6, 8), np.float64))
    with pytest.raises(ValueError, match="negative_slope"):
        F.leaky_relu(x, negative_slope=-0.5)
    with pytest.raises(ValueError, match="dout shape"):
        F.relu_backward(x[:2], x)


@pytest.mark.parametrize("shape,axis", [((4, 10), -1), ((3, 5, 7), 1), ((2, 3), 0), ((1, 1000), -1)])
def test_softmax_matches_reference(isa, dtype, shape, axis):
    rng = np.random.default_rng(7)
    x = (rand(rng, shape) * 30).astype(dtype)
    y = F.softmax(x, axis=axis)
    assert_close(y, R.softmax(x, axis=axis))
    dout = rand(rng, shape, dtype)
    assert_close(F.softmax_backward(dout, y, axis=axis), R.softmax_backward(dout, y, axis=axis))
    out = np.empty_like(x)
    F.softmax(x, axis=axis, out=out)
    assert_close(out, y)


def test_softmax_gradient_by_finite_differences():
    rng = np.random.default_rng(8)
    x, dout = rand(rng, (3, 5)), rand(rng, (3, 5))
    np.testing.assert_allclose(
        F.softmax_backward(dout, F.softmax(x)),
        numeric_grad(lambda: F.softmax(x), x, dout),
        rtol=1e-6,
        atol=1e-9,
    )


# ---------------------------------------------------------------------- dropout


def test_dropout_mask_is_the_reference_mask_and_keeps_one_minus_rate(isa, dtype):
    x = np.ones((50, 1000), dtype)
    y = F.dropout(x, 0.3, seed=1234)
    assert_close(y, R.dropout(x, 0.3, seed=1234))
    kept = (y != 0).mean()
    assert abs(kept - 0.7) < 0.01
    assert set(np.unique(y)) == {0, dtype(1 / 0.7)}


def test_dropout_depends_on_seed_only():
    x = np.arange(1, 200001, dtype=np.float32)
    with using_threads(1):
        one = F.dropout(x, 0.5, seed=9)
    with using_threads(2):
        two = F.dropout(x, 0.5, seed=9)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, F.dropout(x, 0.5, seed=10))
    dout = np.ones_like(x)
    np.testing.assert_array_equal(F.dropout_backward(dout, 0.5, seed=9) != 0, one != 0)
    assert F.dropout(x, 0.5, seed=9, training=False) is x
    with pytest.raises(ValueError, match="rate"):
        F.dropout(x, 1.0, seed=1)
    with pytest.raises(TypeError, match="seed"):
        F.dropout(x, 0.5, seed=1.5)


def test_dropout_keeps_nan():
    x = np.full(64, np.nan, np.float32)
    assert np.isnan(F.dropout(x, 0.5, seed=3)).all()


# ---------------------------------------------------------------- cross-entropy


@pytest.mark.parametrize("labels", [True, False])
def test_softmax_cross_entropy_matches_reference(isa, dtype, labels):
    rng = np.random.default_rng(10)
    logits = (rand(rng, (33, 10)) * 20).astype(dtype)
    target = rng.integers(0, 10, 33) if labels else rng.dirichlet(np.ones(10), 33).astype(dtype)
    loss, grad = F.softmax_cross_entropy(logits, target)
    loss_ref, grad_ref = R.softmax_cross_entropy(logits, target)
    assert abs(loss - loss_ref) <= 1e-5 * max(1, abs(loss_ref))
    assert_close(grad, grad_ref)


def test_softmax_cross_entropy_gradient_and_bad_labels():
    rng = np.random.default_rng(11)
    logits, labels = rand(rng, (4, 5)), np.array([0, 4, 2, 1])
    grad = F.softmax_cross_entropy(logits, labels)[1]
    np.testing.assert_allclose(
        grad,
        numeric_grad(lambda: np.array(F.softmax_cross_entropy(logits, labels)[0]), logits, np.array(1.0)),
        rtol=1e-6,
        atol=1e-9,
    )
    assert np.isnan(F.softmax_cross_entropy(logits, np.array([0, 5, 2, 1]))[0])
    with pytest.raises(ValueError, match="target must be"):
        F.softmax_cross_entropy(logits, np.array([0, 1]))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 9),
    c=st.integers(1, 9),
    inner=st.integers(1, 30),
    last=st.booleans(),
    training=st.booleans(),
    act=st.sampled_from([None, "relu", "leaky_relu"]),
)
def test_batch_norm_hypothesis(n, c, inner, last, training, act):
    rng = np.random.default_rng(n * 1000 + c * 31 + inner)
    shape = (n, inner, c) if last else (n, c, inner)
    x = rand(rng, shape, np.float32)
    gamma, beta = rng.random(c) + 0.5, rng.standard_normal(c)
    kw = dict(
        training=training, axis=-1 if last else 1, activation=act, negative_slope=0.1, return_stats=True
    )
    mm, mv = np.zeros(c, np.float32), np.ones(c, np.float32)
    y, stats = F.batch_norm(x, gamma, beta, mm.copy(), mv.copy(), **kw)
    assert_close(y, R.batch_norm(x, gamma, beta, mm.copy(), mv.copy(), **kw)[0], tol=1e-3)


def test_float32_sigmoid_tanh_softmax_accuracy(isa):
    """The vectorised exp keeps float32 sigmoid/tanh within a few ulp of
    float64 libm over the whole range, small arguments included."""
    xs = np.concatenate(
        [
            np.linspace(-120, 120, 100001),
            np.linspace(-1, 1, 20001),
            [0.0, -0.0, 1e-30, -1e-8, 3e-4, 0.6249, 0.6251],
        ]
    ).astype(np.float32)
    x64 = xs.astype(np.float64)
    tanh = F.tanh(xs).astype(np.float64)
    assert np.max(np.abs(tanh - np.tanh(x64)) / np.maximum(np.abs(np.tanh(x64)), 1e-30)) < 5e-7
    sig = F.sigmoid(xs).astype(np.float64)
    want = 1 / (1 + np.exp(-x64))
    assert np.max(np.abs(sig - want)) < 2e-7
    big = want > 1e-30
    assert np.max(np.abs(sig - want)[big] / want[big]) < 1e-6
    assert F.sigmoid(np.float32([-np.inf]))[0] == 0 and F.sigmoid(np.float32([np.inf]))[0] == 1
    rows = (np.random.default_rng(0).standard_normal((50, 37)) * 20).astype(np.float32)
    soft = F.softmax(rows).astype(np.float64)
    want = np.exp(rows - rows.max(1, keepdims=True).astype(np.float64))
    want /= want.sum(1, keepdims=True)
    assert np.max(np.abs(soft - want)) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_label_outside_the_classes_gives_nan_loss_and_gradient_row(dtype):
    logits = np.random.default_rng(3).standard_normal((3, 4)).astype(dtype)
    labels = np.array([1, 4, -1])  # rows 1 and 2 name no class
    for module in (F, R):
        loss, grad = module.softmax_cross_entropy(logits, labels)
        assert np.isnan(loss)
        assert np.all(np.isfinite(grad[0])) and np.all(np.isnan(grad[1:])), module.__name__
    good_loss, good_grad = F.softmax_cross_entropy(logits[:1], labels[:1])
    np.testing.assert_allclose(F.softmax_cross_entropy(logits, labels)[1][0] * 3, good_grad[0], rtol=1e-5)
