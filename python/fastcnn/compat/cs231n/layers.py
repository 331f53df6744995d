"""CS231n's `cs231n/layers.py` (assignment 2, 2017 to 2023 editions), with
convolution, pooling, the affine products, ReLU and the normalisations on
fastcnn's native kernels:

    # from cs231n.layers import *
    from fastcnn.compat.cs231n.layers import *

`import *` gives exactly the course module's functions. Signatures, defaults,
return values and the caches the course fixes are the course's: affine
(x, w, b), relu x, dropout (dropout_param, mask), conv (x, w, b, conv_param),
max pool (x, pool_param). Every `*_backward(dout, cache)` returns the input
gradient, then the parameter gradients in the order of the forward's
arguments. The normalisations (bn_param, ln_param, gn_param conventions in
`_normalization`) keep caches of their own.

Differences from a typical solution: dtypes follow NumPy's promotion of the
inputs (float32 and float64 computed natively, anything else as float64); a
max pool window's gradient goes to its first maximum; dropout_backward returns
dout's dtype.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from . import _conv, _normalization as _norm, _pool
from ._common import as_float, ndim, param

__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "layernorm_forward",
    "layernorm_backward",
    "dropout_forward",
    "dropout_backward",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    "spatial_groupnorm_forward",
    "spatial_groupnorm_backward",
    "svm_loss",
    "softmax_loss",
]


# ----------------------------------------------------------- affine and relu


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b for x (N, d_1, ..., d_k), w (D, M), b (M,).
    Returns (out (N, M), (x, w, b))."""
    x, w, b = as_float(x=x, w=w, b=b)
    ndim(w, 2, "w", "(D, M)")
    return F.linear(x.reshape(x.shape[0], -1), w, b), (x, w, b)


def affine_backward(dout, cache):
    """Gradients of affine_forward: (dx of x's shape, dw (D, M), db (M,))."""
    x, w, _ = cache
    dout, x, w = as_float(dout=dout, x=x, w=w)
    dx, dw, db = F.linear_backward(dout, x.reshape(x.shape[0], -1), w)
    return dx.reshape(x.shape), dw, db


def relu_forward(x):
    """max(0, x); returns (out, x)."""
    (x,) = as_float(x=x)
    return F.relu(x), x


def relu_backward(dout, cache):
    """Gradient of relu_forward: dout where x > 0, else 0."""
    dout, x = as_float(dout=dout, x=cache)
    if dout.shape != x.shape:
        raise ValueError(f"relu_backward: dout must have x's shape {x.shape}, got {dout.shape}")
    # relu's derivative read from x or from relu(x): positive at the same places
    return F.relu_backward(dout, x)


# ---------------------------------------------------------------- normalisation


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, D) per feature, gamma and beta (D,).
    bn_param: 'mode' ('train' | 'test'), 'eps' (1e-5), 'momentum' (0.9),
    'running_mean' / 'running_var' (zeros at first, updated by training calls).
    Returns (out, cache)."""
    return _norm.batchnorm_2d(x, gamma, beta, bn_param, "batchnorm_forward", "batchnorm_backward")


def batchnorm_backward(dout, cache):
    """Gradients of batchnorm_forward: (dx, dgamma, dbeta)."""
    return _norm.batchnorm_backward(dout, cache, "batchnorm_backward", "batchnorm_forward")


def batchnorm_backward_alt(dout, cache):
    """batchnorm_backward (the course's simplified-formula exercise): the same
    native computation, the same cache."""
    return _norm.batchnorm_backward(dout, cache, "batchnorm_backward_alt", "batchnorm_forward")


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation of x (N, D) per sample, gamma and beta (D,);
    ln_param: 'eps' (1e-5). Returns (out, cache)."""
    return _norm.layernorm(x, gamma, beta, ln_param)


def layernorm_backward(dout, cache):
    """Gradients of layernorm_forward: (dx, dgamma, dbeta)."""
    return _norm.layernorm_backward(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, C, H, W) per channel (statistics over N, H, W),
    gamma and beta (C,); bn_param as in batchnorm_forward. Returns (out, cache)."""
    return _norm.batchnorm_4d(
        x, gamma, beta, bn_param, "spatial_batchnorm_forward", "spatial_batchnorm_backward"
    )


def spatial_batchnorm_backward(dout, cache):
    """Gradients of spatial_batchnorm_forward: (dx, dgamma, dbeta)."""
    return _norm.batchnorm_backward(dout, cache, "spatial_batchnorm_backward", "spatial_batchnorm_forward")


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalisation of x (N, C, H, W) with G groups of C // G channels,
    gamma and beta (1, C, 1, 1); gn_param: 'eps' (1e-5). Returns (out, cache)."""
    return _norm.groupnorm(x, gamma, beta, G, gn_param)


def spatial_groupnorm_backward(dout, cache):
    """Gradients of spatial_groupnorm_forward: (dx, dgamma, dbeta), the last
    two of gamma's shape."""
    return _norm.groupnorm_backward(dout, cache)


# ---------------------------------------------------------------------- dropout


def dropout_forward(x, dropout_param):
    """Inverted dropout. dropout_param: 'p' (the probability of *keeping* a
    value, as in the 2018+ editions), 'mode' ('train' | 'test'), 'seed'
    (optional: seeds NumPy's global generator first, as the course does).

    Training keeps each value with probability p and scales it by 1 / p;
    the mask is `(np.random.rand(*x.shape) < p) / p`, drawn from NumPy's
    global generator as the course's, so a seeded run reproduces the course's
    numbers. Test mode returns x. Returns (out, (dropout_param, mask)), mask
    None in test mode.
    """
    x = np.asarray(x)
    p = param(dropout_param, "p", "dropout_param", required=True)
    mode = param(dropout_param, "mode", "dropout_param", required=True)
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    if not (isinstance(p, (int, float, np.floating, np.integer)) and 0 < p <= 1):
        raise ValueError(f"dropout_param['p'] (the keep probability) must be in (0, 1], got {p!r}")
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) < p) / p
    return (x * mask).astype(x.dtype, copy=False), (dropout_param, mask)


