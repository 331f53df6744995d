"""The training loop behind `fit`, `evaluate` and `predict` of Sequential and Model.

    for each epoch:                          on_epoch_begin
        for each batch (x, y, w):            on_train_batch_begin
            runner.train_step                forward, loss, backward, optimizer step
            tracker: loss and metric state   on_train_batch_end (running logs)
        validation (evaluate)                on_test_begin / on_test_end
        model.epochs += 1                    on_epoch_end, History

Inputs: arrays (cut into batches, reshuffled every epoch from `(seed, epoch)`),
or any iterable of `(x, y)` / `(x, y, sample_weight)` batches: a generator or
iterator is consumed continuously across epochs (`steps_per_epoch` batches
each), anything else is iterated afresh every epoch (`steps_per_epoch`, else
its `len()`, else until it ends). An input that runs out before the epoch's
steps ends training with a warning, as Keras does.

A runner carries out what differs between one process and data-parallel
training (fastcnn.distributed): which batches this process takes, the step
(gradients reduced over ranks there), and how losses and metrics are summed.
The `Tracker` keeps those sums: sample count, the losses times batch size,
and every metric's state, in one vector that ranks can add up.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from . import callbacks as callbacks_module

# ------------------------------------------------------------------ arguments


def positive_int(value, name, allow_zero=False):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < (0 if allow_zero else 1)
    ):
        raise ValueError(
            f"{name} must be a {'non-negative' if allow_zero else 'positive'} int, got {value!r}"
        )
    return int(value)


def _optional_steps(value, name):
    return None if value is None else positive_int(value, name)


def is_batch_source(x, y):
    """Whether `x` is an iterable of batches rather than arrays (then y must be None)."""
    from .model import Columns

    if y is not None or isinstance(x, (np.ndarray, Columns)):
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def keras_result(logs):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


# ------------------------------------------------------------------ batches


class ArrayBatches:
    """(x, y, sample_weight) arrays cut into batches; with shuffle a new permutation
    each epoch from np.random.default_rng((seed, epoch))."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle=False, seed=None):
        self.x, self.y, self.w = x, y, sample_weight
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.samples = len(x)
        self.steps = math.ceil(self.samples / batch_size)
        self.ran_out = False

    def order(self, epoch):
        if not self.shuffle:
            return None
        return np.random.default_rng(None if self.seed is None else (self.seed, epoch)).permutation(
            self.samples
        )

    def batches(self, epoch=0, shard=None):
        """The epoch's batches; shard=(rank, size) takes a rank-strided slice of the
        permutation cut to a multiple of size (distributed training)."""
        order = self.order(epoch)
        if shard is not None:
            rank, size = shard
            order = np.arange(self.samples) if order is None else order
            order = order[: self.samples - self.samples % size][rank::size]
        if order is None:  # in order: views, no copies
            for lo in range(0, self.samples, self.batch_size):
                part = slice(lo, lo + self.batch_size)
                yield self.x[part], self.y[part], None if self.w is None else self.w[part]
            return
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            yield self.x[idx], self.y[idx], None if self.w is None else self.w[idx]


class IterableBatches:
    """Batches from an iterable or iterator of (x, y) / (x, y, sample_weight) tuples."""

    def __init__(self, data, steps, model, class_weight=None, what="x"):
        self.data, self.model, self.class_weight, self.what = data, model, class_weight, what
        self.is_iterator = hasattr(data, "__next__")
        if steps is None and not self.is_iterator and hasattr(data, "__len__"):
            try:
                steps = len(data)
            except TypeError:  # an unknown or infinite length (a generator-backed Dataset)
                steps = None
        self.steps = steps
        self.samples = None
        self.ran_out = False

    def batches(self, epoch=0, shard=None):
        iterator = self.data if self.is_iterator else iter(self.data)
        taken = 0
        self.ran_out = False
        try:
            while self.steps is None or taken < self.steps:
                try:
                    item = next(iterator)
                except StopIteration:
                    self.ran_out = self.steps is not None or taken == 0
                    return
                taken += 1
                yield self.unpack(item, taken)
        finally:
            if not self.is_iterator and hasattr(iterator, "close"):
                iterator.close()

    def unpack(self, item, number):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(
                f"batch {number} of {self.what} is {type(item).__name__}"
                + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
                + ": each batch must be a tuple (x, y) or (x, y, sample_weight)"
            )
        x, y = self.model._columns(item[0], item[1])
        x, y = check_data(x, y)
        w = None if len(item) == 2 or item[2] is None else np.asarray(item[2])
        return x, y, sample_weights(w, self.class_weight, y, len(x))


