"""Pure NumPy implementations of every fastcnn op, forward and backward.

Written to be read: this module is the oracle every native kernel is tested
against and the NumPy baseline in the benchmarks. It never touches the native
module; it shares only the argument normalisation in `fastcnn._shapes` with
`fastcnn.functional`, so the two can disagree about arithmetic but never about
what an argument means. Names and arguments are those of `fastcnn.functional`
(which follows `torch.nn.functional`); conv forward has no `algorithm`.

Conventions
-----------
* Layouts are channels-first: x is (N, C, H, W) for 2-D ops and (N, C, L) for
  1-D ops; conv weights are (C_out, C_in/groups, KH, KW) or (C_out, C_in/groups, K).
  Every 1-D op runs as the 2-D op with H = 1.
* Convolution is cross-correlation (no kernel flip), as in deep learning:
  out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] * xp[n, g*Cg + c, y*sh + i*dh, x*sw + j*dw]
  where xp is the zero-padded input and g the group of output channel o.
* dtypes: float32 and float64 are kept and computed in; any other real numeric
  dtype is converted to float32 (`_shapes.as_float_array`). Arrays that meet
  (x and w, dout and x) must share one dtype. Outputs are new arrays.
* Padding: an int; one int per spatial dim; explicit pairs ((top, bottom),
  (left, right)) (for 1-D ops a pair is (left, right)); 'valid'; 'same'
  (Keras/TensorFlow rule, any stride: output ceil(n / stride), the odd extra
  pad after). Pooling pads given explicitly must be at most kernel_size // 2.
* Pooling: stride defaults to kernel_size; output sizes follow PyTorch,
  ceil_mode included (`_shapes.pool_output_size`). Padded positions never win
  a max. Max: NaN counts as the maximum; ties go to the first maximum in
  row-major window order, and so do several NaNs in one window (PyTorch's CPU
  kernels pick the last NaN there; the value, NaN, is the same either way);
  indices are int64 flat indices into each H*W input plane (into each
  length-L row for 1-D ops). The backward pass sends each output's gradient
  to that first maximum. Average: PyTorch's
  divisor rule, see `_avg_divisor`.
* Global pools reduce every spatial position to one value per (n, c):
  (N, C) outputs, or (N, C, 1, 1) / (N, C, 1) with keepdims.

im2col and col2im
-----------------
im2col turns a convolution into one matrix product: for every output position
(n, y, x) it gathers the receptive field -- C_in/groups channels times KH*KW
kernel taps -- into one row of a matrix `cols` of shape
(N*OH*OW, Cg*KH*KW). Then out = cols @ w.reshape(C_out_g, -1).T per group.
Here `cols` is first a zero-copy strided view (N, C, OH, OW, KH, KW) of the
padded input (`sliding_window_view`); `np.tensordot` copies it into the matrix.
The weight gradient is the same product the other way round:
dw = dout^T @ cols. col2im is the adjoint of im2col: the column gradient
dcols = dout @ w is scattered back onto the input, adding up where receptive
fields overlap. We do it with one strided slice-add per kernel tap (i, j):
all outputs' tap (i, j) read disjoint input positions, so each slice-add is
a plain `+=`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._shapes import (
    ConvGeometry,
    PoolGeometry,
    as_float_array,
    channel_axis,
    channel_vector,
    conv_output_size,
    cross_entropy_target,
    dropout_rate,
    dropout_seed,
    fused_activation,
    non_empty,
    positive_tuple,
    same_float_dtype,
    same_shape,
    spatial_dims,
)

__all__ = [
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "conv_transpose1d",
    "conv_transpose1d_backward",
    "conv_transpose_output_size",
    "upsample2d",
    "upsample2d_backward",
    "pad2d",
    "pad2d_backward",
    "linear",
    "linear_backward",
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
    "batch_norm",
    "batch_norm_backward",
    "relu",
    "relu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "softmax",
    "softmax_backward",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "softmax_cross_entropy",
    "flip_images",
    "crop_images",
    "warp_affine",
    "adjust_images",
]


def _as_2d(a, d):
    """A 1-D op's (N, C, L) array as (N, C, 1, L); 2-D arrays unchanged."""
    return a[:, :, None, :] if d == 1 else a


def _from_2d(a, d):
    """Undo `_as_2d` on a result."""
    return np.ascontiguousarray(a[:, :, 0, :]) if d == 1 else a


# ----------------------------------------------------------------- convolution


