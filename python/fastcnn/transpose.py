"""Transposed convolution (PyTorch's conv_transpose2d / conv_transpose1d).

A transposed convolution is the gradient of a convolution with respect to
its input: conv_transpose(x, w) with w of shape (C_in, C_out / groups, KH, KW)
is conv2d_backward's dx for a convolution from C_out to C_in channels whose
output is x. So it runs on the backward-data paths (Winograd, direct tiles,
phase GEMMs, col2im: whatever the planner picks for that convolution), and
its own backward is that convolution's forward (dx) and weight gradient (dw).

Output size per spatial dim:
    (in - 1) * stride - pad_before - pad_after + dilation * (k - 1) + output_padding + 1
`padding` is an int, one int per dim (both sides), or explicit (before, after)
pairs per dim; `output_padding` (added after, to pick one of the sizes a
strided convolution maps to the same input size) must be below the stride.
"""

from __future__ import annotations

import numpy as np

from ._shapes import _as_int, positive_tuple, same_float_dtype
from .functional import DATA_FORMATS, conv2d, conv2d_backward

__all__ = [
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "conv_transpose1d",
    "conv_transpose1d_backward",
    "conv_transpose_output_size",
]


def _pads(padding, d):
    """((before, after), ...) per spatial dim from an int, d ints, or d pairs."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        items = [padding] * d
    elif isinstance(padding, (list, tuple)):
        items = list(padding)
        if d == 1 and len(items) == 2 and not isinstance(items[0], (list, tuple)):
            items = [tuple(items)]
        if len(items) != d:
            raise ValueError(f"padding must have {d} entries (one per spatial dim), got {padding!r}")
    else:
        raise ValueError(f"padding must be an int, {d} ints or {d} (before, after) pairs, got {padding!r}")
    pads = []
    for item in items:
        pair = tuple(item) if isinstance(item, (list, tuple)) else (item, item)
        if len(pair) != 2:
            raise ValueError(f"padding pairs must be (before, after), got {padding!r}")
        pair = tuple(_as_int(v, "padding") for v in pair)
        if min(pair) < 0:
            raise ValueError(f"padding must be non-negative, got {padding!r}")
        pads.append(pair)
    return tuple(pads)


def _output_padding(value, stride, d):
    if isinstance(value, (list, tuple)):
        items = list(value)
        if len(items) != d:
            raise ValueError(f"output_padding must be an int or {d} ints, got {value!r}")
    else:
        items = [value] * d
    out = tuple(_as_int(v, "output_padding") for v in items)
    for o, s in zip(out, stride):
        if not 0 <= o < s:
            raise ValueError(f"output_padding must be >= 0 and below the stride {stride}, got {value!r}")
    return out


def conv_transpose_output_size(n, kernel, stride=1, pad_before=0, pad_after=0, dilation=1, output_padding=0):
    """Output size of a transposed convolution along one dim (ValueError if not positive)."""
    n, kernel, stride, pad_before, pad_after, dilation, output_padding = (
        _as_int(v, name)
        for v, name in zip(
            (n, kernel, stride, pad_before, pad_after, dilation, output_padding),
            ("n", "kernel", "stride", "pad_before", "pad_after", "dilation", "output_padding"),
        )
    )
    size = (n - 1) * stride - pad_before - pad_after + dilation * (kernel - 1) + output_padding + 1
    if size <= 0:
        raise ValueError(
            f"transposed convolution output size is {size} (input {n}, kernel {kernel}, "
            f"stride {stride}, padding ({pad_before}, {pad_after}), dilation {dilation})"
        )
    return size


def _geometry(x, w, stride, padding, output_padding, groups, dilation, d, data_format):
    """The convolution this transposes: its input (our output) shape, args and layout."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    last = data_format == "channels_last"
    x, w = same_float_dtype(x=x, w=w)
    if x.ndim != d + 2:
        layout = {1: "(N, L, C)" if last else "(N, C, L)", 2: "(N, H, W, C)" if last else "(N, C, H, W)"}[d]
        raise ValueError(f"x must be {d + 2}-D {layout}, got shape {x.shape}")
    if w.ndim != d + 2:
        raise ValueError(
            f"w must be {d + 2}-D (C_in, C_out/groups, {'K' if d == 1 else 'KH, KW'}), got {w.shape}"
        )
    if min(w.shape) <= 0:
        raise ValueError(f"w must have positive sizes, got shape {w.shape}")
    if min(x.shape) <= 0:
        raise ValueError(f"x must have a positive batch, channels and sizes, got shape {x.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    c_in = x.shape[-1] if last else x.shape[1]
    if w.shape[0] != c_in:
        raise ValueError(
            f"w's first dim must equal x's {c_in} channels (w is (C_in, C_out/groups, ...)), "
            f"got w {w.shape} for x {x.shape}"
        )
    if c_in % groups:
        raise ValueError(f"groups={groups} does not divide x's {c_in} channels")
    stride = positive_tuple(stride, d, "stride")
    dilation = positive_tuple(dilation, d, "dilation")
    pads = _pads(padding, d)
    extra = _output_padding(output_padding, stride, d)
    sizes = x.shape[1:-1] if last else x.shape[2:]
    out_sizes = tuple(
        conv_transpose_output_size(n, k, s, p[0], p[1], dl, o)
        for n, k, s, p, dl, o in zip(sizes, w.shape[2:], stride, pads, dilation, extra)
    )
    c_out = w.shape[1] * groups
    out_shape = (x.shape[0],) + out_sizes + (c_out,) if last else (x.shape[0], c_out) + out_sizes
    # The convolution has the same padding; the output padding's extra rows lie
    # past the last window it reads (output_padding < stride).
    args = dict(stride=stride, padding=pads, dilation=dilation, groups=groups, data_format=data_format)
    return x, w, out_shape, args, last


def _transpose_forward(x, w, b, stride, padding, output_padding, groups, dilation, d, data_format):
    x, w, out_shape, args, last = _geometry(
        x, w, stride, padding, output_padding, groups, dilation, d, data_format
    )
    conv_input = np.empty(out_shape, x.dtype)  # only its shape is read (needs=("x",))
    backward = conv2d_backward if d == 2 else _conv1d_backward
    y = backward(x, conv_input, w, needs=("x",), **args)[0]
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[1] * args["groups"],):
            raise ValueError(
                f"b must have shape ({w.shape[1] * args['groups']},) (C_out/groups = {w.shape[1]} of w "
                f"{w.shape} times groups={args['groups']}), got {b.shape}"
            )
        y += b.astype(y.dtype, copy=False).reshape((-1,) if last else (-1,) + (1,) * d)
    return y


