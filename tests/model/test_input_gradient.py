"""A training step skips dL/dx where nothing upstream has weights to train."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L


def _sequential(frozen_first=False):
    model = fastcnn.Sequential(
        [
            L.Input((2, 8, 8)),
            L.RandomFlip("horizontal", seed=0),
            L.Conv2D(3, 3, padding="same", activation="relu", seed=1),
            L.Conv2D(4, 3, seed=2),
            L.Flatten(),
            L.Dense(3, seed=3),
        ]
    )
    model.layers[1].trainable = not frozen_first
    model.compile("sgd", "mse", metrics=[])
    return model


def _graph():
    inputs = fastcnn.Input((2, 8, 8))
    a = L.Conv2D(3, 3, padding="same", seed=1)(inputs)
    b = L.SeparableConv2D(3, 3, padding="same", seed=2)(inputs)
    out = L.Dense(3, seed=3)(L.Flatten()(L.Add()([a, b])))
    model = fastcnn.Model(inputs, out)
    model.compile("sgd", "mse", metrics=[])
    return model


@pytest.mark.parametrize("build", [_sequential, lambda: _sequential(frozen_first=True), _graph])
def test_training_step_gives_the_full_backward_weights(build, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = (
        rng.standard_normal((4, 2, 8, 8)).astype(np.float32),
        rng.standard_normal((4, 3)).astype(np.float32),
    )
    short, full = build(), build()
    calls = []
    for layer in short.layers:
        original = layer.backward

        def spy(dout, layer=layer, original=original):
            calls.append((layer.name, layer.input_gradient))
            return original(dout)

        monkeypatch.setattr(layer, "backward", spy)
    short.train_on_batch(x, y)
    kind = type(full)
    monkeypatch.setattr(
        kind, "_backward", lambda self, d, input_gradient=True, f=kind._backward: f(self, d, True)
    )
    full.train_on_batch(x, y)
    for a, b in zip(short.get_weights(), full.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    names = [name for name, _ in calls]
    assert "random_flip" not in " ".join(names)  # nothing before the first trained layer runs backward
    skipped = [name for name, wanted in calls if not wanted]
    assert skipped, calls  # the first trained layers skipped dL/dx
    for layer in short.layers:
        assert layer.input_gradient  # restored after the step


def test_full_backward_still_returns_the_input_gradient():
    model = _sequential()
    x = np.random.default_rng(1).standard_normal((2, 2, 8, 8)).astype(np.float32)
    y = model._forward(x, training=True)
    dx = model._backward(np.ones_like(y))
    assert dx.shape == x.shape and np.any(dx != 0)