def _im2col(xp, geo):
    """Receptive fields of every output position, as a strided view.

    xp is the zero-padded input (N, C, Hp, Wp); returns cols (N, C, OH, OW, KH, KW)
    with cols[n, c, y, x, i, j] = xp[n, c, y*sh + i*dh, x*sw + j*dw]. No copy.
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    windows = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return windows[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]


def _zero_pad(x2, pads):
    return np.pad(x2, ((0, 0), (0, 0)) + tuple(pads))


def _group_slices(geo, c_in, c_out):
    """(input-channel slice, output-channel slice) of each group."""
    cg, og = c_in // geo.groups, c_out // geo.groups
    return [(slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)) for g in range(geo.groups)]


def _conv_forward(x, w, b, stride, padding, dilation, groups, d):
    x, w = same_float_dtype(x=x, w=w)
    geo = ConvGeometry(x, w, stride, padding, dilation, groups, d)
    if b is not None:
        b = np.asarray(b)
        if b.dtype.kind not in "biuf":
            raise TypeError(f"b must be a real numeric array, got dtype {b.dtype}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},) to match w {w.shape}, got {b.shape}")
        b = b.astype(x.dtype, copy=False)
    x2, w2 = _as_2d(x, d), _as_2d(w, d)
    cols = _im2col(_zero_pad(x2, geo.pads), geo)  # (N, C_in, OH, OW, KH, KW) view
    out = np.empty((x.shape[0], w.shape[0]) + geo.out_hw, dtype=x.dtype)
    for cin, cout in _group_slices(geo, x.shape[1], w.shape[0]):
        # contract channels and taps: (N, OH, OW, C_out_g); tensordot builds the im2col matrix
        prod = np.tensordot(cols[:, cin], w2[cout], axes=([1, 4, 5], [1, 2, 3]))
        out[:, cout] = prod.transpose(0, 3, 1, 2)
    if b is not None:
        out += b[:, None, None]
    return _from_2d(out, d)


def _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, d):
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    geo = ConvGeometry(x, w, stride, padding, dilation, groups, d)
    if dout.shape != geo.out_shape:
        raise ValueError(
            f"dout must have the output shape {geo.out_shape} for x {x.shape} and "
            f"w {w.shape}, got {dout.shape}"
        )
    if isinstance(needs, str):
        needs = (needs,)
    unknown = set(needs) - {"x", "w", "b"}
    if unknown:
        raise ValueError(f"needs must name some of 'x', 'w', 'b', got {needs!r}")
    dout2, x2, w2 = _as_2d(dout, d), _as_2d(x, d), _as_2d(w, d)
    groups_ = _group_slices(geo, x.shape[1], w.shape[0])
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    (pt, pb), (pl, pr) = geo.pads
    h, wd = geo.in_hw
    dx = dw_ = db = None

    if "b" in needs:
        db = dout2.sum(axis=(0, 2, 3))

    if "w" in needs:
        # dw[o, c, i, j] = sum_{n,y,x} dout[n, o, y, x] * cols[n, c, y, x, i, j]
        cols = _im2col(_zero_pad(x2, geo.pads), geo)
        dw_ = np.empty(w2.shape, dtype=x.dtype)
        for cin, cout in groups_:
            dw_[cout] = np.tensordot(dout2[:, cout], cols[:, cin], axes=([0, 2, 3], [0, 2, 3]))
        dw_ = _from_2d(dw_, d)

    if "x" in needs:
        # col2im: dcols[c, i, j, n, y, x] = sum_o w[o, c, i, j] * dout[n, o, y, x], then
        # tap (i, j) of output (y, x) adds into padded input (y*sh + i*dh, x*sw + j*dw).
        dxp = np.zeros(x2.shape[:2] + (h + pt + pb, wd + pl + pr), dtype=x.dtype)
        for cin, cout in groups_:
            dcols = np.tensordot(w2[cout], dout2[:, cout], axes=([0], [1]))
            for i in range(kh):
                for j in range(kw):
                    rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
                    colsl = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
                    dxp[:, cin, rows, colsl] += dcols[:, i, j].transpose(1, 0, 2, 3)
        dx = _from_2d(np.ascontiguousarray(dxp[:, :, pt : pt + h, pl : pl + wd]), d)

    return dx, dw_, db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, NCHW: im2col view + one tensordot per group.

    Returns (N, C_out, H_out, W_out) with
    H_out = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1) / stride) + 1.
    """
    return _conv_forward(x, w, b, stride, padding, dilation, groups, 2)


