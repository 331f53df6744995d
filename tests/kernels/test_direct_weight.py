"""The direct weight gradient (conv2d_backward with algorithm='direct') against
the NumPy reference.

Kernels 1..7 and non-square ones, strides 1..3, dilations 1..3, every padding
form; output channels around the tiles' lane counts on every ISA (4, 8, 16,
32, 64: 1..70, 128, 192, 200) and taps around the row counts (4, 6, 12);
batch 1..5 (batches
smaller than twice the threads split the input channels over tasks); both
dtypes, every SIMD path; channels-last, conv1d, strided views; the automatic
choice; thread counts.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, conv_case_id, conv_case_inputs, rand, random_conv_geometry


def _cases():
    rng = np.random.default_rng(2024)
    cases = []
    for kh, kw in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (1, 5), (3, 1), (2, 7)]:
        for _ in range(3):
            geometry = random_conv_geometry(rng, kh, kw)
            cases.append(
                dict(
                    n=int(rng.integers(1, 6)),
                    c_in=int(rng.integers(1, 9)),
                    c_out=int(rng.integers(1, 71)),
                    kh=kh,
                    kw=kw,
                    **geometry,
                )
            )
    for c_out in (1, 4, 8, 15, 16, 17, 31, 32, 33, 64, 65, 128, 192, 200):  # every tile, lane tails
        cases.append(
            dict(
                n=2,
                c_in=3,
                c_out=c_out,
                h=9,
                w=10,
                kh=3,
                kw=3,
                stride=(1, 1),
                dilation=(1, 1),
                padding="same",
            )
        )
    for c_in in (1, 2, 4, 5, 13):  # row tails: 9*c_in taps
        cases.append(
            dict(n=3, c_in=c_in, c_out=20, h=8, w=8, kh=3, kw=3, stride=(2, 1), dilation=(1, 1), padding=1)
        )
    cases.append(
        dict(n=4, c_in=16, c_out=32, h=14, w=14, kh=5, kw=5, stride=(1, 1), dilation=(1, 1), padding=2)
    )  # mnist_c2
    return cases


CASES = _cases()


def _inputs(case, dtype, seed):
    x, w, _, kw, rng = conv_case_inputs(case, dtype, seed)  # these cases have no bias
    dout = rand(rng, R.conv2d(x, w, **kw).shape, dtype)
    return x, w, dout, kw


@pytest.mark.parametrize("case", CASES, ids=conv_case_id)
def test_direct_weight_gradient_matches_reference(case, dtype, isa):
    x, w, dout, kw = _inputs(case, dtype, CASES.index(case))
    dx, dw, db = F.conv2d_backward(dout, x, w, algorithm="direct", **kw)
    rdx, rdw, rdb = R.conv2d_backward(dout, x, w, **kw)
    assert_close(dw, rdw, "dw")
    assert_close(dx, rdx, "dx (GEMM)")
    assert_close(db, rdb, "db")


@pytest.mark.parametrize("case", CASES[::4], ids=conv_case_id)
def test_direct_weight_gradient_channels_last(case, dtype):
    x, w, dout, kw = _inputs(case, dtype, 1 + CASES.index(case))
    last = dict(data_format="channels_last")
    _, dw, _ = F.conv2d_backward(
        np.moveaxis(dout, 1, -1), np.moveaxis(x, 1, -1), w, needs=("w",), algorithm="direct", **kw, **last
    )
    assert_close(dw, R.conv2d_backward(dout, x, w, needs=("w",), **kw)[1], "dw channels_last")


def test_direct_weight_gradient_conv1d_and_views(dtype, isa):
    rng = np.random.default_rng(3)
    x = rand(rng, (3, 5, 80), dtype)[:, ::2, ::3]  # strided view
    w = rand(rng, (7, 3, 4), dtype)
    dout = rand(rng, R.conv1d(x, w, stride=2, padding=(2, 1), dilation=2).shape, dtype)[..., ::-1]
    got = F.conv1d_backward(
        dout, x, w, stride=2, padding=(2, 1), dilation=2, needs=("w",), algorithm="direct"
    )[1]
    want = R.conv1d_backward(dout, x, w, stride=2, padding=(2, 1), dilation=2, needs=("w",))[1]
    assert_close(got, want, "conv1d dw")


@pytest.mark.parametrize("shape", [(8, 16, 14, 32, 5), (4, 3, 12, 8, 3), (2, 32, 7, 64, 5)])
def test_auto_takes_direct_weight_gradient(shape, dtype):
    """Below Winograd's thresholds the automatic weight gradient is the direct one."""
    n, c_in, h, c_out, k = shape
    rng = np.random.default_rng(4)
    x, w = rand(rng, (n, c_in, h, h), dtype), rand(rng, (c_out, c_in, k, k), dtype)
    dout = rand(rng, (n, c_out, h, h), dtype)
    assert fastcnn.explain("conv2d_backward_weight", x, w, padding=k // 2).path == "direct_weight"
    auto = F.conv2d_backward(dout, x, w, padding=k // 2, needs=("w",))[1]
    direct = F.conv2d_backward(dout, x, w, padding=k // 2, needs=("w",), algorithm="direct")[1]
    np.testing.assert_array_equal(auto, direct)


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_direct_weight_gradient_per_thread_count(batch):
    """Same thread count, same bits; other counts agree to rounding."""
    rng = np.random.default_rng(5)
    x, w = rand(rng, (batch, 6, 17, 15), np.float32), rand(rng, (40, 6, 3, 3), np.float32)
    dout = rand(rng, (batch, 40, 17, 15), np.float32)
    results = {}
    for threads in (1, 2, 3):
        fastcnn.set_num_threads(threads)
        runs = [
            F.conv2d_backward(dout, x, w, padding=1, needs=("w",), algorithm="direct")[1] for _ in range(2)
        ]
        np.testing.assert_array_equal(runs[0], runs[1])
        results[threads] = runs[0]
    ref = R.conv2d_backward(
        dout.astype(np.float64), x.astype(np.float64), w.astype(np.float64), padding=1, needs=("w",)
    )[1]
    for dw in results.values():
        assert_close(dw.astype(np.float64), ref, tol=1e-4)


@pytest.mark.parametrize("padding", [0, 2, ((1, 0), (2, 1))])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_direct_weight_gradient_image_groups(padding, threads, dtype):
    """Small planes are walked a group of images per task (13 images: groups
    of 13, 7 + 6 and 5 + 5 + 3), padded and in place."""
    rng = np.random.default_rng(6)
    x, w = rand(rng, (13, 12, 7, 6), dtype), rand(rng, (20, 12, 5, 3), dtype)
    dout = rand(rng, R.conv2d(x, w, padding=padding).shape, dtype)
    fastcnn.set_num_threads(threads)  # the autouse fixture restores it
    got = F.conv2d_backward(dout, x, w, padding=padding, needs=("w",), algorithm="direct")[1]
    assert_close(got, R.conv2d_backward(dout, x, w, padding=padding, needs=("w",))[1], "dw")


def test_direct_weight_gradient_propagates_nan():
    """A NaN of x reaches exactly the dW entries whose taps read it (not its zero padding)."""
    x, w = np.ones((1, 2, 6, 6)), np.ones((3, 2, 3, 3))
    x[0, 1, 0, 0] = np.nan
    dout = np.ones((1, 3, 6, 6))
    dw = F.conv2d_backward(dout, x, w, padding=1, needs=("w",), algorithm="direct")[1]
    want = R.conv2d_backward(dout, x, w, padding=1, needs=("w",))[1]
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(want))
    assert np.isnan(dw[:, 1]).any() and not np.isnan(dw[:, 0]).any()


def test_direct_backward_needs_one_group():
    x, w = np.ones((1, 4, 6, 6)), np.ones((4, 2, 3, 3))
    with pytest.raises(ValueError, match="groups=1"):
        F.conv2d_backward(np.ones((1, 4, 4, 4)), x, w, groups=2, algorithm="direct")
