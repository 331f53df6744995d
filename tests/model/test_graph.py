"""Graph models (fastcnn.Model, the functional API) and the merge layers:
structure and errors, merge layers against NumPy and finite differences,
shared layers, several inputs and outputs, save/load/resume, and ResNet-20
against a PyTorch twin with the same weights (outputs, gradients and 5 SGD
steps in float64)."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L, losses, optimizers, zoo

from _helpers import numeric_grad


def _small_graph(dtype="float64"):
    """Two branches, a shared Dense, and every merge layer."""
    inputs = fastcnn.Input((2, 6, 6), dtype=dtype)
    a = L.Conv2D(3, 3, padding="same", activation="tanh", seed=1, dtype=dtype)(inputs)
    b = L.Conv2D(3, 3, padding="same", seed=2, dtype=dtype)(inputs)
    merged = L.Concatenate(axis=1, dtype=dtype)([a, b, L.Multiply(dtype=dtype)([a, b])])
    flat = L.Flatten(dtype=dtype)(L.AvgPool2D(2, dtype=dtype)(merged))
    shared = L.Dense(5, seed=3, dtype=dtype)
    left, right = shared(flat), shared(L.Tanh(dtype=dtype)(flat))
    mixed = [
        L.Add(dtype=dtype)([left, right]),
        L.Subtract(dtype=dtype)([left, right]),
        L.Maximum(dtype=dtype)([left, right]),
        L.Average(dtype=dtype)([left, right, left]),
    ]
    outputs = L.Dense(4, seed=4, dtype=dtype)(L.Concatenate(dtype=dtype)(mixed))
    return fastcnn.Model(inputs, outputs)


def test_structure_summary_and_connectivity():
    model = _small_graph()
    assert [type(layer).__name__ for layer in model.layers].count("Dense") == 2  # shared once
    text = model.summary(print_fn=None)
    assert "Connected to" in text and "conv2d" in text and "concatenate" in text
    assert model.output_shape == (4,)
    assert model.count_params() == sum(p.size for p in model.params)


def test_definition_errors_name_the_problem():
    a, b = fastcnn.Input((4,)), fastcnn.Input((5,))
    with pytest.raises(ValueError, match="equal shapes"):
        L.Add()([a, b])
    with pytest.raises(ValueError, match="differ only along axis"):
        L.Concatenate(axis=1)([fastcnn.Input((2, 3)), fastcnn.Input((3, 4))])
    with pytest.raises(ValueError, match="not among the model's inputs"):
        fastcnn.Model(a, L.Dense(2)(L.Add()([a, L.Dense(4)(b)])))
    dense = L.Dense(3)
    dense(a)
    with pytest.raises(ValueError, match="shared layer"):
        dense(b)
    with pytest.raises(ValueError, match="exactly 2"):
        L.Subtract()([a, a, a])
    with pytest.raises(TypeError, match="symbolic"):
        fastcnn.Model(a, np.zeros(3))
    model = fastcnn.Model(a, L.Dense(2)(a))
    with pytest.raises(ValueError, match="per-sample input"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="inputs and outputs"):
        model.add(L.Dense(2))


def _merge_reference(name, xs):
    if name == "Add":
        return sum(xs)
    if name == "Subtract":
        return xs[0] - xs[1]
    if name == "Multiply":
        return np.prod(np.stack(xs), axis=0)
    if name == "Average":
        return np.mean(np.stack(xs), axis=0)
    if name == "Maximum":
        return np.max(np.stack(xs), axis=0)
    return np.concatenate(xs, axis=-1)


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate"])
def test_merge_layers_match_numpy_and_finite_differences(name):
    rng = np.random.default_rng(0)
    n = 2 if name == "Subtract" else 3
    xs = [rng.standard_normal((4, 3, 5)) for _ in range(n)]
    layer = getattr(L, name)(dtype="float64")
    y = layer.forward(xs)
    np.testing.assert_allclose(y, _merge_reference(name, xs), rtol=1e-12)
    dout = rng.standard_normal(y.shape)
    grads = layer.backward(dout)
    assert len(grads) == n
    for i in range(n):
        xi = xs[i].copy()
        other = getattr(L, name)(dtype="float64")
        numeric = numeric_grad(lambda: other.forward(xs[:i] + [xi] + xs[i + 1 :]), xi, dout)  # noqa: B023
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-8)


def test_maximum_gives_ties_to_the_first_input():
    layer = L.Maximum(dtype="float64")
    x = np.ones((1, 3))
    layer.forward([x, x.copy()])
    first, second = layer.backward(np.full((1, 3), 2.0))
    np.testing.assert_array_equal(first, 2.0)
    np.testing.assert_array_equal(second, 0.0)


def test_graph_gradients_equal_finite_differences_with_a_shared_layer():
    model = _small_graph()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 6, 6))
    r = rng.standard_normal((3, 4))
    y = model._forward(x, training=True)
    dx = model._backward(r)
    xv = x.copy()
    np.testing.assert_allclose(
        dx, numeric_grad(lambda: model._forward(xv, training=True), xv, r), rtol=1e-5, atol=1e-8
    )
    shared = next(layer for layer in model.layers if type(layer) is L.Dense)
    kernel = shared.kernel
    analytic = shared.grads[0].copy()

    shared.kernel = kernel.copy()
    numeric = numeric_grad(lambda: model._forward(x, training=True), shared.kernel, r)
    shared.kernel = kernel
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert y.shape == (3, 4)


def _two_by_two(seed=1):
    a, b = fastcnn.Input((4,), name="a"), fastcnn.Input((4,), name="b")
    h = L.Dense(6, activation="relu", seed=seed)(L.Concatenate()([a, b]))
    return fastcnn.Model([a, b], [L.Dense(2, seed=seed + 1)(h), L.Dense(3, seed=seed + 2)(h)])


def test_several_inputs_and_outputs_predict():
    model = _two_by_two()
    rng = np.random.default_rng(2)
    xa, xb = rng.standard_normal((10, 4)).astype(np.float32), rng.standard_normal((10, 4)).astype(np.float32)
    one, two = model.predict([xa, xb], batch_size=4)
    assert one.shape == (10, 2) and two.shape == (10, 3)
    whole = model([xa, xb])
    np.testing.assert_allclose(whole[0], one, rtol=1e-6)
    np.testing.assert_allclose(whole[1], two, rtol=1e-6)


def test_several_inputs_and_outputs_train_with_weighted_losses(tmp_path):
    rng = np.random.default_rng(3)
    xa, xb = rng.standard_normal((64, 4)), rng.standard_normal((64, 4))
    ya = (xa[:, :2] - xb[:, 2:]).astype(np.float32)  # a regression target
    yb = (xa.sum(1) > 0).astype(np.int64) + (xb.sum(1) > 0)  # three classes
    model = _two_by_two()
    model.compile(
        optimizers.Adam(1e-2),
        ["mse", losses.SparseCategoricalCrossentropy(from_logits=True)],
        metrics=[],
        loss_weights=[1.0, 0.5],
    )
    pred = model.predict([xa, xb])
    mse = losses.MeanSquaredError()(pred[0], ya)
    sce = losses.SparseCategoricalCrossentropy(from_logits=True)(pred[1], yb)
    logs = model.evaluate([xa, xb], [ya, yb], return_dict=True)
    one, two = model.output_names
    assert list(logs) == ["loss", f"{one}_loss", f"{two}_loss"] == model.metrics_names
    np.testing.assert_allclose(list(logs.values()), [mse + 0.5 * sce, mse, 0.5 * sce], rtol=1e-6)
    history = model.fit(
        [xa, xb],
        [ya, yb],
        batch_size=16,
        epochs=20,
        verbose=0,
        seed=0,
        validation_data=([xa[:8], xb[:8]], [ya[:8], yb[:8]]),
    )
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert "val_loss" in history.history
    model.save(tmp_path / "two.npz")
    loaded = fastcnn.load_model(tmp_path / "two.npz")
    model.fit([xa, xb], [ya, yb], batch_size=16, epochs=1, verbose=0, seed=5)
    loaded.fit([xa, xb], [ya, yb], batch_size=16, epochs=1, verbose=0, seed=5)
    for p, q in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="3 losses|2 outputs"):
        model.compile("sgd", ["mse", "mse", "mse"], metrics=[])
    with pytest.raises(ValueError, match="metrics"):
        model.compile("sgd", "mse", metrics=["mae"])


def test_save_load_and_resume_are_bit_exact(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    def build():
        model = zoo.resnet20(seed=1, input_shape=(3, 8, 8))
        model.compile(optimizers.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    model = build()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "graph.npz")
    loaded = fastcnn.load_model(tmp_path / "graph.npz")
    assert type(loaded) is fastcnn.Model
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=1)
    loaded.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=1)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


def test_resnet20_has_the_papers_size_and_trains():
    model = zoo.resnet20(seed=0)
    assert 0.26e6 < model.count_params() < 0.28e6
    model.compile(optimizers.SGD(0.05, momentum=0.9), losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    first = model.train_on_batch(x, y)
    for _ in range(8):
        last = model.train_on_batch(x, y)
    assert last < first


# --------------------------------------------------------------- PyTorch twin


def _torch_run(model, params, x):
    """model's graph computed by torch.nn.functional with `params` (layer name -> tensors)."""
    import torch
    import torch.nn.functional as TF

    values = {id(t): x for t in model._inputs}
    for node in model._nodes:
        layer = node.layer
        args = [values[id(t)] for t in node.inputs]
        h = args[0]
        kind = type(layer).__name__
        p = params.get(layer.name)
        if kind == "Conv2D":
            bias = p[1] if layer.use_bias else None
            h = TF.conv2d(h, p[0], bias, stride=layer.strides, padding=layer.padding)
        elif kind == "Conv2DTranspose":
            pads, extra = layer._geometry(h.shape[2:])
            h = TF.conv_transpose2d(h, p[0], p[1], layer.strides, tuple(a for a, _ in pads), extra)
        elif kind == "BatchNormalization":
            h = TF.batch_norm(h, None, None, p[0], p[1], training=True, eps=layer.epsilon)
        elif kind == "ReLU":
            h = torch.relu(h)
        elif kind == "Add":
            h = args[0] + args[1]
        elif kind == "Concatenate":
            h = torch.cat(args, dim=layer.axis)
        elif kind == "MaxPool2D":
            h = TF.max_pool2d(h, layer.pool_size, layer.strides)
        elif kind == "GlobalAvgPool2D":
            h = h.mean(dim=(2, 3))
        elif kind == "Dense":
            h = h @ p[0] + p[1]
        else:
            raise AssertionError(kind)
        if getattr(layer, "activation", None) == "relu":
            h = torch.relu(h)
        values[id(node.output)] = h
    return values[id(model._outputs[0])]


