"""CS231n's layer conventions written as plain loops: the oracle of the
tests/compat/test_compat_cs231n*.py files.

Deliberately the slowest, most literal form -- one output element per loop
iteration for convolution, pooling and the im2col matrices, the staged
computational graph for the normalisations, one sample at a time for the
losses -- so it shares no code and no trick with `fastcnn.compat.cs231n`.

Two parts:
* the layers (`layers.py` and `layer_utils.py` of a completed assignment).
  Their caches are whatever these functions need and pair only with each
  other; enough of them (conv_relu_pool, affine_relu, affine, softmax_loss)
  to be the `backend` of ThreeLayerConvNet.
* `course_*`: stand-ins for the course's own `fast_layers.py` with exactly
  the cache layouts the course fixes -- (x, w, b, conv_param, x_cols) with
  x_cols columns in (n, y, x) order for the strides spelling and (y, x, n)
  for im2col; ('reshape', (x, x_reshaped, out)) and
  ('im2col', (x, x_cols, x_cols_argmax, pool_param)) for pooling -- and
  backwards that read those fields the way the course's do (x_cols.T,
  x_cols_argmax), to test that caches cross between the implementations.
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
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
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


def batchnorm_backward_alt(dout, cache):
    return batchnorm_backward(dout, cache)


def affine_batchnorm_relu_forward(x, w, b, gamma, beta, bn_param):
    a, fc_cache = affine_forward(x, w, b)
    an, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_batchnorm_relu_backward(dout, cache):
    fc_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    return (*affine_backward(dan, fc_cache), dgamma, dbeta)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    conv_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    return (*conv_backward_naive(dan, conv_cache), dgamma, dbeta)


def layernorm_forward(x, gamma, beta, ln_param):
    """One sample at a time: mean, centred, variance, std, normalised."""
    eps = ln_param.get("eps", 1e-5)
    out = np.zeros_like(x)
    rows = []
    for n in range(x.shape[0]):
        mu = np.sum(x[n]) / x.shape[1]
        xc = x[n] - mu
        std = np.sqrt(np.sum(xc**2) / x.shape[1] + eps)
        xhat = xc / std
        out[n] = gamma * xhat + beta
        rows.append((xc, std, xhat))
    return out, (rows, gamma)


def layernorm_backward(dout, cache):
    rows, gamma = cache
    d = dout.shape[1]
    dx = np.zeros_like(dout)
    dgamma, dbeta = np.zeros_like(gamma), np.zeros_like(gamma)
    for n, (xc, std, xhat) in enumerate(rows):
        dgamma += dout[n] * xhat
        dbeta += dout[n]
        dxhat = dout[n] * gamma
        dxc = dxhat / std
        dstd = -np.sum(dxhat * xc) / std**2
        dxc += 2 * xc * (dstd / (2 * std)) / d
        dx[n] = dxc - np.sum(dxc) / d
    return dx, dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """One (sample, group) at a time, as a layernorm of that slice."""
    eps = gn_param.get("eps", 1e-5)
    n_, c_ = x.shape[:2]
    size = c_ // G
    g4 = np.reshape(gamma, (1, c_, 1, 1))
    b4 = np.reshape(beta, (1, c_, 1, 1))
    xhat = np.zeros_like(x)
    stds = np.zeros((n_, G))
    for n in range(n_):
        for g in range(G):
            part = x[n, g * size : (g + 1) * size]
            mu = np.sum(part) / part.size
            stds[n, g] = np.sqrt(np.sum((part - mu) ** 2) / part.size + eps)
            xhat[n, g * size : (g + 1) * size] = (part - mu) / stds[n, g]
    return xhat * g4 + b4, (xhat, stds, g4, G, np.shape(gamma))


def spatial_groupnorm_backward(dout, cache):
    xhat, stds, g4, G, gamma_shape = cache
    n_, c_ = dout.shape[:2]
    size = c_ // G
    dgamma = np.sum(dout * xhat, axis=(0, 2, 3)).reshape(gamma_shape)
    dbeta = np.sum(dout, axis=(0, 2, 3)).reshape(gamma_shape)
    dxhat = dout * g4
    dx = np.zeros_like(dout)
    for n in range(n_):
        for g in range(G):
            part = slice(g * size, (g + 1) * size)
            d, h = dxhat[n, part], xhat[n, part]
            # d/dx of the standardisation: (d - mean(d) - h * mean(d * h)) / std
            dx[n, part] = (d - np.mean(d) - h * np.mean(d * h)) / stds[n, g]
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Element by element from the global NumPy generator's uniform draws;
    p is the keep probability."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x, (dropout_param, None)
    draws = np.random.rand(*x.shape)
    mask = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        mask[i] = 1 / p if draws[i] < p else 0.0
    return (x * mask).astype(x.dtype), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout if dropout_param["mode"] == "test" else dout * mask


# --------------------------------------- stand-ins for the course's fast_layers


def _conv_sizes(x, w_shape, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    oh = 1 + (x.shape[2] + 2 * p - w_shape[2]) // s
    ow = 1 + (x.shape[3] + 2 * p - w_shape[3]) // s
    return s, p, oh, ow


def _conv_column(n, y, x_, shape, order):
    """Column of output position (n, y, x_) in the course's x_cols."""
    n_, oh, ow = shape
    return (n * oh + y) * ow + x_ if order == "strides" else (y * ow + x_) * n_ + n


