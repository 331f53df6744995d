"""Sequential: shapes, summary, training, evaluate/predict, determinism, History,
NaN stop, save/load (exact resume, atomic write, bad files) and a PyTorch twin.

Data are generated: 8x8 one-channel images holding a vertical bar (class 0) or
a horizontal bar (class 1) in noise, which a tiny CNN learns in a few epochs.
Optional packages (matplotlib, tqdm, torch, sklearn) are skipped or faked away.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import (
    History,
    Sequential,
    layers as L,
    load_model,
    losses,
    metrics,
    model as model_module,
    optimizers,
)

# ---------------------------------------------------------------------- helpers


def bars(n, seed=0, noise=0.3):
    """(x, y): (n, 1, 8, 8) float32 images, y = 0 for a vertical bar, 1 for a horizontal one."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 1, 8, 8)) * noise).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        r, c = rng.integers(0, 5, 2)
        if y[i] == 0:
            x[i, 0, r : r + 4, c + 1] += 1.5
        else:
            x[i, 0, r + 1, c : c + 4] += 1.5
    return x, y


def small_cnn(classes=2, seed=0, extra=(), after_pool=()):
    """Conv2D -> [extra] -> ReLU -> MaxPool -> [after_pool] -> Flatten -> Dense, seeded."""
    return Sequential(
        [
            L.Input((1, 8, 8)),
            L.Conv2D(4, 3, seed=seed),
            *extra,
            L.ReLU(),
            L.MaxPool2D(2),
            *after_pool,
            L.Flatten(),
            L.Dense(classes, seed=seed + 1),
        ]
    )


def compiled_cnn(seed=0, optimizer="adam", extra=(), after_pool=()):
    model = small_cnn(seed=seed, extra=extra, after_pool=after_pool)
    model.compile(optimizer, losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------- shapes


def test_shape_inference_with_input():
    model = small_cnn()
    assert model.built
    assert model.input_shape == (1, 8, 8)
    assert model.output_shape == (2,)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D",
        "ReLU",
        "MaxPool2D",
        "Flatten",
        "Dense",
    ]
    assert model.layers[-1].kernel.shape == (36, 2)  # 4 * 3 * 3 features


def test_shape_inference_lazy_and_build():
    model = Sequential([L.Conv2D(3, 3, padding="same"), L.Flatten(), L.Dense(5)])
    assert not model.built
    out = model.predict(np.zeros((2, 2, 6, 6), np.float32))
    assert out.shape == (2, 5)
    assert model.input_shape == (2, 6, 6)
    assert model.layers[-1].kernel.shape == (3 * 36, 5)
    other = Sequential([L.Flatten(), L.Dense(3)]).build((4, 2))
    assert other.output_shape == (3,)