@pytest.mark.parametrize("name", ["resnet20", "unet"])
def test_graph_models_match_a_pytorch_twin_over_five_sgd_steps(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    if name == "resnet20":
        model = zoo.resnet20(seed=2, input_shape=(3, 16, 16))
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        x, y = rng.standard_normal((6, 3, 16, 16)), rng.integers(0, 10, 6)

        def torch_loss(out, target):
            return torch.nn.functional.cross_entropy(out, target)
    else:
        model = zoo.unet(seed=2, input_shape=(1, 12, 12), base=4)
        loss = losses.BinaryCrossentropy(from_logits=True)
        x, y = rng.standard_normal((3, 1, 12, 12)), (rng.random((3, 1, 12, 12)) < 0.3).astype(np.float64)

        def torch_loss(out, target):
            return torch.nn.functional.binary_cross_entropy_with_logits(out, target)

    for layer in model.layers:
        layer.astype("float64")
    model.compile(optimizers.SGD(0.1), loss)
    params = {
        layer.name: [torch.tensor(p.copy(), requires_grad=True) for p in layer.params]
        for layer in model.layers
        if layer.params
    }
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(5):
        out = model._forward(x, training=True)
        twin = _torch_run(model, params, tx)
        np.testing.assert_allclose(out, twin.detach().numpy(), rtol=1e-8, atol=1e-10)
        torch_loss(twin, ty).backward()
        model.train_on_batch(x, y)  # the same forward again, backward and the update
        with torch.no_grad():
            for layer in model.layers:
                for grad, theirs in zip(layer.grads, params.get(layer.name, [])):
                    scale = max(1.0, float(theirs.grad.abs().max()))
                    np.testing.assert_allclose(grad, theirs.grad.numpy(), rtol=1e-8, atol=1e-10 * scale)
                    theirs -= 0.1 * theirs.grad
                    theirs.grad = None
    for layer in model.layers:
        for ours, theirs in zip(layer.params, params.get(layer.name, [])):
            np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-8, atol=1e-10)


