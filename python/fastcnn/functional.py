"""Convolution and pooling on NumPy arrays, computed by the native core.

Names and arguments follow `torch.nn.functional`. Layouts are channels-first:
(N, C, H, W) for 2-D ops and (N, C, L) for 1-D ops; conv weights are
(C_out, C_in / groups, KH, KW) or (C_out, C_in / groups, K).

dtypes: float32 and float64 are computed natively. Any other real numeric
dtype (ints, bool, float16, lists) is converted to float32 first. When two
float arrays meet (x and w, dout and x) they must share one dtype, else
TypeError. Non-contiguous and Fortran-ordered arrays are accepted (copied to
C order). Outputs are new C-contiguous arrays of the input dtype.

Layouts: every op takes data_format='channels_first' (the default, as
above) or 'channels_last' ((N, H, W, C) and (N, L, C), Keras' default).
Channels-last data is computed in place by native NHWC kernels, except
where a channels-first convolution path (Winograd, or the GEMMs of a strided
input gradient) wins by more than a transpose costs: chunks of images then
go through it transposed. Weights keep the (C_out, C_in / groups, KH, KW)
layout and pooling indices still index each channel's flattened H*W plane.
'winograd' takes channels-first data only.

Padding forms (conv and pooling): an int; one int per spatial dim; explicit
pairs per dim ((top, bottom), (left, right)) (for 1-D ops a pair is
(left, right)); 'valid'; 'same' (Keras/TensorFlow rule for any stride:
output = ceil(n / stride), the odd extra pad goes after).
"""

from __future__ import annotations

import numpy as np

from . import _C
from ._shapes import (
    as_float_array,
    conv_geometry,
    conv_output_size,
    pool_geometry,
    same_float_dtype,
    spatial_dims,
)

__all__ = [
    "conv2d",
    "conv2d_backward",
    "conv1d",
    "conv1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "global_avg_pool1d",
    "global_avg_pool1d_backward",
    "global_max_pool1d",
    "global_max_pool1d_backward",
    "conv_output_size",
    "linear",
    "linear_backward",
]

# Batch norm, activations, softmax, dropout and cross-entropy (elementwise.py).
from .elementwise import *  # noqa: E402,F401,F403
from .elementwise import __all__ as _elementwise_names  # noqa: E402

__all__ += _elementwise_names

# 'auto' picks by shape; the others force one path, for tests and
# benchmarks: 'gemm' (implicit GEMM, any convolution), 'winograd' (F(4x4,
# 3x3) / F(4x4, 5x5): 3x3 or 5x5 kernels, stride 1, dilation 1, groups 1,
# padding <= kernel - 1; forward, dx and dw; and 3x3 stride 2 forward and
# dx (not dw) by F(4x4, 2x2) over the input's or dx's four phases), 'direct'
# (groups 1; forward:
# the column kernel for C_in <= 4 at stride 1, else register tiles of
# positions x channels; backward: the direct weight gradient, with dx by the
# GEMM path).
ALGORITHMS = ("auto", "gemm", "winograd", "direct")


# ---------------------------------------------------------------- data layout

DATA_FORMATS = ("channels_first", "channels_last")


def _channels_last(data_format):
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    return data_format == "channels_last"


def _first_view(a, last, d, name):
    """A channels-first *view* of `a` (no copy), for the shared shape checks."""
    if not last:
        return a
    if a.ndim != d + 2:
        layout = {1: "(N, L, C)", 2: "(N, H, W, C)"}[d]
        raise ValueError(f"{name} must be {d + 2}-D {layout} (channels_last), got shape {a.shape}")
    return np.moveaxis(a, -1, 1)


def _last_shape(shape):
    """A channels-first shape in channels-last order."""
    return (shape[0],) + tuple(shape[2:]) + (shape[1],)


def _native_layout(geo, a, last):
    """`a` as the 4-D C-contiguous array the native module takes."""
    if not last:
        return _native(geo, a)
    return _contiguous(a[:, None] if geo.d == 1 else a)


def _from_native(geo, a, last):
    if not last or a is None:
        return geo.from_2d(a)
    return a[:, 0] if geo.d == 1 else a


# ----------------------------------------------------------------- convolution


def _contiguous(a):
    """C-contiguous and element-aligned (a view at an odd byte offset is copied)."""
    flags = a.flags
    if flags.c_contiguous and flags.aligned:
        return a
    return np.require(a, requirements=("C", "A"))


