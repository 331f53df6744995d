"""Checks of the NumPy reference itself (every native test compares against it).

Three kinds of evidence: hand-computed tiny cases, finite-difference checks of
every backward, and -- when PyTorch is installed -- PyTorch as an oracle for
forward and backward in float64.
"""

import itertools
import math

import numpy as np
import pytest

from fastcnn import reference as ref

from _helpers import numeric_grad

RNG = np.random.default_rng(20240607)


def rand(*shape):
    return RNG.standard_normal(shape)


def distinct(*shape):
    """Values with no ties and gaps of at least 0.01 (safe for max-pool finite differences)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.01 - n * 0.005).reshape(shape)


def assert_close(actual, expected, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------ hand-computed


def test_worked_example_edge_detector_network():
    x = np.array(
        [[0, 1, 2, 1, 0], [1, 2, 3, 2, 1], [2, 3, 4, 3, 2], [1, 2, 3, 2, 1], [0, 1, 2, 1, 0]],
        dtype=np.float64,
    )[None, None]
    k1 = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64)[None, None]
    k2 = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64)[None, None]

    y = ref.conv2d(x, k1, padding="same")
    np.testing.assert_array_equal(
        y[0, 0],
        [[-3, -4, 0, 4, 3], [-6, -6, 0, 6, 6], [-7, -6, 0, 6, 7], [-6, -6, 0, 6, 6], [-3, -4, 0, 4, 3]],
    )
    y = ref.max_pool2d(np.maximum(y, 0), 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[0, 6], [0, 6]])
    y = ref.conv2d(y, k2, padding="same")
    np.testing.assert_array_equal(y[0, 0], [[-6, -6], [6, 6]])
    y = ref.max_pool2d(np.maximum(y, 0), 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[6]])


def test_conv1d_by_hand():
    x = np.array([[[1.0, 2, 3, 4]]])
    np.testing.assert_array_equal(ref.conv1d(x, np.array([[[1.0, -1]]]), b=[0.5]), [[[-0.5] * 3]])
    # causal padding: a pair is (left, right) for 1-D ops
    np.testing.assert_array_equal(ref.conv1d(x[..., :3], np.ones((1, 1, 3)), padding=(2, 0)), [[[1, 3, 6]]])
    # stride 2, dilation 2: taps x[i] and x[i+2] for i = 0, 2 (only i = 0 fits)
    np.testing.assert_array_equal(ref.conv1d(x, np.array([[[1.0, 10]]]), stride=2, dilation=2), [[[31]]])


def test_conv2d_groups_by_hand():
    x = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2))])[None]  # (1, 2, 2, 2)
    w = np.array([3.0, 5.0]).reshape(2, 1, 1, 1)
    out = ref.conv2d(x, w, groups=2)
    np.testing.assert_array_equal(out[0, :, 0, 0], [3, 10])
    dx, dw, db = ref.conv2d_backward(np.ones_like(out), x, w, groups=2)
    np.testing.assert_array_equal(dx[0, :, 0, 0], [3, 5])
    np.testing.assert_array_equal(dw.ravel(), [4, 8])
    np.testing.assert_array_equal(db, [4, 4])


def test_avg_pool_divisor_by_hand():
    x = np.array([[1.0, 2], [3, 4]])[None, None]
    include = ref.avg_pool2d(x, 2, 1, padding=1)
    exclude = ref.avg_pool2d(x, 2, 1, padding=1, count_include_pad=False)
    np.testing.assert_allclose(include[0, 0], [[0.25, 0.75, 0.5], [1, 2.5, 1.5], [0.75, 1.75, 1]])
    np.testing.assert_allclose(exclude[0, 0], [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])
    # ceil_mode: the last window overhangs the right padding; the overhang never
    # counts, the padding counts only with count_include_pad
    x = np.array([[[1.0, 2, 3, 4]]])
    np.testing.assert_allclose(ref.avg_pool1d(x, 3, 2, padding=1, ceil_mode=True), [[[1, 3, 2]]])
    np.testing.assert_allclose(
        ref.avg_pool1d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False), [[[1.5, 3, 4]]]
    )


def test_max_pool_ties_nan_and_padding_by_hand():
    out, idx = ref.max_pool2d(np.ones((1, 1, 2, 2)), 2, return_indices=True)
    assert idx.dtype == np.int64 and idx[0, 0, 0, 0] == 0
    out, idx = ref.max_pool2d(np.array([[[[0.0, 2], [2, 1]]]]), 2, return_indices=True)
    assert out[0, 0, 0, 0] == 2 and idx[0, 0, 0, 0] == 1
    out, idx = ref.max_pool2d(np.array([[[[1.0, np.nan], [np.nan, 5]]]]), 2, return_indices=True)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    # padding never wins, even against -inf: the first in-bounds element does
    out, idx = ref.max_pool1d(np.full((1, 1, 2), -np.inf), 2, 1, padding=1, return_indices=True)
    np.testing.assert_array_equal(out, [[[-np.inf] * 3]])
    np.testing.assert_array_equal(idx, [[[0, 0, 1]]])
    out = ref.max_pool1d(np.array([[[-3.0, -2]]]), 2, 1, padding=1)
    np.testing.assert_array_equal(out, [[[-3, -2, -2]]])


def test_max_pool_backward_accumulates_overlaps():
    x = np.array([[[0.0, 3, 1]]])
    dx = ref.max_pool1d_backward(np.array([[[1.0, 2]]]), x, 2, 1)
    np.testing.assert_array_equal(dx, [[[0, 3, 0]]])


def test_global_pools_by_hand():
    x = np.array([[[1.0, np.nan, np.nan, 2]], [[4.0, 7, 7, -1]]])  # (2, 1, 4)
    out, idx = ref.global_max_pool1d(x, return_indices=True)
    assert np.isnan(out[0, 0]) and out[1, 0] == 7
    np.testing.assert_array_equal(idx, [[1], [1]])
    dx = ref.global_max_pool1d_backward(np.array([[2.0], [3.0]]), x)
    np.testing.assert_array_equal(dx, [[[0, 2, 0, 0]], [[0, 3, 0, 0]]])
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(ref.global_avg_pool2d(x), [[1.5, 5.5]])
    assert ref.global_avg_pool2d(x, keepdims=True).shape == (1, 2, 1, 1)
    assert ref.global_max_pool2d(x, keepdims=True).shape == (1, 2, 1, 1)
    dx = ref.global_avg_pool2d_backward(np.array([[4.0, 8.0]]).reshape(1, 2, 1, 1), x)
    np.testing.assert_array_equal(dx, [[[[1, 1], [1, 1]], [[2, 2], [2, 2]]]])


# --------------------------------------------------------------- conventions


def test_dtypes_kept_and_converted():
    x32 = rand(1, 2, 5, 5).astype(np.float32)
    w32 = rand(3, 2, 3, 3).astype(np.float32)
    y = ref.conv2d(x32, w32, b=np.ones(3), padding=1)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in ref.conv2d_backward(y, x32, w32, padding=1))
    assert ref.max_pool2d(x32, 2).dtype == np.float32
    assert ref.avg_pool2d(x32, 2).dtype == np.float32
    assert ref.global_avg_pool2d(x32).dtype == np.float32
    assert ref.conv2d(x32.astype(np.float64), w32.astype(np.float64)).dtype == np.float64
    assert (
        ref.conv2d(np.ones((1, 1, 3, 3), dtype=np.int64), np.ones((1, 1, 2, 2), np.float32)).dtype
        == np.float32
    )
    assert ref.max_pool2d(np.ones((1, 1, 2, 2), dtype=np.int32), 2).dtype == np.float32


def test_noncontiguous_input_and_no_aliasing():
    base = rand(2, 3, 8, 10)
    x = base[:, :, ::2, 1::2]
    w = rand(4, 3, 2, 2)
    assert_close(ref.conv2d(x, w, padding=1), ref.conv2d(np.ascontiguousarray(x), w, padding=1))
    before = base.copy()
    ref.max_pool2d_backward(np.ones((2, 3, 2, 2)), x, 2)
    np.testing.assert_array_equal(base, before)


def test_1d_ops_match_2d_with_height_one():
    x, w = rand(2, 4, 9), rand(6, 2, 3)
    kw = dict(stride=2, padding=(1, 2), dilation=2, groups=2)
    y1 = ref.conv1d(x, w, **kw)
    y2 = ref.conv2d(
        x[:, :, None], w[:, :, None], stride=(1, 2), padding=((0, 0), (1, 2)), dilation=(1, 2), groups=2
    )
    assert_close(y1, y2[:, :, 0])
    d = rand(*y1.shape)
    for a, b in zip(
        ref.conv1d_backward(d, x, w, **kw),
        ref.conv2d_backward(
            d[:, :, None],
            x[:, :, None],
            w[:, :, None],
            stride=(1, 2),
            padding=((0, 0), (1, 2)),
            dilation=(1, 2),
            groups=2,
        ),
    ):
        assert_close(a, b if b.ndim == 1 else b[:, :, 0])
    p1, i1 = ref.max_pool1d(x, 3, 2, padding=1, ceil_mode=True, return_indices=True)
    p2, i2 = ref.max_pool2d(
        x[:, :, None], (1, 3), (1, 2), padding=(0, 1), ceil_mode=True, return_indices=True
    )
    assert_close(p1, p2[:, :, 0])
    np.testing.assert_array_equal(i1, i2[:, :, 0])


def test_needs_selects_gradients():
    x, w = rand(1, 2, 4, 4), rand(3, 2, 2, 2)
    d = rand(1, 3, 3, 3)
    dx, dw, db = ref.conv2d_backward(d, x, w, needs="x")
    assert dx is not None and dw is None and db is None
    dx, dw, db = ref.conv2d_backward(d, x, w, needs=("w", "b"))
    assert dx is None and dw.shape == w.shape and db.shape == (3,)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_gives_ceil_n_over_stride(stride):
    for n, k, dil in itertools.product(range(4, 12), range(1, 5), (1, 2)):
        expect = math.ceil(n / stride)
        y = ref.conv1d(np.ones((1, 1, n)), np.ones((1, 1, k)), stride=stride, dilation=dil, padding="same")
        assert y.shape[-1] == expect, (n, k, stride, dil)
        y = ref.conv2d(
            np.ones((1, 1, n, n + 1)), np.ones((1, 1, k, k)), stride=stride, dilation=dil, padding="same"
        )
        assert y.shape[-2:] == (expect, math.ceil((n + 1) / stride)), (n, k, stride, dil)
        assert ref.max_pool1d(np.ones((1, 1, n)), k, stride, padding="same").shape[-1] == expect
        assert ref.avg_pool2d(np.ones((1, 1, n, n)), k, stride, padding="same").shape[-2:] == (expect, expect)


def test_same_padding_values_stride_one():
    # 'same' with an even kernel puts the extra pad after (Keras/TensorFlow rule)
    x = np.array([[[1.0, 2, 3]]])
    np.testing.assert_array_equal(ref.conv1d(x, np.ones((1, 1, 2)), padding="same"), [[[3, 5, 3]]])
    np.testing.assert_array_equal(ref.conv1d(x, np.ones((1, 1, 4)), padding="same"), [[[6, 6, 5]]])


# ------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: ref.conv2d(np.ones((1, 3, 3)), np.ones((1, 1, 2, 2))), ValueError),
        (lambda: ref.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 2, 2, 2))), ValueError),
        (lambda: ref.conv2d(np.ones((1, 4, 4, 4)), np.ones((3, 2, 2, 2)), groups=2), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), groups=0), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=0), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=1.5), TypeError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding="full"), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding=-1), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), b=np.ones(2)), ValueError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 2, 2))), TypeError),
        (lambda: ref.conv2d(np.ones((1, 1, 4, 4), complex), np.ones((1, 1, 2, 2))), TypeError),
        (
            lambda: ref.conv2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))),
            ValueError,
        ),
        (
            lambda: ref.conv2d_backward(
                np.ones((1, 1, 3, 3)), np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), needs=("q",)
            ),
            ValueError,
        ),
        (lambda: ref.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2), ValueError),
        (lambda: ref.avg_pool1d(np.ones((1, 1, 4)), 3, padding=(0, 2)), ValueError),
        (lambda: ref.max_pool2d(np.ones((1, 1, 4, 4)), 5), ValueError),
        (lambda: ref.max_pool2d(np.ones((1, 4, 4)), 2), ValueError),
        (lambda: ref.max_pool2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 4, 4)), 2), ValueError),
        (
            lambda: ref.max_pool2d_backward(
                np.ones((1, 1, 2, 2)), np.ones((1, 1, 4, 4)), 2, indices=np.zeros((1, 1, 2, 2))
            ),
            TypeError,
        ),
        (
            lambda: ref.max_pool2d_backward(
                np.ones((1, 1, 2, 2)), np.ones((1, 1, 4, 4)), 2, indices=np.full((1, 1, 2, 2), 16)
            ),
            ValueError,
        ),
        (lambda: ref.global_avg_pool2d_backward(np.ones((1, 2)), np.ones((1, 1, 3, 3))), ValueError),
        (
            lambda: ref.global_max_pool1d_backward(
                np.ones((1, 1)), np.ones((1, 1, 3)), indices=np.zeros((2,), np.int64)
            ),
            ValueError,
        ),
        (lambda: ref.global_avg_pool1d(np.ones((2, 3))), ValueError),
    ],
)
def test_bad_arguments_raise(call, error):
    with pytest.raises(error):
        call()


# ---------------------------------------------------- finite-difference checks

CONV2D_CASES = [
    # (N, C_in, C_out, H, W, KH, KW, stride, padding, dilation, groups)
    (2, 2, 3, 5, 6, 3, 3, 1, 1, 1, 1),
    (1, 4, 6, 6, 7, 3, 2, 2, 0, 1, 2),
    (2, 3, 3, 7, 7, 2, 3, (2, 1), ((1, 0), (0, 2)), (2, 1), 3),
    (1, 2, 4, 6, 5, 3, 3, 1, "same", 2, 1),
    (1, 2, 2, 5, 7, 2, 2, 3, "same", 1, 2),
]


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_backward_finite_differences(case):
    n, ci, co, h, w_, kh, kw, stride, padding, dilation, groups = case
    x, w, b = rand(n, ci, h, w_), rand(co, ci // groups, kh, kw), rand(co)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    dout = rand(*ref.conv2d(x, w, b, **kwargs).shape)
    dx, dw, db = ref.conv2d_backward(dout, x, w, **kwargs)
    assert_close(dx, numeric_grad(lambda: ref.conv2d(x, w, b, **kwargs), x, dout), 1e-6, 1e-8)
    assert_close(dw, numeric_grad(lambda: ref.conv2d(x, w, b, **kwargs), w, dout), 1e-6, 1e-8)
    assert_close(db, numeric_grad(lambda: ref.conv2d(x, w, b, **kwargs), b, dout), 1e-6, 1e-8)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(padding=(2, 0), dilation=2, groups=2),
        dict(stride=3, padding="same", groups=2),
    ],
)
def test_conv1d_backward_finite_differences(kwargs):
    x, w, b = rand(2, 4, 9), rand(4, 4 // kwargs.get("groups", 1), 3), rand(4)
    dout = rand(*ref.conv1d(x, w, b, **kwargs).shape)
    dx, dw, db = ref.conv1d_backward(dout, x, w, **kwargs)
    assert_close(dx, numeric_grad(lambda: ref.conv1d(x, w, b, **kwargs), x, dout), 1e-6, 1e-8)
    assert_close(dw, numeric_grad(lambda: ref.conv1d(x, w, b, **kwargs), w, dout), 1e-6, 1e-8)
    assert_close(db, numeric_grad(lambda: ref.conv1d(x, w, b, **kwargs), b, dout), 1e-6, 1e-8)


POOL2D_CASES = [
    # (kernel_size, stride, padding, ceil_mode)
    (2, None, 0, False),
    (3, 2, 1, True),
    ((3, 2), (2, 1), ((1, 0), (0, 1)), False),
    (3, 2, "same", False),
    (2, 3, 0, True),
]


@pytest.mark.parametrize("case", POOL2D_CASES)
def test_max_pool2d_backward_finite_differences(case):
    k, s, p, ceil = case
    x = distinct(2, 2, 7, 6)
    f = lambda: ref.max_pool2d(x, k, s, p, ceil)
    dout = rand(*f().shape)
    dx = ref.max_pool2d_backward(dout, x, k, s, p, ceil)
    assert_close(dx, numeric_grad(f, x, dout), 1e-6, 1e-8)
    _, idx = ref.max_pool2d(x, k, s, p, ceil, return_indices=True)
    assert_close(ref.max_pool2d_backward(dout, x, k, s, p, ceil, indices=idx), dx)


@pytest.mark.parametrize("case", POOL2D_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_backward_finite_differences(case, count_include_pad):
    k, s, p, ceil = case
    x = rand(2, 2, 7, 6)
    f = lambda: ref.avg_pool2d(x, k, s, p, ceil, count_include_pad)
    dout = rand(*f().shape)
    dx = ref.avg_pool2d_backward(dout, x, k, s, p, ceil, count_include_pad)
    assert_close(dx, numeric_grad(f, x, dout), 1e-6, 1e-8)


@pytest.mark.parametrize(
    "k, s, p, ceil", [(2, None, 0, False), (3, 2, 1, True), (4, 3, (2, 1), True), (3, 2, "same", False)]
)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool1d_backward_finite_differences(k, s, p, ceil, count_include_pad):
    x = distinct(2, 3, 11)
    f = lambda: ref.max_pool1d(x, k, s, p, ceil)
    dout = rand(*f().shape)
    assert_close(ref.max_pool1d_backward(dout, x, k, s, p, ceil), numeric_grad(f, x, dout), 1e-6, 1e-8)
    f = lambda: ref.avg_pool1d(x, k, s, p, ceil, count_include_pad)
    dout = rand(*f().shape)
    assert_close(
        ref.avg_pool1d_backward(dout, x, k, s, p, ceil, count_include_pad),
        numeric_grad(f, x, dout),
        1e-6,
        1e-8,
    )


@pytest.mark.parametrize("d", [1, 2])
def test_global_pool_backward_finite_differences(d):
    x = distinct(2, 3, 4, 5) if d == 2 else distinct(2, 3, 7)
    avg, avg_b = (
        (ref.global_avg_pool2d, ref.global_avg_pool2d_backward)
        if d == 2
        else (ref.global_avg_pool1d, ref.global_avg_pool1d_backward)
    )
    mx, mx_b = (
        (ref.global_max_pool2d, ref.global_max_pool2d_backward)
        if d == 2
        else (ref.global_max_pool1d, ref.global_max_pool1d_backward)
    )
    dout = rand(2, 3)
    assert_close(avg_b(dout, x), numeric_grad(lambda: avg(x), x, dout), 1e-6, 1e-8)
    assert_close(mx_b(dout, x), numeric_grad(lambda: mx(x), x, dout), 1e-6, 1e-8)
    keep = dout.reshape((2, 3) + (1,) * d)
    assert_close(avg_b(keep, x), avg_b(dout, x))
    _, idx = mx(x, keepdims=True, return_indices=True)
    assert_close(mx_b(keep, x, indices=idx), mx_b(dout, x))


# ------------------------------------------------------------ PyTorch oracle


def _torch():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def _leaf(torch, a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _torch_pad(padding, d):
    """Explicit pairs ((t, b), (l, r)) or (l, r) as F.pad's last-dim-first list."""
    pairs = [padding] if d == 1 else list(padding)
    return [p for pair in reversed(pairs) for p in pair]


