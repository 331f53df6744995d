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

Both are one native op, a separable resampling (csrc/ops/resample2d.h):
output row i reads input rows lo[i] (and hi[i]) and output column j input
columns lo[j] (and hi[j]), from index tables made here; the backward pass is
its adjoint.
"""

from __future__ import annotations

import numpy as np

from . import _C
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


class _Axis:
    """One axis' index table: output k reads input lo[k] (gathering; -1 reads
    the fill value) or lo[k] * (1 - weight[k]) + hi[k] * weight[k] (interpolating)."""

    def __init__(self, lo, hi=None, weight=None):
        self.lo = np.require(lo, np.int64, ["C", "A"])
        self.hi = self.lo if hi is None else np.require(hi, np.int64, ["C", "A"])
        self.weight = np.zeros(len(self.lo)) if weight is None else np.require(weight, np.float64, ["C", "A"])

    def args(self):
        return self.lo, self.hi, self.weight


def _upsample_axes(h, w, scale, mode, align_corners):
    if mode == "nearest":
        return [_Axis(np.arange(n * s) // s) for n, s in zip((h, w), scale)]
    return [_Axis(*_taps(n, s, align_corners)) for n, s in zip((h, w), scale)]


def _resample(x, axes, bilinear, fill, last):
    rows, cols = axes
    return _C.resample2d(x, *rows.args(), *cols.args(), bilinear, float(fill), last)


def _resample_backward(dout, axes, bilinear, in_h, in_w, last):
    rows, cols = axes
    return _C.resample2d_backward(dout, *rows.args(), *cols.args(), bilinear, in_h, in_w, last)


def _native(a):
    """a as the native op takes it: C-contiguous and aligned."""
    return np.require(a, requirements=["C", "A"])


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
    scale = _upsample_args(scale_factor, mode, align_corners)
    axes = _upsample_axes(x.shape[ah], x.shape[aw], scale, mode, align_corners)
    return _resample(_native(x), axes, mode == "bilinear", 0.0, last)


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
    axes = _upsample_axes(x_shape[ah], x_shape[aw], (sh, sw), mode, align_corners)
    return _resample_backward(_native(dout), axes, mode == "bilinear", x_shape[ah], x_shape[aw], last)


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
    last, axes = _layout(x, data_format)
    ih, iw = _pad_indices(x.shape, padding, mode, axes)
    return _resample(_native(x), (_Axis(ih), _Axis(iw)), False, value, last)


def pad2d_backward(dout, x_shape, padding, mode="constant", data_format="channels_first"):
    """Gradient of pad2d for an input of shape x_shape."""
    dout = as_float_array(dout, "dout")
    last, axes = _layout(dout, data_format, "dout")
    x_shape = tuple(int(s) for s in x_shape)
    ih, iw = _pad_indices(x_shape, padding, mode, axes)
    want = list(x_shape)
    want[axes[0]], want[axes[1]] = len(ih), len(iw)
    if dout.shape != tuple(want):
        raise ValueError(f"dout must have the padded shape {tuple(want)} for x {x_shape}, got {dout.shape}")
    h, w = x_shape[axes[0]], x_shape[axes[1]]
    return _resample_backward(_native(dout), (_Axis(ih), _Axis(iw)), False, h, w, last)
