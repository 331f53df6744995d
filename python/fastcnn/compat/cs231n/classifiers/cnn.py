"""CS231n's `cs231n/classifiers/cnn.py`: a ThreeLayerConvNet on this package's layers.

    # from cs231n.classifiers.cnn import ThreeLayerConvNet
    from fastcnn.compat.cs231n.classifiers.cnn import ThreeLayerConvNet

A reference network to compare your own with (same parameters, same losses)
or to time; it is never exported by the layer modules, so it cannot replace
your own class.
"""

from __future__ import annotations

import types

import numpy as np

from .. import layer_utils, layers

__all__ = ["ThreeLayerConvNet"]

# the layer functions ThreeLayerConvNet.loss calls on its backend
BACKEND_FUNCTIONS = (
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
    "affine_relu_forward",
    "affine_relu_backward",
    "affine_forward",
    "affine_backward",
    "softmax_loss",
)
# the default backend: this package's versions of them
FASTCNN_LAYERS = types.SimpleNamespace(
    **{name: getattr(layer_utils, name, None) or getattr(layers, name) for name in BACKEND_FUNCTIONS}
)


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, as in
    CS231n's `classifiers/cnn.py`.

    The convolution keeps the spatial size (stride 1, pad (filter_size - 1) // 2),
    so the pool gives (num_filters, H // 2, W // 2). Parameters live in
    `self.params`: W1 (F, C, filter_size, filter_size), b1 (F,),
    W2 (F * H//2 * W//2, hidden_dim), b2, W3 (hidden_dim, num_classes), b3,
    weights drawn from np.random.randn * weight_scale in that order (the global
    NumPy generator, as the course does), biases zero, all of `dtype`.

    `backend` is any module or object with the layer functions of
    BACKEND_FUNCTIONS in the course's conventions: this package's by default
    (FASTCNN_LAYERS),
    or e.g. the course's own layer modules gathered in a namespace, to run the
    same network on either.
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
        self.backend = FASTCNN_LAYERS if backend is None else backend
        missing = [name for name in BACKEND_FUNCTIONS if not callable(getattr(self.backend, name, None))]
        if missing:
            raise TypeError(f"backend {self.backend!r} lacks the layer functions {missing}")
        if len(input_dim) != 3:
            raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
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
