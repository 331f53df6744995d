"""Layers with explicit forward and backward passes, Keras names.

Every layer follows one pattern (micrograd / numpy-ml style):

  * `build(input_shape)` makes the parameters from the per-sample input shape
    (no batch dim) and raises ValueError when the shape cannot work;
  * `forward(x, training=False)` computes the output and saves what backward needs;
  * `backward(dout)` returns dL/dx and fills `grads` (same order as `params`).

Layouts: (N, C, H, W) for 2-D layers and (N, C, L) for 1-D layers, or with
`data_format='channels_last'` (conv and pooling layers) (N, H, W, C) and
(N, L, C), Keras' default (use BatchNormalization(axis=-1) there). Weights:
conv kernels are (C_out, C_in/groups, KH, KW) (or (C_out, C_in/groups, K)),
as `fastcnn.functional` takes them; the Dense kernel is (in, out) as in Keras.
Parameters are float32 unless `dtype=` says otherwise; layers with parameters
cast their input to that dtype, parameter-free layers keep the input's dtype.
`layer.astype(np.float64)` recasts parameters and state (for gradient checks).

`get_config()` returns the constructor arguments; `layer_from_config(class_name,
config)` rebuilds the layer (Keras' long names such as MaxPooling2D work too).
"""

from __future__ import annotations

import math
import re

import numpy as np

from . import functional as F, initializers
from ._paths import ops
from ._shapes import conv_output_size, padding_nd, pool_output_size, positive_tuple

__all__ = [
    "Layer",
    "Input",
    "Conv2D",
    "Conv1D",
    "MaxPool2D",
    "AvgPool2D",
    "MaxPool1D",
    "AvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "GlobalAvgPool1D",
    "GlobalMaxPool1D",
    "Dense",
    "Flatten",
    "Dropout",
    "BatchNormalization",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "get_activation",
    "layer_from_config",
    "LAYERS",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Concatenate",
    "Conv2DTranspose",
    "Conv1DTranspose",
    "UpSampling2D",
    "UpSampling1D",
    "ZeroPadding2D",
    "Cropping2D",
    "Activation",
    "Reshape",
    "Permute",
    "GELU",
    "SiLU",
    "Swish",
    "ELU",
    "SELU",
    "ReLU6",
    "Softplus",
    "HardSigmoid",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "LayerNormalization",
    "GroupNormalization",
    "SpatialDropout2D",
    "RandomFlip",
    "RandomCrop",
    "CenterCrop",
    "RandomTranslation",
    "RandomRotation",
    "RandomZoom",
    "RandomContrast",
    "RandomBrightness",
    "Rescaling",
    "Normalization",
]

LAYERS = {}  # class name -> class, for layer_from_config
_NAME_COUNTS = {}  # default-name prefix -> how many layers took it


