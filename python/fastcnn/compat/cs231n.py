"""CS231n's layer functions with fastcnn's native convolution and pooling.

A drop-in replacement for the assignment modules `cs231n.fast_layers`,
`cs231n.layers` and `cs231n.layer_utils` (and a `ThreeLayerConvNet` like
`cs231n.classifiers.cnn`): same names, same arguments, same return values,
so a notebook switches with one import line and needs no Cython build:

    # from cs231n.fast_layers import conv_forward_fast, conv_backward_fast
    from fastcnn.compat.cs231n import conv_forward_fast, conv_backward_fast

Conventions (those of the assignment)
-------------------------------------
* Every `*_forward` returns `(out, cache)`; the matching `*_backward(dout, cache)`
  returns the input gradient, followed by the parameter gradients when the layer
  has parameters: conv -> (dx, dw, db), affine -> (dx, dw, db), batchnorm ->
  (dx, dgamma, dbeta), relu and max pool -> dx.
* Convolution: x (N, C, H, W), w (F, C, HH, WW), b (F,),
  conv_param = {'stride': s, 'pad': p} with p zeros on every side;
  H' = 1 + (H + 2p - HH) // s (floor, as the naive version; the course's
  Cython version asserts the division is exact).
* Max pooling: pool_param = {'pool_height', 'pool_width', 'stride'}, no padding,
  H' = 1 + (H - pool_height) // stride. The gradient of a window goes to its
  first maximum (as `max_pool_backward_naive`; the course's reshape version
  splits it between tied maxima, which only matters for exactly equal values).
* Every spelling the course uses -- `_naive`, `_im2col`, `_strides`, `_reshape`,
  `_fast` -- is the same native function here, and all of them share one cache
  format, so any forward pairs with any backward.
* dtypes follow NumPy's promotion of the inputs (float64 data with float32
  weights computes in float64, as the course's NumPy code does); float32 and
  float64 are computed natively; anything else is computed in float64.
* batchnorm: bn_param = {'mode': 'train' | 'test', 'eps' (1e-5), 'momentum' (0.9)};
  the running statistics start at zeros/ones and are stored back into
  bn_param['running_mean'] / bn_param['running_var'] on every training call:
  running = momentum * running + (1 - momentum) * batch, with the biased
  batch variance.

Convolution, pooling and the affine products run in `fastcnn.functional`
(C++, SIMD, OpenMP threads); ReLU, batchnorm and the losses are a few NumPy
lines each.
"""

from __future__ import annotations

import sys

import numpy as np

from .. import functional as F

__all__ = [
    # fast_layers
    "conv_forward_fast",
    "conv_backward_fast",
    "conv_forward_im2col",
    "conv_backward_im2col",
    "conv_forward_strides",
    "conv_backward_strides",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "max_pool_forward_reshape",
    "max_pool_backward_reshape",
    "max_pool_forward_im2col",
    "max_pool_backward_im2col",
    # layers
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "svm_loss",
    "softmax_loss",
    # layer_utils
    "affine_relu_forward",
    "affine_relu_backward",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
    "conv_bn_relu_forward",
    "conv_bn_relu_backward",
    # classifiers/cnn.py
    "ThreeLayerConvNet",
]


def _as_float(*arrays):
    """The arrays in one float dtype: NumPy's promotion of them if that is
    float32 or float64, else float64."""
    arrays = [np.asarray(a) for a in arrays]
    dtype = np.result_type(*arrays)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    return [a.astype(dtype, copy=False) for a in arrays]


# ------------------------------------------------------------------ convolution


