"""Graph models: Keras' functional API, with each layer's explicit forward and backward.

    inputs = fastcnn.Input((3, 32, 32))              # symbolic: no batch axis, no data
    x = L.Conv2D(16, 3, padding="same")(inputs)       # calling a layer adds a node
    y = L.Conv2D(16, 3, padding="same")(L.ReLU()(x))
    x = L.ReLU()(L.Add()([x, y]))                     # a merge layer takes a list
    model = fastcnn.Model(inputs, L.Dense(10)(L.GlobalAvgPool2D()(x)))

Calling a layer on symbolic tensors builds it for their shapes and returns
its symbolic output; `Model(inputs, outputs)` collects the nodes between
them in a run order (every node after the nodes it reads). Forward runs the
nodes in that order; backward runs them in reverse and sums the gradients
of a tensor read by several nodes. A layer called more than once shares its
weights: its per-call cache is kept per node and its weight gradients are
summed over its calls.

`Model` is a `Sequential` whose step list is this graph: compile, fit,
evaluate, predict, summary, save and load_model work as for `Sequential`.
Several inputs and outputs take lists of arrays everywhere (predict,
model(x), fit, evaluate), with a loss per output and `loss_weights`; the logs
name each output's loss and metrics after its layer, as Keras does
('dense_1_loss', 'dense_1_accuracy').
"""

from __future__ import annotations

import copy

import numpy as np

from . import (
    layers as layers_module,
    losses as losses_module,
    metrics as metrics_module,
    plan as plan_module,
    training,
)
from ._paths import reference_active
from .elementwise import add_arrays
from .model import (
    DEFAULT_METRICS,
    Columns,
    Sequential,
    _as_inputs,
    _is_iterable_input,
    _keep_gradients_defined,
    _metric_list,
)


class SymbolicTensor:
    """A tensor of a model being defined: per-sample shape, dtype, and the node that makes it."""

    def __init__(self, shape, dtype, node=None, name=None):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.node = node  # None for a model input
        self.name = name

    def __repr__(self):
        source = self.name if self.node is None else self.node.layer.name
        return f"SymbolicTensor(shape={(None,) + self.shape}, dtype={self.dtype.name}, from={source!r})"


class Node:
    """One call of a layer on symbolic inputs (a list for merge layers)."""

    def __init__(self, layer, inputs, listed):
        self.layer, self.inputs, self.listed = layer, list(inputs), listed
        self.output = None
        self.cache = None  # the layer's cache after this node's last forward


def Input(shape, dtype="float32", name=None):
    """A model input of per-sample `shape` (Keras' `keras.Input`)."""
    shape = tuple(int(s) for s in shape)
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"Input shape must be positive sizes, got {shape!r}")
    return SymbolicTensor(shape, dtype, name=name or "input")


def is_symbolic(inputs):
    """Whether a layer call gets symbolic tensors (a model being defined) rather than data."""
    if isinstance(inputs, (list, tuple)):
        return bool(inputs) and all(_is_one_symbolic(t) for t in inputs)
    return _is_one_symbolic(inputs)


def _is_one_symbolic(t):
    return isinstance(t, SymbolicTensor) or isinstance(t, layers_module.Input)


def _tensor(t):
    """An Input layer (used the Sequential way) stands for its own symbolic tensor."""
    if isinstance(t, layers_module.Input):
        if getattr(t, "_symbolic", None) is None:
            t._symbolic = SymbolicTensor(t.shape, t.dtype, name=t.name)
        return t._symbolic
    return t


