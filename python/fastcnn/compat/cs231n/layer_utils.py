"""CS231n's `cs231n/layer_utils.py`: the "sandwich" layers, on this package's
`layers` and `fast_layers`:

    # from cs231n.layer_utils import *
    from fastcnn.compat.cs231n.layer_utils import *

`import *` gives only the sandwiches defined here, never the layers they are
built from, so your own `layers` names survive it. Besides the course's
affine_relu, conv_relu, conv_bn_relu and conv_relu_pool, it has the helpers
completed solutions commonly add to this file or to fc_net.py:
affine_batchnorm_relu (also spelt affine_bn_relu), affine_layernorm_relu
(affine_ln_relu) and generic_forward / generic_backward
(affine - [batch/layer norm] - relu - [dropout], or affine alone with
last=True). Caches are tuples of the parts' caches in the order the parts
run; each backward returns (dx, dw, db) then the normalisation's
(dgamma, dbeta) where there is one.
"""

from __future__ import annotations

from .fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast
from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)

__all__ = [
    "affine_relu_forward",
    "affine_relu_backward",
    "affine_batchnorm_relu_forward",
    "affine_batchnorm_relu_backward",
    "affine_bn_relu_forward",
    "affine_bn_relu_backward",
    "affine_layernorm_relu_forward",
    "affine_layernorm_relu_backward",
    "affine_ln_relu_forward",
    "affine_ln_relu_backward",
    "generic_forward",
    "generic_backward",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_bn_relu_forward",
    "conv_bn_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
]


# ------------------------------------------------------------------- affine


def affine_relu_forward(x, w, b):
    """affine -> relu; returns (out, (fc_cache, relu_cache))."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Gradients of affine_relu_forward: (dx, dw, db)."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def _affine_norm_relu(x, w, b, gamma, beta, norm_param, norm_forward):
    a, fc_cache = affine_forward(x, w, b)
    an, norm_cache = norm_forward(a, gamma, beta, norm_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, norm_cache, relu_cache)


def _affine_norm_relu_backward(dout, cache, norm_backward):
    fc_cache, norm_cache, relu_cache = cache
    dan, dgamma, dbeta = norm_backward(relu_backward(dout, relu_cache), norm_cache)
    dx, dw, db = affine_backward(dan, fc_cache)
    return dx, dw, db, dgamma, dbeta


def affine_batchnorm_relu_forward(x, w, b, gamma, beta, bn_param):
    """affine -> batchnorm -> relu; returns (out, (fc_cache, bn_cache, relu_cache))."""
    return _affine_norm_relu(x, w, b, gamma, beta, bn_param, batchnorm_forward)


def affine_batchnorm_relu_backward(dout, cache):
    """Gradients of affine_batchnorm_relu_forward: (dx, dw, db, dgamma, dbeta)."""
    return _affine_norm_relu_backward(dout, cache, batchnorm_backward_alt)


def affine_layernorm_relu_forward(x, w, b, gamma, beta, ln_param):
    """affine -> layernorm -> relu; returns (out, (fc_cache, ln_cache, relu_cache))."""
    return _affine_norm_relu(x, w, b, gamma, beta, ln_param, layernorm_forward)


def affine_layernorm_relu_backward(dout, cache):
    """Gradients of affine_layernorm_relu_forward: (dx, dw, db, dgamma, dbeta)."""
    return _affine_norm_relu_backward(dout, cache, layernorm_backward)


affine_bn_relu_forward = affine_batchnorm_relu_forward
affine_bn_relu_backward = affine_batchnorm_relu_backward
affine_ln_relu_forward = affine_layernorm_relu_forward
affine_ln_relu_backward = affine_layernorm_relu_backward


def generic_forward(x, w, b, gamma=None, beta=None, bn_param=None, dropout_param=None, last=False):
    """One layer of a fully connected net: affine, then unless `last`:
    a normalisation when bn_param is given (batchnorm if it has a 'mode',
    else layernorm with it as ln_param), relu, and dropout when dropout_param
    is given. Returns (out, (fc_cache, bn_cache, ln_cache, relu_cache,
    dropout_cache)), None for the parts that did not run."""
    bn_cache = ln_cache = relu_cache = dropout_cache = None
    out, fc_cache = affine_forward(x, w, b)
    if not last:
        if bn_param is not None:
            if "mode" in bn_param:
                out, bn_cache = batchnorm_forward(out, gamma, beta, bn_param)
            else:
                out, ln_cache = layernorm_forward(out, gamma, beta, bn_param)
        out, relu_cache = relu_forward(out)
        if dropout_param is not None:
            out, dropout_cache = dropout_forward(out, dropout_param)
    return out, (fc_cache, bn_cache, ln_cache, relu_cache, dropout_cache)


def generic_backward(dout, cache):
    """Gradients of generic_forward: (dx, dw, db, dgamma, dbeta), the last
    two None without a normalisation."""
    fc_cache, bn_cache, ln_cache, relu_cache, dropout_cache = cache
    dgamma = dbeta = None
    if dropout_cache is not None:
        dout = dropout_backward(dout, dropout_cache)
    if relu_cache is not None:
        dout = relu_backward(dout, relu_cache)
    if bn_cache is not None:
        dout, dgamma, dbeta = batchnorm_backward_alt(dout, bn_cache)
    elif ln_cache is not None:
        dout, dgamma, dbeta = layernorm_backward(dout, ln_cache)
    dx, dw, db = affine_backward(dout, fc_cache)
    return dx, dw, db, dgamma, dbeta


# -------------------------------------------------------------- convolution


def conv_relu_forward(x, w, b, conv_param):
    """conv -> relu; returns (out, (conv_cache, relu_cache))."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Gradients of conv_relu_forward: (dx, dw, db)."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """conv -> spatial batchnorm -> relu; returns (out, (conv_cache, bn_cache, relu_cache))."""
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


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """conv -> relu -> max pool; returns (out, (conv_cache, relu_cache, pool_cache))."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Gradients of conv_relu_pool_forward: (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)