def _native(geo, a):
    """`a` in the 2-D, C-contiguous layout the native module takes."""
    return _contiguous(geo.as_2d(a))


def _conv_forward(x, w, b, stride, padding, dilation, groups, d, algorithm, data_format):
    last = _channels_last(data_format)
    x, w = same_float_dtype(x=x, w=w)
    geo = conv_geometry(_first_view(x, last, d, "x"), w, stride, padding, dilation, groups, d)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if b is not None:
        b = np.asarray(b)
        if b.dtype.kind not in "biuf":
            raise TypeError(f"b must be a real numeric array, got dtype {b.dtype}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},) to match w {w.shape}, got {b.shape}")
        b = _contiguous(b.astype(x.dtype, copy=False))
    out = _C.conv2d_forward(
        _native_layout(geo, x, last),
        _native(geo, w),
        b,
        *geo.native_args,
        algorithm=algorithm,
        channels_last=last,
    )
    return _from_native(geo, out, last)


def _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, d, algorithm, data_format):
    last = _channels_last(data_format)
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    geo = conv_geometry(_first_view(x, last, d, "x"), w, stride, padding, dilation, groups, d)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    out_shape = _last_shape(geo.out_shape) if last else geo.out_shape
    if dout.shape != out_shape:
        raise ValueError(
            f"dout must have the output shape {out_shape} for x {x.shape} and w {w.shape}, got {dout.shape}"
        )
    if isinstance(needs, str):
        needs = (needs,)
    if not isinstance(needs, (tuple, list, set, frozenset)) or set(needs) - {"x", "w", "b"}:
        raise ValueError(f"needs must be a sequence of some of 'x', 'w', 'b', got {needs!r}")
    dx, dw, db = _C.conv2d_backward(
        _native_layout(geo, dout, last),
        _native_layout(geo, x, last),
        _native(geo, w),
        *geo.native_args,
        "x" in needs,
        "w" in needs,
        "b" in needs,
        algorithm=algorithm,
        channels_last=last,
    )
    return _from_native(geo, dx, last), geo.from_2d(dw), db


def conv2d(
    x, w, b=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", data_format="channels_first"
):
    """2-D cross-correlation (what deep learning calls convolution), NCHW.

    Returns (N, C_out, H_out, W_out) with
    H_out = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1) / stride) + 1.
    `algorithm`: one of ALGORITHMS; Winograd's float32 results differ from
    the direct sum by rounding only (about 1e-6 relative; tested <= 1e-4).
    """
    return _conv_forward(x, w, b, stride, padding, dilation, groups, 2, algorithm, data_format)


def conv2d_backward(
    dout,
    x,
    w,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    needs=("x", "w", "b"),
    algorithm="auto",
    data_format="channels_first",
):
    """Gradients of conv2d: (dx, dw, db); entries not in `needs` are None.
    `algorithm` chooses how dx is computed (as in conv2d)."""
    return _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, 2, algorithm, data_format)


def conv1d(
    x, w, b=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", data_format="channels_first"
):
    """1-D cross-correlation on (N, C, L) with weights (C_out, C_in/groups, K)."""
    return _conv_forward(x, w, b, stride, padding, dilation, groups, 1, algorithm, data_format)


def conv1d_backward(
    dout,
    x,
    w,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    needs=("x", "w", "b"),
    algorithm="auto",
    data_format="channels_first",
):
    """Gradients of conv1d: (dx, dw, db); entries not in `needs` are None."""
    return _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, 1, algorithm, data_format)


# ---------------------------------------------------------------------- linear


def _check_linear_operands(x, w):
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (N, in_features), got shape {x.shape}")
    if w.ndim != 2:
        raise ValueError(f"w must be 2-D (in_features, out_features), got shape {w.shape}")
    if x.shape[1] != w.shape[0] or 0 in x.shape or 0 in w.shape:
        raise ValueError(
            f"x {x.shape} and w {w.shape} do not chain: x's columns must equal w's rows and no size may be 0"
        )


def _matrix(a):
    """`a` as the native matmul reads it: any strides, but whole, aligned elements."""
    if a.flags.aligned and all(s % a.itemsize == 0 for s in a.strides):
        return a
    return np.require(a, requirements=("C", "A"))


