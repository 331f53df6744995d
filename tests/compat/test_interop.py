"""Weight import: fastcnn.from_torch_state_dict and fastcnn.from_keras_weights.

PyTorch: the same network built in both, weights loaded from the torch
state_dict, outputs compared on random input (float32, 1e-5 relative).
Keras (not installed): arrays in Keras' layouts are made by transposing a known
fastcnn model's weights, and the loaded model is checked against an explicit
channels-last (NHWC / NLC) NumPy forward that flattens in Keras' (H, W, C) order.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import fastcnn
from fastcnn import Sequential, from_keras_weights, from_torch_state_dict, layers as L

REL = 1e-5


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny shapes: one thread is as fast and keeps this file quick on a busy machine
    (conftest restores the thread count after each test)."""
    fastcnn.set_num_threads(1)


def assert_rel(actual, expected, rel=REL):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    err = np.max(np.abs(actual - expected))
    assert err <= rel * np.max(np.abs(expected)), f"max abs error {err:.3g}"


def randomize(model, seed):
    """Random parameters and BatchNorm statistics (moving variance positive)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name in layer.param_names + layer.state_names:
            value = getattr(layer, name)
            new = rng.standard_normal(value.shape) * (0.5 if name == "kernel" else 0.3)
            if name == "moving_variance":
                new = rng.uniform(0.5, 2.0, value.shape)
            if name == "gamma":
                new = rng.uniform(0.5, 1.5, value.shape)
            setattr(layer, name, new.astype(layer.dtype))
    return model


# ---------------------------------------------------------------------- PyTorch


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def randomize_torch(net, torch):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.3)
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def torch_out(net, x, torch):
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def conv2d_pair(torch):
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3, stride=2, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 20),
        nn.ReLU(),
        nn.Linear(20, 5),
    )
    ours = Sequential(
        [
            L.Input((3, 12, 10)),
            L.Conv2D(8, 3, padding=1),
            L.BatchNormalization(epsilon=1e-5),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Conv2D(6, 3, strides=2, use_bias=False),
            L.BatchNormalization(epsilon=1e-5),
            L.ReLU(),
            L.Flatten(),
            L.Dense(20, activation="relu"),
            L.Dense(5),
        ]
    )
    return randomize_torch(net, torch), ours


@pytest.mark.parametrize("as_numpy", [False, True], ids=["tensors", "arrays"])
def test_torch_conv2d_bn_pool_dense(torch, as_numpy):
    net, ours = conv2d_pair(torch)
    state = net.state_dict()
    assert "1.num_batches_tracked" in state
    if as_numpy:
        state = {k: v.numpy() for k, v in state.items()}
    assert from_torch_state_dict(ours, state) is ours
    x = np.random.default_rng(0).standard_normal((4, 3, 12, 10)).astype(np.float32)
    y = ours(x)
    assert y.dtype == np.float32
    assert_rel(y, torch_out(net, x, torch))


def test_torch_module_with_named_children(torch):
    """The PyTorch tutorial's CNN: a custom Module, functional relu and pooling."""
    nn, tf = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 5)
            self.conv2 = nn.Conv2d(4, 8, 3, groups=2)
            self.fc1 = nn.Linear(8 * 3 * 3, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = tf.max_pool2d(tf.relu(self.conv1(x)), 2)
            x = tf.max_pool2d(tf.relu(self.conv2(x)), 2)
            return self.fc2(tf.relu(self.fc1(torch.flatten(x, 1))))

    net = Net().eval()
    ours = Sequential(
        [
            L.Input((1, 20, 20)),
            L.Conv2D(4, 5, activation="relu"),
            L.MaxPool2D(2),
            L.Conv2D(8, 3, groups=2, activation="relu"),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(16, activation="relu"),
            L.Dense(10),
        ]
    )
    from_torch_state_dict(ours, net.state_dict())
    x = np.random.default_rng(1).standard_normal((3, 1, 20, 20)).astype(np.float32)
    assert_rel(ours(x), torch_out(net, x, torch))


def test_torch_conv1d(torch):
    nn = torch.nn
    net = randomize_torch(
        nn.Sequential(
            nn.Conv1d(2, 4, 5, padding=2),
            nn.BatchNorm1d(4),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(4, 6, 3, stride=2, groups=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(6 * 7, 12),
            nn.BatchNorm1d(12),
            nn.Linear(12, 3),
        ),
        torch,
    )
    ours = Sequential(
        [
            L.Input((2, 30)),
            L.Conv1D(4, 5, padding=2),
            L.BatchNormalization(epsilon=1e-5),
            L.ReLU(),
            L.MaxPool1D(2),
            L.Conv1D(6, 3, strides=2, groups=2, activation="relu"),
            L.Flatten(),
            L.Dense(12),
            L.BatchNormalization(epsilon=1e-5),
            L.Dense(3),
        ]
    )
    from_torch_state_dict(ours, net.state_dict())
    x = np.random.default_rng(2).standard_normal((5, 2, 30)).astype(np.float32)
    assert_rel(ours(x), torch_out(net, x, torch))


def test_torch_float64_model(torch):
    net, _ = conv2d_pair(torch)
    ours = Sequential(
        [
            L.Input((3, 12, 10)),
            L.Conv2D(8, 3, padding=1, dtype="float64"),
            L.BatchNormalization(epsilon=1e-5, dtype="float64"),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Conv2D(6, 3, strides=2, use_bias=False, dtype="float64"),
            L.BatchNormalization(epsilon=1e-5, dtype="float64"),
            L.ReLU(),
            L.Flatten(),
            L.Dense(20, activation="relu", dtype="float64"),
            L.Dense(5, dtype="float64"),
        ]
    )
    from_torch_state_dict(ours, net.state_dict())
    assert all(p.dtype == np.float64 for p in ours.params)
    x = np.random.default_rng(3).standard_normal((2, 3, 12, 10))
    assert_rel(ours(x), torch_out(net.double(), x, torch), 1e-12)


def test_torch_mismatches_raise_and_leave_the_model_unchanged(torch):
    nn = torch.nn
    net, ours = conv2d_pair(torch)
    before = ours.get_weights()
    bad = dict(net.state_dict())
    bad["8.weight"] = torch.zeros(20, 25)  # Linear in_features wrong
    with pytest.raises(ValueError, match=r"dense.*kernel.*\(24, 20\).*'8.weight'.*\(20, 25\)"):
        from_torch_state_dict(ours, bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, ours.get_weights()))

    short = {k: v for k, v in net.state_dict().items() if not k.startswith("9")}
    short = {k: v for k, v in short.items() if not k.startswith("10")}
    with pytest.raises(ValueError, match="5 modules with weights.*6 layers"):
        from_torch_state_dict(ours, short)

    swapped = nn.Sequential(
        nn.Linear(3, 8),
        nn.BatchNorm1d(8),
        nn.Conv2d(8, 6, 3),
        nn.BatchNorm2d(6),
        nn.Linear(24, 20),
        nn.Linear(20, 5),
    )
    with pytest.raises(ValueError, match="conv2d.*PyTorch module '0'.*linear"):
        from_torch_state_dict(ours, swapped.state_dict())

    no_bias = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 6, 3, stride=2, bias=False),
        nn.BatchNorm2d(6),
        nn.Linear(24, 20),
        nn.Linear(20, 5),
    )
    with pytest.raises(ValueError, match=r"expects \['bias', 'weight'\].*has \['weight'\]"):
        from_torch_state_dict(ours, no_bias.state_dict())

    with pytest.raises(ValueError, match="not a Conv1d, Conv2d, Linear or BatchNorm"):
        from_torch_state_dict(ours, nn.Sequential(nn.LayerNorm(4)).state_dict())

    unbuilt = Sequential([L.Conv2D(4, 3), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        from_torch_state_dict(unbuilt, {})


# ------------------------------------------------------------------------ Keras


def keras_layout(model, channels_last=True):
    """The model's weights as Keras' get_weights() would list them for the
    same network in channels_last format (written independently of interop)."""
    out, flat_shape = [], None
    for layer in model.layers:
        if isinstance(layer, L.Flatten):
            flat_shape = layer.input_shape if channels_last and len(layer.input_shape) > 1 else None
            continue
        for name in layer.param_names + layer.state_names:
            w = getattr(layer, name)
            if name == "kernel" and isinstance(layer, L.Conv2D):
                w = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
            elif name == "kernel" and isinstance(layer, L.Conv1D):
                w = w.transpose(2, 1, 0)  # OIW -> WIO
            elif flat_shape is not None and (name == "kernel" or isinstance(layer, L.BatchNormalization)):
                c, spatial = flat_shape[0], flat_shape[1:]
                w = w.reshape((c,) + spatial + w.shape[1:])  # rows (C, *S) ...
                w = np.moveaxis(w, 0, len(spatial))  # ... to (*S, C)
                w = w.reshape((-1,) + w.shape[len(spatial) + 1 :])
            out.append(np.array(w))
        if isinstance(layer, L.Dense):
            flat_shape = None
    return out


def keras2d_model(seed=None):
    return Sequential(
        [
            L.Input((3, 9, 8)),
            L.Conv2D(5, 3, padding="same"),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Conv2D(4, (2, 3)),
            L.Flatten(),
            L.BatchNormalization(),
            L.Dense(7, activation="relu"),
            L.Dense(3),
        ]
    )


def keras1d_model():
    return Sequential(
        [
            L.Input((2, 17)),
            L.Conv1D(4, 3, padding="same", activation="relu"),
            L.MaxPool1D(2),
            L.Conv1D(3, 2, strides=2),
            L.Flatten(),
            L.Dense(6, activation="relu"),
            L.Dense(2),
        ]
    )


def nhwc_conv(x, kernel, bias, pad=((0, 0), (0, 0)), stride=1):
    """Keras' channels-last convolution: x (N, H, W, C), kernel (KH, KW, C, O),
    pad ((top, bottom), (left, right))."""
    kh, kw = kernel.shape[:2]
    x = np.pad(x, ((0, 0),) + tuple(pad) + ((0, 0),))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias


def batchnorm(x, gamma, beta, mean, var, eps=1e-3):
    """Inference BatchNorm over the last axis (Keras' channels-last default)."""
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def keras2d_forward(weights, x_nhwc):
    """The keras2d_model network, channels-last, from Keras-layout weights, in float64."""
    w = [np.asarray(a, np.float64) for a in weights]
    h = nhwc_conv(x_nhwc, w[0], w[1], pad=((1, 1), (1, 1)))  # 'same' for 3x3
    h = np.maximum(batchnorm(h, *w[2:6]), 0)
    n, hh, ww, c = h.shape
    h = h[:, : hh // 2 * 2, : ww // 2 * 2].reshape(n, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))
    h = nhwc_conv(h, w[6], w[7])
    h = h.reshape(n, -1)  # Keras Flatten: (H, W, C)
    h = batchnorm(h, *w[8:12])
    h = np.maximum(h @ w[12] + w[13], 0)
    return h @ w[14] + w[15]


def keras1d_forward(weights, x_nlc):
    w = [np.asarray(a, np.float64) for a in weights]
    h = nhwc_conv(x_nlc[:, None], w[0][None], w[1], pad=((0, 0), (1, 1)))[:, 0]
    h = np.maximum(h, 0)
    n, length, c = h.shape
    h = h[:, : length // 2 * 2].reshape(n, length // 2, 2, c).max(axis=2)
    h = nhwc_conv(h[:, None], w[2][None], w[3], stride=2)[:, 0]
    h = h.reshape(n, -1)  # (L, C) order
    h = np.maximum(h @ w[4] + w[5], 0)
    return h @ w[6] + w[7]


def test_keras_roundtrip_2d():
    source = randomize(keras2d_model(), 0)
    arrays = keras_layout(source)
    assert arrays[0].shape == (3, 3, 3, 5) and arrays[6].shape == (2, 3, 5, 4)
    assert arrays[12].shape == (4 * 3 * 2, 7)
    target = randomize(keras2d_model(), 1)
    assert from_keras_weights(target, arrays) is target
    for a, b in zip(source.get_weights(), target.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "make, forward, shape",
    [(keras2d_model, keras2d_forward, (3, 9, 8)), (keras1d_model, keras1d_forward, (2, 17))],
    ids=["conv2d", "conv1d"],
)
def test_keras_weights_give_the_channels_last_forward(make, forward, shape):
    """Keras-layout arrays loaded into fastcnn compute what the channels-last network
    computes on the same data, Flatten order (H, W, C) included."""
    arrays = keras_layout(randomize(make(), 2))
    model = from_keras_weights(make(), arrays)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4,) + shape).astype(np.float32)
    channels_last = np.moveaxis(x, 1, -1).astype(np.float64)
    assert_rel(model(x), forward(arrays, channels_last))


def test_keras_flatten_permutation_is_needed():
    """Without the row permutation the outputs differ: the test above really checks it."""
    arrays = keras_layout(randomize(keras2d_model(), 4))
    permuted = from_keras_weights(keras2d_model(), arrays)
    plain = from_keras_weights(keras2d_model(), arrays, channels_last=False)
    assert not np.array_equal(permuted.layers[7].kernel, plain.layers[7].kernel)
    assert np.array_equal(plain.layers[7].kernel, arrays[12])
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 8)).astype(np.float32)
    assert not np.allclose(permuted(x), plain(x), rtol=1e-3)


