"""Callbacks for `fit` with Keras' names and arguments.

    from fastcnn import callbacks
    model.fit(x, y, epochs=100, validation_split=0.1, callbacks=[
        callbacks.EarlyStopping(patience=5, restore_best_weights=True),
        callbacks.ModelCheckpoint("ckpt-{epoch:02d}-{val_loss:.2f}.npz", save_best_only=True),
        callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
        callbacks.CSVLogger("training.csv"),
    ])

The hooks are Keras': on_train_begin/end(logs), on_epoch_begin/end(epoch,
logs), on_train_batch_begin/end(batch, logs) (on_batch_begin/end are the old
names and still work), on_test_begin/end(logs) and on_test_batch_begin/end
around evaluation (also the validation inside fit). `epoch` counts every epoch
the model has trained (`model.epochs`), across fit calls. Batch logs hold the
running values of the epoch so far (loss and metrics over the batches seen),
epoch logs the epoch's values and the `val_` ones. Setting
`model.stop_training = True` ends training after the current batch.

Any object with some of these methods works as a callback; subclass
`Callback` to get `self.model` and `self.params` ({"epochs", "steps",
"verbose"}) set by fit. Under `fastcnn.distributed` every rank runs the
callbacks on the same (reduced) logs, so their decisions agree; files
(ModelCheckpoint, CSVLogger) are written by rank 0 only.
"""

from __future__ import annotations

import collections
import csv
import inspect
import math
import os
import warnings

import numpy as np

from . import metrics as metrics_module

__all__ = [
    "Callback",
    "History",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "CSVLogger",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "LambdaCallback",
]

_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class Callback:
    """Base class: override the hooks you need (Keras' `keras.callbacks.Callback`)."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class CallbackList:
    """The callbacks of one fit / evaluate call: any object with some of the hooks."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            else:
                cb.model = model
            if hasattr(cb, "set_params"):
                cb.set_params(dict(params))
        self._batch_hooks = {
            "begin": [_batch_hook(cb, "begin") for cb in self.callbacks],
            "end": [_batch_hook(cb, "end") for cb in self.callbacks],
        }

    @property
    def has_batch_end(self):
        return any(h is not None for h in self._batch_hooks["end"])

    def call(self, hook, *args):
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args)

    def train_batch(self, when, batch, logs=None):
        for hook in self._batch_hooks[when]:
            if hook is not None:
                hook(batch, logs)

    def any(self, kind):
        return any(isinstance(cb, kind) for cb in self.callbacks)


def _batch_hook(cb, when):
    """on_train_batch_<when>, else the old on_batch_<when> of objects that only have that."""
    method = getattr(cb, f"on_train_batch_{when}", None)
    return method if method is not None else getattr(cb, f"on_batch_{when}", None)


def _writes_files(model):
    """Only rank 0 writes files (and messages) in distributed training."""
    return getattr(model, "_world_rank", 0) == 0


def _say(model, text):
    if _writes_files(model):
        print(text, flush=True)


def _mode(mode, monitor, owner):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = metrics_module.direction(monitor)
        if mode is None:
            raise ValueError(
                f"{owner}: cannot tell whether {monitor!r} improves upwards or downwards; "
                f"pass mode='min' or mode='max'"
            )
    return mode


def _monitored(logs, monitor, owner):
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(
            f"{owner} monitors {monitor!r}, which the logs lack (they hold {sorted(logs or {})})",
            RuntimeWarning,
            stacklevel=3,
        )
    return value


# ------------------------------------------------------------------ History