def check_data(x, y):
    from .model import Columns, _as_inputs

    x, y = _as_inputs(x), y if isinstance(y, Columns) else np.asarray(y)
    if y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got x {_shape(x)}, y {_shape(y)}")
    if len(x) == 0:
        raise ValueError("x and y hold no samples")
    return x, y


def _shape(a):
    arrays = getattr(a, "arrays", None)
    return [np.shape(b) for b in arrays] if arrays is not None else np.shape(a)


def sample_weights(sample_weight, class_weight, y, n):
    """Per-sample loss weights: sample_weight times class_weight[label] (either may be
    None; None when both are). Labels: y's argmax over a class axis, else y rounded.
    With several outputs, sample_weight may be a list with one array (or None) per output."""
    from .model import Columns

    if isinstance(sample_weight, (list, tuple)) and isinstance(y, Columns):
        if len(sample_weight) != len(y.arrays):
            raise ValueError(f"sample_weight holds {len(sample_weight)} arrays for {len(y.arrays)} outputs")
        return Columns([np.ones(n) if w is None else _checked_weights(w, n) for w in sample_weight])
    w = None if sample_weight is None else _checked_weights(sample_weight, n)
    if class_weight is None:
        return w
    if getattr(y, "arrays", None) is not None:
        raise ValueError("class_weight takes a model with one output; pass sample_weight for several")
    y = np.asarray(y)
    if y.ndim > 2:
        raise ValueError(
            f"class_weight takes labels (N,) or one-hot targets (N, C), got y of shape {y.shape}"
        )
    labels = (
        np.argmax(y, axis=-1)
        if y.ndim == 2 and y.shape[1] > 1
        else np.round(y.reshape(len(y))).astype(np.int64)
    )
    per_class = np.ones(max(int(labels.max(initial=0)) + 1, max(class_weight, default=-1) + 1))
    for cls, weight in class_weight.items():
        per_class[cls] = weight
    cw = per_class[labels]
    return cw if w is None else w * cw


def _checked_weights(sample_weight, n):
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0 or len(w) != n:
        raise ValueError(f"sample_weight must hold one weight per sample ({n}), got shape {np.shape(w)}")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight holds NaN or infinite values")
    return w


def check_class_weight(class_weight):
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}"
        )
    checked = {}
    for cls, weight in class_weight.items():
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or cls < 0:
            raise ValueError(f"class_weight keys must be class indices (ints >= 0), got {cls!r}")
        weight = float(weight)
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"class_weight[{cls}] must be a finite weight >= 0, got {weight!r}")
        checked[int(cls)] = weight
    return checked


def array_source(model, x, y, sample_weight, class_weight, batch_size, shuffle=False, seed=None):
    x, y = model._columns(x, y)
    x, y = check_data(x, y)
    w = sample_weights(sample_weight, class_weight, y, len(x))
    return ArrayBatches(x, y, w, batch_size, shuffle, seed)


def make_source(model, x, y, *, sample_weight, class_weight, batch_size, steps, steps_name, shuffle, seed):
    """ArrayBatches or IterableBatches for fit / evaluate (argument errors raised here)."""
    class_weight = check_class_weight(class_weight)
    if is_batch_source(x, y):
        if sample_weight is not None:
            raise ValueError(
                "sample_weight takes arrays; batches from an iterable carry their own "
                "weights as (x, y, sample_weight)"
            )
        return IterableBatches(x, _optional_steps(steps, steps_name), model, class_weight)
    if y is None:
        raise ValueError("y is required when x is an array (or pass an iterable of (x, y) batches as x)")
    if steps is not None:
        raise ValueError(
            f"{steps_name} takes a generator or iterable of batches; with arrays every epoch is one pass"
        )
    return array_source(model, x, y, sample_weight, class_weight, batch_size, shuffle, seed)