def test_keras_weights_into_a_channels_last_model_need_no_permutation():
    """A fastcnn model built channels-last (as in Keras) takes the arrays as they are
    and computes Keras' channels-last forward on channels-last data directly."""
    arrays = keras_layout(randomize(keras2d_model(), 8))
    last = "channels_last"
    model = from_keras_weights(
        Sequential(
            [
                L.Input((9, 8, 3)),
                L.Conv2D(5, 3, padding="same", data_format=last),
                L.BatchNormalization(axis=-1),
                L.ReLU(),
                L.MaxPool2D(2, data_format=last),
                L.Conv2D(4, (2, 3), data_format=last),
                L.Flatten(),
                L.BatchNormalization(),
                L.Dense(7, activation="relu"),
                L.Dense(3),
            ]
        ),
        arrays,
    )
    assert np.array_equal(model.layers[7].kernel, arrays[12])
    x = np.random.default_rng(9).standard_normal((3, 9, 8, 3)).astype(np.float32)
    assert_rel(model(x), keras2d_forward(arrays, x.astype(np.float64)))


def test_keras_channels_first_needs_no_permutation():
    source = randomize(keras2d_model(), 6)
    target = from_keras_weights(
        keras2d_model(), keras_layout(source, channels_last=False), channels_last=False
    )
    for a, b in zip(source.get_weights(), target.get_weights()):
        assert np.array_equal(a, b)


