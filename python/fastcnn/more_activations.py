"""The activations beyond ReLU, LeakyReLU, Sigmoid, Tanh and Softmax (Keras' names
and defaults), as layers usable everywhere `activation=` is:

    gelu (exact, with erf), silu / swish, elu (alpha 1), selu, relu6,
    softplus, hard_sigmoid (Keras 3: relu6(x + 3) / 6)

plus `Activation(name)`, `Reshape` and `Permute`. They run in NumPy from the
input the forward pass keeps; the five native activations stay native.
"""

from __future__ import annotations

import math

import numpy as np

from .layers import _ACTIVATIONS, Layer, get_activation

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.frompyfunc(math.erf, 1, 1)


def _sigmoid(x):
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out


def _gelu(x):
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)).astype(x.dtype))
    return x * cdf, cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _silu(x):
    s = _sigmoid(x)
    return x * s, s * (1 + x * (1 - s))


def _elu(x):
    neg = np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, neg), np.where(x > 0, 1, neg + 1)


def _selu(x):
    neg = _SELU_ALPHA * np.expm1(np.minimum(x, 0))
    return _SELU_SCALE * np.where(x > 0, x, neg), _SELU_SCALE * np.where(x > 0, 1, neg + _SELU_ALPHA)


def _relu6(x):
    return np.clip(x, 0, 6), ((x > 0) & (x < 6)).astype(x.dtype)


def _softplus(x):
    return np.logaddexp(0, x), _sigmoid(x)


def _hard_sigmoid(x):
    return np.clip(x + 3, 0, 6) / 6, ((x > -3) & (x < 3)).astype(x.dtype) / 6


FUNCTIONS = {
    "gelu": _gelu,
    "silu": _silu,
    "swish": _silu,
    "elu": _elu,
    "selu": _selu,
    "relu6": _relu6,
    "softplus": _softplus,
    "hard_sigmoid": _hard_sigmoid,
}


class _NumpyActivation(Layer):
    """f(x) and f'(x) from FUNCTIONS[kind]; backward multiplies dout by the kept f'(x)."""

    kind = None

    def forward(self, x, training=False, out=None):
        x = np.asarray(x)
        x = x if x.dtype.kind == "f" else x.astype(np.float32)
        y, slope = FUNCTIONS[self.kind](x)
        y, slope = np.asarray(y, x.dtype), np.asarray(slope, x.dtype)
        self._cache = slope
        if out is not None:
            out[...] = y
            return out
        return y

    def backward(self, dout):
        return np.asarray(dout) * self._cached()


def _layer_class(kind):
    name = (
        "".join(part.capitalize() for part in kind.split("_")).replace("Gelu", "GELU").replace("Elu", "ELU")
    )
    name = {"Relu6": "ReLU6", "Selu": "SELU", "Silu": "SiLU", "Swish": "Swish"}.get(name, name)
    return type(name, (_NumpyActivation,), {"kind": kind, "__doc__": f"The {kind} activation."})


for _kind in FUNCTIONS:
    _cls = _layer_class(_kind)
    globals()[_cls.__name__] = _cls
    _ACTIVATIONS[_kind] = _cls
del _kind, _cls


class Activation(Layer):
    """An activation by name (any name `activation=` takes), as a layer."""

    def __init__(self, activation, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.activation = activation
        self.act = get_activation(activation)

    def forward(self, x, training=False):
        if self.act is None:  # 'linear'
            self._cache = ()
            return np.asarray(x)
        y = self.act.forward(x, training)
        self._cache = ()
        return y

    def backward(self, dout):
        self._cached()
        return dout if self.act is None else self.act.backward(dout)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Reshape(Layer):
    """Each sample reshaped to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(s == -1 for s in self.target_shape) > 1 or any(s == 0 or s < -1 for s in self.target_shape):
            raise ValueError(
                f"{self.name}: target_shape must be positive sizes and at most one -1, got {target_shape!r}"
            )

    def output_shape(self, input_shape):
        size = math.prod(input_shape)
        known = math.prod(s for s in self.target_shape if s != -1)
        shape = tuple(size // known if s == -1 else s for s in self.target_shape)
        if math.prod(shape) != size:
            raise ValueError(f"{self.name}: cannot reshape {tuple(input_shape)} to {self.target_shape}")
        return shape

    def forward(self, x, training=False):
        x = np.asarray(x)
        self._cache = x.shape
        return x.reshape((x.shape[0],) + self.output_shape(x.shape[1:]))

    def backward(self, dout):
        return np.reshape(dout, self._cached())

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """The per-sample axes reordered: dims is a permutation of 1..ndim (Keras: batch axis left out)."""

    def __init__(self, dims, name=None, dtype="float32"):
        super().__init__(name, dtype)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"{self.name}: dims must be a permutation of 1..{len(self.dims)}, got {dims!r}")

    def output_shape(self, input_shape):
        if len(input_shape) != len(self.dims):
            raise ValueError(
                f"{self.name}: dims {self.dims} need {len(self.dims)}-D samples, got {tuple(input_shape)}"
            )
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.output_shape(x.shape[1:])
        return np.ascontiguousarray(np.transpose(x, (0,) + self.dims))

    def backward(self, dout):
        inverse = np.argsort((0,) + self.dims)
        return np.ascontiguousarray(np.transpose(dout, inverse))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
