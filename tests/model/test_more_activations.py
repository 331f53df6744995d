"""gelu, silu/swish, elu, selu, relu6, softplus, hard_sigmoid (as layers and as
activation=), Activation(name), Reshape and Permute: values and gradients
against PyTorch (optional) and finite differences, in models, saved and loaded."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L

from _helpers import numeric_grad

NAMES = ["gelu", "silu", "swish", "elu", "selu", "relu6", "softplus", "hard_sigmoid"]


def _torch_fn(name):
    import torch.nn.functional as TF

    return {
        "gelu": TF.gelu,
        "silu": TF.silu,
        "swish": TF.silu,
        "elu": TF.elu,
        "selu": TF.selu,
        "relu6": TF.relu6,
        "softplus": TF.softplus,
        "hard_sigmoid": lambda t: TF.relu6(t + 3) / 6,
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_pytorch_and_finite_differences(name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 37)) * 4  # reaches every piece (relu6's 6, hard_sigmoid's +-3)
    x[0, :3] = [0.5, -0.5, 7.0]
    layer = fastcnn.layers.Activation(name, dtype="float64")
    y = layer.forward(x)
    dout = rng.standard_normal(x.shape)
    dx = layer.backward(dout)
    xv = x.copy()
    other = fastcnn.layers.Activation(name, dtype="float64")
    np.testing.assert_allclose(dx, numeric_grad(lambda: other.forward(xv), xv, dout), rtol=1e-5, atol=1e-7)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = _torch_fn(name)(tx)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert layer.forward(x.astype(np.float32)).dtype == np.float32


def test_activations_work_as_activation_arguments_and_survive_save(tmp_path):
    model = fastcnn.Sequential(
        [
            L.Input((2, 6, 6)),
            L.Conv2D(3, 3, activation="selu", seed=1),
            L.Activation("relu6"),
            L.Reshape((3, -1)),
            L.Permute((2, 1)),
            L.Flatten(),
            L.Dense(4, activation="gelu", seed=2),
            L.Dense(2, activation="hard_sigmoid", seed=3),
        ]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(1).standard_normal((8, 2, 6, 6)).astype(np.float32)
    y = np.full((8, 2), 0.25, np.float32)
    first = model.train_on_batch(x, y)
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert last < first
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(fastcnn.load_model(tmp_path / "m.npz").predict(x), model.predict(x))
    with fastcnn.reference_path():
        np.testing.assert_allclose(
            model.predict(x), fastcnn.load_model(tmp_path / "m.npz").predict(x), rtol=1e-5
        )


def test_reshape_and_permute():
    x = np.arange(24.0).reshape(2, 3, 4)
    r = L.Reshape((2, -1))
    assert r.forward(x).shape == (2, 2, 6) and r.output_shape((3, 4)) == (2, 6)
    assert r.backward(np.ones((2, 2, 6))).shape == x.shape
    p = L.Permute((2, 1))
    np.testing.assert_array_equal(p.forward(x), x.transpose(0, 2, 1))
    np.testing.assert_array_equal(p.backward(x.transpose(0, 2, 1)), x)
    with pytest.raises(ValueError, match="cannot reshape"):
        L.Reshape((5, -1)).output_shape((3, 4))
    with pytest.raises(ValueError, match="permutation"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match="unknown activation"):
        L.Activation("mish")
