"""Keras' preprocessing and augmentation layers: RandomFlip, RandomCrop,
RandomTranslation, RandomRotation, RandomZoom, RandomContrast, RandomBrightness,
CenterCrop, Rescaling and Normalization.

The random layers change their input only in training (`fit`); in inference
(`predict`, `evaluate`) they pass it through, except RandomCrop, which takes
the centre window. Each draws its parameters per image from
np.random.default_rng(seed) and applies them with the native ops of
fastcnn.augment, so a seeded layer repeats its batches on any thread count.
Backward passes are exact adjoints (flips and crops native, warps in NumPy),
so the layers also work inside a network, though they usually come first.
Images are (N, C, H, W), or (N, H, W, C) with data_format='channels_last'.
"""

from __future__ import annotations

import numpy as np

from . import augment as A
from ._shapes import as_float_array, positive_tuple
from .layers import Layer, _data_format, _join_channels, _split_channels


class _ImageLayer(Layer):
    """Shared body: data_format, per-sample (C, H, W) shapes, float input."""

    rank = 2

    def __init__(self, data_format, name, dtype):
        super().__init__(name, dtype)
        self.data_format = _data_format(self, data_format)

    def output_shape(self, input_shape):
        _split_channels(self, input_shape)  # raises for a shape that is not an image
        return tuple(input_shape)

    def _input(self, x):
        self._build_from(x)
        return as_float_array(x, "x")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class _RandomLayer(_ImageLayer):
    """A layer that draws per-image parameters in training and is the identity in inference."""

    inference_identity = True  # plan.py skips it in inference plans

    def __init__(self, seed, data_format, name, dtype):
        super().__init__(data_format, name, dtype)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        x = self._input(x)
        if not training:
            self._cache = None
            return x
        y, self._cache = self._augment(x)
        return y

    def backward(self, dout):
        if self._cache is None:  # inference forward: the identity
            return dout
        return self._adjoint(np.asarray(dout), self._cache)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_RandomLayer):
    """Flip each image left-right ('horizontal'), upside down ('vertical') or
    both ('horizontal_and_vertical', the default), each with probability 1/2."""

    def __init__(
        self, mode="horizontal_and_vertical", seed=None, data_format="channels_first", name=None, **kw
    ):
        super().__init__(seed, data_format, name, kw.pop("dtype", "float32"))
        A._check_choice(mode, A.FLIP_MODES, "mode")
        self.mode = mode

    def _augment(self, x):
        flags = A.draw_flip_flags(len(x), self.mode, self.rng)
        return A.flip_images(x, flags, self.data_format), flags

    def _adjoint(self, dout, flags):
        return A.flip_images(dout, flags, self.data_format)  # a flip undoes itself

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _Window(_ImageLayer):
    """A (height, width) window of each image."""

    def __init__(self, height, width, data_format, name, dtype):
        super().__init__(data_format, name, dtype)
        self.height, self.width = positive_tuple((height, width), 2, "height and width")

    def output_shape(self, input_shape):
        channels, _ = _split_channels(self, input_shape)
        return _join_channels(self, channels, (self.height, self.width))

    def _crop(self, x, corners, fill_value=0.0):
        self._cache = (corners, A.image_size(x, self.data_format))
        return A.crop_images(x, corners, (self.height, self.width), fill_value, self.data_format)

    def _centre(self, x):
        h, w = A.image_size(x, self.data_format)
        corner = ((h - self.height) // 2, (w - self.width) // 2)
        return self._crop(x, np.tile(np.array(corner, np.int64), (len(x), 1)))

    def backward(self, dout):
        corners, size = self._cached()
        # The adjoint of a window is the window of the gradient seen from the other side.
        return A.crop_images(dout, -corners, size, 0.0, self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class CenterCrop(_Window):
    """The centre (height, width) window of each image (a window larger than the image pads with zeros)."""

    def __init__(self, height, width, data_format="channels_first", name=None, dtype="float32"):
        super().__init__(height, width, data_format, name, dtype)

    def forward(self, x, training=False):
        return self._centre(self._input(x))


class RandomCrop(_Window):
    """A random (height, width) window of each image in training, the centre one in
    inference. `padding` (torchvision's RandomCrop(32, padding=4), not a Keras
    argument) pads each side with `fill_value` first, so the window may reach
    past the image: CIFAR's pad-4 crop keeps 32x32 images 32x32.
    (Keras 3 resizes in inference instead of taking the centre.)"""

    def __init__(
        self,
        height,
        width,
        seed=None,
        padding=0,
        fill_value=0.0,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(height, width, data_format, name, dtype)
        self.padding = int(padding)
        if self.padding < 0:
            raise ValueError(f"{self.name}: padding must be >= 0, got {padding!r}")
        self.fill_value = float(fill_value)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        x = self._input(x)
        if not training:
            return self._centre(x)
        size = (self.height, self.width)
        try:
            corners = A.draw_crop_corners(
                len(x), A.image_size(x, self.data_format), size, self.padding, self.rng
            )
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None
        return self._crop(x, corners, self.fill_value)

    def get_config(self):
        return {
            **super().get_config(),
            "seed": self.seed,
            "padding": self.padding,
            "fill_value": self.fill_value,
        }


class _Warp(_RandomLayer):
    """A random affine warp per image (translation, rotation, zoom)."""

    def __init__(self, fill_mode, interpolation, fill_value, seed, data_format, name, dtype):
        super().__init__(seed, data_format, name, dtype)
        A._check_choice(fill_mode, A.FILL_MODES, "fill_mode")
        A._check_choice(interpolation, A.INTERPOLATIONS, "interpolation")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def _augment(self, x):
        h, w = A.image_size(x, self.data_format)
        maps = self._maps(len(x), h, w)
        y = A.warp_affine(
            x, maps, None, self.interpolation, self.fill_mode, self.fill_value, self.data_format
        )
        return y, maps

    def _adjoint(self, dout, maps):
        return warp_affine_adjoint(dout, maps, self.interpolation, self.fill_mode, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


class RandomTranslation(_Warp):
    """Move each image by up to height_factor of its height and width_factor of
    its width (a number f: [-f, f]; a pair: (lower, upper))."""

    def __init__(
        self,
        height_factor,
        width_factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(fill_mode, interpolation, fill_value, seed, data_format, name, dtype)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._dy = A.factor_range(height_factor, "height_factor")
        self._dx = A.factor_range(width_factor, "width_factor")

    def _maps(self, n, h, w):
        return A.draw_translation_maps(n, (h, w), self._dy, self._dx, self.rng)

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class RandomRotation(_Warp):
    """Rotate each image by up to `factor` of a full turn (0.1: 36 degrees either
    way; positive angles counter-clockwise)."""

    def __init__(
        self,
        factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(fill_mode, interpolation, fill_value, seed, data_format, name, dtype)
        self.factor = factor
        self._range = A.factor_range(factor, "factor")

    def _maps(self, n, h, w):
        return A.draw_rotation_maps(n, (h, w), self._range, self.rng)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_Warp):
    """Zoom each image by 1 + a factor drawn from height_factor (positive: out,
    negative: in); width_factor None keeps the aspect ratio."""

    def __init__(
        self,
        height_factor,
        width_factor=None,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format="channels_first",
        name=None,
        dtype="float32",
    ):
        super().__init__(fill_mode, interpolation, fill_value, seed, data_format, name, dtype)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._zy = A.factor_range(height_factor, "height_factor")
        self._zx = None if width_factor is None else A.factor_range(width_factor, "width_factor")

    def _maps(self, n, h, w):
        try:
            return A.draw_zoom_maps(n, (h, w), self._zy, self._zx, self.rng)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class _Adjust(_RandomLayer):
    """Per-image contrast and brightness, clipped to value_range."""

    def __init__(self, factor, value_range, seed, data_format, name, dtype):
        super().__init__(seed, data_format, name, dtype)
        self.factor = factor
        self._range = A.factor_range(factor, "factor")
        self.value_range = tuple(float(v) for v in A._value_range(value_range))

    def _augment(self, x):
        contrast, brightness = self._draw(len(x))
        y = A.adjust_images(x, contrast, brightness, self.value_range, self.data_format)
        return y, (contrast, brightness, y)

    def _adjoint(self, dout, cache):
        contrast, _, y = cache
        low, high = self.value_range
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        # Clipped outputs pass no gradient; the channel mean spreads (1 - c) of
        # the rest evenly over the channel.
        g = np.where((y > low) & (y < high), dout, 0).astype(dout.dtype)
        c = contrast.reshape(-1, 1, 1, 1).astype(dout.dtype)
        return c * g + (1 - c) * g.mean(axis=axes, keepdims=True)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomContrast(_Adjust):
    """Scale each image's deviation from its channel means by a factor drawn from
    [1 - factor, 1 + factor], clipped to value_range (Keras 3)."""

    def __init__(
        self, factor, value_range=(0, 255), seed=None, data_format="channels_first", name=None, **kw
    ):
        super().__init__(factor, value_range, seed, data_format, name, kw.pop("dtype", "float32"))

    def _draw(self, n):
        lower, upper = self._range
        return self.rng.uniform(1 + lower, 1 + upper, size=n), np.zeros(n)


class RandomBrightness(_Adjust):
    """Add to each image a fraction of (high - low) drawn from [-factor, factor],
    clipped to value_range (Keras)."""

    def __init__(
        self, factor, value_range=(0, 255), seed=None, data_format="channels_first", name=None, **kw
    ):
        super().__init__(factor, value_range, seed, data_format, name, kw.pop("dtype", "float32"))

    def _draw(self, n):
        low, high = self.value_range
        return np.ones(n), self.rng.uniform(*self._range, size=n) * (high - low)


class Rescaling(Layer):
    """x * scale + offset (Keras: Rescaling(1 / 255) maps bytes to [0, 1])."""

    def __init__(self, scale, offset=0.0, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x, training=False):
        x = np.asarray(x)
        self._build_from(x)
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else self.dtype
        return (x * dtype.type(self.scale) + dtype.type(self.offset)).astype(dtype, copy=False)

    def backward(self, dout):
        return dout * np.asarray(dout).dtype.type(self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """(x - mean) / sqrt(variance) per feature along `axis` (Keras: axis=-1, the
    channels of channels-last images; use axis=1 for channels-first). Give
    mean and variance, or call `adapt(data)` to compute them from a dataset
    (an array, or an iterable of batches). invert=True maps back."""

    state_names = ("mean", "variance")

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.axis = axis if axis is None else int(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"{self.name}: give both mean and variance, or neither (then call adapt)")
        self._given = (
            None if mean is None else (np.asarray(mean, np.float64), np.asarray(variance, np.float64))
        )
        self.invert = bool(invert)
        self.mean = self.variance = None

    def _axis(self, ndim):
        """The feature axis of a full (N, ...) tensor with ndim dims."""
        if self.axis is None:
            return None
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(f"{self.name}: axis={self.axis} is not a feature axis of {ndim}-D input")
        return axis

    def _broadcast_shape(self, shape):
        axis = self._axis(len(shape) + 1)
        out = [1] * (len(shape) + 1)
        if axis is not None:
            out[axis] = shape[axis - 1]
        return tuple(out[1:])

    def build(self, input_shape):
        super().build(input_shape)
        shape = self._broadcast_shape(tuple(input_shape))
        if self._given is not None:
            self.mean, self.variance = (
                self._fit(v, shape, k) for v, k in zip(self._given, ("mean", "variance"))
            )
        elif self.mean is None:
            self.mean = np.zeros(shape, self.dtype)
            self.variance = np.ones(shape, self.dtype)

    def _fit(self, value, shape, name):
        """A given mean or variance (one value, or one per feature) shaped to broadcast."""
        if value.size not in (1, int(np.prod(shape))):
            raise ValueError(
                f"{self.name}: {name} has {value.size} values; the features along axis are {shape}"
            )
        value = value.reshape(shape) if value.size > 1 else value.reshape(())
        return np.ascontiguousarray(np.broadcast_to(value, shape), self.dtype)

    def adapt(self, data, batch_size=None):
        """Set mean and variance from `data` (an array, or an iterable of arrays or
        (x, y) batches), accumulated in float64 over every axis but `axis`."""
        batches = [data] if isinstance(data, np.ndarray) else data
        count, total, squares = 0, None, None
        for batch in batches:
            x = np.asarray(batch[0] if isinstance(batch, tuple) else batch, np.float64)
            if not self.built:
                self.build(x.shape[1:])
            axis = self._axis(x.ndim)
            reduce = tuple(a for a in range(x.ndim) if a != axis)
            n = x.size // (x.shape[axis] if axis is not None else 1)
            s, q = x.sum(axis=reduce, keepdims=True)[0], (x * x).sum(axis=reduce, keepdims=True)[0]
            total = s if total is None else total + s
            squares = q if squares is None else squares + q
            count += n
        if not count:
            raise ValueError(f"{self.name}: adapt needs at least one sample")
        mean = total / count
        self.mean = mean.astype(self.dtype)
        self.variance = np.maximum(squares / count - mean * mean, 0).astype(self.dtype)
        self._given = None
        self._weights_version += 1
        return self

    def _std(self):
        return np.maximum(np.sqrt(self.variance), np.finfo(self.dtype).eps)

    def forward(self, x, training=False):
        x = np.asarray(x)
        self._build_from(x)
        x = as_float_array(x, "x")
        mean, std = self.mean.astype(x.dtype), self._std().astype(x.dtype)
        return x * std + mean if self.invert else (x - mean) / std

    def backward(self, dout):
        std = self._std().astype(np.asarray(dout).dtype)
        return dout * std if self.invert else dout / std

    def get_config(self):
        config = {**super().get_config(), "axis": self.axis, "invert": self.invert}
        if self.mean is not None:
            config.update(mean=self.mean.tolist(), variance=self.variance.tolist())
        return config


def warp_affine_adjoint(
    dout, maps, interpolation="bilinear", fill_mode="reflect", data_format="channels_first"
):
    """The adjoint of A.warp_affine with fill_value 0 and an output the input's
    size: each output gradient goes back to the source taps it read, by their
    weights (NumPy; augmentation layers usually come first, where no input
    gradient is needed)."""
    from .reference import _back_to_layout, _channels_first_view, _warp_taps

    first = _channels_first_view(np.asarray(dout), data_format)
    n, c, h, w = first.shape
    sy, sx, rows, cols, weights = _warp_taps(maps, h, w, h, w, interpolation, fill_mode)
    keep = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    if interpolation == "bilinear":
        keep &= ((sx > -1) & (sx < w) & (sy > -1) & (sy < h))[:, None]
    flat = (rows.clip(0, h - 1) * w + cols.clip(0, w - 1)).astype(np.int64) + (np.arange(n) * h * w)[
        :, None, None, None
    ]
    dx = np.zeros((c, n * h * w), np.float64)
    for ch in range(c):
        contribution = np.where(keep, weights * first[:, ch][:, None], 0.0)
        dx[ch] = np.bincount(flat.ravel(), contribution.ravel(), minlength=n * h * w)
    return _back_to_layout(dx.reshape(c, n, h, w).transpose(1, 0, 2, 3).astype(first.dtype), data_format)