def course_conv_columns(x, w_shape, conv_param, order):
    """x_cols of the course's conv_forward_strides / conv_forward_im2col:
    row (c, i, j) of the filter window, column per `_conv_column`."""
    s, p, oh, ow = _conv_sizes(x, w_shape, conv_param)
    n_, c_ = x.shape[:2]
    hh, ww = w_shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.zeros((c_ * hh * ww, n_ * oh * ow), dtype=x.dtype)
    for c in range(c_):
        for i in range(hh):
            for j in range(ww):
                for n in range(n_):
                    for y in range(oh):
                        for x_ in range(ow):
                            col = _conv_column(n, y, x_, (n_, oh, ow), order)
                            cols[(c * hh + i) * ww + j, col] = xp[n, c, y * s + i, x_ * s + j]
    return cols


def course_conv_forward(x, w, b, conv_param, order):
    out, _ = conv_forward_naive(x, w, b, conv_param)
    return out, (x, w, b, conv_param, course_conv_columns(x, w.shape, conv_param, order))


def course_conv_backward(dout, cache, order):
    """Reads the cache as the course's fast backward does: dw from x_cols.T,
    dx by scattering w^T dout back through the window positions."""
    x, w, b, conv_param, x_cols = cache
    f_ = w.shape[0]
    d = (dout.transpose(1, 0, 2, 3) if order == "strides" else dout.transpose(1, 2, 3, 0)).reshape(f_, -1)
    dw = d.dot(x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(f_, -1).T.dot(d)
    s, p, oh, ow = _conv_sizes(x, w.shape, conv_param)
    n_, c_ = x.shape[:2]
    hh, ww = w.shape[2:]
    dxp = np.zeros((n_, c_, x.shape[2] + 2 * p, x.shape[3] + 2 * p), dtype=dx_cols.dtype)
    for c in range(c_):
        for i in range(hh):
            for j in range(ww):
                for n in range(n_):
                    for y in range(oh):
                        for x_ in range(ow):
                            col = _conv_column(n, y, x_, (n_, oh, ow), order)
                            dxp[n, c, y * s + i, x_ * s + j] += dx_cols[(c * hh + i) * ww + j, col]
    return dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def _pool_sizes(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return ph, pw, s, 1 + (x.shape[2] - ph) // s, 1 + (x.shape[3] - pw) // s


def course_max_pool_forward_fast(x, pool_param):
    """('reshape', (x, x_reshaped, out)) for square windows tiling x with the
    stride, else ('im2col', (x, x_cols, x_cols_argmax, pool_param)), x_cols
    with rows (i, j) and columns (y, x, n, c)."""
    ph, pw, s, oh, ow = _pool_sizes(x, pool_param)
    n_, c_, h, w = x.shape
    if ph == pw == s and h % ph == 0 and w % pw == 0:
        x_reshaped = x.reshape(n_, c_, h // ph, ph, w // pw, pw)
        out, _ = max_pool_forward_naive(x, pool_param)
        return out, ("reshape", (x, x_reshaped, out))
    cols = np.zeros((ph * pw, oh * ow * n_ * c_), dtype=x.dtype)
    for y in range(oh):
        for x_ in range(ow):
            for n in range(n_):
                for c in range(c_):
                    col = ((y * ow + x_) * n_ + n) * c_ + c
                    for i in range(ph):
                        for j in range(pw):
                            cols[i * pw + j, col] = x[n, c, y * s + i, x_ * s + j]
    argmax = np.argmax(cols, axis=0)
    out = cols[argmax, np.arange(cols.shape[1])].reshape(oh, ow, n_, c_).transpose(2, 3, 0, 1)
    return out, ("im2col", (x, cols, argmax, pool_param))


def course_max_pool_backward_fast(dout, cache):
    """The reshape method splits a window's gradient between tied maxima;
    the im2col method sends it to x_cols_argmax."""
    method, real = cache
    if method == "reshape":
        x, x_reshaped, out = real
        mask = x_reshaped == out[:, :, :, None, :, None]
        dxr = np.where(mask, dout[:, :, :, None, :, None], 0.0)
        return (dxr / mask.sum(axis=(3, 5), keepdims=True)).reshape(x.shape)
    x, cols, argmax, pool_param = real
    ph, pw, s, oh, ow = _pool_sizes(x, pool_param)
    n_, c_ = x.shape[:2]
    dcols = np.zeros_like(cols)
    dcols[argmax, np.arange(dcols.shape[1])] = dout.transpose(2, 3, 0, 1).reshape(-1)
    dx = np.zeros(x.shape, dtype=dcols.dtype)
    for y in range(oh):
        for x_ in range(ow):
            for n in range(n_):
                for c in range(c_):
                    col = ((y * ow + x_) * n_ + n) * c_ + c
                    for i in range(ph):
                        for j in range(pw):
                            dx[n, c, y * s + i, x_ * s + j] += dcols[i * pw + j, col]
    return dx
