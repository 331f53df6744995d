"""Argument normalisation shared by the native ops and the NumPy reference.

Both `fastcnn.functional` and `fastcnn.reference` call these helpers, so the
two can only disagree about arithmetic, never about what an argument means.
Every helper raises ValueError/TypeError naming the offending argument.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def _as_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    return int(value)


def positive_tuple(value, n, name):
    """`value` as an n-tuple of positive ints (an int is repeated n times)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if len(items) != n:
            raise ValueError(f"{name} must be an int or {n} ints, got {value!r}")
    else:
        items = [value] * n
    out = tuple(_as_int(v, name) for v in items)
    if any(v <= 0 for v in out):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return out


def _nonneg_pair(value, name):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (before, after), got {value!r}")
    before, after = (_as_int(v, name) for v in value)
    if before < 0 or after < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return before, after


def same_padding(n, k, stride, dilation=1):
    """Keras/TensorFlow 'same': output ceil(n/stride), odd extra pad after."""
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def padding_nd(padding, in_sizes, kernel, stride, dilation, name="padding"):
    """Normalise a padding argument to ((before, after), ...) per spatial dim.

    Accepted forms, for d spatial dims:
      int p                     -> p on every side
      d ints (p_h, p_w)         -> symmetric per dim (for 1-D: one int in a
                                   1-sequence; a pair means (left, right))
      d pairs ((t, b), (l, r))  -> explicit, asymmetric
      'valid'                   -> no padding
      'same'                    -> Keras/TensorFlow rule, any stride
    """
    d = len(in_sizes)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return tuple((0, 0) for _ in range(d))
        if mode == "same":
            return tuple(same_padding(n, k, s, dl)
                         for n, k, s, dl in zip(in_sizes, kernel, stride, dilation))
        raise ValueError(f"{name} must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    if isinstance(padding, (list, tuple)):
        items = list(padding)
        if d == 1 and len(items) == 2 and not isinstance(items[0], (list, tuple)):
            return (_nonneg_pair(items, name),)
        if len(items) != d:
            raise ValueError(f"{name} must have {d} entries (one per spatial dim), got {padding!r}")
        pads = []
        for item in items:
            if isinstance(item, (list, tuple)):
                pads.append(_nonneg_pair(item, name))
            else:
                p = _as_int(item, name)
                if p < 0:
                    raise ValueError(f"{name} must be non-negative, got {padding!r}")
                pads.append((p, p))
        return tuple(pads)
    p = _as_int(padding, name)
    if p < 0:
        raise ValueError(f"{name} must be non-negative, got {padding!r}")
    return tuple((p, p) for _ in range(d))


def conv_output_size(n, k, stride=1, padding=0, dilation=1):
    """floor((n + 2p - d(k-1) - 1)/s) + 1; padding may be an int or (before, after)."""
    n = _as_int(n, "n")
    k, = positive_tuple(k, 1, "kernel_size")
    s, = positive_tuple(stride, 1, "stride")
    dl, = positive_tuple(dilation, 1, "dilation")
    if n <= 0:
        raise ValueError(f"input size n must be positive, got {n}")
    if isinstance(padding, (list, tuple)):
        before, after = _nonneg_pair(padding, "padding")
    else:
        before = after = _as_int(padding, "padding")
        if before < 0:
            raise ValueError(f"padding must be non-negative, got {padding}")
    span = dl * (k - 1) + 1
    size = (n + before + after - span) // s + 1
    if n + before + after < span or size <= 0:
        raise ValueError(
            f"kernel of extent {span} (kernel_size={k}, dilation={dl}) does not fit in "
            f"input of size {n} with padding ({before}, {after}): output size would be "
            f"{(n + before + after - span) // s + 1}")
    return size


def pool_output_size(n, k, stride, pad_before, pad_after, ceil_mode):
    """PyTorch's pooling size rule, with ceil_mode's 'last window must start
    inside the input or the left padding' correction."""
    span = n + pad_before + pad_after - k
    if span < 0:
        raise ValueError(
            f"kernel_size {k} is larger than the padded input ({n} + {pad_before} + {pad_after})")
    size = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (size - 1) * stride >= n + pad_before:
        size -= 1
    return size


def spatial_dims(x, d, name="x"):
    """Check x has the layout (N, C, *spatial) with d spatial dims."""
    layout = {1: "(N, C, L)", 2: "(N, C, H, W)"}[d]
    if x.ndim != d + 2:
        raise ValueError(f"{name} must be {d + 2}-D {layout}, got shape {x.shape}")
    return x.shape[2:]


def check_elements(shape, name):
    """Reject shapes whose element count overflows a signed 64-bit index."""
    total = 1
    for s in shape:
        total *= int(s)
    if total >= 2**62:
        raise ValueError(f"{name} of shape {tuple(shape)} has {total} elements, too many to index")
    return total


_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(a, name):
    """`a` as an ndarray of float32 or float64.

    float32 and float64 are kept; any other real numeric dtype (ints, bool,
    float16, Python scalars and lists) is converted to float32. Complex,
    object and string data raise TypeError.
    """
    arr = np.asarray(a)
    if arr.dtype in _NATIVE_FLOATS:
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float32)
    raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")


def same_float_dtype(**arrays):
    """Convert each array with `as_float_array`; all must end up one dtype."""
    out = {name: as_float_array(a, name) for name, a in arrays.items()}
    dtypes = {a.dtype for a in out.values()}
    if len(dtypes) > 1:
        desc = ", ".join(f"{name}: {a.dtype}" for name, a in out.items())
        raise TypeError(f"arrays must share one float dtype (float32 or float64), got {desc}")
    return tuple(out.values())
