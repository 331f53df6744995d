"""What NaN and Inf do in every op, the losses and Sequential.fit.

* conv2d / conv1d (forward, dx, dw, db): a NaN/Inf reaches exactly the
  outputs whose sums it enters, as in fastcnn.reference (which pads with
  zeros, so 0 * inf = NaN where a window holds padding). Exceptions:
  algorithm='winograd' (and 'auto' where it picks Winograd) spreads a
  non-finite x value over whole 4x4 output tiles (the tile transforms mix all
  inputs of a tile), never into other images; and channels_last dx with
  non-finite weights spreads them to every dx entry within the kernel's reach
  of the padding (its phase GEMMs multiply zero-padded dout by the weights).
* max pooling: NaN counts as the maximum (PyTorch's rule): a window holding a
  NaN gives NaN, its index is the first NaN, the gradient goes there; +inf is
  an ordinary maximum, an all -inf window gives -inf at its first element.
* avg pooling and global pooling: NaN/Inf reach every window holding them.
* losses: NaN in y_pred gives a NaN loss and NaN gradient entries.
* Sequential.fit (stop_on_nan=True, the default) stops with FloatingPointError
  naming the epoch and batch as soon as the loss is NaN or +-inf, before the
  update, so the weights stay finite; stop_on_nan=False trains on.
"""

import numpy as np
import pytest

import fastcnn.functional as F
import fastcnn.reference as R
from fastcnn import Sequential, layers as L, losses

DTYPES = [np.float32, np.float64]
BAD = [np.nan, np.inf, -np.inf]
BAD_IDS = ["nan", "inf", "-inf"]
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's "invalid value" notes


