"""1x1 convolutions (stride 1, no padding, channels-first), which the automatic
choice runs as one GEMM per image reading the planes in place
(csrc/ops/conv2d_pointwise.cpp), against the NumPy reference.

Planes of 1..70 positions (every partial column tile of 16 and 32 lanes,
forward where the tail is small enough to take this path, backward data
always), row counts around the 4/6/8/12-row tiles, groups, batches 1..5
(small batches split each image's columns over the threads), K deeper than
one L1 block, every SIMD path, both dtypes, thread counts, strided views,
NaN propagation; conv1d with kernel 1 takes the same path.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand


def _cases():
    rng = np.random.default_rng(11)
    cases = []
    for hw in [(1, 1), (1, 5), (3, 5), (4, 4), (2, 15), (4, 8), (5, 7), (3, 17), (6, 11), (7, 10), (8, 8)]:
        cases.append(
            dict(
                n=int(rng.integers(1, 6)),
                c_in=int(rng.integers(1, 20)),
                c_out=int(rng.integers(1, 30)),
                h=hw[0],
                w=hw[1],
                groups=1,
            )
        )
    for c_out in (1, 4, 6, 7, 8, 9, 12, 13, 24, 25):  # row tails of every tile
        cases.append(dict(n=2, c_in=9, c_out=c_out, h=5, w=13, groups=1))
    cases.append(dict(n=3, c_in=12, c_out=18, h=6, w=6, groups=3))
    cases.append(dict(n=2, c_in=8, c_out=8, h=5, w=9, groups=8))  # depthwise 1x1
    cases.append(dict(n=2, c_in=600, c_out=20, h=4, w=9, groups=1))  # K split in L1 blocks
    cases.append(dict(n=1, c_in=40, c_out=50, h=14, w=14, groups=1))  # one image over both threads
    return cases


CASES = _cases()


def _id(c):
    return f"n{c['n']}_{c['c_in']}-{c['c_out']}_g{c['groups']}_{c['h']}x{c['w']}"


def _inputs(case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"] // case["groups"], 1, 1), dtype)
    b = rand(rng, (case["c_out"],), dtype)
    dout = rand(rng, (case["n"], case["c_out"], case["h"], case["w"]), dtype)
    return x, w, b, dout


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_pointwise_matches_reference(case, dtype, isa):
    x, w, b, dout = _inputs(case, dtype, CASES.index(case))
    g = case["groups"]
    assert_close(F.conv2d(x, w, b, groups=g), R.conv2d(x, w, b, groups=g), "forward")
    dx, dw, db = F.conv2d_backward(dout, x, w, groups=g)
    rdx, rdw, rdb = R.conv2d_backward(dout, x, w, groups=g)
    assert_close(dx, rdx, "dx")
    assert_close(dw, rdw, "dw")
    assert_close(db, rdb, "db")


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 2, 7])
def test_pointwise_thread_counts(threads, batch, dtype):
    rng = np.random.default_rng(batch)
    x, w, b = rand(rng, (batch, 70, 9, 11), dtype), rand(rng, (33, 70, 1, 1), dtype), rand(rng, (33,), dtype)
    dout = rand(rng, (batch, 33, 9, 11), dtype)
    fastcnn.set_num_threads(threads)  # the autouse fixture restores it
    assert_close(F.conv2d(x, w, b), R.conv2d(x, w, b), "forward")
    assert_close(
        F.conv2d_backward(dout, x, w, needs=("x",))[0], R.conv2d_backward(dout, x, w, needs=("x",))[0], "dx"
    )


def test_pointwise_strided_views_and_conv1d(dtype, isa):
    rng = np.random.default_rng(3)
    x = rand(rng, (3, 10, 8, 24), dtype)[:, ::2, :, ::3]  # non-contiguous
    w = rand(rng, (13, 5, 1, 1), dtype)
    dout = rand(rng, (3, 13, 8, 16), dtype)[..., ::2]
    assert_close(F.conv2d(x, w), R.conv2d(x, w), "strided forward")
    assert_close(
        F.conv2d_backward(dout, x, w, needs=("x",))[0],
        R.conv2d_backward(dout, x, w, needs=("x",))[0],
        "strided dx",
    )
    x1, w1 = rand(rng, (2, 7, 45), dtype), rand(rng, (9, 7, 1), dtype)
    d1 = rand(rng, (2, 9, 45), dtype)
    assert_close(F.conv1d(x1, w1), R.conv1d(x1, w1), "conv1d forward")
    assert_close(
        F.conv1d_backward(d1, x1, w1, needs=("x",))[0],
        R.conv1d_backward(d1, x1, w1, needs=("x",))[0],
        "conv1d dx",
    )


def test_pointwise_propagates_nan_only_where_it_reaches():
    x = np.ones((2, 4, 6, 6), np.float32)
    w = np.ones((5, 4, 1, 1), np.float32)
    x[1, 2, 3, 4] = np.nan
    out = F.conv2d(x, w)
    assert np.isnan(out[1, :, 3, 4]).all()
    assert np.isfinite(np.delete(out.reshape(2, 5, 36), 3 * 6 + 4, axis=2)).all()
    assert np.isfinite(out[0]).all()
    dout = np.ones((2, 5, 6, 6), np.float32)
    dout[0, 1, 0, 0] = np.inf
    dx = F.conv2d_backward(dout, np.ones_like(x), w, needs=("x",))[0]
    assert np.isinf(dx[0, :, 0, 0]).all() and np.isfinite(dx[1]).all()
    assert np.isfinite(dx[0].reshape(4, 36)[:, 1:]).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "n, c_in, c_out, hw",
    [(16, 256, 40, (7, 7)), (13, 300, 36, (5, 9)), (16, 40, 300, (7, 7)), (9, 272, 25, (14, 14))],
)
def test_pointwise_images_side_by_side(n, c_in, c_out, hw, threads, dtype, isa):
    """Planes that fill their column tiles poorly, with K of 256+ and enough
    images, are computed with several images' columns side by side
    (across_images: B packed per tile, results copied to each image): the
    forward where C_in is deep, dx where C_out is. Batches that leave the
    last task short, row counts off the tile, a NaN in one image that must
    reach only that image."""
    rng = np.random.default_rng(n * c_in + c_out)
    x, w = rand(rng, (n, c_in) + hw, dtype), rand(rng, (c_out, c_in, 1, 1), dtype)
    b, dout = rand(rng, (c_out,), dtype), rand(rng, (n, c_out) + hw, dtype)
    x[n - 1, 3, 0, 1] = np.nan
    fastcnn.set_num_threads(threads)  # the autouse fixture restores it
    out = F.conv2d(x, w, b)
    assert np.isnan(out[n - 1, :, 0, 1]).all()
    x[n - 1, 3, 0, 1] = 0
    assert_close(F.conv2d(x, w, b), R.conv2d(x, w, b), "forward")
    assert_close(
        F.conv2d_backward(dout, x, w, needs=("x",))[0], R.conv2d_backward(dout, x, w, needs=("x",))[0], "dx"
    )
