"""Batch normalisation, activations, softmax, dropout and softmax
cross-entropy on NumPy arrays, computed by the native core (threaded,
vectorised). `fastcnn.functional` re-exports every name here;
`fastcnn.reference` has a NumPy twin of each, the oracle of the tests.

Conventions (as in `fastcnn.functional`): float32 and float64 are computed
natively, other real dtypes become float32; non-contiguous input is copied.
Every op takes `out=`: an array of the result's shape and dtype to write
into (it may be the input itself for the elementwise ops), so a training
loop can reuse its buffers; without it the result is a new array.

Batch normalisation follows Keras: the channel is `axis` (1 for
channels-first (N, C, ...), -1 for channels-last), the batch variance is the
biased one, moving = momentum * moving + (1 - momentum) * batch. The forward
pass returns the batch `mean` and `inv_std` = 1 / sqrt(var + epsilon) the
backward pass needs (training) or uses the moving ones (inference). An
activation ('relu', 'leaky_relu') can be fused: y = act(BN(x)) in one pass,
and the backward pass applies its derivative while reading dout.

Activation backwards take the forward's *output* y (all of these
derivatives are functions of it), so no mask needs keeping.

Dropout's mask is a function of (seed, element index) only (a counter-based
generator, splitmix64): the same seed gives the same mask on any thread
count, and the backward pass recomputes it instead of storing it.
"""

from __future__ import annotations

import math

import numpy as np

from . import _C
from ._paths import reference_active
from ._shapes import (
    as_float_array,
    channel_axis,
    channel_vector,
    cross_entropy_target,
    dropout_rate,
    dropout_seed,
    fused_activation,
    non_empty,
    same_float_dtype,
    same_shape,
)

__all__ = [
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
    "softmax_cross_entropy",
]


def _contiguous(a):
    """C-contiguous and element-aligned (a view at an odd byte offset is copied)."""
    flags = a.flags
    return a if flags.c_contiguous and flags.aligned else np.require(a, requirements=("C", "A"))


def _channel_view(a, axis):
    """a (C-contiguous) as (outer, channels, inner) around `axis`."""
    return a.reshape(math.prod(a.shape[:axis]), a.shape[axis], math.prod(a.shape[axis + 1 :]))


