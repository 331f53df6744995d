"""Models used as layers: a base model called in a graph model, a Sequential
inside a Sequential, one model called twice (siamese), save/load."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L


def _base(seed=1):
    inputs = fastcnn.Input((2, 8, 8))
    h = L.Conv2D(4, 3, padding="same", activation="relu", seed=seed)(inputs)
    h = L.BatchNormalization()(h)
    return fastcnn.Model(inputs, L.GlobalAvgPool2D()(h), name="base")


def _flat_twin(seed=1):
    """The same network written without nesting (same seeds, so the same weights)."""
    inputs = fastcnn.Input((2, 8, 8))
    h = L.Conv2D(4, 3, padding="same", activation="relu", seed=seed)(inputs)
    h = L.BatchNormalization()(h)
    return inputs, L.GlobalAvgPool2D()(h)


def _data(n=6):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 2, 8, 8)).astype(np.float32), rng.standard_normal((n, 3)).astype(
        np.float32
    )


def test_nested_model_trains_like_the_flat_network():
    x, y = _data()
    base = _base()
    inputs = fastcnn.Input((2, 8, 8))
    nested = fastcnn.Model(inputs, L.Dense(3, seed=2)(base(inputs)))
    flat_in, flat_features = _flat_twin()
    flat = fastcnn.Model(flat_in, L.Dense(3, seed=2)(flat_features))
    for model in (nested, flat):
        model.compile("adam", "mse", metrics=[])
        model.fit(x, y, epochs=3, batch_size=3, shuffle=False, verbose=0)
    for a, b in zip(nested.get_weights(), flat.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nested.predict(x), flat.predict(x), rtol=1e-5, atol=1e-6)
    assert nested.count_params() == flat.count_params()
    np.testing.assert_allclose(base.get_weights()[0], flat.get_weights()[0], rtol=1e-5, atol=1e-6)


def test_frozen_base_keeps_its_weights():
    x, y = _data()
    base = _base()
    before = [w.copy() for w in base.get_weights()]
    inputs = fastcnn.Input((2, 8, 8))
    features = base(inputs)
    model = fastcnn.Model(inputs, L.Dense(3, seed=2)(features))
    model.layers[0].trainable = False  # Keras: base_model.trainable = False
    assert all(not layer.trainable for layer in base.layers)
    head = model.layers[1].get_weights()[0].copy()
    model.compile("sgd", "mse", metrics=[])
    model.fit(x, y, epochs=2, verbose=0)
    for w, b in zip(base.get_weights()[:3], before[:3]):  # kernel, bias, gamma (moving stats still move)
        np.testing.assert_array_equal(w, b)
    assert not np.array_equal(model.layers[1].get_weights()[0], head)


def test_siamese_calls_share_weights_and_sum_gradients():
    x, _ = _data(4)
    encoder = fastcnn.Sequential(
        [L.Input((2, 8, 8)), L.Conv2D(3, 3, seed=3), L.GlobalAvgPool2D()], name="encoder"
    )
    a, b = fastcnn.Input((2, 8, 8), name="a"), fastcnn.Input((2, 8, 8), name="b")
    out = L.Subtract()([encoder(a), encoder(b)])
    model = fastcnn.Model([a, b], out)
    assert len(model.layers) == 2  # the encoder once, the Subtract
    y = model._forward([x, x[::-1]], training=True)
    g = np.ones_like(y)
    model._backward(g)
    got = [np.array(w) for w in encoder.grads]
    # by hand: the encoder's gradient for output +1 on x and -1 on x reversed
    encoder._forward(x, training=True)
    encoder._backward(g)
    first = [np.array(w) for w in encoder.grads]
    encoder._forward(x[::-1], training=True)
    encoder._backward(-g)
    second = [np.array(w) for w in encoder.grads]
    for total, p, q in zip(got, first, second):
        np.testing.assert_allclose(total, p + q, rtol=1e-5, atol=1e-6)


def test_sequential_inside_sequential_and_save_load(tmp_path):
    x, y = _data()
    augment = fastcnn.Sequential([L.RandomFlip("horizontal", seed=0)], name="augment")
    model = fastcnn.Sequential(
        [L.Input((2, 8, 8)), augment, L.Conv2D(3, 3, seed=4), L.Flatten(), L.Dense(3, seed=5)]
    )
    model.compile("adam", "mse", metrics=[])
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "nested.npz"
    model.save(path)
    loaded = fastcnn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    base = _base()
    inputs = fastcnn.Input((2, 8, 8))
    graph = fastcnn.Model(inputs, L.Dense(3, seed=2)(base(inputs)))
    graph.compile("adam", "mse", metrics=[])
    graph.fit(x, y, epochs=1, verbose=0)
    graph.save(tmp_path / "graph.npz")
    again = fastcnn.load_model(tmp_path / "graph.npz")
    np.testing.assert_allclose(again.predict(x), graph.predict(x), rtol=1e-6)
    table = graph.summary(print_fn=lambda *a: None)
    assert "base (ModelLayer)" in table and f"Total params: {graph.count_params():,}" in table


def test_wrong_input_shape_names_the_model():
    base = _base()
    with pytest.raises(ValueError, match="base"):
        base(fastcnn.Input((3, 8, 8)))
