"""The normalisations of `layers`: batch, spatial batch, layer and spatial
group normalisation, on fastcnn's native batch-norm passes.

Conventions of the course (2017 to 2023 editions):

* bn_param: 'mode' ('train' | 'test', required), 'eps' (1e-5), 'momentum'
  (0.9), 'running_mean' / 'running_var' of shape (D,), both zeros until the
  first training call (`bn_param.get('running_var', np.zeros(D))`). Each
  training call stores back running = momentum * running + (1 - momentum) *
  batch, with the biased batch variance; test mode normalises by them.
* ln_param and gn_param: 'eps' (1e-5); no running statistics.
* spatial_groupnorm's gamma and beta have shape (1, C, 1, 1) as in the
  course (shape (C,) is taken too); its gradients have the shape of gamma.

Their caches are `OwnCache`s: the course leaves these cache layouts to the
student, so a cache pairs only with the backward of the same implementation.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ._common import OwnCache, as_float, ndim, own_cache, param, positive_int


def _non_negative(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _same_shape(dout, x, backward_name):
    if dout.shape != x.shape:
        raise ValueError(f"{backward_name}: dout must have the forward's shape {x.shape}, got {dout.shape}")


# ------------------------------------------------------------ batch normalisation


def _running(bn_param, key, channels, dtype):
    """A fresh copy of a running statistic: zeros before the first training
    call, as the course's `bn_param.get(key, np.zeros(D, dtype=x.dtype))`."""
    value = bn_param.get(key)
    if value is None:
        return np.zeros(channels, dtype)
    value = np.asarray(value)
    if value.shape != (channels,):
        raise ValueError(f"bn_param[{key!r}] must have shape ({channels},), got {value.shape}")
    return np.array(value, dtype=np.result_type(value.dtype, dtype))


def batchnorm(x, gamma, beta, bn_param, forward_name, backward_name):
    """Batch normalisation over every axis but 1 (x (N, D) or (N, C, H, W))."""
    x, gamma, beta = as_float(x=x, gamma=gamma, beta=beta)
    mode = param(bn_param, "mode", "bn_param", required=True)
    if mode not in ("train", "test"):
        raise ValueError(f"Invalid forward batchnorm mode {mode!r}: bn_param['mode'] is 'train' or 'test'")
    eps = _non_negative(bn_param.get("eps", 1e-5), "bn_param['eps']")
    momentum = _non_negative(bn_param.get("momentum", 0.9), "bn_param['momentum']")
    channels = x.shape[1]
    running_mean = _running(bn_param, "running_mean", channels, x.dtype)
    running_var = _running(bn_param, "running_var", channels, x.dtype)
    training = mode == "train"
    out, (mean, inv_std) = F.batch_norm(
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        training=training,
        momentum=momentum,
        epsilon=eps,
        axis=1,
        return_stats=True,
    )
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    cache = OwnCache(
        forward_name,
        backward_name,
        x=x,
        gamma=gamma,
        beta=beta,
        mean=mean,
        inv_std=inv_std,
        training=training,
    )
    return out, cache


def batchnorm_backward(dout, cache, backward_name, *forwards):
    """(dx, dgamma, dbeta) of a batchnorm cache; through the batch statistics
    in training mode, through the running ones (constants) in test mode."""
    cache = own_cache(cache, backward_name, *forwards)
    dout, x = as_float(dout=dout, x=cache.x)
    _same_shape(dout, x, backward_name)
    return F.batch_norm_backward(
        dout, x, cache.gamma, cache.beta, cache.mean, cache.inv_std, training=cache.training, axis=1
    )


def batchnorm_2d(x, gamma, beta, bn_param, forward_name, backward_name):
    x = np.asarray(x)
    ndim(x, 2, "x", "(N, D)")
    return batchnorm(x, gamma, beta, bn_param, forward_name, backward_name)


def batchnorm_4d(x, gamma, beta, bn_param, forward_name, backward_name):
    x = np.asarray(x)
    ndim(x, 4, "x", "(N, C, H, W)")
    return batchnorm(x, gamma, beta, bn_param, forward_name, backward_name)


# -------------------------------------------------- per-row standardisation