def split_validation(source, validation_split, validation_batch_size):
    """(train, validation or None): the LAST fraction of the arrays, before shuffling (Keras)."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must lie in [0, 1), got {validation_split!r}")
    if validation_split == 0:
        return source, None
    if not isinstance(source, ArrayBatches):
        raise ValueError("validation_split takes arrays; with an iterable of batches pass validation_data")
    n = source.samples
    split_at = int(math.floor(n * (1 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves an empty training or validation set"
        )
    w = source.w
    train = ArrayBatches(
        source.x[:split_at],
        source.y[:split_at],
        None if w is None else w[:split_at],
        source.batch_size,
        source.shuffle,
        source.seed,
    )
    val = ArrayBatches(
        source.x[split_at:], source.y[split_at:], None if w is None else w[split_at:], validation_batch_size
    )
    return train, val


def validation_source(model, validation_data, batch_size, steps):
    from .model import Columns

    data = validation_data
    arrays = (isinstance(data, tuple) and len(data) in (2, 3)) or (
        isinstance(data, list) and len(data) in (2, 3) and isinstance(data[0], (np.ndarray, list, Columns))
    )
    if arrays:
        x, y, w = (list(data) + [None])[:3]
        return array_source(model, x, y, w, None, batch_size)
    if hasattr(data, "__iter__") or hasattr(data, "__next__"):
        return IterableBatches(
            data, _optional_steps(steps, "validation_steps"), model, what="validation_data"
        )
    raise ValueError(
        "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
        f"or an iterable of such batches; got {type(data).__name__}"
    )


# ------------------------------------------------------------------ Tracker


class Tracker:
    """Sums of one pass (epoch or evaluation): [samples, loss * n per loss, metric states...].

    Losses are weighted by batch size (the mean over samples of batch-mean losses,
    Keras' loss tracker); metrics keep their own state (fastcnn.metrics), views of
    the same vector, so a rank adds another's sums with one `merge`.
    """

    def __init__(self, model):
        slots = model._output_slots()
        self.multi = len(slots) > 1
        self.loss_names = ["loss"] + ([prefix + "loss" for prefix, _, _ in slots] if self.multi else [])
        entries, size = [], 1 + len(self.loss_names)
        for k, ((prefix, shape, loss), prototypes) in enumerate(zip(slots, model._output_metrics)):
            for prototype in prototypes:
                metric = prototype.fresh().build(shape, getattr(loss, "from_logits", False))
                entries.append((prefix + metric.name, k, metric, size, size + metric.totals.size))
                size += metric.totals.size
        self.totals = np.zeros(size)
        for _, _, metric, a, b in entries:
            metric.totals = self.totals[a:b]  # a view: merge() updates every metric at once
        self.entries = entries
        self.keeps_scores = any(m.keeps_scores for _, _, m, _, _ in entries)

    @property
    def samples(self):
        return self.totals[0]

    def reset(self):
        self.totals[:] = 0
        for _, _, metric, _, _ in self.entries:
            metric.pieces = []

    def batch_state(self, losses, n, y_pred, y_true):
        """(vector, pieces) of one batch: what `merge` adds."""
        vector = np.zeros(self.totals.size)
        vector[0] = n
        for i, loss in enumerate(losses):
            vector[1 + i] = loss * n
        pieces = []
        for _, k, metric, a, b in self.entries:
            state, piece = metric.batch_state(
                y_true[k] if self.multi else y_true, y_pred[k] if self.multi else y_pred
            )
            vector[a:b] = state
            pieces.append(piece)
        return vector, pieces

    def merge(self, vector, pieces):
        self.totals += vector
        if pieces is not None:
            self.merge_pieces(pieces)

    def merge_pieces(self, pieces):
        for (_, _, metric, _, _), piece in zip(self.entries, pieces):
            if piece is not None:
                metric.pieces.append(piece)

    def update(self, losses, n, y_pred, y_true):
        """merge(*batch_state(...)), adding into the sums in place."""
        totals = self.totals
        totals[0] += n
        for i, loss in enumerate(losses):
            totals[1 + i] += loss * n
        for _, k, metric, a, b in self.entries:
            state, piece = metric.batch_state(
                y_true[k] if self.multi else y_true, y_pred[k] if self.multi else y_pred
            )
            totals[a:b] += state
            if piece is not None:
                metric.pieces.append(piece)

    def logs(self, prefix="", final=True):
        """Loss and metric values so far; final=False leaves out metrics that rank every
        score kept (AUC), which are computed at the end of the pass only."""
        n = self.totals[0]
        logs = {prefix + name: float(self.totals[1 + i] / n) for i, name in enumerate(self.loss_names)}
        for name, _, metric, _, _ in self.entries:
            if final or not metric.keeps_scores:
                logs[prefix + name] = metric.result()
        return logs


# ------------------------------------------------------------------ runners


class LocalRunner:
    """One process: every batch is this process' own."""

    rank, size, is_root = 0, 1, True

    def checked(self, fn, what):
        return fn()

    def agree(self, error, what):
        if error is not None:
            raise error

    def start(self, model, source, seed):
        return seed

    def train_batches(self, source, epoch):
        return source.batches(epoch)

    def test_batches(self, source):
        return source.batches(0)

    def train_step(self, model, batch, tracker, stop_on_nan, where):
        x, y, w = batch
        loss, y_pred, y_matched = model._train_step(x, y, w, stop_on_nan, where)
        tracker.update(model._loss_values(loss), len(x), y_pred, y_matched)
        return len(x)

    def stop(self, flag, per_batch=False):
        return flag

    def end_epoch(self, model):
        pass

    def after_epoch(self, model):
        pass

    def reduce(self, tracker):
        pass


# ------------------------------------------------------------------ fit


def fit(
    model,
    x,
    y=None,
    *,
    batch_size=32,
    epochs=1,
    verbose=1,
    callbacks=None,
    validation_split=0.0,
    validation_data=None,
    shuffle=True,
    class_weight=None,
    sample_weight=None,
    steps_per_epoch=None,
    validation_steps=None,
    validation_batch_size=None,
    validation_freq=1,
    seed=None,
    stop_on_nan=True,
    runner=None,
):
    """Sequential.fit / Model.fit / distributed.fit; returns the History."""
    runner = runner or LocalRunner()

    def arguments():
        model._require_compiled()
        size = positive_int(batch_size, "batch_size")
        n_epochs = positive_int(epochs, "epochs", allow_zero=True)
        source = make_source(
            model,
            x,
            y,
            sample_weight=sample_weight,
            class_weight=class_weight,
            batch_size=size,
            steps=steps_per_epoch,
            steps_name="steps_per_epoch",
            shuffle=shuffle,
            seed=seed,
        )
        val_size = size
        if validation_batch_size is not None:
            val_size = positive_int(validation_batch_size, "validation_batch_size")
        train, val = split_validation(source, validation_split, val_size)
        if validation_data is not None:
            val = validation_source(model, validation_data, val_size, validation_steps)
        if isinstance(train, ArrayBatches):
            model._ensure_built(train.x)
        return train, val, n_epochs, _validation_epochs(validation_freq)

    train, val, epochs, validate_at = runner.checked(arguments, "checking the arguments of fit")
    if isinstance(train, ArrayBatches):
        train.seed = runner.start(model, train, seed)
    else:
        runner.start(model, train, seed)
    callbacks = callbacks_module.CallbackList(
        callbacks, model, {"epochs": epochs, "steps": train.steps, "verbose": verbose}
    )
    history = callbacks_module.History()
    history.set_model(model)
    model.history, model.stop_training = history, False
    if stop_on_nan and callbacks.any(callbacks_module.TerminateOnNaN):
        stop_on_nan = "skip"  # the callback ends training; the non-finite step is not applied
    verbose = verbose if runner.is_root else 0
    tracker, logs = None, {}
    callbacks.call("on_train_begin", {})
    for k in range(epochs):
        epoch = model.epochs
        callbacks.call("on_epoch_begin", epoch, {})
        total = None if train.samples is None else train.samples - train.samples % runner.size
        bar = ProgressBar(total, f"Epoch {k + 1}/{epochs}", verbose)
        start = time.perf_counter()
        try:
            tracker, seen = _train_epoch(model, train, epoch, runner, tracker, callbacks, bar, stop_on_nan)
        except BaseException:
            bar.abort()
            raise
        if train.ran_out:
            warnings.warn(_ran_out_message(train, epoch, epochs), RuntimeWarning, stacklevel=3)
            model.stop_training = True
            if seen == 0:
                bar.abort()
                break
        runner.end_epoch(model)
        logs = tracker.logs()
        if val is not None and validate_at(epoch):
            logs.update(evaluate_source(model, val, runner, callbacks, prefix="val_"))
        bar.close(logs, seen / max(time.perf_counter() - start, 1e-9))
        model.epochs += 1
        runner.after_epoch(model)
        callbacks.call("on_epoch_end", epoch, logs)
        history.on_epoch_end(epoch, logs)
        if runner.stop(model.stop_training, per_batch=True):
            model.stop_training = True
            break
    callbacks.call("on_train_end", logs)
    return history


def _train_epoch(model, train, epoch, runner, tracker, callbacks, bar, stop_on_nan):
    """The batches of one epoch; returns (tracker, samples seen). The tracker is made at
    the first batch, when a model built from data knows its output shape."""
    batch_logs = callbacks.has_batch_end or bar.bar is not None
    seen = 0
    for b, batch in enumerate(runner.train_batches(train, epoch)):
        callbacks.train_batch("begin", b, {})
        if batch is not None and not isinstance(train, ArrayBatches):
            model._ensure_built(batch[0])
        if tracker is None:
            tracker = Tracker(model)
        elif b == 0:
            tracker.reset()
        where = f" at epoch {epoch + 1}, batch {b + 1}"
        seen += runner.train_step(model, batch, tracker, stop_on_nan, where)
        running = tracker.logs(final=False) if batch_logs else None
        callbacks.train_batch("end", b, running)
        bar.update(seen, running)
        if runner.stop(model.stop_training, per_batch=callbacks.has_batch_end):
            model.stop_training = True
            break
    return tracker, seen


def _ran_out_message(source, epoch, epochs):
    if source.steps is None:
        advice = (
            "an iterator is consumed across epochs: give steps_per_epoch, or pass an iterable "
            "that starts afresh each epoch (a list, a fastcnn.data.Dataset)"
        )
    else:
        advice = f"it must yield steps_per_epoch * epochs batches ({source.steps} * {epochs})"
    return f"the training input ran out of data at epoch {epoch + 1}; training stops: {advice}"


def _validation_epochs(validation_freq):
    if isinstance(validation_freq, (list, tuple, set, range)):
        wanted = {positive_int(e, "validation_freq entries") for e in validation_freq}
        return lambda epoch: epoch + 1 in wanted
    freq = positive_int(validation_freq, "validation_freq")
    return lambda epoch: (epoch + 1) % freq == 0


# ------------------------------------------------------------------ evaluate


def evaluate(
    model,
    x,
    y=None,
    *,
    batch_size=32,
    verbose=0,
    sample_weight=None,
    steps=None,
    callbacks=None,
    return_dict=False,
    runner=None,
):
    """[loss, metrics...] (a float without metrics), or a dict with return_dict."""
    runner = runner or LocalRunner()

    def arguments():
        model._require_compiled()
        source = make_source(
            model,
            x,
            y,
            sample_weight=sample_weight,
            class_weight=None,
            batch_size=positive_int(batch_size, "batch_size"),
            steps=steps,
            steps_name="steps",
            shuffle=False,
            seed=None,
        )
        if isinstance(source, ArrayBatches):
            model._ensure_built(source.x)
        return source

    source = runner.checked(arguments, "checking the arguments of evaluate")
    callbacks = callbacks_module.CallbackList(callbacks, model, {"steps": source.steps, "verbose": verbose})
    logs = evaluate_source(model, source, runner, callbacks)
    if verbose and runner.is_root:
        print(format_logs(logs), flush=True)
    return logs if return_dict else keras_result(logs)


def evaluate_source(model, source, runner, callbacks, prefix=""):
    """Loss and metrics of every batch of `source` in inference mode (sums over ranks)."""
    tracker, error = None, None
    callbacks.call("on_test_begin", {})
    try:
        for b, (x, y, w) in enumerate(runner.test_batches(source)):
            callbacks.call("on_test_batch_begin", b, {})
            model._ensure_built(x)
            if tracker is None:
                tracker = Tracker(model)
            loss, y_pred, y_matched = model._test_step(x, y, w)
            tracker.update(model._loss_values(loss), len(x), y_pred, y_matched)
            callbacks.call("on_test_batch_end", b, tracker.logs(final=False))
    except Exception as e:  # noqa: BLE001 -- every rank learns of it in agree()
        error = e
    runner.agree(error, "during evaluation")
    if tracker is None:
        tracker = Tracker(model)  # a rank whose shard is empty still takes part in the sums
    runner.reduce(tracker)
    if tracker.samples == 0:
        what = "validation_data" if prefix else "x"
        raise ValueError(
            f"{what} gave no batches to evaluate" + (" (an exhausted iterator?)" if prefix else "")
        )
    logs = tracker.logs(prefix)
    callbacks.call("on_test_end", logs)
    return logs


# ------------------------------------------------------------------ predict


def predict_source(model, x, steps, callbacks, verbose):
    """Outputs for every batch of an iterable (x alone, or tuples whose first item is x)."""
    callbacks = callbacks_module.CallbackList(callbacks, model, {"steps": steps, "verbose": verbose})
    steps = _optional_steps(steps, "steps")
    iterator = x if hasattr(x, "__next__") else iter(x)
    pieces = []
    callbacks.call("on_predict_begin", {})
    b = 0
    while steps is None or b < steps:
        try:
            item = next(iterator)
        except StopIteration:
            break
        callbacks.call("on_predict_batch_begin", b, {})
        xb = item[0] if isinstance(item, tuple) else item
        y = model.predict(xb, batch_size=max(_length(xb), 1))
        pieces.append(y)
        callbacks.call("on_predict_batch_end", b, {"outputs": y})
        b += 1
    callbacks.call("on_predict_end", {})
    if not pieces:
        raise ValueError("predict got no batches from x")
    if isinstance(pieces[0], list):
        return [np.concatenate([p[k] for p in pieces]) for k in range(len(pieces[0]))]
    return np.concatenate(pieces)


def _length(x):
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)


# ------------------------------------------------------------------ progress


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    """tqdm bar per epoch when tqdm is installed, else one printed line per epoch."""

    def __init__(self, total, desc, verbose):
        self.desc, self.verbose, self.bar, self.done = desc, verbose, None, 0
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, desc=desc, unit="img", leave=True)

    def update(self, seen, logs):
        if self.bar is not None:
            if logs:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            self.bar.update(seen - self.done)
            self.done = seen

    def abort(self):
        if self.bar is not None:
            self.bar.close()

    def close(self, logs, images_per_second):
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.set_postfix(
                {**{k: f"{v:.4f}" for k, v in logs.items()}, "img/s": f"{images_per_second:.0f}"}
            )
            self.bar.close()
        else:
            print(f"{self.desc} - {format_logs(logs)} - {images_per_second:.0f} images/s", flush=True)
