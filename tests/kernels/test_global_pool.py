"""Native global average / max pooling (2-D and 1-D) against the reference.

Plane sizes from 1 to beyond the 32-lane partial sums of the native
reduction; keepdims, return_indices, backward with (N, C) and keepdims
gradients, with and without the forward's indices; ties, NaN, -inf.
"""

import numpy as np
import pytest

import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, distinct, rand

OPS = {
    1: (
        F.global_avg_pool1d,
        F.global_avg_pool1d_backward,
        F.global_max_pool1d,
        F.global_max_pool1d_backward,
        R.global_avg_pool1d,
        R.global_avg_pool1d_backward,
        R.global_max_pool1d,
        R.global_max_pool1d_backward,
    ),
    2: (
        F.global_avg_pool2d,
        F.global_avg_pool2d_backward,
        F.global_max_pool2d,
        F.global_max_pool2d_backward,
        R.global_avg_pool2d,
        R.global_avg_pool2d_backward,
        R.global_max_pool2d,
        R.global_max_pool2d_backward,
    ),
}

SHAPES = {
    1: [(1, 1, 1), (2, 3, 5), (3, 2, 31), (1, 4, 32), (2, 2, 33), (1, 3, 100), (2, 5, 1000)],
    2: [(1, 1, 1, 1), (2, 3, 2, 3), (3, 2, 4, 8), (1, 4, 5, 7), (2, 3, 11, 3), (1, 2, 33, 31), (4, 17, 7, 7)],
}


@pytest.mark.parametrize("d", [1, 2])
def test_global_pools_match_reference(d, dtype, isa):
    avg, avg_b, mx, mx_b, ravg, ravg_b, rmx, rmx_b = OPS[d]
    rng = np.random.default_rng(d)
    for shape in SHAPES[d]:
        x = distinct(rng, shape, dtype)
        n, c = shape[:2]
        keep = (n, c) + (1,) * d
        where = f"shape {shape}"
        assert_close(avg(x), ravg(x), f"{where}: avg")
        assert avg(x).shape == (n, c) and avg(x, keepdims=True).shape == keep
        assert_close(avg(x, keepdims=True), ravg(x, keepdims=True), f"{where}: avg keepdims")
        out, idx = mx(x, return_indices=True)
        rout, ridx = rmx(x, return_indices=True)
        np.testing.assert_array_equal(out, rout, err_msg=where)
        np.testing.assert_array_equal(idx, ridx, err_msg=where)
        assert idx.dtype == np.int64 and out.dtype == dtype
        kout, kidx = mx(x, keepdims=True, return_indices=True)
        assert kout.shape == keep and kidx.shape == keep
        np.testing.assert_array_equal(mx(x), rout)

        dout = rand(rng, (n, c), dtype)
        rdx_avg = ravg_b(dout, x)
        assert_close(avg_b(dout, x), rdx_avg, f"{where}: avg dx")
        assert_close(avg_b(dout.reshape(keep), x), rdx_avg, f"{where}: avg dx keepdims dout")
        rdx_max = rmx_b(dout, x)
        assert_close(mx_b(dout, x), rdx_max, f"{where}: max dx")
        assert_close(mx_b(dout.reshape(keep), x), rdx_max, f"{where}: max dx keepdims dout")
        assert_close(mx_b(dout, x, indices=idx), rdx_max, f"{where}: max dx with indices")
        assert_close(mx_b(dout.reshape(keep), x, indices=kidx), rdx_max, f"{where}: max dx keepdims indices")


@pytest.mark.parametrize("d", [1, 2])
def test_global_max_ties_nan_inf(d, dtype, isa):
    _, _, mx, mx_b, _, _, rmx, _ = OPS[d]
    shape = (2, 3, 40) if d == 1 else (2, 3, 5, 8)
    x = np.ones(shape, dtype)
    x.reshape(6, -1)[1, [3, 7]] = 2  # tie: first maximum wins
    x.reshape(6, -1)[2, [5, 9]] = np.nan  # NaN is the maximum, the first one
    x.reshape(6, -1)[3] = -np.inf  # all -inf: index 0
    x.reshape(6, -1)[4, 33] = np.inf
    x.reshape(6, -1)[5, [0, 39]] = np.nan
    out, idx = mx(x, return_indices=True)
    rout, ridx = rmx(x, return_indices=True)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(idx.reshape(-1), [0, 3, 5, 0, 33, 0])
    assert np.isnan(out.reshape(-1)[2]) and np.isnan(out.reshape(-1)[5])
    assert out.reshape(-1)[3] == -np.inf and out.reshape(-1)[4] == np.inf
    dx = mx_b(np.arange(1.0, 7.0).reshape(2, 3).astype(dtype), x).reshape(6, -1)
    assert dx[1, 3] == 2 and dx[1].sum() == 2
    assert dx[2, 5] == 3 and dx[2].sum() == 3


def test_global_pools_by_hand(dtype, isa):
    x = np.arange(8, dtype=dtype).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(F.global_avg_pool2d(x), [[1.5, 5.5]])
    np.testing.assert_array_equal(F.global_max_pool2d(x), [[3, 7]])
    dx = F.global_avg_pool2d_backward(np.array([[4.0, 8.0]], dtype).reshape(1, 2, 1, 1), x)
    np.testing.assert_array_equal(dx, [[[[1, 1], [1, 1]], [[2, 2], [2, 2]]]])
    assert dx.dtype == dtype
    x = np.array([[[1.0, 7, 7, -1]]], dtype)
    dx = F.global_max_pool1d_backward(np.array([[3.0]], dtype), x)
    np.testing.assert_array_equal(dx, [[[0, 3, 0, 0]]])


def test_global_pools_accuracy_on_long_rows(isa):
    # float32 sums of 10^5 values: partial sums keep the error near float32 rounding
    rng = np.random.default_rng(3)
    x = (rng.random((2, 2, 100_000)) + 1).astype(np.float32)
    expect = x.astype(np.float64).mean(axis=2)
    got = F.global_avg_pool1d(x)
    assert np.max(np.abs(got - expect) / expect) < 1e-5


def test_global_pool_layouts_and_int_inputs(isa):
    rng = np.random.default_rng(12)
    x = distinct(rng, (3, 4, 5, 6))
    for variant in (
        np.asfortranarray(x),
        np.repeat(x, 2, axis=-1)[..., ::2],
        np.ascontiguousarray(x[:, ::-1])[:, ::-1],
    ):
        np.testing.assert_array_equal(F.global_avg_pool2d(variant), F.global_avg_pool2d(x))
        np.testing.assert_array_equal(F.global_max_pool2d(variant), F.global_max_pool2d(x))
        dout = rand(rng, (3, 4))
        np.testing.assert_array_equal(
            F.global_max_pool2d_backward(np.asfortranarray(dout), variant),
            F.global_max_pool2d_backward(dout, x),
        )
    xi = np.arange(24).reshape(2, 3, 4)
    assert F.global_avg_pool1d(xi).dtype == np.float32
    np.testing.assert_array_equal(F.global_max_pool1d(xi), [[3, 7, 11], [15, 19, 23]])
