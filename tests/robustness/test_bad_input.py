"""Bad input raises ValueError / TypeError naming the argument; never a crash or hang.

Covers the documented API (`fastcnn.functional`) and, directly, the raw
`fastcnn._C` functions, which re-check everything so that a direct call
cannot crash the interpreter.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import fastcnn._C as C
import fastcnn.functional as F

X = np.ones((1, 1, 4, 4))
W = np.ones((1, 1, 2, 2))
D = np.ones((1, 1, 3, 3))  # conv2d(X, W) output
X1, W1, D1 = X[:, :, 0], W[:, :, 0], np.ones((1, 1, 3))
P = np.ones((1, 1, 2, 2))  # max_pool2d(X, 2) output
OBJ = np.empty((1, 1, 4, 4), dtype=object)
OBJ[...] = 1.0

CASES = [
    # ---- convolution: ndim
    ("x 3-D", lambda: F.conv2d(np.ones((1, 4, 4)), W), ValueError, r"\bx must be 4-D"),
    ("x 5-D", lambda: F.conv2d(np.ones((1, 1, 1, 4, 4)), W), ValueError, r"\bx must be 4-D"),
    ("w 3-D", lambda: F.conv2d(X, np.ones((1, 2, 2))), ValueError, r"\bw must be 4-D"),
    ("conv1d x 4-D", lambda: F.conv1d(X, W1), ValueError, r"\bx must be 3-D"),
    ("conv1d w 4-D", lambda: F.conv1d(X1, W), ValueError, r"\bw must be 3-D"),
    ("dout 3-D", lambda: F.conv2d_backward(np.ones((1, 3, 3)), X, W), ValueError, r"\bdout\b"),
    ("conv1d dout 4-D", lambda: F.conv1d_backward(D, X1, W1), ValueError, r"\bdout\b"),
    ("backward x 3-D", lambda: F.conv2d_backward(D, np.ones((1, 4, 4)), W), ValueError, r"\bx must be 4-D"),
    ("backward w 2-D", lambda: F.conv2d_backward(D, X, np.ones((2, 2))), ValueError, r"\bw must be 4-D"),
    # ---- channels and groups
    (
        "channel mismatch",
        lambda: F.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 2, 2, 2))),
        ValueError,
        "channel",
    ),
    (
        "groups vs x channels",
        lambda: F.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 1, 2, 2)), groups=2),
        ValueError,
        "groups",
    ),
    (
        "groups vs w channels",
        lambda: F.conv2d(np.ones((1, 4, 4, 4)), np.ones((3, 2, 2, 2)), groups=2),
        ValueError,
        "groups",
    ),
    ("groups 0", lambda: F.conv2d(X, W, groups=0), ValueError, "groups"),
    ("groups -1", lambda: F.conv2d(X, W, groups=-1), ValueError, "groups"),
    ("groups float", lambda: F.conv2d(X, W, groups=1.5), ValueError, "groups"),
    ("groups bool", lambda: F.conv2d(X, W, groups=True), ValueError, "groups"),
    # ---- stride / kernel / dilation
    ("stride 0", lambda: F.conv2d(X, W, stride=0), ValueError, "stride"),
    ("stride -1", lambda: F.conv2d(X, W, stride=-1), ValueError, "stride"),
    ("stride (1, 0)", lambda: F.conv2d(X, W, stride=(1, 0)), ValueError, "stride"),
    ("stride 3 ints", lambda: F.conv2d(X, W, stride=(1, 1, 1)), ValueError, "stride"),
    ("stride float", lambda: F.conv2d(X, W, stride=1.5), TypeError, "stride"),
    ("stride None", lambda: F.conv2d(X, W, stride=None), TypeError, "stride"),
    ("kernel 0", lambda: F.conv2d(X, np.ones((1, 1, 0, 2))), ValueError, r"\bw\b.*kernel"),
    ("c_out 0", lambda: F.conv2d(X, np.ones((0, 1, 2, 2))), ValueError, r"\bw\b"),
    ("dilation 0", lambda: F.conv2d(X, W, dilation=0), ValueError, "dilation"),
    ("dilation -2", lambda: F.conv1d(X1, W1, dilation=-2), ValueError, "dilation"),
    ("empty batch", lambda: F.conv2d(np.ones((0, 1, 4, 4)), W), ValueError, r"\bx\b"),
    ("empty width", lambda: F.conv2d(np.ones((1, 1, 4, 0)), W), ValueError, r"\bx\b"),
    # ---- padding
    ("padding -1", lambda: F.conv2d(X, W, padding=-1), ValueError, "padding"),
    ("padding (1, -1)", lambda: F.conv2d(X, W, padding=(1, -1)), ValueError, "padding"),
    ("padding explicit negative", lambda: F.conv2d(X, W, padding=((0, 0), (-1, 0))), ValueError, "padding"),
    ("padding 3 entries", lambda: F.conv2d(X, W, padding=(1, 1, 1)), ValueError, "padding"),
    ("padding 1-D 3 entries", lambda: F.conv1d(X1, W1, padding=(1, 1, 1)), ValueError, "padding"),
    ("padding float", lambda: F.conv2d(X, W, padding=1.5), TypeError, "padding"),
    ("padding unknown string", lambda: F.conv2d(X, W, padding="full"), ValueError, "padding"),
    ("padding None", lambda: F.conv2d(X, W, padding=None), TypeError, "padding"),
    # ---- kernel larger than the padded input
    (
        "kernel too large",
        lambda: F.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))),
        ValueError,
        "kernel",
    ),
    (
        "dilated kernel too large",
        lambda: F.conv2d(X, np.ones((1, 1, 3, 3)), dilation=2),
        ValueError,
        "kernel",
    ),
    ("conv1d kernel too large", lambda: F.conv1d(X1, np.ones((1, 1, 7)), padding=1), ValueError, "kernel"),
    # ---- dout shape
    ("dout shape", lambda: F.conv2d_backward(np.ones((1, 1, 2, 2)), X, W), ValueError, r"\bdout\b"),
    ("dout channels", lambda: F.conv2d_backward(np.ones((1, 2, 3, 3)), X, W), ValueError, r"\bdout\b"),
    ("conv1d dout shape", lambda: F.conv1d_backward(np.ones((1, 1, 4)), X1, W1), ValueError, r"\bdout\b"),
    # ---- dtypes
    ("x f32 w f64", lambda: F.conv2d(X.astype(np.float32), W), TypeError, "x: float32.*w: float64"),
    ("x f64 w f32", lambda: F.conv1d(X1, W1.astype(np.float32)), TypeError, "x: float64.*w: float32"),
    (
        "dout f32",
        lambda: F.conv2d_backward(D.astype(np.float32), X, W),
        TypeError,
        "dout: float32.*x: float64",
    ),
    ("x complex", lambda: F.conv2d(X.astype(complex), W), TypeError, r"\bx must be a real"),
    ("w complex", lambda: F.conv2d(X, W.astype(np.complex64)), TypeError, r"\bw must be a real"),
    ("x object", lambda: F.conv2d(OBJ, W), TypeError, r"\bx must be a real"),
    ("x strings", lambda: F.conv2d(np.full((1, 1, 4, 4), "a"), W), TypeError, r"\bx must be a real"),
    ("dout complex", lambda: F.conv2d_backward(D.astype(complex), X, W), TypeError, r"\bdout must be a real"),
    ("b complex", lambda: F.conv2d(X, W, b=np.ones(1, complex)), TypeError, r"\bb must be a real"),
    ("b object", lambda: F.conv2d(X, W, b=np.array([None])), TypeError, r"\bb must be a real"),
    # ---- bias shape
    ("b too long", lambda: F.conv2d(X, W, b=np.ones(2)), ValueError, r"\bb must have shape"),
    ("b 2-D", lambda: F.conv2d(X, W, b=np.ones((1, 1))), ValueError, r"\bb must have shape"),
    ("b scalar", lambda: F.conv2d(X, W, b=1.0), ValueError, r"\bb must have shape"),
    ("conv1d b", lambda: F.conv1d(X1, W1, b=np.ones(3)), ValueError, r"\bb must have shape"),
    # ---- needs / algorithm
    ("needs unknown", lambda: F.conv2d_backward(D, X, W, needs=("q",)), ValueError, "needs"),
    ("needs 'xw'", lambda: F.conv2d_backward(D, X, W, needs="xw"), ValueError, "needs"),
    ("needs 'dx'", lambda: F.conv1d_backward(D1, X1, W1, needs=("dx",)), ValueError, "needs"),
    ("algorithm unknown", lambda: F.conv2d(X, W, algorithm="fft"), ValueError, "algorithm"),
    ("algorithm backward", lambda: F.conv2d_backward(D, X, W, algorithm="fft"), ValueError, "algorithm"),
    ("algorithm None", lambda: F.conv1d(X1, W1, algorithm=None), ValueError, "algorithm"),
    # ---- pooling geometry
    ("pool padding > k//2", lambda: F.max_pool2d(X, 2, padding=2), ValueError, "padding"),
    ("pool padding > k//2 avg", lambda: F.avg_pool2d(X, 3, padding=(0, 2)), ValueError, "padding"),
    ("pool1d pair > k//2", lambda: F.avg_pool1d(X1, 3, padding=(0, 2)), ValueError, "padding"),
    ("pool explicit > k//2", lambda: F.max_pool2d(X, 2, padding=((0, 0), (2, 0))), ValueError, "padding"),
    ("pool padding negative", lambda: F.max_pool2d(X, 2, padding=-1), ValueError, "padding"),
    ("pool padding string", lambda: F.avg_pool1d(X1, 2, padding="full"), ValueError, "padding"),
    ("pool kernel too large", lambda: F.max_pool2d(X, 5), ValueError, "kernel_size"),
    ("pool1d kernel too large", lambda: F.avg_pool1d(X1, 6, padding=0), ValueError, "kernel_size"),
    ("pool kernel 0", lambda: F.max_pool2d(X, 0), ValueError, "kernel_size"),
    ("pool kernel -1", lambda: F.avg_pool1d(X1, -1), ValueError, "kernel_size"),
    ("pool kernel 3 ints", lambda: F.max_pool2d(X, (2, 2, 2)), ValueError, "kernel_size"),
    ("pool kernel float", lambda: F.max_pool2d(X, 2.5), TypeError, "kernel_size"),
    ("pool stride 0", lambda: F.max_pool2d(X, 2, stride=0), ValueError, "stride"),
    ("pool stride (1, -1)", lambda: F.avg_pool2d(X, 2, stride=(1, -1)), ValueError, "stride"),
    ("pool x 3-D", lambda: F.max_pool2d(np.ones((1, 4, 4)), 2), ValueError, r"\bx must be 4-D"),
    ("pool1d x 4-D", lambda: F.max_pool1d(X, 2), ValueError, r"\bx must be 3-D"),
    ("avg pool x 2-D", lambda: F.avg_pool2d(np.ones((4, 4)), 2), ValueError, r"\bx must be 4-D"),
    ("pool empty", lambda: F.max_pool2d(np.ones((1, 0, 4, 4)), 2), ValueError, r"\bx\b"),
    ("pool complex", lambda: F.max_pool2d(X.astype(complex), 2), TypeError, r"\bx must be a real"),
    ("pool object", lambda: F.avg_pool2d(OBJ, 2), TypeError, r"\bx must be a real"),
    # ---- pooling backward
    ("max dout shape", lambda: F.max_pool2d_backward(D, X, 2), ValueError, r"\bdout\b"),
    ("avg dout shape", lambda: F.avg_pool2d_backward(D, X, 2), ValueError, r"\bdout\b"),
    ("max1d dout ndim", lambda: F.max_pool1d_backward(P, X1, 2), ValueError, r"\bdout\b"),
    (
        "pool dout dtype",
        lambda: F.max_pool2d_backward(P.astype(np.float32), X, 2),
        TypeError,
        "dout: float32.*x: float64",
    ),
    (
        "avg dout dtype",
        lambda: F.avg_pool2d_backward(P, X.astype(np.float32), 2),
        TypeError,
        "dout: float64.*x: float32",
    ),
    (
        "indices shape",
        lambda: F.max_pool2d_backward(P, X, 2, indices=np.zeros((1, 1, 2, 3), np.int64)),
        ValueError,
        "indices",
    ),
    (
        "indices float",
        lambda: F.max_pool2d_backward(P, X, 2, indices=np.zeros((1, 1, 2, 2))),
        TypeError,
        "indices",
    ),
    (
        "indices == H*W",
        lambda: F.max_pool2d_backward(P, X, 2, indices=np.full((1, 1, 2, 2), 16)),
        ValueError,
        "indices",
    ),
    (
        "indices huge",
        lambda: F.max_pool2d_backward(P, X, 2, indices=np.full((1, 1, 2, 2), 2**40)),
        ValueError,
        "indices",
    ),
    (
        "indices negative",
        lambda: F.max_pool2d_backward(P, X, 2, indices=np.full((1, 1, 2, 2), -1)),
        ValueError,
        "indices",
    ),
    (
        "indices uint64 wrap",
        lambda: F.max_pool2d_backward(P, X, 2, indices=np.full((1, 1, 2, 2), 2**63, np.uint64)),
        ValueError,
        "indices",
    ),
    (
        "indices 1-D == L",
        lambda: F.max_pool1d_backward(np.ones((1, 1, 2)), X1, 2, indices=np.array([[[0, 4]]])),
        ValueError,
        "indices",
    ),
    # ---- global pools
    ("global x 2-D", lambda: F.global_avg_pool2d(np.ones((2, 3))), ValueError, r"\bx must be 4-D"),
    ("global1d x 4-D", lambda: F.global_max_pool1d(X), ValueError, r"\bx must be 3-D"),
    ("global empty", lambda: F.global_max_pool2d(np.ones((1, 1, 0, 3))), ValueError, r"\bx\b"),
    ("global complex", lambda: F.global_avg_pool1d(X1.astype(complex)), TypeError, r"\bx must be a real"),
    ("global dout shape", lambda: F.global_avg_pool2d_backward(np.ones((1, 2)), X), ValueError, r"\bdout\b"),
    (
        "global dout keepdims shape",
        lambda: F.global_max_pool2d_backward(np.ones((1, 1, 1)), X),
        ValueError,
        r"\bdout\b",
    ),
    (
        "global dout dtype",
        lambda: F.global_avg_pool1d_backward(np.ones((1, 1), np.float32), X1),
        TypeError,
        "dout: float32",
    ),
    (
        "global indices size",
        lambda: F.global_max_pool1d_backward(np.ones((1, 1)), X1, indices=np.zeros(2, np.int64)),
        ValueError,
        "indices",
    ),
    (
        "global indices float",
        lambda: F.global_max_pool2d_backward(np.ones((1, 1)), X, indices=np.zeros((1, 1))),
        ValueError,
        "indices",
    ),
    (
        "global indices == size",
        lambda: F.global_max_pool2d_backward(np.ones((1, 1)), X, indices=np.array([[16]])),
        ValueError,
        "indices",
    ),
    (
        "global indices negative",
        lambda: F.global_max_pool1d_backward(np.ones((1, 1)), X1, indices=np.array([[-3]])),
        ValueError,
        "indices",
    ),
    # ---- sizes past the index range
    (
        "output elements overflow",
        lambda: F.conv2d(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), padding=2**31),
        ValueError,
        "output",
    ),
    (
        "conv1d output overflow",
        lambda: F.conv1d(np.ones((1, 1, 1)), np.ones((1, 1, 1)), padding=2**61),
        ValueError,
        "output",
    ),
    ("stride past 2**31", lambda: F.conv2d(X, W, stride=2**40), ValueError, "stride"),
    (
        "dilation past 2**31",
        lambda: F.conv2d(X, np.ones((1, 1, 1, 1)), dilation=2**40),
        ValueError,
        "dilation",
    ),
    ("pool stride past 2**31", lambda: F.max_pool2d(X, 2, stride=2**40), ValueError, "stride"),
]


@pytest.mark.parametrize("call, error, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_raises_and_names_it(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("needs", [5, None, b"x", {"x": 1}.keys()])
def test_needs_of_the_wrong_type_is_named(needs):
    with pytest.raises((TypeError, ValueError), match="needs"):
        F.conv2d_backward(D, X, W, needs=needs)


# ------------------------------------------------------ element-count overflow


def _huge(shape, dtype=np.float32):
    """An array of `shape` on a one-element buffer (zero strides): no memory used."""
    return as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))


HUGE = (2**30, 2**30, 1, 1)  # 2**60 elements: the most NumPy can describe in float32


@pytest.mark.parametrize(
    "name, call",
    [
        ("conv2d", lambda: F.conv2d(_huge(HUGE), _huge((1, 2**30, 1, 1)))),
        (
            "conv2d float64",
            lambda: F.conv2d(_huge((2**29, 2**30, 1, 1), np.float64), _huge((1, 2**30, 1, 1), np.float64)),
        ),
        (
            "conv2d_backward",
            lambda: F.conv2d_backward(
                np.ones((1, 1, 1, 1), np.float32), _huge((1, 2**60, 1, 1)), _huge((1, 2**60, 1, 1))
            ),
        ),
        (
            "conv1d_backward",
            lambda: F.conv1d_backward(
                np.ones((1, 1, 1), np.float32), _huge((1, 2**60, 1)), _huge((1, 2**60, 1)), needs="w"
            ),
        ),
        ("conv1d", lambda: F.conv1d(_huge((2**30, 2**30, 1)), _huge((1, 2**30, 1)))),
        ("max_pool2d", lambda: F.max_pool2d(_huge(HUGE), 1)),
        ("avg_pool2d", lambda: F.avg_pool2d(_huge(HUGE), 1)),
        ("max_pool2d_backward", lambda: F.max_pool2d_backward(_huge(HUGE), _huge(HUGE), 1)),
        (
            "avg_pool1d_backward",
            lambda: F.avg_pool1d_backward(_huge((2**30, 2**30, 1)), _huge((2**30, 2**30, 1)), 1),
        ),
        ("global_avg_pool2d", lambda: F.global_avg_pool2d(_huge(HUGE))),
        ("global_max_pool2d", lambda: F.global_max_pool2d(_huge(HUGE), return_indices=True)),
        (
            "global_max_pool2d_backward",
            lambda: F.global_max_pool2d_backward(_huge((2**30, 2**30)), _huge(HUGE)),
        ),
        (
            "global_avg_pool1d_backward",
            lambda: F.global_avg_pool1d_backward(_huge((2**30, 2**30)), _huge((2**30, 2**30, 1))),
        ),
    ],
)
def test_element_count_too_large_raises(name, call):
    with pytest.raises((ValueError, MemoryError)):
        call()


def test_shapes_numpy_cannot_describe_never_reach_us():
    # (2**40, 2**40, 1, 1) has 2**80 elements: NumPy refuses to build even a zero-stride view
    with pytest.raises(ValueError):
        _huge((2**40, 2**40, 1, 1))


# --------------------------------------------------------- raw native calls

F64 = np.ones((1, 1, 4, 4))
W64 = np.ones((1, 1, 2, 2))
CONV = (1, 1, 0, 0, 0, 0, 1, 1, 1)  # sh sw pt pb pl pr dh dw groups
WIN = (2, 2, 2, 2, 0, 0, 0, 0)  # kh kw sh sw pt pb pl pr

RAW = [
    (
        "conv int dtype",
        lambda: C.conv2d_forward(F64.astype(np.int32), W64.astype(np.int32), None, *CONV),
        TypeError,
    ),
    (
        "conv float16",
        lambda: C.conv2d_forward(F64.astype(np.float16), W64.astype(np.float16), None, *CONV),
        TypeError,
    ),
    ("conv dtype mismatch", lambda: C.conv2d_forward(F64, W64.astype(np.float32), None, *CONV), TypeError),
    (
        "conv non-contiguous x",
        lambda: C.conv2d_forward(np.ones((1, 1, 4, 8))[..., ::2], W64, None, *CONV),
        ValueError,
    ),
    (
        "conv fortran w",
        lambda: C.conv2d_forward(F64, np.asfortranarray(np.ones((2, 1, 2, 2))), None, *CONV),
        ValueError,
    ),
    ("conv 3-D x", lambda: C.conv2d_forward(np.ones((1, 4, 4)), W64, None, *CONV), ValueError),
    ("conv 1-D w", lambda: C.conv2d_forward(F64, np.ones(4), None, *CONV), ValueError),
    ("conv kernel too large", lambda: C.conv2d_forward(F64, np.ones((1, 1, 5, 5)), None, *CONV), ValueError),
    (
        "conv channels",
        lambda: C.conv2d_forward(np.ones((1, 3, 4, 4)), np.ones((1, 2, 2, 2)), None, *CONV),
        ValueError,
    ),
    ("conv groups 0", lambda: C.conv2d_forward(F64, W64, None, *CONV[:-1], 0), ValueError),
    ("conv groups 3", lambda: C.conv2d_forward(F64, W64, None, *CONV[:-1], 3), ValueError),
    ("conv stride 0", lambda: C.conv2d_forward(F64, W64, None, 0, *CONV[1:]), ValueError),
    ("conv dilation -1", lambda: C.conv2d_forward(F64, W64, None, 1, 1, 0, 0, 0, 0, -1, 1, 1), ValueError),
    ("conv padding -1", lambda: C.conv2d_forward(F64, W64, None, 1, 1, -1, 0, 0, 0, 1, 1, 1), ValueError),
    (
        "conv padding 2**62",
        lambda: C.conv2d_forward(F64, W64, None, 1, 1, 2**62, 2**62, 0, 0, 1, 1, 1),
        ValueError,
    ),
    (
        "conv padding 2**30",
        lambda: C.conv2d_forward(F64, W64, None, 1, 1, 2**30, 2**30, 2**30, 2**30, 1, 1, 1),
        (ValueError, MemoryError),
    ),
    (
        "conv dilation 2**62",
        lambda: C.conv2d_forward(F64, W64, None, 1, 1, 0, 0, 0, 0, 2**62, 2**62, 1),
        ValueError,
    ),
    (
        "conv stride 2**63-1",
        lambda: C.conv2d_forward(F64, W64, None, 2**63 - 1, 1, 0, 0, 0, 0, 1, 1, 1),
        ValueError,
    ),
    ("conv bias list", lambda: C.conv2d_forward(F64, W64, [1.0, 2.0], *CONV), ValueError),
    ("conv bias dtype", lambda: C.conv2d_forward(F64, W64, np.ones(1, np.float32), *CONV), ValueError),
    ("conv bias 2-D", lambda: C.conv2d_forward(F64, W64, np.ones((1, 1)), *CONV), ValueError),
    (
        "conv bias strided",
        lambda: C.conv2d_forward(F64, np.ones((2, 1, 2, 2)), np.ones(4)[::2], *CONV),
        ValueError,
    ),
    ("conv bias string", lambda: C.conv2d_forward(F64, W64, "bias", *CONV), ValueError),
    ("conv wrong arg type", lambda: C.conv2d_forward(F64, W64, None, "1", *CONV[1:]), TypeError),
    ("conv x not array", lambda: C.conv2d_forward("x", W64, None, *CONV), TypeError),
    (
        "bw dout shape",
        lambda: C.conv2d_backward(np.ones((1, 1, 2, 3)), F64, W64, *CONV, True, True, True),
        ValueError,
    ),
    (
        "bw dout dtype",
        lambda: C.conv2d_backward(np.ones((1, 1, 3, 3), np.float32), F64, W64, *CONV, True, True, True),
        TypeError,
    ),
    (
        "bw dout strided",
        lambda: C.conv2d_backward(np.ones((1, 1, 3, 6))[..., ::2], F64, W64, *CONV, True, True, True),
        ValueError,
    ),
    ("max window too many outputs", lambda: C.max_pool2d_forward(F64, *WIN, 100, 100, True), ValueError),
    ("max out 2**40", lambda: C.max_pool2d_forward(F64, *WIN, 2**40, 1, True), ValueError),
    ("max out 0", lambda: C.max_pool2d_forward(F64, *WIN, 0, 2, True), ValueError),
    ("max out -1", lambda: C.max_pool2d_forward(F64, *WIN, -1, 2, False), ValueError),
    ("max pad >= kernel", lambda: C.max_pool2d_forward(F64, 2, 2, 2, 2, 2, 2, 0, 0, 2, 2, True), ValueError),
    ("max kernel > input", lambda: C.max_pool2d_forward(F64, 9, 9, 1, 1, 0, 0, 0, 0, 1, 1, True), ValueError),
    (
        "max kernel negative",
        lambda: C.max_pool2d_forward(F64, -2, 2, 2, 2, 0, 0, 0, 0, 2, 2, True),
        ValueError,
    ),
    ("max stride 0", lambda: C.max_pool2d_forward(F64, 2, 2, 0, 2, 0, 0, 0, 0, 2, 2, True), ValueError),
    ("max pad negative", lambda: C.max_pool2d_forward(F64, 2, 2, 2, 2, -1, 0, 0, 0, 2, 2, True), ValueError),
    ("max x 3-D", lambda: C.max_pool2d_forward(np.ones((1, 4, 4)), *WIN, 2, 2, True), ValueError),
    ("max x int", lambda: C.max_pool2d_forward(F64.astype(np.int64), *WIN, 2, 2, True), TypeError),
    (
        "max x strided",
        lambda: C.max_pool2d_forward(np.ones((1, 1, 4, 8))[..., ::2], *WIN, 2, 2, True),
        ValueError,
    ),
    ("avg window too many outputs", lambda: C.avg_pool2d_forward(F64, *WIN, 3, 2, True), ValueError),
    ("avg kernel 0", lambda: C.avg_pool2d_forward(F64, 0, 2, 2, 2, 0, 0, 0, 0, 2, 2, True), ValueError),
    ("avg bw in 0", lambda: C.avg_pool2d_backward(np.ones((1, 1, 2, 2)), 0, 4, *WIN, True), ValueError),
    (
        "avg bw dout too big",
        lambda: C.avg_pool2d_backward(np.ones((1, 1, 9, 9)), 4, 4, *WIN, True),
        ValueError,
    ),
    ("avg bw dout 2-D", lambda: C.avg_pool2d_backward(np.ones((2, 2)), 4, 4, *WIN, True), ValueError),
    (
        "max bw index == H*W",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), 4, 4),
        ValueError,
    ),
    (
        "max bw index negative",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), -1), 4, 4),
        ValueError,
    ),
    (
        "max bw index int32",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), 4, 4),
        ValueError,
    ),
    (
        "max bw index shape",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 1), np.int64), 4, 4),
        ValueError,
    ),
    (
        "max bw index strided",
        lambda: C.max_pool2d_backward(
            np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 4), np.int64)[..., ::2], 4, 4
        ),
        ValueError,
    ),
    (
        "max bw in 0",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 0, 4),
        ValueError,
    ),
    (
        "max bw in 2**40",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 2**40, 2**40),
        (ValueError, MemoryError),
    ),
    (
        "max bw in_w 2**62",
        lambda: C.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 3, 2**62),
        ValueError,
    ),
    (
        "max bw dout 3-D",
        lambda: C.max_pool2d_backward(np.ones((1, 2, 2)), np.zeros((1, 2, 2), np.int64), 4, 4),
        ValueError,
    ),
    ("global x 1-D", lambda: C.global_max_pool_forward(np.ones(4)), ValueError),
    ("global x empty", lambda: C.global_avg_pool_forward(np.ones((3, 0))), ValueError),
    ("global x int", lambda: C.global_avg_pool_forward(np.ones((3, 2), np.int32)), TypeError),
    ("global x strided", lambda: C.global_max_pool_forward(np.ones((3, 4))[:, ::2]), ValueError),
    ("global avg bw size 0", lambda: C.global_avg_pool_backward(np.ones(2), 0), ValueError),
    ("global avg bw dout 2-D", lambda: C.global_avg_pool_backward(np.ones((2, 1)), 3), ValueError),
    (
        "global max bw index oob",
        lambda: C.global_max_pool_backward(np.ones(2), np.array([0, 5]), 4),
        ValueError,
    ),
    (
        "global max bw index dtype",
        lambda: C.global_max_pool_backward(np.ones(2), np.array([0, 1], np.int32), 4),
        ValueError,
    ),
    (
        "global max bw index length",
        lambda: C.global_max_pool_backward(np.ones(2), np.array([0]), 4),
        ValueError,
    ),
    ("set_isa unknown", lambda: C.set_isa("avx9000"), ValueError),
    ("set_num_threads 0", lambda: C.set_num_threads(0), ValueError),
    ("set_num_threads -1", lambda: C.set_num_threads(-1), ValueError),
]


@pytest.mark.parametrize("call, error", [c[1:] for c in RAW], ids=[c[0] for c in RAW])
def test_raw_native_calls_raise(call, error):
    with pytest.raises(error):
        call()
    # and the module still works afterwards
    np.testing.assert_array_equal(C.conv2d_forward(F64, W64, None, *CONV), np.full((1, 1, 3, 3), 4.0))


# ------------------------------------------------------------------ no hang

HANG_SCRIPT = textwrap.dedent("""
    import numpy as np, fastcnn.functional as F
    one = np.ones((1, 1, 1, 1))
    dx, dw, db = F.conv2d_backward(one, one, one, stride={stride})
    assert dx[0, 0, 0, 0] == 1 and dw[0, 0, 0, 0] == 1 and db[0] == 1
    print("done")
