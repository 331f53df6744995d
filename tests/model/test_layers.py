"""Layers: shapes, finite-difference gradients, PyTorch twins, initializers, configs.

Gradient checks run in float64 (the layer recast with `astype`) on tiny inputs:
the analytic dx and parameter gradients must match central differences of
sum(dout * forward(x)). PyTorch twins (skipped without torch) copy the weights
into the matching torch module and compare outputs and gradients: 1e-5
relative in float32, 1e-10 in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastcnn import initializers, layers as L

from _helpers import assert_close, distinct, numeric_grad

GRAD_TOL = 1e-7
TWIN_TOL = {np.float32: 1e-5, np.float64: 1e-10}


# ------------------------------------------------------------- gradient checks


def check_gradients(layer, x_shape, training=False, seed=0, x=None, state=None):
    """Forward shape == output_shape, then dx and every grad vs central differences."""
    rng = np.random.default_rng(seed)
    if x is None:
        x = distinct(rng, x_shape) + rng.uniform(-0.003, 0.003, x_shape)  # no ties, no zeros
    layer.build(x.shape[1:])
    layer.astype(np.float64)
    if state is not None:
        for arr, value in zip(layer.state, state):
            arr[...] = value
    for p in layer.params:  # not all zeros / ones
        p[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1, 1], p.shape)
    y = layer.forward(x, training=training)
    assert y.shape == (x.shape[0],) + tuple(layer.output_shape(x.shape[1:]))
    assert y.dtype == np.float64
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    grads = [g.copy() for g in layer.grads]
    assert len(grads) == len(layer.params)

    def f():
        return layer.forward(x, training=training)

    assert_close(dx, numeric_grad(f, x, dout), "dx", tol=GRAD_TOL)
    for name, p, g in zip(layer.param_names, layer.params, grads):
        assert g.shape == p.shape and g.dtype == np.float64
        assert_close(g, numeric_grad(f, p, dout), f"d{name}", tol=GRAD_TOL)
    return y


GRAD_CASES = [
    # id, factory, per-call input shape
    ("conv2d_valid", lambda: L.Conv2D(3, 3), (2, 2, 5, 5)),
    ("conv2d_same", lambda: L.Conv2D(3, 3, padding="same"), (2, 2, 4, 5)),
    ("conv2d_same_stride2", lambda: L.Conv2D(2, (3, 2), strides=2, padding="same"), (2, 2, 5, 6)),
    ("conv2d_int_pad_stride", lambda: L.Conv2D(2, 3, strides=(2, 1), padding=1), (1, 2, 5, 4)),
    ("conv2d_dilation", lambda: L.Conv2D(2, 2, dilation_rate=2, padding="same"), (2, 1, 5, 5)),
    ("conv2d_groups", lambda: L.Conv2D(4, 3, groups=2, padding=1), (2, 4, 4, 4)),
    ("conv2d_depthwise", lambda: L.Conv2D(3, 3, groups=3), (1, 3, 4, 4)),
    ("conv2d_no_bias", lambda: L.Conv2D(2, 2, use_bias=False), (2, 2, 3, 3)),
    ("conv1d_valid", lambda: L.Conv1D(3, 3), (2, 2, 7)),
    ("conv1d_same_stride", lambda: L.Conv1D(2, 4, strides=2, padding="same"), (2, 2, 7)),
    ("conv1d_dilation_groups", lambda: L.Conv1D(4, 2, dilation_rate=2, groups=2), (2, 2, 6)),
    ("dense", lambda: L.Dense(3), (4, 5)),
    ("dense_no_bias", lambda: L.Dense(2, use_bias=False), (3, 4)),
    ("maxpool2d", lambda: L.MaxPool2D(), (2, 2, 4, 5)),
    ("maxpool2d_same", lambda: L.MaxPool2D(3, strides=2, padding="same"), (2, 2, 5, 4)),
    ("avgpool2d", lambda: L.AvgPool2D((2, 3), strides=1), (2, 2, 4, 5)),
    ("avgpool2d_same", lambda: L.AvgPool2D(3, strides=2, padding="same"), (2, 2, 5, 4)),
    ("maxpool1d", lambda: L.MaxPool1D(3, strides=2), (2, 2, 7)),
    ("maxpool1d_same", lambda: L.MaxPool1D(2, padding="same"), (2, 2, 7)),
    ("avgpool1d", lambda: L.AvgPool1D(2), (2, 2, 6)),
    ("avgpool1d_same", lambda: L.AvgPool1D(3, strides=2, padding="same"), (2, 2, 6)),
    ("global_avg2d", lambda: L.GlobalAvgPool2D(), (2, 3, 3, 4)),
    ("global_max2d", lambda: L.GlobalMaxPool2D(), (2, 3, 3, 4)),
    ("global_avg1d", lambda: L.GlobalAvgPool1D(), (2, 3, 5)),
    ("global_max1d", lambda: L.GlobalMaxPool1D(), (2, 3, 5)),
    ("flatten", lambda: L.Flatten(), (2, 2, 3, 2)),
    ("dropout_inference", lambda: L.Dropout(0.5, seed=1), (2, 3, 4)),
    ("input", lambda: L.Input((3, 4)), (2, 3, 4)),
    ("relu", lambda: L.ReLU(), (2, 3, 4)),
    ("leaky_relu", lambda: L.LeakyReLU(), (2, 3, 4)),
    ("leaky_relu_alpha", lambda: L.LeakyReLU(alpha=0.1), (2, 5)),
    ("sigmoid", lambda: L.Sigmoid(), (2, 3, 4)),
    ("tanh", lambda: L.Tanh(), (2, 3, 4)),
    ("softmax", lambda: L.Softmax(), (3, 5)),
    ("softmax_axis1", lambda: L.Softmax(axis=1), (2, 3, 4)),
    ("batchnorm_eval_2d", lambda: L.BatchNormalization(), (3, 4)),
    ("batchnorm_eval_4d", lambda: L.BatchNormalization(), (2, 3, 2, 2)),
]


@pytest.mark.parametrize("make, x_shape", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradients(make, x_shape):
    layer = make()
    state = None
    if isinstance(layer, L.BatchNormalization):
        state = [np.array([0.2, -0.1, 0.3, 0.05])[: x_shape[1]], np.array([0.5, 2.0, 1.5, 0.9])[: x_shape[1]]]
    check_gradients(layer, x_shape, state=state)


ACTIVATIONS = [None, "linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_conv2d_activation_gradients(activation):
    check_gradients(L.Conv2D(3, 2, padding="same", activation=activation), (2, 2, 3, 3))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_conv1d_activation_gradients(activation):
    check_gradients(L.Dense(4, activation=activation), (3, 5))
    check_gradients(L.Conv1D(2, 3, activation=activation), (2, 2, 5))


def test_activation_applied_inside_layer():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    plain = L.Conv2D(4, 3, seed=3)
    relu = L.Conv2D(4, 3, seed=3, activation="relu")
    np.testing.assert_array_equal(relu(x), np.maximum(plain(x), 0))
    soft = L.Dense(4, activation="softmax", seed=1)(x.reshape(2, -1))
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("x_shape", [(4, 3), (3, 2, 4), (2, 3, 2, 3)], ids=["NC", "NCL", "NCHW"])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batchnorm_training_gradients(x_shape, center, scale):
    """The gradient flows through the batch mean and variance."""
    check_gradients(L.BatchNormalization(center=center, scale=scale), x_shape, training=True)


def test_batchnorm_channels_last_axis():
    check_gradients(L.BatchNormalization(axis=-1), (3, 4, 2), training=True)
    bn = L.BatchNormalization(axis=-1)
    bn.build((4, 2))
    assert bn.gamma.shape == (2,)


def test_batchnorm_statistics():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, 3, 4, 4)) * [[[[2.0]], [[0.5]], [[1.0]]]] + 3).astype(np.float32)
    bn = L.BatchNormalization(momentum=0.9)
    y = bn(x, training=True)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(
        y.var(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) / (x.var(axis=(0, 2, 3)) + 1e-3), rtol=1e-4
    )
    np.testing.assert_allclose(bn.moving_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance, 0.9 + 0.1 * x.var(axis=(0, 2, 3)), rtol=1e-5)
    assert bn.state[0] is bn.moving_mean and bn.count_params() == 6
    # inference uses the moving statistics and leaves them alone
    before = [s.copy() for s in bn.state]
    y_eval = bn(x)
    expected = (x - bn.moving_mean[:, None, None]) / np.sqrt(bn.moving_variance[:, None, None] + 1e-3)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(before, bn.state):
        np.testing.assert_array_equal(a, b)
    # a second training step moves the statistics on from where they are
    x2 = rng.standard_normal((8, 3, 4, 4)).astype(np.float32) - 1
    bn(x2, training=True)
    np.testing.assert_allclose(bn.moving_mean, 0.9 * before[0] + 0.1 * x2.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance, 0.9 * before[1] + 0.1 * x2.var(axis=(0, 2, 3)), rtol=1e-5)


# ------------------------------------------------------------------- dropout


def test_dropout():
    x = np.ones((50, 40), np.float32)
    a, b = L.Dropout(0.25, seed=7), L.Dropout(0.25, seed=7)
    ya, yb = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(ya, yb)  # seeded: deterministic
    assert ya.dtype == np.float32
    assert set(np.unique(ya)) <= {0.0, np.float32(1 / 0.75)}  # inverted scaling
    assert abs((ya == 0).mean() - 0.25) < 0.03
    dx = a.backward(np.full_like(x, 2))
    np.testing.assert_array_equal(dx, 2 * ya)  # same mask backward
    assert not np.array_equal(a(x, training=True), ya)  # a fresh mask each call
    np.testing.assert_array_equal(a(x), x)  # identity in inference
    np.testing.assert_array_equal(a.backward(x), x)
    np.testing.assert_array_equal(L.Dropout(0.0)(x, training=True), x)
    with pytest.raises(ValueError, match="rate"):
        L.Dropout(1.0)


# ---------------------------------------------------------- shapes and errors


def test_float32_preserved():
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    model = [
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.MaxPool2D(),
        L.Conv2D(4, 3, groups=2),
        L.GlobalAvgPool2D(),
        L.Dense(3),
        L.Dropout(0.5, seed=0),
        L.Softmax(),
    ]
    for layer in model:
        x = layer(x, training=True)
        assert x.dtype == np.float32, layer.name
        assert all(p.dtype == np.float32 for p in layer.params)
    dout = np.ones_like(x)
    for layer in reversed(model):
        dout = layer.backward(dout)
        assert dout.dtype == np.float32, layer.name
        assert all(g.dtype == np.float32 for g in layer.grads)
    assert dout.shape == (2, 4, 6, 6)


def test_dtype_argument():
    layer = L.Dense(3, dtype="float64")
    y = layer(np.ones((2, 4), np.float32))
    assert layer.kernel.dtype == np.float64 and y.dtype == np.float64


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (lambda: L.Conv2D(2, 3), (3, 5), "per-sample input"),
        (lambda: L.Conv2D(2, 3, groups=2), (3, 5, 5), "groups"),
        (lambda: L.Conv2D(2, 7), (3, 5, 5), "too small"),
        (lambda: L.Conv1D(2, 3), (3, 5, 5), "per-sample input"),
        (lambda: L.Dense(2), (3, 4, 4), "Flatten"),
        (lambda: L.MaxPool2D(4), (1, 3, 3), "too small"),
        (lambda: L.AvgPool1D(2), (3,), "per-sample input"),
        (lambda: L.GlobalAvgPool2D(), (3, 4), "per-sample input"),
        (lambda: L.BatchNormalization(axis=3), (3, 4), "axis"),
        (lambda: L.Input((3, 4)), (3, 5), "expects"),
    ],
)
def test_build_rejects_bad_shapes(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make().build(shape)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        L.Dense(2, activation="swishy")
    with pytest.raises(ValueError, match="groups"):
        L.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        L.Conv2D(3, 3, padding="full")
    with pytest.raises(ValueError, match="initializer"):
        L.Conv2D(3, 3, kernel_initializer="nope")
    with pytest.raises(RuntimeError, match="before backward"):
        L.ReLU().backward(np.ones(3))


@pytest.mark.parametrize(
    "make, in_shape, out_shape",
    [
        (lambda: L.Conv2D(8, 3, padding="same", strides=2), (3, 7, 8), (8, 4, 4)),
        (lambda: L.Conv2D(8, 3, dilation_rate=2), (3, 7, 8), (8, 3, 4)),
        (lambda: L.Conv1D(5, 4, padding=1), (2, 10), (5, 9)),
        (lambda: L.MaxPool2D(), (3, 7, 8), (3, 3, 4)),
        (lambda: L.MaxPool2D(padding="same"), (3, 7, 8), (3, 4, 4)),
        (lambda: L.AvgPool1D(3, strides=1), (2, 10), (2, 8)),
        (lambda: L.GlobalMaxPool1D(), (2, 10), (2,)),
        (lambda: L.Flatten(), (3, 7, 8), (168,)),
        (lambda: L.Dense(6), (10,), (6,)),
    ],
)
def test_output_shape(make, in_shape, out_shape):
    layer = make()
    assert layer.output_shape(in_shape) == out_shape
    y = layer(np.zeros((2,) + in_shape, np.float32))
    assert y.shape == (2,) + out_shape


def test_params_count_flops_names():
    conv = L.Conv2D(8, 3, groups=2, padding="same")
    conv.build((4, 6, 6))
    assert conv.kernel.shape == (8, 2, 3, 3) and conv.bias.shape == (8,)
    assert conv.count_params() == 8 * 2 * 9 + 8
    assert conv.params == [conv.kernel, conv.bias]
    assert conv.flops((4, 6, 6)) == 2 * (8 * 6 * 6) * (2 * 9)
    dense = L.Dense(5, use_bias=False)
    dense.build((7,))
    assert dense.kernel.shape == (7, 5) and dense.count_params() == 35
    assert dense.flops((7,)) == 70 and len(dense.params) == 1
    assert L.ReLU().flops((3, 4)) == 0
    assert L.Conv1D(4, 3, strides=2).flops((2, 9)) == 2 * (4 * 4) * (2 * 3)
    unbuilt = L.Conv2D(2, 3)
    assert unbuilt.params == [] and unbuilt.grads == []
    with pytest.raises(ValueError, match="not built"):
        unbuilt.count_params()
    assert unbuilt.astype(np.float64)(np.ones((1, 1, 3, 3))).dtype == np.float64
    a, b = L.Conv2D(2, 3), L.Conv2D(2, 3)
    assert a.name != b.name and a.name.startswith("conv2d")
    assert L.Dense(2, name="head").name == "head"


# ------------------------------------------------------------- config round trip

CONFIG_CASES = [
    (lambda: L.Input((3, 8, 8)), (3, 8, 8)),
    (
        lambda: L.Conv2D(
            4,
            (3, 2),
            strides=2,
            padding="same",
            dilation_rate=1,
            groups=1,
            activation="relu",
            use_bias=False,
            kernel_initializer="he_normal",
            seed=5,
        ),
        (2, 8, 8),
    ),
    (lambda: L.Conv1D(4, 3, padding=1, groups=2, activation="tanh", seed=2), (2, 9)),
    (lambda: L.MaxPool2D((2, 3), strides=1, padding="same"), (2, 5, 5)),
    (lambda: L.AvgPool1D(3, padding="same"), (2, 7)),
    (lambda: L.GlobalMaxPool2D(), (2, 5, 5)),
    (lambda: L.Dense(3, activation="softmax", kernel_initializer="lecun_normal", seed=9), (6,)),
    (lambda: L.Flatten(), (2, 3)),
    (lambda: L.Dropout(0.3, seed=4), (5,)),
    (lambda: L.BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-5, center=False), (3, 4)),
    (lambda: L.LeakyReLU(alpha=0.2), (4,)),
    (lambda: L.Softmax(axis=1), (3, 4)),
]


@pytest.mark.parametrize(
    "make, shape",
    CONFIG_CASES,
    ids=[
        "input",
        "conv2d",
        "conv1d",
        "maxpool2d",
        "avgpool1d",
        "globalmax2d",
        "dense",
        "flatten",
        "dropout",
        "batchnorm",
        "leaky_relu",
        "softmax",
    ],
)
def test_config_round_trip(make, shape):
    layer = make()
    config = layer.get_config()
    clone = L.layer_from_config(type(layer).__name__, config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config
    layer.build(shape)
    clone.build(shape)
    for a, b in zip(layer.get_weights(), clone.get_weights()):  # seeded: same weights
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).standard_normal((2,) + shape).astype(np.float32)
    np.testing.assert_array_equal(layer(x), clone(x))


def test_registry_and_weights():
    assert L.LAYERS["MaxPooling2D"] is L.MaxPool2D
    assert isinstance(L.layer_from_config("GlobalAveragePooling1D", {}), L.GlobalAvgPool1D)
    with pytest.raises(ValueError, match="unknown layer"):
        L.layer_from_config("Conv3D", {})
    bn = L.BatchNormalization()
    bn.build((3,))
    bn.set_weights([np.full(3, 2.0), np.full(3, 1.0), np.full(3, 0.5), np.full(3, 4.0)])
    assert bn.gamma.dtype == np.float32 and bn.moving_variance[0] == 4.0
    with pytest.raises(ValueError, match="shape"):
        bn.set_weights([np.ones(2)] * 4)


# ---------------------------------------------------------------- initializers


@pytest.mark.parametrize(
    "name, variance",
    [
        ("glorot_uniform", lambda fi, fo: 2 / (fi + fo)),
        ("glorot_normal", lambda fi, fo: 2 / (fi + fo)),
        ("he_uniform", lambda fi, fo: 2 / fi),
        ("he_normal", lambda fi, fo: 2 / fi),
        ("lecun_uniform", lambda fi, fo: 1 / fi),
        ("lecun_normal", lambda fi, fo: 1 / fi),
    ],
)
def test_initializer_statistics(name, variance):
    init = initializers.get(name)
    for shape, (fan_in, fan_out) in [((128, 64, 3, 3), (64 * 9, 128 * 9)), ((600, 300), (600, 300))]:
        assert initializers.compute_fans(shape) == (fan_in, fan_out)
        w = init(shape, seed=0)
        assert w.shape == shape and w.dtype == np.float32
        target = variance(fan_in, fan_out)
        assert abs(w.var() / target - 1) < 0.03, (shape, w.var(), target)
        assert abs(w.mean()) < 0.02 * np.sqrt(target)
        bound = np.sqrt(3 * target) if "uniform" in name else 2 * np.sqrt(target) / 0.87962566103423978
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        np.testing.assert_array_equal(w, init(shape, seed=0))  # reproducible
        assert not np.array_equal(w, init(shape, seed=1))
    assert init((3, 4), dtype=np.float64).dtype == np.float64


def test_initializer_fans_get():
    assert initializers.compute_fans((16, 4, 3, 3)) == (36, 144)  # grouped conv: C_in/groups
    assert initializers.compute_fans((8, 2, 5)) == (10, 40)  # conv1d
    assert initializers.compute_fans((7,)) == (7, 7)
    np.testing.assert_array_equal(initializers.zeros((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(initializers.ones((2,)), np.ones(2, np.float32))
    assert initializers.get("HeNormal") is initializers.he_normal
    assert initializers.get(initializers.ones) is initializers.ones
    with pytest.raises(ValueError, match="unknown initializer"):
        initializers.get("orthogonalish")
    conv = L.Conv2D(16, 3, kernel_initializer="he_uniform", seed=3)
    conv.build((8, 5, 5))
    assert np.abs(conv.kernel).max() <= np.sqrt(6 / 72) and conv.bias.sum() == 0


# ---------------------------------------------------------------- PyTorch twins


def _twin_data(dtype, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _t(torch, a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def _close(actual, expected, dtype, what):
    assert_close(
        actual,
        np.asarray(expected.detach().numpy() if hasattr(expected, "detach") else expected),
        what,
        tol=TWIN_TOL[dtype],
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kw, torch_kw",
    [
        (dict(kernel_size=3), dict(kernel_size=3)),
        (dict(kernel_size=3, padding="same"), dict(kernel_size=3, padding="same")),
        (dict(kernel_size=(2, 4), padding="same"), dict(kernel_size=(2, 4), padding="same")),
        (dict(kernel_size=(3, 2), strides=2, padding=1), dict(kernel_size=(3, 2), stride=2, padding=1)),
        (dict(kernel_size=3, dilation_rate=2, padding=2), dict(kernel_size=3, dilation=2, padding=2)),
        (dict(kernel_size=3, groups=2, use_bias=False), dict(kernel_size=3, groups=2, bias=False)),
    ],
)
def test_torch_conv2d(dtype, kw, torch_kw):
    torch = pytest.importorskip("torch")
    layer = L.Conv2D(6, **kw, seed=0)
    layer.build((4, 9, 8))
    layer.astype(dtype)
    twin = torch.nn.Conv2d(4, 6, **torch_kw).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.kernel))
        if layer.use_bias:
            layer.bias[...] = np.linspace(-1, 1, 6)
            twin.bias.copy_(torch.tensor(layer.bias))
    (x,) = _twin_data(dtype, (2, 4, 9, 8))
    xt = _t(torch, x, True)
    yt = twin(xt)
    y = layer(x, training=True)
    _close(y, yt, dtype, "y")
    (dout,) = _twin_data(dtype, y.shape, seed=1)
    yt.backward(torch.tensor(dout))
    _close(layer.backward(dout), xt.grad, dtype, "dx")
    _close(layer.grads[0], twin.weight.grad, dtype, "dkernel")
    if layer.use_bias:
        _close(layer.grads[1], twin.bias.grad, dtype, "dbias")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_conv1d(dtype):
    torch = pytest.importorskip("torch")
    layer = L.Conv1D(4, 3, strides=2, padding=1, dilation_rate=2, groups=2, seed=0)
    layer.build((2, 11))
    layer.astype(dtype)
    layer.bias[...] = [0.1, -0.2, 0.3, 0.4]
    twin = torch.nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.kernel))
        twin.bias.copy_(torch.tensor(layer.bias))
    (x,) = _twin_data(dtype, (3, 2, 11))
    xt = _t(torch, x, True)
    yt = twin(xt)
    y = layer(x)
    _close(y, yt, dtype, "y")
    (dout,) = _twin_data(dtype, y.shape, seed=1)
    yt.backward(torch.tensor(dout))
    _close(layer.backward(dout), xt.grad, dtype, "dx")
    _close(layer.grads[0], twin.weight.grad, dtype, "dkernel")
    _close(layer.grads[1], twin.bias.grad, dtype, "dbias")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax", "leaky_relu"])
def test_torch_dense(dtype, activation):
    torch = pytest.importorskip("torch")
    layer = L.Dense(5, activation=activation, seed=0)
    layer.build((7,))
    layer.astype(dtype)
    layer.bias[...] = np.linspace(-0.5, 0.5, 5)
    twin = torch.nn.Linear(7, 5).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.kernel.T))  # Keras (in, out) vs torch (out, in)
        twin.bias.copy_(torch.tensor(layer.bias))
    act = {
        None: lambda z: z,
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda z: torch.softmax(z, -1),
        "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.3),
    }[activation]
    x, dout = _twin_data(dtype, (4, 7), (4, 5))
    xt = _t(torch, x, True)
    yt = act(twin(xt))
    _close(layer(x), yt, dtype, "y")
    yt.backward(torch.tensor(dout))
    _close(layer.backward(dout), xt.grad, dtype, "dx")
    _close(layer.grads[0], twin.weight.grad.T, dtype, "dkernel")
    _close(layer.grads[1], twin.bias.grad, dtype, "dbias")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape", [(8, 3), (4, 3, 5), (4, 3, 4, 5)], ids=["NC", "NCL", "NCHW"])
def test_torch_batchnorm(dtype, x_shape):
    torch = pytest.importorskip("torch")
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    momentum = 0.9
    layer = L.BatchNormalization(momentum=momentum, epsilon=1e-3)
    layer.build(x_shape[1:])
    layer.astype(dtype)
    layer.gamma[...] = [0.5, 1.5, -1.0]
    layer.beta[...] = [0.1, 0.0, -0.3]
    module = torch.nn.BatchNorm1d if len(x_shape) < 4 else torch.nn.BatchNorm2d
    twin = module(3, eps=1e-3, momentum=1 - momentum).to(tdtype)
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.gamma))
        twin.bias.copy_(torch.tensor(layer.beta))
    x, dout = _twin_data(dtype, x_shape, x_shape)
    x = x * 2 + 1
    xt = _t(torch, x, True)
    yt = twin.train()(xt)
    _close(layer(x, training=True), yt, dtype, "y train")
    yt.backward(torch.tensor(dout))
    _close(layer.backward(dout), xt.grad, dtype, "dx train")
    _close(layer.grads[0], twin.weight.grad, dtype, "dgamma")
    _close(layer.grads[1], twin.bias.grad, dtype, "dbeta")
    _close(layer.moving_mean, twin.running_mean, dtype, "moving mean")
    # torch tracks the unbiased variance, Keras (and we) the biased one
    reduce = tuple(i for i in range(x.ndim) if i != 1)
    n = x.size // 3
    var = x.astype(np.float64).var(axis=reduce)
    _close(layer.moving_variance, (momentum + (1 - momentum) * var).astype(dtype), dtype, "moving var")
    _close(
        (momentum + (1 - momentum) * var * n / (n - 1)).astype(dtype),
        twin.running_var,
        dtype,
        "torch running var",
    )
    # inference with the same moving statistics
    with torch.no_grad():
        twin.running_var.copy_(torch.tensor(layer.moving_variance))
    xt = _t(torch, x, True)
    yt = twin.eval()(xt)
    _close(layer(x), yt, dtype, "y eval")
    yt.backward(torch.tensor(dout))
    _close(layer.backward(dout), xt.grad, dtype, "dx eval")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "layer_fn, torch_fn",
    [
        (lambda: L.MaxPool2D(), lambda F, x: F.max_pool2d(x, 2)),
        (lambda: L.MaxPool2D(3, strides=2), lambda F, x: F.max_pool2d(x, 3, 2)),
        (lambda: L.AvgPool2D((2, 3), strides=1), lambda F, x: F.avg_pool2d(x, (2, 3), 1)),
        # 'same' with kernel 3 stride 1 pads 1 on each side; Keras' average ignores the padding
        (
            lambda: L.AvgPool2D(3, strides=1, padding="same"),
            lambda F, x: F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False),
        ),
        (lambda: L.MaxPool2D(3, strides=1, padding="same"), lambda F, x: F.max_pool2d(x, 3, 1, padding=1)),
        (lambda: L.MaxPool1D(3, strides=2), lambda F, x: F.max_pool1d(x, 3, 2)),
        (lambda: L.AvgPool1D(2), lambda F, x: F.avg_pool1d(x, 2)),
        (
            lambda: L.AvgPool1D(3, strides=1, padding="same"),
            lambda F, x: F.avg_pool1d(x, 3, 1, padding=1, count_include_pad=False),
        ),
        (lambda: L.GlobalAvgPool2D(), lambda F, x: x.mean(dim=(2, 3))),
        (lambda: L.GlobalMaxPool2D(), lambda F, x: x.amax(dim=(2, 3))),
        (lambda: L.GlobalAvgPool1D(), lambda F, x: x.mean(dim=2)),
        (lambda: L.GlobalMaxPool1D(), lambda F, x: x.amax(dim=2)),
        (lambda: L.LeakyReLU(negative_slope=0.2), lambda F, x: F.leaky_relu(x, 0.2)),
        (lambda: L.Sigmoid(), lambda F, x: x.sigmoid()),
        (lambda: L.Tanh(), lambda F, x: x.tanh()),
        (lambda: L.Softmax(axis=1), lambda F, x: F.softmax(x, 1)),
    ],
)
def test_torch_parameter_free(dtype, layer_fn, torch_fn):
    torch = pytest.importorskip("torch")
    layer = layer_fn()
    shape = (2, 3, 7) if "1D" in type(layer).__name__ else (2, 3, 7, 6)
    x = distinct(np.random.default_rng(0), shape, dtype)  # no ties for max
    xt = _t(torch, x, True)
    yt = torch_fn(torch.nn.functional, xt)
    y = layer(x, training=True)
    _close(y, yt, dtype, "y")
    (dout,) = _twin_data(dtype, y.shape, seed=1)
    yt.backward(torch.tensor(dout))
    _close(layer.backward(dout), xt.grad, dtype, "dx")
