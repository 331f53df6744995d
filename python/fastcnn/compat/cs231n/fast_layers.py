"""CS231n's `cs231n/fast_layers.py` on fastcnn's native kernels, without Cython:

    # from cs231n.fast_layers import *
    from fastcnn.compat.cs231n.fast_layers import *

`import *` gives exactly the course module's twelve functions, so the
`from cs231n.layers import *` before it keeps your own layers.

* conv_forward_{fast,strides,im2col}(x, w, b, conv_param) -> (out, cache):
  x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'};
  out (N, F, 1 + (H + 2 pad - HH) // stride, ...). The cache is the course's
  (x, w, b, conv_param, x_cols), x_cols in the layout of the spelling
  (computed only if the course's own backward reads it).
* conv_backward_{fast,strides,im2col}(dout, cache) -> (dx, dw, db), from the
  cache of any conv forward of this package or of the course.
* max_pool_forward_{fast,reshape,im2col}(x, pool_param) -> (out, cache):
  pool_param {'pool_height', 'pool_width', 'stride'}, no padding,
  out (N, C, 1 + (H - pool_height) // stride, ...). max_pool_forward_fast
  returns ('reshape', ...) when the windows are square, as large as the
  stride and tile the input, else ('im2col', ...), as the course's does.
* max_pool_backward_{fast,reshape,im2col}(dout, cache) -> dx, from any max
  pool cache of this package or of the course. A window's gradient goes to
  its first maximum (row-major); the course's reshape backward splits it
  between tied maxima, which differs only where values are exactly equal.
"""

from __future__ import annotations

from . import _conv, _pool

__all__ = [
    "conv_forward_im2col",
    "conv_forward_strides",
    "conv_backward_strides",
    "conv_backward_im2col",
    "conv_forward_fast",
    "conv_backward_fast",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "max_pool_forward_reshape",
    "max_pool_backward_reshape",
    "max_pool_forward_im2col",
    "max_pool_backward_im2col",
]


# ------------------------------------------------------------------ convolution


def conv_forward_strides(x, w, b, conv_param):
    """Convolution of x (N, C, H, W) with w (F, C, HH, WW) plus b (F,).
    Returns (out, (x, w, b, conv_param, x_cols)), x_cols with columns ordered
    (n, y, x) as the course's conv_backward_strides reads them."""
    out, x, w, b = _conv.forward(x, w, b, conv_param)
    return out, (x, w, b, conv_param, _conv.course_columns(x, w.shape, conv_param, "strides"))


def conv_forward_im2col(x, w, b, conv_param):
    """conv_forward_strides with x_cols columns ordered (y, x, n), as the
    course's conv_backward_im2col reads them."""
    out, x, w, b = _conv.forward(x, w, b, conv_param)
    return out, (x, w, b, conv_param, _conv.course_columns(x, w.shape, conv_param, "im2col"))


def conv_backward_strides(dout, cache):
    """Gradients (dx, dw, db) of any conv forward's cache (this package's or the course's)."""
    return _conv.backward(dout, cache, "conv_backward_strides")


def conv_backward_im2col(dout, cache):
    """Gradients (dx, dw, db) of any conv forward's cache (this package's or the course's)."""
    return _conv.backward(dout, cache, "conv_backward_im2col")


def conv_forward_fast(x, w, b, conv_param):
    """The course's default fast convolution: conv_forward_strides."""
    return conv_forward_strides(x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    """Gradients (dx, dw, db) of any conv forward's cache (this package's or the course's)."""
    return _conv.backward(dout, cache, "conv_backward_fast")


# ---------------------------------------------------------------------- pooling


def max_pool_forward_reshape(x, pool_param):
    """Max pooling where pool_height == pool_width == stride and the windows
    tile H and W (as the course's reshape method requires). Returns
    (out, (x, x_reshaped, out))."""
    out, indices, x = _pool.forward(x, pool_param)
    if not _pool.tiles(x.shape, pool_param):
        raise ValueError(
            "max_pool_forward_reshape needs pool_height == pool_width == stride dividing H and W; "
            f"got pool_param {pool_param} for x of shape {x.shape} (max_pool_forward_fast takes any)"
        )
    return out, _pool.reshape_cache(x, out, pool_param, indices)


def max_pool_forward_im2col(x, pool_param):
    """Max pooling of x (N, C, H, W) over any windows. Returns
    (out, (x, x_cols, x_cols_argmax, pool_param))."""
    out, indices, x = _pool.forward(x, pool_param)
    return out, _pool.im2col_cache(x, pool_param, indices)


def max_pool_forward_fast(x, pool_param):
    """Max pooling of x (N, C, H, W). Returns (out, ('reshape', cache)) when
    the reshape method applies, else (out, ('im2col', cache)), as the course's."""
    out, indices, x = _pool.forward(x, pool_param)
    if _pool.tiles(x.shape, pool_param):
        return out, ("reshape", _pool.reshape_cache(x, out, pool_param, indices))
    return out, ("im2col", _pool.im2col_cache(x, pool_param, indices))


def max_pool_backward_reshape(dout, cache):
    """dx of any max pool forward's cache (this package's or the course's)."""
    return _pool.backward(dout, cache, "max_pool_backward_reshape")


def max_pool_backward_im2col(dout, cache):
    """dx of any max pool forward's cache (this package's or the course's)."""
    return _pool.backward(dout, cache, "max_pool_backward_im2col")


def max_pool_backward_fast(dout, cache):
    """dx of any max pool forward's cache (this package's or the course's)."""
    return _pool.backward(dout, cache, "max_pool_backward_fast")
