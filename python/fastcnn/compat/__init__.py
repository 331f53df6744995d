"""Drop-in replacements for the layer modules of well-known course code.

`fastcnn.compat.cs231n` has the names, arguments and return conventions of
the CS231n assignment modules `fast_layers`, `layers` and `layer_utils`
(plus a `ThreeLayerConvNet` like `classifiers/cnn.py`), with the convolution
and pooling running on fastcnn's native kernels:

    from fastcnn.compat.cs231n import conv_forward_fast, conv_backward_fast
"""

from . import cs231n

__all__ = ["cs231n"]