def _transpose_backward(dout, x, w, stride, padding, output_padding, groups, dilation, needs, d, data_format):
    x, w, out_shape, args, last = _geometry(
        x, w, stride, padding, output_padding, groups, dilation, d, data_format
    )
    dout, x = same_float_dtype(dout=dout, x=x)
    if dout.shape != out_shape:
        raise ValueError(f"dout must have the output shape {out_shape}, got {dout.shape}")
    if isinstance(needs, str):
        needs = (needs,)
    if not isinstance(needs, (tuple, list, set, frozenset)) or set(needs) - {"x", "w", "b"}:
        raise ValueError(f"needs must be a sequence of some of 'x', 'w', 'b', got {needs!r}")
    forward = conv2d if d == 2 else _conv1d
    backward = conv2d_backward if d == 2 else _conv1d_backward
    dx = forward(dout, w, **args) if "x" in needs else None
    dw = backward(x, dout, w, needs=("w",), **args)[1] if "w" in needs else None
    axes = tuple(range(dout.ndim - 1)) if last else (0,) + tuple(range(2, dout.ndim))
    db = dout.sum(axis=axes) if "b" in needs else None
    return dx, dw, db


def _conv1d(x, w, **kw):
    from .functional import conv1d

    return conv1d(x, w, **kw)


def _conv1d_backward(dout, x, w, **kw):
    from .functional import conv1d_backward

    return conv1d_backward(dout, x, w, **kw)


def conv_transpose2d(
    x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, data_format="channels_first"
):
    """Transposed 2-D convolution of (N, C_in, H, W) with w (C_in, C_out/groups, KH, KW) (PyTorch's
    arguments and layout): (N, C_out, H_out, W_out)."""
    return _transpose_forward(x, w, b, stride, padding, output_padding, groups, dilation, 2, data_format)


def conv_transpose2d_backward(
    dout,
    x,
    w,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    needs=("x", "w", "b"),
    data_format="channels_first",
):
    """Gradients of conv_transpose2d: (dx, dw, db); entries not in `needs` are None."""
    return _transpose_backward(
        dout, x, w, stride, padding, output_padding, groups, dilation, needs, 2, data_format
    )


def conv_transpose1d(
    x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, data_format="channels_first"
):
    """Transposed 1-D convolution of (N, C_in, L) with w (C_in, C_out/groups, K)."""
    return _transpose_forward(x, w, b, stride, padding, output_padding, groups, dilation, 1, data_format)


def conv_transpose1d_backward(
    dout,
    x,
    w,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    needs=("x", "w", "b"),
    data_format="channels_first",
):
    """Gradients of conv_transpose1d: (dx, dw, db); entries not in `needs` are None."""
    return _transpose_backward(
        dout, x, w, stride, padding, output_padding, groups, dilation, needs, 1, data_format
    )
