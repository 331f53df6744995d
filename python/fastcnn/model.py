"""A Keras-like `Sequential` model on NumPy: compile, fit, evaluate, predict, save.

    model = Sequential([layers.Input((1, 8, 8)),
                        layers.Conv2D(8, 3, activation="relu"),
                        layers.MaxPool2D(2),
                        layers.Flatten(),
                        layers.Dense(10)])
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=5, validation_split=0.1, seed=0)
    model.save("digits.npz"); model = load_model("digits.npz")

A training step is the textbook chain: every layer's forward (training=True),
`loss.forward`, `loss.backward`, every layer's backward in reverse order, one
`optimizer.step` over all parameters. The math lives in `layers` and
`functional`; the epoch and batch loop (inputs, callbacks, metrics) in
`training`; this module keeps the model's books.

Epochs are counted across `fit` calls (`model.epochs`): `fit(epochs=n)` trains
n more epochs, and the shuffling of epoch e comes from
`np.random.default_rng((seed, e))`, so a model saved after one epoch and loaded
again continues exactly as if training had never stopped.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile

import numpy as np

from . import (
    fusion,
    layers as layers_module,
    losses as losses_module,
    metrics as metrics_module,
    optimizers as optimizers_module,
    plan as plan_module,
    training,
)
from ._paths import reference_active
from .callbacks import History, LearningRateScheduler  # noqa: F401 -- their old home

__all__ = ["Sequential", "History", "load_model"]

FORMAT = "fastcnn.Sequential"
FORMAT_VERSION = 1
_META_KEY = "__fastcnn__"
WEIGHTS_FORMAT = "fastcnn.weights"  # save_weights / load_weights
_WEIGHTS_KEY = "__fastcnn_weights__"
DEFAULT_METRICS = ("accuracy",)  # compile's default (Model: for one output only)


# -------------------------------------------------------------------- Sequential


def _keep_gradients_defined(layer):
    """Zero gradients for a frozen layer whose backward a training step skips
    (optimizers read every layer's gradients and skip the frozen ones)."""
    if layer.param_names and any(name not in layer._grads for name in layer.param_names):
        layer._zero_grads()


def first_trained(layers):
    """Index of the first layer with trainable weights (a fused step's own
    layer counts), or None."""
    for i, layer in enumerate(layers):
        owner = getattr(layer, "layer", layer)
        if owner.param_names and owner.trainable:
            return i
    return None


class Sequential:
    """A stack of layers, each feeding the next (Keras' `Sequential`)."""

    def __init__(self, layers=None, name=None):
        self.name = name or "sequential"
        self.layers = []
        self.input_shape = None  # per-sample, without the batch axis
        self.built = False
        self.optimizer = self.loss = None
        self.metrics = []  # fastcnn.metrics objects (the compiled prototypes; fit uses copies)
        self._output_metrics = [[]]  # the same, per output
        self._batch_tracker = None  # train_on_batch / test_on_batch reuse one
        self._world_rank = 0  # fastcnn.distributed sets it: callbacks write files on rank 0 only
        self.epochs = 0  # epochs trained so far, over every fit call
        self.history = None
        self.stop_training = False  # a callback may set it to end fit after the epoch
        self._ran_steps = []  # what _forward ran, for _backward (see _steps)
        self._folded = {}  # layer index -> fusion.FoldedBatchNorm (inference)
        self._steps_cache = {}  # (training, fuse) -> (layer identities, steps)
        self._weights_version = 0  # bumped by training forwards and set_weights
        self._plans = plan_module.InferencePlans()  # inference by input shape (plan.py)
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ building
    def add(self, layer):
        """Append a layer; `layers.Input(shape)` first fixes the input shape.

        Once the input shape is known, each new layer is built at once, so a
        layer that cannot take its input fails here, with its name in the error.
        """
        if isinstance(layer, layers_module.Input):
            if self.layers or self.input_shape is not None:
                raise ValueError("an Input layer can only come first in a Sequential model")
            self.input_shape = layer.shape
            self.built = True
            return
        if isinstance(layer, Sequential):  # a model as a layer (Keras: a Sequential in a Sequential)
            from .nested import as_layer

            layer = as_layer(layer)
        if not isinstance(layer, layers_module.Layer):
            raise TypeError(f"Sequential.add expects a fastcnn Layer, got {type(layer).__name__}")
        self.layers.append(layer)
        if self.built:
            self._build_layer(len(self.layers) - 1, self._shape_before(len(self.layers) - 1))

    def build(self, input_shape):
        """Build every layer for per-sample `input_shape` (no batch axis); check the chain."""
        input_shape = tuple(int(s) for s in input_shape)
        if self.input_shape is not None and self.built and input_shape != self.input_shape:
            raise ValueError(
                f"{self.name} was built for per-sample input {self.input_shape}, got {input_shape}"
            )
        shape = input_shape
        for i in range(len(self.layers)):
            shape = self._build_layer(i, shape)
        self.input_shape, self.built = input_shape, True
        return self

    def _build_layer(self, i, shape):
        """Build layer i for per-sample input `shape`; return its output shape."""
        layer = self.layers[i]
        where = f"layer {i} '{layer.name}' ({type(layer).__name__})"
        if layer.built and layer.input_shape is not None and tuple(layer.input_shape) != shape:
            raise ValueError(
                f"{where} was built for input {tuple(layer.input_shape)}, "
                f"but the previous layer gives {shape}"
            )
        try:
            if not layer.built:
                layer.build(shape)
            return tuple(layer.output_shape(shape))
        except ValueError as e:
            raise ValueError(f"{where} cannot take input shape {shape}: {e}") from None

    def _shape_before(self, i):
        """Per-sample input shape of layer i (the model must be built)."""
        shape = self.input_shape
        for layer in self.layers[:i]:
            shape = tuple(layer.output_shape(shape))
        return shape

    @property
    def output_shape(self):
        return None if not self.built else self._shape_before(len(self.layers))

    def _ensure_built(self, x):
        if not self.built or any(not layer.built for layer in self.layers):
            self.build(x.shape[1:])
        elif tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{self.name} expects per-sample input {self.input_shape}, "
                f"got {tuple(x.shape[1:])} (data shape {x.shape})"
            )

    # ------------------------------------------------------------------ parameters
    @property
    def params(self):
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self):
        return [g for layer in self.layers for g in layer.grads]

    def trainable_mask(self):
        """One flag per array of `params`: whether the optimizer updates it (layer.trainable)."""
        return [flag for layer in self.layers for flag in layer.trainable_flags()]

    @property
    def trainable_params(self):
        return [p for p, flag in zip(self.params, self.trainable_mask()) if flag]

    def count_params(self):
        return int(sum(layer.count_params() for layer in self.layers))

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        self._weights_version += 1
        weights = list(weights)
        for layer in self.layers:
            n = len(layer.get_weights())
            layer.set_weights(weights[:n])
            weights = weights[n:]
        if weights:
            raise ValueError(f"{len(weights)} arrays left over after setting every layer")

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="adam", loss=None, metrics=DEFAULT_METRICS):
        """Choose the optimizer, loss and metrics (names or instances, as Keras).

        metrics: names ('accuracy', 'top_k_accuracy', 'precision', 'recall', 'f1',
        'auc', loss names such as 'mae') or fastcnn.metrics objects; accumulated
        over each epoch (fastcnn.metrics)."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self.metrics = _metric_list(metrics)
        self._output_metrics = [self.metrics]
        self._batch_tracker = None
        return self

    @property
    def metrics_names(self):
        """The names of evaluate's results, in order: 'loss' (then each output's loss
        for several outputs), then the metrics ('accuracy', 'out1_accuracy', ...)."""
        slots = self._output_slots()
        names = ["loss"] + ([prefix + "loss" for prefix, _, _ in slots] if len(slots) > 1 else [])
        for (prefix, _, _), metrics in zip(slots, self._output_metrics):
            names += [prefix + m.name for m in metrics]
        return names

    def _require_compiled(self):
        if self.loss is None:
            raise RuntimeError(f"{self.name} is not compiled: call compile(optimizer, loss) first")

    def _match_targets(self, y_pred, y_true):
        """Labels (N,) for a single output (N, 1) get the missing axis, as Keras does."""
        sparse = isinstance(self.loss, losses_module.SparseCategoricalCrossentropy)
        if not sparse and y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            return y_true[..., None]
        return y_true

    # what the training loop (training.py) asks of a model
    def _columns(self, x, y=None):
        """Inputs and targets as the model takes them (a graph model joins lists)."""
        return x, y

    def _output_slots(self):
        """(log prefix, per-sample shape, loss) of each output."""
        return [("", self.output_shape, self.loss)]

    def _loss_values(self, loss):
        """The logged losses of a step: the training loss (and one per output)."""
        return [loss]

    # ------------------------------------------------------------------ one batch
    def _steps(self, training=True):
        """The layers in run order as (step, fused activation layer or None).

        Not on the reference path (`fastcnn.reference_path`): a
        BatchNormalization followed by ReLU or LeakyReLU runs both in one pass
        each way; in inference, a Conv/Dense followed by BatchNormalization
        (and ReLU / LeakyReLU) runs as one folded convolution (fusion.py).
        """
        fuse = not reference_active()
        # what the fusion rules read: the layers, and their build/dtype (weights versions)
        key = (training, fuse, tuple((id(layer), layer._weights_version) for layer in self.layers))
        cached = self._steps_cache.get((training, fuse))
        if cached is not None and cached[0] == key:
            return cached[1]
        steps = self._plan_steps(training, fuse)
        self._steps_cache[(training, fuse)] = (key, steps)
        return steps

    def _plan_steps(self, training, fuse):
        steps, layers, i = [], self.layers, 0
        activations = (layers_module.ReLU, layers_module.LeakyReLU)

        def at(j):
            return layers[j] if j < len(layers) else None

        while i < len(layers):
            layer = layers[i]
            if fuse and not training and fusion.can_fold(layer, at(i + 1)):
                act = at(i + 2) if type(at(i + 2)) in activations else None
                folded = self._folded.get(i)
                if (
                    folded is None
                    or folded.layer is not layer
                    or folded.bn is not at(i + 1)
                    or folded.act is not act
                ):
                    folded = self._folded[i] = fusion.FoldedBatchNorm(layer, at(i + 1), act)
                steps.append((folded, None))
                i += 2 if act is None else 3
            elif fuse and type(layer) is layers_module.BatchNormalization and type(at(i + 1)) in activations:
                steps.append((layer, at(i + 1)))
                i += 2
            else:
                steps.append((layer, None))
                i += 1
        return steps

    def _forward(self, x, training, out=None):
        if training:
            self._weights_version += 1  # the step that follows changes the weights
        self._ran_steps = steps = self._steps(training)
        if not training and not reference_active():
            plan = self._plan_for(steps, x)
            if plan is not None:
                return plan.run(x, out)
        for layer, act in steps:
            x = plan_module.run_step(layer, act, training, self._weights_version, x)
        if out is not None:
            out[...] = x
            return out
        return x

    def _plan_for(self, steps, x):
        """The native execution plan (plan.py) of the inference steps for x,
        or None when it cannot be built for x (a shape a layer rejects: the
        layers' own forwards then run and report it)."""
        try:
            return self._plans.get(steps, np.asarray(x), self._weights_version)
        except (ValueError, TypeError):
            return None

    def _backward(self, dout, input_gradient=True):
        """Backward through the steps of the last forward; returns dL/dx of the
        model's input. With input_gradient=False (a training step) it stops at
        the first layer with trainable weights, which skips its own dL/dx:
        nothing before it has weights to train (returns None)."""
        steps = self._ran_steps
        first = 0 if input_gradient else first_trained(layer for layer, _ in steps)
        for layer, _ in steps[: len(steps) if first is None else first]:
            _keep_gradients_defined(layer)
        if first is None:
            return None
        for i in range(len(steps) - 1, first - 1, -1):
            layer = steps[i][0]
            layer.input_gradient = input_gradient or i > first
            try:
                dout = layer.backward(dout)
            finally:
                layer.input_gradient = True
        return dout

    def _train_step(self, x, y, sample_weight=None, stop_on_nan=True, where=""):
        """Forward, loss, backward, optimizer step; returns (loss, y_pred, matched targets).

        A non-finite loss raises FloatingPointError before the update (stop_on_nan=True),
        skips the update ("skip": TerminateOnNaN ends training) or is applied (False)."""
        y_pred = self._forward(x, training=True)
        y = self._match_targets(y_pred, y)
        loss = self.loss.forward(y_pred, y, sample_weight)
        if stop_on_nan and not math.isfinite(loss):
            if stop_on_nan == "skip":
                return loss, y_pred, y
            raise FloatingPointError(
                f"loss is {loss}{where}; training stopped before the update (weights are those "
                f"of the last finite step). Try a lower learning rate, clipnorm=, or scaled inputs"
            )
        self._backward(self.loss.backward(), input_gradient=False)
        self.optimizer.step(self.params, self.grads, self.trainable_mask())
        return loss, y_pred, y

    def _test_step(self, x, y, sample_weight=None):
        """Inference-mode outputs and loss; returns (loss, y_pred, matched targets)."""
        y_pred = self._forward(x, training=False)
        y = self._match_targets(y_pred, y)
        return self.loss(y_pred, y, sample_weight), y_pred, y

    def _one_batch(self, step, x, y, sample_weight, class_weight, return_dict):
        self._require_compiled()
        x, y = training.check_data(*self._columns(x, y))
        self._ensure_built(x)
        w = training.sample_weights(sample_weight, training.check_class_weight(class_weight), y, len(x))
        loss, y_pred, y = step(x, y, w)
        if self._batch_tracker is None:
            self._batch_tracker = training.Tracker(self)
        tracker = self._batch_tracker
        tracker.reset()
        tracker.update(self._loss_values(loss), len(x), y_pred, y)
        logs = tracker.logs()
        return logs if return_dict else training.keras_result(logs)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on (x, y); returns [loss, metrics...] (a float without metrics)."""
        return self._one_batch(self._train_step, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss and metrics of (x, y) in inference mode, as one batch."""
        return self._one_batch(self._test_step, x, y, sample_weight, None, return_dict)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x,
        y=None,
        batch_size=32,
        epochs=1,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        verbose=1,
        seed=None,
        callbacks=None,
        stop_on_nan=True,
        distributed=False,
        *,
        class_weight=None,
        sample_weight=None,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for `epochs` more epochs; returns a `History`.

        x, y: arrays, or x alone an iterable (a generator, a fastcnn.data.Dataset, a
        list) of (x, y) or (x, y, sample_weight) batches; steps_per_epoch batches per
        epoch (default: its len(), or until it ends). validation_split takes the LAST
        fraction of the arrays, before shuffling (Keras); validation_data is a tuple
        (x_val, y_val[, sample_weight]) or an iterable of batches (validation_steps),
        evaluated every validation_freq epochs (or at the listed 1-based epochs).
        seed fixes the shuffling (layers take their own seeds).
        class_weight {class: weight} and sample_weight (one per sample) weight each
        sample's loss (multiplied when both are given); see fastcnn.losses.
        callbacks: fastcnn.callbacks objects or any object with some of their hooks;
        model.stop_training = True ends training after the current batch.
        stop_on_nan: a non-finite loss raises FloatingPointError before the update.
        distributed=True (or an mpi4py communicator): data-parallel over the MPI
        ranks, batch_size per rank -- see `fastcnn.distributed.fit`.
        """
        options = dict(
            batch_size=batch_size,
            epochs=epochs,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            verbose=verbose,
            seed=seed,
            callbacks=callbacks,
            stop_on_nan=stop_on_nan,
            class_weight=class_weight,
            sample_weight=sample_weight,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_batch_size=validation_batch_size,
            validation_freq=validation_freq,
        )
        if distributed:
            from . import distributed as dist

            return dist.fit(self, x, y, comm=None if distributed is True else distributed, **options)
        return training.fit(self, x, y, **options)

    def predict(self, x, batch_size=32, verbose=0, steps=None, callbacks=None):
        """Outputs for x in inference mode, computed in batches and concatenated.

        x: an array, or an iterable of batches (each x alone, or a tuple whose first
        item is x; `steps` of them at most). Batches larger than `_inference_chunk()`
        run in pieces of that size (the same results: inference treats every sample
        on its own), so the activations of one piece stay in the caches between layers.
        """
        if _is_iterable_input(x):
            return training.predict_source(self, x, steps, callbacks, verbose)
        if callbacks:
            batch_size = training.positive_int(batch_size, "batch_size")
            x = _as_inputs(x)
            slices = (x[i : i + batch_size] for i in range(0, len(x), batch_size))
            return training.predict_source(self, slices, steps, callbacks, verbose)
        x = _as_inputs(x)
        self._ensure_built(x)
        batch_size = training.positive_int(batch_size, "batch_size")
        step = batch_size
        # sizing the pieces walks every layer's shapes: only for batches it may split
        if min(batch_size, len(x)) > self.INFERENCE_CHUNK_MIN:
            step = min(batch_size, self._inference_chunk())
        out = None
        for i in range(0, len(x), step):
            if out is None:
                y = self._forward(x[i : i + step], training=False)
                out = np.empty((len(x),) + y.shape[1:], y.dtype)
                out[: len(y)] = y
            else:  # later pieces are written in place
                self._forward(x[i : i + step], training=False, out=out[i : i + step])
        if out is None:
            return np.zeros((0,) + self.output_shape, np.float32)
        return out

    # Samples per inference piece: as many as keep the largest activation
    # within this many bytes, and never fewer than the minimum (convolutions
    # of few images use the cores less well).
    INFERENCE_CHUNK_BYTES = 8 << 20
    INFERENCE_CHUNK_MIN = 128

    def _activation_shapes(self):
        """Per-sample shapes of every activation in inference order."""
        shape = self.input_shape
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
            yield shape

    def _inference_chunk(self):
        largest = max([1] + [math.prod(s) * 4 for s in self._activation_shapes()])
        chunk = self.INFERENCE_CHUNK_MIN
        while chunk * 2 * largest <= self.INFERENCE_CHUNK_BYTES:
            chunk *= 2
        return chunk

    def evaluate(
        self,
        x,
        y=None,
        batch_size=32,
        verbose=0,
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """[loss, metrics...] over (x, y) (a float without metrics; a dict with return_dict).

        x, y as for fit (arrays, or an iterable of batches with `steps`); the loss is
        weighted by sample_weight as in training, the metrics are not (Keras)."""
        return training.evaluate(
            self,
            x,
            y,
            batch_size=batch_size,
            verbose=verbose,
            sample_weight=sample_weight,
            steps=steps,
            callbacks=callbacks,
            return_dict=return_dict,
        )

    def __call__(self, x, training=False):
        """The model on data; on symbolic tensors (fastcnn.Input, layer outputs) the
        model as one layer of the graph model being defined (nested.py)."""
        from . import graph, nested

        if graph.is_symbolic(x):
            return graph.connect(nested.as_layer(self), x)
        return self._forward(_as_inputs(x), training)

    # ------------------------------------------------------------------ summary
    def summary(self, print_fn=print):
        """Print (and return) a table of layers, output shapes, parameters and FLOPs per sample."""
        if not self.built:
            raise ValueError(
                f"{self.name} is not built: give it an Input layer, call "
                f"build(input_shape), or fit/predict on data first"
            )
        rows, shape, total_flops = [], self.input_shape, 0
        for layer in self.layers:
            flops = int(layer.flops(shape))
            shape = tuple(layer.output_shape(shape))
            total_flops += flops
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    str((None,) + shape),
                    f"{layer.count_params():,}",
                    f"{flops:,}",
                )
            )
        head = ("Layer (type)", "Output Shape", "Param #", "FLOPs")
        return self._summary_table(f'Model: "{self.name}"', head, rows, total_flops, print_fn)

    def _summary_table(self, title, head, rows, total_flops, print_fn):
        """The summary text: the rows under `head`, then parameter and FLOP totals; printed with print_fn."""
        widths = [max(len(r[i]) for r in rows + [head]) + 2 for i in range(len(head))]

        def line(r):
            return "".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

        width = sum(widths)
        trainable, non_trainable = self._param_counts()
        text = "\n".join(
            [title, "=" * width, line(head), "=" * width]
            + [line(r) for r in rows]
            + [
                "=" * width,
                f"Total params: {trainable + non_trainable:,}",
                f"Trainable params: {trainable:,}",
                f"Non-trainable params: {non_trainable:,}",
                f"Total FLOPs (forward, per sample): {total_flops:,}",
                "_" * width,
            ]
        )
        if print_fn is not None:
            print_fn(text)
        return text

    def _param_counts(self):
        """(trainable, non-trainable): frozen layers' weights and every layer's state are the latter."""
        trainable = int(sum(p.size for p in self.trainable_params))
        frozen = self.count_params() - trainable
        return trainable, frozen + int(sum(s.size for layer in self.layers for s in layer.state))

    # ------------------------------------------------------------------ save
    def save_weights(self, path):
        """Write every layer's weights (params then state, in layer order) to one
        .npz, atomically; `load_weights` reads them into a model of the same layers."""
        arrays = {
            _WEIGHTS_KEY: np.array(
                json.dumps(
                    {
                        "format": WEIGHTS_FORMAT,
                        "layers": [
                            [layer.name, type(layer).__name__, [list(w.shape) for w in layer.get_weights()]]
                            for layer in self.layers
                        ],
                    }
                )
            )
        }
        for i, layer in enumerate(self.layers):
            for j, w in enumerate(layer.get_weights()):
                arrays[f"weights/{i}/{j}"] = w
        _atomic_savez(os.fspath(path), arrays)

    def load_weights(self, path):
        """Set every layer's weights from a `save_weights` file; ValueError (naming the
        layer) when its layers or shapes differ from this model's, before changing any."""
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data[_WEIGHTS_KEY]))
                arrays = {k: data[k] for k in data.files if k != _WEIGHTS_KEY}
        except FileNotFoundError:
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a fastcnn weights file: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
            raise ValueError(f"{path} is not a fastcnn weights file")
        saved = meta["layers"]
        if len(saved) != len(self.layers):
            raise ValueError(
                f"{path} holds weights of {len(saved)} layers, {self.name} has {len(self.layers)}"
            )
        updates = []
        for i, (layer, (name, kind, shapes)) in enumerate(zip(self.layers, saved)):
            mine = [list(w.shape) for w in layer.get_weights()] if layer.built else None
            if kind != type(layer).__name__ or mine != shapes:
                raise ValueError(
                    f"{path}: layer {i} is {kind} '{name}' with weights {shapes}, but this model's "
                    f"layer {i} is {type(layer).__name__} '{layer.name}' with {mine}"
                )
            updates.append((layer, [arrays[f"weights/{i}/{j}"] for j in range(len(shapes))]))
        for layer, weights in updates:
            if weights:
                layer.set_weights(weights)
        self._weights_version += 1

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers
            ],
        }

    def _compile_config(self):
        if self.loss is None:
            return None
        opt = self.optimizer
        if callable(opt.learning_rate) and not isinstance(
            opt.learning_rate, optimizers_module.schedules_module.LearningRateSchedule
        ):
            raise ValueError(
                "cannot save an optimizer whose learning_rate is a plain function: "
                "use a fastcnn.schedules object, which a model file can hold"
            )
        return {
            "optimizer": {"class_name": type(opt).__name__, "config": opt.get_config()},
            "loss": _loss_config(self.loss),
            "metrics": self._metrics_config(),
        }

    def _metrics_config(self):
        return [metrics_module.serialize(m) for m in self.metrics]

    def save(self, path):
        """Write architecture, weights, layer state, compile config, optimizer state and
        epoch count to one .npz, atomically (temp file in the same folder, fsync, rename)."""
        path = os.fspath(path)
        rngs = {
            str(i): layer.rng.bit_generator.state
            for i, layer in enumerate(self.layers)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)
        }
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self.get_config(),
            "built": self.built,
            "compile": self._compile_config(),
            "epochs": self.epochs,
            "rng_states": rngs,
        }
        arrays = {_META_KEY: np.array(json.dumps(meta))}
        if self.built:
            for i, layer in enumerate(self.layers):
                for j, w in enumerate(layer.get_weights()):
                    arrays[f"weights/{i}/{j}"] = w
        if self.optimizer is not None:
            for key, value in self.optimizer.get_state().items():
                arrays[f"optimizer/{key}"] = np.asarray(value)
        _atomic_savez(path, arrays)

    def __repr__(self):
        return f"Sequential(name={self.name!r}, layers={[layer.name for layer in self.layers]})"


