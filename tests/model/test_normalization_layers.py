"""LayerNormalization, GroupNormalization and SpatialDropout2D against PyTorch
(outputs and gradients) and finite differences; in a model, saved and loaded."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L

from _helpers import numeric_grad

torch = pytest.importorskip("torch")


def _check(layer, x, torch_fn, params):
    y = layer.forward(x, training=True)
    tx = torch.tensor(x, requires_grad=True)
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    ty = torch_fn(tx, *tp)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-9, atol=1e-10)
    dout = np.random.default_rng(9).standard_normal(y.shape)
    dx = layer.backward(dout)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    for ours, theirs in zip(layer.grads, tp):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_layer_normalization_matches_pytorch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 6)) * 2 + 1
    layer = L.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5, dtype="float64")
    layer.build(x.shape[1:])
    layer.gamma[...] = rng.standard_normal(layer.gamma.shape)
    layer.beta[...] = rng.standard_normal(layer.beta.shape)
    _check(
        layer,
        x,
        lambda t, g, b: torch.nn.functional.layer_norm(t, (4, 5, 6), g, b, 1e-5),
        [layer.gamma, layer.beta],
    )
    last = L.LayerNormalization(dtype="float64")  # Keras' default: the last axis
    y = last.forward(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    assert last.gamma.shape == (6,)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_normalization_matches_pytorch(groups):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 5, 3)) * 3 - 1
    layer = L.GroupNormalization(groups, axis=1, epsilon=1e-5, dtype="float64")
    layer.build(x.shape[1:])
    layer.gamma[...] = rng.standard_normal(4)
    layer.beta[...] = rng.standard_normal(4)
    _check(
        layer,
        x,
        lambda t, g, b: torch.nn.functional.group_norm(t, groups, g, b, 1e-5),
        [layer.gamma, layer.beta],
    )
    last = L.GroupNormalization(groups, epsilon=1e-5, dtype="float64")  # channels-last: Keras' axis=-1
    y_last = last.forward(np.moveaxis(x, 1, -1))
    first = L.GroupNormalization(groups, axis=1, epsilon=1e-5, dtype="float64")
    np.testing.assert_allclose(np.moveaxis(y_last, -1, 1), first.forward(x), rtol=1e-12)
    with pytest.raises(ValueError, match="divide"):
        L.GroupNormalization(3, axis=1).output_shape((4, 5, 5))


def test_normalization_gradients_by_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 3, 3))
    for layer in (
        L.GroupNormalization(3, axis=1, dtype="float64"),
        L.LayerNormalization(axis=1, dtype="float64"),
    ):
        y = layer.forward(x)
        dout = rng.standard_normal(y.shape)
        dx = layer.backward(dout)
        xv = x.copy()
        np.testing.assert_allclose(
            dx, numeric_grad(lambda layer=layer, xv=xv: layer.forward(xv), xv, dout), rtol=1e-5, atol=1e-8
        )


def test_spatial_dropout_drops_whole_channels_and_repeats_with_a_seed():
    x = np.ones((4, 8, 3, 3), np.float32)
    layer = L.SpatialDropout2D(0.5, seed=3)
    y = layer.forward(x, training=True)
    per_channel = y.reshape(4, 8, 9)
    assert set(np.unique(per_channel.std(axis=2))) == {0.0}
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)
    np.testing.assert_array_equal(L.SpatialDropout2D(0.5, seed=3).forward(x, training=True), y)
    np.testing.assert_array_equal(layer.forward(x), x)


def test_normalization_layers_in_a_model(tmp_path):
    model = fastcnn.Sequential(
        [
            L.Input((4, 6, 6)),
            L.Conv2D(8, 3, padding="same", seed=1),
            L.GroupNormalization(4, axis=1),
            L.ReLU(),
            L.SpatialDropout2D(0.2, seed=2),
            L.Flatten(),
            L.LayerNormalization(),
            L.Dense(2, seed=3),
        ]
    )
    model.compile("adam", fastcnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((8, 4, 6, 6)).astype(np.float32), rng.integers(0, 2, 8)
    first = model.train_on_batch(x, y)[0]
    for _ in range(20):
        last = model.train_on_batch(x, y)[0]
    assert last < first
    model.save(tmp_path / "n.npz")
    np.testing.assert_array_equal(fastcnn.load_model(tmp_path / "n.npz").predict(x), model.predict(x))
