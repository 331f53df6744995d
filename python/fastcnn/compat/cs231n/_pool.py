"""Max pooling behind every course spelling (`_naive`, `_reshape`, `_im2col`,
`_fast`): one native forward and backward, and the cache layout of each.

The course's caches are (x, pool_param) for the naive layer,
(x, x_reshaped, out) for the reshape layer, (x, x_cols, x_cols_argmax,
pool_param) for the im2col layer, and ('reshape' | 'im2col', that cache) for
max_pool_forward_fast. fastcnn makes each of them (x_cols and x_cols_argmax
built only if read), as a tuple that also carries the native argmax indices,
and its backward reads all of them: with fastcnn's indices when present, else
by finding each window's first maximum again.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ._common import DeferredArray, as_float, foreign_cache, ndim, param, positive_int

CACHE_LAYOUTS = (
    "(x, pool_param), (x, x_reshaped, out), (x, x_cols, x_cols_argmax, pool_param) "
    "or ('reshape' | 'im2col', one of those)"
)


class IndexedCache(tuple):
    """A cache in the course's layout that also carries fastcnn's argmax
    indices (`.indices`, into each flattened H*W plane): the course's backward
    unpacks the fields, fastcnn's reads the indices."""

    def __new__(cls, fields, indices):
        cache = super().__new__(cls, fields)
        cache.indices = indices
        return cache


def window(pool_param):
    """((pool_height, pool_width), stride) of a pool_param dict."""
    ph, pw, stride = (
        positive_int(param(pool_param, key, "pool_param", required=True), f"pool_param[{key!r}]")
        for key in ("pool_height", "pool_width", "stride")
    )
    return (ph, pw), stride


def output_hw(x_shape, win, stride):
    """H' = 1 + (H - pool_height) // stride, likewise W' (no padding)."""
    return tuple(1 + (x_shape[2 + i] - win[i]) // stride for i in (0, 1))


def forward(x, pool_param):
    """(out, indices, x): the pooling, fastcnn's argmax indices and x in the
    dtype it ran in."""
    (x,) = as_float(x=x)
    ndim(x, 4, "x", "(N, C, H, W)")
    win, stride = window(pool_param)
    out, indices = F.max_pool2d(x, win, stride, return_indices=True)
    return out, indices, x


def tiles(x_shape, pool_param):
    """Whether the course's reshape method applies: square windows as large
    as the stride that tile H and W."""
    (ph, pw), stride = window(pool_param)
    return ph == pw == stride and x_shape[2] % ph == 0 and x_shape[3] % pw == 0


def naive_cache(x, pool_param, indices):
    return IndexedCache((x, pool_param), indices)


def reshape_cache(x, out, pool_param, indices):
    (ph, pw), _ = window(pool_param)
    n, c, h, w = x.shape
    return IndexedCache((x, x.reshape(n, c, h // ph, ph, w // pw, pw), out), indices)


def im2col_cache(x, pool_param, indices):
    """The course's im2col cache: x_cols holds the windows of x seen as N*C
    one-channel images (rows: (i, j) in the window; columns: (y, x, n, c)),
    x_cols_argmax each column's first maximum (row-major, as np.argmax)."""
    (ph, pw), stride = window(pool_param)
    n, c, h, w = x.shape
    oh, ow = indices.shape[2:]

    def columns():
        windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
        windows = windows[:, :, : oh * stride : stride, : ow * stride : stride]  # (N, C, OH, OW, PH, PW)
        return np.ascontiguousarray(windows.transpose(4, 5, 2, 3, 0, 1)).reshape(ph * pw, -1)

    def argmax():
        rows, cols = np.divmod(indices, w)
        rows -= (np.arange(oh) * stride)[:, None]
        cols -= np.arange(ow) * stride
        return (rows * pw + cols).transpose(2, 3, 0, 1).reshape(-1).astype(np.intp)

    columns_shape = (ph * pw, oh * ow * n * c)
    fields = (
        x,
        DeferredArray(columns, columns_shape, x.dtype),
        DeferredArray(argmax, columns_shape[1:], np.intp),
        pool_param,
    )
    return IndexedCache(fields, indices)


def _is_reshape(cache):
    return isinstance(cache, tuple) and len(cache) == 3 and np.ndim(cache[1]) == 6


def _is_im2col(cache):
    return isinstance(cache, tuple) and len(cache) == 4 and isinstance(cache[3], dict)


def cache_fields(cache, backward_name):
    """(x, window, stride, indices or None) of any course or fastcnn pool cache."""
    if isinstance(cache, tuple) and len(cache) == 2 and isinstance(cache[0], str):
        method, inner = cache
        if not ((method == "reshape" and _is_reshape(inner)) or (method == "im2col" and _is_im2col(inner))):
            raise foreign_cache(backward_name, cache, CACHE_LAYOUTS)
        cache = inner
    indices = getattr(cache, "indices", None)
    if isinstance(cache, tuple) and len(cache) == 2 and isinstance(cache[1], dict):
        return (cache[0], *window(cache[1]), indices)
    if _is_reshape(cache):
        x, x_reshaped, _ = cache
        ph, pw = x_reshaped.shape[3], x_reshaped.shape[5]
        return x, (ph, pw), ph, indices
    if _is_im2col(cache):
        return (cache[0], *window(cache[3]), indices)
    raise foreign_cache(backward_name, cache, CACHE_LAYOUTS)


def backward(dout, cache, backward_name):
    """dx of the pooling a cache describes: each window's gradient goes to
    its first maximum."""
    x, win, stride, indices = cache_fields(cache, backward_name)
    dout, x = as_float(dout=dout, x=x)
    ndim(x, 4, "the cache's x", "(N, C, H, W)")
    expected = (*x.shape[:2], *output_hw(x.shape, win, stride))
    if dout.shape != expected:
        raise ValueError(
            f"{backward_name}: dout has shape {dout.shape}, but pooling the cache's x {x.shape} "
            f"over {win[0]}x{win[1]} windows with stride {stride} gives {expected}"
        )
    return F.max_pool2d_backward(dout, x, win, stride, indices=indices)
