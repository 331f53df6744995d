"""The native execution plan (plan.py): a model's inference as one native call
per run of native layers equals the layers' own forwards, covers the layers
it claims, splits around Python layers, follows every way the weights can
change, and its native side rejects malformed plans."""

import threading

import numpy as np
import pytest

import fastcnn
from fastcnn import _C, layers as L, plan as plan_module, zoo


def _reference(model, x, batch_size=32):
    with fastcnn.reference_path():
        return model.predict(x, batch_size=batch_size)


def _plan(model, x):
    steps = model._steps(False)
    return model._plans.get(steps, np.asarray(x), model._weights_version)


def _kinds(plan):
    return [type(s).__name__ for s in plan.segments]


class Doubler(L.Layer):
    """A custom layer: no native lowering, so it splits the plan."""

    def forward(self, x, training=False):
        return np.asarray(x) * 2

    def backward(self, dout):
        return dout * 2


def _with_bn(data_format):
    last = data_format == "channels_last"
    shape, axis = ((9, 8, 3), -1) if last else ((3, 9, 8), 1)
    return [
        L.Input(shape),
        L.Conv2D(6, 3, padding="same", use_bias=False, seed=1, data_format=data_format),
        L.BatchNormalization(axis=axis),
        L.ReLU(),
        L.MaxPool2D(2, padding="same", data_format=data_format),
        L.BatchNormalization(axis=axis),
        L.LeakyReLU(0.2),  # not after a conv: not folded
        L.Conv2D(5, 2, strides=2, seed=2, activation="tanh", data_format=data_format),
        L.AvgPool2D(2, strides=1, data_format=data_format),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(7, activation="sigmoid", seed=3),
        L.Dense(4, activation="softmax", seed=4),
    ]


MODELS = {
    "mnist_keras": (lambda: zoo.mnist_keras(seed=0), 1),
    "fashion_bn": (lambda: zoo.fashion_bn(seed=0), 1),
    "cifar_keras": (lambda: zoo.cifar_keras(seed=0), 1),
    "signal_1d": (lambda: zoo.signal_1d(seed=0), 1),
    "bn_first": (lambda: _with_bn("channels_first"), 1),
    "bn_last": (lambda: _with_bn("channels_last"), 1),
    "conv1d_pools": (
        lambda: [
            L.Input((3, 20)),
            L.Conv1D(4, 5, dilation_rate=2, padding="same", seed=1),
            L.Sigmoid(),
            L.MaxPool1D(3, strides=2),
            L.AvgPool1D(2),
            L.GlobalAvgPool1D(),
            L.Dense(3, seed=2),
            L.Softmax(),
        ],
        1,
    ),
    "global_avg": (
        lambda: [
            L.Input((4, 6, 5)),
            L.Conv2D(8, 3, groups=2, seed=1, activation="relu"),
            L.GlobalAvgPool2D(),
            L.Dense(3, use_bias=False, seed=2),
            L.Tanh(),
        ],
        1,
    ),
    "float64": (
        lambda: [
            L.Input((2, 6, 6)),
            L.Conv2D(4, 3, seed=1, dtype="float64"),
            L.BatchNormalization(dtype="float64"),
            L.ReLU(),
            L.Flatten(),
            L.Dense(3, seed=2, dtype="float64"),
        ],
        1,
    ),
    # padding, upsampling (both modes) and cropping as native resampling steps
    "resample_first": (
        lambda: [
            L.Input((2, 6, 5)),
            L.ZeroPadding2D(((1, 0), (2, 1))),
            L.Conv2D(3, 3, seed=1, activation="relu"),
            L.UpSampling2D((2, 3), interpolation="bilinear"),
            L.Cropping2D(((1, 2), (0, 3))),
            L.UpSampling2D(2),
            L.Flatten(),
            L.Dense(3, seed=2),
        ],
        1,
    ),
    "resample_last": (
        lambda: [
            L.Input((6, 5, 2)),
            L.ZeroPadding2D(1, data_format="channels_last"),
            L.UpSampling2D(2, interpolation="bilinear", align_corners=True, data_format="channels_last"),
            L.Cropping2D(1, data_format="channels_last"),
            L.Conv2D(3, 3, seed=1, data_format="channels_last"),
            L.Flatten(),
            L.Dense(3, seed=2),
        ],
        1,
    ),
    # a custom layer in the middle: native, Python, native
    "custom_between": (
        lambda: [
            L.Input((2, 6, 6)),
            L.Conv2D(4, 3, seed=1),
            L.ReLU(),
            Doubler(),
            L.Flatten(),
            L.Dense(3, seed=2),
        ],
        2,
    ),
    # global max pooling and channels-last global pooling have no lowering
    "global_max": (
        lambda: [
            L.Input((6, 6, 2)),
            L.Conv2D(3, 3, seed=1, data_format="channels_last"),
            L.GlobalMaxPool2D(data_format="channels_last"),
            L.Dense(2, seed=2),
        ],
        2,
    ),
}


