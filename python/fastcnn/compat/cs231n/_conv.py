"""Convolution behind every course spelling (`_naive`, `_im2col`, `_strides`,
`_fast`): one native forward and backward, and the cache layout of each.

The course's caches are (x, w, b, conv_param) for the naive layer and
(x, w, b, conv_param, x_cols) for the fast ones, where x_cols is the im2col
matrix (C*HH*WW rows) that the course's fast backward multiplies by. fastcnn's
backward reads only the first four fields, so it takes every course cache; the
x_cols of fastcnn's fast caches is a `DeferredArray` in the layout of the
spelling that made it, built only if the course's backward reads it.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ._common import DeferredArray, as_float, foreign_cache, ndim, non_negative_int, param, positive_int

CACHE_LAYOUTS = "(x, w, b, conv_param) or (x, w, b, conv_param, x_cols)"


def geometry(conv_param):
    """(stride, pad) of a conv_param dict."""
    stride = param(conv_param, "stride", "conv_param", required=True)
    pad = param(conv_param, "pad", "conv_param", required=True)
    return positive_int(stride, "conv_param['stride']"), non_negative_int(pad, "conv_param['pad']")


def output_hw(x_shape, w_shape, stride, pad):
    """H', W' = 1 + (H + 2 pad - HH) // stride, ... (floor, as the naive layer)."""
    return tuple(1 + (x_shape[i] + 2 * pad - w_shape[i]) // stride for i in (2, 3))


def forward(x, w, b, conv_param):
    """(out, x, w, b): the convolution and the operands in the dtype it ran in."""
    x, w, b = as_float(x=x, w=w, b=b)
    ndim(x, 4, "x", "(N, C, H, W)")
    ndim(w, 4, "w", "(F, C, HH, WW)")
    stride, pad = geometry(conv_param)
    return F.conv2d(x, w, b, stride=stride, padding=pad), x, w, b


def course_columns(x, w_shape, conv_param, order):
    """The x_cols the course's fast forward caches, computed on first use.

    Rows are (c, i, j) of the filter window; columns are (n, y, x) output
    positions for conv_forward_strides (order "strides") and (y, x, n) for
    conv_forward_im2col (order "im2col"), as their backwards expect.
    """
    stride, pad = geometry(conv_param)
    n, c = x.shape[:2]
    hh, ww = w_shape[2:]
    oh, ow = output_hw(x.shape, w_shape, stride, pad)

    def build():
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (hh, ww), axis=(2, 3))
        windows = windows[:, :, : oh * stride : stride, : ow * stride : stride]  # (N, C, OH, OW, HH, WW)
        axes = (1, 4, 5, 0, 2, 3) if order == "strides" else (1, 4, 5, 2, 3, 0)
        return np.ascontiguousarray(windows.transpose(axes)).reshape(c * hh * ww, n * oh * ow)

    return DeferredArray(build, (c * hh * ww, n * oh * ow), x.dtype)


def cache_fields(cache, backward_name):
    """(x, w, b, conv_param) of any course or fastcnn conv cache."""
    if isinstance(cache, tuple) and len(cache) in (4, 5) and isinstance(cache[3], dict):
        return cache[:4]
    raise foreign_cache(backward_name, cache, CACHE_LAYOUTS)


def backward(dout, cache, backward_name):
    """(dx, dw, db) of the convolution a cache describes."""
    x, w, _, conv_param = cache_fields(cache, backward_name)
    dout, x, w = as_float(dout=dout, x=x, w=w)
    ndim(x, 4, "the cache's x", "(N, C, H, W)")
    ndim(w, 4, "the cache's w", "(F, C, HH, WW)")
    stride, pad = geometry(conv_param)
    expected = (x.shape[0], w.shape[0], *output_hw(x.shape, w.shape, stride, pad))
    if dout.shape != expected:
        raise ValueError(
            f"{backward_name}: dout has shape {dout.shape}, but the cache's x {x.shape}, w {w.shape} "
            f"and conv_param {conv_param} give outputs of shape {expected}. A cache whose x is not "
            "the forward's input (a naive forward of your own that caches the padded x, say) "
            "pairs only with that implementation's backward."
        )
    return F.conv2d_backward(dout, x, w, stride=stride, padding=pad)
