"""Which implementation the layers, losses and models run: the native ops
(the default) or the NumPy reference path.

`with fastcnn.reference_path():` makes every layer's elementwise work
(batch norm, activations, softmax, dropout) run on `fastcnn.reference`, the
losses on their NumPy formulas, and models without fusing layers; the
convolutions and pools stay native (they are checked against the reference
op by op). Tests train a model both ways and compare.
"""

from __future__ import annotations

import contextlib
import threading

from . import functional, reference

_state = threading.local()


def reference_active():
    return getattr(_state, "reference", False)


def ops():
    """The module the layers take their elementwise ops from."""
    return reference if reference_active() else functional


@contextlib.contextmanager
def reference_path(active=True):
    """Run the block on the NumPy reference path (or, active=False, the native one)."""
    before = reference_active()
    _state.reference = bool(active)
    try:
        yield
    finally:
        _state.reference = before
