"""Inference-time folding: a convolution or Dense layer followed by
BatchNormalization (and a ReLU / LeakyReLU) runs as one convolution whose
weights and bias absorb the normalisation, then the activation in place.

With s = gamma / sqrt(moving_variance + epsilon) per output channel,
    BN(conv(x, W) + b) = conv(x, W * s) + (b - moving_mean) * s + beta,
so inference skips BN's pass over the output (and its array). The folded
weights are computed once and reused while the layers' weights are the
same: the cache key holds the identity of every array involved, each
layer's weights version (bumped by build, set_weights and astype) and the
model's (bumped by every training-mode forward pass, which precedes every
update). Writing into a weight array in place by hand is the one change it
cannot see: call `set_weights` for that.
"""

from __future__ import annotations

import numpy as np

from . import functional as F, layers as L


def can_fold(layer, bn):
    """Whether `bn` normalises `layer`'s output channels and may be folded into it."""
    if (
        type(bn) is not L.BatchNormalization
        or not layer.built
        or not bn.built
        or layer.dtype != bn.dtype
        or getattr(layer, "activation", None) is not None
    ):
        return False
    if isinstance(layer, L._Conv):
        channel = 0 if layer.data_format == "channels_first" else layer.rank
        ndim = layer.rank + 1
    elif type(layer) is L.Dense:
        channel, ndim = 0, 1
    else:
        return False
    try:
        return bn._channel_axis(ndim) == channel
    except ValueError:
        return False


class FoldedBatchNorm:
    """`layer` (Conv1D, Conv2D or Dense) with the BatchNormalization after it
    folded in, and an optional ReLU / LeakyReLU applied in place; inference only."""

    def __init__(self, layer, bn, act=None):
        self.layer, self.bn, self.act = layer, bn, act
        self.name = f"{layer.name}+{bn.name}" + (f"+{act.name}" if act is not None else "")
        self._key = None
        self._weights = None

    def _cache_key(self, model_version):
        layer, bn = self.layer, self.bn
        arrays = [getattr(layer, n) for n in layer.param_names] + [
            getattr(bn, n) for n in bn.param_names + bn.state_names
        ]
        return (model_version, layer._weights_version, bn._weights_version), arrays

    def folded_weights(self, model_version=0):
        """(kernel, bias) with the normalisation folded in (cached)."""
        versions, arrays = self._cache_key(model_version)
        # The key holds the arrays themselves: compared by identity, and kept
        # alive so that no new array can take a replaced one's id.
        same = (
            self._key is not None
            and self._key[0] == versions
            and len(self._key[1]) == len(arrays)
            and all(a is b for a, b in zip(self._key[1], arrays))
        )
        if not same:
            self._weights, self._key = self._fold(), (versions, arrays)
        return self._weights

    def _fold(self):
        layer, bn = self.layer, self.bn
        c = bn.moving_mean.shape[0]
        gamma = bn.gamma.astype(np.float64) if bn.scale else np.ones(c)
        beta = bn.beta.astype(np.float64) if bn.center else np.zeros(c)
        s = gamma / np.sqrt(bn.moving_variance.astype(np.float64) + bn.epsilon)
        bias = layer.bias.astype(np.float64) if layer.use_bias else np.zeros(c)
        if type(layer) is L.Dense:
            kernel = layer.kernel * s[None, :]  # (in, out): scale the columns
        else:
            kernel = layer.kernel * s.reshape((-1,) + (1,) * (layer.kernel.ndim - 1))
        bias = (bias - bn.moving_mean.astype(np.float64)) * s + beta
        return kernel.astype(layer.dtype), bias.astype(layer.dtype)

    def forward(self, x, training=False, model_version=0):
        if training:
            raise RuntimeError(f"{self.name}: folded layers run in inference only")
        layer = self.layer
        kernel, bias = self.folded_weights(model_version)
        layer._build_from(x)
        x = np.asarray(x, dtype=layer.dtype)
        if type(layer) is L.Dense:
            z = F.linear(x, kernel, bias)
        else:
            z = layer._conv(
                x,
                kernel,
                bias,
                layer.strides,
                layer.padding,
                layer.dilation_rate,
                layer.groups,
                data_format=layer.data_format,
            )
        if self.act is not None:
            self.act.forward(z, training=False, out=z)
        return z
