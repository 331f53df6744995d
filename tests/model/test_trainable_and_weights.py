"""layer.trainable = False (frozen weights, gradients still flow, BatchNorm in
inference mode), and save_weights / load_weights, for Sequential and graph models."""

import numpy as np
import pytest

import fastcnn
from fastcnn import layers as L, losses, optimizers, zoo


def _data(model, n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + tuple(model.input_shape)).astype(np.float32)
    return x, rng.integers(0, 10, n)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_frozen_layers_keep_their_weights_and_the_rest_train(optimizer):
    model = zoo.resnet20(seed=0, input_shape=(3, 8, 8))
    frozen = [layer for layer in model.layers if type(layer) is L.Conv2D][:3]
    bn = next(layer for layer in model.layers if type(layer) is L.BatchNormalization)
    for layer in frozen + [bn]:
        layer.trainable = False
    model.compile(optimizer, losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data(model)
    before = {id(layer): [w.copy() for w in layer.get_weights()] for layer in model.layers}
    for _ in range(3):
        model.train_on_batch(x, y)
    for layer in model.layers:
        unchanged = all(np.array_equal(a, b) for a, b in zip(before[id(layer)], layer.get_weights()))
        if layer in frozen or layer is bn:  # a frozen BN also keeps its moving statistics
            assert unchanged, layer.name
        elif layer.params:
            assert not unchanged, layer.name
    # unfreezing resumes updates, the optimizer's state stays in place
    frozen[0].trainable = True
    kernel = frozen[0].kernel.copy()
    model.train_on_batch(x, y)
    assert not np.array_equal(kernel, frozen[0].kernel)


def test_frozen_batch_norm_normalises_by_its_moving_statistics():
    layer = L.BatchNormalization()
    x = np.random.default_rng(1).standard_normal((16, 3, 4, 4)).astype(np.float32) * 3 + 2
    layer.build(x.shape[1:])
    layer.trainable = False
    np.testing.assert_array_equal(layer.forward(x, training=True), layer.forward(x, training=False))


def test_summary_counts_frozen_weights_as_non_trainable():
    model = fastcnn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)])
    model.layers[0].trainable = False
    text = model.summary(print_fn=None)
    assert "Trainable params: 8" in text and "Non-trainable params: 15" in text


def test_trainable_survives_save_and_load(tmp_path):
    model = fastcnn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)])
    model.layers[0].trainable = False
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.npz")
    loaded = fastcnn.load_model(tmp_path / "m.npz")
    assert [layer.trainable for layer in loaded.layers] == [False, True]


@pytest.mark.parametrize(
    "build",
    [lambda: zoo.mnist_keras(seed=3), lambda: zoo.resnet20(seed=3, input_shape=(3, 8, 8))],
    ids=["sequential", "graph"],
)
def test_save_weights_and_load_weights_round_trip(tmp_path, build):
    model = build()
    model.compile(optimizers.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data(model)
    model.train_on_batch(x, y)
    model.save_weights(tmp_path / "w.npz")
    other = build()
    other.build(other.input_shape)
    assert not np.array_equal(other.predict(x), model.predict(x))
    other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_refuses_another_architecture(tmp_path):
    model = fastcnn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)])
    model.save_weights(tmp_path / "w.npz")
    other = fastcnn.Sequential([L.Input((4,)), L.Dense(5), L.Dense(2)])
    kernel = other.layers[1].kernel.copy()
    with pytest.raises(ValueError, match="layer 0"):
        other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.layers[1].kernel, kernel)  # nothing changed
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a fastcnn weights file"):
        model.load_weights(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.npz")


def test_optimizer_rejects_a_mask_of_the_wrong_length():
    p, g = np.ones(3), np.ones(3)
    with pytest.raises(ValueError, match="trainable flags"):
        optimizers.SGD(0.1).step([p], [g], [True, False])