def test_bad_shape_names_the_layer():
    with pytest.raises(ValueError, match="too_big"):
        Sequential([L.Input((1, 4, 4)), L.Conv2D(2, 5, name="too_big")])
    model = Sequential([L.Input((1, 8, 8)), L.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="needs_flat.*Flatten"):
        model.add(L.Dense(3, name="needs_flat"))
    with pytest.raises(ValueError, match="needs_flat"):
        Sequential([L.Conv2D(2, 3), L.Dense(3, name="needs_flat")]).build((1, 8, 8))
    with pytest.raises(ValueError, match=r"\(1, 8, 8\)"):
        small_cnn().predict(np.zeros((2, 1, 9, 9), np.float32))
    with pytest.raises(ValueError, match="Input"):
        Sequential([L.Dense(2), L.Input((3,))])


# ---------------------------------------------------------------------- summary


def test_summary_params_and_flops():
    model = small_cnn(extra=(L.BatchNormalization(name="bn"),))
    lines = []
    text = model.summary(print_fn=lines.append)
    assert lines == [text]
    # conv: 4*(1*9)+4 = 40 params, 2 * (4*6*6) * 9 = 2592 FLOPs
    # bn: 8 trainable + 8 moving stats, 2 * 144 = 288 FLOPs; dense: 36*2+2 = 74, 2*36*2 = 144
    assert "conv2d" in text and "(Conv2D)" in text and "(None, 4, 6, 6)" in text
    assert "bn (BatchNormalization)" in text and "(None, 2)" in text
    assert "2,592" in text and "288" in text and "144" in text
    assert "Total params: 130" in text
    assert "Trainable params: 122" in text
    assert "Non-trainable params: 8" in text
    assert "Total FLOPs (forward, per sample): 3,024" in text
    assert model.count_params() == 122


def test_summary_needs_build():
    with pytest.raises(ValueError, match="not built"):
        Sequential([L.Dense(2)]).summary()


# ---------------------------------------------------------------------- training


def test_small_cnn_learns_bars():
    x, y = bars(600, seed=1)
    x_test, y_test = bars(200, seed=2)
    model = compiled_cnn(optimizer=optimizers.Adam(0.01))
    before = model.evaluate(x_test, y_test)
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0, seed=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert all(b < a for a, b in zip(loss, loss[1:]))
    test_loss, test_acc = model.evaluate(x_test, y_test)
    assert test_loss < before[0]
    assert test_acc > 0.95, history.history
    assert history.history["accuracy"][-1] > 0.9


def test_binary_accuracy_and_labels_without_axis():
    x, y = bars(400, seed=3)
    model = Sequential(
        [
            L.Input((1, 8, 8)),
            L.Conv2D(4, 3, seed=0),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(1, activation="sigmoid", seed=1),
        ]
    )
    model.compile(optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy", "mse"])
    history = model.fit(x, y, epochs=5, verbose=0, seed=0)  # y is (N,), output (N, 1)
    assert set(history.history) == {"loss", "accuracy", "mse"}
    loss, acc, mse = model.evaluate(x, y)
    assert acc > 0.9 and mse < 0.1


def test_accuracy_forms():
    def acc(y_pred, y_true, threshold=None):
        metric = metrics.Accuracy(threshold=threshold)
        metric.update_state(y_true, y_pred)
        return metric.result()

    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [9.0, 0.0, 1.0]])
    assert acc(logits, np.array([0, 1, 2, 1])) == 0.75  # sparse
    assert acc(logits, np.array([[0], [1], [2], [1]])) == 0.75  # sparse (N, 1)
    assert acc(logits, np.eye(3)[[0, 1, 2, 1]]) == 0.75  # one-hot
    assert acc(np.array([[0.2], [0.7], [0.6]]), np.array([0, 1, 0])) == 2 / 3  # binary
    assert acc(np.array([[-1.0], [2.0]]), np.array([0.0, 1.0]), threshold=0.0) == 1.0


def test_evaluate_predict_shapes():
    x, y = bars(70)
    model = compiled_cnn()
    result = model.evaluate(x, y, batch_size=16)
    assert isinstance(result, list) and len(result) == 2
    assert all(isinstance(v, float) for v in result)
    out = model.predict(x, batch_size=16)  # 70 = 4 * 16 + 6
    assert out.shape == (70, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(x, batch_size=70), rtol=1e-6, atol=1e-6)
    assert model.predict(x[:0]).shape == (0, 2)
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[])
    assert isinstance(model.evaluate(x, y), float)
    assert isinstance(model.train_on_batch(x[:8], y[:8]), float)
    assert isinstance(model.test_on_batch(x[:8], y[:8]), float)


def test_softmax_with_categorical_crossentropy_one_hot():
    x, y = bars(300, seed=4)
    model = Sequential([L.Input((1, 8, 8)), L.Flatten(), L.Dense(2, seed=0), L.Softmax()])
    model.compile(optimizers.Adam(0.01), "categorical_crossentropy")
    history = model.fit(x, np.eye(2)[y], epochs=5, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(x[:5]).sum(axis=1), 1, rtol=1e-5)


def test_not_compiled():
    with pytest.raises(RuntimeError, match="compile"):
        small_cnn().fit(*bars(8), verbose=0)


# ---------------------------------------------------------------------- determinism


def test_determinism_with_seed():
    x, y = bars(200)
    runs = []
    for _ in range(2):
        model = compiled_cnn(seed=5, extra=(L.BatchNormalization(),), after_pool=(L.Dropout(0.2, seed=7),))
        runs.append((model, model.fit(x, y, epochs=2, verbose=0, seed=11)))
    assert_same_weights(runs[0][0], runs[1][0])
    assert runs[0][1].history == runs[1][1].history
    other = compiled_cnn(seed=5)
    other.fit(x, y, epochs=2, verbose=0, seed=12)  # another shuffle
    assert not np.array_equal(other.layers[0].kernel, runs[0][0].layers[0].kernel)


