"""DepthwiseConv2D and SeparableConv2D (Keras' names and defaults).

A depthwise convolution is a grouped convolution with one group per input
channel: kernel (C * depth_multiplier, 1, KH, KW) in PyTorch's layout, so it
runs on the native grouped-convolution paths. A separable convolution is a
depthwise one followed by a 1x1 convolution to `filters` channels, with the
bias and activation after the second.
"""

from __future__ import annotations

from . import initializers
from ._shapes import positive_tuple
from .layers import Conv2D, Layer, _data_format, _init_name, _split_channels, get_activation


class DepthwiseConv2D(Conv2D):
    """One KH x KW filter (depth_multiplier of them) per input channel."""

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(
            1,
            kernel_size,
            strides,
            padding,
            dilation_rate,
            1,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            seed,
            data_format,
            name,
            dtype,
        )
        self.depth_multiplier = positive_tuple(depth_multiplier, 1, "depth_multiplier")[0]

    def _take_channels(self, input_shape):
        channels = _split_channels(self, input_shape)[0]
        self.groups, self.filters = channels, channels * self.depth_multiplier

    def output_shape(self, input_shape):
        if not self.built:
            self._take_channels(input_shape)
        return super().output_shape(input_shape)

    def build(self, input_shape):
        self._take_channels(input_shape)
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        for key in ("filters", "groups"):
            config.pop(key)
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        config["depth_multiplier"] = self.depth_multiplier
        return config


class SeparableConv2D(Layer):
    """A depthwise convolution, then a 1x1 convolution to `filters` channels (bias and activation after)."""

    rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)
        self.filters = positive_tuple(filters, 1, "filters")[0]
        self.depthwise = DepthwiseConv2D(
            kernel_size,
            strides,
            padding,
            depth_multiplier,
            dilation_rate,
            use_bias=False,
            depthwise_initializer=depthwise_initializer,
            seed=seed,
            data_format=data_format,
            dtype=dtype,
            name=f"{self.name}_depthwise",
        )
        self.pointwise = Conv2D(
            self.filters,
            1,
            use_bias=use_bias,
            kernel_initializer=pointwise_initializer,
            bias_initializer=bias_initializer,
            seed=None if seed is None else seed + 1,
            data_format=data_format,
            dtype=dtype,
            name=f"{self.name}_pointwise",
        )
        self.activation = None if activation == "linear" else activation
        self.act = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer, self.pointwise_initializer = depthwise_initializer, pointwise_initializer
        self.bias_initializer, self.seed = bias_initializer, seed
        for init in (depthwise_initializer, pointwise_initializer, bias_initializer):
            initializers.get(init)
        self.param_names = ("depthwise_kernel", "pointwise_kernel") + (("bias",) if self.use_bias else ())

    def output_shape(self, input_shape):
        return self.pointwise.output_shape(self.depthwise.output_shape(input_shape))

    def build(self, input_shape):
        super().build(input_shape)
        self.depthwise.build(self.input_shape)
        self.pointwise.build(self.depthwise.output_shape(self.input_shape))
        self._zero_grads()

    # the two convolutions' arrays are this layer's parameters
    depthwise_kernel = property(
        lambda self: self.depthwise.kernel, lambda self, v: setattr(self.depthwise, "kernel", v)
    )
    pointwise_kernel = property(
        lambda self: self.pointwise.kernel, lambda self, v: setattr(self.pointwise, "kernel", v)
    )
    bias = property(lambda self: self.pointwise.bias, lambda self, v: setattr(self.pointwise, "bias", v))

    def forward(self, x, training=False):
        self._build_from(x)
        h = self.depthwise.forward(x, training)
        z = self.pointwise.forward(h, training)
        self._cache = True
        return self.act.forward(z, training, out=z) if self.act else z

    def backward(self, dout):
        self._cached()
        dz = self.act.backward(dout) if self.act else dout
        self.depthwise.input_gradient = self.input_gradient
        try:
            dx = self.depthwise.backward(self.pointwise.backward(dz))
        finally:
            self.depthwise.input_gradient = True
        self._grads["depthwise_kernel"] = self.depthwise.grads[0]
        self._grads["pointwise_kernel"] = self.pointwise.grads[0]
        if self.use_bias:
            self._grads["bias"] = self.pointwise.grads[1]
        return dx

    def astype(self, dtype):
        self.depthwise.astype(dtype)
        self.pointwise.astype(dtype)
        return super().astype(dtype)

    def flops(self, input_shape):
        return self.depthwise.flops(input_shape) + self.pointwise.flops(
            self.depthwise.output_shape(input_shape)
        )

    def get_config(self):
        dw = self.depthwise
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": dw.kernel_size,
            "strides": dw.strides,
            "padding": dw.padding,
            "depth_multiplier": dw.depth_multiplier,
            "dilation_rate": dw.dilation_rate,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "depthwise_initializer": _init_name(self.depthwise_initializer),
            "pointwise_initializer": _init_name(self.pointwise_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
            "seed": self.seed,
            "data_format": self.data_format,
        }
