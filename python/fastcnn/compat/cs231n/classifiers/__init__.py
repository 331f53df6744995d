"""CS231n's `cs231n/classifiers`: the ThreeLayerConvNet of `cnn.py`."""

from . import cnn

__all__ = ["cnn"]
