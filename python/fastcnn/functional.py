"""Convolution and pooling on NumPy arrays, computed by the native core.

Names and arguments follow `torch.nn.functional`. Layouts are channels-first:
(N, C, H, W) for 2-D ops and (N, C, L) for 1-D ops; conv weights are
(C_out, C_in / groups, KH, KW) or (C_out, C_in / groups, K).

dtypes: float32 and float64 are computed natively. Any other real numeric
dtype (ints, bool, float16, lists) is converted to float32 first. When two
float arrays meet (x and w, dout and x) they must share one dtype, else
TypeError. Non-contiguous and Fortran-ordered arrays are accepted (copied to
C order). Outputs are new C-contiguous arrays of the input dtype.

Padding forms (conv and pooling): an int; one int per spatial dim; explicit
pairs per dim ((top, bottom), (left, right)) (for 1-D ops a pair is
(left, right)); 'valid'; 'same' (Keras/TensorFlow rule for any stride:
output = ceil(n / stride), the odd extra pad goes after).
"""
from __future__ import annotations

import numpy as np

from . import _C
from ._shapes import (ConvGeometry, PoolGeometry, as_float_array, conv_output_size,
                      same_float_dtype, spatial_dims)

__all__ = [
    "conv2d", "conv2d_backward", "conv1d", "conv1d_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "max_pool1d", "max_pool1d_backward", "avg_pool1d", "avg_pool1d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "global_max_pool2d", "global_max_pool2d_backward",
    "global_avg_pool1d", "global_avg_pool1d_backward",
    "global_max_pool1d", "global_max_pool1d_backward",
    "conv_output_size", "linear", "linear_backward",
]

# 'auto' picks by shape; the others force one path, for tests and
# benchmarks: 'gemm' (implicit GEMM, any convolution), 'winograd' (F(4x4,
# 3x3) / F(4x4, 5x5): 3x3 or 5x5 kernels, stride 1, dilation 1, groups 1,
# padding <= kernel - 1; forward, dx and dw), 'direct' (forward only:
# stride 1, dilation 1, groups 1; auto's choice for C_in <= 4).
ALGORITHMS = ("auto", "gemm", "winograd", "direct")


# ----------------------------------------------------------------- convolution

def _contiguous(a):
    return np.ascontiguousarray(a)


def _native(geo, a):
    """`a` in the 2-D, C-contiguous layout the native module takes."""
    return np.ascontiguousarray(geo.as_2d(a))


def _conv_forward(x, w, b, stride, padding, dilation, groups, d, algorithm):
    x, w = same_float_dtype(x=x, w=w)
    geo = ConvGeometry(x, w, stride, padding, dilation, groups, d)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if b is not None:
        b = np.asarray(b)
        if b.dtype.kind not in "biuf":
            raise TypeError(f"b must be a real numeric array, got dtype {b.dtype}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},) to match w {w.shape}, got {b.shape}")
        b = _contiguous(b.astype(x.dtype, copy=False))
    out = _C.conv2d_forward(_native(geo, x), _native(geo, w), b, *geo.native_args,
                            algorithm=algorithm)
    return geo.from_2d(out)


def _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, d, algorithm):
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    geo = ConvGeometry(x, w, stride, padding, dilation, groups, d)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if dout.shape != geo.out_shape:
        raise ValueError(f"dout must have the output shape {geo.out_shape} for x {x.shape} and "
                         f"w {w.shape}, got {dout.shape}")
    if isinstance(needs, str):
        needs = (needs,)
    if not isinstance(needs, (tuple, list, set, frozenset)) or set(needs) - {"x", "w", "b"}:
        raise ValueError(f"needs must be a sequence of some of 'x', 'w', 'b', got {needs!r}")
    dx, dw, db = _C.conv2d_backward(_native(geo, dout), _native(geo, x), _native(geo, w),
                                    *geo.native_args,
                                    "x" in needs, "w" in needs, "b" in needs,
                                    algorithm=algorithm)
    return geo.from_2d(dx), geo.from_2d(dw), db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    """2-D cross-correlation (what deep learning calls convolution), NCHW.

    Returns (N, C_out, H_out, W_out) with
    H_out = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1) / stride) + 1.
    `algorithm`: one of ALGORITHMS; Winograd's float32 results differ from
    the direct sum by rounding only (about 1e-6 relative; tested <= 1e-4).
    """
    return _conv_forward(x, w, b, stride, padding, dilation, groups, 2, algorithm)