def _trained(layers, rng):
    model = layers if isinstance(layers, fastcnn.Sequential) else fastcnn.Sequential(layers)
    model.build(model.input_shape)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[])
    x = rng.standard_normal((6,) + model.input_shape).astype(np.float32)
    y = rng.integers(0, model.output_shape[-1], 6)
    for _ in range(2):  # moves the batch norms' statistics off 0 / 1
        model.train_on_batch(x, y)
    return model


@pytest.mark.parametrize("name", list(MODELS))
def test_plan_equals_layer_forwards(name):
    build, native_segments = MODELS[name]
    rng = np.random.default_rng(0)
    model = _trained(build(), rng)
    x = rng.standard_normal((5,) + model.input_shape).astype(np.float32)
    got = model.predict(x, batch_size=5)
    want = _reference(model, x, batch_size=5)
    tol = 1e-12 if name == "float64" else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    plan = _plan(model, x)
    assert _kinds(plan).count("NativeSegment") == native_segments
    assert np.array_equal(model(x), got)  # __call__ takes the plan too


def test_whole_zoo_models_run_as_one_native_call():
    for build in (zoo.mnist_pytorch, zoo.mnist_keras, zoo.fashion_bn, zoo.cifar_keras, zoo.signal_1d):
        model = build(seed=0)
        model.build(model.input_shape)
        x = np.zeros((1,) + model.input_shape, np.float32)
        assert _kinds(_plan(model, x)) == ["NativeSegment"], build.__name__


def test_custom_layer_splits_the_plan_into_segments():
    model = _trained(MODELS["custom_between"][0](), np.random.default_rng(1))
    model.build(model.input_shape)
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 6)).astype(np.float32)
    assert _kinds(_plan(model, x)) == ["NativeSegment", "PythonStep", "NativeSegment"]
    np.testing.assert_allclose(model.predict(x), _reference(model, x), rtol=1e-6, atol=1e-6)


def test_relabelling_after_a_python_layer_reshapes():
    model = fastcnn.Sequential([L.Input((2, 3, 3)), Doubler(), L.Flatten()])
    model.build(model.input_shape)
    x = np.arange(36, dtype=np.float32).reshape(2, 2, 3, 3)
    np.testing.assert_array_equal(model.predict(x), (x * 2).reshape(2, 18))
    only = fastcnn.Sequential([L.Input((2, 3, 3)), L.Flatten(), L.Dropout(0.2)])
    np.testing.assert_array_equal(only.predict(x), x.reshape(2, 18))


def test_input_dtypes_follow_the_layers():
    model = fastcnn.Sequential([L.Input((1, 5, 5)), L.MaxPool2D(2), L.Flatten(), L.Dense(2, seed=1)])
    model.build(model.input_shape)
    x64 = np.random.default_rng(2).standard_normal((3, 1, 5, 5))
    got = model.predict(x64)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(model, x64), rtol=1e-6, atol=1e-6)
    ints = np.arange(75).reshape(3, 1, 5, 5)
    np.testing.assert_allclose(model.predict(ints), _reference(model, ints), rtol=1e-6)


def test_batch_sizes_get_their_own_plans_and_agree():
    model = zoo.mnist_keras(seed=0)
    x = np.random.default_rng(3).standard_normal((70,) + model.input_shape).astype(np.float32)
    whole = _reference(model, x, batch_size=70)
    for batch_size in (1, 7, 32, 70):
        np.testing.assert_allclose(model.predict(x, batch_size=batch_size), whole, rtol=1e-5, atol=1e-5)


def test_plan_follows_weight_changes():
    rng = np.random.default_rng(4)
    model = _trained(_with_bn("channels_first"), rng)
    x = rng.standard_normal((4,) + model.input_shape).astype(np.float32)
    before = model.predict(x)
    conv = model.layers[1]
    # set_weights
    weights = model.get_weights()
    model.set_weights([w * 1.5 if w.ndim == 4 else w for w in weights])
    np.testing.assert_allclose(model.predict(x), _reference(model, x), rtol=2e-5, atol=2e-5)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x), before, rtol=1e-6, atol=1e-6)
    # a new array assigned by hand
    dense = model.layers[-2]
    dense.kernel = dense.kernel * -1
    changed = model.predict(x)
    assert not np.allclose(changed, before)
    np.testing.assert_allclose(changed, _reference(model, x), rtol=2e-5, atol=2e-5)
    # an in-place edit, announced by set_weights
    dense.kernel[...] = 0
    dense.set_weights(dense.get_weights())
    np.testing.assert_allclose(model.predict(x), _reference(model, x), rtol=2e-5, atol=2e-5)
    # training steps move the weights and the batch statistics
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[])
    model.train_on_batch(x, np.zeros(4, np.int64))
    np.testing.assert_allclose(model.predict(x), _reference(model, x), rtol=2e-5, atol=2e-5)
    assert conv.built


