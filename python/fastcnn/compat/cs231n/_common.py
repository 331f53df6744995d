"""What the modules of the drop-in share: dtype promotion, argument checks,
caches that only fastcnn reads, and arrays computed only when read.

Caches follow the course wherever the course fixes their layout (conv, pool,
affine, relu, dropout and the layer_utils sandwiches), so a backward of either
implementation reads a forward of the other. Where the course leaves the layout
to the student (the normalisations), the cache is an `OwnCache`: not a tuple,
so a student's backward that unpacks it stops at once with a message naming
both implementations instead of an unpacking error or wrong gradients.
"""

from __future__ import annotations

import numpy as np

PACKAGE = "fastcnn.compat.cs231n"


def as_float(**arrays):
    """The arrays (by name, in order) in one float dtype: NumPy's promotion of
    them if that is float32 or float64, else float64 (the course computes in
    NumPy, so float64 data with float32 weights gives float64)."""
    converted = []
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} must be a real numeric array, got {a.dtype} ({type(arrays[name]).__name__})"
            )
        converted.append(a)
    dtype = np.result_type(*converted)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    return [a.astype(dtype, copy=False) for a in converted]


def param(params, key, name, default=None, required=False):
    """params[key] of a parameter dict such as conv_param; a clear error when
    `params` is not a dict or a required key is missing."""
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict, got {type(params).__name__}")
    if key in params:
        return params[key]
    if required:
        raise ValueError(f"{name} needs the key {key!r}; it has {sorted(params)}")
    return default


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def ndim(a, n, name, layout):
    if a.ndim != n:
        raise ValueError(f"{name} must be {n}-D {layout}, got shape {a.shape}")


def describe(cache):
    """A short description of a cache object for error messages."""
    if isinstance(cache, tuple):
        kinds = ", ".join(type(c).__name__ for c in cache)
        return f"a tuple of {len(cache)} items ({kinds})"
    return f"a {type(cache).__name__}"


def foreign_cache(backward, cache, expected):
    """The error of a backward handed a cache it cannot read."""
    return TypeError(
        f"{PACKAGE}'s {backward} cannot read this cache: it expects {expected}, got {describe(cache)}. "
        "A cache from another implementation's forward (your own layers.py, the course's "
        "fast_layers) pairs with that implementation's backward."
    )


class OwnCache:
    """The cache of a layer whose cache layout the course leaves to the student.

    Its fields are attributes. Iterating or indexing it -- what a backward of
    another implementation does first -- raises a TypeError that names the
    forward that made it and says which backward reads it.
    """

    def __init__(self, forward, backward, **fields):
        self.forward = forward
        self.backward = backward
        self.__dict__.update(fields)

    def _refuse(self, *_):
        raise TypeError(
            f"this cache was made by {PACKAGE}'s {self.forward} and is read only by {PACKAGE}'s "
            f"{self.backward}; a {self.backward} of your own (or the course's) needs the cache of "
            f"its own {self.forward}"
        )

    __iter__ = __getitem__ = __len__ = _refuse

    def __bool__(self):
        return True

    def __repr__(self):
        return f"<{PACKAGE} cache of {self.forward}>"


def own_cache(cache, backward, *forwards):
    """`cache` if one of `forwards` of this package made it, else a TypeError
    naming both implementations."""
    if isinstance(cache, OwnCache) and cache.forward in forwards:
        return cache
    made_by = f"{PACKAGE}'s {cache.forward}" if isinstance(cache, OwnCache) else describe(cache)
    raise TypeError(
        f"{PACKAGE}'s {backward} reads only the cache of {PACKAGE}'s {' or '.join(forwards)}, "
        f"got {made_by}. A cache from your own layers.py (or the course's) pairs with your own "
        "backward; swap the forward and the backward together."
    )


class DeferredArray:
    """An array of a course cache that the course's backward reads and
    fastcnn's never does (the im2col columns of conv and pool): computed from
    `build` on first use, so fastcnn's own forward/backward pairs never pay
    for it. It offers what the course's code uses: `.T`, `.shape`, `.dtype`,
    `.ndim`, indexing and NumPy conversion."""

    def __init__(self, build, shape, dtype):
        self._build = build
        self._array = None
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def array(self):
        if self._array is None:
            self._array = self._build()
            self._build = None
        return self._array

    def __array__(self, dtype=None, copy=None):
        a = self.array if dtype is None else self.array.astype(dtype, copy=False)
        return a.copy() if copy and a is self.array else a

    @property
    def T(self):
        return self.array.T

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        return self.array[index]

    def __repr__(self):
        state = "computed" if self._array is not None else "not computed yet"
        return f"<DeferredArray shape={self.shape} dtype={self.dtype}, {state}>"