def _atomic_savez(path, arrays):
    """np.savez to a temporary file in the same folder, fsync, then rename over path."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", suffix=".npz", delete=False)
    try:
        with tmp:
            np.savez(tmp, **arrays)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
        try:  # make the rename itself durable (POSIX; some file systems refuse: fine)
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
    except BaseException:
        if os.path.exists(tmp.name):
            os.remove(tmp.name)
        raise


# ---------------------------------------------------------------------- loading


def load_model(path):
    """A `Sequential` saved by `save`, compiled and ready to resume `fit` exactly.

    ValueError for anything else: a truncated or damaged file, a foreign .npz,
    any non-zip file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # what np.savez writes: a zip
            raise ValueError(f"not an .npz (zip) archive (starts with {magic!r})")
        with np.load(path, allow_pickle=False) as data:
            if _META_KEY not in data.files:
                raise ValueError("no fastcnn model description inside")
            meta = json.loads(str(data[_META_KEY]))
            arrays = {k: data[k] for k in data.files if k != _META_KEY}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path} is not a readable fastcnn model file (truncated or foreign?): {e}"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: not a fastcnn model file of version {FORMAT_VERSION} (format {found!r})")
    try:
        return _model_from(meta, arrays, path)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"{path}: damaged fastcnn model file ({type(e).__name__}: {e})") from None


