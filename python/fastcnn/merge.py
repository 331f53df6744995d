"""Merge layers: several tensors of a graph model in, one out (Keras' names).

Each takes a list of arrays (per-sample shapes given as a list too) and its
backward returns a list of gradients, one per input. Add, Subtract,
Multiply, Average and Maximum need equal shapes; Concatenate joins along
`axis` (counted on the full tensor, batch axis 0, as in Keras).
"""

from __future__ import annotations

import math

import numpy as np

from .elementwise import add_arrays
from .layers import Layer


class _Merge(Layer):
    """Shared body: the list of inputs, their shapes, and the element-wise shape rule."""

    min_inputs = 2
    max_inputs = None

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        self.output_shape(shapes)  # raises ValueError if incompatible
        self.input_shape = shapes
        self.built = True
        self._weights_version += 1

    def _shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(f"{self.name}: takes a list of inputs, got shape {input_shape!r}")
        shapes = [tuple(int(d) for d in s) for s in input_shape]
        if len(shapes) < self.min_inputs or (self.max_inputs and len(shapes) > self.max_inputs):
            most = (
                f"exactly {self.max_inputs}"
                if self.max_inputs == self.min_inputs
                else f"at least {self.min_inputs}"
            )
            raise ValueError(f"{self.name}: takes {most} inputs, got {len(shapes)}")
        return shapes

    def output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"{self.name}: inputs must have equal shapes, got {shapes}")
        return shapes[0]

    def _inputs(self, xs):
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"{self.name}: takes a list of arrays, got {type(xs).__name__}")
        xs = [np.asarray(x, dtype=self.dtype) for x in xs]
        if not self.built:
            self.build([x.shape[1:] for x in xs])
        full = [x.shape for x in xs]
        self.output_shape([s[1:] for s in full])
        if any(s[0] != full[0][0] for s in full):
            raise ValueError(f"{self.name}: inputs must have the same batch size, got {full}")
        return xs

    def flops(self, input_shape):
        return (len(input_shape) - 1) * math.prod(input_shape[0])


class Add(_Merge):
    """The sum of the inputs."""

    def forward(self, xs, training=False):
        xs = [np.ascontiguousarray(x) for x in self._inputs(xs)]
        self._cache = len(xs)
        y = add_arrays(xs[0], xs[1])
        for x in xs[2:]:
            y = add_arrays(y, x, out=y)
        return y

    def backward(self, dout):
        return [dout] * self._cached()


class Subtract(_Merge):
    """The first input minus the second."""

    max_inputs = 2

    def forward(self, xs, training=False):
        a, b = self._inputs(xs)
        self._cache = True
        return a - b

    def backward(self, dout):
        self._cached()
        return [dout, -dout]


class Multiply(_Merge):
    """The element-wise product of the inputs."""

    def forward(self, xs, training=False):
        xs = self._inputs(xs)
        self._cache = xs
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x
        return y

    def backward(self, dout):
        xs = self._cached()
        grads = []
        for i in range(len(xs)):
            g = dout
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


class Average(_Merge):
    """The mean of the inputs."""

    def forward(self, xs, training=False):
        xs = self._inputs(xs)
        self._cache = len(xs)
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y * self.dtype.type(1 / len(xs))

    def backward(self, dout):
        n = self._cached()
        return [dout * self.dtype.type(1 / n)] * n


class Maximum(_Merge):
    """The element-wise maximum; its gradient goes to the first input holding it (NaN propagates)."""

    def forward(self, xs, training=False):
        xs = self._inputs(xs)
        stacked = np.stack(xs)
        winner = np.argmax(stacked, axis=0)  # the first maximum; the first NaN where any
        self._cache = (winner, len(xs))
        return np.take_along_axis(stacked, winner[None], axis=0)[0]

    def backward(self, dout):
        winner, n = self._cached()
        zero = np.zeros((), dout.dtype)
        return [np.where(winner == i, dout, zero) for i in range(n)]


class Concatenate(_Merge):
    """The inputs joined along `axis` (of the full tensor; -1 is the last, 1 the first per-sample axis)."""

    def __init__(self, axis=-1, name=None, dtype="float32"):
        super().__init__(name, dtype)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{self.name}: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _sample_axis(self, ndim):
        """The axis within a per-sample shape of `ndim` dims."""
        axis = self.axis + ndim + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= ndim:
            raise ValueError(
                f"{self.name}: axis={self.axis} is not a per-sample axis of inputs with {ndim} dims "
                f"(axis 0 is the batch)"
            )
        return axis - 1

    def output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes):
            raise ValueError(f"{self.name}: inputs must have the same number of dims, got {shapes}")
        axis = self._sample_axis(ndim)
        rest = [s[:axis] + s[axis + 1 :] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ValueError(f"{self.name}: inputs may differ only along axis {self.axis}, got {shapes}")
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)

    def forward(self, xs, training=False):
        xs = self._inputs(xs)
        axis = self._sample_axis(xs[0].ndim - 1) + 1
        self._cache = (axis, np.cumsum([x.shape[axis] for x in xs])[:-1])
        return np.concatenate(xs, axis=axis)

    def backward(self, dout):
        axis, splits = self._cached()
        return np.split(dout, splits, axis=axis)

    def flops(self, input_shape):
        return 0

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
