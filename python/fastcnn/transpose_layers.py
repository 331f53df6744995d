"""Conv2DTranspose and Conv1DTranspose: Keras' names and padding rules,
PyTorch's kernel layout (C_in, filters / groups, KH, KW) as fastcnn's Conv2D.

padding: 'valid' or 'same' (Keras: with output_padding None the output is
input * stride + max(kernel - stride, 0) for 'valid' and input * stride for
'same'), an int or one int per dim (PyTorch's padding, both sides), or
explicit (before, after) pairs per dim. output_padding (below the stride)
adds rows and columns after, as PyTorch's.
"""

from __future__ import annotations

import math

import numpy as np

from . import initializers, transpose as T
from .layers import (
    Layer,
    _init_name,
    _join_channels,
    _split_channels,
    gradients_needed,
    set_convolution_arguments,
)


class _ConvTranspose(Layer):
    rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
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
        self.output_padding = output_padding
        self._geometry((1,) * self.rank)  # fail early on bad padding / output_padding

    def _geometry(self, sizes):
        """(pads per dim, output padding per dim) for spatial input `sizes`."""
        d = self.rank
        kernel = [dl * (k - 1) + 1 for k, dl in zip(self.kernel_size, self.dilation_rate)]
        extra = self.output_padding
        if isinstance(self.padding, str):
            if self.padding not in ("valid", "same"):
                raise ValueError(
                    f"{self.name}: padding must be 'valid', 'same', ints or pairs, got {self.padding!r}"
                )
            if extra is None:  # Keras: valid -> n * s + max(k - s, 0), same -> n * s
                if self.padding == "valid":
                    pads = tuple((0, 0) for _ in range(d))
                    extra = tuple(max(s - k, 0) for k, s in zip(kernel, self.strides))
                else:
                    total = [max(k - s, 0) for k, s in zip(kernel, self.strides)]
                    pads = tuple((t // 2, t - t // 2) for t in total)
                    extra = tuple(max(s - k, 0) for k, s in zip(kernel, self.strides))
            else:
                pads = tuple(((k // 2, k // 2) if self.padding == "same" else (0, 0)) for k in kernel)
        else:
            pads = T._pads(self.padding, d)
        extra = T._output_padding(0 if extra is None else extra, self.strides, d)
        return pads, extra

    def output_shape(self, input_shape):
        channels, sizes = _split_channels(self, input_shape)
        if channels % self.groups:
            raise ValueError(f"{self.name}: groups={self.groups} must divide the {channels} input channels")
        pads, extra = self._geometry(sizes)
        try:
            out = tuple(
                T.conv_transpose_output_size(n, k, s, p[0], p[1], dl, o)
                for n, k, s, p, dl, o in zip(
                    sizes, self.kernel_size, self.strides, pads, self.dilation_rate, extra
                )
            )
        except ValueError as e:
            raise ValueError(f"{self.name}: input {tuple(input_shape)}: {e}") from None
        return _join_channels(self, self.filters, out)

    def build(self, input_shape):
        super().build(input_shape)
        rng = np.random.default_rng(self.seed)
        channels = _split_channels(self, self.input_shape)[0]
        shape = (channels, self.filters // self.groups) + self.kernel_size
        self.kernel = initializers.get(self.kernel_initializer)(shape, rng, self.dtype)
        if self.use_bias:
            self.bias = initializers.get(self.bias_initializer)((self.filters,), rng, self.dtype)
        self._zero_grads()

    def _args(self, x):
        sizes = x.shape[1:-1] if self.data_format == "channels_last" else x.shape[2:]
        pads, extra = self._geometry(sizes)
        return dict(
            stride=self.strides,
            padding=pads,
            output_padding=extra,
            groups=self.groups,
            dilation=self.dilation_rate,
            data_format=self.data_format,
        )

    def _ops(self):
        if self.rank == 2:
            return T.conv_transpose2d, T.conv_transpose2d_backward
        return T.conv_transpose1d, T.conv_transpose1d_backward

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        z = self._ops()[0](x, self.kernel, self.bias if self.use_bias else None, **self._args(x))
        self._cache = x
        return self.act.forward(z, training, out=z) if self.act else z

    def backward(self, dout):
        x = self._cached()
        dout = np.asarray(dout, dtype=self.dtype)
        dz = self.act.backward(dout) if self.act else dout
        dx, dkernel, dbias = self._ops()[1](dz, x, self.kernel, needs=gradients_needed(self), **self._args(x))
        self._grads["kernel"] = dkernel
        if self.use_bias:
            self._grads["bias"] = dbias
        return dx

    def flops(self, input_shape):
        channels, sizes = _split_channels(self, input_shape)
        return 2 * math.prod(sizes) * channels * (self.filters // self.groups) * math.prod(self.kernel_size)

    def get_config(self):
        one = (lambda t: t[0]) if self.rank == 1 else (lambda t: t)
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": one(self.kernel_size),
            "strides": one(self.strides),
            "padding": self.padding,
            "output_padding": self.output_padding,
            "dilation_rate": one(self.dilation_rate),
            "groups": self.groups,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init_name(self.kernel_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
            "seed": self.seed,
            "data_format": self.data_format,
        }


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution of (N, C, H, W) (or (N, H, W, C)); kernel (C_in, filters/groups, KH, KW)."""

    rank = 2


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution of (N, C, L) (or (N, L, C)); kernel (C_in, filters/groups, K)."""

    rank = 1
