"""Transposed convolution (fastcnn.functional.conv_transpose2d / 1d, the layers
Conv2DTranspose / Conv1DTranspose) against the NumPy reference (its scatter
definition), finite differences, PyTorch (optional) and bad input."""

import itertools

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R
from fastcnn import layers as L

from _helpers import assert_close, numeric_grad, rand

# (n, c_in, c_out, size, kernel, stride, padding, output_padding, groups, dilation)
CASES = [
    (2, 4, 6, 5, 3, 2, 1, 1, 1, 1),
    (1, 3, 4, 7, 4, 1, 0, 0, 1, 1),
    (2, 4, 6, 6, 3, 2, (1, 2), 0, 2, 1),
    (2, 6, 4, 5, 3, 3, 1, 2, 2, 2),
    (1, 2, 3, 4, 5, 2, 2, 1, 1, 1),
    (3, 8, 8, 9, 2, 2, 0, 0, 1, 1),
    (1, 16, 32, 7, 3, 1, 1, 0, 1, 1),
    (2, 5, 7, 3, 1, 3, 0, 2, 1, 1),
    (1, 4, 4, 6, 3, 2, ((0, 1), (2, 0)), 1, 4, 1),
]


def _inputs(case, dtype, seed):
    n, c_in, c_out, size, k, stride, padding, extra, groups, dilation = case
    rng = np.random.default_rng(seed)
    x = rand(rng, (n, c_in, size, size + 1), dtype)
    w = rand(rng, (c_in, c_out // groups, k, k), dtype)
    b = rand(rng, (c_out,), dtype)
    kw = dict(stride=stride, padding=padding, output_padding=extra, groups=groups, dilation=dilation)
    return x, w, b, kw


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose2d_matches_the_reference(case, dtype, isa):
    x, w, b, kw = _inputs(case, dtype, CASES.index(case))
    y = F.conv_transpose2d(x, w, b, **kw)
    assert y.dtype == dtype
    assert_close(y, R.conv_transpose2d(x, w, b, **kw), "forward")
    dout = rand(np.random.default_rng(1), y.shape, dtype)
    dx, dw, db = F.conv_transpose2d_backward(dout, x, w, **kw)
    # dx is the convolution the transpose is the adjoint of; dw by finite differences below
    assert_close(dx, R.conv2d(dout, w, None, kw["stride"], kw["padding"], kw["dilation"], kw["groups"]), "dx")
    assert_close(db, dout.sum(axis=(0, 2, 3)), "db")
    assert dw.shape == w.shape


@pytest.mark.parametrize("case", CASES[:5])
def test_conv_transpose2d_gradients_by_finite_differences(case):
    x, w, b, kw = _inputs(case, np.float64, 7 + CASES.index(case))
    y = F.conv_transpose2d(x, w, b, **kw)
    dout = np.random.default_rng(2).standard_normal(y.shape)
    dx, dw, db = F.conv_transpose2d_backward(dout, x, w, **kw)
    xv, wv, bv = x.copy(), w.copy(), b.copy()
    np.testing.assert_allclose(
        dx, numeric_grad(lambda: F.conv_transpose2d(xv, w, b, **kw), xv, dout), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        dw, numeric_grad(lambda: F.conv_transpose2d(x, wv, b, **kw), wv, dout), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        db, numeric_grad(lambda: F.conv_transpose2d(x, w, bv, **kw), bv, dout), rtol=1e-6, atol=1e-8
    )


def test_conv_transpose_matches_pytorch():
    torch = pytest.importorskip("torch")
    for case in CASES:
        x, w, b, kw = _inputs(case, np.float64, 3)
        pad = kw["padding"]
        if isinstance(pad, tuple) and isinstance(pad[0], tuple):
            continue  # PyTorch pads both sides alike
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)
        ty = torch.nn.functional.conv_transpose2d(
            tx, tw, tb, kw["stride"], pad, kw["output_padding"], kw["groups"], kw["dilation"]
        )
        np.testing.assert_allclose(
            F.conv_transpose2d(x, w, b, **kw), ty.detach().numpy(), rtol=1e-10, atol=1e-12
        )
        dout = np.random.default_rng(4).standard_normal(ty.shape)
        ty.backward(torch.tensor(dout))
        for got, want in zip(F.conv_transpose2d_backward(dout, x, w, **kw), (tx.grad, tw.grad, tb.grad)):
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_transpose1d_and_channels_last(dtype):
    rng = np.random.default_rng(5)
    x, w, b = rand(rng, (2, 3, 9), dtype), rand(rng, (3, 4, 3), dtype), rand(rng, (4,), dtype)
    kw = dict(stride=2, padding=1, output_padding=1)
    y = F.conv_transpose1d(x, w, b, **kw)
    assert_close(y, R.conv_transpose1d(x, w, b, **kw), "1-D")
    last = F.conv_transpose1d(np.moveaxis(x, 1, -1), w, b, data_format="channels_last", **kw)
    assert_close(np.moveaxis(last, -1, 1), y, "1-D channels-last")
    x2 = rand(rng, (2, 3, 5, 6), dtype)
    w2 = rand(rng, (3, 4, 3, 3), dtype)
    y2 = F.conv_transpose2d(x2, w2, None, stride=2, padding=1)
    y2l = F.conv_transpose2d(
        np.moveaxis(x2, 1, -1), w2, None, stride=2, padding=1, data_format="channels_last"
    )
    assert_close(np.moveaxis(y2l, -1, 1), y2, "2-D channels-last")
    d = rand(rng, y2.shape, dtype)
    first = F.conv_transpose2d_backward(d, x2, w2, stride=2, padding=1)
    lastg = F.conv_transpose2d_backward(
        np.moveaxis(d, 1, -1), np.moveaxis(x2, 1, -1), w2, stride=2, padding=1, data_format="channels_last"
    )
    assert_close(np.moveaxis(lastg[0], -1, 1), first[0], "dx")
    assert_close(lastg[1], first[1], "dw")
    assert_close(lastg[2], first[2], "db")


def test_conv_transpose_bad_input_names_the_argument():
    x, w = np.zeros((1, 3, 4, 4), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="first dim"):
        F.conv_transpose2d(x, np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="groups"):
        F.conv_transpose2d(x, w, groups=2)
    with pytest.raises(ValueError, match="4-D"):
        F.conv_transpose2d(x[0], w)
    with pytest.raises(ValueError, match="output size"):
        F.conv_transpose2d(np.zeros((1, 3, 1, 1), np.float32), w, padding=2)
    with pytest.raises(ValueError, match="padding"):
        F.conv_transpose2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="dout"):
        F.conv_transpose2d_backward(np.zeros((1, 2, 5, 5), np.float32), x, w)
    with pytest.raises(TypeError):
        F.conv_transpose2d(x, w.astype(np.float64))