class History(Callback):
    """Per-epoch logs of `fit`: `history` maps 'loss', 'accuracy', 'val_loss', ... to lists,
    `epoch` holds the epoch indices. `fit` returns it."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def on_epoch_end(self, epoch, logs=None):
        self.append(epoch, logs or {})

    def plot(self, path=None):
        """One panel per metric (loss, accuracy, ...) with its val_ twin, against the epoch;
        saved to `path` if given. Needs matplotlib (`pip install 'fastcnn[plot]'`).
        Returns the figure."""
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'fastcnn[plot]'") from None
        names = []
        for key in self.history:
            name = key[4:] if key.startswith("val_") else key
            if name not in names:
                names.append(name)
        if not names:
            raise ValueError("nothing to plot: the history is empty")
        plt = metrics_module._pyplot(path)
        columns = min(len(names), 3)
        rows = math.ceil(len(names) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for ax, name in zip(axes.flat, names):
            for key, label in ((name, "train"), ("val_" + name, "validation")):
                if key in self.history:
                    values = self.history[key]
                    ax.plot(epochs[len(epochs) - len(values) :], values, marker="o", label=label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.set_title(name)
            ax.grid(True, alpha=0.3)
            ax.legend()
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        fig.tight_layout()
        metrics_module._finish(plt, fig, path)
        return fig

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# ------------------------------------------------------------- EarlyStopping


class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved for `patience` epochs (Keras' rule).

    An epoch improves when it beats the best so far by more than min_delta.
    baseline: the count of epochs without improvement is reset only by values
    better than baseline too. restore_best_weights: at the end of training the
    weights of the best epoch are set back (also when training ran to the end).
    start_from_epoch: epochs before it are not watched. `stopped_epoch` and
    `best_epoch` say what happened.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self.monitor, self.verbose = monitor, verbose
        self.min_delta = abs(float(min_delta))
        self.patience = _non_negative_int(patience, "patience")
        self.mode = _mode(mode, monitor, "EarlyStopping")
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _non_negative_int(start_from_epoch, "start_from_epoch")
        self.on_train_begin()

    def _improves(self, value, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch = 0, 0
        self.best, self.best_weights, self.best_epoch = None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(logs, self.monitor, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _say(self.model, f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _say(
                    self.model,
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.",
                )
            self.model.set_weights(self.best_weights)


# ------------------------------------------------------------ ModelCheckpoint


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every epoch, or every `save_freq` batches.

    filepath may hold `{epoch}` (1-based, as Keras: "ckpt-{epoch:02d}.npz") and any
    log key ("{val_loss:.2f}"); folders are created. Files are written atomically
    (`Sequential.save` / `save_weights`: a temporary file in the same folder, fsync,
    rename), so a crash never leaves a half-written checkpoint. save_best_only: only
    when `monitor` beats the best so far (or initial_value_threshold).
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.mode = _mode(mode, monitor, "ModelCheckpoint") if save_best_only else mode
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(f"save_freq must be 'epoch' or a positive int (batches), got {save_freq!r}")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._epoch, self._batches = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, logs, batch=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch, logs, batch=None):
        logs = dict(logs or {})
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"ModelCheckpoint cannot fill in filepath {self.filepath!r} ({type(e).__name__}: {e}); "
                f"it may use {{epoch}}, {{batch}} and the log keys {sorted(logs)}"
            ) from None
        if self.save_best_only:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            if current is None:
                return
            better = self.best is None or (current < self.best if self.mode == "min" else current > self.best)
            if not better:
                if self.verbose > 0:
                    _say(
                        self.model, f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                _say(
                    self.model,
                    f"Epoch {epoch + 1}: {self.monitor} improved to {current:.5f}, saving to {path}",
                )
            self.best = current
        elif self.verbose > 0:
            _say(self.model, f"Epoch {epoch + 1}: saving model to {path}")
        if not _writes_files(self.model):
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


# ---------------------------------------------------------- ReduceLROnPlateau


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved by more
    than min_delta for `patience` epochs; then wait `cooldown` epochs (counted as
    Keras does: the epoch of a reduction is the first); never below min_lr. Adds
    'learning_rate' (the rate the epoch ran with) to the epoch logs.

    Needs a float learning rate: with a schedule (fastcnn.schedules, or any callable)
    the schedule decides the rate at every step, so fit raises TypeError at the start
    rather than overwrite or silently ignore it.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        factor = float(factor)
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must lie in (0, 1), got {factor!r}")
        self.monitor, self.factor, self.verbose = monitor, factor, verbose
        self.patience = _non_negative_int(patience, "patience")
        self.mode = _mode(mode, monitor, "ReduceLROnPlateau")
        self.min_delta = abs(float(min_delta))
        self.cooldown = _non_negative_int(cooldown, "cooldown")
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.cooldown_counter = 0, 0

    def _improves(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        _require_float_rate(self.model.optimizer, "ReduceLROnPlateau")
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)  # the rate this epoch ran with
        current = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        if current is not None:
            if self.cooldown_counter > 0:
                self.cooldown_counter -= 1
                self.wait = 0
            if self._improves(current):
                self.best, self.wait = current, 0
            elif self.cooldown_counter == 0:
                self.wait += 1
                if self.wait >= self.patience:
                    old = float(optimizer.learning_rate)
                    if old > np.float32(self.min_lr):
                        new = max(old * self.factor, self.min_lr)
                        optimizer.learning_rate = new
                        if self.verbose > 0:
                            _say(
                                self.model,
                                f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.",
                            )
                        self.cooldown_counter, self.wait = self.cooldown, 0


def _require_float_rate(optimizer, owner):
    if callable(optimizer.learning_rate):
        raise TypeError(
            f"{owner} sets the optimizer's learning rate, but it is a schedule "
            f"({optimizer.learning_rate!r}) that sets the rate at every step: use one or the other"
        )


# ------------------------------------------------------------------ CSVLogger


class CSVLogger(Callback):
    """One CSV row per epoch: 'epoch' (0-based, as Keras) then every log key, sorted.

    append=True continues an existing file (no second header). The file is flushed
    after every row, so it can be read while training runs.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys, self._file, self._writer = None, None, None

    def on_train_begin(self, logs=None):
        if not _writes_files(self.model):
            return
        header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                header = not f.readline()
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header, self.keys, self._writer = header, None, None

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]  # validation may come later (validation_freq)
        if self._writer is None:

            class Dialect(csv.excel):
                delimiter = self.sep

            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self._header:
                self._writer.writeheader()
        row = collections.OrderedDict(epoch=epoch)
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None