def conv2d_backward(dout, x, w, stride=1, padding=0, dilation=1, groups=1, needs=("x", "w", "b"),
                    algorithm="auto"):
    """Gradients of conv2d: (dx, dw, db); entries not in `needs` are None.
    `algorithm` chooses how dx is computed (as in conv2d)."""
    return _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, 2, algorithm)


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    """1-D cross-correlation on (N, C, L) with weights (C_out, C_in/groups, K)."""
    return _conv_forward(x, w, b, stride, padding, dilation, groups, 1, algorithm)


def conv1d_backward(dout, x, w, stride=1, padding=0, dilation=1, groups=1, needs=("x", "w", "b"),
                    algorithm="auto"):
    """Gradients of conv1d: (dx, dw, db); entries not in `needs` are None."""
    return _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, 1, algorithm)


# ---------------------------------------------------------------------- linear

def _linear_operands(x, w):
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (N, in_features), got shape {x.shape}")
    if w.ndim != 2:
        raise ValueError(f"w must be 2-D (in_features, out_features), got shape {w.shape}")
    if x.shape[1] != w.shape[0] or 0 in x.shape or 0 in w.shape:
        raise ValueError(f"x {x.shape} and w {w.shape} do not chain: x's columns must equal "
                         f"w's rows and no size may be 0")
    # x @ w is a 1x1 convolution of the image w (1, in, 1, out) with the
    # "filters" x (N, in, 1, 1): it runs on the native GEMM and its threads,
    # never on NumPy's BLAS, whose spinning threads would otherwise compete
    # with ours for the same cores between layers.
    return (np.ascontiguousarray(w)[None, :, None, :], np.ascontiguousarray(x)[:, :, None, None],
            (1, 1, 0, 0, 0, 0, 1, 1, 1))


def linear(x, w, b=None):
    """x (N, in) @ w (in, out) + b, the Dense layer (Keras' kernel layout)."""
    x, w = same_float_dtype(x=x, w=w)
    image, filters, args = _linear_operands(x, w)
    y = _C.conv2d_forward(image, filters, None, *args)[0, :, 0, :]
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[1],):
            raise ValueError(f"b must have shape ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
        y += b.astype(y.dtype, copy=False)
    return y


def linear_backward(dout, x, w, needs=("x", "w", "b")):
    """Gradients of linear: (dx, dw, db); entries not in `needs` are None."""
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    image, filters, args = _linear_operands(x, w)
    if dout.shape != (x.shape[0], w.shape[1]):
        raise ValueError(f"dout must have shape {(x.shape[0], w.shape[1])}, got {dout.shape}")
    if isinstance(needs, str):
        needs = (needs,)
    if not isinstance(needs, (tuple, list, set, frozenset)) or set(needs) - {"x", "w", "b"}:
        raise ValueError(f"needs must be a sequence of some of 'x', 'w', 'b', got {needs!r}")
    d_image, d_filters, _ = _C.conv2d_backward(
        np.ascontiguousarray(dout)[None, :, None, :], image, filters, *args,
        "w" in needs, "x" in needs, False)
    dx = d_filters[:, :, 0, 0] if d_filters is not None else None
    dw = d_image[0, :, 0, :] if d_image is not None else None
    db = dout.sum(axis=0) if "b" in needs else None
    return dx, dw, db


# --------------------------------------------------------------------- pooling

def _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, d):
    x = as_float_array(x, "x")
    geo = PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    out, idx = _C.max_pool2d_forward(_native(geo, x), *geo.window, *geo.out_hw, bool(return_indices))
    if return_indices:
        return geo.from_2d(out), geo.from_2d(idx)
    return geo.from_2d(out)


def _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    geo = PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    geo.check_dout(dout)
    if indices is None:
        _, indices = _C.max_pool2d_forward(_native(geo, x), *geo.window, *geo.out_hw, True)
    else:
        indices = np.asarray(indices)
        if indices.shape != dout.shape:
            raise ValueError(f"indices must have dout's shape {dout.shape}, got {indices.shape}")
        if indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
        indices = _native(geo, indices.astype(np.int64, copy=False))
    dx = _C.max_pool2d_backward(_native(geo, dout), indices, *geo.in_hw)
    return geo.from_2d(dx)


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, d):
    x = as_float_array(x, "x")
    geo = PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    out = _C.avg_pool2d_forward(_native(geo, x), *geo.window, *geo.out_hw, bool(count_include_pad))
    return geo.from_2d(out)