# output_padding must stay below the stride: those combinations only
LAYER_CASES = [
    (padding, extra, stride, kernel)
    for padding, extra, stride, kernel in itertools.product(
        ["valid", "same", 1], [None, 1], [1, 2, 3], [2, 3]
    )
    if extra is None or extra < stride
]


@pytest.mark.parametrize("padding,extra,stride,kernel", LAYER_CASES)
def test_conv2d_transpose_layer_matches_keras_sizes_and_pytorch(padding, extra, stride, kernel):
    if padding == 1 and extra is None:
        extra = 0
    layer = L.Conv2DTranspose(
        5,
        kernel,
        strides=stride,
        padding=padding,
        output_padding=extra,
        activation="relu",
        seed=1,
        dtype="float64",
    )
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 7))
    y = layer.forward(x, training=True)
    n = np.array([6, 7])
    if padding == "valid" and extra is None:
        want = n * stride + max(kernel - stride, 0)
    elif padding == "same" and extra is None:
        want = n * stride
    else:
        pad = kernel // 2 if padding == "same" else (0 if padding == "valid" else padding)
        want = (n - 1) * stride + kernel - 2 * pad + extra
    assert y.shape[2:] == tuple(want) == tuple(layer.output_shape((3, 6, 7))[1:])
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and layer.grads[0].shape == layer.kernel.shape
    torch = pytest.importorskip("torch")
    pads, op = layer._geometry((6, 7))
    if any(p[0] != p[1] for p in pads):
        return  # asymmetric 'same' padding has no PyTorch twin
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.relu(
        torch.nn.functional.conv_transpose2d(
            tx, torch.tensor(layer.kernel), torch.tensor(layer.bias), stride, tuple(p[0] for p in pads), op
        )
    )
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    ty.backward(torch.ones_like(ty))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_transpose_layers_train_in_a_model_and_save(tmp_path):
    model = fastcnn.Sequential(
        [
            L.Input((1, 8, 8)),
            L.Conv2D(4, 3, strides=2, padding="same", activation="relu", seed=1),
            L.Conv2DTranspose(1, 3, strides=2, padding="same", seed=2),
        ]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(7).random((16, 1, 8, 8)).astype(np.float32)
    first = model.train_on_batch(x, x)
    for _ in range(30):
        last = model.train_on_batch(x, x)
    assert last < first
    model.save(tmp_path / "ae.npz")
    np.testing.assert_array_equal(fastcnn.load_model(tmp_path / "ae.npz").predict(x), model.predict(x))
    one_d = L.Conv1DTranspose(3, 4, strides=2, padding="same", seed=3)
    assert one_d.forward(np.ones((2, 2, 5), np.float32)).shape == (2, 3, 10)


def test_zoo_autoencoder_reconstructs_better_after_training():
    from fastcnn import zoo

    model = zoo.conv_autoencoder(seed=0)
    model.compile("adam", "binary_crossentropy", metrics=[])
    rng = np.random.default_rng(8)
    x = (rng.random((32, 1, 28, 28)) < 0.2).astype(np.float32)
    before = model.evaluate(x, x)
    model.fit(x, x, batch_size=16, epochs=3, verbose=0, seed=0)
    assert model.predict(x).shape == x.shape
    assert model.evaluate(x, x) < before
