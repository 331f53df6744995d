"""Upsampling and padding of (N, C, H, W) (or (N, H, W, C)) tensors, forward and backward.

upsample2d: integer scale factors; 'nearest' repeats each pixel, 'bilinear'
interpolates as PyTorch's F.interpolate (align_corners False: source
coordinate (o + 0.5) / scale - 0.5 clamped at 0; True: the corners of input
and output align), one axis after the other, each output mixing its two
nearest inputs; the backward pass adds each gradient back to those two.

pad2d: 'constant' (value), 'reflect' (mirror without repeating the edge,
PyTorch's and NumPy's 'reflect') and 'replicate' (repeat the edge), padding
an int, (h, w), or ((top, bottom), (left, right)). Backward adds each output
gradient to the input element it copies.

These run in NumPy (memory-bound moves, a few passes); the heavy layers
around them are native.
"""

from __future__ import annotations

import numpy as np

from ._shapes import _as_int, as_float_array, positive_tuple
from .functional import DATA_FORMATS

__all__ = ["upsample2d", "upsample2d_backward", "pad2d", "pad2d_backward"]

MODES = ("nearest", "bilinear")
PAD_MODES = ("constant", "reflect", "replicate")


def _layout(x, data_format, name="x"):
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    last = data_format == "channels_last"
    if x.ndim != 4:
        raise ValueError(
            f"{name} must be 4-D {'(N, H, W, C)' if last else '(N, C, H, W)'}, got shape {x.shape}"
        )
    if x.size == 0:
        raise ValueError(f"{name} must have positive sizes, got shape {x.shape}")
    return last, (1, 2) if last else (2, 3)