def _model_from(meta, arrays, path):
    from .nested import model_from_config

    model = model_from_config(meta["model"])
    if meta["built"] and not model.built:
        raise ValueError(f"{path}: built model without an input shape")
    for i, layer in enumerate(model.layers):
        n = len(layer.get_weights()) if layer.built else 0
        try:
            weights = [arrays[f"weights/{i}/{j}"] for j in range(n)]
        except KeyError as e:
            raise ValueError(f"{path}: missing weights {e} of layer '{layer.name}'") from None
        if n:
            layer.set_weights(weights)
        if str(i) in meta["rng_states"]:
            layer.rng.bit_generator.state = meta["rng_states"][str(i)]
    model.epochs = int(meta["epochs"])
    if meta["compile"] is not None:
        c = meta["compile"]
        opt_class = optimizers_module.get(c["optimizer"]["class_name"])
        opt = type(opt_class).from_config(c["optimizer"]["config"])
        if "losses" in c["loss"]:  # a graph model with several outputs
            model.compile(
                opt,
                [_loss_from(s, path) for s in c["loss"]["losses"]],
                c["metrics"],
                loss_weights=c["loss"]["weights"],
            )
        else:
            model.compile(opt, _loss_from(c["loss"], path), c["metrics"])
        state = {k[len("optimizer/") :]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        if state:
            opt.set_state(state)
    return model


def _loss_config(loss):
    losses = getattr(loss, "losses", None)
    if losses is not None:  # graph.WeightedLosses
        return {"losses": [_loss_config(one) for one in losses], "weights": list(loss.weights)}
    return {
        "class_name": type(loss).__name__,
        "config": {k: v for k, v in vars(loss).items() if not k.startswith("_")},
    }


def _loss_from(spec, path):
    loss_cls = getattr(losses_module, spec["class_name"], None)
    if not (isinstance(loss_cls, type) and issubclass(loss_cls, losses_module.Loss)):
        raise ValueError(f"{path}: unknown loss class {spec['class_name']!r}")
    return loss_cls(**spec["config"])


# ---------------------------------------------------------------------- helpers


# ---------------------------------------------------------------------- helpers


def _metric_list(metrics):
    if metrics is None:
        return []
    if isinstance(metrics, (str, metrics_module.Metric, dict)):
        metrics = [metrics]
    return [metrics_module.get(m) for m in metrics]


def _is_iterable_input(x):
    """An iterable of batches for predict: not an array, and not a list of arrays (inputs)."""
    return not isinstance(x, (np.ndarray, list, tuple, Columns)) and (
        hasattr(x, "__iter__") or hasattr(x, "__next__")
    )


class Columns:
    """Several arrays that share the sample axis, indexed together: a graph
    model's inputs or targets when it has several (fit, evaluate and the
    validation split take them as one)."""

    ndim = 1

    def __init__(self, arrays):
        self.arrays = list(arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(
                f"every array must hold the same number of samples, got {[len(a) for a in self.arrays]}"
            )

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return Columns([a[index] for a in self.arrays])


def _as_inputs(x):
    if isinstance(x, Columns):
        return x
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and per-sample dims, got shape {x.shape}")
    return x if x.dtype.kind == "f" else x.astype(np.float32)
