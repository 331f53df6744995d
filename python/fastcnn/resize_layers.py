"""UpSampling2D, UpSampling1D, ZeroPadding2D and Cropping2D (Keras' names and defaults)."""

from __future__ import annotations

import numpy as np

from . import resize as R
from ._shapes import positive_tuple
from .layers import Layer, _data_format, _join_channels, _split_channels


class UpSampling2D(Layer):
    """Repeat (interpolation='nearest') or interpolate ('bilinear') rows and columns by `size`."""

    rank = 2

    def __init__(
        self,
        size=2,
        interpolation="nearest",
        data_format="channels_first",
        align_corners=False,
        name=None,
        dtype="float32",
    ):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)
        self.size = positive_tuple(size, 2, "size")
        if interpolation not in R.MODES:
            raise ValueError(f"{self.name}: interpolation must be one of {R.MODES}, got {interpolation!r}")
        self.interpolation = interpolation
        self.align_corners = bool(align_corners)

    def output_shape(self, input_shape):
        channels, (h, w) = _split_channels(self, input_shape)
        return _join_channels(self, channels, (h * self.size[0], w * self.size[1]))

    def _args(self):
        return dict(
            scale_factor=self.size,
            mode=self.interpolation,
            align_corners=self.align_corners,
            data_format=self.data_format,
        )

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        self._cache = x.shape
        return R.upsample2d(x, **self._args())

    def backward(self, dout):
        return R.upsample2d_backward(np.asarray(dout, dtype=self.dtype), self._cached(), **self._args())

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "interpolation": self.interpolation,
            "data_format": self.data_format,
            "align_corners": self.align_corners,
        }


class UpSampling1D(Layer):
    """Repeat each step of (N, C, L) (or (N, L, C)) `size` times."""

    rank = 1

    def __init__(self, size=2, data_format="channels_first", name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)
        self.size = positive_tuple(size, 1, "size")[0]

    def _axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def output_shape(self, input_shape):
        channels, (n,) = _split_channels(self, input_shape)
        return _join_channels(self, channels, (n * self.size,))

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        self._cache = x.shape
        return np.repeat(x, self.size, axis=self._axis())

    def backward(self, dout):
        shape = self._cached()
        axis = self._axis()
        dout = np.asarray(dout, dtype=self.dtype)
        split = dout.shape[:axis] + (shape[axis], self.size) + dout.shape[axis + 1 :]
        return np.ascontiguousarray(dout.reshape(split).sum(axis=axis + 1))

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


def _pairs(value, name):
    """((top, bottom), (left, right)) from an int, (h, w) or the pairs themselves."""
    try:
        pairs = R._pad_pairs(value)
    except ValueError:
        raise ValueError(
            f"{name} must be an int, (h, w) or ((top, bottom), (left, right)), got {value!r}"
        ) from None
    return tuple(tuple(p) for p in pairs)


class ZeroPadding2D(Layer):
    """Zeros around H and W: padding an int, (h, w) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, padding=1, data_format="channels_first", name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)
        self.padding = _pairs(padding, "padding")

    def output_shape(self, input_shape):
        channels, (h, w) = _split_channels(self, input_shape)
        (t, b), (left, right) = self.padding
        return _join_channels(self, channels, (h + t + b, w + left + right))

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        self._cache = x.shape
        return R.pad2d(x, self.padding, data_format=self.data_format)

    def backward(self, dout):
        return R.pad2d_backward(
            np.asarray(dout, dtype=self.dtype), self._cached(), self.padding, data_format=self.data_format
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping2D(Layer):
    """Drop rows and columns at the edges: cropping an int, (h, w) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format="channels_first", name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)
        self.cropping = _pairs(cropping, "cropping")

    def output_shape(self, input_shape):
        channels, (h, w) = _split_channels(self, input_shape)
        (t, b), (left, right) = self.cropping
        if h - t - b <= 0 or w - left - right <= 0:
            raise ValueError(f"{self.name}: cropping {self.cropping} leaves nothing of {tuple(input_shape)}")
        return _join_channels(self, channels, (h - t - b, w - left - right))

    def _window(self, shape):
        (t, b), (left, right) = self.cropping
        rows, cols = slice(t, shape[-3 if self.data_format == "channels_last" else -2] - b), None
        cols = slice(left, shape[-2 if self.data_format == "channels_last" else -1] - right)
        if self.data_format == "channels_last":
            return (slice(None), rows, cols, slice(None))
        return (slice(None), slice(None), rows, cols)

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        self.output_shape(x.shape[1:])
        self._cache = x.shape
        return np.ascontiguousarray(x[self._window(x.shape)])

    def backward(self, dout):
        shape = self._cached()
        dx = np.zeros(shape, self.dtype)
        dx[self._window(shape)] = dout
        return dx

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}