def dropout_backward(dout, cache):
    """Gradient of dropout_forward: dout * mask in training mode, dout in test mode."""
    dropout_param, mask = cache
    if param(dropout_param, "mode", "dropout_param", required=True) == "test":
        return dout
    dout = np.asarray(dout)
    if dout.shape != mask.shape:
        raise ValueError(f"dropout_backward: dout must have the mask's shape {mask.shape}, got {dout.shape}")
    dtype = dout.dtype if dout.dtype.kind == "f" else np.float64
    return (dout * mask).astype(dtype, copy=False)


# ------------------------------------------------------ convolution and pooling


def conv_forward_naive(x, w, b, conv_param):
    """Convolution of x (N, C, H, W) with w (F, C, HH, WW) plus b (F,);
    conv_param {'stride', 'pad'}. Returns (out (N, F, H', W'), (x, w, b, conv_param))
    with H' = 1 + (H + 2 pad - HH) // stride."""
    out, x, w, b = _conv.forward(x, w, b, conv_param)
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Gradients (dx, dw, db) of any conv forward's cache (this package's or the course's)."""
    return _conv.backward(dout, cache, "conv_backward_naive")


def max_pool_forward_naive(x, pool_param):
    """Max pooling of x (N, C, H, W); pool_param {'pool_height', 'pool_width',
    'stride'}, no padding. Returns (out (N, C, H', W'), (x, pool_param)) with
    H' = 1 + (H - pool_height) // stride."""
    out, indices, x = _pool.forward(x, pool_param)
    return out, _pool.naive_cache(x, pool_param, indices)


def max_pool_backward_naive(dout, cache):
    """dx of any max pool forward's cache: each window's gradient goes to its first maximum."""
    return _pool.backward(dout, cache, "max_pool_backward_naive")


# ------------------------------------------------------------------------ losses


def _scores_and_labels(x, y):
    (x,) = as_float(x=x)
    ndim(x, 2, "x", "(N, C) scores")
    y = np.asarray(y)
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"y must hold {x.shape[0]} integer labels, got {y.dtype} of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(f"labels y must lie in [0, {x.shape[1]}), got values from {y.min()} to {y.max()}")
    return x, y


def svm_loss(x, y):
    """Multiclass SVM (hinge) loss of scores x (N, C) for labels y (N,), margin 1,
    averaged over N. Returns (loss, dx)."""
    x, y = _scores_and_labels(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / n
    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] -= positive.sum(axis=1)
    return loss, positive / n


def softmax_loss(x, y):
    """Softmax cross-entropy of scores x (N, C) for labels y (N,), averaged over N.
    Returns (loss, dx)."""
    x, y = _scores_and_labels(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / n
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    return loss, dx / n
