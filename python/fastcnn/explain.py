"""Which algorithm computes a convolution, and why: the native planner's answer.

    >>> fastcnn.explain("conv2d", x, w, stride=1, padding=1)
    conv2d forward -> winograd: enough channels and tiles for the transforms
      channels_first_route  does not apply   only for algorithm='auto' on channels-last data
      winograd_phases       does not apply   needs 3x3, stride 2, ...
      winograd              chosen           enough channels and tiles for the transforms
      ...

The arguments are the op's own (those of `fastcnn.functional.conv2d` and
friends). Ops: "conv2d" (forward), "conv2d_backward_data",
"conv2d_backward_weight", and the same for "conv1d". FASTCNN_VERBOSE=1 in
the environment (or `fastcnn.set_verbose(True)`) prints the choice of every
call to stderr.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _C
from ._shapes import conv_geometry, same_float_dtype
from .functional import ALGORITHMS, _channels_last, _first_view

OPS = {
    "conv2d": (2, "forward"),
    "conv2d_backward_data": (2, "backward_data"),
    "conv2d_backward_weight": (2, "backward_weight"),
    "conv1d": (1, "forward"),
    "conv1d_backward_data": (1, "backward_data"),
    "conv1d_backward_weight": (1, "backward_weight"),
}


@dataclass(frozen=True)
class Candidate:
    path: str
    applies: bool
    preferred: bool
    chosen: bool
    why: str

    @property
    def verdict(self):
        if self.chosen:
            return "chosen"
        if not self.applies:
            return "does not apply"
        return "preferred, later" if self.preferred else "declined"


@dataclass(frozen=True)
class Explanation:
    op: str
    path: str
    why: str
    candidates: tuple

    def __str__(self):
        width = max(len(c.path) for c in self.candidates)
        lines = [f"{self.op} -> {self.path}: {self.why}"]
        lines += [f"  {c.path:<{width}}  {c.verdict:<16} {c.why}" for c in self.candidates]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):  # IPython shows the table
        printer.text(str(self))


def explain(
    op, x, w, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", data_format="channels_first"
):
    """The path the planner takes for `op` on x and w (an Explanation: `.path`,
    `.why`, and `.candidates`, every candidate in the planner's order with its
    verdict). Backward passes take the forward pass's x and w."""
    if op not in OPS:
        raise ValueError(f"op must be one of {sorted(OPS)}, got {op!r}")
    d, pass_name = OPS[op]
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    last = _channels_last(data_format)
    x, w = same_float_dtype(x=x, w=w)
    geo = conv_geometry(_first_view(x, last, d, "x"), w, stride, padding, dilation, groups, d)
    if d == 1:  # the native 2-D view: H = 1
        shape = (x.shape[0], 1) + x.shape[1:] if last else x.shape[:2] + (1,) + x.shape[2:]
        w = w[:, :, None, :]
    else:
        shape = x.shape
    w = np.ascontiguousarray(w)
    result = _C.explain_conv2d(
        pass_name, list(shape), w, *geo.native_args, algorithm=algorithm, channels_last=last
    )
    return Explanation(
        f"{op} {result['pass']}" if pass_name == "forward" else op,
        result["path"],
        result["why"],
        tuple(Candidate(**c) for c in result["candidates"]),
    )


def set_verbose(on=True):
    """Print every convolution's chosen path to stderr (FASTCNN_VERBOSE=1 at start-up does the same)."""
    _C.set_conv_verbose(bool(on))
