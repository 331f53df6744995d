"""CS231n's assignment-2 modules on fastcnn's native kernels, one module for
each of the course's, so course code runs unchanged with its imports swapped:

    from cs231n.fast_layers import *        ->  from fastcnn.compat.cs231n.fast_layers import *
    from cs231n.layers import *             ->  from fastcnn.compat.cs231n.layers import *
    from cs231n.layer_utils import *        ->  from fastcnn.compat.cs231n.layer_utils import *
    from cs231n import optim                ->  from fastcnn.compat.cs231n import optim
    from cs231n.classifiers.cnn import *    ->  from fastcnn.compat.cs231n.classifiers.cnn import *

Each module's `import *` gives exactly the names the course's module defines
(its `__all__`), never another module's, so swapping `fast_layers` keeps the
`layers` functions you wrote. `from fastcnn.compat.cs231n import *` gives
only the module names above; every function is also an attribute of this
package (`from fastcnn.compat.cs231n import conv_forward_fast` works).

Conventions are the course's (2017 to 2023 editions; where they differ the
newer one, with the older call accepted): see each module's docstring and
docs/cs231n.md.
"""

from __future__ import annotations

from . import classifiers, fast_layers, layer_utils, layers, optim

__all__ = ["fast_layers", "layers", "layer_utils", "optim", "classifiers"]

ThreeLayerConvNet = classifiers.cnn.ThreeLayerConvNet

# every function as an attribute of the package, for `from fastcnn.compat.cs231n import name`
for _module in (layers, fast_layers, layer_utils, optim):
    globals().update({_name: getattr(_module, _name) for _name in _module.__all__})
del _module