def _standardize_rows(rows, eps):
    """(xhat, mean, inv_std): each row of `rows` (R, M) minus its mean, over
    sqrt(its biased variance + eps); the native batch norm with the rows as
    channels."""
    xhat, (mean, inv_std) = F.batch_norm(rows[None], training=True, epsilon=eps, axis=1, return_stats=True)
    return xhat[0], mean, inv_std


def _standardize_rows_backward(dxhat, rows, mean, inv_std):
    dx, _, _ = F.batch_norm_backward(
        dxhat[None], rows[None], None, None, mean, inv_std, training=True, axis=1, needs=("x",)
    )
    return dx[0]


def layernorm(x, gamma, beta, ln_param):
    """Layer normalisation of x (N, D): each sample over its D features."""
    x, gamma, beta = as_float(x=x, gamma=gamma, beta=beta)
    ndim(x, 2, "x", "(N, D)")
    for a, name in ((gamma, "gamma"), (beta, "beta")):
        if a.shape != (x.shape[1],):
            raise ValueError(f"{name} must have shape ({x.shape[1]},) (x's features), got {a.shape}")
    eps = _non_negative(param(ln_param, "eps", "ln_param", 1e-5), "ln_param['eps']")
    xhat, mean, inv_std = _standardize_rows(x, eps)
    cache = OwnCache(
        "layernorm_forward", "layernorm_backward", x=x, xhat=xhat, gamma=gamma, mean=mean, inv_std=inv_std
    )
    return xhat * gamma + beta, cache


def layernorm_backward(dout, cache):
    cache = own_cache(cache, "layernorm_backward", "layernorm_forward")
    (dout,) = as_float(dout=dout)
    _same_shape(dout, cache.x, "layernorm_backward")
    dgamma = np.sum(dout * cache.xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = (dout * cache.gamma).astype(cache.x.dtype, copy=False)
    return _standardize_rows_backward(dxhat, cache.x, cache.mean, cache.inv_std), dgamma, dbeta


# ------------------------------------------------------ group normalisation


def _channel_scale(a, channels, name):
    """gamma or beta of shape (1, C, 1, 1) or (C,), as (1, C, 1, 1)."""
    if a.shape not in ((1, channels, 1, 1), (channels,)):
        raise ValueError(f"{name} must have shape (1, {channels}, 1, 1) (or ({channels},)), got {a.shape}")
    return a.reshape(1, channels, 1, 1)


def groupnorm(x, gamma, beta, G, gn_param):
    """Group normalisation of x (N, C, H, W): each sample's channels in G
    contiguous groups, each group over its channels and pixels."""
    x, gamma, beta = as_float(x=x, gamma=gamma, beta=beta)
    ndim(x, 4, "x", "(N, C, H, W)")
    n, c = x.shape[:2]
    groups = positive_int(G, "G")
    if c % groups:
        raise ValueError(f"G={groups} must divide the channel count C={c} of x {x.shape}")
    eps = _non_negative(param(gn_param, "eps", "gn_param", 1e-5), "gn_param['eps']")
    scale, shift = _channel_scale(gamma, c, "gamma"), _channel_scale(beta, c, "beta")
    rows = np.ascontiguousarray(x).reshape(n * groups, -1)
    xhat, mean, inv_std = _standardize_rows(rows, eps)
    xhat = xhat.reshape(x.shape)
    cache = OwnCache(
        "spatial_groupnorm_forward",
        "spatial_groupnorm_backward",
        rows=rows,
        xhat=xhat,
        scale=scale,
        gamma_shape=gamma.shape,
        mean=mean,
        inv_std=inv_std,
    )
    return xhat * scale + shift, cache


def groupnorm_backward(dout, cache):
    cache = own_cache(cache, "spatial_groupnorm_backward", "spatial_groupnorm_forward")
    (dout,) = as_float(dout=dout)
    _same_shape(dout, cache.xhat, "spatial_groupnorm_backward")
    dgamma = np.sum(dout * cache.xhat, axis=(0, 2, 3)).reshape(cache.gamma_shape)
    dbeta = np.sum(dout, axis=(0, 2, 3)).reshape(cache.gamma_shape)
    dxhat = (dout * cache.scale).astype(cache.rows.dtype, copy=False).reshape(cache.rows.shape)
    dx = _standardize_rows_backward(dxhat, cache.rows, cache.mean, cache.inv_std)
    return dx.reshape(dout.shape), dgamma, dbeta