def conv_forward_fast(x, w, b, conv_param):
    """Convolution (cross-correlation) of x (N, C, H, W) with w (F, C, HH, WW)
    plus b (F,). Returns (out (N, F, H', W'), cache)."""
    x, w, b = _as_float(x, w, b)
    out = F.conv2d(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"])
    return out, (x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    """Gradients of conv_forward_*: returns (dx, dw, db)."""
    x, w, b, conv_param = cache[:4]
    dout, x, w = _as_float(dout, x, w)
    return F.conv2d_backward(dout, x, w, stride=conv_param["stride"], padding=conv_param["pad"])


conv_forward_naive = conv_forward_im2col = conv_forward_strides = conv_forward_fast
conv_backward_naive = conv_backward_im2col = conv_backward_strides = conv_backward_fast


# ---------------------------------------------------------------------- pooling


def _pool_window(pool_param):
    return (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"]


def max_pool_forward_fast(x, pool_param):
    """Max pooling of x (N, C, H, W) over pool_height x pool_width windows.
    Returns (out (N, C, H', W'), cache)."""
    (x,) = _as_float(x)
    window, stride = _pool_window(pool_param)
    out, indices = F.max_pool2d(x, window, stride, return_indices=True)
    return out, (x, pool_param, indices)


def max_pool_backward_fast(dout, cache):
    """Gradient of max_pool_forward_*: returns dx. Also takes the naive
    cache (x, pool_param), recomputing the argmax."""
    x, pool_param = cache[:2]
    indices = cache[2] if len(cache) > 2 else None
    dout, x = _as_float(dout, x)
    window, stride = _pool_window(pool_param)
    return F.max_pool2d_backward(dout, x, window, stride, indices=indices)


max_pool_forward_naive = max_pool_forward_reshape = max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_naive = max_pool_backward_reshape = max_pool_backward_im2col = max_pool_backward_fast


# ----------------------------------------------------------- affine and relu


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b for x (N, d_1, ..., d_k), w (D, M), b (M,).
    Returns (out (N, M), cache)."""
    x, w, b = _as_float(x, w, b)
    out = F.linear(x.reshape(x.shape[0], -1), w, b)
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Gradients of affine_forward: (dx of x's shape, dw (D, M), db (M,))."""
    x, w, b = cache
    dout, x, w = _as_float(dout, x, w)
    dx, dw, db = F.linear_backward(dout, x.reshape(x.shape[0], -1), w)
    return dx.reshape(x.shape), dw, db


def relu_forward(x):
    """max(0, x); returns (out, cache)."""
    x = np.asarray(x)
    return np.maximum(x, x.dtype.type(0)), x


def relu_backward(dout, cache):
    """Gradient of relu_forward: dout where x > 0, else 0."""
    x = cache
    return dout * (x > 0)


# ---------------------------------------------------------------- batchnorm


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, D) per feature; returns (out, cache).

    bn_param: 'mode' ('train' or 'test', required), 'eps' (1e-5), 'momentum'
    (0.9), 'running_mean' / 'running_var' (zeros / ones of shape (D,) at
    first); training updates the running statistics and stores them back in
    bn_param. Test mode normalises by the running statistics.
    """
    x, gamma, beta = _as_float(x, gamma, beta)
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(d, dtype=x.dtype))
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std, mode)


def batchnorm_backward(dout, cache):
    """Gradients of batchnorm_forward: (dx, dgamma, dbeta)."""
    xhat, gamma, inv_std, mode = cache
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    if mode == "test":
        return dxhat * inv_std, dgamma, dbeta
    # through the batch mean and variance: one simplified expression
    dx = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    return dx, dgamma, dbeta


batchnorm_backward_alt = batchnorm_backward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, C, H, W) per channel (statistics over N, H, W);
    gamma, beta (C,); bn_param as in batchnorm_forward. Returns (out, cache)."""
    x = np.asarray(x)
    n, c, h, w = x.shape
    out, cache = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, c), gamma, beta, bn_param)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    """Gradients of spatial_batchnorm_forward: (dx, dgamma, dbeta)."""
    dout = np.asarray(dout)
    n, c, h, w = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, c), cache)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta


# -------------------------------------------------------------------- losses


def svm_loss(x, y):
    """Multiclass SVM (hinge) loss of scores x (N, C) for labels y (N,), margin 1,
    averaged over N. Returns (loss, dx)."""
    (x,) = _as_float(x)
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
    (x,) = _as_float(x)
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / n
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    return loss, dx / n


# --------------------------------------------------------------- layer_utils


def affine_relu_forward(x, w, b):
    """affine -> relu; returns (out, cache)."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Gradients of affine_relu_forward: (dx, dw, db)."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def conv_relu_forward(x, w, b, conv_param):
    """conv -> relu; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Gradients of conv_relu_forward: (dx, dw, db)."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """conv -> relu -> max pool; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Gradients of conv_relu_pool_forward: (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """conv -> spatial batchnorm -> relu; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """Gradients of conv_bn_relu_forward: (dx, dw, db, dgamma, dbeta)."""
    conv_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = conv_backward_fast(dan, conv_cache)
    return dx, dw, db, dgamma, dbeta


# ------------------------------------------------------------- the small CNN


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, as in
    CS231n's `classifiers/cnn.py`.

    The convolution keeps the spatial size (stride 1, pad (filter_size - 1) // 2),
    so the pool gives (num_filters, H // 2, W // 2). Parameters live in
    `self.params`: W1 (F, C, filter_size, filter_size), b1 (F,),
    W2 (F * H//2 * W//2, hidden_dim), b2, W3 (hidden_dim, num_classes), b3,
    weights drawn from np.random.randn * weight_scale (the global NumPy RNG, as
    the course does), biases zero, all of `dtype`.

    `backend` is any module or object with the layer functions used here
    (conv_relu_pool_forward/backward, affine_relu_forward/backward,
    affine_forward/backward, softmax_loss) in the CS231n conventions: this
    module by default, or e.g. the course's own layer_utils, to run the same
    network on either.
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        backend=None,
    ):
        self.backend = sys.modules[__name__] if backend is None else backend
        self.reg = reg
        self.dtype = dtype
        self.filter_size = filter_size
        c, h, w = input_dim
        self.params = {
            "W1": weight_scale * np.random.randn(num_filters, c, filter_size, filter_size),
            "b1": np.zeros(num_filters),
            "W2": weight_scale * np.random.randn(num_filters * (h // 2) * (w // 2), hidden_dim),
            "b2": np.zeros(hidden_dim),
            "W3": weight_scale * np.random.randn(hidden_dim, num_classes),
            "b3": np.zeros(num_classes),
        }
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Class scores (N, num_classes) when y is None; else (loss, grads) with
        grads a dict of the parameters' gradients (L2 term 0.5 * reg * sum W^2
        on W1, W2, W3 included)."""
        bk, p = self.backend, self.params
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        h1, cache1 = bk.conv_relu_pool_forward(X, p["W1"], p["b1"], conv_param, pool_param)
        h2, cache2 = bk.affine_relu_forward(h1, p["W2"], p["b2"])
        scores, cache3 = bk.affine_forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores

        loss, dscores = bk.softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(p[k] * p[k]) for k in ("W1", "W2", "W3"))
        grads = {}
        dh2, grads["W3"], grads["b3"] = bk.affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = bk.affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = bk.conv_relu_pool_backward(dh1, cache1)
        for k in ("W1", "W2", "W3"):
            grads[k] = grads[k] + self.reg * p[k]
        return loss, grads