def test_unet_learns_masks_of_generated_shapes():
    rng = np.random.default_rng(9)
    n, size = 48, 16
    yy, xx = np.mgrid[:size, :size]
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    y = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):  # a bright disc or square on noise; the mask marks it
        cy, cx, r = rng.integers(4, size - 4, 2).tolist() + [int(rng.integers(2, 4))]
        inside = (
            (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r if i % 2 else (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        )
        y[i, 0][inside] = 1
        x[i, 0][inside] += 1
    model = zoo.unet(seed=0, input_shape=(1, size, size), base=8)
    model.compile(optimizers.Adam(3e-3), losses.BinaryCrossentropy(from_logits=True), metrics=[])
    first = model.evaluate(x, y)
    model.fit(x, y, batch_size=16, epochs=15, verbose=0, seed=0)
    assert model.evaluate(x, y) < 0.5 * first
    predicted = model.predict(x) > 0
    iou = np.logical_and(predicted, y > 0).sum() / np.logical_or(predicted, y > 0).sum()
    assert iou > 0.6, iou


# ------------------------------------------------------- native inference plan


def _plan_of(model, x):
    return model._graph_plan(x)


def test_resnet_inference_runs_as_one_native_plan_equal_to_the_layers():
    model = zoo.resnet20(seed=3, input_shape=(3, 16, 16))
    model.compile(optimizers.SGD(0.05), losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(6)
    x = rng.standard_normal((12, 3, 16, 16)).astype(np.float32)
    model.train_on_batch(x, rng.integers(0, 10, 12))  # moves the batch norms' statistics
    plan = _plan_of(model, x)
    convs = sum(type(layer) is L.Conv2D for layer in model.layers)
    adds = sum(type(layer) is L.Add for layer in model.layers)
    assert plan is not None and plan.plan.steps == convs + adds + 2  # BN, ReLU folded; pool, dense
    for batch in (1, 5, 12):
        got = model.predict(x[:batch], batch_size=batch)
        with fastcnn.reference_path():
            want = model.predict(x[:batch], batch_size=batch)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    before = model.predict(x)
    model.train_on_batch(x, rng.integers(0, 10, 12))  # new weights: the plan is rebuilt
    after = model.predict(x)
    assert not np.allclose(before, after)
    with fastcnn.reference_path():
        np.testing.assert_allclose(after, model.predict(x), rtol=1e-4, atol=1e-4 * np.abs(after).max())


def test_graph_plan_keeps_shared_tensors_and_falls_back_where_it_must():
    rng = np.random.default_rng(7)
    inputs = fastcnn.Input((4, 6, 6))
    c = L.Conv2D(4, 3, padding="same", seed=1)(inputs)
    b = L.BatchNormalization()(c)
    r = L.ReLU()(b)
    # BN's output read twice: the ReLU cannot be fused into the fold, the Add sees b
    out = L.Dense(3, seed=2)(L.Flatten()(L.Add()([r, b])))
    model = fastcnn.Model(inputs, out)
    model.build(model.input_shape)
    x = rng.standard_normal((3, 4, 6, 6)).astype(np.float32)
    assert _plan_of(model, x) is not None
    with fastcnn.reference_path():
        want = model.predict(x)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)
    # a node without a lowering (Multiply): the layers' own forwards run
    m2 = fastcnn.Model(inputs, L.Dense(2, seed=3)(L.Flatten()(L.Multiply()([c, c]))))
    assert _plan_of(m2, x) is None
    with fastcnn.reference_path():
        want2 = m2.predict(x)
    np.testing.assert_allclose(m2.predict(x), want2, rtol=1e-6)


def test_native_add_step_checks_its_operands():
    plan = fastcnn._C.InferencePlan("float32", 8, 8, 32)
    a = plan.value(0, 8)
    b = plan.value(16, 4)
    with pytest.raises(ValueError, match="differ in size"):
        plan.add(0, b, 1, 8, "relu", 0.0)
    plan.activation(0, a, 8, "identity", 0.0)
    plan.add(0, a, 1, 8, "relu", 0.0)
    x = np.arange(-4, 4, dtype=np.float32)
    out = np.empty(8, np.float32)
    plan.run(x, out)
    np.testing.assert_array_equal(out, np.maximum(2 * x, 0))


def test_graph_training_fuses_batch_norm_and_relu_where_nothing_else_reads_between():
    model = zoo.resnet20(seed=4, input_shape=(3, 8, 8))
    model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((4, 3, 8, 8)).astype(np.float32), rng.integers(0, 10, 4)
    unfused = zoo.resnet20(seed=4, input_shape=(3, 8, 8))
    unfused.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
    unfused._bn_activation = {}
    for _ in range(3):
        a, b = model.train_on_batch(x, y), unfused.train_on_batch(x, y)
        np.testing.assert_allclose(a, b, rtol=1e-5)
    relus_after_bn = sum(1 for n in model._nodes if id(n) in model._fused_now)
    assert relus_after_bn == 10  # the stem and the first conv of each of the 9 blocks; the rest follow an Add
    for p, q in zip(model.get_weights(), unfused.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)


def test_torch_state_dict_loads_into_a_graph_model_in_layer_order():
    torch = pytest.importorskip("torch")
    source = zoo.resnet20(seed=1, input_shape=(3, 8, 8))
    target = zoo.resnet20(seed=2, input_shape=(3, 8, 8))
    state = {}
    for layer in source.layers:  # PyTorch's names and layouts, in the model's layer order
        if type(layer) is L.Conv2D:
            state[f"{layer.name}.weight"] = torch.tensor(layer.kernel)
        elif type(layer) is L.BatchNormalization:
            for key, value in zip(("weight", "bias", "running_mean", "running_var"), layer.get_weights()):
                state[f"{layer.name}.{key}"] = torch.tensor(value)
        elif type(layer) is L.Dense:
            state[f"{layer.name}.weight"] = torch.tensor(layer.kernel.T.copy())
            state[f"{layer.name}.bias"] = torch.tensor(layer.bias)
    fastcnn.from_torch_state_dict(target, state)
    x = np.random.default_rng(11).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(target.predict(x), source.predict(x))


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_unet_like_graphs_run_as_one_native_plan(data_format):
    last = data_format == "channels_last"
    shape = (12, 12, 2) if last else (2, 12, 12)
    inputs = fastcnn.Input(shape)
    c1 = L.Conv2D(4, 3, padding=1, activation="relu", seed=1, data_format=data_format)(inputs)
    down = L.MaxPool2D(2, data_format=data_format)(c1)
    c2 = L.Conv2D(6, 3, padding=1, activation="relu", seed=2, data_format=data_format)(down)
    up = L.Conv2DTranspose(4, 2, strides=2, activation="relu", seed=3, data_format=data_format)(c2)
    joined = L.Concatenate(axis=-1 if last else 1)([up, c1])
    out = L.Conv2DTranspose(1, 3, padding="same", seed=4, data_format=data_format)(joined)
    model = fastcnn.Model(inputs, out)
    x = np.random.default_rng(12).standard_normal((3,) + shape).astype(np.float32)
    plan = model._graph_plan(x)
    assert plan is not None and plan.plan.steps == 6
    with fastcnn.reference_path():
        want = model.predict(x)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)
    one_d = fastcnn.Input((3, 10))
    y = L.Conv1DTranspose(2, 3, strides=2, padding="same", seed=5)(L.Conv1D(4, 3, padding=1, seed=6)(one_d))
    m1 = fastcnn.Model(one_d, y)
    x1 = np.random.default_rng(13).standard_normal((2, 3, 10)).astype(np.float32)
    assert m1._graph_plan(x1) is not None
    with fastcnn.reference_path():
        want1 = m1.predict(x1)
    np.testing.assert_allclose(m1.predict(x1), want1, rtol=1e-5, atol=1e-5)


def test_native_concat_and_transpose_steps_check_their_sizes():
    plan = fastcnn._C.InferencePlan("float32", 6, 10, 16)
    b = plan.value(0, 4)
    with pytest.raises(ValueError, match="second operand"):
        plan.concat(0, b, 1, 2, 3, 3)
    with pytest.raises(ValueError, match="elements"):
        plan.conv_transpose(
            0,
            1,
            (1, 2, 5, 5),
            np.ones((1, 2, 3, 3), np.float32),
            None,
            1,
            1,
            0,
            0,
            0,
            0,
            1,
            1,
            1,
            False,
            "identity",
            0.0,
        )


def test_several_outputs_log_each_outputs_loss_and_metrics_by_layer_name(tmp_path):
    a = fastcnn.Input((4,))
    h = L.Dense(6, activation="relu", seed=0)(a)
    model = fastcnn.Model(a, [L.Dense(3, seed=1, name="kind")(h), L.Dense(1, seed=2, name="flag")(h)])
    assert model.output_names == ["kind", "flag"]
    model.compile(
        optimizers.Adam(1e-2),
        [losses.SparseCategoricalCrossentropy(from_logits=True), losses.BinaryCrossentropy(from_logits=True)],
        metrics=[["accuracy", "f1"], ["accuracy", "auc"]],
        loss_weights=[1.0, 0.5],
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 4)).astype(np.float32)
    kind, flag = x[:, :3].argmax(1), (x[:, 3] > 0).astype(np.int64)
    names = ["loss", "kind_loss", "flag_loss", "kind_accuracy", "kind_f1", "flag_accuracy", "flag_auc"]
    assert model.metrics_names == names
    history = model.fit(x, [kind, flag], batch_size=16, epochs=2, verbose=0, seed=0, validation_split=0.25)
    assert list(history.history) == names + ["val_" + n for n in names]
    logs = model.evaluate(x, [kind, flag], return_dict=True)
    scores, logits = model.predict(x)
    assert logs["kind_f1"] == pytest.approx(fastcnn.metrics.f1_score(kind, scores))
    assert logs["flag_auc"] == pytest.approx(fastcnn.metrics.roc_auc(flag, logits))
    assert logs["flag_accuracy"] == pytest.approx(np.mean((logits[:, 0] > 0) == flag))  # logits: 0
    assert logs["loss"] == pytest.approx(logs["kind_loss"] + logs["flag_loss"], rel=1e-12)
    model.save(tmp_path / "two.npz")
    loaded = fastcnn.load_model(tmp_path / "two.npz")
    assert loaded.metrics_names == names and loaded.evaluate(x, [kind, flag], return_dict=True) == logs
    by_name = fastcnn.Model(a, [model.outputs[0], model.outputs[1]])
    by_name.compile("sgd", ["sparse_categorical_crossentropy", "mse"], metrics={"flag": "mae"})
    assert by_name.metrics_names == ["loss", "kind_loss", "flag_loss", "flag_mae"]
    with pytest.raises(ValueError, match="outputs \\['nope'\\]"):
        by_name.compile("sgd", "mse", metrics={"nope": "mae"})
