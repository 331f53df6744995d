"""DepthwiseConv2D and SeparableConv2D against PyTorch twins (outputs and gradients),
in models (BN folding, the inference plan), saved and loaded."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("multiplier,stride,padding", [(1, 1, "same"), (2, 2, 1), (3, 1, "valid")])
def test_depthwise_matches_a_grouped_torch_convolution(multiplier, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 9, 8))
    layer = L.DepthwiseConv2D(
        3,
        strides=stride,
        padding=padding,
        depth_multiplier=multiplier,
        activation="relu",
        seed=1,
        dtype="float64",
    )
    y = layer.forward(x, training=True)
    assert layer.kernel.shape == (4 * multiplier, 1, 3, 3) and y.shape[1] == 4 * multiplier
    assert y.shape[1:] == layer.output_shape(x.shape[1:])
    tx = torch.tensor(x, requires_grad=True)
    tk = torch.tensor(layer.kernel, requires_grad=True)
    tb = torch.tensor(layer.bias, requires_grad=True)
    pad = 1 if padding == "same" else (0 if padding == "valid" else padding)
    ty = torch.relu(torch.nn.functional.conv2d(tx, tk, tb, stride, pad, groups=4))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], tk.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_separable_is_depthwise_then_pointwise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 8))
    layer = L.SeparableConv2D(
        5, 3, padding="same", depth_multiplier=2, activation="tanh", seed=2, dtype="float64"
    )
    y = layer.forward(x, training=True)
    assert y.shape == (2, 5, 8, 8) and [p.shape for p in layer.params] == [(6, 1, 3, 3), (5, 6, 1, 1), (5,)]
    tx = torch.tensor(x, requires_grad=True)
    tw = [torch.tensor(p, requires_grad=True) for p in layer.params]
    ty = torch.tanh(
        torch.nn.functional.conv2d(torch.nn.functional.conv2d(tx, tw[0], None, 1, 1, groups=3), tw[1], tw[2])
    )
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(layer.grads, tw):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_depthwise_models_fold_plan_train_save_and_load(tmp_path):
    model = fastcnn.Sequential(
        [
            L.Input((3, 10, 10)),
            L.Conv2D(8, 3, padding="same", seed=1),
            L.DepthwiseConv2D(3, padding="same", seed=2),
            L.BatchNormalization(),
            L.ReLU(),
            L.SeparableConv2D(6, 3, seed=3, activation="relu"),
            L.GlobalAvgPool2D(),
            L.Dense(2, seed=4),
        ]
    )
    model.compile("adam", fastcnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 3, 10, 10)).astype(np.float32), rng.integers(0, 2, 8)
    first = model.train_on_batch(x, y)[0]
    for _ in range(15):
        last = model.train_on_batch(x, y)[0]
    assert last < first
    folded = model.predict(x)
    with fastcnn.reference_path():
        np.testing.assert_allclose(folded, model.predict(x), rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "dw.npz")
    loaded = fastcnn.load_model(tmp_path / "dw.npz")
    np.testing.assert_array_equal(loaded.predict(x), folded)
    assert type(loaded.layers[1]) is L.DepthwiseConv2D and loaded.layers[4].filters == 6
