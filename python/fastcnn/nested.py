"""A model used as a layer of another model.

Keras lets a model stand where a layer would: `features = base(inputs)` in
a graph model (transfer learning, siamese branches calling one model twice),
or a `Sequential` of augmentation layers inside another `Sequential`.
Calling a model on symbolic tensors, or adding it to a Sequential, wraps it
in a `ModelLayer`: its weights are the inner layers' own arrays (trained in
place), `trainable = False` freezes every inner layer (Keras' base-model
recipe), and each call keeps its own forward state, so one model may be
called several times with its gradients summed over the calls.
"""

from __future__ import annotations

import numpy as np

from .layers import Layer


class _InnerGradients:
    """The ModelLayer's gradients by its weight names (w0, w1, ...), read from and
    written to the inner layers that own them."""

    def __init__(self, owner):
        self.owner = owner

    def _slot(self, name):
        return self.owner._slots[int(name[1:])]

    def __getitem__(self, name):
        layer, inner = self._slot(name)
        return layer._grads[inner]

    def __setitem__(self, name, value):
        layer, inner = self._slot(name)
        layer._grads[inner] = value

    def __contains__(self, name):
        layer, inner = self._slot(name)
        return inner in layer._grads


class ModelLayer(Layer):
    """`model` (a Sequential or a graph Model) as one layer."""

    def __init__(self, model, name=None, dtype="float32"):
        if isinstance(model, dict):
            model = model_from_config(model)
        self.model = model
        self._ready = False  # the base class' initial assignments leave the inner layers alone
        super().__init__(name or model.name, dtype)
        self._ready = True
        if model.built:
            self.input_shape = model.input_shape
            self.built = True

    # ------------------------------------------------------------------ weights
    @property
    def _slots(self):
        """(inner layer, its weight name) for each weight, in the inner model's order."""
        slots = []
        for layer in self.model.layers:
            if isinstance(layer, ModelLayer):
                slots.extend(layer._slots)
            else:
                slots.extend((layer, name) for name in layer.param_names)
        return slots

    @property
    def param_names(self):
        return tuple(f"w{i}" for i in range(len(self._slots))) if self.model.built else ()

    @property
    def params(self):
        return self.model.params if self.model.built else []

    @property
    def _grads(self):
        return _InnerGradients(self)

    @_grads.setter
    def _grads(self, value):
        pass  # the inner layers hold the gradients

    def _zero_grads(self):
        for layer in self.model.layers:
            layer._zero_grads()

    @property
    def trainable(self):
        return any(layer.trainable for layer in self.model.layers) if self._ready else True

    @trainable.setter
    def trainable(self, value):
        if self._ready:
            for layer in self.model.layers:
                layer.trainable = bool(value)

    def trainable_flags(self):
        return self.model.trainable_mask()

    def count_params(self):
        return self.model.count_params()

    def get_weights(self):
        return self.model.get_weights()

    def set_weights(self, weights):
        self.model.set_weights(weights)
        self._weights_version += 1

    def astype(self, dtype):
        for layer in self.model.layers:
            layer.astype(dtype)
        self.dtype = np.dtype(dtype)
        self._weights_version += 1
        return self

    # ------------------------------------------------------------------ shapes
    def build(self, input_shape):
        self.model.build(input_shape)
        self.input_shape = self.model.input_shape
        self.built = True
        self._weights_version += 1

    def output_shape(self, input_shape):
        if not self.model.built:
            self.model.build(input_shape)
        return self.model.output_shape

    def flops(self, input_shape):
        return sum(int(layer.flops(shape)) for layer, shape in _layer_inputs(self.model))

    # ------------------------------------------------------------------ passes
    @property
    def _cache(self):
        """What one call's backward needs: every inner layer's (and inner model's) state."""
        if not self._ready:
            return None
        model = self.model
        nodes = getattr(model, "_nodes", None)
        per_layer = [layer._cache for layer in model.layers]
        per_node = None if nodes is None else [node.cache for node in nodes]
        return (per_layer, per_node, list(model._ran_steps), set(getattr(model, "_fused_now", ())))

    @_cache.setter
    def _cache(self, state):
        if not self._ready or state is None:
            return
        per_layer, per_node, ran_steps, fused_now = state
        model = self.model
        for layer, cache in zip(model.layers, per_layer):
            layer._cache = cache
        if per_node is not None:
            for node, cache in zip(model._nodes, per_node):
                node.cache = cache
            model._fused_now = set(fused_now)
        model._ran_steps = ran_steps

    def forward(self, x, training=False):
        self._build_from(x)
        if training:
            self._weights_version += 1
        return self.model._forward(x, training)

    def backward(self, dout):
        return self.model._backward(dout, input_gradient=self.input_gradient)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype.name, "model": self.model.get_config()}
        if not self.trainable:
            config["trainable"] = False
        return config


def as_layer(model):
    """The one ModelLayer of `model` (calls share it, and so its weights)."""
    layer = getattr(model, "_as_layer", None)
    if layer is None:
        layer = model._as_layer = ModelLayer(model)
    return layer


def model_from_config(config):
    """A Sequential or graph Model from its get_config() (weights not set)."""
    from . import layers as layers_module
    from .graph import model_from_config as graph_from_config
    from .model import Sequential

    if config.get("class_name") == "Model":
        return graph_from_config(config)
    model = Sequential(name=config["name"])
    if config.get("input_shape") is not None:
        model.add(layers_module.Input(config["input_shape"]))
    for spec in config["layers"]:
        model.add(layers_module.layer_from_config(spec["class_name"], spec["config"]))
    return model


def _layer_inputs(model):
    """(layer, its per-sample input shape) for each call in the model."""
    nodes = getattr(model, "_nodes", None)
    if nodes is not None:
        for node in nodes:
            yield node.layer, ([t.shape for t in node.inputs] if node.listed else node.inputs[0].shape)
        return
    shape = model.input_shape
    for layer in model.layers:
        yield layer, shape
        shape = layer.output_shape(shape)