def _matmul(a, b):
    # The native GEMM and its threads, never NumPy's BLAS, whose spinning
    # threads would otherwise compete with ours for the same cores between
    # layers. Transposed operands are strided views, read in place.
    return _C.matmul(_matrix(a), _matrix(b))


def linear(x, w, b=None):
    """x (N, in) @ w (in, out) + b, the Dense layer (Keras' kernel layout)."""
    x, w = same_float_dtype(x=x, w=w)
    _check_linear_operands(x, w)
    y = _matmul(x, w)
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[1],):
            raise ValueError(f"b must have shape ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
        y += b.astype(y.dtype, copy=False)
    return y


def linear_backward(dout, x, w, needs=("x", "w", "b")):
    """Gradients of linear: (dx, dw, db); entries not in `needs` are None."""
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    _check_linear_operands(x, w)
    if dout.shape != (x.shape[0], w.shape[1]):
        raise ValueError(f"dout must have shape {(x.shape[0], w.shape[1])}, got {dout.shape}")
    if isinstance(needs, str):
        needs = (needs,)
    if not isinstance(needs, (tuple, list, set, frozenset)) or set(needs) - {"x", "w", "b"}:
        raise ValueError(f"needs must be a sequence of some of 'x', 'w', 'b', got {needs!r}")
    # dx = dout w^T and dw = x^T dout as plain GEMMs: faster than running them
    # as 1x1 convolutions (bench/linear_vs_numpy.py times them).
    dx = _matmul(dout, w.T) if "x" in needs else None
    dw = _matmul(x.T, dout) if "w" in needs else None
    db = dout.sum(axis=0) if "b" in needs else None
    return dx, dw, db


# --------------------------------------------------------------------- pooling


def _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, d, data_format):
    last = _channels_last(data_format)
    x = as_float_array(x, "x")
    geo = pool_geometry(_first_view(x, last, d, "x"), kernel_size, stride, padding, ceil_mode, d)
    out, idx = _C.max_pool2d_forward(
        _native_layout(geo, x, last), *geo.window, *geo.out_hw, bool(return_indices), channels_last=last
    )
    if return_indices:
        return _from_native(geo, out, last), _from_native(geo, idx, last)
    return _from_native(geo, out, last)


def _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, d, data_format):
    last = _channels_last(data_format)
    dout, x = same_float_dtype(dout=dout, x=x)
    geo = pool_geometry(_first_view(x, last, d, "x"), kernel_size, stride, padding, ceil_mode, d)
    geo.check_dout(_first_view(dout, last, d, "dout"))
    if indices is None:
        _, indices = _C.max_pool2d_forward(
            _native_layout(geo, x, last), *geo.window, *geo.out_hw, True, channels_last=last
        )
    else:
        indices = np.asarray(indices)
        if indices.shape != dout.shape:
            raise ValueError(f"indices must have dout's shape {dout.shape}, got {indices.shape}")
        if indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
        indices = _native_layout(geo, indices.astype(np.int64, copy=False), last)
    dx = _C.max_pool2d_backward(_native_layout(geo, dout, last), indices, *geo.in_hw, channels_last=last)
    return _from_native(geo, dx, last)


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, d, data_format):
    last = _channels_last(data_format)
    x = as_float_array(x, "x")
    geo = pool_geometry(_first_view(x, last, d, "x"), kernel_size, stride, padding, ceil_mode, d)
    out = _C.avg_pool2d_forward(
        _native_layout(geo, x, last), *geo.window, *geo.out_hw, bool(count_include_pad), channels_last=last
    )
    return _from_native(geo, out, last)


def _avg_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, d, data_format):
    last = _channels_last(data_format)
    dout, x = same_float_dtype(dout=dout, x=x)
    geo = pool_geometry(_first_view(x, last, d, "x"), kernel_size, stride, padding, ceil_mode, d)
    geo.check_dout(_first_view(dout, last, d, "dout"))
    dx = _C.avg_pool2d_backward(
        _native_layout(geo, dout, last), *geo.in_hw, *geo.window, bool(count_include_pad), channels_last=last
    )
    return _from_native(geo, dx, last)


def max_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    return_indices=False,
    data_format="channels_first",
):
    """Max over windows of (N, C, H, W); stride defaults to kernel_size.

    NaN counts as the maximum (as in PyTorch). With return_indices, also
    returns int64 indices into each flattened H*W input plane.
    """
    return _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, 2, data_format)


