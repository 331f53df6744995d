"""Argument normalisation shared by the native ops and the NumPy reference.

Both `fastcnn.functional` and `fastcnn.reference` call these helpers, so the
two can only disagree about arithmetic, never about what an argument means.
Every helper raises ValueError/TypeError naming the offending argument.
"""

from __future__ import annotations

import numbers

import numpy as np

# Sizes, strides, paddings and dilations beyond this cannot describe a real
# tensor; the native layer takes them as signed 64-bit ints and bounds them
# again at 2**31.
_INT_LIMIT = 2**62


def _as_int(value, name):
    if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:  # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if abs(int(value)) >= _INT_LIMIT:
        raise ValueError(f"{name} must be below 2**62 in magnitude, got {value!r}")
    return int(value)


def positive_tuple(value, n, name):
    """`value` as an n-tuple of positive ints (an int is repeated n times)."""
    if type(value) is int and 0 < value < _INT_LIMIT:  # the common case, fast
        return (value,) * n
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
            return tuple(same_padding(n, k, s, dl) for n, k, s, dl in zip(in_sizes, kernel, stride, dilation))
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
    (k,) = positive_tuple(k, 1, "kernel_size")
    (s,) = positive_tuple(stride, 1, "stride")
    (dl,) = positive_tuple(dilation, 1, "dilation")
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
            f"{(n + before + after - span) // s + 1}"
        )
    return size


def pool_output_size(n, k, stride, pad_before, pad_after, ceil_mode):
    """PyTorch's pooling size rule, with ceil_mode's 'last window must start
    inside the input or the left padding' correction."""
    span = n + pad_before + pad_after - k
    if span < 0:
        raise ValueError(
            f"kernel_size {k} is larger than the padded input ({n} + {pad_before} + {pad_after})"
        )
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
    first = next(iter(arrays.values()))
    if (
        type(first) is np.ndarray
        and first.dtype in _NATIVE_FLOATS
        and all(type(a) is np.ndarray and a.dtype == first.dtype for a in arrays.values())
    ):
        return tuple(arrays.values())  # the common case, fast
    out = {name: as_float_array(a, name) for name, a in arrays.items()}
    dtypes = {a.dtype for a in out.values()}
    if len(dtypes) > 1:
        desc = ", ".join(f"{name}: {a.dtype}" for name, a in out.items())
        raise TypeError(f"arrays must share one float dtype (float32 or float64), got {desc}")
    return tuple(out.values())


def _plain(value):
    """Whether `value` is None, an int, a str or (nested) tuples of ints: safe as
    a cache key (True == 1 and np.int64(2) == 2 hash alike but mean otherwise)."""
    kind = type(value)
    if kind is int or kind is str or value is None:
        return True
    if kind is not tuple:
        return False
    for v in value:  # loops, not all(): this runs on every layer call
        inner = type(v)
        if inner is tuple:
            for e in v:
                if type(e) is not int:
                    return False
        elif inner is not int:
            return False
    return True


_GEOMETRIES = {}


def conv_geometry(x, w, stride, padding, dilation, groups, d):
    """ConvGeometry(x, w, ...), reused for repeated shapes and plain arguments
    (the checks cost several microseconds per call, a layer's call repeats them)."""
    key = (x.shape, w.shape, stride, padding, dilation, groups, d)
    if not all(_plain(v) for v in key[2:]):
        return ConvGeometry(x, w, stride, padding, dilation, groups, d)
    geo = _GEOMETRIES.get(key)
    if geo is None:
        geo = ConvGeometry(x, w, stride, padding, dilation, groups, d)
        if len(_GEOMETRIES) >= 1024:
            _GEOMETRIES.clear()
        _GEOMETRIES[key] = geo
    return geo


