"""Inference folding (fusion.py): Conv/Dense + BatchNormalization (+ ReLU /
LeakyReLU) as one convolution equals the unfused layers, and the folded
weights follow every way the weights can change."""

import numpy as np
import pytest

import fastcnn
from fastcnn import fusion, layers as L


def _train_a_little(model, rng, steps=3):
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[])
    x = rng.standard_normal((8,) + model.input_shape).astype(model.layers[0].dtype)
    y = rng.integers(0, 3, 8)
    for _ in range(steps):
        model.train_on_batch(x, y)
    return x


def _folds(model):
    return sum(isinstance(s, fusion.FoldedBatchNorm) for s, _ in model._ran_steps)


MODELS = {
    "conv2d_first": lambda: [
        L.Input((2, 7, 6)),
        L.Conv2D(5, 3, padding="same", seed=1),
        L.BatchNormalization(),
        L.ReLU(),
        L.Flatten(),
        L.Dense(3, seed=2),
    ],
    "conv2d_last": lambda: [
        L.Input((7, 6, 2)),
        L.Conv2D(5, 3, strides=2, seed=1, data_format="channels_last", use_bias=False),
        L.BatchNormalization(axis=-1),
        L.LeakyReLU(0.2),
        L.Flatten(),
        L.Dense(3, seed=2),
    ],
    "conv1d": lambda: [
        L.Input((3, 11)),
        L.Conv1D(4, 3, seed=1),
        L.BatchNormalization(center=False),
        L.Flatten(),
        L.Dense(3, seed=2),
    ],
    "dense": lambda: [
        L.Input((6,)),
        L.Dense(9, seed=1),
        L.BatchNormalization(scale=False),
        L.ReLU(),
        L.Dense(3, seed=2),
    ],
    "float64": lambda: [
        L.Input((2, 5, 5)),
        L.Conv2D(4, 3, seed=1, dtype="float64"),
        L.BatchNormalization(dtype="float64"),
        L.ReLU(),
        L.Flatten(),
        L.Dense(3, seed=2, dtype="float64"),
    ],
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_folded_inference_equals_unfused(name):
    rng = np.random.default_rng(0)
    model = fastcnn.Sequential(MODELS[name]())
    x = _train_a_little(model, rng)  # moving statistics away from 0 / 1
    folded = model.predict(x)
    assert _folds(model) == 1
    with fastcnn.reference_path():
        unfused = model.predict(x)
    assert _folds(model) == 0
    tol = 1e-5 if folded.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(folded, unfused, rtol=tol, atol=tol)


def test_folded_weights_follow_training_and_set_weights():
    rng = np.random.default_rng(1)
    model = fastcnn.Sequential(MODELS["conv2d_first"]())
    x = _train_a_little(model, rng)

    def check():
        got = model.predict(x)
        with fastcnn.reference_path():
            want = model.predict(x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        return got

    first = check()
    _train_a_little(model, rng, steps=1)  # weights and moving statistics move
    assert not np.allclose(check(), first)
    weights = model.get_weights()
    weights[0] = weights[0] * 2
    model.set_weights(weights)  # the model's set_weights
    check()
    conv = model.layers[0]
    conv.set_weights([conv.kernel * 0.5, conv.bias + 1])  # one layer's
    check()
    bn = model.layers[1]
    bn.moving_mean = bn.moving_mean + 3  # an array rebound (as interop does)
    check()


@pytest.mark.parametrize(
    "stack",
    [
        lambda: [L.Conv2D(4, 3, activation="relu"), L.BatchNormalization()],  # activation between
        lambda: [L.Conv2D(4, 3), L.BatchNormalization(axis=-1)],  # another axis
        lambda: [L.Conv2D(4, 3, dtype="float64"), L.BatchNormalization()],  # dtypes differ
        lambda: [L.MaxPool2D(2), L.BatchNormalization()],  # not a conv
    ],
)
def test_what_is_not_folded(stack):
    layers = stack()
    model = fastcnn.Sequential([L.Input((4, 6, 6))] + layers + [L.Flatten(), L.Dense(2)])
    model.predict(np.zeros((2, 4, 6, 6), np.float32))
    assert _folds(model) == 0
    assert not fusion.can_fold(layers[0], layers[1])