def _csv_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return '"[{}]"'.format(", ".join(str(v) for v in np.ravel(value)))
    return value


# ------------------------------------------------------------- the small ones


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite.

    With it, fit does not raise on such a loss (stop_on_nan): that step's update
    is skipped, so the weights stay those of the last finite step, and training
    ends after the batch."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            _say(self.model, f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Before each epoch: learning_rate = schedule(epoch, learning_rate), or schedule(epoch)
    for a function of one argument (a fastcnn.schedules object evaluated per epoch, say).
    Adds 'learning_rate' to the epoch logs. Needs a float learning rate (TypeError with a
    schedule optimizer, whose rate is already set at every step)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler takes a callable schedule, got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        self._takes_rate = _positional_arguments(schedule) >= 2

    def on_train_begin(self, logs=None):
        _require_float_rate(self.model.optimizer, "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        rate = (
            self.schedule(epoch, float(optimizer.learning_rate)) if self._takes_rate else self.schedule(epoch)
        )
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ValueError(f"the schedule must return a float, got {rate!r} at epoch {epoch}") from None
        optimizer.learning_rate = rate
        if self.verbose > 0:
            _say(self.model, f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _positional_arguments(fn):
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: Keras' two-argument form
        return 2
    kinds = [p.kind for p in parameters]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return 2
    return sum(
        k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD) for k in kinds
    )


class LambdaCallback(Callback):
    """A callback from functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...).

    Takes on_train_begin/end(logs), on_epoch_begin/end(epoch, logs),
    on_train_batch_begin/end(batch, logs) (or on_batch_begin/end), and any other hook
    by keyword."""

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        given = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in given.items():
            if fn is None:
                continue
            if name not in _HOOKS and name not in ("on_batch_begin", "on_batch_end"):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; hooks: {list(_HOOKS)}")
            setattr(self, name, fn)


def _non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)