class ConvGeometry:
    """Checked shapes of one convolution, viewed as 2-D (1-D ops get H = 1).

    Attributes: d (spatial dims), groups, out_shape (the caller's layout), and
    the 2-D view in_hw, kernel, stride, dilation, pads ((top, bottom),
    (left, right)), out_hw; for 1-D ops H = KH = OH = 1 with no padding,
    stride or dilation along H.
    """

    def __init__(self, x, w, stride, padding, dilation, groups, d):
        in_sizes = spatial_dims(x, d, "x")
        if w.ndim != d + 2:
            layout = "(C_out, C_in/groups, K)" if d == 1 else "(C_out, C_in/groups, KH, KW)"
            raise ValueError(f"w must be {d + 2}-D {layout}, got shape {w.shape}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"groups must be a positive int, got {groups!r}")
        n, c_in = x.shape[:2]
        c_out, c_in_g = w.shape[:2]
        kernel = tuple(w.shape[2:])
        if c_in % groups:
            raise ValueError(f"groups={groups} does not divide x's {c_in} input channels (x shape {x.shape})")
        if c_out % groups:
            raise ValueError(
                f"groups={groups} does not divide w's {c_out} output channels (w shape {w.shape})"
            )
        if c_in_g * groups != c_in:
            raise ValueError(
                f"channel mismatch: x has {c_in} channels (shape {x.shape}) but w expects "
                f"{c_in_g} x groups={groups} = {c_in_g * groups} (w shape {w.shape})"
            )
        if any(k <= 0 for k in kernel) or c_out <= 0:
            raise ValueError(f"w must have positive kernel size and output channels, got shape {w.shape}")
        if n <= 0 or any(s <= 0 for s in in_sizes):
            raise ValueError(f"x must have a positive batch and spatial size, got shape {x.shape}")
        stride = positive_tuple(stride, d, "stride")
        dilation = positive_tuple(dilation, d, "dilation")
        pads = padding_nd(padding, in_sizes, kernel, stride, dilation)
        out_sizes = tuple(
            conv_output_size(i, k, s, p, dl)
            for i, k, s, p, dl in zip(in_sizes, kernel, stride, pads, dilation)
        )
        check_elements((n, c_out) + out_sizes, "output")
        self.d = d
        self.groups = int(groups)
        self.out_shape = (n, c_out) + out_sizes
        if d == 1:
            in_sizes, kernel, out_sizes = (1,) + tuple(in_sizes), (1,) + kernel, (1,) + out_sizes
            stride, dilation, pads = (1,) + stride, (1,) + dilation, ((0, 0),) + pads
        self.in_hw, self.kernel, self.out_hw = tuple(in_sizes), kernel, out_sizes
        self.stride, self.dilation, self.pads = stride, dilation, pads

    @property
    def native_args(self):
        """(stride_h, stride_w, top, bottom, left, right, dilation_h, dilation_w, groups)."""
        (top, bottom), (left, right) = self.pads
        return (*self.stride, top, bottom, left, right, *self.dilation, self.groups)

    def as_2d(self, a):
        """An (N, C, L) array as (N, C, 1, L) for 1-D ops (a view)."""
        return a[:, :, None, :] if self.d == 1 else a

    def from_2d(self, a):
        return a[:, :, 0, :] if (self.d == 1 and a is not None) else a


_POOL_GEOMETRIES = {}


def pool_geometry(x, kernel_size, stride, padding, ceil_mode, d):
    """PoolGeometry(x, ...), reused for repeated shapes and plain arguments (as conv_geometry)."""
    key = (x.shape, kernel_size, stride, padding, bool(ceil_mode), d)
    if not all(_plain(v) for v in key[1:4]):
        return PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    geo = _POOL_GEOMETRIES.get(key)
    if geo is None:
        geo = PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
        if len(_POOL_GEOMETRIES) >= 1024:
            _POOL_GEOMETRIES.clear()
        _POOL_GEOMETRIES[key] = geo
    return geo


class PoolGeometry:
    """Checked window geometry of one pooling op, viewed as 2-D (1-D ops get H = 1).

    Attributes: d, in_shape, out_shape (the caller's layout), and the 2-D view
    in_hw, kernel, stride, pads ((top, bottom), (left, right)), out_hw.
    Explicitly given padding must be at most half the kernel (PyTorch's rule).
    """

    def __init__(self, x, kernel_size, stride, padding, ceil_mode, d):
        in_sizes = spatial_dims(x, d, "x")
        if x.shape[0] <= 0 or x.shape[1] <= 0 or any(s <= 0 for s in in_sizes):
            raise ValueError(f"x must have positive sizes, got shape {x.shape}")
        kernel = positive_tuple(kernel_size, d, "kernel_size")
        stride = kernel if stride is None else positive_tuple(stride, d, "stride")
        explicit = not isinstance(padding, str)
        pads = padding_nd(padding, in_sizes, kernel, stride, (1,) * d)
        if explicit:
            for (before, after), k in zip(pads, kernel):
                if before > k // 2 or after > k // 2:
                    raise ValueError(
                        f"padding {padding!r} must be at most half of kernel_size {kernel_size!r}"
                    )
        out_sizes = tuple(
            pool_output_size(n, k, s, p[0], p[1], bool(ceil_mode))
            for n, k, s, p in zip(in_sizes, kernel, stride, pads)
        )
        self.d = d
        self.in_shape = x.shape
        self.out_shape = x.shape[:2] + out_sizes
        if d == 1:
            in_sizes, kernel, stride = (1,) + tuple(in_sizes), (1,) + kernel, (1,) + stride
            pads, out_sizes = ((0, 0),) + pads, (1,) + out_sizes
        self.in_hw, self.kernel, self.stride = tuple(in_sizes), kernel, stride
        self.pads, self.out_hw = pads, out_sizes

    @property
    def window(self):
        """(kernel_h, kernel_w, stride_h, stride_w, top, bottom, left, right)."""
        (top, bottom), (left, right) = self.pads
        return (*self.kernel, *self.stride, top, bottom, left, right)

    def as_2d(self, a):
        return a[:, :, None, :] if self.d == 1 else a

    def from_2d(self, a):
        return a[:, :, 0, :] if self.d == 1 else a

    def check_dout(self, dout):
        if dout.shape != self.out_shape:
            raise ValueError(
                f"dout must have the pooled shape {self.out_shape} for x {self.in_shape}, got {dout.shape}"
            )


# ------------------------------------------------- elementwise ops' arguments

FUSABLE_ACTIVATIONS = (None, "relu", "leaky_relu")


def channel_axis(x, axis, name="axis"):
    """`axis` of x as a non-negative index (x must have at least 2 dims: batch, channels)."""
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a channel axis, got shape {x.shape}")
    axis = _as_int(axis, name)
    if not -x.ndim <= axis < x.ndim or axis % x.ndim == 0:
        raise ValueError(
            f"{name}={axis} is not a channel axis of x with shape {x.shape} (axis 0 is the batch)"
        )
    return axis % x.ndim


def fused_activation(activation, negative_slope):
    """(name for the native op, slope) of an activation batch norm can fuse."""
    if activation not in FUSABLE_ACTIVATIONS:
        raise ValueError(f"activation must be one of {FUSABLE_ACTIVATIONS}, got {activation!r}")
    slope = float(negative_slope)
    if activation == "leaky_relu" and not slope >= 0:
        raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
    return activation or "identity", slope


def dropout_rate(rate):
    rate = float(rate)
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    return rate


def dropout_seed(seed):
    """A dropout stream's seed: any int, taken modulo 2**64."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
    return int(seed) % 2**64


def same_shape(a, a_name, b, b_name):
    if a.shape != b.shape:
        raise ValueError(f"{a_name} shape {a.shape} must equal {b_name} shape {b.shape}")


def channel_vector(v, channels, name, dtype, default):
    """A per-channel vector of x's `channels` (default when v is None), as dtype."""
    if v is None:
        return np.full(channels, default, dtype)
    v = np.asarray(v)
    if v.shape != (channels,):
        raise ValueError(f"{name} must have shape ({channels},) (x's channels), got {v.shape}")
    if v.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {v.dtype}")
    return v.astype(dtype, copy=False)


def non_empty(x, name="x"):
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"{name} must have at least one dim and one value, got shape {x.shape}")


def cross_entropy_target(logits, target):
    """(True, int64 labels) or (False, distributions in logits' dtype), checked."""
    if logits.ndim < 1 or logits.size == 0:
        raise ValueError(f"logits must be (N, C) with values, got shape {logits.shape}")
    t = np.asarray(target)
    if t.dtype.kind in "iub" and t.shape == logits.shape[:-1]:
        return True, t.astype(np.int64, copy=False)
    if t.shape == logits.shape and t.dtype.kind in "iubf":
        return False, as_float_array(t, "target").astype(logits.dtype, copy=False)
    raise ValueError(
        f"target must be integer labels of shape {logits.shape[:-1]} or "
        f"distributions of logits' shape {logits.shape}, got {t.dtype} {t.shape}"
    )