def conv2d_backward(dout, x, w, stride=1, padding=0, dilation=1, groups=1, needs=("x", "w", "b")):
    """Gradients of conv2d: (dx, dw, db); entries not in `needs` are None.

    dx by col2im of dout @ w, dw by dout^T @ im2col(x), db = dout summed over N, H, W.
    """
    return _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, 2)


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation on (N, C, L) with weights (C_out, C_in/groups, K)."""
    return _conv_forward(x, w, b, stride, padding, dilation, groups, 1)


def conv1d_backward(dout, x, w, stride=1, padding=0, dilation=1, groups=1, needs=("x", "w", "b")):
    """Gradients of conv1d: (dx, dw, db); entries not in `needs` are None."""
    return _conv_backward(dout, x, w, stride, padding, dilation, groups, needs, 1)


# --------------------------------------------------------------------- pooling


class _PoolGeometry(PoolGeometry):
    """The shared pooling geometry, plus the padded view and window taps the
    NumPy formulation needs."""

    def padded(self, x2, value):
        """x2 padded with `value`: the given pads, and under ceil_mode enough more
        after the input that the last window fits."""
        extra = []
        for n, k, s, o, (before, after) in zip(self.in_hw, self.kernel, self.stride, self.out_hw, self.pads):
            extra.append((before, max(after, (o - 1) * s + k - n - before)))
        return np.pad(x2, ((0, 0), (0, 0)) + tuple(extra), constant_values=value)

    def taps(self):
        """(i, j, index) for every window tap in row-major order: padded[index]
        is the (N, C, OH, OW) array of tap (i, j) of every window."""
        (kh, kw), (sh, sw), (oh, ow) = self.kernel, self.stride, self.out_hw
        for i in range(kh):
            for j in range(kw):
                yield (
                    i,
                    j,
                    (
                        slice(None),
                        slice(None),
                        slice(i, i + (oh - 1) * sh + 1, sh),
                        slice(j, j + (ow - 1) * sw + 1, sw),
                    ),
                )

    def window_starts(self):
        """First input row (OH, 1) and column (1, OW) of every window, before clipping."""
        (sh, sw), (oh, ow) = self.stride, self.out_hw
        (pt, _), (pl, _) = self.pads
        return (np.arange(oh) * sh - pt)[:, None], (np.arange(ow) * sw - pl)[None, :]


def _max_pool_2d(x2, geo):
    """Running maximum over the window taps; returns (out, int64 indices)."""
    h, w = geo.in_hw
    xp = geo.padded(x2, -np.inf)  # -inf can never beat the running max
    row0, col0 = geo.window_starts()
    best = np.full(x2.shape[:2] + geo.out_hw, -np.inf, dtype=x2.dtype)
    # start on the window's first in-bounds element: the answer for all -inf windows
    idx = np.broadcast_to(np.maximum(row0, 0) * w + np.maximum(col0, 0), best.shape).astype(np.int64)
    for i, j, tap in geo.taps():
        val = xp[tap]
        take = (val > best) | (np.isnan(val) & ~np.isnan(best))  # strict: ties keep the first
        np.copyto(best, val, where=take)
        np.copyto(idx, np.broadcast_to((row0 + i) * w + (col0 + j), idx.shape), where=take)
    return best, idx


def _scatter_to_planes(dout, indices, in_shape):
    """dx with dout added at `indices` (flat into each input plane) of its plane."""
    n, c = in_shape[:2]
    plane = int(np.prod(in_shape[2:]))
    indices = indices.reshape(n * c, -1)
    if indices.size and (indices.min() < 0 or indices.max() >= plane):
        raise ValueError(
            f"indices must lie in [0, {plane}) (the flattened input plane), got "
            f"values from {indices.min()} to {indices.max()}"
        )
    dx = np.zeros((n * c, plane), dtype=dout.dtype)
    np.add.at(dx, (np.arange(n * c)[:, None], indices), dout.reshape(n * c, -1))
    return dx.reshape(in_shape)


def _avg_divisor(geo, count_include_pad, dtype):
    """Divisor of every window, (OH, OW), PyTorch's rule.

    Per dim: start = o*s - pad_before, end = min(start + k, n + pad_after),
    pool = end - start (padding included, the ceil_mode overhang not); the
    in-bounds count is min(end, n) - max(start, 0). count_include_pad divides
    by pool_h * pool_w, else by count_h * count_w.
    """
    sizes = []
    for n, k, s, o, (before, after) in zip(geo.in_hw, geo.kernel, geo.stride, geo.out_hw, geo.pads):
        start = np.arange(o) * s - before
        end = np.minimum(start + k, n + after)
        sizes.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return (sizes[0][:, None] * sizes[1][None, :]).astype(dtype)


def _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, d):
    x = as_float_array(x, "x")
    geo = _PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    out, idx = _max_pool_2d(_as_2d(x, d), geo)
    if return_indices:
        return _from_2d(out, d), _from_2d(idx, d)
    return _from_2d(out, d)


def _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    geo = _PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    geo.check_dout(dout)
    if indices is None:
        _, indices = _max_pool_2d(_as_2d(x, d), geo)
    else:
        indices = np.asarray(indices)
        if indices.shape != dout.shape:
            raise ValueError(f"indices must have dout's shape {dout.shape}, got {indices.shape}")
        if indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
        indices = indices.astype(np.int64, copy=False)
    return _scatter_to_planes(dout, indices, x.shape)


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, d):
    x = as_float_array(x, "x")
    geo = _PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    xp = geo.padded(_as_2d(x, d), 0)
    total = np.zeros(x.shape[:2] + geo.out_hw, dtype=x.dtype)
    for _, _, tap in geo.taps():
        total += xp[tap]
    return _from_2d(total / _avg_divisor(geo, count_include_pad, x.dtype), d)


def _avg_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    geo = _PoolGeometry(x, kernel_size, stride, padding, ceil_mode, d)
    geo.check_dout(dout)
    x2 = _as_2d(x, d)
    share = _as_2d(dout, d) / _avg_divisor(geo, count_include_pad, x.dtype)
    dxp = geo.padded(np.zeros_like(x2), 0)
    for _, _, tap in geo.taps():
        dxp[tap] += share
    (pt, _), (pl, _) = geo.pads
    h, w = geo.in_hw
    return _from_2d(np.ascontiguousarray(dxp[:, :, pt : pt + h, pl : pl + w]), d)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_indices=False):
    """Max over windows of (N, C, H, W); stride defaults to kernel_size.

    NaN counts as the maximum; ties go to the first maximum in row-major window
    order. With return_indices, also returns int64 indices into each flattened
    H*W input plane.
    """
    return _max_pool(x, kernel_size, stride, padding, ceil_mode, return_indices, 2)


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, indices=None):
    """Gradient of max_pool2d: each output's gradient goes to the first maximum
    of its window (recomputed unless the forward's `indices` are given)."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, indices, 2)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of (N, C, H, W); padding counts in the divisor when
    count_include_pad (PyTorch's rule, also under ceil_mode)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2)


def avg_pool2d_backward(
    dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
):
    """Gradient of avg_pool2d: dout / divisor spread over each window's in-bounds taps."""
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


def avg_pool1d_backward(
    dout, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
):
    """Gradient of avg_pool1d with respect to x."""
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad, 1)


# -------------------------------------------------------------- global pooling


def _planes(x, d):
    """x as (N*C, spatial) rows, one row per input plane."""
    spatial_dims(x, d, "x")
    if x.size == 0:
        raise ValueError(f"x must have positive sizes, got shape {x.shape}")
    return x.reshape(x.shape[0] * x.shape[1], -1)


def _global_dout(dout, x, d):
    """dout, given as (N, C) or (N, C, 1[, 1]), as a flat (N*C,) vector."""
    n, c = x.shape[:2]
    keepdims_shape = (n, c) + (1,) * d
    if dout.shape not in ((n, c), keepdims_shape):
        raise ValueError(
            f"dout must have shape {(n, c)} or {keepdims_shape} for x {x.shape}, got {dout.shape}"
        )
    return dout.reshape(n * c)


def _pooled_shape(x, keepdims, d):
    return x.shape[:2] + (1,) * d if keepdims else x.shape[:2]


def _global_avg(x, keepdims, d):
    x = as_float_array(x, "x")
    return _planes(x, d).mean(axis=1).reshape(_pooled_shape(x, keepdims, d))


def _global_avg_backward(dout, x, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    rows = _planes(x, d)
    share = _global_dout(dout, x, d) / rows.shape[1]
    return np.repeat(share[:, None], rows.shape[1], axis=1).reshape(x.shape)


def _global_max(x, keepdims, return_indices, d):
    x = as_float_array(x, "x")
    rows = _planes(x, d)
    idx = np.argmax(rows, axis=1)  # first maximum; the first NaN if any
    out = rows[np.arange(rows.shape[0]), idx]
    shape = _pooled_shape(x, keepdims, d)
    if return_indices:
        return out.reshape(shape), idx.astype(np.int64).reshape(shape)
    return out.reshape(shape)


def _global_max_backward(dout, x, indices, d):
    dout, x = same_float_dtype(dout=dout, x=x)
    rows = _planes(x, d)
    flat_dout = _global_dout(dout, x, d)
    if indices is None:
        indices = np.argmax(rows, axis=1)
    else:
        indices = np.asarray(indices)
        if indices.size != flat_dout.size or indices.dtype.kind not in "iu":
            raise ValueError(
                f"indices must be integers shaped like dout {dout.shape}, got {indices.dtype} {indices.shape}"
            )
        indices = indices.astype(np.int64, copy=False)
    return _scatter_to_planes(flat_dout, indices, x.shape)


def global_avg_pool2d(x, keepdims=False):
    """Mean over H and W: (N, C) (or (N, C, 1, 1) with keepdims)."""
    return _global_avg(x, keepdims, 2)


def global_avg_pool2d_backward(dout, x):
    """Gradient of global_avg_pool2d; dout is (N, C) or (N, C, 1, 1)."""
    return _global_avg_backward(dout, x, 2)


def global_max_pool2d(x, keepdims=False, return_indices=False):
    """Max over H and W: (N, C); indices into each flattened H*W plane
    (first maximum, NaN counts as the maximum)."""
    return _global_max(x, keepdims, return_indices, 2)


def global_max_pool2d_backward(dout, x, indices=None):
    """Gradient of global_max_pool2d (to the first maximum of each plane)."""
    return _global_max_backward(dout, x, indices, 2)


def global_avg_pool1d(x, keepdims=False):
    """Mean over L: (N, C) (or (N, C, 1) with keepdims)."""
    return _global_avg(x, keepdims, 1)


def global_avg_pool1d_backward(dout, x):
    """Gradient of global_avg_pool1d; dout is (N, C) or (N, C, 1)."""
    return _global_avg_backward(dout, x, 1)


def global_max_pool1d(x, keepdims=False, return_indices=False):
    """Max over L: (N, C); indices into each length-L row."""
    return _global_max(x, keepdims, return_indices, 1)


def global_max_pool1d_backward(dout, x, indices=None):
    """Gradient of global_max_pool1d (to the first maximum of each row)."""
    return _global_max_backward(dout, x, indices, 1)


# ---------------------------------------------------------------------- linear


def linear(x, w, b=None):
    """x (N, in) @ w (in, out) + b."""
    x, w = same_float_dtype(x=x, w=w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"x {x.shape} and w {w.shape} must be (N, in) and (in, out)")
    y = x @ w
    return y if b is None else y + np.asarray(b, dtype=y.dtype)


def linear_backward(dout, x, w, needs=("x", "w", "b")):
    """(dx, dw, db) = (dout @ w^T, x^T @ dout, sum of dout over the batch)."""
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    return (
        dout @ w.T if "x" in needs else None,
        x.T @ dout if "w" in needs else None,
        dout.sum(axis=0) if "b" in needs else None,
    )


# ------------------------------------------------------- batch normalisation


def _per_channel(v, x, axis):
    """A per-channel vector shaped to broadcast against x along `axis`."""
    shape = [1] * x.ndim
    shape[axis] = -1
    return np.asarray(v).reshape(shape)


def _activate(z, activation, negative_slope):
    if activation == "relu":
        return np.where(z < 0, z.dtype.type(0), z)
    if activation == "leaky_relu":
        return np.where(z < 0, z * z.dtype.type(negative_slope), z)
    return z


def _activation_gradient(dz, z, activation, negative_slope):
    """dz times the derivative of the activation at pre-activation z."""
    if activation == "relu":
        return np.where(z > 0, dz, dz.dtype.type(0))
    if activation == "leaky_relu":
        return np.where(z > 0, dz, dz * dz.dtype.type(negative_slope))
    return dz


def batch_norm(
    x,
    gamma=None,
    beta=None,
    moving_mean=None,
    moving_variance=None,
    training=False,
    momentum=0.99,
    epsilon=1e-3,
    axis=1,
    activation=None,
    negative_slope=0.0,
    return_stats=False,
    out=None,
):
    """act(gamma * (x - mean) / sqrt(var + epsilon) + beta) over every axis but `axis`
    (Keras' rules; see fastcnn.functional.batch_norm)."""
    x = as_float_array(x, "x")
    axis = channel_axis(x, axis)
    activation, negative_slope = fused_activation(activation, negative_slope)
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    c = x.shape[axis]
    if training:
        if x.size == 0:
            raise ValueError(f"x holds no values to take batch statistics of: shape {x.shape}")
        mean = x.astype(np.float64).mean(axis=reduce)
        var = x.astype(np.float64).var(axis=reduce)
        if moving_mean is not None:
            moving_mean *= momentum
            moving_mean += (1 - momentum) * mean.astype(moving_mean.dtype)
        if moving_variance is not None:
            moving_variance *= momentum
            moving_variance += (1 - momentum) * var.astype(moving_variance.dtype)
    else:
        if moving_mean is None or moving_variance is None:
            raise ValueError("inference (training=False) needs moving_mean and moving_variance")
        mean = channel_vector(moving_mean, c, "moving_mean", np.float64, 0)
        var = channel_vector(moving_variance, c, "moving_variance", np.float64, 1)
    inv_std = 1 / np.sqrt(var + epsilon)
    gamma = channel_vector(gamma, c, "gamma", np.float64, 1)
    beta = channel_vector(beta, c, "beta", np.float64, 0)
    xhat = (x - _per_channel(mean, x, axis)) * _per_channel(inv_std, x, axis)
    z = (xhat * _per_channel(gamma, x, axis) + _per_channel(beta, x, axis)).astype(x.dtype)
    y = _activate(z, activation, negative_slope)
    if out is not None:
        out[...] = y
        y = out
    return (y, (mean, inv_std)) if return_stats else y


def batch_norm_backward(
    dout,
    x,
    gamma,
    beta,
    mean,
    inv_std,
    training=True,
    axis=1,
    activation=None,
    negative_slope=0.0,
    needs=("x", "gamma", "beta"),
    out=None,
):
    """(dx, dgamma, dbeta) of batch_norm, written out:

    dz = dout * act'(z),  xhat = (x - mean) * inv_std
    dgamma = sum dz * xhat,  dbeta = sum dz          (over every axis but `axis`)
    inference: dx = gamma * inv_std * dz
    training (mean and var are functions of x too):
        dx = gamma * inv_std * (dz - mean(dz) - xhat * mean(dz * xhat))
    """
    dout, x = same_float_dtype(dout=dout, x=x)
    same_shape(dout, "dout", x, "x")
    axis = channel_axis(x, axis)
    activation, negative_slope = fused_activation(activation, negative_slope)
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    c = x.shape[axis]
    gamma = channel_vector(gamma, c, "gamma", np.float64, 1)
    beta = channel_vector(beta, c, "beta", np.float64, 0)
    mean = channel_vector(mean, c, "mean", np.float64, 0)
    inv_std = channel_vector(inv_std, c, "inv_std", np.float64, 1)
    xhat = (x.astype(np.float64) - _per_channel(mean, x, axis)) * _per_channel(inv_std, x, axis)
    z = xhat * _per_channel(gamma, x, axis) + _per_channel(beta, x, axis)
    dz = _activation_gradient(dout.astype(np.float64), z, activation, negative_slope)
    dgamma = (dz * xhat).sum(axis=reduce).astype(x.dtype) if "gamma" in needs else None
    dbeta = dz.sum(axis=reduce).astype(x.dtype) if "beta" in needs else None
    dx = None
    if "x" in needs:
        scale = _per_channel(gamma * np.asarray(inv_std), x, axis)
        if training:
            dz = (
                dz - dz.mean(axis=reduce, keepdims=True) - xhat * (dz * xhat).mean(axis=reduce, keepdims=True)
            )
        dx = (scale * dz).astype(x.dtype)
        if out is not None:
            out[...] = dx
            dx = out
    return dx, dgamma, dbeta


# --------------------------------------------------------------- activations


def _into(out, value):
    if out is None:
        return value
    out[...] = value
    return out


def relu(x, out=None):
    x = as_float_array(x, "x")
    return _into(out, np.where(x < 0, x.dtype.type(0), x))  # NaN stays NaN


def relu_backward(dout, y, out=None):
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    return _into(out, np.where(y > 0, dout, dout.dtype.type(0)))


def leaky_relu(x, negative_slope=0.01, out=None):
    x = as_float_array(x, "x")
    negative_slope = fused_activation("leaky_relu", negative_slope)[1]
    return _into(out, np.where(x < 0, x * x.dtype.type(negative_slope), x))


def leaky_relu_backward(dout, y, negative_slope=0.01, out=None):
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    negative_slope = fused_activation("leaky_relu", negative_slope)[1]
    return _into(out, np.where(y > 0, dout, dout * dout.dtype.type(negative_slope)))


def sigmoid(x, out=None):
    x = as_float_array(x, "x")
    with np.errstate(invalid="ignore"):  # NaN in, NaN out
        return _into(out, np.exp(-np.logaddexp(0, -x)).astype(x.dtype))  # 1/(1+e^-x), no overflow


def sigmoid_backward(dout, y, out=None):
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    return _into(out, dout * y * (1 - y))


def tanh(x, out=None):
    x = as_float_array(x, "x")
    return _into(out, np.tanh(x))


def tanh_backward(dout, y, out=None):
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    return _into(out, dout * (1 - y * y))


def softmax(x, axis=-1, out=None):
    x = as_float_array(x, "x")
    non_empty(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return _into(out, e / e.sum(axis=axis, keepdims=True))


def softmax_backward(dout, y, axis=-1, out=None):
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    non_empty(y, "y")
    return _into(out, y * (dout - np.sum(dout * y, axis=axis, keepdims=True)))


# ------------------------------------------------------------------- dropout

_MASK64 = (1 << 64) - 1


def dropout_mask(shape, rate, seed):
    """Which values dropout(x, rate, seed) keeps: value i (in C order) is kept
    when the high 32 bits of splitmix64's i-th output from state `seed` are
    at least rate * 2**32 (so with probability 1 - rate)."""
    rate, seed = dropout_rate(rate), dropout_seed(seed)
    i = np.arange(1, int(np.prod(shape)) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    threshold = np.uint64(int(np.ldexp(rate, 32)))
    return ((z >> np.uint64(32)) >= threshold).reshape(shape)


def dropout(x, rate, seed, training=True, out=None):
    x = as_float_array(x, "x")
    rate = dropout_rate(rate)
    if not training or rate == 0:
        return x
    scale = x.dtype.type(1 / (1 - rate))
    return _into(out, x * np.where(dropout_mask(x.shape, rate, seed), scale, x.dtype.type(0)))


def dropout_backward(dout, rate, seed, out=None):
    return dropout(dout, rate, seed, training=True, out=out)


def softmax_cross_entropy(logits, target, return_grad=True):
    """Mean over rows of -log softmax(logits)[target], and d/dlogits of it."""
    logits = as_float_array(logits, "logits")
    is_labels, t = cross_entropy_target(logits, target)
    x = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    if is_labels:
        labels = t.reshape(-1)
        valid = (labels >= 0) & (labels < x.shape[1])
        t = np.zeros_like(x)
        t[np.arange(len(x))[valid], labels[valid]] = 1
        nan_rows = ~valid
    else:
        t = t.reshape(x.shape).astype(np.float64)
        nan_rows = np.zeros(len(x), bool)
    shifted = x - x.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    if is_labels:
        # the target's own term only: a -inf logit of another class has
        # probability 0 and adds nothing (0 * -inf would be NaN)
        rows = np.arange(len(x))[valid]
        losses = np.full(len(x), np.nan)
        losses[rows] = -log_softmax[rows, labels[valid]]
    else:
        losses = -(t * log_softmax).sum(axis=1)
    losses[nan_rows] = np.nan
    grad = None
    if return_grad:
        grad = (np.exp(log_softmax) * t.sum(axis=1, keepdims=True) - t) / len(x)
        grad[nan_rows] = np.nan  # a label outside the classes: no loss to differentiate
        grad = grad.astype(logits.dtype).reshape(logits.shape)
    return float(losses.mean()), grad


# ------------------------------------------------------------ transposed convolution


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution, NCHW, w (C_in, C_out/groups, KH, KW), written as
    its definition: every input value scatters w's taps into the output at
    (i * stride - pad_before + kh * dilation, j * stride - pad_left + kw * dilation)."""
    from .transpose import _geometry, _output_padding, _pads, conv_transpose_output_size

    _geometry(x, w, stride, padding, output_padding, groups, dilation, 2, "channels_first")  # argument checks
    x, w = same_float_dtype(x=x, w=w)
    dtype = x.dtype
    n, c_in, h, w_in = x.shape
    _, c_out_g, kh, kw = w.shape
    stride, dilation = positive_tuple(stride, 2, "stride"), positive_tuple(dilation, 2, "dilation")
    (pt, pb), (pl, pr) = _pads(padding, 2)
    oh_pad, ow_pad = _output_padding(output_padding, stride, 2)
    out_h = conv_transpose_output_size(h, kh, stride[0], pt, pb, dilation[0], oh_pad)
    out_w = conv_transpose_output_size(w_in, kw, stride[1], pl, pr, dilation[1], ow_pad)
    per_group = c_in // groups
    # a canvas with room for every tap, cropped to the output at the end
    full_h = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + oh_pad
    full_w = (w_in - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + ow_pad
    canvas = np.zeros((n, c_out_g * groups, max(full_h, pt + out_h), max(full_w, pl + out_w)), dtype)
    for g in range(groups):
        xg = x[:, g * per_group : (g + 1) * per_group]
        wg = w[g * per_group : (g + 1) * per_group]
        for i in range(kh):
            for j in range(kw):
                contribution = np.einsum("nchw,cd->ndhw", xg, wg[:, :, i, j])
                y0, x0 = i * dilation[0], j * dilation[1]
                canvas[
                    :,
                    g * c_out_g : (g + 1) * c_out_g,
                    y0 : y0 + (h - 1) * stride[0] + 1 : stride[0],
                    x0 : x0 + (w_in - 1) * stride[1] + 1 : stride[1],
                ] += contribution
    y = canvas[:, :, pt : pt + out_h, pl : pl + out_w]
    if b is not None and np.shape(b) != (c_out_g * groups,):
        raise ValueError(
            f"b must have shape ({c_out_g * groups},) for w {w.shape} and groups={groups}, got {np.shape(b)}"
        )
    if b is not None:
        y = y + np.asarray(b, dtype).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y)


def conv_transpose1d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution, (N, C_in, L) with w (C_in, C_out/groups, K): the 2-D one with H = 1."""
    from .transpose import _pads

    (pads,) = _pads(padding, 1)
    stride, dilation, output_padding = (_one(v) for v in (stride, dilation, output_padding))
    y = conv_transpose2d(
        np.asarray(x)[:, :, None, :],
        np.asarray(w)[:, :, None, :],
        b,
        (1, stride),
        ((0, 0), pads),
        (0, output_padding),
        groups,
        (1, dilation),
    )
    return y[:, :, 0, :]


def _one(v):
    return v[0] if isinstance(v, (list, tuple)) else v


def conv_transpose2d_backward(
    dout, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1, needs=("x", "w", "b")
):
    """Gradients of conv_transpose2d: dx is the convolution of dout with w, dw the weight
    gradient of that convolution with x as its output gradient, db dout's channel sums."""
    from .transpose import _pads

    if isinstance(needs, str):
        needs = (needs,)
    dout, x, w = same_float_dtype(dout=dout, x=x, w=w)
    expected = conv_transpose2d(x, w, None, stride, padding, output_padding, groups, dilation).shape
    if dout.shape != expected:
        raise ValueError(f"dout must have the output shape {expected}, got {dout.shape}")
    pads = _pads(padding, 2)
    dx = conv2d(dout, w, None, stride, pads, dilation, groups) if "x" in needs else None
    dw = (
        conv2d_backward(x, dout, w, stride, pads, dilation, groups, needs=("w",))[1] if "w" in needs else None
    )
    db = np.sum(dout, axis=(0, 2, 3)) if "b" in needs else None
    return dx, dw, db


def conv_transpose1d_backward(
    dout, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1, needs=("x", "w", "b")
):
    """Gradients of conv_transpose1d (the 2-D ones with H = 1)."""
    from .transpose import _pads

    (pads,) = _pads(padding, 1)
    dx, dw, db = conv_transpose2d_backward(
        np.asarray(dout)[:, :, None, :],
        np.asarray(x)[:, :, None, :],
        np.asarray(w)[:, :, None, :],
        (1, _one(stride)),
        ((0, 0), pads),
        (0, _one(output_padding)),
        groups,
        (1, _one(dilation)),
        needs,
    )
    return (None if dx is None else dx[:, :, 0, :]), (None if dw is None else dw[:, :, 0, :]), db


def conv_transpose_output_size(n, kernel, stride=1, pad_before=0, pad_after=0, dilation=1, output_padding=0):
    """(n - 1) * stride - pads + dilation * (kernel - 1) + output_padding + 1."""
    from .transpose import conv_transpose_output_size as size

    return size(n, kernel, stride, pad_before, pad_after, dilation, output_padding)


def _channels_first_view(a, data_format):
    return np.moveaxis(a, -1, 1) if data_format == "channels_last" else a


def _back_to_layout(a, data_format):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1) if data_format == "channels_last" else a)


def upsample2d(x, scale_factor=2, mode="nearest", align_corners=False, data_format="channels_first"):
    """Each output pixel from its definition: nearest copies input (o // s); bilinear
    mixes the two nearest rows and columns at the source coordinate."""
    from .resize import _layout, _upsample_args

    x = as_float_array(x, "x")
    _layout(x, data_format)
    sh, sw = _upsample_args(scale_factor, mode, align_corners)
    first = _channels_first_view(x, data_format)
    n, c, h, w = first.shape
    out = np.empty((n, c, h * sh, w * sw), x.dtype)
    for oy in range(h * sh):
        for ox in range(w * sw):
            if mode == "nearest":
                out[:, :, oy, ox] = first[:, :, oy // sh, ox // sw]
                continue
            value = 0
            for iy, fy in _taps(oy, h, sh, align_corners):
                for ix, fx in _taps(ox, w, sw, align_corners):
                    value = value + fy * fx * first[:, :, iy, ix].astype(np.float64)
            out[:, :, oy, ox] = value
    return _back_to_layout(out, data_format)


def _taps(o, n, scale, align_corners):
    if align_corners:
        src = o * (n - 1) / (n * scale - 1) if n * scale > 1 else 0.0
    else:
        src = max((o + 0.5) / scale - 0.5, 0.0)
    lo = min(int(np.floor(src)), n - 1)
    hi = min(lo + 1, n - 1)
    return [(lo, 1 - (src - lo)), (hi, src - lo)]


def upsample2d_backward(
    dout, x_shape, scale_factor=2, mode="nearest", align_corners=False, data_format="channels_first"
):
    """The adjoint of upsample2d: each output gradient added back to the inputs it read."""
    from .resize import _layout, _upsample_args

    dout = as_float_array(dout, "dout")
    _layout(dout, data_format, "dout")
    sh, sw = _upsample_args(scale_factor, mode, align_corners)
    first = _channels_first_view(dout, data_format)
    shape = tuple(x_shape)
    n, c, h, w = _channels_first_view(np.empty(shape, np.uint8), data_format).shape
    if first.shape != (n, c, h * sh, w * sw):
        raise ValueError(f"dout must have the upsampled shape for x {shape}, got {dout.shape}")
    dx = np.zeros((n, c, h, w), np.float64)
    for oy in range(h * sh):
        for ox in range(w * sw):
            g = first[:, :, oy, ox]
            if mode == "nearest":
                dx[:, :, oy // sh, ox // sw] += g
                continue
            for iy, fy in _taps(oy, h, sh, align_corners):
                for ix, fx in _taps(ox, w, sw, align_corners):
                    dx[:, :, iy, ix] += fy * fx * g
    return _back_to_layout(dx.astype(dout.dtype), data_format)


def pad2d(x, padding, mode="constant", value=0.0, data_format="channels_first"):
    """np.pad of H and W ('replicate' is NumPy's 'edge')."""
    from .resize import PAD_MODES, _layout, _pad_pairs

    x = as_float_array(x, "x")
    _layout(x, data_format)
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {PAD_MODES}, got {mode!r}")
    pairs = _pad_pairs(padding)
    first = _channels_first_view(x, data_format)
    if mode == "reflect" and any(max(p) >= n for p, n in zip(pairs, first.shape[2:])):
        raise ValueError(f"reflect padding {pairs} must be below the sizes {first.shape[2:]}")
    spec = ((0, 0), (0, 0)) + tuple(pairs)
    if mode == "constant":
        out = np.pad(first, spec, mode="constant", constant_values=value)
    else:
        out = np.pad(first, spec, mode={"reflect": "reflect", "replicate": "edge"}[mode])
    return _back_to_layout(out, data_format)


def pad2d_backward(dout, x_shape, padding, mode="constant", data_format="channels_first"):
    """The adjoint of pad2d: each output gradient added to the input element it copies
    (found by padding a grid of the input's indices the same way)."""
    from .resize import _layout

    dout = as_float_array(dout, "dout")
    _layout(dout, data_format, "dout")
    n, c, h, w = _channels_first_view(np.empty(tuple(x_shape), np.uint8), data_format).shape
    index = np.arange(h * w, dtype=np.float64).reshape(1, 1, h, w)
    source = pad2d(index, padding, mode, -1.0)[0, 0].astype(np.int64)
    d = _channels_first_view(dout, data_format)
    if d.shape != (n, c) + source.shape:
        raise ValueError(f"dout must have the padded shape for x {tuple(x_shape)}, got {dout.shape}")
    dx = np.zeros((n, c, h * w), dout.dtype)
    for (i, j), k in np.ndenumerate(source):
        if k >= 0:
            dx[:, :, k] += d[:, :, i, j]
    return _back_to_layout(dx.reshape(n, c, h, w), data_format)


# ------------------------------------------------------------------ augmentation
# Each image with its own parameters, as fastcnn.augment's ops; conventions
# (affine maps from output pixel to source point, fill modes) in augment.py.


def flip_images(x, flags, data_format="channels_first"):
    """Image n reversed along W where flags[n] & 1, along H where flags[n] & 2."""
    from .augment import _flip_flags, _images

    x, _ = _images(x, data_format)
    flags = _flip_flags(flags, len(x))
    first = _channels_first_view(x, data_format)
    out = first.copy()
    for n, f in enumerate(flags):
        if f & 1:
            out[n] = out[n, :, :, ::-1]
        if f & 2:
            out[n] = out[n, :, ::-1, :]
    return _back_to_layout(out, data_format)


def crop_images(x, corners, size, fill_value=0.0, data_format="channels_first"):
    """Pad every image by enough fill_value to hold each window, then slice it."""
    from .augment import _images, _pair, _per_image

    x, _ = _images(x, data_format)
    first = _channels_first_view(x, data_format)
    height, width = (int(s) for s in _pair(size, "size"))
    _, _, h, w = first.shape
    corners = _per_image(corners, "corners", len(first), np.int64, 2)
    pad = int(
        max(
            0,
            -corners.min(initial=0),
            (corners[:, 0] + height - h).max(initial=0),
            (corners[:, 1] + width - w).max(initial=0),
        )
    )
    padded = np.pad(first, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill_value)
    out = (
        np.stack(
            [
                padded[n, :, t + pad : t + pad + height, left + pad : left + pad + width]
                for n, (t, left) in enumerate(corners)
            ]
        )
        if len(first)
        else np.empty((0, first.shape[1], height, width), x.dtype)
    )
    return _back_to_layout(out.astype(x.dtype), data_format)


def _fill_coordinates(u, size, fill_mode):
    """Source coordinates mapped into [0, size - 1] by the fill mode: points
    inside stay as they are, constant leaves every point; outside points are
    first bounded by +-1e12, then folded with period size (wrap) or 2 * size
    (reflect, mirrored in the second half) on the half-pixel grid."""
    if fill_mode == "constant":
        return u
    inside = (u >= 0) & (u <= size - 1)
    v = np.clip(u, -1e12, 1e12) + 0.5
    if fill_mode == "nearest":
        mapped = np.where(u < 0, 0.0, size - 1.0)
    elif fill_mode == "wrap":
        mapped = np.clip(v - size * np.floor(v / size) - 0.5, 0, size - 1)
    else:
        v = v - 2 * size * np.floor(v / (2 * size))
        mapped = np.clip(np.where(v >= size, 2 * size - v, v) - 0.5, 0, size - 1)
    return np.where(inside, u, mapped)


def _warp_taps(maps, h, w, height, width, interpolation, fill_mode):
    """For every image and output pixel: the source point (sy, sx) after the
    fill mode, and its taps' rows, columns and weights, (N, taps, height, width)."""
    ys, xs = np.meshgrid(
        np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij"
    )
    m = np.asarray(maps, np.float64)[:, :, None, None]
    sx = _fill_coordinates(m[:, 0] * xs + m[:, 1] * ys + m[:, 2], w, fill_mode)
    sy = _fill_coordinates(m[:, 3] * xs + m[:, 4] * ys + m[:, 5], h, fill_mode)
    if interpolation == "nearest":
        return sy, sx, np.rint(sy)[:, None], np.rint(sx)[:, None], np.ones_like(sx)[:, None]
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    rows = np.stack([y0, y0, y0 + 1, y0 + 1], axis=1)
    cols = np.stack([x0, x0 + 1, x0, x0 + 1], axis=1)
    weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
    return sy, sx, rows, cols, weights


def warp_affine(
    x,
    maps,
    size=None,
    interpolation="bilinear",
    fill_mode="reflect",
    fill_value=0.0,
    data_format="channels_first",
):
    """Each output pixel as the weighted sum of its source taps, fill_value for a
    tap outside the image; a nearest tap outside, or a bilinear point outside
    (-1, size) on either axis, gives fill_value alone."""
    from .augment import _check_choice, _check_samplable, _images, _per_image, image_size

    x, _ = _images(x, data_format)
    _check_samplable(x, data_format)
    _check_choice(interpolation, ("bilinear", "nearest"), "interpolation")
    _check_choice(fill_mode, ("reflect", "wrap", "nearest", "constant"), "fill_mode")
    first = _channels_first_view(x, data_format)
    n, c, h, w = first.shape
    maps = _per_image(maps, "maps", n, np.float64, 6)
    height, width = image_size(x, data_format) if size is None else (int(s) for s in size)
    sy, sx, rows, cols, weights = _warp_taps(maps, h, w, height, width, interpolation, fill_mode)
    inside = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    r = np.clip(rows, 0, h - 1).astype(np.int64)
    k = np.clip(cols, 0, w - 1).astype(np.int64)
    images = np.arange(n)[:, None, None, None]
    out = np.zeros((n, c, height, width), np.float64)
    for ch in range(c):
        values = np.where(inside, first[images, ch, r, k], fill_value)
        out[:, ch] = (weights * values).sum(axis=1)
    if interpolation == "bilinear":
        near = (sx > -1) & (sx < w) & (sy > -1) & (sy < h)
        out = np.where(near[:, None], out, fill_value)
    return _back_to_layout(out.astype(x.dtype), data_format)


def adjust_images(x, contrast=None, brightness=None, value_range=None, data_format="channels_first"):
    """(x - per-image channel mean) * contrast + mean + brightness, clipped to value_range."""
    from .augment import _images, _per_image_or_scalar

    x, _ = _images(x, data_format)
    first = _channels_first_view(x, data_format).astype(np.float64)
    n = len(first)
    c = _per_image_or_scalar(contrast, "contrast", n, 1.0)[:, None, None, None]
    b = _per_image_or_scalar(brightness, "brightness", n, 0.0)[:, None, None, None]
    mean = first.mean(axis=(2, 3), keepdims=True) if first.size else first.sum(axis=(2, 3), keepdims=True)
    # x * c + mean * (1 - c) + b, the mean left out where the contrast stays 1
    # (so a NaN elsewhere in the image does not reach its other pixels)
    out = first * c + (np.where(c == 1, 0.0, mean * (1 - c)) + b)
    if value_range is not None:
        out = np.clip(out, *value_range)
    return _back_to_layout(out.astype(x.dtype), data_format)