def _avg_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    geo = PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    geo.check_dout(dout)
    dx = _C.avg_pool2d_backward(_native(geo, dout), *geo.in_hw, *geo.window, bool(count_include_pad))
    return geo.from_2d(dx)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_indices=False):
    """Max over windows of (N, C, H, W); stride defaults to kernel_size.

    NaN counts as the maximum (as in PyTorch). With return_indices, also
    returns int64 indices into each flattened H*W input plane.
    """
    return _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, 2)


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, indices=None):
    """Gradient of max_pool2d: each output's gradient goes to the first maximum
    of its window. Pass the forward's `indices` to skip recomputing them."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, 2)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of (N, C, H, W); padding counts in the divisor when
    count_include_pad (PyTorch's rule, also under ceil_mode)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2)


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of avg_pool2d with respect to x."""
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2)


def max_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_indices=False):
    """Max over windows of (N, C, L); indices index each length-L row."""
    return _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, 1)


def max_pool1d_backward(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, indices=None):
    """Gradient of max_pool1d (first maximum on ties)."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, 1)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of (N, C, L)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 1)


def avg_pool1d_backward(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of avg_pool1d with respect to x."""
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, 1)


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
        raise ValueError(f"dout must have shape {(n, c)} or {keepdims_shape} for x {x.shape}, "
                         f"got {dout.shape}")
    return _contiguous(dout).reshape(n * c)


def _global_avg(x, keepdims, d):
    x = as_float_array(x, "x")
    out = _C.global_avg_pool_forward(_planes(x, d))
    return out.reshape(x.shape[:2] + (1,) * d if keepdims else x.shape[:2])


def _global_avg_backward(dout, x, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    rows = _planes(x, d)
    dx = _C.global_avg_pool_backward(_global_dout(dout, x, x.shape[:2] + (1,) * d), rows.shape[1])
    return dx.reshape(x.shape)


def _global_max(x, keepdims, return_indices, d):
    x = as_float_array(x, "x")
    out, idx = _C.global_max_pool_forward(_planes(x, d))
    shape = x.shape[:2] + (1,) * d if keepdims else x.shape[:2]
    return (out.reshape(shape), idx.reshape(shape)) if return_indices else out.reshape(shape)


def _global_max_backward(dout, x, indices, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    rows = _planes(x, d)
    flat_dout = _global_dout(dout, x, x.shape[:2] + (1,) * d)
    if indices is None:
        _, indices = _C.global_max_pool_forward(rows)
    else:
        indices = np.asarray(indices)
        if indices.size != flat_dout.size or indices.dtype.kind not in "iu":
            raise ValueError(f"indices must be integers shaped like dout {dout.shape}, "
                             f"got {indices.dtype} {indices.shape}")
        indices = _contiguous(indices.astype(np.int64, copy=False)).reshape(-1)
    dx = _C.global_max_pool_backward(flat_dout, indices, rows.shape[1])
    return dx.reshape(x.shape)


def global_avg_pool2d(x, keepdims=False):
    """Mean over H and W: (N, C) (or (N, C, 1, 1) with keepdims)."""
    return _global_avg(x, keepdims, 2)


def global_avg_pool2d_backward(dout, x):
    """Gradient of global_avg_pool2d; dout is (N, C) or (N, C, 1, 1)."""
    return _global_avg_backward(dout, x, 2)


def global_max_pool2d(x, keepdims=False, return_indices=False):
    """Max over H and W: (N, C); indices into each flattened H*W plane."""
    return _global_max(x, keepdims, return_indices, 2)


def global_max_pool2d_backward(dout, x, indices=None):
    """Gradient of global_max_pool2d (to the first maximum of each plane)."""
    return _global_max_backward(dout, x, indices, 2)


def global_avg_pool1d(x, keepdims=False):
    """Mean over L: (N, C) (or (N, C, 1) with keepdims)."""
    return _global_avg(x, keepdims, 1)


def global_avg_pool1d_backward(dout, x):
    """Gradient of global_avg_pool1d."""
    return _global_avg_backward(dout, x, 1)


def global_max_pool1d(x, keepdims=False, return_indices=False):
    """Max over L: (N, C)."""
    return _global_max(x, keepdims, return_indices, 1)


def global_max_pool1d_backward(dout, x, indices=None):
    """Gradient of global_max_pool1d."""
    return _global_max_backward(dout, x, indices, 1)