""")


def _run_with_timeout(script, timeout):
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running after {timeout} s (killed)")
    assert proc.returncode == 0, err
    return out


def test_large_stride_backward_small_input_finishes():
    _run_with_timeout(HANG_SCRIPT.format(stride=1000), timeout=60)


@pytest.mark.parametrize("stride", [10**6, (1, 2**31), (2**31, 2**31)])
def test_huge_stride_backward_does_not_hang(stride):
    # a 1x1 input with a 1x1 kernel: one multiply, whatever the stride (the
    # backward-data phases once ran over all stride_h * stride_w of them)
    _run_with_timeout(HANG_SCRIPT.format(stride=stride), timeout=20)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(stride=True),
        dict(stride=(1, True)),
        dict(padding=-1),
        dict(groups=True),
        dict(dilation=0),
        dict(stride=1.0),
    ],
)
def test_checks_hold_after_a_good_call_with_the_same_shapes(kwargs):
    """Geometry is reused for repeated plain arguments; bool (== 1), float
    and bad values must still be checked, not served from that cache."""
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    F.conv2d(x, w, stride=1, padding=0, dilation=1, groups=1)
    F.conv2d_backward(np.ones((1, 3, 3, 3), np.float32), x, w)
    with pytest.raises((TypeError, ValueError)):
        F.conv2d(x, w, **kwargs)
