"""Layers and Sequential with data_format='channels_last' (Keras' default layout).

The same network is built channels-first and channels-last with identical
weights (the Dense after Flatten gets its rows permuted, since Flatten walks
H, W, C instead of C, H, W); outputs, gradients and a few training steps
must agree, and a saved channels-last model must load with its layout.
"""

import numpy as np
import pytest

from fastcnn import Sequential, layers as L, load_model


def net(fmt, flatten):
    axis = -1 if fmt == "channels_last" else 1
    shape = (10, 9, 3) if fmt == "channels_last" else (3, 10, 9)
    head = (
        [L.Flatten(), L.Dense(5, seed=4)]
        if flatten
        else [L.GlobalAvgPool2D(data_format=fmt), L.Dense(5, seed=4)]
    )
    return Sequential(
        [
            L.Input(shape),
            L.Conv2D(6, 3, padding="same", seed=1, data_format=fmt),
            L.BatchNormalization(axis=axis),
            L.ReLU(),
            L.MaxPool2D(2, data_format=fmt),
            L.Conv2D(8, (2, 3), strides=(1, 2), seed=2, activation="relu", data_format=fmt),
            L.AvgPool2D(2, strides=1, padding="same", data_format=fmt),
            *head,
        ]
    )


def copy_weights(first, last, flatten):
    """Channels-first weights into the channels-last twin (conv kernels are shared)."""
    weights = [w.copy() for w in first.get_weights()]
    if flatten:
        dense = weights[-2]  # (C*H*W, 5) in C, H, W row order
        c, h, w = first.layers[-3].output_shape(first.layers[-3].input_shape)
        weights[-2] = dense.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)
    last.set_weights(weights)


@pytest.mark.parametrize("flatten", [False, True], ids=["global_pool", "flatten"])
def test_channels_last_network_equals_channels_first(flatten):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 10, 9)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    first, last = net("channels_first", flatten), net("channels_last", flatten)
    copy_weights(first, last, flatten)
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(last.predict(x_last), first.predict(x), rtol=1e-4, atol=1e-5)
    for model in (first, last):
        model.compile("sgd", "sparse_categorical_crossentropy")
    for _ in range(3):
        loss_first = first.train_on_batch(x, y)
        loss_last = last.train_on_batch(x_last, y)
        np.testing.assert_allclose(loss_last, loss_first, rtol=1e-4)
    np.testing.assert_allclose(last.predict(x_last), first.predict(x), rtol=1e-3, atol=1e-4)


def test_channels_last_shapes_and_errors():
    conv = L.Conv2D(4, 3, data_format="channels_last")
    assert conv.output_shape((10, 12, 3)) == (8, 10, 4)
    conv.build((10, 12, 3))
    assert conv.kernel.shape == (4, 3, 3, 3)
    assert L.MaxPool1D(2, data_format="channels_last").output_shape((9, 5)) == (4, 5)
    assert L.GlobalMaxPool1D(data_format="channels_last").output_shape((9, 5)) == (5,)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        conv.output_shape((10, 12))
    with pytest.raises(ValueError, match="data_format"):
        L.Conv2D(4, 3, data_format="NHWC")


def test_channels_last_model_saves_and_loads(tmp_path):
    model = net("channels_last", flatten=True)
    x = np.random.default_rng(1).standard_normal((2, 10, 9, 3)).astype(np.float32)
    before = model.predict(x)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.layers[0].data_format == "channels_last"
    np.testing.assert_array_equal(loaded.predict(x), before)
