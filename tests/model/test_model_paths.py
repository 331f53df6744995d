"""The native training step (fused BN + activation, native elementwise ops
and cross-entropy) equals the NumPy reference path (`fastcnn.reference_path`)
within float32 rounding, step by step over 20 steps: losses and weights."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L, losses, optimizers, zoo


def _bn_model(seed, data_format="channels_first"):
    last = data_format == "channels_last"
    shape = (12, 12, 3) if last else (3, 12, 12)
    axis = -1 if last else 1
    return fastcnn.Sequential(
        [
            L.Input(shape),
            L.Conv2D(8, 3, padding="same", use_bias=False, seed=seed, data_format=data_format),
            L.BatchNormalization(axis=axis),
            L.ReLU(),
            L.Conv2D(8, 3, padding="same", use_bias=False, seed=seed + 1, data_format=data_format),
            L.BatchNormalization(axis=axis),
            L.LeakyReLU(0.1),
            L.MaxPool2D(2, data_format=data_format),
            L.Flatten(),
            L.Dropout(0.3, seed=seed + 2),
            L.Dense(16, activation="tanh", use_bias=False, seed=seed + 3),
            L.BatchNormalization(),
            L.Dense(5, activation="sigmoid", seed=seed + 4),
            L.Dense(4, seed=seed + 5),
        ]
    )


def _train(build, reference, x, y, steps=20):
    # SGD with momentum: Adam divides each gradient by its own running size,
    # which turns the rounding noise of near-zero gradients into whole steps.
    model = build()
    model.compile(
        optimizers.SGD(1e-3, momentum=0.9), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[]
    )
    history = []
    with fastcnn.reference_path(reference):
        for _ in range(steps):
            history.append(model.train_on_batch(x, y))
        predictions = model.predict(x, batch_size=7)
    return np.array(history), model.get_weights(), predictions


@pytest.mark.parametrize(
    "build",
    [lambda: _bn_model(0), lambda: _bn_model(1, "channels_last"), lambda: zoo.fashion_bn(seed=2)],
    ids=["bn_channels_first", "bn_channels_last", "zoo_fashion_bn"],
)
def test_native_training_equals_reference_path(build):
    rng = np.random.default_rng(0)
    model = build()
    x = rng.standard_normal((16,) + model.input_shape).astype(np.float32)
    y = rng.integers(0, 4, 16)
    native = _train(build, False, x, y)
    reference = _train(build, True, x, y)
    # One step agrees to float32 rounding (a few 1e-6 of each gradient's
    # scale); 20 steps of four batch norms over 16 images amplify that.
    np.testing.assert_allclose(native[0], reference[0], rtol=2e-3, atol=5e-3)
    for a, b in zip(native[1], reference[1]):
        np.testing.assert_allclose(a, b, rtol=1e-2, atol=3e-3 * max(1.0, np.abs(b).max()))
    np.testing.assert_allclose(native[2], reference[2], rtol=1e-2, atol=1e-2)


def test_fusion_runs_batch_norm_and_relu_as_one_step():
    model = _bn_model(0)
    model.build(model.input_shape)
    x = np.ones((2,) + model.input_shape, np.float32)
    model._forward(x, training=True)
    fused = [(type(a).__name__, type(b).__name__) for a, b in model._ran_steps if b is not None]
    assert fused == [("BatchNormalization", "ReLU"), ("BatchNormalization", "LeakyReLU")]
    model(x)  # inference folds conv + BN (+ activation) instead
    folded = [s.name for s, _ in model._ran_steps if type(s).__name__ == "FoldedBatchNorm"]
    assert len(folded) == 2
    with fastcnn.reference_path():
        model._forward(x, training=True)
    assert all(b is None for _, b in model._ran_steps)


def test_reference_path_is_the_numpy_reference():
    """The path switch really changes which code runs (so the test above can fail)."""
    x = np.random.default_rng(1).standard_normal((4, 3, 2, 2)).astype(np.float32)
    bn = L.BatchNormalization()
    bn.build(x.shape[1:])
    calls = []
    import fastcnn.reference as R

    original = R.batch_norm

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    R.batch_norm = spy
    try:
        bn.forward(x, training=True)
        assert not calls
        with fastcnn.reference_path():
            bn.forward(x, training=True)
        assert calls
    finally:
        R.batch_norm = original
