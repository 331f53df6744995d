"""Keras' preprocessing and augmentation layers (fastcnn.preprocessing_layers)."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L
from fastcnn.layers import layer_from_config
from fastcnn.preprocessing_layers import warp_affine_adjoint

RANDOM_LAYERS = [
    lambda: L.RandomFlip(seed=1),
    lambda: L.RandomFlip("vertical", seed=1),
    lambda: L.RandomCrop(6, 7, seed=1),
    lambda: L.RandomCrop(8, 8, seed=1, padding=2),
    lambda: L.RandomTranslation(0.2, (-0.1, 0.3), seed=1),
    lambda: L.RandomRotation(0.2, seed=1, fill_mode="constant"),
    lambda: L.RandomZoom(0.3, seed=1, interpolation="nearest", fill_mode="wrap"),
    lambda: L.RandomContrast(0.4, value_range=(-100, 100), seed=1),
    lambda: L.RandomBrightness(0.1, value_range=(-100, 100), seed=1),
]


def batch(seed=0, shape=(5, 3, 8, 8), dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_seeded_layers_repeat_and_vary(make):
    x = batch()
    a, b = make(), make()
    first = a.forward(x, training=True)
    np.testing.assert_array_equal(first, b.forward(x, training=True))
    assert not np.array_equal(first, a.forward(x, training=True))  # a new draw each call
    rebuilt = layer_from_config(type(a).__name__, a.get_config())
    np.testing.assert_array_equal(first, rebuilt.forward(x, training=True))


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_inference_passes_through_except_crop_takes_the_centre(make):
    layer = make()
    x = batch()
    y = layer.forward(x, training=False)
    if isinstance(layer, L.RandomCrop):
        top, left = (8 - layer.height) // 2, (8 - layer.width) // 2
        np.testing.assert_array_equal(y, x[:, :, top : top + layer.height, left : left + layer.width])
    else:
        assert y is x or np.array_equal(y, x)
        np.testing.assert_array_equal(layer.backward(x), x)


@pytest.mark.parametrize("make", RANDOM_LAYERS[:7])
def test_geometric_backward_is_the_adjoint(make):
    """<f(x), g> = <x, f^T g> for the linear maps (flips, crops, warps with fill 0)."""
    layer = make()
    if getattr(layer, "fill_value", 0.0) != 0.0:
        pytest.skip("a non-zero fill is affine, not linear")
    x = batch(1)
    y = layer.forward(x, training=True)
    g = batch(2, y.shape)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, layer.backward(g)), rtol=1e-10)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
def test_warp_adjoint_channels_last(interpolation, fill_mode):
    import fastcnn.augment as A

    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 7, 9, 2))
    maps = A.rotation_maps(rng.uniform(-2, 2, 3), 7, 9) + [0, 0, 1.5, 0, 0, -0.7]
    y = A.warp_affine(x, maps, None, interpolation, fill_mode, 0.0, "channels_last")
    g = rng.standard_normal(y.shape)
    back = warp_affine_adjoint(g, maps, interpolation, fill_mode, "channels_last")
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, back), rtol=1e-10)


@pytest.mark.parametrize("layer_cls", [L.RandomContrast, L.RandomBrightness])
def test_colour_gradients_by_finite_differences(layer_cls):
    x = batch(4, (2, 2, 3, 3))
    g = batch(5, x.shape)
    layer = layer_cls(0.5, value_range=(-2.5, 2.5), seed=3)
    y = layer.forward(x, training=True)
    analytic = layer.backward(g)
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        for sign in (1, -1):
            xp = x.copy()
            xp[i] += sign * eps
            replay = layer_cls(0.5, value_range=(-2.5, 2.5), seed=3)
            numeric[i] += sign * np.vdot(replay.forward(xp, training=True), g) / (2 * eps)
    assert np.any((y <= -2.5) | (y >= 2.5)) or layer_cls is L.RandomContrast  # clipping is exercised
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def test_flip_modes_and_channels_last():
    x = batch(6, (32, 4, 5, 3))
    y = L.RandomFlip("horizontal", seed=0, data_format="channels_last").forward(x, training=True)
    kinds = {
        "same"
        if np.array_equal(y[n], x[n])
        else "mirrored"
        if np.array_equal(y[n], x[n, :, ::-1])
        else "other"
        for n in range(32)
    }
    assert kinds == {"same", "mirrored"}


def test_random_crop_with_padding_stays_inside_the_padded_image():
    x = np.ones((1000, 1, 8, 8))  # 81 equally likely windows: every kind is drawn
    y = L.RandomCrop(8, 8, padding=4, seed=0).forward(x, training=True)
    zeros = (y == 0).sum(axis=(1, 2, 3))
    assert zeros.max() <= 8 * 8 - 4 * 4  # at most 4 rows / columns of padding each way
    assert zeros.min() == 0 and zeros.max() > 0
    with pytest.raises(ValueError, match="larger than the padded image"):
        L.RandomCrop(9, 9, seed=0).forward(np.ones((1, 1, 8, 8)), training=True)


def test_rescaling_and_normalization():
    x = np.random.default_rng(7).integers(0, 256, (10, 3, 4, 4)).astype(np.uint8)
    scaled = L.Rescaling(1 / 255).forward(x)
    assert scaled.dtype == np.float32 and scaled.max() <= 1
    np.testing.assert_allclose(scaled, x / 255, rtol=1e-6)
    norm = L.Normalization(axis=1).adapt(scaled)
    mean = scaled.astype(np.float64).mean(axis=(0, 2, 3))
    var = scaled.astype(np.float64).var(axis=(0, 2, 3))
    np.testing.assert_allclose(norm.mean.ravel(), mean, rtol=1e-5)
    np.testing.assert_allclose(norm.variance.ravel(), var, rtol=1e-4)
    out = norm.forward(scaled)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    # adapt over an iterable of (x, y) batches gives the same statistics
    batches = L.Normalization(axis=1).adapt([(scaled[:4], None), (scaled[4:], None)])
    np.testing.assert_allclose(batches.mean, norm.mean, rtol=1e-6)
    inverse = L.Normalization(axis=1, mean=mean, variance=var, invert=True)
    np.testing.assert_allclose(inverse.forward(out), scaled, atol=1e-5)
    given = L.Normalization(axis=-1, mean=[1.0, 2.0], variance=[4.0, 9.0])
    np.testing.assert_allclose(given.forward(np.array([[3.0, 8.0]])), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="give both mean and variance"):
        L.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="variance has 3 values"):
        L.Normalization(axis=-1, mean=[1.0, 2.0], variance=[1.0, 2.0, 3.0]).forward(np.ones((1, 2)))


def test_augmented_model_trains_and_predicts_without_augmenting():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((64, 3, 12, 12)).astype(np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.int64)
    augment = [L.RandomFlip("horizontal", seed=0), L.RandomCrop(12, 12, padding=2, seed=0)]
    body = [
        L.Conv2D(4, 3, padding="same", activation="relu", seed=0),
        L.GlobalAvgPool2D(),
        L.Dense(2, activation="softmax", seed=0),
    ]
    model = fastcnn.Sequential(augment + body)
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0)
    assert np.isfinite(history.history["loss"]).all()
    plain = fastcnn.Sequential(body)  # the same layer objects, without augmentation
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6)
    plan = model._plan_for(model._steps(False), x)
    python_steps = [type(s.layer).__name__ for s in plan.segments if hasattr(s, "layer")]
    assert python_steps == ["RandomCrop"]  # the flip drops out of the inference plan; the crop's centre runs
