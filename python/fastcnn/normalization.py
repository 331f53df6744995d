"""LayerNormalization, GroupNormalization and SpatialDropout2D (Keras' names and defaults).

Both normalisations use each sample's own statistics (the same in training
and inference, so there is no moving state): LayerNormalization over the
`axis` dims (default the last), with gamma and beta of those dims' shape;
GroupNormalization over each group of `groups` consecutive channels and all
positions, with gamma and beta per channel. Variances are the biased ones.
They run in NumPy, in float64 for the statistics.
"""

from __future__ import annotations

import numpy as np

from .layers import Layer


def _normalize(x, axes, epsilon):
    """(x_hat, inv_std) over `axes` of x, statistics in float64."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(x64.var(axis=axes, keepdims=True) + epsilon)
    return (x64 - mean) * inv_std, inv_std


def _normalize_backward(dx_hat, x_hat, inv_std, axes):
    """d loss / d x from d loss / d x_hat, for x_hat normalised over `axes`."""
    return inv_std * (
        dx_hat
        - dx_hat.mean(axis=axes, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True)
    )


class LayerNormalization(Layer):
    """Normalise each sample over `axis` (an int or a list of axes of the full tensor; -1 is the last)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.param_names = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ())

    def _axes(self, ndim):
        """The normalised axes of a full tensor with `ndim` dims (batch axis 0 excluded)."""
        axes = sorted(
            {a + ndim if a < 0 else a for a in (self.axis if isinstance(self.axis, list) else [self.axis])}
        )
        if not axes or axes[0] < 1 or axes[-1] >= ndim:
            raise ValueError(f"{self.name}: axis={self.axis} is not a per-sample axis of a {ndim}-D tensor")
        return tuple(axes)

    def _param_shape(self, ndim, shape):
        """gamma's shape broadcast against the full tensor: the normalised dims, 1 elsewhere."""
        axes = self._axes(ndim)
        return tuple(shape[a] if a in axes else 1 for a in range(ndim))

    def output_shape(self, input_shape):
        self._axes(len(input_shape) + 1)
        return tuple(input_shape)

    def build(self, input_shape):
        super().build(input_shape)
        full = (1,) + self.input_shape
        shape = tuple(s for a, s in enumerate(full) if a in self._axes(len(full)))
        self.gamma = np.ones(shape, self.dtype)
        self.beta = np.zeros(shape, self.dtype)
        self._zero_grads()

    def _broadcast(self, p, x):
        return p.reshape(self._param_shape(x.ndim, x.shape))

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        axes = self._axes(x.ndim)
        x_hat, inv_std = _normalize(x, axes, self.epsilon)
        y = x_hat * self._broadcast(self.gamma, x) if self.scale else x_hat.copy()
        if self.center:
            y += self._broadcast(self.beta, x)
        self._cache = (x_hat, inv_std, axes)
        return y.astype(self.dtype)

    def backward(self, dout):
        x_hat, inv_std, axes = self._cached()
        dout = np.asarray(dout, dtype=np.float64)
        others = tuple(a for a in range(dout.ndim) if a not in axes)
        if self.scale:
            self._grads["gamma"] = (
                (dout * x_hat).sum(axis=others).reshape(self.gamma.shape).astype(self.dtype)
            )
        if self.center:
            self._grads["beta"] = dout.sum(axis=others).reshape(self.beta.shape).astype(self.dtype)
        dx_hat = dout * self._broadcast(self.gamma, dout) if self.scale else dout
        return _normalize_backward(dx_hat, x_hat, inv_std, axes).astype(self.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


class GroupNormalization(Layer):
    """Normalise each sample's channels in `groups` groups (channel axis `axis`: Keras' -1,
    or 1 for channels-first data) over the group's channels and every position."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.groups, self.axis = int(groups), int(axis)
        if self.groups <= 0:
            raise ValueError(f"{self.name}: groups must be positive, got {groups!r}")
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.param_names = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ())

    def _channel_axis(self, ndim):
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(f"{self.name}: axis={self.axis} is not a per-sample axis of a {ndim}-D tensor")
        return axis

    def output_shape(self, input_shape):
        axis = self._channel_axis(len(input_shape) + 1)
        channels = input_shape[axis - 1]
        if channels % self.groups:
            raise ValueError(f"{self.name}: groups={self.groups} must divide the {channels} channels")
        return tuple(input_shape)

    def build(self, input_shape):
        super().build(input_shape)
        channels = self.input_shape[self._channel_axis(len(self.input_shape) + 1) - 1]
        self.gamma = np.ones(channels, self.dtype)
        self.beta = np.zeros(channels, self.dtype)
        self._zero_grads()

    def _grouped(self, a):
        """a with the channel axis moved to 1 and split into (groups, channels per group)."""
        moved = np.moveaxis(a, self._channel_axis(a.ndim), 1)
        return moved.reshape((moved.shape[0], self.groups, moved.shape[1] // self.groups) + moved.shape[2:])

    def _ungrouped(self, g, like):
        moved_shape = np.moveaxis(np.empty(like.shape, np.uint8), self._channel_axis(like.ndim), 1).shape
        return np.moveaxis(g.reshape(moved_shape), 1, self._channel_axis(like.ndim))

    def _per_channel(self, p, grouped):
        return p.reshape((1, self.groups, -1) + (1,) * (grouped.ndim - 3))

    def forward(self, x, training=False):
        self._build_from(x)
        x = np.asarray(x, dtype=self.dtype)
        g = self._grouped(x)
        axes = tuple(range(2, g.ndim))
        x_hat, inv_std = _normalize(g, axes, self.epsilon)
        y = x_hat * self._per_channel(self.gamma, g) if self.scale else x_hat.copy()
        if self.center:
            y += self._per_channel(self.beta, g)
        self._cache = (x_hat, inv_std, axes, x.shape)
        return np.ascontiguousarray(self._ungrouped(y, x)).astype(self.dtype)

    def backward(self, dout):
        x_hat, inv_std, axes, shape = self._cached()
        d = self._grouped(np.asarray(dout, dtype=np.float64))
        sums = (0,) + tuple(range(3, d.ndim))  # batch and positions: per channel
        if self.scale:
            self._grads["gamma"] = (d * x_hat).sum(axis=sums).reshape(-1).astype(self.dtype)
        if self.center:
            self._grads["beta"] = d.sum(axis=sums).reshape(-1).astype(self.dtype)
        dx_hat = d * self._per_channel(self.gamma, d) if self.scale else d
        dx = _normalize_backward(dx_hat, x_hat, inv_std, axes)
        return np.ascontiguousarray(self._ungrouped(dx, np.empty(shape, np.uint8))).astype(self.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


class SpatialDropout2D(Layer):
    """Dropout of whole channels (each sample's channel kept or zeroed as one), scaled by 1/(1 - rate)
    in training, identity in inference; a seeded layer repeats its masks."""

    def __init__(self, rate, data_format="channels_first", seed=None, name=None, dtype="float32"):
        super().__init__(name, dtype)
        if not 0 <= rate < 1:
            raise ValueError(f"{self.name}: rate must be in [0, 1), got {rate!r}")
        if data_format not in ("channels_first", "channels_last"):
            raise ValueError(f"{self.name}: data_format must be 'channels_first' or 'channels_last'")
        self.rate, self.data_format, self.seed = float(rate), data_format, seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expects 4-D input, got shape {x.shape}")
        if not training or self.rate == 0:
            self._cache = None
            return x
        last = self.data_format == "channels_last"
        shape = (x.shape[0], 1, 1, x.shape[3]) if last else (x.shape[0], x.shape[1], 1, 1)
        mask = (self.rng.random(shape) >= self.rate).astype(x.dtype) / x.dtype.type(1 - self.rate)
        self._cache = mask
        return x * mask

    def backward(self, dout):
        return dout if self._cache is None else dout * self._cache

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "data_format": self.data_format, "seed": self.seed}