def connect(layer, inputs):
    """Call `layer` on symbolic `inputs`: build it for their shapes, add a node, return its output."""
    listed = isinstance(inputs, (list, tuple))
    tensors = [_tensor(t) for t in (inputs if listed else [inputs])]
    shapes = [t.shape for t in tensors]
    in_shape = shapes if listed else shapes[0]
    where = f"layer '{layer.name}' ({type(layer).__name__})"
    try:
        if not layer.built:
            layer.build(in_shape)
        elif _shape_key(layer.input_shape) != _shape_key(in_shape):
            raise ValueError(
                f"it was built for input {_shape_key(layer.input_shape)}, a shared layer "
                f"takes the same shape on every call"
            )
        out_shape = tuple(layer.output_shape(in_shape))
    except ValueError as e:
        raise ValueError(f"{where} cannot take input shape {in_shape}: {e}") from None
    node = Node(layer, tensors, listed)
    node.output = SymbolicTensor(out_shape, layer.dtype, node)
    return node.output


def _shape_key(shape):
    if shape is None:
        return None
    if shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _run_order(inputs, outputs):
    """The nodes between inputs and outputs, each after the nodes it reads."""
    order, seen, visiting = [], set(), set()
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        if id(tensor) in input_ids:
            return
        node = tensor.node
        if node is None:
            raise ValueError(
                f"the outputs depend on an input that is not among the model's inputs: {tensor!r}"
            )
        if id(node) in seen:
            return
        if id(node) in visiting:
            raise ValueError(f"the graph has a cycle through layer '{node.layer.name}'")
        visiting.add(id(node))
        for t in node.inputs:
            visit(t)
        visiting.discard(id(node))
        seen.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    return order


