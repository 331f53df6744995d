"""upsample2d / pad2d (functional) and UpSampling2D, UpSampling1D, ZeroPadding2D,
Cropping2D (layers) against PyTorch (values and gradients), finite
differences, channels-last, configs and bad input."""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
from fastcnn import layers as L

from _helpers import numeric_grad

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("mode,align", [("nearest", False), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("scale", [2, (3, 2), 1])
def test_upsample2d_matches_pytorch(mode, align, scale):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    y = F.upsample2d(x, scale, mode, align)
    factor = scale if isinstance(scale, tuple) else (scale, scale)
    tx = torch.tensor(x, requires_grad=True)
    kw = {} if mode == "nearest" else {"align_corners": align}
    ty = torch.nn.functional.interpolate(tx, scale_factor=factor, mode=mode, **kw)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dout))
    dx = F.upsample2d_backward(dout, x.shape, scale, mode, align)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    last = F.upsample2d(np.moveaxis(x, 1, -1), scale, mode, align, data_format="channels_last")
    np.testing.assert_allclose(np.moveaxis(last, -1, 1), y, rtol=1e-12)
    dlast = F.upsample2d_backward(
        np.moveaxis(dout, 1, -1), np.moveaxis(x, 1, -1).shape, scale, mode, align, data_format="channels_last"
    )
    np.testing.assert_allclose(np.moveaxis(dlast, -1, 1), dx, rtol=1e-12)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
@pytest.mark.parametrize("padding", [1, (2, 1), ((0, 2), (3, 1))])
def test_pad2d_matches_pytorch(mode, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    y = F.pad2d(x, padding, mode, value=0.5)
    pairs = fastcnn.resize._pad_pairs(padding)
    tx = torch.tensor(x, requires_grad=True)
    flat = (pairs[1][0], pairs[1][1], pairs[0][0], pairs[0][1])
    ty = torch.nn.functional.pad(tx, flat, mode=mode, **({"value": 0.5} if mode == "constant" else {}))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    dout = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(F.pad2d_backward(dout, x.shape, padding, mode), tx.grad.numpy(), rtol=1e-12)
    last = F.pad2d(np.moveaxis(x, 1, -1), padding, mode, value=0.5, data_format="channels_last")
    np.testing.assert_allclose(np.moveaxis(last, -1, 1), y)
    dlast = F.pad2d_backward(
        np.moveaxis(dout, 1, -1), np.moveaxis(x, 1, -1).shape, padding, mode, data_format="channels_last"
    )
    np.testing.assert_allclose(np.moveaxis(dlast, -1, 1), tx.grad.numpy(), rtol=1e-12)


def test_resize_gradients_by_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 3, 4))
    dout = rng.standard_normal((1, 2, 6, 8))
    xv = x.copy()
    np.testing.assert_allclose(
        F.upsample2d_backward(dout, x.shape, 2, "bilinear"),
        numeric_grad(lambda: F.upsample2d(xv, 2, "bilinear"), xv, dout),
        rtol=1e-6,
        atol=1e-9,
    )
    d2 = rng.standard_normal((1, 2, 5, 8))
    np.testing.assert_allclose(
        F.pad2d_backward(d2, x.shape, ((1, 1), (2, 2)), "reflect"),
        numeric_grad(lambda: F.pad2d(xv, ((1, 1), (2, 2)), "reflect"), xv, d2),
        rtol=1e-6,
        atol=1e-9,
    )


def test_resize_bad_input_names_the_argument():
    x = np.zeros((1, 2, 3, 3))
    with pytest.raises(ValueError, match="mode"):
        F.upsample2d(x, 2, "bicubic")
    with pytest.raises(ValueError, match="align_corners"):
        F.upsample2d(x, 2, "nearest", True)
    with pytest.raises(ValueError, match="scale_factor"):
        F.upsample2d(x, 0)
    with pytest.raises(ValueError, match="4-D"):
        F.upsample2d(x[0], 2)
    with pytest.raises(ValueError, match="reflect"):
        F.pad2d(x, 3, "reflect")
    with pytest.raises(ValueError, match="padding"):
        F.pad2d(x, -1)
    with pytest.raises(ValueError, match="dout"):
        F.pad2d_backward(np.zeros((1, 2, 4, 4)), x.shape, 1)


def test_resize_layers_shapes_gradients_and_configs(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for layer, shape in [
        (L.UpSampling2D(2), (3, 8, 10)),
        (L.UpSampling2D((2, 3), "bilinear"), (3, 8, 15)),
        (L.ZeroPadding2D(((1, 0), (2, 1))), (3, 5, 8)),
        (L.Cropping2D(((1, 0), (2, 1))), (3, 3, 2)),
    ]:
        y = layer.forward(x)
        assert y.shape[1:] == shape == layer.output_shape(x.shape[1:])
        dx = layer.backward(np.ones_like(y))
        assert dx.shape == x.shape
    crop = L.Cropping2D(((1, 0), (2, 1)))
    np.testing.assert_array_equal(crop.forward(x), x[:, :, 1:, 2:4])
    np.testing.assert_array_equal(crop.backward(np.ones((2, 3, 3, 2), np.float32)).sum(), 2 * 3 * 3 * 2)
    up1 = L.UpSampling1D(3)
    np.testing.assert_array_equal(
        up1.forward(np.arange(4.0).reshape(1, 1, 4)), [[[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]]]
    )
    np.testing.assert_array_equal(up1.backward(np.ones((1, 1, 12))), [[[3, 3, 3, 3]]])
    with pytest.raises(ValueError, match="leaves nothing"):
        L.Cropping2D(2).output_shape((3, 4, 5))
    model = fastcnn.Sequential(
        [
            L.Input((3, 4, 5)),
            L.ZeroPadding2D(1),
            L.Conv2D(2, 3, seed=1),
            L.UpSampling2D(2, "bilinear"),
            L.Cropping2D(1),
            L.Flatten(),
            L.Dense(2, seed=2),
        ]
    )
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(fastcnn.load_model(tmp_path / "m.npz").predict(x), model.predict(x))


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_resampling_matches_reference_on_any_thread_count(dtype, data_format):
    import fastcnn.reference as R

    from _helpers import using_threads

    rng = np.random.default_rng(5)
    shape = (3, 7, 9, 4) if data_format == "channels_last" else (3, 4, 7, 9)
    x = rng.standard_normal(shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    calls = [
        (
            lambda a: F.upsample2d(a, (2, 3), "bilinear", data_format=data_format),
            "upsample2d",
            ((2, 3), "bilinear"),
        ),
        (lambda a: F.upsample2d(a, 2, data_format=data_format), "upsample2d", (2,)),
        (
            lambda a: F.pad2d(a, ((1, 2), (3, 0)), "reflect", data_format=data_format),
            "pad2d",
            (((1, 2), (3, 0)), "reflect"),
        ),
        (lambda a: F.pad2d(a, 2, "constant", 0.5, data_format=data_format), "pad2d", (2, "constant", 0.5)),
    ]
    fastcnn._C.set_grain_scale(0.0)
    try:
        for call, name, args in calls:
            with using_threads(1):
                one = call(x)
            with using_threads(2):
                two = call(x[::1])
            np.testing.assert_array_equal(one, two)
            want = getattr(R, name)(x, *args, data_format=data_format)
            np.testing.assert_allclose(one, want, rtol=tol, atol=tol)
            view = np.asfortranarray(x)  # a non-C-contiguous input
            np.testing.assert_array_equal(call(view), one)
    finally:
        fastcnn._C.set_grain_scale(1.0)
