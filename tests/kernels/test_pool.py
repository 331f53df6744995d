"""Native max / avg pooling (2-D and 1-D), forward and backward, against the reference.

Every kernel 1..4, stride None / 1..3, padding 0..k//2 plus 'same', 'valid'
and asymmetric pairs, ceil_mode, count_include_pad, on tiny and wide inputs
(wide ones take the vectorised interior-column path), both dtypes, every
SIMD path. Inputs have no ties, so max-pool indices must equal the
reference's exactly; ties, NaN and -inf have their own tests.
"""

import itertools

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, distinct, rand

LENGTHS = (1, 2, 3, 5, 8, 13, 37)
STRIDES_1D = (None, 1, 2, 3)
STRIDES_2D = (None, 1, 2, 3, (1, 2), (3, 1))


def paddings_1d(k):
    return list(range(k // 2 + 1)) + ["same", "valid"] + ([(0, k // 2), (k // 2, 0)] if k > 1 else [])


def paddings_2d(kh, kw):
    out = list(range(min(kh, kw) // 2 + 1)) + ["same", "valid", (kh // 2, kw // 2)]
    out.append(((0, kh // 2), (kw // 2, 0)))
    return out


def _both_raise_or_neither(fn_native, fn_ref):
    """Runs the reference; if it rejects the geometry, the native op must too."""
    try:
        expect = fn_ref()
    except ValueError:
        with pytest.raises(ValueError):
            fn_native()
        return None
    return expect


def _check_max(x, dim, k, s, p, ceil, where):
    pool, pool_bw = (
        (F.max_pool2d, F.max_pool2d_backward) if dim == 2 else (F.max_pool1d, F.max_pool1d_backward)
    )
    rpool, rpool_bw = (
        (R.max_pool2d, R.max_pool2d_backward) if dim == 2 else (R.max_pool1d, R.max_pool1d_backward)
    )
    expect = _both_raise_or_neither(
        lambda: pool(x, k, s, p, ceil, return_indices=True),
        lambda: rpool(x, k, s, p, ceil, return_indices=True),
    )
    if expect is None:
        return False
    out, idx = pool(x, k, s, p, ceil, return_indices=True)
    np.testing.assert_array_equal(out, expect[0], err_msg=f"{where}: max values")
    assert out.dtype == x.dtype and idx.dtype == np.int64, where
    np.testing.assert_array_equal(idx, expect[1], err_msg=f"{where}: indices")
    np.testing.assert_array_equal(pool(x, k, s, p, ceil), out, err_msg=f"{where}: without indices")
    dout = np.random.default_rng(out.size).standard_normal(out.shape).astype(x.dtype)
    rdx = rpool_bw(dout, x, k, s, p, ceil)
    assert_close(pool_bw(dout, x, k, s, p, ceil), rdx, f"{where}: dx")
    assert_close(pool_bw(dout, x, k, s, p, ceil, indices=idx), rdx, f"{where}: dx with indices")
    return True


def _check_avg(x, dim, k, s, p, ceil, cip, where):
    pool, pool_bw = (
        (F.avg_pool2d, F.avg_pool2d_backward) if dim == 2 else (F.avg_pool1d, F.avg_pool1d_backward)
    )
    rpool, rpool_bw = (
        (R.avg_pool2d, R.avg_pool2d_backward) if dim == 2 else (R.avg_pool1d, R.avg_pool1d_backward)
    )
    expect = _both_raise_or_neither(lambda: pool(x, k, s, p, ceil, cip), lambda: rpool(x, k, s, p, ceil, cip))
    if expect is None:
        return False
    assert_close(pool(x, k, s, p, ceil, cip), expect, f"{where}: avg")
    dout = np.random.default_rng(expect.size).standard_normal(expect.shape).astype(x.dtype)
    assert_close(
        pool_bw(dout, x, k, s, p, ceil, cip), rpool_bw(dout, x, k, s, p, ceil, cip), f"{where}: avg dx"
    )
    return True


# ---------------------------------------------------------------- 1-D grid


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool1d_grid_matches_reference(op, k, dtype, isa):
    rng = np.random.default_rng(k)
    checked = 0
    for s, p, ceil, length in itertools.product(STRIDES_1D, paddings_1d(k), (False, True), LENGTHS):
        x = distinct(rng, (2, 3, length), dtype)
        where = f"k={k} s={s} p={p!r} ceil={ceil} L={length}"
        if op == "max":
            checked += _check_max(x, 1, k, s, p, ceil, where)
        else:
            for cip in (True, False):
                checked += _check_avg(x, 1, k, s, p, ceil, cip, where + f" cip={cip}")
    assert checked > 50


# ---------------------------------------------------------------- 2-D grid

SIZES_H = (1, 2, 3, 5, 8, 13)
SIZES_W = (1, 2, 3, 7, 37)


@pytest.mark.parametrize("kh", [1, 2, 3, 4])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool2d_grid_matches_reference(op, kh, dtype, isa):
    rng = np.random.default_rng(10 + kh)
    checked = 0
    for kw, s, ceil in itertools.product((1, 2, 3, 4), STRIDES_2D, (False, True)):
        for p in paddings_2d(kh, kw):
            h, w = SIZES_H[rng.integers(len(SIZES_H))], SIZES_W[rng.integers(len(SIZES_W))]
            x = distinct(rng, (2, 2, h, w), dtype)
            k = (kh, kw) if kh != kw or rng.integers(2) else kh
            where = f"k={k} s={s} p={p!r} ceil={ceil} HxW={h}x{w}"
            if op == "max":
                checked += _check_max(x, 2, k, s, p, ceil, where)
            else:
                cip = bool(rng.integers(2))
                checked += _check_avg(x, 2, k, s, p, ceil, cip, where + f" cip={cip}")
    assert checked > 100


@pytest.mark.parametrize("shape", [(1, 1, 9, 64), (3, 5, 17, 33), (1, 16, 2, 100)])
def test_pool2d_wide_planes(shape, dtype, isa):
    # long rows: most columns take the vectorised interior path, bands split rows over threads
    rng = np.random.default_rng(sum(shape))
    x = distinct(rng, shape, dtype)
    for k, s, p, ceil in [
        (3, 1, 1, False),
        (3, 2, 1, True),
        (2, None, 0, False),
        ((2, 4), (1, 3), (1, 2), True),
        (4, 2, "same", False),
    ]:
        where = f"{shape} k={k} s={s} p={p} ceil={ceil}"
        assert _check_max(x, 2, k, s, p, ceil, where)
        assert _check_avg(x, 2, k, s, p, ceil, True, where)
        assert _check_avg(x, 2, k, s, p, ceil, False, where)


def test_default_stride_is_kernel(isa):
    rng = np.random.default_rng(1)
    x = rand(rng, (2, 3, 9, 8))
    np.testing.assert_array_equal(F.max_pool2d(x, 3), F.max_pool2d(x, 3, 3))
    np.testing.assert_array_equal(F.avg_pool2d(x, (2, 3)), F.avg_pool2d(x, (2, 3), (2, 3)))
    np.testing.assert_array_equal(F.max_pool1d(x[:, :, 0], 2), F.max_pool1d(x[:, :, 0], 2, 2))


# ------------------------------------------------------ ties, NaN, -inf


@pytest.mark.parametrize(
    "config", [(2, None, 0, False), (3, 2, 1, True), (3, 1, 1, False), (2, 1, 0, True), (4, 3, 2, True)]
)
def test_max_pool_ties_match_reference(config, dtype, isa):
    k, s, p, ceil = config
    rng = np.random.default_rng(21)
    x = rng.integers(0, 3, size=(2, 3, 9, 40)).astype(dtype)  # many ties
    out, idx = F.max_pool2d(x, k, s, p, ceil, return_indices=True)
    rout, ridx = R.max_pool2d(x, k, s, p, ceil, return_indices=True)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(idx, ridx)
    out, idx = F.max_pool1d(x[:, :, 0], k, s, p, ceil, return_indices=True)
    rout, ridx = R.max_pool1d(x[:, :, 0], k, s, p, ceil, return_indices=True)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(idx, ridx)
    dout = rand(rng, rout.shape, dtype)
    assert_close(
        F.max_pool1d_backward(dout, x[:, :, 0], k, s, p, ceil),
        R.max_pool1d_backward(dout, x[:, :, 0], k, s, p, ceil),
        "tie dx",
    )


def test_first_maximum_wins(dtype, isa):
    out, idx = F.max_pool2d(np.ones((1, 1, 4, 4), dtype), 2, return_indices=True)
    np.testing.assert_array_equal(idx[0, 0], [[0, 2], [8, 10]])
    out, idx = F.max_pool2d(np.array([[[[0, 2], [2, 1]]]], dtype), 2, return_indices=True)
    assert out[0, 0, 0, 0] == 2 and idx[0, 0, 0, 0] == 1
    # a constant wide row: interior (vectorised) windows must also keep the first
    x = np.full((1, 1, 3, 50), 7, dtype)
    out, idx = F.max_pool2d(x, 3, 1, 1, return_indices=True)
    _, ridx = R.max_pool2d(x, 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx, ridx)
    dx = F.max_pool1d_backward(np.ones((1, 1, 3), dtype), np.ones((1, 1, 6), dtype), 2)
    np.testing.assert_array_equal(dx, [[[1, 0, 1, 0, 1, 0]]])


def test_nan_is_the_maximum(dtype, isa):
    x = np.array([[[[1.0, np.nan], [np.nan, 5]]]], dtype)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    rng = np.random.default_rng(4)
    x = rand(rng, (2, 3, 7, 45), dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    for k, s, p, ceil in [(2, None, 0, False), (3, 1, 1, False), (3, 2, 1, True)]:
        out, idx = F.max_pool2d(x, k, s, p, ceil, return_indices=True)
        rout, ridx = R.max_pool2d(x, k, s, p, ceil, return_indices=True)
        np.testing.assert_array_equal(out, rout)  # NaNs compare equal here
        np.testing.assert_array_equal(idx, ridx)
        dout = rand(rng, out.shape, dtype)
        assert_close(
            F.max_pool2d_backward(dout, x, k, s, p, ceil),
            R.max_pool2d_backward(dout, x, k, s, p, ceil),
            "NaN dx",
        )


def test_minus_inf_and_padding_never_wins(dtype, isa):
    out, idx = F.max_pool1d(np.full((1, 1, 2), -np.inf, dtype), 2, 1, padding=1, return_indices=True)
    np.testing.assert_array_equal(out, [[[-np.inf] * 3]])
    np.testing.assert_array_equal(idx, [[[0, 0, 1]]])
    np.testing.assert_array_equal(
        F.max_pool1d(np.array([[[-3.0, -2]]], dtype), 2, 1, padding=1), [[[-3, -2, -2]]]
    )
    x = np.full((2, 2, 5, 40), -np.inf, dtype)
    x[0, 1, 2, 17] = -1
    x[1, 0, 0, 0] = np.inf
    for k, s, p, ceil in [(3, 1, 1, False), (2, 2, 1, True), (4, 3, 2, True)]:
        out, idx = F.max_pool2d(x, k, s, p, ceil, return_indices=True)
        rout, ridx = R.max_pool2d(x, k, s, p, ceil, return_indices=True)
        np.testing.assert_array_equal(out, rout)
        np.testing.assert_array_equal(idx, ridx)
        assert (idx >= 0).all() and (idx < 5 * 40).all()
    neg = -1 - np.abs(rand(np.random.default_rng(2), (1, 2, 6, 30), dtype))
    assert (F.max_pool2d(neg, 3, 2, 1) < 0).all()


@pytest.mark.parametrize("where", ["edge", "interior", "global"])
def test_subnormal_maximum_is_found(where, dtype, isa):
    # pooling must not run with denormals-are-zero: a subnormal is larger than 0
    tiny = np.finfo(dtype).smallest_subnormal
    if where == "global":
        x = np.array([[[0, tiny, 0, 0]]], dtype)
        out, idx = F.global_max_pool1d(x, return_indices=True)
        assert out[0, 0] == tiny and idx[0, 0] == 1
        np.testing.assert_array_equal(
            F.global_max_pool1d_backward(np.ones((1, 1), dtype), x), [[[0, 1, 0, 0]]]
        )
        return
    x = np.zeros((1, 1, 1, 4 if where == "edge" else 40), dtype)
    x[0, 0, 0, 1 if where == "edge" else 21] = tiny
    out, idx = F.max_pool2d(x, (1, 2), return_indices=True)
    _, ridx = R.max_pool2d(x, (1, 2), return_indices=True)
    np.testing.assert_array_equal(idx, ridx)
    assert out.max() == tiny
    dout = np.ones(out.shape, dtype)
    np.testing.assert_array_equal(
        F.max_pool2d_backward(dout, x, (1, 2)), R.max_pool2d_backward(dout, x, (1, 2))
    )


# ----------------------------------------------- backward with given indices


def test_backward_with_indices_equals_without(dtype, isa):
    rng = np.random.default_rng(8)
    x = distinct(rng, (2, 3, 11, 10), dtype)
    for k, s, p, ceil in [(3, 2, 1, True), (2, 1, 0, False), ((3, 2), (1, 2), (1, 0), True)]:
        out, idx = F.max_pool2d(x, k, s, p, ceil, return_indices=True)
        dout = rand(rng, out.shape, dtype)
        base = F.max_pool2d_backward(dout, x, k, s, p, ceil)
        np.testing.assert_array_equal(F.max_pool2d_backward(dout, x, k, s, p, ceil, indices=idx), base)
        # indices of another dtype / layout are accepted
        np.testing.assert_array_equal(
            F.max_pool2d_backward(dout, x, k, s, p, ceil, indices=np.asfortranarray(idx.astype(np.int32))),
            base,
        )
    # overlapping windows accumulate onto one input
    dx = F.max_pool1d_backward(np.array([[[1.0, 2]]], dtype), np.array([[[0.0, 3, 1]]], dtype), 2, 1)
    np.testing.assert_array_equal(dx, [[[0, 3, 0]]])
    # given indices are used as they are (here: all gradients to position 0)
    dx = F.max_pool2d_backward(
        np.ones((1, 1, 2, 2), dtype),
        np.ones((1, 1, 4, 4), dtype),
        2,
        indices=np.zeros((1, 1, 2, 2), np.int64),
    )
    assert dx[0, 0, 0, 0] == 4 and dx.sum() == 4


# ----------------------------------------------------------- avg by hand


def test_avg_pool_divisor_by_hand(dtype, isa):
    x = np.array([[1.0, 2], [3, 4]], dtype)[None, None]
    np.testing.assert_allclose(
        F.avg_pool2d(x, 2, 1, padding=1)[0, 0], [[0.25, 0.75, 0.5], [1, 2.5, 1.5], [0.75, 1.75, 1]], rtol=1e-6
    )
    np.testing.assert_allclose(
        F.avg_pool2d(x, 2, 1, padding=1, count_include_pad=False)[0, 0],
        [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]],
        rtol=1e-6,
    )
    x = np.array([[[1.0, 2, 3, 4]]], dtype)
    np.testing.assert_allclose(F.avg_pool1d(x, 3, 2, padding=1, ceil_mode=True), [[[1, 3, 2]]], rtol=1e-6)
    np.testing.assert_allclose(
        F.avg_pool1d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False), [[[1.5, 3, 4]]], rtol=1e-6
    )


# --------------------------------------------------- dtypes and layouts


def test_pool_dtypes_and_layouts(isa):
    rng = np.random.default_rng(6)
    x = distinct(rng, (2, 3, 8, 9), np.float32)
    for conv in (np.int32, np.int64, np.uint8, np.float16, np.bool_):
        xi = (np.abs(x) * 100).astype(conv)
        for pool in (F.max_pool2d, F.avg_pool2d):
            out = pool(xi, 2)
            assert out.dtype == np.float32
            np.testing.assert_array_equal(out, pool(xi.astype(np.float32), 2))
    for pool in (F.max_pool2d, F.avg_pool2d):
        base = pool(x, 3, 2, 1)
        wide = np.repeat(x, 2, axis=-1)[..., ::2]
        for variant in (
            wide,
            np.asfortranarray(x),
            np.ascontiguousarray(x[..., ::-1])[..., ::-1],
            np.ascontiguousarray(x[::-1, :, ::-1])[::-1, :, ::-1],
        ):
            np.testing.assert_array_equal(pool(variant, 3, 2, 1), base)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    dout = rand(rng, out.shape, np.float32)
    base = F.max_pool2d_backward(dout, x, 2)
    np.testing.assert_array_equal(
        F.max_pool2d_backward(np.asfortranarray(dout), x[..., ::-1][..., ::-1], 2), base
    )
    np.testing.assert_array_equal(
        F.avg_pool2d_backward(np.asfortranarray(dout), np.asfortranarray(x), 2),
        F.avg_pool2d_backward(dout, x, 2),
    )
    assert F.avg_pool1d(x[:, :, 0].astype(np.float64), 2).dtype == np.float64


@pytest.mark.parametrize(
    "kind, k, s, p, dtype",
    [
        ("max", 3, 2, 1, np.float32),
        ("avg", 3, 2, 1, np.float64),
        ("avg", 3, 2, 1, np.float32),
        ("avg", 2, 2, 0, np.float32),
        ("avg", 3, 1, 1, np.float32),
    ],
)
def test_gradients_past_the_streaming_size(kind, k, s, p, dtype, isa):
    """Gradients larger than cpu_info()['streaming_store_bytes'] are written
    with non-temporal stores: max pool's plane by plane from scratch, avg
    pool's row by row from an L1 buffer (3x3 s2, 2x2 s2 and the general
    rows each have their own loop); rows and planes of odd sizes start at
    every alignment. Each block of planes must equal the same planes pooled
    alone (small, written in place)."""
    limit = fastcnn.cpu_info()["streaming_store_bytes"]
    h, w = 53, 47
    itemsize = np.dtype(dtype).itemsize
    planes = limit // (h * w * itemsize) + 37
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, planes, h, w)).astype(dtype)
    assert x.nbytes > limit
    out = F.conv_output_size(h, k, s, p)
    dout = rng.standard_normal((1, planes, out, F.conv_output_size(w, k, s, p))).astype(dtype)
    if kind == "max":
        big = F.max_pool2d_backward(dout, x, k, s, p)
    else:
        big = F.avg_pool2d_backward(dout, x, k, s, p)
    for start in list(range(0, planes, planes // 5)) + [planes - 3]:
        part = slice(start, start + 3)
        if kind == "max":
            small = F.max_pool2d_backward(dout[:, part].copy(), x[:, part].copy(), k, s, p)
        else:
            small = F.avg_pool2d_backward(dout[:, part].copy(), x[:, part].copy(), k, s, p)
        np.testing.assert_array_equal(big[:, part], small)
    want = (
        R.avg_pool2d_backward(dout[:, :4], x[:, :4], k, s, p)
        if kind == "avg"
        else R.max_pool2d_backward(dout[:, :4], x[:, :4], k, s, p)
    )
    assert_close(big[:, :4], want, dtype)


@pytest.mark.parametrize(
    "h, w, pad, stride",
    [
        (9, 9, 1, 2),
        (10, 13, 0, 2),
        (15, 8, 1, 2),
        (56, 56, 1, 2),
        (7, 30, 0, 2),
        (11, 12, 1, (1, 2)),
        (13, 9, 0, (3, 2)),
    ],
)
def test_max_pool_3x3_s2_values_match_the_indexed_path(h, w, pad, stride, dtype, isa):
    """Without indices, 3x3 stride-2 max pooling goes separably (row maxima,
    then three rows); rows holding a NaN fall back. Against the indexed path
    (nine taps, NaN and first-maximum rules) and the reference: NaNs in some
    rows, +0/-0 ties (the first in row-major order wins) and infinities."""
    rng = np.random.default_rng(h * 100 + w)
    x = rng.integers(-3, 4, (2, 3, h, w)).astype(dtype)  # many ties
    x[rng.random(x.shape) < 0.1] = -0.0
    x[0, 0, h // 2, w // 3] = np.nan
    x[1, 2, h - 1, w - 1] = np.nan
    x[0, 1, 1, :] = np.inf
    x[1, 0, 2, 3] = -np.inf
    values = F.max_pool2d(x, 3, stride, pad)
    indexed = F.max_pool2d(x, 3, stride, pad, return_indices=True)[0]
    np.testing.assert_array_equal(values, indexed)
    np.testing.assert_array_equal(np.signbit(values), np.signbit(indexed))
    np.testing.assert_array_equal(values, R.max_pool2d(x, 3, stride, pad))
    # the average's separable sums, against the reference
    assert_close(F.avg_pool2d(x, 3, stride, pad), R.avg_pool2d(x, 3, stride, pad), dtype)
