"""CS231n's layer conventions written as plain loops: the oracle of test_compat_cs231n.

Deliberately the slowest, most literal form -- one output element per loop
iteration for convolution and pooling, the staged computational graph for
batchnorm, one sample at a time for the losses -- so it shares no code and no
trick with `fastcnn.compat.cs231n`. Caches are whatever these functions need;
they only pair with each other. Enough of the module (conv_relu_pool, affine_relu,
affine, softmax_loss) to be the `backend` of ThreeLayerConvNet.
"""

from __future__ import annotations

import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_, c_, h, wd = x.shape
    f_, _, hh, ww = w.shape
    oh = 1 + (h + 2 * pad - hh) // stride
    ow = 1 + (wd + 2 * pad - ww) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n_, f_, oh, ow), dtype=np.result_type(x, w, b))
    for n in range(n_):
        for f in range(f_):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, :, i * stride : i * stride + hh, j * stride : j * stride + ww]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    n_, f_, oh, ow = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp, dtype=np.result_type(dout, x))
    dw = np.zeros_like(w, dtype=np.result_type(dout, w))
    db = np.zeros_like(b, dtype=np.result_type(dout, b))
    for n in range(n_):
        for f in range(f_):
            for i in range(oh):
                for j in range(ow):
                    g = dout[n, f, i, j]
                    rows = slice(i * stride, i * stride + hh)
                    cols = slice(j * stride, j * stride + ww)
                    dw[f] += g * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += g * w[f]
                    db[f] += g
    dx = dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_, c_, h, w = x.shape
    oh, ow = 1 + (h - ph) // s, 1 + (w - pw) // s
    out = np.zeros((n_, c_, oh, ow), dtype=x.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(oh):
                for j in range(ow):
                    out[n, c, i, j] = np.max(x[n, c, i * s : i * s + ph, j * s : j * s + pw])
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x, dtype=np.result_type(dout, x))
    n_, c_, oh, ow = dout.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(oh):
                for j in range(ow):
                    window = x[n, c, i * s : i * s + ph, j * s : j * s + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)  # first maximum
                    dx[n, c, i * s + a, j * s + b] += dout[n, c, i, j]
    return dx


def affine_forward(x, w, b):
    xr = x.reshape(x.shape[0], -1)
    out = np.zeros((x.shape[0], w.shape[1]), dtype=np.result_type(x, w, b))
    for n in range(x.shape[0]):
        out[n] = xr[n] @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    xr = x.reshape(x.shape[0], -1)
    dx = np.zeros(xr.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=np.result_type(dout, x))
    for n in range(x.shape[0]):
        dx[n] = w @ dout[n]
        dw += np.outer(xr[n], dout[n])
    return dx.reshape(x.shape), dw, dout.sum(axis=0)


def relu_forward(x):
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    """The staged graph: mean, centred, variance, std, normalised, scaled, shifted."""
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(d, dtype=x.dtype))
    if mode == "train":
        mu = np.sum(x, axis=0) / x.shape[0]
        xc = x - mu
        var = np.sum(xc**2, axis=0) / x.shape[0]
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        xc = x - running_mean
        var = running_var
    std = np.sqrt(var + eps)
    xhat = xc / std
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return gamma * xhat + beta, (xc, std, xhat, gamma, mode)


def batchnorm_backward(dout, cache):
    xc, std, xhat, gamma, mode = cache
    n = dout.shape[0]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    if mode == "test":
        return dxhat / std, dgamma, dbeta
    dxc = dxhat / std
    dstd = -np.sum(dxhat * xc, axis=0) / std**2
    dvar = dstd / (2 * std)
    dxc += 2 * xc * dvar / n
    dmu = -np.sum(dxc, axis=0)
    return dxc + dmu / n, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    n, c, h, w = x.shape
    flat = np.moveaxis(x, 1, -1).reshape(-1, c)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return np.moveaxis(out.reshape(n, h, w, c), -1, 1), cache


def spatial_batchnorm_backward(dout, cache):
    n, c, h, w = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(np.moveaxis(dout, 1, -1).reshape(-1, c), cache)
    return np.moveaxis(dx.reshape(n, h, w, c), -1, 1), dgamma, dbeta


def softmax_loss(x, y):
    n = x.shape[0]
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(n):
        e = np.exp(x[i] - np.max(x[i]))
        p = e / np.sum(e)
        loss -= np.log(p[y[i]])
        dx[i] = p
        dx[i, y[i]] -= 1
    return loss / n, dx / n


def svm_loss(x, y):
    n, classes = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(n):
        for j in range(classes):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    return loss / n, dx / n


def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def conv_relu_forward(x, w, b, conv_param):
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    conv_cache, relu_cache = cache
    return conv_backward_naive(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_naive(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_naive(dout, pool_cache)
    return conv_backward_naive(relu_backward(ds, relu_cache), conv_cache)