TORCH_CONV2D = [
    # (N, C_in, C_out, H, W, KH, KW, stride, padding, dilation, groups)
    (2, 3, 4, 7, 8, 3, 3, 1, 0, 1, 1),
    (2, 3, 4, 7, 8, 3, 3, 2, 1, 1, 1),
    (1, 4, 6, 9, 7, 3, 2, (2, 1), (1, 0), (1, 2), 2),
    (2, 6, 6, 8, 8, 3, 3, 1, 1, 2, 6),
    (1, 4, 8, 10, 9, 5, 4, 3, 2, 1, 4),
    (2, 2, 3, 6, 6, 1, 1, 2, 0, 1, 1),
    (1, 3, 3, 8, 9, 2, 3, 1, ((1, 0), (2, 1)), 1, 3),
    (2, 4, 4, 7, 6, 4, 3, 1, "same", 1, 2),
    (1, 2, 3, 9, 8, 3, 2, 1, "same", (2, 3), 1),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", TORCH_CONV2D)
def test_conv2d_matches_torch(case):
    torch, F = _torch()
    n, ci, co, h, w_, kh, kw, stride, padding, dilation, groups = case
    x, w, b = rand(n, ci, h, w_), rand(co, ci // groups, kh, kw), rand(co)
    ours = ref.conv2d(x, w, b, stride, padding, dilation, groups)
    tx, tw, tb = _leaf(torch, x), _leaf(torch, w), _leaf(torch, b)
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        theirs = F.conv2d(F.pad(tx, _torch_pad(padding, 2)), tw, tb, stride, 0, dilation, groups)
    else:
        theirs = F.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    assert_close(ours, theirs.detach().numpy())
    dout = rand(*ours.shape)
    theirs.backward(torch.tensor(dout))
    dx, dw, db = ref.conv2d_backward(dout, x, w, stride, padding, dilation, groups)
    assert_close(dx, tx.grad.numpy())
    assert_close(dw, tw.grad.numpy())
    assert_close(db, tb.grad.numpy())


TORCH_CONV1D = [
    # (N, C_in, C_out, L, K, stride, padding, dilation, groups)
    (2, 3, 4, 11, 3, 1, 0, 1, 1),
    (2, 4, 6, 12, 4, 2, 2, 2, 2),
    (1, 3, 3, 9, 3, 3, 1, 1, 3),
    (2, 2, 4, 10, 3, 1, (2, 0), 1, 1),
    (1, 4, 4, 13, 4, 1, "same", 3, 4),
]


@pytest.mark.parametrize("case", TORCH_CONV1D)
def test_conv1d_matches_torch(case):
    torch, F = _torch()
    n, ci, co, length, k, stride, padding, dilation, groups = case
    x, w, b = rand(n, ci, length), rand(co, ci // groups, k), rand(co)
    ours = ref.conv1d(x, w, b, stride, padding, dilation, groups)
    tx, tw, tb = _leaf(torch, x), _leaf(torch, w), _leaf(torch, b)
    if isinstance(padding, tuple):
        theirs = F.conv1d(F.pad(tx, _torch_pad(padding, 1)), tw, tb, stride, 0, dilation, groups)
    else:
        theirs = F.conv1d(tx, tw, tb, stride, padding, dilation, groups)
    assert_close(ours, theirs.detach().numpy())
    dout = rand(*ours.shape)
    theirs.backward(torch.tensor(dout))
    dx, dw, db = ref.conv1d_backward(dout, x, w, stride, padding, dilation, groups)
    assert_close(dx, tx.grad.numpy())
    assert_close(dw, tw.grad.numpy())
    assert_close(db, tb.grad.numpy())


TORCH_POOL2D = [
    # (H, W, kernel_size, stride, padding, ceil_mode); torch pads symmetrically
    (8, 8, 2, None, 0, False),
    (7, 9, 3, 2, 1, False),
    (7, 9, 3, 2, 1, True),
    (6, 7, (3, 2), (2, 1), (1, 1), True),
    (10, 10, 5, 3, 2, True),
    (5, 6, 2, 3, 0, True),
    (9, 8, 4, 2, (2, 1), True),
    (6, 6, 3, 1, 1, False),
]


@pytest.mark.parametrize("case", TORCH_POOL2D)
def test_max_pool2d_matches_torch(case):
    torch, F = _torch()
    h, w, k, s, p, ceil = case
    x = rand(2, 3, h, w)
    out, idx = ref.max_pool2d(x, k, s, p, ceil, return_indices=True)
    tx = _leaf(torch, x)
    tout, tidx = F.max_pool2d(tx, k, s, p, 1, ceil, return_indices=True)
    assert_close(out, tout.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    dout = rand(*out.shape)
    tout.backward(torch.tensor(dout))
    assert_close(ref.max_pool2d_backward(dout, x, k, s, p, ceil), tx.grad.numpy())
    assert_close(ref.max_pool2d_backward(dout, x, k, s, p, ceil, indices=idx), tx.grad.numpy())


def test_max_pool2d_ties_nan_and_inf_match_torch():
    torch, F = _torch()
    x = RNG.integers(0, 3, size=(2, 3, 9, 9)).astype(np.float64)  # many ties
    x[0, 0, 1, 1] = np.nan  # one NaN per window at most
    x[1, 2] = -np.inf  # a whole -inf plane
    for k, s, p, ceil in [(2, None, 0, False), (3, 2, 1, True), (3, 1, 1, False)]:
        out, idx = ref.max_pool2d(x, k, s, p, ceil, return_indices=True)
        tout, tidx = F.max_pool2d(torch.tensor(x), k, s, p, 1, ceil, return_indices=True)
        np.testing.assert_array_equal(out, tout.numpy())
        np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("case", TORCH_POOL2D)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch(case, count_include_pad):
    torch, F = _torch()
    h, w, k, s, p, ceil = case
    x = rand(2, 3, h, w)
    out = ref.avg_pool2d(x, k, s, p, ceil, count_include_pad)
    tx = _leaf(torch, x)
    tout = F.avg_pool2d(tx, k, s, p, ceil, count_include_pad)
    assert_close(out, tout.detach().numpy())
    dout = rand(*out.shape)
    tout.backward(torch.tensor(dout))
    assert_close(ref.avg_pool2d_backward(dout, x, k, s, p, ceil, count_include_pad), tx.grad.numpy())


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool2d_asymmetric_padding_matches_padded_torch(pool):
    # torch has no asymmetric pooling padding: pad explicitly (-inf for max,
    # 0 for avg, where count_include_pad divides by the full window anyway)
    torch, F = _torch()
    x = rand(2, 3, 7, 8)
    k, s, pads = 3, 2, ((1, 0), (0, 1))
    tx = _leaf(torch, x)
    if pool == "max":
        out = ref.max_pool2d(x, k, s, pads)
        tout = F.max_pool2d(F.pad(tx, _torch_pad(pads, 2), value=-np.inf), k, s)
    else:
        out = ref.avg_pool2d(x, k, s, pads)
        tout = F.avg_pool2d(F.pad(tx, _torch_pad(pads, 2)), k, s)
    assert_close(out, tout.detach().numpy())
    dout = rand(*out.shape)
    tout.backward(torch.tensor(dout))
    backward = ref.max_pool2d_backward if pool == "max" else ref.avg_pool2d_backward
    assert_close(backward(dout, x, k, s, pads), tx.grad.numpy())


@pytest.mark.parametrize(
    "k, s, p, ceil", [(2, None, 0, False), (3, 2, 1, True), (4, 3, 2, True), (5, 2, 2, False)]
)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool1d_matches_torch(k, s, p, ceil, count_include_pad):
    torch, F = _torch()
    x = rand(2, 3, 13)
    out, idx = ref.max_pool1d(x, k, s, p, ceil, return_indices=True)
    tx = _leaf(torch, x)
    tout, tidx = F.max_pool1d(tx, k, s, p, 1, ceil, return_indices=True)
    assert_close(out, tout.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    dout = rand(*out.shape)
    tout.backward(torch.tensor(dout))
    assert_close(ref.max_pool1d_backward(dout, x, k, s, p, ceil), tx.grad.numpy())

    out = ref.avg_pool1d(x, k, s, p, ceil, count_include_pad)
    tx = _leaf(torch, x)
    tout = F.avg_pool1d(tx, k, s, p, ceil, count_include_pad)
    assert_close(out, tout.detach().numpy())
    tout.backward(torch.tensor(dout))
    assert_close(ref.avg_pool1d_backward(dout, x, k, s, p, ceil, count_include_pad), tx.grad.numpy())


@pytest.mark.parametrize("k", [3, 5])
def test_same_pooling_stride_one_matches_torch(k):
    # for odd k and stride 1, 'same' is symmetric padding k // 2; count_include_pad=False
    # then gives the TensorFlow/Keras average
    torch, F = _torch()
    x = rand(2, 3, 7, 6)
    assert_close(
        ref.avg_pool2d(x, k, 1, "same", count_include_pad=False),
        F.avg_pool2d(torch.tensor(x), k, 1, k // 2, count_include_pad=False).numpy(),
    )
    assert_close(ref.max_pool2d(x, k, 1, "same"), F.max_pool2d(torch.tensor(x), k, 1, k // 2).numpy())


@pytest.mark.parametrize("d", [1, 2])
def test_global_pools_match_torch_adaptive(d):
    torch, F = _torch()
    x = rand(3, 4, 5, 6) if d == 2 else rand(3, 4, 9)
    avg = F.adaptive_avg_pool2d if d == 2 else F.adaptive_avg_pool1d
    mx = F.adaptive_max_pool2d if d == 2 else F.adaptive_max_pool1d
    gavg, gavg_b, gmax, gmax_b = (
        (
            ref.global_avg_pool2d,
            ref.global_avg_pool2d_backward,
            ref.global_max_pool2d,
            ref.global_max_pool2d_backward,
        )
        if d == 2
        else (
            ref.global_avg_pool1d,
            ref.global_avg_pool1d_backward,
            ref.global_max_pool1d,
            ref.global_max_pool1d_backward,
        )
    )
    dout = rand(3, 4)

    tx = _leaf(torch, x)
    tout = avg(tx, 1)
    assert_close(gavg(x, keepdims=True), tout.detach().numpy())
    tout.backward(torch.tensor(dout.reshape(tout.shape)))
    assert_close(gavg_b(dout, x), tx.grad.numpy())

    tx = _leaf(torch, x)
    tout, tidx = mx(tx, 1, return_indices=True)
    out, idx = gmax(x, keepdims=True, return_indices=True)
    assert_close(out, tout.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    tout.backward(torch.tensor(dout.reshape(tout.shape)))
    assert_close(gmax_b(dout, x), tx.grad.numpy())