class Model(Sequential):
    """A model defined by its input and output tensors (Keras' functional `Model`)."""

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name or "model")
        self._multi_in = isinstance(inputs, (list, tuple))
        self._multi_out = isinstance(outputs, (list, tuple))
        self._inputs = [_tensor(t) for t in (inputs if self._multi_in else [inputs])]
        self._outputs = [_tensor(t) for t in (outputs if self._multi_out else [outputs])]
        for t in self._inputs + self._outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Model takes symbolic tensors (fastcnn.Input and layer calls), got {t!r}")
        for t in self._inputs:
            if t.node is not None:
                raise ValueError(f"a model input must come from fastcnn.Input, got {t!r}")
        if len({id(t) for t in self._inputs}) != len(self._inputs):
            raise ValueError("the same Input appears twice among the model's inputs")
        self._nodes = _run_order(self._inputs, self._outputs)
        self.layers = []
        for node in self._nodes:
            if all(node.layer is not other for other in self.layers):
                self.layers.append(node.layer)
        self._calls = {id(layer): sum(n.layer is layer for n in self._nodes) for layer in self.layers}
        self._step_list = [(node.layer, None) for node in self._nodes]
        self._bn_activation = self._fusable_pairs()
        self._fused_now = set()  # activation nodes the last forward ran inside their BatchNormalization
        self.input_shape = self._inputs[0].shape
        self.built = True

    # ------------------------------------------------------------------ structure
    @property
    def inputs(self):
        return list(self._inputs) if self._multi_in else self._inputs[0]

    @property
    def outputs(self):
        return list(self._outputs) if self._multi_out else self._outputs[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes if self._multi_out else shapes[0]

    def add(self, layer):
        raise TypeError("a Model is defined by its inputs and outputs; add layers by calling them")

    def build(self, input_shape):
        shapes = input_shape if self._multi_in else [input_shape]
        want = [t.shape for t in self._inputs]
        if [tuple(int(s) for s in shape) for shape in shapes] != want:
            raise ValueError(f"{self.name} takes per-sample inputs {want if self._multi_in else want[0]}")
        return self

    def _ensure_built(self, x):
        xs = x.arrays if isinstance(x, Columns) else (x if self._multi_in else [x])
        if len(xs) != len(self._inputs):
            raise ValueError(f"{self.name} takes {len(self._inputs)} inputs, got {len(xs)}")
        for a, t in zip(xs, self._inputs):
            if tuple(np.shape(a)[1:]) != t.shape:
                raise ValueError(
                    f"{self.name} expects per-sample input {t.shape}, got {tuple(np.shape(a)[1:])} "
                    f"(data shape {np.shape(a)})"
                )

    # ------------------------------------------------------------------ one batch
    def _fusable_pairs(self):
        """BatchNormalization node -> the ReLU / LeakyReLU node that alone reads its output:
        run as one pass each way (as Sequential fuses them), off the reference path."""
        readers = {}
        for node in self._nodes:
            for t in node.inputs:
                readers.setdefault(id(t), []).append(node)
        outputs = {id(t) for t in self._outputs}
        pairs = {}
        for node in self._nodes:
            found = readers.get(id(node.output), [])
            if (
                type(node.layer) is layers_module.BatchNormalization
                and id(node.output) not in outputs
                and len(found) == 1
                and type(found[0].layer) in (layers_module.ReLU, layers_module.LeakyReLU)
            ):
                pairs[id(node)] = found[0]
        return pairs

    def _forward(self, x, training, out=None):
        if training:
            self._weights_version += 1
        elif not self._multi_in and not self._multi_out and not reference_active():
            plan = self._graph_plan(x)
            if plan is not None:
                return plan.run(x, out)
        xs = x.arrays if isinstance(x, Columns) else (x if self._multi_in else [x])
        if len(xs) != len(self._inputs):
            raise ValueError(f"{self.name} takes {len(self._inputs)} inputs, got {len(xs)}")
        values = {id(t): a for t, a in zip(self._inputs, xs)}
        fuse = not reference_active()
        self._fused_now = set()
        for node in self._nodes:
            if id(node) in self._fused_now:
                continue
            args = [values[id(t)] for t in node.inputs]
            act = self._bn_activation.get(id(node)) if fuse else None
            if act is not None:
                slope = getattr(act.layer, "negative_slope", 0.0)
                y = node.layer.forward(
                    args[0],
                    training=training,
                    activation="relu" if slope == 0 else "leaky_relu",
                    negative_slope=slope,
                )
                node.cache = node.layer._cache
                values[id(act.output)] = y
                self._fused_now.add(id(act))
                continue
            y = node.layer.forward(args if node.listed else args[0], training=training)
            node.cache = node.layer._cache
            values[id(node.output)] = y
        results = [values[id(t)] for t in self._outputs]
        if not self._multi_out:
            results = results[0]
            if out is not None:
                out[...] = results
                return out
        return results

    def _trained_upstream(self):
        """ids of the tensors that depend on a layer with trainable weights: only
        their gradients are needed in a training step."""
        found = set()
        for node in self._nodes:
            trained = bool(node.layer.param_names) and node.layer.trainable
            if trained or any(id(t) in found for t in node.inputs):
                found.add(id(node.output))
        return found

    def _backward(self, dout, input_gradient=True):
        """Gradients flow from the outputs back to the inputs (returned, one per
        input). With input_gradient=False (a training step) a node runs only
        where it or something upstream has trainable weights, and computes its
        dL/dx only where something upstream has (the inputs' gradients are None)."""
        douts = dout if self._multi_out else [dout]
        grads = {}
        needed = None if input_gradient else self._trained_upstream()

        def add(tensor, g):
            key = id(tensor)
            # never in place: g may be shared (Add hands one gradient to every input)
            grads[key] = g if key not in grads else add_arrays(grads[key], g)

        for t, g in zip(self._outputs, douts):
            add(t, g)
        summed = {}  # id(layer) -> its weight gradients summed over its calls
        for node in reversed(self._nodes):
            g = grads.pop(id(node.output), None)
            layer = node.layer
            if g is None:  # nothing downstream reaches an output
                continue
            if id(node) in self._fused_now:  # ran inside the BatchNormalization before it
                add(node.inputs[0], g)
                continue
            if needed is not None and id(node.output) not in needed:
                _keep_gradients_defined(layer)
                continue  # nothing here or upstream trains
            layer._cache = node.cache
            layer.input_gradient = needed is None or any(id(t) in needed for t in node.inputs)
            try:
                dx = layer.backward(g)
            finally:
                layer.input_gradient = True
            if self._calls[id(layer)] > 1 and layer.param_names:
                now = [np.array(a) for a in layer.grads]
                before = summed.get(id(layer))
                summed[id(layer)] = now if before is None else [b + a for a, b in zip(now, before)]
            if dx is None:  # the layer skipped dL/dx: nothing upstream trains
                continue
            for t, d in zip(node.inputs, dx if node.listed else [dx]):
                if needed is None or id(t) in needed:
                    add(t, d)
        for layer in self.layers:
            if id(layer) in summed:
                for name, g in zip(layer.param_names, summed[id(layer)]):
                    layer._grads[name] = g
        results = [grads.get(id(t)) for t in self._inputs]
        return results if self._multi_in else results[0]

    def _activation_shapes(self):
        return (node.output.shape for node in self._nodes)

    def _steps(self, training=True):
        return self._step_list

    def _graph_plan(self, x):
        """The native execution plan of the graph for x (plan.lower_graph), or None."""
        x = np.asarray(x)
        try:
            return self._plans.get(
                self._step_list,
                x,
                self._weights_version,
                build=lambda: plan_module.lower_graph(self, x.shape, x.dtype, self._weights_version),
            )
        except (ValueError, TypeError):
            return None

    def __call__(self, x, training=False):
        if is_symbolic(x):
            from .nested import as_layer

            return connect(as_layer(self), x)
        xs = [_as_data(a) for a in x] if self._multi_in else _as_data(x)
        return self._forward(xs, training)

    def predict(self, x, batch_size=32, verbose=0, steps=None, callbacks=None):
        if not self._multi_in and not self._multi_out:
            return super().predict(
                x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
            )
        if _is_iterable_input(x):
            return training.predict_source(self, x, steps, callbacks, verbose)
        if callbacks:  # batch by batch, so that the batch hooks run
            size = training.positive_int(batch_size, "batch_size")
            xs = list(x) if self._multi_in else [x]
            pieces = (
                [a[i : i + size] for a in xs] if self._multi_in else xs[0][i : i + size]
                for i in range(0, len(xs[0]), size)
            )
            return training.predict_source(self, pieces, steps, callbacks, verbose)
        xs = [_as_data(a) for a in x] if self._multi_in else [_as_data(x)]
        self._ensure_built(xs if self._multi_in else xs[0])
        n = len(xs[0])
        if any(len(a) != n for a in xs):
            raise ValueError(f"every input must hold the same number of samples, got {[len(a) for a in xs]}")
        pieces = []
        for i in range(0, n, batch_size):
            batch = [a[i : i + batch_size] for a in xs]
            y = self._forward(batch if self._multi_in else batch[0], training=False)
            pieces.append(y if self._multi_out else [y])
        joined = [np.concatenate([p[k] for p in pieces]) for k in range(len(self._outputs))]
        return joined if self._multi_out else joined[0]

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="adam", loss=None, metrics=DEFAULT_METRICS, loss_weights=None):
        """As Sequential.compile; with several outputs, `loss` is one loss for every output
        or a list with one per output, and the training loss is sum(loss_weights[k] * loss_k).

        metrics with several outputs (Keras 3's forms): a list with one entry per output
        (a metric, a list of metrics, or None), or a dict {output layer name: metrics};
        logged as '<output layer name>_<metric>'. The default is none for several outputs."""
        if not self._multi_out:
            if loss_weights is not None:
                raise ValueError("loss_weights takes a model with several outputs")
            return super().compile(optimizer, loss, metrics)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='mse' or one per output")
        outputs = len(self._outputs)
        if isinstance(loss, (list, tuple)):
            if len(loss) != outputs:
                raise ValueError(f"{self.name} has {outputs} outputs, got {len(loss)} losses")
            each = [losses_module.get(one) for one in loss]
        else:
            each = [
                losses_module.get(loss) if isinstance(loss, str) else copy.deepcopy(losses_module.get(loss))
                for _ in range(outputs)
            ]
        weights = [1.0] * outputs if loss_weights is None else [float(w) for w in loss_weights]
        if len(weights) != outputs:
            raise ValueError(f"{self.name} has {outputs} outputs, got {len(weights)} loss_weights")
        per_output = self._metrics_per_output(None if metrics is DEFAULT_METRICS else metrics)
        super().compile(optimizer, each[0], [])
        self.loss = WeightedLosses(each, weights)
        self._output_metrics = per_output
        self.metrics = [m for ms in per_output for m in ms]
        return self

    @property
    def output_names(self):
        """One name per output: its layer's name (with _2, _3, ... if a layer gives several)."""
        names = []
        for t in self._outputs:
            name, k = t.node.layer.name, 2
            while name in names:
                name, k = f"{t.node.layer.name}_{k}", k + 1
            names.append(name)
        return names

    def _metrics_per_output(self, metrics):
        names = self.output_names
        if not metrics:
            return [[] for _ in names]
        if isinstance(metrics, dict):
            unknown = set(metrics) - set(names)
            if unknown:
                raise ValueError(f"metrics name outputs {sorted(unknown)}; the outputs are {names}")
            return [_metric_list(metrics.get(name)) for name in names]
        if isinstance(metrics, (list, tuple)) and len(metrics) == len(names):
            return [_metric_list(entry) for entry in metrics]
        raise ValueError(
            f"{self.name} has {len(names)} outputs {names}: pass metrics as a list with one entry "
            f"per output (a metric, a list of metrics, or None) or a dict {{output name: metrics}}, "
            f"got {metrics!r}"
        )

    def _match_targets(self, y_pred, y_true):
        if not self._multi_out:
            return super()._match_targets(y_pred, y_true)
        targets = y_true.arrays if isinstance(y_true, Columns) else list(y_true)
        if len(targets) != len(y_pred):
            raise ValueError(f"{self.name} has {len(y_pred)} outputs, got {len(targets)} targets")
        matched = []
        for loss, p, t in zip(self.loss.losses, y_pred, targets):
            sparse = isinstance(loss, losses_module.SparseCategoricalCrossentropy)
            t = np.asarray(t)
            matched.append(t[..., None] if not sparse and t.ndim == p.ndim - 1 and p.shape[-1] == 1 else t)
        return matched

    def _columns(self, x, y=None):
        """Lists of arrays (several inputs or targets) as Columns, for the training loop."""
        if self._multi_in and isinstance(x, (list, tuple)):
            x = Columns([_as_inputs(a) for a in x])
        if y is not None and self._multi_out and isinstance(y, (list, tuple)):
            y = Columns([np.asarray(a) for a in y])
        return x, y

    def _output_slots(self):
        if not self._multi_out:
            return [("", self._outputs[0].shape, self.loss)]
        losses = self.loss.losses if isinstance(self.loss, WeightedLosses) else [None] * len(self._outputs)
        return [
            (name + "_", t.shape, loss) for name, t, loss in zip(self.output_names, self._outputs, losses)
        ]

    def _loss_values(self, loss):
        if not self._multi_out:
            return [loss]
        return [loss] + list(self.loss.values)

    def _metrics_config(self):
        if not self._multi_out:
            return super()._metrics_config()
        return [[metrics_module.serialize(m) for m in ms] for ms in self._output_metrics]

    # ------------------------------------------------------------------ summary
    def summary(self, print_fn=print):
        """Print (and return) each layer call: output shape, parameters, FLOPs and its inputs."""
        names = {id(t): t.name or "input" for t in self._inputs}
        rows, total_flops, counted = [], 0, set()
        for node in self._nodes:
            layer = node.layer
            names[id(node.output)] = layer.name
            in_shape = [t.shape for t in node.inputs] if node.listed else node.inputs[0].shape
            flops = int(layer.flops(in_shape))
            total_flops += flops
            params = layer.count_params() if id(layer) not in counted else 0
            counted.add(id(layer))
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    str((None,) + node.output.shape),
                    f"{params:,}",
                    f"{flops:,}",
                    ", ".join(names[id(t)] for t in node.inputs),
                )
            )
        head = ("Layer (type)", "Output Shape", "Param #", "FLOPs", "Connected to")
        inputs = ", ".join(f"{names[id(t)]} {(None,) + t.shape}" for t in self._inputs)
        return self._summary_table(
            f'Model: "{self.name}" (inputs: {inputs})', head, rows, total_flops, print_fn
        )

    # ------------------------------------------------------------------ save
    def get_config(self):
        """Layers (each once) and the calls between them, for save / load_model."""
        layer_index = {id(layer): i for i, layer in enumerate(self.layers)}
        ref = {id(t): ["input", k] for k, t in enumerate(self._inputs)}
        nodes = []
        for j, node in enumerate(self._nodes):
            nodes.append(
                {
                    "layer": layer_index[id(node.layer)],
                    "inputs": [ref[id(t)] for t in node.inputs],
                    "listed": node.listed,
                }
            )
            ref[id(node.output)] = ["node", j]
        return {
            "class_name": "Model",
            "name": self.name,
            "input_shape": list(self.input_shape),
            "inputs": [{"shape": list(t.shape), "dtype": t.dtype.name, "name": t.name} for t in self._inputs],
            "multi_input": self._multi_in,
            "multi_output": self._multi_out,
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers
            ],
            "nodes": nodes,
            "outputs": [ref[id(t)] for t in self._outputs],
        }

    def __repr__(self):
        return f"Model(name={self.name!r}, layers={[layer.name for layer in self.layers]})"


