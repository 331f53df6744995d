"""Finite-difference checks of the NATIVE backward ops, in float64.

Each backward is compared with central differences of sum(dout * f(x)),
where f is the native forward itself, so these tests hold even if the
reference and the native code shared a mistake.
"""

import numpy as np
import pytest

import fastcnn.functional as F

from _helpers import distinct, numeric_grad, rand


def assert_grad(analytic, numeric, what):
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=what)


CONV2D_CASES = [
    # (N, C_in, C_out, H, W, KH, KW, stride, padding, dilation, groups)
    (2, 2, 3, 5, 6, 3, 3, 1, 1, 1, 1),
    (1, 4, 6, 6, 7, 3, 2, 2, 0, 1, 2),
    (2, 3, 3, 7, 7, 2, 3, (2, 1), ((1, 0), (0, 2)), (2, 1), 3),
    (1, 2, 4, 6, 5, 3, 3, 1, "same", 2, 1),
    (1, 2, 2, 5, 7, 2, 2, 3, "same", 1, 2),
    (1, 3, 2, 2, 3, 5, 5, 1, 2, 1, 1),  # input smaller than the kernel
    (2, 2, 2, 7, 6, 1, 1, 3, ((0, 2), (1, 0)), 1, 1),  # inputs the stride skips
]


@pytest.mark.parametrize("case", CONV2D_CASES, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_conv2d_backward_finite_differences(case, isa):
    n, ci, co, h, w_, kh, kw, stride, padding, dilation, groups = case
    rng = np.random.default_rng(sum(case[:7]))
    x, w, b = rand(rng, (n, ci, h, w_)), rand(rng, (co, ci // groups, kh, kw)), rand(rng, (co,))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    f = lambda: F.conv2d(x, w, b, **kwargs)
    dout = rand(rng, f().shape)
    dx, dw, db = F.conv2d_backward(dout, x, w, **kwargs)
    assert_grad(dx, numeric_grad(f, x, dout), "dx")
    assert_grad(dw, numeric_grad(f, w, dout), "dw")
    assert_grad(db, numeric_grad(f, b, dout), "db")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(padding=(2, 0), dilation=2, groups=2),
        dict(stride=3, padding="same", groups=2),
        dict(stride=2, padding=((3, 1),), dilation=3, groups=4),
    ],
    ids=str,
)
def test_conv1d_backward_finite_differences(kwargs, isa):
    rng = np.random.default_rng(len(kwargs))
    groups = kwargs.get("groups", 1)
    x, w, b = rand(rng, (2, 4, 9)), rand(rng, (4, 4 // groups, 3)), rand(rng, (4,))
    f = lambda: F.conv1d(x, w, b, **kwargs)
    dout = rand(rng, f().shape)
    dx, dw, db = F.conv1d_backward(dout, x, w, **kwargs)
    assert_grad(dx, numeric_grad(f, x, dout), "dx")
    assert_grad(dw, numeric_grad(f, w, dout), "dw")
    assert_grad(db, numeric_grad(f, b, dout), "db")


POOL_CASES = [
    # (kernel_size, stride, padding, ceil_mode)
    (2, None, 0, False),
    (3, 2, 1, True),
    ((3, 2), (2, 1), ((1, 0), (0, 1)), False),
    (3, 2, "same", False),
    (2, 3, 0, True),
    (4, 3, 2, True),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool2d_backward_finite_differences(case, isa):
    k, s, p, ceil = case
    x = distinct(np.random.default_rng(1), (2, 2, 7, 6))  # no ties: the max is differentiable
    f = lambda: F.max_pool2d(x, k, s, p, ceil)
    dout = rand(np.random.default_rng(2), f().shape)
    dx = F.max_pool2d_backward(dout, x, k, s, p, ceil)
    assert_grad(dx, numeric_grad(f, x, dout), "dx")
    _, idx = F.max_pool2d(x, k, s, p, ceil, return_indices=True)
    assert_grad(F.max_pool2d_backward(dout, x, k, s, p, ceil, indices=idx), dx, "dx with indices")


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_backward_finite_differences(case, count_include_pad, isa):
    k, s, p, ceil = case
    x = rand(np.random.default_rng(3), (2, 2, 7, 6))
    f = lambda: F.avg_pool2d(x, k, s, p, ceil, count_include_pad)
    dout = rand(np.random.default_rng(4), f().shape)
    assert_grad(
        F.avg_pool2d_backward(dout, x, k, s, p, ceil, count_include_pad), numeric_grad(f, x, dout), "dx"
    )


@pytest.mark.parametrize(
    "k, s, p, ceil", [(2, None, 0, False), (3, 2, 1, True), (4, 3, (2, 1), True), (3, 2, "same", False)]
)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool1d_backward_finite_differences(k, s, p, ceil, count_include_pad, isa):
    x = distinct(np.random.default_rng(5), (2, 3, 11))
    f = lambda: F.max_pool1d(x, k, s, p, ceil)
    dout = rand(np.random.default_rng(6), f().shape)
    assert_grad(F.max_pool1d_backward(dout, x, k, s, p, ceil), numeric_grad(f, x, dout), "max dx")
    f = lambda: F.avg_pool1d(x, k, s, p, ceil, count_include_pad)
    dout = rand(np.random.default_rng(7), f().shape)
    assert_grad(
        F.avg_pool1d_backward(dout, x, k, s, p, ceil, count_include_pad), numeric_grad(f, x, dout), "avg dx"
    )


@pytest.mark.parametrize("d", [1, 2])
def test_global_pool_backward_finite_differences(d, isa):
    x = distinct(np.random.default_rng(8), (2, 3, 4, 5) if d == 2 else (2, 3, 37))
    avg, avg_b, mx, mx_b = (
        (F.global_avg_pool2d, F.global_avg_pool2d_backward, F.global_max_pool2d, F.global_max_pool2d_backward)
        if d == 2
        else (
            F.global_avg_pool1d,
            F.global_avg_pool1d_backward,
            F.global_max_pool1d,
            F.global_max_pool1d_backward,
        )
    )
    dout = rand(np.random.default_rng(9), (2, 3))
    assert_grad(avg_b(dout, x), numeric_grad(lambda: avg(x), x, dout), "avg dx")
    assert_grad(mx_b(dout, x), numeric_grad(lambda: mx(x), x, dout), "max dx")
    keep = dout.reshape((2, 3) + (1,) * d)
    assert_grad(avg_b(keep, x), numeric_grad(lambda: avg(x, keepdims=True), x, keep), "avg dx keepdims")
    _, idx = mx(x, keepdims=True, return_indices=True)
    assert_grad(
        mx_b(keep, x, indices=idx), numeric_grad(lambda: mx(x, keepdims=True), x, keep), "max dx keepdims"
    )