def test_bad_input_still_reports_the_layers_error():
    model = zoo.mnist_keras(seed=0)
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 1, 20, 20), np.float32))
    with pytest.raises(ValueError):
        model(np.zeros((2, 3, 28, 28), np.float32))


def test_arena_reuses_dead_values():
    layers = (
        [L.Input((8, 16, 16))]
        + [L.Conv2D(8, 3, padding="same", seed=i) for i in range(6)]
        + [L.Flatten(), L.Dense(2, seed=9)]
    )
    model = fastcnn.Sequential(layers)
    model.build(model.input_shape)
    x = np.zeros((2,) + model.input_shape, np.float32)
    plan = _plan(model, x)
    activation = 2 * 8 * 16 * 16 * 4
    assert plan.native_steps == 7
    assert plan.arena_bytes <= 2 * activation  # two values live at a time, not six


def test_concurrent_predictions_agree():
    model = zoo.cifar_keras(seed=0)
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((3,) + model.input_shape).astype(np.float32) for _ in range(4)]
    want = [model.predict(x) for x in inputs]
    results, errors = {}, []

    def work(i):
        try:
            for _ in range(20):
                got = model.predict(inputs[i % 4])
                if not np.array_equal(got, want[i % 4]):
                    results[i] = got
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not results


def test_big_plans_are_not_kept():
    model = fastcnn.Sequential(
        [L.Input((4, 8, 8)), L.Conv2D(4, 3, padding="same", seed=1), L.ReLU(), L.Conv2D(2, 3, seed=2)]
    )
    model.build(model.input_shape)
    x = np.zeros((2,) + model.input_shape, np.float32)
    assert _plan(model, x).arena_bytes > 0
    keep = plan_module.InferencePlans.MAX_KEPT_ARENA_BYTES
    try:
        plan_module.InferencePlans.MAX_KEPT_ARENA_BYTES = 0
        model._plans = plan_module.InferencePlans()
        model.predict(x)
        assert not model._plans._plans
    finally:
        plan_module.InferencePlans.MAX_KEPT_ARENA_BYTES = keep


# ----------------------------------------------------------- the native side


def test_native_plan_rejects_malformed_steps():
    w = np.ones((2, 1, 3, 3), np.float32)
    plan = _C.InferencePlan("float32", 16, 8, 64)
    with pytest.raises(ValueError, match="outside the arena"):
        plan.value(60, 8)
    with pytest.raises(ValueError, match="unknown value"):
        plan.conv2d(0, 7, (1, 1, 4, 4), w, None, 1, 1, 0, 0, 0, 0, 1, 1, 1, False, "identity", 0.0)
    with pytest.raises(ValueError, match="elements"):  # output 2x2x2 = 8, value 1 holds 8: 4x4 needs pad
        plan.conv2d(0, 1, (1, 1, 4, 4), w, None, 1, 1, 1, 1, 1, 1, 1, 1, 1, False, "identity", 0.0)
    with pytest.raises(TypeError, match="float32"):
        plan.conv2d(
            0, 1, (1, 1, 4, 4), w.astype(np.float64), None, 1, 1, 0, 0, 0, 0, 1, 1, 1, False, "identity", 0.0
        )
    with pytest.raises(ValueError, match="write the plan's input"):
        plan.activation(0, 0, 16, "relu", 0.0)
    a, b = plan.value(0, 16), plan.value(8, 16)
    with pytest.raises(ValueError, match="overlap"):
        plan.activation(a, b, 16, "relu", 0.0)
    with pytest.raises(ValueError, match="activation"):
        plan.activation(0, a, 16, "swish", 0.0)
    with pytest.raises(TypeError):
        _C.InferencePlan("int32", 1, 1, 0)


def test_native_plan_runs_and_checks_its_arrays():
    w = np.arange(18, dtype=np.float32).reshape(2, 1, 3, 3) / 10
    b = np.array([0.5, -100], np.float32)
    plan = _C.InferencePlan("float32", 16, 8, 16)
    mid = plan.value(0, 8)
    plan.conv2d(0, mid, (1, 1, 4, 4), w, b, 1, 1, 0, 0, 0, 0, 1, 1, 1, False, "identity", 0.0)
    plan.activation(mid, 1, 8, "relu", 0.0)
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = np.empty((1, 2, 2, 2), np.float32)
    plan.run(x, out)
    want = np.maximum(fastcnn.functional.conv2d(x, w, b), 0)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    assert plan.steps == 2
    with pytest.raises(ValueError, match="elements"):
        plan.run(x[:, :, :3], out)
    with pytest.raises(TypeError):
        plan.run(x.astype(np.float64), out)
    with pytest.raises(ValueError, match="overlap"):
        plan.run(x, x.reshape(-1)[:8])
    with pytest.raises(ValueError, match="writeable"):
        out.flags.writeable = False
        plan.run(x, out)