def _out_flat(out, like, shape=None):
    """`out` checked against the result `like` and reshaped to `shape` (a view)."""
    if out is None:
        return None
    if (
        not isinstance(out, np.ndarray)
        or out.shape != like.shape
        or out.dtype != like.dtype
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise ValueError(
            f"out must be a writeable, C-contiguous {like.dtype} array of shape "
            f"{like.shape}, got " + (f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else repr(out))
        )
    return out.reshape(-1 if shape is None else shape)


def _scale_shift(gamma, beta, mean, inv_std, dtype):
    """Per-channel y = x * scale + shift of BN, computed in float64 then cast."""
    scale = np.asarray(gamma, np.float64) * inv_std
    shift = np.asarray(beta, np.float64) - np.asarray(mean, np.float64) * scale
    return scale.astype(dtype), shift.astype(dtype)


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
    """act(gamma * (x - mean) / sqrt(var + epsilon) + beta) per channel of `axis`.

    training=True normalises by the batch's mean and (biased) variance and
    updates moving_mean / moving_variance in place when given; training=False
    uses the moving statistics (required then). gamma=None means 1, beta=None 0.
    Returns y, or (y, (mean, inv_std)) with return_stats=True: the
    statistics used, as float64 vectors, for `batch_norm_backward`.
    """
    x = _contiguous(as_float_array(x, "x"))
    axis = channel_axis(x, axis)
    act, slope = fused_activation(activation, negative_slope)
    c = x.shape[axis]
    x3 = _channel_view(x, axis)
    if training:
        if x.size == 0:
            raise ValueError(f"x holds no values to take batch statistics of: shape {x.shape}")
        mean, var = _C.batch_norm_moments(x3)
        for moving, batch in ((moving_mean, mean), (moving_variance, var)):
            if moving is not None:
                if np.shape(moving) != (c,):
                    raise ValueError(
                        f"moving statistics must have shape ({c},) (x's channels), got {np.shape(moving)}"
                    )
                moving *= momentum
                moving += (1 - momentum) * batch.astype(moving.dtype)
    else:
        if moving_mean is None or moving_variance is None:
            raise ValueError("inference (training=False) needs moving_mean and moving_variance")
        mean = channel_vector(moving_mean, c, "moving_mean", np.float64, 0)
        var = channel_vector(moving_variance, c, "moving_variance", np.float64, 1)
    inv_std = 1 / np.sqrt(var + epsilon)
    scale, shift = _scale_shift(
        channel_vector(gamma, c, "gamma", x.dtype, 1),
        channel_vector(beta, c, "beta", x.dtype, 0),
        mean,
        inv_std,
        x.dtype,
    )
    y = _C.batch_norm_apply(x3, scale, shift, act, slope, _out_flat(out, x, x3.shape)).reshape(x.shape)
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
    """(dx, dgamma, dbeta) of `batch_norm` (None for what `needs` leaves out).

    mean and inv_std are the statistics the forward pass used (its
    return_stats); training says whether they were the batch's own (then dx
    flows through them too) or the moving ones.
    """
    dout, x = same_float_dtype(dout=dout, x=x)
    same_shape(dout, "dout", x, "x")
    dout, x = _contiguous(dout), _contiguous(x)
    axis = channel_axis(x, axis)
    act, slope = fused_activation(activation, negative_slope)
    c = x.shape[axis]
    gamma_ = channel_vector(gamma, c, "gamma", np.float64, 1)
    mean = channel_vector(mean, c, "mean", np.float64, 0)
    inv_std = channel_vector(inv_std, c, "inv_std", np.float64, 1)
    scale, shift = _scale_shift(
        gamma_.astype(x.dtype), channel_vector(beta, c, "beta", x.dtype, 0), mean, inv_std, x.dtype
    )
    x3, d3 = _channel_view(x, axis), _channel_view(dout, axis)
    need_dx, need_dgamma, need_dbeta = ("x" in needs), ("gamma" in needs), ("beta" in needs)
    dgamma = dbeta = dx = None
    if training or need_dgamma or need_dbeta:
        sum_dz, sum_dz_xc = _C.batch_norm_gradient_moments(
            d3, x3, scale, shift, mean.astype(x.dtype), act, slope
        )
        if need_dgamma:
            dgamma = (sum_dz_xc * inv_std).astype(x.dtype)
        if need_dbeta:
            dbeta = sum_dz.astype(x.dtype)
    if need_dx:
        a = gamma_ * inv_std
        if training:
            count = x.size // c
            b = -a * inv_std * inv_std * sum_dz_xc / count
            d = -a * sum_dz / count - b * mean
        else:
            b = d = np.zeros(c)
        dx = _C.batch_norm_gradient_apply(
            d3,
            x3,
            a.astype(x.dtype),
            b.astype(x.dtype),
            d.astype(x.dtype),
            scale,
            shift,
            act,
            slope,
            _out_flat(out, x, x3.shape),
        ).reshape(x.shape)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------ activations


def _unary(x, name, slope, out):
    x = as_float_array(x, "x")
    y = _C.activation_forward(_contiguous(x).reshape(-1), name, slope, _out_flat(out, x))
    return y.reshape(x.shape)


def _unary_backward(dout, y, name, slope, out):
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    dx = _C.activation_backward(
        _contiguous(dout).reshape(-1), _contiguous(y).reshape(-1), name, slope, _out_flat(out, y)
    )
    return dx.reshape(y.shape)


def relu(x, out=None):
    """max(x, 0) (NaN stays NaN)."""
    return _unary(x, "relu", 0.0, out)


def relu_backward(dout, y, out=None):
    """dout where the forward output y > 0, else 0."""
    return _unary_backward(dout, y, "relu", 0.0, out)


def _slope(negative_slope):
    return fused_activation("leaky_relu", negative_slope)[1]


def leaky_relu(x, negative_slope=0.01, out=None):
    """x where x >= 0, negative_slope * x elsewhere (negative_slope >= 0)."""
    return _unary(x, "leaky_relu", _slope(negative_slope), out)


def leaky_relu_backward(dout, y, negative_slope=0.01, out=None):
    return _unary_backward(dout, y, "leaky_relu", _slope(negative_slope), out)


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    return _unary(x, "sigmoid", 0.0, out)


def sigmoid_backward(dout, y, out=None):
    """dout * y * (1 - y) from the forward output y."""
    return _unary_backward(dout, y, "sigmoid", 0.0, out)


def tanh(x, out=None):
    return _unary(x, "tanh", 0.0, out)


def tanh_backward(dout, y, out=None):
    """dout * (1 - y^2) from the forward output y."""
    return _unary_backward(dout, y, "tanh", 0.0, out)


def _rows_along(a, axis):
    """a with `axis` moved last, as contiguous rows, and how to put it back."""
    axis = axis % a.ndim if a.ndim else 0
    moved = np.moveaxis(a, axis, -1)
    rows = _contiguous(moved).reshape(-1, a.shape[axis])
    return rows, lambda r: np.moveaxis(r.reshape(moved.shape), -1, axis)


def _softmax_axis(x, axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis!r} is not an axis of x with shape {x.shape}")
    return int(axis) % x.ndim


def softmax(x, axis=-1, out=None):
    """exp(x - max) / sum over `axis`."""
    x = as_float_array(x, "x")
    non_empty(x)
    axis = _softmax_axis(x, axis)
    rows, back = _rows_along(x, axis)
    direct = out is not None and axis % x.ndim == x.ndim - 1
    _out_flat(out, x)
    y = back(_C.softmax_forward(rows, out.reshape(rows.shape) if direct else None))
    if out is not None and not direct:
        out[...] = y
        return out
    return y


def softmax_backward(dout, y, axis=-1, out=None):
    """y * (dout - sum(dout * y)) over `axis`, from the forward output y."""
    dout, y = same_float_dtype(dout=dout, y=y)
    same_shape(dout, "dout", y, "y")
    non_empty(y, "y")
    axis = _softmax_axis(y, axis)
    y_rows, back = _rows_along(y, axis)
    d_rows, _ = _rows_along(dout, axis)
    direct = out is not None and axis % y.ndim == y.ndim - 1
    _out_flat(out, y)
    dx = back(_C.softmax_backward(d_rows, y_rows, out.reshape(y_rows.shape) if direct else None))
    if out is not None and not direct:
        out[...] = dx
        return out
    return dx


# ---------------------------------------------------------------------- dropout


def dropout(x, rate, seed, training=True, out=None):
    """Inverted dropout: each value kept with probability 1 - rate and scaled
    by 1 / (1 - rate), else 0; the mask depends on (seed, index) only.
    training=False (or rate=0) returns x."""
    x = as_float_array(x, "x")
    rate, seed = dropout_rate(rate), dropout_seed(seed)
    if not training or rate == 0:
        return x
    y = _C.dropout(_contiguous(x).reshape(-1), seed, rate, _out_flat(out, x))
    return y.reshape(x.shape)


def dropout_backward(dout, rate, seed, out=None):
    """dout times the mask `dropout(x, rate, seed)` used (recomputed, not stored)."""
    return dropout(dout, rate, seed, training=True, out=out)


# ---------------------------------------------------------------- cross-entropy


def softmax_cross_entropy(logits, target, return_grad=True):
    """Mean over rows of -log softmax(logits)[target], and its gradient.

    logits (N, C) (more leading axes are rows too); target: integer labels
    (N,) (or the leading shape), or distributions shaped like logits (their
    sum per row need not be 1). Returns (loss, dlogits) (dlogits None
    without return_grad). A label outside [0, C) gives a NaN loss and a NaN
    gradient row.
    """
    logits = as_float_array(logits, "logits")
    labels, t = cross_entropy_target(logits, target)
    rows = _contiguous(logits).reshape(-1, logits.shape[-1])
    t = _contiguous(t).reshape(-1) if labels else _contiguous(t).reshape(rows.shape)
    n = rows.shape[0]
    total, grad = _C.softmax_cross_entropy(rows, t, 1.0 / n, return_grad)
    return total / n, (None if grad is None else grad.reshape(logits.shape))


def add_arrays(a, b, out=None):
    """a + b for two float arrays of one shape and dtype: native and threaded where both are
    C-contiguous float32/float64 (into a recycled block, or `out`), NumPy otherwise."""
    a, b = np.asarray(a), np.asarray(b)
    native = (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.dtype in (np.float32, np.float64)
        and a.flags.c_contiguous
        and b.flags.c_contiguous
        and a.size > 0
        and (out is None or (out.dtype == a.dtype and out.shape == a.shape and out.flags.c_contiguous))
    )
    if native and not reference_active():
        return _C.add(a, b, out)
    return np.add(a, b, out=out)