def _snake(name):
    """Keras' default names: Conv2D -> conv2d, MaxPool2D -> max_pool2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_from_config(class_name, config):
    """Rebuild a layer from `type(layer).__name__` and `layer.get_config()`."""
    if class_name not in LAYERS:
        raise ValueError(f"unknown layer class {class_name!r}; known: {sorted(LAYERS)}")
    config = dict(config)
    trainable = config.pop("trainable", True)
    layer = LAYERS[class_name](**config)
    layer.trainable = bool(trainable)
    return layer


class Layer:
    """Base class: parameters by name, shape checks, config and bookkeeping."""

    param_names = ()  # attributes holding trained parameters, in `params` order
    state_names = ()  # attributes holding non-trained state (BatchNorm's running stats)
    # False while a model runs the backward pass of its first layer with
    # trainable weights: nothing upstream needs dL/dx, so the layers with
    # weights skip computing it (backward returns None).
    input_gradient = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYERS[cls.__name__] = cls

    def __init__(self, name=None, dtype="float32"):
        if name is None:
            prefix = _snake(type(self).__name__)
            count = _NAME_COUNTS.get(prefix, 0)
            _NAME_COUNTS[prefix] = count + 1
            name = prefix if count == 0 else f"{prefix}_{count}"
        self.name = name
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self.name}: dtype must be float32 or float64, got {dtype!r}")
        self.built = False
        self.input_shape = None
        self._grads = {}
        self._cache = None
        self._weights_version = 0  # bumped when weights are replaced (fusion.py's caches)
        # False freezes the weights: optimizers skip them (gradients still flow
        # through), and BatchNormalization then normalises by its moving statistics.
        self.trainable = True

    # ---- parameters
    @property
    def params(self):
        """Trained parameters (empty until built)."""
        return [getattr(self, n) for n in self.param_names] if self.built else []

    @property
    def grads(self):
        """Gradients of `params`, same order, filled by backward."""
        return [self._grads[n] for n in self.param_names] if self.built else []

    @property
    def state(self):
        """Non-trained arrays updated in forward (BatchNormalization's moving stats)."""
        return [getattr(self, n) for n in self.state_names] if self.built else []

    def trainable_flags(self):
        """One flag per array of `params`: whether optimizers update it."""
        return [self.trainable] * len(self.params)

    def count_params(self):
        if not self.built and self.param_names:
            raise ValueError(f"{self.name} is not built yet: call build(input_shape) first")
        return int(sum(p.size for p in self.params))

    def get_weights(self):
        """Copies of params then state (Keras' order: trained first)."""
        return [np.array(w) for w in self.params + self.state]

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(f"{self.name} is not built yet: call build(input_shape) first")
        names = self.param_names + self.state_names
        if len(weights) != len(names):
            raise ValueError(f"{self.name}: expected {len(names)} arrays, got {len(weights)}")
        for n, w in zip(names, weights):
            old = getattr(self, n)
            w = np.asarray(w)
            if w.shape != old.shape:
                raise ValueError(f"{self.name}: {n} must have shape {old.shape}, got {w.shape}")
            setattr(self, n, np.array(w, dtype=self.dtype, order="C"))  # a C-contiguous copy
        self._weights_version += 1

    def astype(self, dtype):
        """Recast parameters, gradients and state (e.g. to float64 for gradient checks)."""
        self.dtype = np.dtype(dtype)
        if not self.built:
            return self  # build() will create them in the new dtype
        for n in self.param_names + self.state_names:
            setattr(self, n, getattr(self, n).astype(self.dtype))
        self._grads = {n: g.astype(self.dtype) for n, g in self._grads.items()}
        self._weights_version += 1
        return self

    def _zero_grads(self):
        self._grads = {n: np.zeros_like(getattr(self, n)) for n in self.param_names}

    # ---- shapes
    def build(self, input_shape):
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape(self.input_shape)  # raises ValueError if incompatible
        self.built = True
        self._weights_version += 1

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape):
        """Forward floating-point operations per sample (2 per multiply-add)."""
        return 0

    def _build_from(self, x):
        if not self.built:
            self.build(np.shape(x)[1:])

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: call forward(x, training=...) before backward")
        return self._cache

    # ---- config
    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype.name}
        if not self.trainable:
            config["trainable"] = False
        return config

    def __call__(self, x, training=False):
        """forward(x) on data; on symbolic tensors (fastcnn.Input and what layers
        return for them) a node of a graph model (fastcnn.graph)."""
        from . import graph  # graph.py builds on this module

        if graph.is_symbolic(x):
            return graph.connect(self, x)
        return self.forward(x, training=training)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# ------------------------------------------------------------------ activations


class ReLU(Layer):
    """max(x, 0) (NaN stays NaN); the backward pass reads the output's sign.

    The activation layers' forward takes `out=` (x itself works): Conv and
    Dense apply their activation in place on the fresh pre-activation.
    """

    def forward(self, x, training=False, out=None):
        self._cache = y = ops().relu(np.asarray(x), out=out)
        return y

    def backward(self, dout):
        return ops().relu_backward(dout, self._cached())