def test_keras_bn_options_and_float64():
    model = Sequential(
        [
            L.Input((4,)),
            L.BatchNormalization(scale=False, dtype="float64"),
            L.Dense(2, use_bias=False, dtype="float64"),
        ]
    )
    beta, mean, var, kernel = (np.arange(4.0), np.ones(4), np.full(4, 2.0), np.arange(8.0).reshape(4, 2))
    from_keras_weights(model, [beta, mean, var, kernel])
    bn, dense = model.layers
    assert np.array_equal(bn.beta, beta) and np.array_equal(bn.moving_variance, var)
    assert dense.kernel.dtype == np.float64 and np.array_equal(dense.kernel, kernel)


def test_keras_mismatches_raise_and_leave_the_model_unchanged():
    model = randomize(keras2d_model(), 7)
    before = model.get_weights()
    arrays = keras_layout(model)
    bad = list(arrays)
    bad[6] = np.zeros((3, 2, 5, 4))  # (KW, KH) swapped
    with pytest.raises(
        ValueError,
        match=r"conv2d.*kernel.*\(4, 5, 2, 3\).*weights\[6\] "
        r"\(3, 2, 5, 4\)",
    ):
        from_keras_weights(model, bad)
    with pytest.raises(ValueError, match="kernel must be 4-D"):
        from_keras_weights(model, [np.zeros((3, 5))] + arrays[1:])
    with pytest.raises(ValueError, match=r"dense.*needs 2 arrays.*only 1"):
        from_keras_weights(model, arrays[:-1])
    with pytest.raises(ValueError, match=r"1 Keras arrays left over.*\(3,\)"):
        from_keras_weights(model, arrays + [np.zeros(3)])
    bad = list(arrays)
    bad[12] = np.zeros((25, 7))  # Dense rows after Flatten
    with pytest.raises(ValueError, match=r"kernel must have shape \(24, 7\).*\(25, 7\)"):
        from_keras_weights(model, bad)
    for a, b in zip(before, model.get_weights()):
        assert np.array_equal(a, b)