class Recorder(L.Layer):
    """Passes data through and records the sample ids (first feature) it trains on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def forward(self, x, training=False):
        if training:
            self.seen.extend(np.asarray(x)[:, 0].astype(int).tolist())
        return x

    def backward(self, dout):
        return dout


def test_shuffle_order_per_epoch():
    x, y = np.arange(50, dtype=np.float32)[:, None], np.arange(50) % 2
    recorder = Recorder()
    model = Sequential([L.Input((1,)), recorder, L.Dense(2, seed=0)])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0, seed=1)
    epochs = [recorder.seen[i : i + 40] for i in range(0, 120, 40)]
    assert all(sorted(e) == list(range(40)) for e in epochs)  # last 10 held out
    assert epochs[0] != epochs[1] != epochs[2] != list(range(40))  # reshuffled every epoch
    recorder.seen.clear()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert recorder.seen == list(range(50))


def test_validation_split_takes_last_fraction():
    x, y = bars(100)
    model = compiled_cnn()
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in history.history.values())
    assert history.epoch == [0, 1]
    val_loss, val_acc = model.evaluate(x[75:], y[75:])
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-12)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc, rel=1e-12)
    # training saw exactly the first 75 samples
    twin = compiled_cnn()
    twin.fit(x[:75], y[:75], epochs=2, verbose=0, seed=0)
    assert_same_weights(model, twin)
    # validation_data gives the same logs
    third = compiled_cnn()
    h3 = third.fit(x[:75], y[:75], epochs=2, validation_data=(x[75:], y[75:]), verbose=0, seed=0)
    assert h3.history == history.history
    with pytest.raises(ValueError, match="validation_split"):
        compiled_cnn().fit(x, y, validation_split=1.0, verbose=0)


def test_history_keys_without_validation():
    history = compiled_cnn().fit(*bars(40), epochs=3, verbose=0, seed=0)
    assert isinstance(history, History)
    assert list(history.history) == ["loss", "accuracy"]
    assert [len(v) for v in history.history.values()] == [3, 3]


def test_callbacks_and_stop_training():
    seen = []

    class Stop:
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    model = compiled_cnn()
    history = model.fit(*bars(40), epochs=5, verbose=0, seed=0, callbacks=[Stop()])
    assert seen == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]
    assert len(history.history["loss"]) == 2 and model.epochs == 2


# ---------------------------------------------------------------------- progress, plot


def test_verbose_fallback_prints_one_line_per_epoch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were absent
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    compiled_cnn().fit(*bars(40), epochs=2, verbose=1, seed=0, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2") and "loss:" in lines[0] and "accuracy:" in lines[0]
    assert "val_loss:" in lines[1] and "images/s" in lines[1]


def test_verbose_zero_is_silent(capsys):
    compiled_cnn().fit(*bars(40), epochs=1, verbose=0, seed=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_tqdm_progress_bar(capsys):
    pytest.importorskip("tqdm")
    compiled_cnn().fit(*bars(40), epochs=1, verbose=1, seed=0)
    err = capsys.readouterr().err
    assert "Epoch 1/1" in err and "img/s" in err and "loss" in err


def test_history_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = compiled_cnn().fit(*bars(60), epochs=2, validation_split=0.2, verbose=0, seed=0)
    path = tmp_path / "curves.png"
    history.plot(path)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_history_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    history = History()
    history.append(0, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"\[plot\]"):
        history.plot()


# ---------------------------------------------------------------------- NaN stop


def test_nan_loss_stops_training():
    x, y = bars(64)
    x[40] = np.nan  # poisons the 2nd batch of 32
    model = compiled_cnn()
    with pytest.raises(FloatingPointError, match="epoch 1, batch 2"):
        model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())  # stopped before the update
    history = compiled_cnn().fit(x, y, epochs=1, shuffle=False, verbose=0, stop_on_nan=False)
    assert np.isnan(history.history["loss"][0])


# ---------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path):
    x, y = bars(100)
    model = compiled_cnn(optimizer=optimizers.SGD(0.05, momentum=0.9), extra=(L.BatchNormalization(),))
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert_same_weights(loaded, model)  # moving stats included
    assert loaded.summary(print_fn=None) == model.summary(print_fn=None)
    assert isinstance(loaded.optimizer, optimizers.SGD)
    assert loaded.optimizer.momentum == 0.9 and loaded.optimizer.iterations == 8
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy)
    assert loaded.loss.from_logits and loaded.metrics_names == ["loss", "accuracy"]
    assert loaded.epochs == 2
    assert loaded.evaluate(x, y) == model.evaluate(x, y)


def test_save_load_uncompiled_and_unbuilt(tmp_path):
    model = Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], name="lazy")
    model.save(tmp_path / "lazy.npz")
    loaded = load_model(tmp_path / "lazy.npz")
    assert loaded.name == "lazy" and not loaded.built and loaded.loss is None
    assert loaded.predict(np.ones((1, 1, 5, 5))).shape == (1, 3)


@pytest.mark.parametrize("optimizer", ["adam", "nadam", "rmsprop"])
def test_resume_exactly(tmp_path, optimizer):
    x, y = bars(96)

    def fresh():
        return compiled_cnn(
            seed=3,
            optimizer=optimizer,
            extra=(L.BatchNormalization(),),
            after_pool=(L.Dropout(0.25, seed=9),),
        )

    straight = fresh()
    straight.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=4)

    first = fresh()
    first.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=4)
    first.save(tmp_path / "ckpt.npz")
    first.fit(x, y, batch_size=16, epochs=3, verbose=0, seed=4)  # later state not saved
    resumed = load_model(tmp_path / "ckpt.npz")
    resumed.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=4)

    assert resumed.epochs == straight.epochs == 2
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 12
    assert_same_weights(resumed, straight)


def test_atomic_save_leaves_no_temp_files(tmp_path, monkeypatch):
    model = compiled_cnn()
    path = tmp_path / "model.npz"
    model.save(path)
    model.save(path)  # overwrite
    assert os.listdir(tmp_path) == ["model.npz"]
    good = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temp file left
    assert path.read_bytes() == good  # old file untouched


def test_truncated_or_foreign_file_raises(tmp_path):
    model = compiled_cnn()
    path = tmp_path / "model.npz"
    model.save(path)
    data = path.read_bytes()
    for size in (len(data) // 2, 100, 3, 0):
        cut = tmp_path / f"cut{size}.npz"
        cut.write_bytes(data[:size])
        with pytest.raises(ValueError, match="fastcnn model"):
            load_model(cut)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    with pytest.raises(ValueError, match="fastcnn model"):
        load_model(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="fastcnn model"):
        load_model(text)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")


# ---------------------------------------------------------------------- real data


def test_digits_cnn():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target
    model = Sequential(
        [
            L.Input((1, 8, 8)),
            L.Conv2D(8, 3, padding="same", seed=0),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(10, seed=1),
        ]
    )
    model.compile(optimizers.Adam(0.01), losses.SparseCategoricalCrossentropy(from_logits=True))
    order = np.random.default_rng(0).permutation(len(x))  # mix the writers
    train, test = order[:1400], order[1400:]
    history = model.fit(x[train], y[train], epochs=8, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, acc = model.evaluate(x[test], y[test])
    assert acc > 0.93


# ---------------------------------------------------------------------- PyTorch twin


def test_torch_twin_one_sgd_step():
    torch = pytest.importorskip("torch")
    x, y = bars(16, seed=6)
    model = Sequential(
        [
            L.Input((1, 8, 8)),
            L.Conv2D(3, 3, seed=0),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(2, seed=1),
        ]
    )
    model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
    conv, dense = model.layers[0], model.layers[-1]

    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(27, 2),
    )
    with torch.no_grad():
        twin[0].weight.copy_(torch.from_numpy(conv.kernel))
        twin[0].bias.copy_(torch.from_numpy(conv.bias))
        twin[4].weight.copy_(torch.from_numpy(dense.kernel.T.copy()))
        twin[4].bias.copy_(torch.from_numpy(dense.bias))
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    loss_t = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
    opt.zero_grad()
    loss_t.backward()
    opt.step()

    loss, _ = model.train_on_batch(x, y)
    assert loss == pytest.approx(loss_t.item(), rel=1e-5)
    expected = [twin[0].weight, twin[0].bias, twin[4].weight.T, twin[4].bias]
    for ours, theirs in zip([conv.kernel, conv.bias, dense.kernel, dense.bias], expected):
        theirs = theirs.detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * np.abs(theirs).max())


def test_package_exports():
    assert fastcnn.Sequential is Sequential and fastcnn.load_model is load_model
    assert fastcnn.layers is L and fastcnn.losses is losses and fastcnn.optimizers is optimizers


def test_learning_rate_scheduler_sets_the_rate_before_each_epoch():
    from fastcnn import layers as L, optimizers
    from fastcnn.model import LearningRateScheduler, Sequential

    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4), dtype=np.float32), rng.integers(0, 3, 16)
    model = Sequential([L.Input((4,)), L.Dense(3, seed=0)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
    seen = []

    class Spy:
        def on_epoch_end(self, epoch, logs):
            seen.append(model.optimizer.learning_rate)

    model.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: 0.1 * 0.5**e), Spy()])
    assert seen == [0.1, 0.05, 0.025]
