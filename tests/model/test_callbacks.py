"""fastcnn.callbacks against hand-computed expectations: a scripted metric sequence
drives EarlyStopping, ModelCheckpoint and ReduceLROnPlateau, whose stopping epoch,
files and learning rates are worked out by hand from Keras' rules; the hook order;
CSVLogger rows; TerminateOnNaN; LearningRateScheduler; History.plot."""

import csv
import math
import os
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import Sequential, callbacks as C, layers as L, losses, optimizers, schedules


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    return x, x[:, :3].argmax(1)


def _model(lr=0.1, metrics=("accuracy",)):
    model = Sequential([L.Input((5,)), L.Dense(3, seed=0)])
    model.compile(optimizers.SGD(lr), losses.SparseCategoricalCrossentropy(from_logits=True), list(metrics))
    return model


class Scripted(C.Callback):
    """Writes values[epoch] under `key` into the epoch logs, and keeps each epoch's weights."""

    def __init__(self, values, key="score"):
        super().__init__()
        self.values, self.key, self.weights = list(values), key, {}

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights[epoch] = [w.copy() for w in self.model.get_weights()]


def _fit(model, callbacks, epochs, **kwargs):
    x, y = _data()
    return model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, seed=0, callbacks=callbacks, **kwargs)


# ------------------------------------------------------------------ EarlyStopping


def test_early_stopping_stops_at_the_computed_epoch_and_restores_the_best_weights():
    # best 1.0 (e0), 0.8 improves by more than 0.02 (e1); 0.85 (e2) and 0.79 (e3, not by
    # 0.02) do not: patience 2 runs out at epoch 3; the best epoch is 1
    script = Scripted([1.0, 0.8, 0.85, 0.79, 0.9, 0.95, 0.7])
    stop = C.EarlyStopping("score", min_delta=0.02, patience=2, mode="min", restore_best_weights=True)
    model = _model()
    history = _fit(model, [script, stop], epochs=7)
    assert history.epoch == [0, 1, 2, 3] and model.epochs == 4
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (3, 1, 0.8)
    for got, best in zip(model.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(got, best)
    assert not all(np.array_equal(a, b) for a, b in zip(script.weights[1], script.weights[3]))


def test_early_stopping_baseline_and_start_from_epoch():
    def stopped(values, **kwargs):
        model = _model()
        history = _fit(
            model, [Scripted(values), C.EarlyStopping("score", mode="min", **kwargs)], epochs=len(values)
        )
        return history.epoch[-1]

    # improving but never under the baseline: the count of epochs is not reset
    assert stopped([1.0, 0.9, 0.95, 0.97], patience=2) == 3
    assert stopped([1.0, 0.9, 0.95, 0.97], patience=2, baseline=0.5) == 2
    # epochs before start_from_epoch are not watched
    assert stopped([1.0, 2.0, 3.0, 4.0, 5.0], patience=1) == 1
    assert stopped([1.0, 2.0, 3.0, 4.0, 5.0], patience=1, start_from_epoch=2) == 3


def test_early_stopping_mode_auto_and_missing_monitor():
    assert C.EarlyStopping("val_accuracy").mode == "max" and C.EarlyStopping().mode == "min"
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        C.EarlyStopping("score")
    with pytest.raises(ValueError, match="mode"):
        C.EarlyStopping(mode="down")
    model = _model()
    with pytest.warns(RuntimeWarning, match="val_loss"):
        history = _fit(model, [C.EarlyStopping(patience=0)], epochs=2)  # no validation data
    assert len(history.epoch) == 2


def test_early_stopping_on_real_validation_loss():
    x, y = _data(96)
    model = _model(lr=2.0)  # too large a rate: the validation loss soon stops improving
    stop = C.EarlyStopping(patience=1, restore_best_weights=True)
    history = model.fit(
        x, y, batch_size=8, epochs=30, verbose=0, seed=0, validation_split=0.25, callbacks=[stop]
    )
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) < 30 and stop.best_epoch == best and stop.stopped_epoch == len(val) - 1
    assert model.evaluate(x[72:], y[72:]) == pytest.approx([val[best], history.history["val_accuracy"][best]])


# ------------------------------------------------------------------ ModelCheckpoint


def test_model_checkpoint_save_best_only_names_files_from_the_logs(tmp_path):
    script = Scripted([0.5, 0.7, 0.4, 0.45])
    path = tmp_path / "sub" / "ckpt-{epoch:02d}-{score:.2f}.npz"
    checkpoint = C.ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True)
    model = _model()
    _fit(model, [script, checkpoint], epochs=4)
    assert sorted(os.listdir(tmp_path / "sub")) == ["ckpt-01-0.50.npz", "ckpt-03-0.40.npz"]
    loaded = fastcnn.load_model(tmp_path / "sub" / "ckpt-03-0.40.npz")
    assert loaded.epochs == 3
    for got, want in zip(loaded.get_weights(), script.weights[2]):
        np.testing.assert_array_equal(got, want)