def same_non_finite(actual, expected, what):
    """NaNs, +inf and -inf at the same places; finite values close."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NaN places")
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected), err_msg=f"{what}: +inf places")
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected), err_msg=f"{what}: -inf places")
    ok = np.isfinite(expected)
    tol = 1e-4 if expected.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(actual[ok], expected[ok], rtol=tol, atol=tol, err_msg=what)


def _conv_inputs(d, dtype, where, value, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3) + (7,) * d).astype(dtype)
    w = rng.standard_normal((4, 3) + (3,) * d).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    target = {"x": x, "w": w, "b": b}[where]
    target[(1,) * target.ndim if where != "b" else (1,)] = value
    return x, w, b


# ---------------------------------------------------------------- convolution


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("where", ["x", "w", "b"])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("algorithm", ["auto", "gemm", "winograd"])
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_conv_forward_non_finite_propagates_like_reference(dtype, d, algorithm, padding, where, value):
    if algorithm == "winograd" and d == 1:
        pytest.skip("Winograd is 2-D only")
    x, w, b = _conv_inputs(d, dtype, where, value)
    conv, ref = (F.conv2d, R.conv2d) if d == 2 else (F.conv1d, R.conv1d)
    y = conv(x, w, b, padding=padding, algorithm=algorithm)
    expected = ref(x, w, b, padding=padding)
    assert not np.isfinite(expected).all()
    if algorithm == "winograd" and where != "b":
        # Winograd's transforms mix every input of a tile (and every tap of a kernel):
        # a non-finite x value reaches whole 4x4 output tiles of its image (no other
        # image); an inf in w turns its output channel NaN where the reference has +-inf
        assert (~np.isfinite(y) >= ~np.isfinite(expected)).all()
        if where == "x":
            same_non_finite(y[0], expected[0], "winograd, the other image")
        return
    same_non_finite(y, expected, f"conv{d}d {algorithm}")


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("where", ["dout", "x", "w"])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_conv_backward_non_finite_propagates(dtype, d, padding, where, value):
    """dx, dw and db are non-finite exactly where the reference's are (NaN/Inf
    propagate, and reach nothing else); finite entries agree."""
    rng = np.random.default_rng(1)
    x, w, _ = _conv_inputs(d, dtype, "x", 0.5)
    conv = F.conv2d if d == 2 else F.conv1d
    dout = rng.standard_normal(conv(x, w, padding=padding).shape).astype(dtype)
    {"dout": dout, "x": x, "w": w}[where][(0, 1) + (1,) * d] = value
    backward, ref = (
        (F.conv2d_backward, R.conv2d_backward) if d == 2 else (F.conv1d_backward, R.conv1d_backward)
    )
    got = backward(dout, x, w, padding=padding)
    expected = ref(dout, x, w, padding=padding)
    for name, a, e in zip(["dx", "dw", "db"], got, expected):
        assert (~np.isfinite(a) == ~np.isfinite(e)).all(), f"{name}: non-finite entries differ"
        ok = np.isfinite(a) & np.isfinite(e)
        np.testing.assert_allclose(a[ok], e[ok], rtol=1e-4, atol=1e-4, err_msg=name)
    same_non_finite(got[2], expected[2], "db")
    assert not np.isfinite(got[0 if where != "x" else 1]).all()


# A NaN/Inf stays where the definition puts it (as in the reference and
# PyTorch): the GEMM's thrown-away wide columns are zero in both operands of
# dW, and dx with non-finite weights takes the GEMM + col2im path.
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_conv_backward_weight_keeps_non_finite_local(value):
    x = np.ones((1, 1, 3, 3), np.float32)
    x[0, 0, 2, 2] = value
    w, dout = np.ones((1, 1, 2, 2), np.float32), np.ones((1, 1, 2, 2), np.float32)
    dw = F.conv2d_backward(dout, x, w)[1]
    same_non_finite(dw, R.conv2d_backward(dout, x, w)[1], "dw")  # [4, 4, 4, +-inf/nan]


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_conv_backward_data_keeps_non_finite_local(value):
    x = np.ones((1, 1, 5, 5), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    w[0, 0, 1, 1] = value
    dout = np.ones((1, 1, 3, 3), np.float32)
    dx = F.conv2d_backward(dout, x, w)[0]
    same_non_finite(dx, R.conv2d_backward(dout, x, w)[0], "dx")  # only the centre 3x3


# ---------------------------------------------------------------- max pooling


def _with(shape, dtype, entries):
    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape) / 10
    for idx, v in entries:
        x[idx] = v
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_max_pool_nan_is_the_maximum(dtype):
    # window (0,0) holds NaN and +inf; window (0,1) a NaN after a larger value; (1,1) two NaNs
    x = _with(
        (1, 1, 4, 4),
        dtype,
        [
            ((0, 0, 0, 1), np.inf),
            ((0, 0, 1, 0), np.nan),
            ((0, 0, 1, 3), np.nan),
            ((0, 0, 2, 2), np.nan),
            ((0, 0, 3, 3), np.nan),
        ],
    )
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4  # NaN beats +inf
    assert np.isnan(y[0, 0, 0, 1]) and idx[0, 0, 0, 1] == 7
    assert y[0, 0, 1, 0] == x[0, 0, 3, 1] and idx[0, 0, 1, 0] == 13
    assert np.isnan(y[0, 0, 1, 1]) and idx[0, 0, 1, 1] == 10  # the first NaN
    ry, ridx = R.max_pool2d(x, 2, return_indices=True)
    same_non_finite(y, ry, "max_pool2d")
    np.testing.assert_array_equal(idx, ridx)
    dx = F.max_pool2d_backward(np.ones_like(y), x, 2)
    assert dx.reshape(-1)[[4, 7, 13, 10]].tolist() == [1, 1, 1, 1] and dx.sum() == 4
    y1, idx1 = F.max_pool1d(x[:, :, 1], 2, return_indices=True)  # row [nan, .5, .6, nan]
    assert np.isnan(y1).all() and idx1.ravel().tolist() == [0, 3]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_max_pool_infinities(dtype):
    x = np.full((1, 1, 2, 4), -np.inf, dtype)
    x[0, 0, 1, 3] = np.inf
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert y.ravel().tolist() == [-np.inf, np.inf] and idx.ravel().tolist() == [0, 7]
    g, gi = F.global_max_pool2d(x, return_indices=True)
    assert g.ravel().tolist() == [np.inf] and gi.ravel().tolist() == [7]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_global_max_pool_nan_is_the_maximum(dtype):
    x = _with(
        (2, 2, 3, 3),
        dtype,
        [((0, 1, 2, 0), np.nan), ((0, 1, 2, 2), np.inf), ((1, 0, 1, 1), np.nan), ((1, 0, 2, 2), np.nan)],
    )
    y, idx = F.global_max_pool2d(x, return_indices=True)
    assert np.isnan(y[0, 1]) and idx[0, 1] == 6
    assert np.isnan(y[1, 0]) and idx[1, 0] == 4
    assert np.isfinite(y[0, 0]) and np.isfinite(y[1, 1])
    dx = F.global_max_pool2d_backward(np.ones_like(y), x)
    assert dx[0, 1].reshape(-1)[6] == 1 and dx[1, 0].reshape(-1)[4] == 1 and dx.sum() == 4


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_max_pool_matches_torch_with_nan(dtype, padding, ceil_mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.05] = np.inf
    x[rng.random(x.shape) < 0.05] = -np.inf
    y, idx = F.max_pool2d(x, 3, stride=2, padding=padding, ceil_mode=ceil_mode, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(
        torch.from_numpy(x), 3, stride=2, padding=padding, ceil_mode=ceil_mode, return_indices=True
    )
    same_non_finite(y, ty.numpy(), "max_pool2d vs torch")
    # indices: the same where a window holds at most one NaN; with several, ours is the
    # first NaN (our documented "first maximum" rule) and PyTorch's CPU kernel the last
    flat = x.reshape(2, 3, -1)
    tidx = tidx.numpy()
    nan_at_ours = np.isnan(np.take_along_axis(flat, idx.reshape(2, 3, -1), 2))
    nan_at_theirs = np.isnan(np.take_along_axis(flat, tidx.reshape(2, 3, -1), 2))
    several = nan_at_ours & nan_at_theirs & (idx.reshape(2, 3, -1) != tidx.reshape(2, 3, -1))
    assert (idx.reshape(2, 3, -1) <= tidx.reshape(2, 3, -1))[several].all()
    np.testing.assert_array_equal(idx.reshape(2, 3, -1)[~several], tidx.reshape(2, 3, -1)[~several])
    assert several.any()  # the data does have such windows
    t1 = torch.nn.functional.max_pool1d(
        torch.from_numpy(x[:, :, 0]), 3, stride=2, padding=padding, ceil_mode=ceil_mode
    )
    y1 = F.max_pool1d(x[:, :, 0], 3, stride=2, padding=padding, ceil_mode=ceil_mode)
    same_non_finite(y1, t1.numpy(), "max_pool1d vs torch")


# ------------------------------------------------------------ average pooling


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_avg_pool_propagates(dtype, count_include_pad, value):
    x = _with((1, 2, 5, 5), dtype, [((0, 1, 2, 2), value)])
    y = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=count_include_pad)
    ry = R.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=count_include_pad)
    same_non_finite(y, ry, "avg_pool2d")
    assert (~np.isfinite(y[0, 1, 1:4, 1:4])).all() and np.isfinite(y[0, 0]).all()
    assert np.isfinite(y[0, 1, 0]).all()
    same_non_finite(
        F.avg_pool1d(x[:, :, 2], 3, stride=1), R.avg_pool1d(x[:, :, 2], 3, stride=1), "avg_pool1d"
    )
    dout = np.ones_like(y)
    dout[0, 0, 2, 2] = value
    same_non_finite(
        F.avg_pool2d_backward(dout, x, 3, stride=1, padding=1, count_include_pad=count_include_pad),
        R.avg_pool2d_backward(dout, x, 3, stride=1, padding=1, count_include_pad=count_include_pad),
        "avg_pool2d_backward",
    )
    g = F.global_avg_pool2d(x)
    assert np.isfinite(g[0, 0]) and not np.isfinite(g[0, 1])
    same_non_finite(g, R.global_avg_pool2d(x), "global_avg_pool2d")


# ----------------------------------------------------------------------- losses

LOSSES = [
    (losses.MeanSquaredError(), "regression"),
    (losses.MeanAbsoluteError(), "regression"),
    (losses.BinaryCrossentropy(), "prob"),
    (losses.BinaryCrossentropy(from_logits=True), "binary"),
    (losses.CategoricalCrossentropy(), "softmax"),
    (losses.CategoricalCrossentropy(from_logits=True), "onehot"),
    (losses.SparseCategoricalCrossentropy(), "sparse-prob"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "sparse"),
    (losses.Hinge(), "hinge"),
    (losses.KLDivergence(), "softmax"),
    (losses.ContrastiveLoss(), "contrastive"),
]


def _loss_data(kind, rng):
    logits = rng.standard_normal((4, 3))
    if kind == "regression":
        return logits, rng.standard_normal((4, 3))
    if kind in ("binary", "prob"):
        return (logits if kind == "binary" else 1 / (1 + np.exp(-logits))), rng.integers(0, 2, (4, 3)) * 1.0
    if kind in ("onehot", "softmax"):
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return (logits if kind == "onehot" else p), np.eye(3)[rng.integers(0, 3, 4)]
    if kind in ("sparse", "sparse-prob"):
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return (logits if kind == "sparse" else p), rng.integers(0, 3, 4)
    if kind == "hinge":
        return logits, rng.choice([-1.0, 1.0], (4, 3))
    return np.abs(logits), rng.integers(0, 2, (4, 3)) * 1.0  # contrastive: distances


GRADIENT_DROPS_NAN = {"BinaryCrossentropy-prob", "Hinge-hinge", "KLDivergence-softmax"}


def _nan_loss(loss, kind, dtype):
    rng = np.random.default_rng(3)
    y_pred, y_true = _loss_data(kind, rng)
    y_pred = y_pred.astype(dtype)
    assert np.isfinite(loss.forward(y_pred, y_true))
    y_pred[1, 2] = np.nan
    return loss.forward(y_pred, y_true), loss.backward()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("loss,kind", LOSSES, ids=[f"{type(loss).__name__}-{k}" for loss, k in LOSSES])
def test_loss_value_propagates_nan(loss, kind, dtype):
    value, grad = _nan_loss(loss, kind, dtype)
    assert np.isnan(value), type(loss).__name__
    assert grad.shape == (4, 3) and np.isfinite(grad[[0, 2, 3]]).all()  # other samples unaffected


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "loss,kind",
    [(loss, k) for loss, k in LOSSES if f"{type(loss).__name__}-{k}" not in GRADIENT_DROPS_NAN],
    ids=[
        f"{type(loss).__name__}-{k}"
        for loss, k in LOSSES
        if f"{type(loss).__name__}-{k}" not in GRADIENT_DROPS_NAN
    ],
)
def test_loss_gradient_propagates_nan(loss, kind, dtype):
    _, grad = _nan_loss(loss, kind, dtype)
    assert np.isnan(grad[1]).any()


@pytest.mark.parametrize(
    "loss,kind", [(loss, k) for loss, k in LOSSES if f"{type(loss).__name__}-{k}" in GRADIENT_DROPS_NAN]
)
def test_loss_gradient_of_clipped_losses_propagates_nan(loss, kind):
    _, grad = _nan_loss(loss, kind, np.float64)
    assert np.isnan(grad[1]).any()


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Hinge()])
def test_loss_of_inf_is_inf(loss):
    y_pred, y_true = np.zeros((2, 3)), np.ones((2, 3))
    y_pred[0, 0] = -np.inf
    assert loss.forward(y_pred, y_true) == np.inf


@pytest.mark.parametrize(
    "loss", [losses.CategoricalCrossentropy(from_logits=True), losses.BinaryCrossentropy(from_logits=True)]
)
def test_logit_losses_of_inf(loss):
    """+inf logits: for a right-class +inf the loss is 0 or NaN (inf - inf) but never a
    finite wrong value; -inf on the true class gives +inf or NaN."""
    y_true = np.array([[0.0, 1.0, 0.0]])
    right = loss.forward(np.array([[0.0, np.inf, 0.0]]), y_true)
    assert (
        right == 0 or np.isnan(right) or (isinstance(loss, losses.BinaryCrossentropy) and np.isfinite(right))
    )
    wrong = loss.forward(np.array([[0.0, -np.inf, 0.0]]), y_true)
    assert wrong == np.inf or np.isnan(wrong)


# --------------------------------------------------------------- Sequential.fit


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, n)


def _model():
    model = Sequential(
        [
            L.Input((1, 6, 6)),
            L.Conv2D(3, 3, padding="same", seed=0),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(2, seed=1),
        ]
    )
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[])
    return model


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_fit_stops_on_non_finite_loss(value):
    x, y = _data()
    x[20, 0, 3, 3] = value  # the 2nd batch of 16 (shuffle=False)
    model = _model()
    before = None

    class Watch:  # the weights after the last finite step
        def on_batch_end(self, batch, logs):
            nonlocal before
            before = [w.copy() for w in model.get_weights()]

    with pytest.raises(
        FloatingPointError,
        match=r"loss is (nan|inf|-inf) at epoch 1, batch 2; "
        r"training stopped before the update",
    ) as e:
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[Watch()])
    assert "learning rate" in str(e.value)
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert all(np.array_equal(a, b) for a, b in zip(after, before))
    assert model.epochs == 0


def test_fit_without_stop_on_nan_trains_on():
    x, y = _data()
    x[20, 0, 3, 3] = np.nan
    history = _model().fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, stop_on_nan=False)
    assert np.isnan(history.history["loss"]).all()


def test_train_on_batch_stops_on_nan():
    x, y = _data(8)
    x[0, 0, 0, 0] = np.nan
    model = _model()
    model.train_on_batch(x[1:], y[1:])
    weights = model.get_weights()
    with pytest.raises(FloatingPointError, match="loss is nan"):
        model.train_on_batch(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
