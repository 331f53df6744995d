"""Drop-in replacements for the modules of well-known course code.

`fastcnn.compat.cs231n` mirrors the CS231n assignment-2 modules `fast_layers`,
`layers`, `layer_utils`, `optim` and `classifiers.cnn` one to one (names,
arguments, return values, cache layouts), with convolution, pooling, the
affine products and the normalisations on fastcnn's native kernels:

    from fastcnn.compat.cs231n.fast_layers import *
"""

from . import cs231n

__all__ = ["cs231n"]