# A grid over the convolution paths 'auto' picks (direct columns for few
# input channels, Winograd, its stride-2 phases, pointwise 1x1, direct tiles,
# channels-last tiles, grouped GEMM, image lanes for many small images).
PACKING_CASES = [
    # (batch, c_in, c_out, size, kernel, stride, padding, groups, channels_last, dtype)
    (1, 1, 16, 28, 5, 1, 2, 1, False, np.float32),
    (1, 3, 32, 32, 3, 1, 1, 1, False, np.float64),
    (1, 64, 64, 32, 3, 1, 1, 1, False, np.float32),
    (2, 32, 32, 16, 3, 2, 1, 1, False, np.float32),
    (1, 64, 96, 14, 1, 1, 0, 1, False, np.float32),
    (1, 128, 128, 8, 3, 1, 1, 1, False, np.float32),
    (2, 16, 40, 12, 3, 1, 1, 1, True, np.float32),
    (3, 8, 12, 10, 3, 1, 0, 2, False, np.float64),
    (40, 16, 16, 6, 3, 1, 1, 1, False, np.float32),
    (2, 5, 7, 9, 5, 1, 2, 1, False, np.float32),
]


@pytest.mark.parametrize(
    "case", PACKING_CASES, ids=lambda c: "-".join(str(v.__name__ if isinstance(v, type) else v) for v in c)
)
def test_convolutions_reuse_their_packed_weights(case):
    n, c_in, c_out, size, k, stride, pad, groups, last, dtype = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    fmt = "channels_last" if last else "channels_first"
    if last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    want = fastcnn.functional.conv2d(x, w, b, stride, pad, groups=groups, data_format=fmt)
    plan = _C.InferencePlan(np.dtype(dtype).name, x.size, want.size, 0)
    plan.conv2d(0, 1, x.shape, w, b, stride, stride, pad, pad, pad, pad, 1, 1, groups, last, "identity", 0.0)
    threads = fastcnn.get_num_threads()
    try:
        for t in (threads, threads, 1, 1, threads):  # the packing made once per algorithm choice
            fastcnn.set_num_threads(t)
            out = np.full_like(want, np.nan)
            plan.run(x, out)
            np.testing.assert_allclose(
                out,
                want,
                rtol=1e-4 if dtype == np.float32 else 1e-10,
                atol=1e-4 if dtype == np.float32 else 1e-10,
            )
    finally:
        fastcnn.set_num_threads(threads)
    assert plan.packed_bytes >= w.size * w.itemsize


def test_plans_are_rebuilt_when_weights_change_so_packings_stay_true():
    rng = np.random.default_rng(8)
    model = fastcnn.Sequential(
        [L.Input((64, 12, 12)), L.Conv2D(64, 3, padding="same", seed=1), L.Flatten(), L.Dense(2, seed=2)]
    )
    model.build(model.input_shape)
    x = rng.standard_normal((1,) + model.input_shape).astype(np.float32)
    model.predict(x)
    assert _plan(model, x).segments[0].plan.packed_bytes > 0
    conv = model.layers[0]
    conv.set_weights([conv.kernel * 2, conv.bias + 1])
    np.testing.assert_allclose(model.predict(x), _reference(model, x), rtol=2e-5, atol=2e-5)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    np.testing.assert_allclose(model.predict(x), _reference(model, x), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_unet_runs_as_one_native_plan(interpolation):
    """A U-Net whose decoder upsamples with UpSampling2D (Keras' other recipe)
    lowers to one native plan, padding and cropping included."""
    inputs = fastcnn.Input((1, 14, 14))
    skip = L.Conv2D(4, 3, padding="same", activation="relu", seed=1)(inputs)
    down = L.MaxPool2D(2)(L.ZeroPadding2D(1)(skip))  # 16x16 -> 8x8
    mid = L.Conv2D(6, 3, padding="same", activation="relu", seed=2)(down)
    up = L.Cropping2D(1)(L.UpSampling2D(2, interpolation=interpolation)(mid))  # 16x16 -> 14x14
    out = L.Conv2D(1, 1, seed=3)(L.Concatenate(axis=1)([up, skip]))
    model = fastcnn.Model(inputs, out)
    x = np.random.default_rng(3).standard_normal((2, 1, 14, 14)).astype(np.float32)
    plan = model._graph_plan(x)
    assert plan is not None and plan.plan.steps == 8  # conv, pad, pool, conv, upsample, crop, concat, conv
    with fastcnn.reference_path():
        want = model.predict(x)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)