def max_pool2d_backward(
    dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, indices=None, data_format="channels_first"
):
    """Gradient of max_pool2d: each output's gradient goes to the first maximum
    of its window. Pass the forward's `indices` to skip recomputing them."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, 2, data_format)


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    data_format="channels_first",
):
    """Mean over windows of (N, C, H, W); padding counts in the divisor when
    count_include_pad (PyTorch's rule, also under ceil_mode)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2, data_format)


def avg_pool2d_backward(
    dout,
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    data_format="channels_first",
):
    """Gradient of avg_pool2d with respect to x."""
    return _avg_pool_backward(
        dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2, data_format
    )


def max_pool1d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    return_indices=False,
    data_format="channels_first",
):
    """Max over windows of (N, C, L); indices index each length-L row."""
    return _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, 1, data_format)


def max_pool1d_backward(
    dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, indices=None, data_format="channels_first"
):
    """Gradient of max_pool1d (first maximum on ties)."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, 1, data_format)


def avg_pool1d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    data_format="channels_first",
):
    """Mean over windows of (N, C, L)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 1, data_format)


def avg_pool1d_backward(
    dout,
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    data_format="channels_first",
):
    """Gradient of avg_pool1d with respect to x."""
    return _avg_pool_backward(
        dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, 1, data_format
    )


# -------------------------------------------------------------- global pooling


def _planes(x, d):
    """x as (N*C, spatial) rows, the layout the global reductions work on."""
    spatial_dims(x, d, "x")
    if x.size == 0:
        raise ValueError(f"x must have positive sizes, got shape {x.shape}")
    return _contiguous(x).reshape(x.shape[0] * x.shape[1], -1)


def _global_dout(dout, x, keepdims_shape):
    n, c = x.shape[:2]
    if dout.shape not in ((n, c), keepdims_shape):
        raise ValueError(
            f"dout must have shape {(n, c)} or {keepdims_shape} for x {x.shape}, got {dout.shape}"
        )
    return _contiguous(dout).reshape(n * c)


# Channels-last global pools reduce (N, H*W, C) over its middle axis with
# NumPy's native reductions: rows of C contiguous values, no transpose.


def _pixels(x, d):
    """Channels-last x as (N, pixels, C), after the shape checks."""
    _first_view(x, True, d, "x")
    if x.size == 0:
        raise ValueError(f"x must have positive sizes, got shape {x.shape}")
    return _contiguous(x).reshape(x.shape[0], -1, x.shape[-1])


def _global_dout_last(dout, x, d):
    n, c = x.shape[0], x.shape[-1]
    keep = (n,) + (1,) * d + (c,)
    if dout.shape not in ((n, c), keep):
        raise ValueError(f"dout must have shape {(n, c)} or {keep} for x {x.shape}, got {dout.shape}")
    return dout.reshape(n, 1, c)


def _global_shape(x, keepdims, d, last):
    if last:
        return (x.shape[0],) + (1,) * d + (x.shape[-1],) if keepdims else (x.shape[0], x.shape[-1])
    return x.shape[:2] + (1,) * d if keepdims else x.shape[:2]


def _global_avg(x, keepdims, d, data_format):
    last = _channels_last(data_format)
    x = as_float_array(x, "x")
    if last:
        out = _pixels(x, d).mean(axis=1, dtype=x.dtype)
    else:
        out = _C.global_avg_pool_forward(_planes(x, d))
    return out.reshape(_global_shape(x, keepdims, d, last))


def _global_avg_backward(dout, x, d, data_format):
    last = _channels_last(data_format)
    dout, x = same_float_dtype(dout=dout, x=x)
    if last:
        pixels = _pixels(x, d)
        g = _global_dout_last(dout, x, d) / x.dtype.type(pixels.shape[1])
        return np.ascontiguousarray(np.broadcast_to(g, pixels.shape)).reshape(x.shape)
    rows = _planes(x, d)
    dx = _C.global_avg_pool_backward(_global_dout(dout, x, x.shape[:2] + (1,) * d), rows.shape[1])
    return dx.reshape(x.shape)