def _taps(n_in, scale, align_corners):
    """For each output index along an axis: the two input indices it mixes and the second's weight."""
    n_out = n_in * scale
    if align_corners:
        src = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    else:
        src = np.maximum((np.arange(n_out) + 0.5) / scale - 0.5, 0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo


def _weights(frac, ndim, axis, dtype):
    shape = [1] * ndim
    shape[axis] = -1
    return frac.astype(dtype).reshape(shape)


def _lerp(a, axis, scale, align_corners):
    """Bilinear resize of one axis: each output mixes its two taps (both read, as PyTorch)."""
    lo, hi, frac = _taps(a.shape[axis], scale, align_corners)
    f = _weights(frac, a.ndim, axis, a.dtype)
    return np.take(a, lo, axis=axis) * (1 - f) + np.take(a, hi, axis=axis) * f


def _lerp_backward(d, axis, n_in, scale, align_corners):
    """The adjoint of _lerp: each output gradient added back to its two taps."""
    lo, hi, frac = _taps(n_in, scale, align_corners)
    f = _weights(frac, d.ndim, axis, d.dtype)
    low, high = np.moveaxis(d * (1 - f), axis, 0), np.moveaxis(d * f, axis, 0)
    out = np.zeros((n_in,) + low.shape[1:], d.dtype)
    np.add.at(out, lo, low)
    np.add.at(out, hi, high)
    return np.moveaxis(out, 0, axis)


def _upsample_args(scale, mode, align_corners):
    scale = positive_tuple(scale, 2, "scale_factor")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if align_corners and mode != "bilinear":
        raise ValueError("align_corners applies to mode='bilinear' only")
    return scale


def upsample2d(x, scale_factor=2, mode="nearest", align_corners=False, data_format="channels_first"):
    """x with H and W multiplied by the integer scale factors (one int or (sh, sw))."""
    x = as_float_array(x, "x")
    last, (ah, aw) = _layout(x, data_format)
    sh, sw = _upsample_args(scale_factor, mode, align_corners)
    if mode == "nearest":
        return np.repeat(np.repeat(x, sh, axis=ah), sw, axis=aw)
    return np.ascontiguousarray(_lerp(_lerp(x, ah, sh, align_corners), aw, sw, align_corners))


def upsample2d_backward(
    dout, x_shape, scale_factor=2, mode="nearest", align_corners=False, data_format="channels_first"
):
    """Gradient of upsample2d for an input of shape x_shape."""
    dout = as_float_array(dout, "dout")
    last, (ah, aw) = _layout(dout, data_format, "dout")
    sh, sw = _upsample_args(scale_factor, mode, align_corners)
    x_shape = tuple(int(s) for s in x_shape)
    want = list(x_shape)
    want[ah], want[aw] = x_shape[ah] * sh, x_shape[aw] * sw
    if dout.shape != tuple(want):
        raise ValueError(
            f"dout must have the upsampled shape {tuple(want)} for x {x_shape}, got {dout.shape}"
        )
    if mode == "nearest":
        shape = list(dout.shape)
        shape[aw : aw + 1] = [x_shape[aw], sw]
        d = dout.reshape(shape).sum(axis=aw + 1)
        shape = list(d.shape)
        shape[ah : ah + 1] = [x_shape[ah], sh]
        return np.ascontiguousarray(d.reshape(shape).sum(axis=ah + 1))
    cols = _lerp_backward(dout, aw, x_shape[aw], sw, align_corners)
    return np.ascontiguousarray(_lerp_backward(cols, ah, x_shape[ah], sh, align_corners))


def _pad_pairs(padding):
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        pairs = [(padding, padding)] * 2
    elif isinstance(padding, (list, tuple)) and len(padding) == 2:
        pairs = [tuple(p) if isinstance(p, (list, tuple)) else (p, p) for p in padding]
    else:
        raise ValueError(f"padding must be an int, (h, w) or ((top, bottom), (left, right)), got {padding!r}")
    out = []
    for p in pairs:
        if len(p) != 2:
            raise ValueError(f"padding pairs must be (before, after), got {padding!r}")
        a, b = (_as_int(v, "padding") for v in p)
        if a < 0 or b < 0:
            raise ValueError(f"padding must be non-negative, got {padding!r}")
        out.append((a, b))
    return out


def _source_index(n, before, after, mode):
    """For each output position along an axis: the input index it copies, or -1 (constant)."""
    i = np.arange(-before, n + after)
    if mode == "constant":
        return np.where((i >= 0) & (i < n), i, -1)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if max(before, after) >= n:
        raise ValueError(f"reflect padding ({before}, {after}) must be below the size {n}")
    period = 2 * (n - 1)
    j = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(j < n, j, period - j)


def _pad_indices(shape, padding, mode, axes):
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {PAD_MODES}, got {mode!r}")
    pairs = _pad_pairs(padding)
    return [_source_index(shape[a], *p, mode) for a, p in zip(axes, pairs)]


def pad2d(x, padding, mode="constant", value=0.0, data_format="channels_first"):
    """x padded along H and W."""
    x = as_float_array(x, "x")
    _, axes = _layout(x, data_format)
    ih, iw = _pad_indices(x.shape, padding, mode, axes)
    taken = np.take(np.take(x, np.maximum(ih, 0), axis=axes[0]), np.maximum(iw, 0), axis=axes[1])
    if mode == "constant":
        keep = (ih >= 0)[:, None] & (iw >= 0)[None, :]
        keep = keep[:, :, None] if axes == (1, 2) else keep
        taken = np.where(keep, taken, x.dtype.type(value))
    return np.ascontiguousarray(taken)


def pad2d_backward(dout, x_shape, padding, mode="constant", data_format="channels_first"):
    """Gradient of pad2d for an input of shape x_shape."""
    dout = as_float_array(dout, "dout")
    _, axes = _layout(dout, data_format, "dout")
    x_shape = tuple(int(s) for s in x_shape)
    ih, iw = _pad_indices(x_shape, padding, mode, axes)
    want = list(x_shape)
    want[axes[0]], want[axes[1]] = len(ih), len(iw)
    if dout.shape != tuple(want):
        raise ValueError(f"dout must have the padded shape {tuple(want)} for x {x_shape}, got {dout.shape}")
    # sum along W into the input columns, then along H into the input rows
    d = np.moveaxis(dout, axes[1], 0)
    cols = np.zeros((x_shape[axes[1]],) + d.shape[1:], dout.dtype)
    np.add.at(cols, iw[iw >= 0], d[iw >= 0])
    cols = np.moveaxis(cols, 0, axes[1])
    d = np.moveaxis(cols, axes[0], 0)
    rows = np.zeros((x_shape[axes[0]],) + d.shape[1:], dout.dtype)
    np.add.at(rows, ih[ih >= 0], d[ih >= 0])
    return np.ascontiguousarray(np.moveaxis(rows, 0, axes[0]))