class LeakyReLU(Layer):
    """max(x, 0) + negative_slope * min(x, 0), negative_slope >= 0 (Keras 3's
    rule); `alpha` is the Keras 2 name."""

    def __init__(self, negative_slope=0.3, alpha=None, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.negative_slope = float(negative_slope if alpha is None else alpha)
        if not self.negative_slope >= 0:
            raise ValueError(f"{self.name}: negative_slope must be >= 0, got {self.negative_slope!r}")

    def forward(self, x, training=False, out=None):
        self._cache = y = ops().leaky_relu(np.asarray(x), self.negative_slope, out=out)
        return y

    def backward(self, dout):
        return ops().leaky_relu_backward(dout, self._cached(), self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Sigmoid(Layer):
    def forward(self, x, training=False, out=None):
        self._cache = y = ops().sigmoid(np.asarray(x), out=out)
        return y

    def backward(self, dout):
        return ops().sigmoid_backward(dout, self._cached())


class Tanh(Layer):
    def forward(self, x, training=False, out=None):
        self._cache = y = ops().tanh(np.asarray(x), out=out)
        return y

    def backward(self, dout):
        return ops().tanh_backward(dout, self._cached())


class Softmax(Layer):
    def __init__(self, axis=-1, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.axis = int(axis)

    def forward(self, x, training=False, out=None):
        self._cache = y = ops().softmax(np.asarray(x), axis=self.axis, out=out)
        return y

    def backward(self, dout):
        return ops().softmax_backward(dout, self._cached(), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


_ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax, "leaky_relu": LeakyReLU}


def get_activation(activation):
    """A fresh activation layer for `activation=` (None and 'linear' give None)."""
    if activation is None or activation == "linear":
        return None
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected None, 'linear' or one of {sorted(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[activation](name=activation)


# ------------------------------------------------------------------------ input


class Input(Layer):
    """Marks the per-sample input shape of a model; passes data through."""

    def __init__(self, shape, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.shape = tuple(int(s) for s in shape)
        if not self.shape or any(s <= 0 for s in self.shape):
            raise ValueError(f"{self.name}: shape must be positive sizes, got {shape!r}")
        self.build(self.shape)

    def output_shape(self, input_shape):
        if tuple(input_shape) != self.shape:
            raise ValueError(f"{self.name}: expects per-sample shape {self.shape}, got {tuple(input_shape)}")
        return self.shape

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.output_shape(x.shape[1:])
        return x

    def backward(self, dout):
        return dout

    def get_config(self):
        return {**super().get_config(), "shape": self.shape}


# ------------------------------------------------------------------ convolution


def _split_channels(layer, input_shape):
    """(channels, spatial sizes) of a per-sample shape in the layer's data_format."""
    input_shape = tuple(input_shape)
    if len(input_shape) != layer.rank + 1:
        if layer.data_format == "channels_last":
            layout = "(H, W, C)" if layer.rank == 2 else "(L, C)"
        else:
            layout = "(C, H, W)" if layer.rank == 2 else "(C, L)"
        raise ValueError(f"{layer.name}: expects per-sample input {layout}, got {input_shape}")
    if layer.data_format == "channels_last":
        return input_shape[-1], input_shape[:-1]
    return input_shape[0], input_shape[1:]


def _join_channels(layer, channels, sizes):
    sizes = tuple(sizes)
    return sizes + (channels,) if layer.data_format == "channels_last" else (channels,) + sizes


def _data_format(layer, data_format):
    if data_format not in F.DATA_FORMATS:
        raise ValueError(f"{layer.name}: data_format must be one of {F.DATA_FORMATS}, got {data_format!r}")
    return data_format


def gradients_needed(layer):
    """The `needs` of a weighted layer's backward op: dL/dx unless the model
    said no (Layer.input_gradient), the kernel's, the bias' when it has one."""
    return (("x",) if layer.input_gradient else ()) + ("w",) + (("b",) if layer.use_bias else ())


def set_convolution_arguments(
    layer,
    filters,
    kernel_size,
    strides,
    dilation_rate,
    groups,
    activation,
    use_bias,
    kernel_initializer,
    bias_initializer,
    seed,
    data_format,
):
    """Check and store the constructor arguments every convolution layer shares
    (Conv1D/2D and the transposed ones; `layer.rank` spatial dims); padding is
    each layer's own."""
    d = layer.rank
    layer.data_format = _data_format(layer, data_format)
    layer.filters = positive_tuple(filters, 1, "filters")[0]
    layer.kernel_size = positive_tuple(kernel_size, d, "kernel_size")
    layer.strides = positive_tuple(strides, d, "strides")
    layer.dilation_rate = positive_tuple(dilation_rate, d, "dilation_rate")
    layer.groups = positive_tuple(groups, 1, "groups")[0]
    if layer.filters % layer.groups:
        raise ValueError(f"{layer.name}: groups={layer.groups} must divide filters={layer.filters}")
    layer.activation = None if activation == "linear" else activation
    layer.act = get_activation(activation)
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = kernel_initializer
    layer.bias_initializer = bias_initializer
    for init in (kernel_initializer, bias_initializer):
        initializers.get(init)  # fail early on an unknown name
    layer.seed = seed
    layer.param_names = ("kernel", "bias") if layer.use_bias else ("kernel",)


class _Conv(Layer):
    """Shared body of Conv1D and Conv2D; `rank` is the number of spatial dims."""

    rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(name, dtype)
        d = self.rank
        set_convolution_arguments(
            self,
            filters,
            kernel_size,
            strides,
            dilation_rate,
            groups,
            activation,
            use_bias,
            kernel_initializer,
            bias_initializer,
            seed,
            data_format,
        )
        self.padding = padding.lower() if isinstance(padding, str) else padding
        padding_nd(self.padding, (1,) * d, self.kernel_size, self.strides, self.dilation_rate)
        self._conv, self._conv_backward = (
            (F.conv2d, F.conv2d_backward) if d == 2 else (F.conv1d, F.conv1d_backward)
        )

    def output_shape(self, input_shape):
        channels, sizes = _split_channels(self, input_shape)
        if channels % self.groups:
            raise ValueError(f"{self.name}: groups={self.groups} must divide the {channels} input channels")
        pads = padding_nd(self.padding, sizes, self.kernel_size, self.strides, self.dilation_rate)
        try:
            out = tuple(
                conv_output_size(n, k, s, p, dl)
                for n, k, s, p, dl in zip(sizes, self.kernel_size, self.strides, pads, self.dilation_rate)
            )
        except ValueError as e:
            raise ValueError(f"{self.name}: input {input_shape} too small: {e}") from None
        return _join_channels(self, self.filters, out)

    def build(self, input_shape):
        super().build(input_shape)
        rng = np.random.default_rng(self.seed)
        channels = _split_channels(self, self.input_shape)[0]
        shape = (self.filters, channels // self.groups) + self.kernel_size
        self.kernel = initializers.get(self.kernel_initializer)(shape, rng, self.dtype)
        if self.use_bias:
            self.bias = initializers.get(self.bias_initializer)((self.filters,), rng, self.dtype)
        self._zero_grads()

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        bias = self.bias if self.use_bias else None
        z = self._conv(
            x,
            self.kernel,
            bias,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.groups,
            data_format=self.data_format,
        )
        self._cache = x
        return self.act.forward(z, training, out=z) if self.act else z

    def backward(self, dout):
        x = self._cached()
        dout = np.asarray(dout, dtype=self.dtype)
        dz = self.act.backward(dout) if self.act else dout
        dx, dkernel, dbias = self._conv_backward(
            dz,
            x,
            self.kernel,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.groups,
            needs=gradients_needed(self),
            data_format=self.data_format,
        )
        self._grads["kernel"] = dkernel
        if self.use_bias:
            self._grads["bias"] = dbias
        return dx

    def flops(self, input_shape):
        out = self.output_shape(input_shape)
        per_output = (_split_channels(self, input_shape)[0] // self.groups) * math.prod(self.kernel_size)
        return 2 * math.prod(out) * per_output

    def get_config(self):
        d = self.rank
        one = (lambda t: t[0]) if d == 1 else (lambda t: t)
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": one(self.kernel_size),
            "strides": one(self.strides),
            "padding": self.padding,
            "dilation_rate": one(self.dilation_rate),
            "groups": self.groups,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init_name(self.kernel_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
            "seed": self.seed,
            "data_format": self.data_format,
        }


def _init_name(init):
    return init if isinstance(init, str) else getattr(init, "__name__", init)


class Conv2D(_Conv):
    """2-D convolution of (N, C, H, W) (or (N, H, W, C)); kernel (filters, C/groups, KH, KW)."""

    rank = 2


class Conv1D(_Conv):
    """1-D convolution of (N, C, L) (or (N, L, C)); kernel (filters, C/groups, K)."""

    rank = 1


# ---------------------------------------------------------------------- pooling


class _Pool(Layer):
    """Shared body of the windowed pools. 'same' padding follows Keras: max
    ignores the padding, avg divides by the number of real inputs."""

    rank = 2
    mode = "max"

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding="valid",
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(name, dtype)
        d = self.rank
        self.data_format = _data_format(self, data_format)
        self.pool_size = positive_tuple(pool_size, d, "pool_size")
        self.strides = self.pool_size if strides is None else positive_tuple(strides, d, "strides")
        self.padding = padding.lower() if isinstance(padding, str) else padding
        padding_nd(self.padding, (1,) * d, self.pool_size, self.strides, (1,) * d)

    def output_shape(self, input_shape):
        channels, sizes = _split_channels(self, input_shape)
        pads = padding_nd(self.padding, sizes, self.pool_size, self.strides, (1,) * self.rank)
        try:
            out = tuple(
                pool_output_size(n, k, s, p[0], p[1], False)
                for n, k, s, p in zip(sizes, self.pool_size, self.strides, pads)
            )
        except ValueError as e:
            raise ValueError(f"{self.name}: input {input_shape} too small: {e}") from None
        return _join_channels(self, channels, out)

    def _args(self):
        return dict(
            kernel_size=self.pool_size,
            stride=self.strides,
            padding=self.padding,
            data_format=self.data_format,
        )

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x)
        if self.mode == "max":
            pool = F.max_pool2d if self.rank == 2 else F.max_pool1d
            if training:  # inference skips the indices; backward recomputes them
                out, indices = pool(x, **self._args(), return_indices=True)
            else:
                out, indices = pool(x, **self._args()), None
            self._cache = (x, indices)
        else:
            pool = F.avg_pool2d if self.rank == 2 else F.avg_pool1d
            out = pool(x, **self._args(), count_include_pad=False)
            self._cache = (x, None)
        return out

    def backward(self, dout):
        x, indices = self._cached()
        dout = np.asarray(dout, dtype=x.dtype)
        if self.mode == "max":
            pool_backward = F.max_pool2d_backward if self.rank == 2 else F.max_pool1d_backward
            return pool_backward(dout, x, **self._args(), indices=indices)
        pool_backward = F.avg_pool2d_backward if self.rank == 2 else F.avg_pool1d_backward
        return pool_backward(dout, x, **self._args(), count_include_pad=False)

    def get_config(self):
        one = (lambda t: t[0]) if self.rank == 1 else (lambda t: t)
        return {
            **super().get_config(),
            "pool_size": one(self.pool_size),
            "strides": one(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPool2D(_Pool):
    rank, mode = 2, "max"


class AvgPool2D(_Pool):
    rank, mode = 2, "avg"


class MaxPool1D(_Pool):
    rank, mode = 1, "max"


class AvgPool1D(_Pool):
    rank, mode = 1, "avg"


class _GlobalPool(Layer):
    """Mean or max over all spatial positions: (N, C, *spatial) (or (N, *spatial, C)) -> (N, C)."""

    rank = 2
    mode = "avg"

    def __init__(self, data_format="channels_first", name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)

    def output_shape(self, input_shape):
        channels, sizes = _split_channels(self, input_shape)
        if min(input_shape) <= 0:
            raise ValueError(f"{self.name}: expects positive sizes, got {tuple(input_shape)}")
        return (channels,)

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x)
        if self.mode == "max":
            pool = F.global_max_pool2d if self.rank == 2 else F.global_max_pool1d
            out, indices = pool(x, return_indices=True, data_format=self.data_format)
            self._cache = (x, indices)
        else:
            pool = F.global_avg_pool2d if self.rank == 2 else F.global_avg_pool1d
            out = pool(x, data_format=self.data_format)
            self._cache = (x, None)
        return out

    def backward(self, dout):
        x, indices = self._cached()
        dout = np.asarray(dout, dtype=x.dtype)
        if self.mode == "max":
            pool_backward = F.global_max_pool2d_backward if self.rank == 2 else F.global_max_pool1d_backward
            return pool_backward(dout, x, indices=indices, data_format=self.data_format)
        pool_backward = F.global_avg_pool2d_backward if self.rank == 2 else F.global_avg_pool1d_backward
        return pool_backward(dout, x, data_format=self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class GlobalAvgPool2D(_GlobalPool):
    rank, mode = 2, "avg"


class GlobalMaxPool2D(_GlobalPool):
    rank, mode = 2, "max"


class GlobalAvgPool1D(_GlobalPool):
    rank, mode = 1, "avg"


class GlobalMaxPool1D(_GlobalPool):
    rank, mode = 1, "max"


# ------------------------------------------------------------------------ dense


class Dense(Layer):
    """y = x @ kernel + bias on (N, in) with kernel (in, out) as in Keras
    (computed by fastcnn.functional.linear on the native GEMM)."""

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        name=None,
        dtype="float32",
    ):
        super().__init__(name, dtype)
        self.units = positive_tuple(units, 1, "units")[0]
        self.activation = None if activation == "linear" else activation
        self.act = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        for init in (kernel_initializer, bias_initializer):
            initializers.get(init)  # fail early on an unknown name
        self.seed = seed
        self.param_names = ("kernel", "bias") if self.use_bias else ("kernel",)

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 1:
            raise ValueError(
                f"{self.name}: expects a flat per-sample input (features,), got "
                f"{input_shape}; put a Flatten or a global pool before it"
            )
        return (self.units,)

    def build(self, input_shape):
        super().build(input_shape)
        rng = np.random.default_rng(self.seed)
        self.kernel = initializers.get(self.kernel_initializer)(
            (self.input_shape[0], self.units), rng, self.dtype
        )
        if self.use_bias:
            self.bias = initializers.get(self.bias_initializer)((self.units,), rng, self.dtype)
        self._zero_grads()

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expects input (N, {self.kernel.shape[0]}), got {x.shape}")
        z = F.linear(x, self.kernel, self.bias if self.use_bias else None)
        self._cache = x
        return self.act.forward(z, training, out=z) if self.act else z

    def backward(self, dout):
        x = self._cached()
        dout = np.asarray(dout, dtype=self.dtype)
        dz = self.act.backward(dout) if self.act else dout
        dx, self._grads["kernel"], db = F.linear_backward(dz, x, self.kernel, needs=gradients_needed(self))
        if self.use_bias:
            self._grads["bias"] = db
        return dx

    def flops(self, input_shape):
        return 2 * int(input_shape[0]) * self.units

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init_name(self.kernel_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
            "seed": self.seed,
        }


# --------------------------------------------------------------------- reshaping


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), in C order (channels-first)."""

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        x = np.asarray(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return np.reshape(dout, self._cached())


# ---------------------------------------------------------------- regularisation


class Dropout(Layer):
    """Inverted dropout: in training zero each input with probability `rate` and
    scale the rest by 1/(1-rate); identity in inference. Each training call
    draws one 64-bit key from np.random.default_rng(seed) and the mask is
    fastcnn.functional.dropout's counter-based stream of that key, so a seeded
    layer repeats its masks, on any thread count, and backward recomputes the
    mask instead of keeping it."""

    def __init__(self, rate, seed=None, name=None, dtype="float32"):
        super().__init__(name, dtype)
        if not 0 <= rate < 1:
            raise ValueError(f"{self.name}: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        x = np.asarray(x)
        if not training or self.rate == 0:
            self._cache = (None,)
            return x
        key = int(self.rng.integers(0, 2**63))
        self._cache = (key,)
        return ops().dropout(x, self.rate, key)

    def backward(self, dout):
        (key,) = self._cached()
        return dout if key is None else ops().dropout_backward(dout, self.rate, key)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class BatchNormalization(Layer):
    """Normalise each channel (the `axis` of the full (N, ...) tensor) by the batch
    statistics in training and by the moving statistics in inference.

    Keras' conventions: moving = momentum * moving + (1 - momentum) * batch, the
    batch variance is the biased one, epsilon defaults to 1e-3. (PyTorch's
    momentum is 1 - this momentum, and it tracks the unbiased variance.)
    """

    state_names = ("moving_mean", "moving_variance")

    def __init__(
        self, axis=1, momentum=0.99, epsilon=1e-3, center=True, scale=True, name=None, dtype="float32"
    ):
        super().__init__(name, dtype)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.param_names = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ())

    def _channel_axis(self, ndim):
        """Index of the channel axis in a per-sample shape with `ndim` dims."""
        axis = self.axis + ndim + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= ndim:
            raise ValueError(
                f"{self.name}: axis={self.axis} is not a feature axis of a "
                f"per-sample input with {ndim} dims (axis 0 is the batch)"
            )
        return axis - 1

    def output_shape(self, input_shape):
        self._channel_axis(len(input_shape))
        return tuple(input_shape)

    def build(self, input_shape):
        super().build(input_shape)
        channels = self.input_shape[self._channel_axis(len(self.input_shape))]
        self.gamma = np.ones(channels, self.dtype)
        self.beta = np.zeros(channels, self.dtype)
        self.moving_mean = np.zeros(channels, self.dtype)
        self.moving_variance = np.ones(channels, self.dtype)
        self._zero_grads()

    def forward(self, x, training=False, activation=None, negative_slope=0.0):
        """BN(x), then `activation` ('relu', 'leaky_relu') fused into the same
        pass when a model hands it the activation layer that follows. A frozen
        layer (trainable False) normalises by its moving statistics, as in Keras."""
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        training = training and self.trainable
        axis = self._channel_axis(x.ndim - 1) + 1
        y, (mean, inv_std) = ops().batch_norm(
            x,
            self.gamma if self.scale else None,
            self.beta if self.center else None,
            self.moving_mean,
            self.moving_variance,
            training=training,
            momentum=self.momentum,
            epsilon=self.epsilon,
            axis=axis,
            activation=activation,
            negative_slope=negative_slope,
            return_stats=True,
        )
        self._cache = (x, mean, inv_std, axis, training, activation, negative_slope)
        return y

    def backward(self, dout):
        x, mean, inv_std, axis, training, activation, negative_slope = self._cached()
        dout = np.asarray(dout, dtype=self.dtype)
        dx, dgamma, dbeta = ops().batch_norm_backward(
            dout,
            x,
            self.gamma if self.scale else None,
            self.beta if self.center else None,
            mean,
            inv_std,
            training=training,
            axis=axis,
            activation=activation,
            negative_slope=negative_slope,
        )
        if self.scale:
            self._grads["gamma"] = dgamma
        if self.center:
            self._grads["beta"] = dbeta
        return dx

    def flops(self, input_shape):
        return 2 * math.prod(input_shape)  # one multiply-add per element in inference

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


# Keras' long names, accepted by layer_from_config
for _long, _cls in {
    "MaxPooling2D": MaxPool2D,
    "AveragePooling2D": AvgPool2D,
    "MaxPooling1D": MaxPool1D,
    "AveragePooling1D": AvgPool1D,
    "GlobalAveragePooling2D": GlobalAvgPool2D,
    "GlobalMaxPooling2D": GlobalMaxPool2D,
    "GlobalAveragePooling1D": GlobalAvgPool1D,
    "GlobalMaxPooling1D": GlobalMaxPool1D,
}.items():
    LAYERS.setdefault(_long, _cls)
del _long, _cls


# Layers kept in modules of their own (merge layers for graph models, transposed
# convolutions, resizing); each registers in LAYERS like the rest.
from .depthwise_layers import DepthwiseConv2D, SeparableConv2D  # noqa: E402
from .merge import Add, Average, Concatenate, Maximum, Multiply, Subtract  # noqa: E402
from .more_activations import (  # noqa: E402
    ELU,
    GELU,
    SELU,
    Activation,
    HardSigmoid,
    Permute,
    ReLU6,
    Reshape,
    SiLU,
    Softplus,
    Swish,
)
from .normalization import GroupNormalization, LayerNormalization, SpatialDropout2D  # noqa: E402
from .preprocessing_layers import (  # noqa: E402
    CenterCrop,
    Normalization,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
)
from .resize_layers import Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding2D  # noqa: E402
from .transpose_layers import Conv1DTranspose, Conv2DTranspose  # noqa: E402