def _global_max(x, keepdims, return_indices, d, data_format):
    last = _channels_last(data_format)
    x = as_float_array(x, "x")
    if last:
        pixels = _pixels(x, d)
        idx = pixels.argmax(axis=1)  # first maximum; NaN counts as the maximum
        out = np.take_along_axis(pixels, idx[:, None, :], axis=1)[:, 0, :]
    else:
        out, idx = _C.global_max_pool_forward(_planes(x, d))
    shape = _global_shape(x, keepdims, d, last)
    return (out.reshape(shape), idx.reshape(shape)) if return_indices else out.reshape(shape)


def _global_max_backward(dout, x, indices, d, data_format):
    last = _channels_last(data_format)
    dout, x = same_float_dtype(dout=dout, x=x)
    if last:
        pixels = _pixels(x, d)
        g = _global_dout_last(dout, x, d)
        if indices is None:
            indices = pixels.argmax(axis=1)
        indices = np.asarray(indices)
        if indices.size != g.size or indices.dtype.kind not in "iu":
            raise ValueError(
                f"indices must be integers shaped like dout {dout.shape}, got {indices.dtype} {indices.shape}"
            )
        indices = indices.reshape(g.shape).astype(np.int64, copy=False)
        if indices.min() < 0 or indices.max() >= pixels.shape[1]:
            raise ValueError("indices must lie in [0, H*W) of their input plane")
        dx = np.zeros_like(pixels)
        np.put_along_axis(dx, indices, g, axis=1)
        return dx.reshape(x.shape)
    rows = _planes(x, d)
    flat_dout = _global_dout(dout, x, x.shape[:2] + (1,) * d)
    if indices is None:
        _, indices = _C.global_max_pool_forward(rows)
    else:
        indices = np.asarray(indices)
        if indices.size != flat_dout.size or indices.dtype.kind not in "iu":
            raise ValueError(
                f"indices must be integers shaped like dout {dout.shape}, got {indices.dtype} {indices.shape}"
            )
        indices = _contiguous(indices.astype(np.int64, copy=False)).reshape(-1)
    dx = _C.global_max_pool_backward(flat_dout, indices, rows.shape[1])
    return dx.reshape(x.shape)


def global_avg_pool2d(x, keepdims=False, data_format="channels_first"):
    """Mean over H and W: (N, C) (or (N, C, 1, 1) with keepdims)."""
    return _global_avg(x, keepdims, 2, data_format)


def global_avg_pool2d_backward(dout, x, data_format="channels_first"):
    """Gradient of global_avg_pool2d; dout is (N, C) or (N, C, 1, 1)."""
    return _global_avg_backward(dout, x, 2, data_format)


def global_max_pool2d(x, keepdims=False, return_indices=False, data_format="channels_first"):
    """Max over H and W: (N, C); indices into each flattened H*W plane."""
    return _global_max(x, keepdims, return_indices, 2, data_format)


def global_max_pool2d_backward(dout, x, indices=None, data_format="channels_first"):
    """Gradient of global_max_pool2d (to the first maximum of each plane)."""
    return _global_max_backward(dout, x, indices, 2, data_format)


def global_avg_pool1d(x, keepdims=False, data_format="channels_first"):
    """Mean over L: (N, C) (or (N, C, 1) with keepdims)."""
    return _global_avg(x, keepdims, 1, data_format)


def global_avg_pool1d_backward(dout, x, data_format="channels_first"):
    """Gradient of global_avg_pool1d."""
    return _global_avg_backward(dout, x, 1, data_format)


def global_max_pool1d(x, keepdims=False, return_indices=False, data_format="channels_first"):
    """Max over L: (N, C)."""
    return _global_max(x, keepdims, return_indices, 1, data_format)


def global_max_pool1d_backward(dout, x, indices=None, data_format="channels_first"):
    """Gradient of global_max_pool1d."""
    return _global_max_backward(dout, x, indices, 1, data_format)


# Transposed convolutions (transpose.py): the backward-data paths run them.
from .transpose import *  # noqa: E402,F401,F403
from .transpose import __all__ as _transpose_names  # noqa: E402

__all__ += _transpose_names

# Upsampling and padding (resize.py).
from .resize import *  # noqa: E402,F401,F403
from .resize import __all__ as _resize_names  # noqa: E402

__all__ += _resize_names

# Image augmentation ops (augment.py; the random draws and layers build on them).
from .augment import *  # noqa: E402,F401,F403
from .augment import __all__ as _augment_names  # noqa: E402

__all__ += _augment_names