def test_model_checkpoint_weights_only_every_epoch_and_every_n_batches(tmp_path):
    model = _model()
    _fit(model, [C.ModelCheckpoint(tmp_path / "w{epoch}.npz", save_weights_only=True)], epochs=2)
    assert sorted(os.listdir(tmp_path)) == ["w1.npz", "w2.npz"]
    twin = _model(lr=0.0)
    twin.load_weights(tmp_path / "w2.npz")
    for a, b in zip(twin.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    batches = tmp_path / "batches"
    _fit(_model(), [C.ModelCheckpoint(batches / "e{epoch}-b{batch}.npz", save_freq=3)], epochs=2)
    # 4 batches per epoch: saves after batches 3, 6 (epoch 2, batch 2) and 9... of 8 in all
    assert sorted(os.listdir(batches)) == ["e1-b3.npz", "e2-b2.npz"]
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("x.npz", save_freq=0)


def test_model_checkpoint_bad_field_and_atomic_failure(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="val_acc"):
        _fit(_model(), [C.ModelCheckpoint(tmp_path / "{val_acc}.npz")], epochs=1)
    path = tmp_path / "last.npz"
    model = _model()
    _fit(model, [C.ModelCheckpoint(path)], epochs=1)
    good = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        _fit(model, [C.ModelCheckpoint(path)], epochs=1)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["last.npz"]  # no temp file left


# --------------------------------------------------------------- ReduceLROnPlateau


def test_reduce_lr_on_plateau_follows_the_hand_computed_rates():
    # patience 1, cooldown 2 (Keras counts the reduction's epoch), factor 0.5, floor 0.02:
    # e1 reduces to 0.05, e2 cools down, e3 reduces to 0.025, e4 cools down, e5 improves,
    # e6 would give 0.0125 but stops at min_lr
    script = Scripted([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    reduce = C.ReduceLROnPlateau(
        "score", factor=0.5, patience=1, cooldown=2, min_delta=0, min_lr=0.02, mode="min"
    )
    seen = []
    spy = C.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    model = _model(lr=0.1)
    history = _fit(model, [spy, script, reduce], epochs=7)
    want = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025]
    assert seen == pytest.approx(want)
    assert history.history["learning_rate"] == pytest.approx(want)  # the rate each epoch ran with
    assert model.optimizer.learning_rate == pytest.approx(0.02)


def test_reduce_lr_refuses_a_schedule_clearly():
    model = Sequential([L.Input((5,)), L.Dense(3, seed=0)])
    model.compile(
        optimizers.SGD(schedules.StepDecay(0.1, 5)), losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    with pytest.raises(TypeError, match="schedule"):
        _fit(model, [C.ReduceLROnPlateau()], epochs=1)
    with pytest.raises(ValueError, match="factor"):
        C.ReduceLROnPlateau(factor=1.0)


# ------------------------------------------------------------------ CSVLogger


def test_csv_logger_rows_separator_and_append(tmp_path):
    path = tmp_path / "log.csv"
    model = _model()
    x, y = _data()
    history = model.fit(
        x, y, epochs=2, verbose=0, seed=0, validation_split=0.25, callbacks=[C.CSVLogger(path)]
    )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for key in ("loss", "val_accuracy"):
        assert [float(r[key]) for r in rows] == history.history[key]  # full precision
    model.fit(
        x, y, epochs=1, verbose=0, seed=0, validation_split=0.25, callbacks=[C.CSVLogger(path, append=True)]
    )
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines[3].startswith("2,") and lines.count(lines[0]) == 1
    _fit(_model(), [C.CSVLogger(tmp_path / "semi.csv", separator=";")], epochs=1)
    header, row = (tmp_path / "semi.csv").read_text().splitlines()
    assert header == "epoch;accuracy;loss;val_accuracy;val_loss" and row.endswith(";NA;NA")


# ------------------------------------------------------------------ TerminateOnNaN


def test_terminate_on_nan_stops_after_the_batch_without_applying_it(capsys):
    x, y = _data()
    x[20, 0] = np.nan  # the 2nd batch of 16
    model = _model()
    after = []
    record = C.LambdaCallback(on_train_batch_end=lambda b, logs: after.append(model.get_weights()))
    history = model.fit(
        x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[C.TerminateOnNaN(), record]
    )
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    assert len(after) == 2 and model.epochs == 1 and model.optimizer.iterations == 1
    for a, b in zip(after[0], model.get_weights()):  # the NaN step was not applied
        np.testing.assert_array_equal(a, b)
    assert math.isnan(history.history["loss"][0])


# ------------------------------------------------------------- LearningRateScheduler


def test_learning_rate_scheduler_one_and_two_argument_forms():
    seen = []
    spy = C.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(logs["learning_rate"]))
    _fit(_model(), [C.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)), spy], epochs=3)
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    seen.clear()
    _fit(_model(lr=0.4), [C.LearningRateScheduler(lambda epoch, lr: lr * 0.5), spy], epochs=3)
    assert seen == pytest.approx([0.2, 0.1, 0.05])
    seen.clear()
    _fit(_model(), [C.LearningRateScheduler(schedules.StepDecay(0.1, step_size=2, gamma=0.1)), spy], epochs=4)
    assert seen == pytest.approx([0.1, 0.1, 0.01, 0.01])  # a schedule of the epoch
    with pytest.raises(TypeError, match="callable"):
        C.LearningRateScheduler(0.1)