class WeightedLosses:
    """The training loss of a model with several outputs: sum_k weights[k] * losses[k].

    `values` holds the weighted per-output terms of the last evaluation (what the
    logs show as '<output>_loss'; they add up to the loss). sample_weight: one array
    for every output, or a list with one per output (None for unweighted)."""

    def __init__(self, losses, weights):
        self.losses, self.weights = list(losses), list(weights)
        self.values = [0.0] * len(self.losses)

    def _per_output(self, sample_weight):
        if isinstance(sample_weight, Columns):
            sample_weight = sample_weight.arrays
        if isinstance(sample_weight, (list, tuple)):
            if len(sample_weight) != len(self.losses):
                raise ValueError(
                    f"sample_weight holds {len(sample_weight)} arrays for {len(self.losses)} outputs"
                )
            return list(sample_weight)
        return [sample_weight] * len(self.losses)

    def __call__(self, y_pred, y_true, sample_weight=None):
        weights = self._per_output(sample_weight)
        self.values = [
            w * loss(p, t, sw)
            for loss, w, p, t, sw in zip(self.losses, self.weights, y_pred, y_true, weights)
        ]
        return float(sum(self.values))

    def forward(self, y_pred, y_true, sample_weight=None):
        weights = self._per_output(sample_weight)
        self.values = [
            w * loss.forward(p, t, sw)
            for loss, w, p, t, sw in zip(self.losses, self.weights, y_pred, y_true, weights)
        ]
        return float(sum(self.values))

    def backward(self):
        return [loss.backward() * loss_weight for loss, loss_weight in zip(self.losses, self.weights)]


def _as_data(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def model_from_config(config):
    """The Model a `get_config()` describes, its layers newly built (weights not set)."""
    layers = [layers_module.layer_from_config(s["class_name"], s["config"]) for s in config["layers"]]
    inputs = [Input(s["shape"], s["dtype"], s["name"]) for s in config["inputs"]]
    made = []

    def tensor(ref):
        kind, k = ref
        return inputs[k] if kind == "input" else made[k]

    for spec in config["nodes"]:
        args = [tensor(r) for r in spec["inputs"]]
        made.append(connect(layers[spec["layer"]], args if spec["listed"] else args[0]))
    outputs = [tensor(r) for r in config["outputs"]]
    return Model(
        inputs if config["multi_input"] else inputs[0],
        outputs if config["multi_output"] else outputs[0],
        name=config["name"],
    )