def test_exported_from_the_package():
    assert fastcnn.from_torch_state_dict is from_torch_state_dict
    assert fastcnn.from_keras_weights is from_keras_weights


def keras_graph_model():
    """A residual graph with depthwise, separable and transposed convolutions."""
    import fastcnn

    inputs = fastcnn.Input((3, 8, 8))
    h = L.ReLU()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(inputs)))
    branch = L.SeparableConv2D(4, 3, padding="same")(
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(h)
    )
    up = L.Conv2DTranspose(3, 2, strides=2)(L.Add()([h, branch]))
    out = L.Dense(5)(L.Flatten()(L.MaxPool2D(4)(up)))
    return fastcnn.Model(inputs, out)


def keras_graph_weights(rng):
    """Keras-layout weights of keras_graph_model, drawn directly (conv, bn,
    depthwise, separable, transposed conv, dense), with Keras' layer names."""
    r = lambda *shape: rng.standard_normal(shape) * 0.5  # noqa: E731
    return {
        "conv": [r(3, 3, 3, 4), r(4)],
        "bn": [r(4) + 1, r(4), r(4), np.abs(r(4)) + 0.5],
        "depthwise": [r(3, 3, 4, 2), r(8)],
        "separable": [r(3, 3, 8, 1), r(1, 1, 8, 4), r(4)],
        "transpose": [r(2, 2, 3, 4), r(3)],
        "dense": [r(4 * 4 * 3, 5), r(5)],
    }