def test_learning_rate_scheduler_refuses_a_schedule_optimizer():
    model = Sequential([L.Input((5,)), L.Dense(3, seed=0)])
    model.compile(optimizers.Adam(schedules.CosineDecay(0.1, 10)), "mse")
    with pytest.raises(TypeError, match="schedule"):
        model.fit(
            np.zeros((4, 5)), np.zeros((4, 3)), verbose=0, callbacks=[C.LearningRateScheduler(lambda e: 0.1)]
        )


# ------------------------------------------------------------------ hooks


class Recorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch))

    def on_batch_begin(self, batch, logs=None):  # the old name still works
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch))

    def on_test_begin(self, logs=None):
        self.calls.append(("test_begin",))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_batch_end", batch))

    def on_test_end(self, logs=None):
        self.calls.append(("test_end",))


def test_hook_order_params_and_old_style_objects():
    x, y = _data(40)
    recorder = Recorder()

    class OldStyle:  # no base class, only the old batch hook
        def __init__(self):
            self.batches = []

        def on_batch_end(self, batch, logs):
            self.batches.append(batch)

    old = OldStyle()
    model = _model()
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        seed=0,
        validation_data=(x[:20], y[:20]),
        callbacks=[recorder, old],
    )
    epoch = lambda e: (
        [("epoch_begin", e)]
        + [c for b in range(3) for c in (("batch_begin", b), ("batch_end", b))]
        + [("test_begin",), ("test_batch_end", 0), ("test_batch_end", 1), ("test_end",), ("epoch_end", e)]
    )
    assert recorder.calls == [("train_begin",)] + epoch(0) + epoch(1) + [("train_end",)]
    assert old.batches == [0, 1, 2, 0, 1, 2] and old.model is model
    assert recorder.params == {"epochs": 2, "steps": 3, "verbose": 0} and recorder.model is model
    recorder.calls.clear()
    model.evaluate(x, y, batch_size=32, callbacks=[recorder])
    assert recorder.calls == [("test_begin",), ("test_batch_end", 0), ("test_batch_end", 1), ("test_end",)]


def test_batch_logs_are_running_epoch_values_and_stop_training_ends_mid_epoch():
    x, y = _data()
    last = {}

    def at_batch_end(batch, logs):
        last.update(logs)
        if batch == 1 and model.epochs == 1:
            model.stop_training = True

    model = _model()
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        verbose=0,
        seed=0,
        callbacks=[C.LambdaCallback(on_train_batch_end=at_batch_end)],
    )
    assert model.epochs == 2 and model.optimizer.iterations == 4 + 2
    epoch_logs = {k: v[-1] for k, v in history.history.items()}
    assert last == pytest.approx(epoch_logs)  # the last batch's running values are the epoch's
    with pytest.raises(TypeError, match="unknown hook"):
        C.LambdaCallback(on_epochs_end=print)


def test_history_plot_one_panel_per_metric(tmp_path):
    pytest.importorskip("matplotlib")
    model = _model(metrics=["accuracy", "precision"])
    x, y = _data()
    history = model.fit(x, y, epochs=2, verbose=0, seed=0, validation_split=0.25)
    fig = history.plot(tmp_path / "h.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["loss", "accuracy", "precision"]
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes if ax.get_visible())  # train and validation
    with open(tmp_path / "h.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_history_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    history = C.History()
    history.append(0, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"\[plot\]"):
        history.plot()


def test_exports():
    for name in C.__all__:
        assert getattr(fastcnn.callbacks, name) is getattr(C, name)
    assert fastcnn.History is C.History and fastcnn.model.LearningRateScheduler is C.LearningRateScheduler
