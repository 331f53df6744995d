"""Weight initializers, Keras names and rules, seeded through NumPy.

Every initializer is a function `init(shape, seed=None, dtype=np.float32)`.
`seed` may be None (fresh entropy), an int (reproducible) or a
`np.random.Generator` (draws continue from it), as `np.random.default_rng`
accepts all three.

Fans follow the shapes fastcnn uses:
  dense kernel (in, out)                    fan_in = in,            fan_out = out
  conv kernel (C_out, C_in/groups, *K)      fan_in = C_in/groups*K, fan_out = C_out*K
  vector (n,)                               fan_in = fan_out = n
where K is the product of the kernel sizes (the receptive field).

The normal initializers draw from a normal truncated at two standard
deviations and rescaled (Keras' factor 0.8796...) so the variance is exactly
the target: glorot 2/(fan_in+fan_out), he 2/fan_in, lecun 1/fan_in.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "ones",
    "compute_fans",
    "get",
]

# std of a standard normal truncated to [-2, 2]
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) of a weight of this shape (see the module docstring)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _truncated_normal(rng, shape, std):
    """Normal(0, std) truncated at +-2 std, redrawing the rejects."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return z * std


def _uniform(shape, variance, seed, dtype):
    limit = math.sqrt(3.0 * variance)
    rng = np.random.default_rng(seed)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _normal(shape, variance, seed, dtype):
    rng = np.random.default_rng(seed)
    return _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATED_STD).astype(dtype)


def glorot_uniform(shape, seed=None, dtype=np.float32):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = compute_fans(shape)
    return _uniform(shape, 2.0 / (fan_in + fan_out), seed, dtype)


def glorot_normal(shape, seed=None, dtype=np.float32):
    """Truncated normal with variance 2 / (fan_in + fan_out)."""
    fan_in, fan_out = compute_fans(shape)
    return _normal(shape, 2.0 / (fan_in + fan_out), seed, dtype)


def he_uniform(shape, seed=None, dtype=np.float32):
    """U(-limit, limit), limit = sqrt(6 / fan_in)."""
    fan_in, _ = compute_fans(shape)
    return _uniform(shape, 2.0 / fan_in, seed, dtype)


def he_normal(shape, seed=None, dtype=np.float32):
    """Truncated normal with variance 2 / fan_in."""
    fan_in, _ = compute_fans(shape)
    return _normal(shape, 2.0 / fan_in, seed, dtype)


def lecun_uniform(shape, seed=None, dtype=np.float32):
    """U(-limit, limit), limit = sqrt(3 / fan_in)."""
    fan_in, _ = compute_fans(shape)
    return _uniform(shape, 1.0 / fan_in, seed, dtype)


def lecun_normal(shape, seed=None, dtype=np.float32):
    """Truncated normal with variance 1 / fan_in."""
    fan_in, _ = compute_fans(shape)
    return _normal(shape, 1.0 / fan_in, seed, dtype)


def zeros(shape, seed=None, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def ones(shape, seed=None, dtype=np.float32):
    return np.ones(shape, dtype=dtype)


_BY_NAME = {
    f.__name__: f
    for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal, zeros, ones)
}


def get(identifier):
    """An initializer from its name ('he_normal', also Keras' 'HeNormal') or a callable."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        for name, fn in _BY_NAME.items():
            if key in (name, name.replace("_", "")):
                return fn
    raise ValueError(f"unknown initializer {identifier!r}; expected a callable or one of {sorted(_BY_NAME)}")