def keras_graph_forward(w, x):
    """keras_graph_model in NHWC NumPy from Keras-layout weights (Keras' conventions)."""

    def depthwise(x, k, b):  # output channel c * M + m
        windows = sliding_window_view(np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), (3, 3), axis=(1, 2))
        out = np.einsum("nhwcij,ijcm->nhwcm", windows, k)
        return out.reshape(out.shape[:3] + (-1,)) + b

    h = nhwc_conv(x, *w["conv"], pad=((1, 1), (1, 1)))
    h = np.maximum(batchnorm(h, *w["bn"]), 0)
    d = depthwise(h, *w["depthwise"])
    s = depthwise(d, w["separable"][0], 0.0)
    s = nhwc_conv(s, w["separable"][1], w["separable"][2])
    a = h + s
    k, b = w["transpose"]  # (KH, KW, out, in), stride 2, 'valid'
    n, hh, ww, _ = a.shape
    up = np.zeros((n, 2 * hh, 2 * ww, k.shape[2])) + b
    for i in range(2):
        for j in range(2):
            up[:, i::2, j::2] += np.einsum("nhwc,oc->nhwo", a, k[i, j])
    pooled = up.reshape(n, 4, 4, 4, 4, -1).max(axis=(2, 4))
    return pooled.reshape(n, -1) @ w["dense"][0] + w["dense"][1]


def test_keras_weights_into_a_graph_model_flat_and_by_name():
    rng = np.random.default_rng(21)
    weights = keras_graph_weights(rng)
    x = rng.standard_normal((2, 8, 8, 3))
    want = keras_graph_forward(weights, x)
    flat = [a for arrays in weights.values() for a in arrays]
    model = keras_graph_model()
    for layer in model.layers:
        layer.astype(np.float64)
    model.build((3, 8, 8))
    from_keras_weights(model, flat)
    np.testing.assert_allclose(model.predict(x.transpose(0, 3, 1, 2)), want, rtol=1e-9, atol=1e-9)
    by_name = keras_graph_model()
    for layer in by_name.layers:
        layer.astype(np.float64)
    by_name.build((3, 8, 8))
    ours = [layer.name for layer in by_name.layers if layer.param_names]
    from_keras_weights(by_name, dict(reversed(list(zip(ours, weights.values())))))  # any order
    np.testing.assert_allclose(by_name.predict(x.transpose(0, 3, 1, 2)), want, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="no layer with weights named"):
        from_keras_weights(by_name, {"not_a_layer": []})
    bad = dict(zip(ours, weights.values()))
    bad[ours[2]] = [np.zeros((3, 3, 4, 3)), np.zeros(8)]  # depth_multiplier 3, not 2
    with pytest.raises(ValueError, match=r"depthwise.*kernel must have shape \(8, 1, 3, 3\)"):
        from_keras_weights(by_name, bad)
