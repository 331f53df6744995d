"""The direct forward by tiles of output positions x output channels
(conv2d with algorithm='direct' beyond the column kernel's few input
channels and stride 1) against the NumPy reference.

Kernels 1..7 and non-square ones, strides 1..3, dilations 1..3, every padding
form; output channels around the tiles' lane counts on every ISA (4, 8, 16,
32, 64: 1..70, 128, 192, 200) and positions around the row counts (4, 6,
12); batch 1..5 (batches smaller than twice the threads split each image's positions over
tasks); both dtypes, every SIMD path; channels-last, conv1d, strided views,
bias; the automatic choice (small output planes, 1x1 with 256+ input
channels); thread counts.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, conv_case_id, conv_case_inputs, rand, random_conv_geometry


def _cases():
    rng = np.random.default_rng(4242)
    cases = []
    for kh, kw in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (1, 5), (3, 1), (2, 7)]:
        for _ in range(3):
            geometry = random_conv_geometry(rng, kh, kw)
            cases.append(
                dict(
                    n=int(rng.integers(1, 6)),
                    c_in=int(rng.integers(5, 12)),
                    c_out=int(rng.integers(1, 71)),
                    kh=kh,
                    kw=kw,
                    **geometry,
                    bias=bool(rng.integers(2)),
                )
            )
    for c_out in (1, 4, 8, 15, 16, 17, 31, 32, 33, 64, 65, 128, 192, 200):  # every tile, lane tails
        cases.append(
            dict(
                n=2,
                c_in=6,
                c_out=c_out,
                h=5,
                w=7,
                kh=3,
                kw=3,
                stride=(1, 1),
                dilation=(1, 1),
                padding="same",
                bias=True,
            )
        )
    for w in (1, 3, 4, 5, 6, 7, 11, 12, 13, 25):  # position tails: h * w positions
        cases.append(
            dict(
                n=1,
                c_in=5,
                c_out=9,
                h=1,
                w=w,
                kh=1,
                kw=1,
                stride=(1, 1),
                dilation=(1, 1),
                padding=0,
                bias=False,
            )
        )
    cases.append(
        dict(
            n=3,
            c_in=256,
            c_out=40,
            h=5,
            w=6,
            kh=1,
            kw=1,
            stride=(1, 1),
            dilation=(1, 1),
            padding=0,
            bias=True,
        )
    )  # the automatic choice
    cases.append(
        dict(
            n=2,
            c_in=16,
            c_out=32,
            h=14,
            w=14,
            kh=3,
            kw=3,
            stride=(2, 2),
            dilation=(1, 1),
            padding=1,
            bias=True,
        )
    )  # ResNet downsampling
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=conv_case_id)
def test_direct_tiles_match_reference(case, dtype, isa):
    x, w, b, kw, _ = conv_case_inputs(case, dtype, CASES.index(case))
    assert_close(F.conv2d(x, w, b, algorithm="direct", **kw), R.conv2d(x, w, b, **kw), "forward")


@pytest.mark.parametrize("case", CASES[::3], ids=conv_case_id)
def test_direct_tiles_channels_last(case, dtype):
    x, w, b, kw, _ = conv_case_inputs(case, dtype, 1 + CASES.index(case))
    got = F.conv2d(np.moveaxis(x, 1, -1), w, b, algorithm="direct", data_format="channels_last", **kw)
    assert_close(np.moveaxis(got, -1, 1), R.conv2d(x, w, b, **kw), "channels_last")


def test_direct_tiles_conv1d_and_views(dtype, isa):
    rng = np.random.default_rng(3)
    x = rand(rng, (3, 14, 80), dtype)[:, ::2, ::3]  # strided view
    w = rand(rng, (7, 7, 4), dtype)
    got = F.conv1d(x, w, stride=2, padding=(2, 1), dilation=2, algorithm="direct")
    assert_close(got, R.conv1d(x, w, stride=2, padding=(2, 1), dilation=2))


def test_auto_takes_tiles_for_small_planes_and_wide_1x1(dtype):
    rng = np.random.default_rng(4)
    # 25 positions fill 78% of a 32-column tile: not the pointwise GEMM (a
    # 6x5 plane, 94% full, takes that one, whose K chunks sum in another order)
    x, w = rand(rng, (2, 256, 5, 5), dtype), rand(rng, (48, 256, 1, 1), dtype)
    assert fastcnn.explain("conv2d", x, w).path == "direct_tiles"
    np.testing.assert_array_equal(F.conv2d(x, w), F.conv2d(x, w, algorithm="direct"))
    x7, w7 = rand(rng, (3, 24, 14, 14), dtype), rand(rng, (64, 24, 3, 3), dtype)  # to 7x7
    assert fastcnn.explain("conv2d", x7, w7, stride=2, padding=1).path == "direct_tiles"
    np.testing.assert_array_equal(
        F.conv2d(x7, w7, stride=2, padding=1), F.conv2d(x7, w7, stride=2, padding=1, algorithm="direct")
    )
    # A larger plane with 20 output channels: float32's 16-lane tiles would
    # be 20/32 full, so the GEMM; float64's 8-lane ones are 20/24 full, so the tiles.
    x3, w3 = rand(rng, (2, 16, 40, 40), dtype), rand(rng, (20, 16, 3, 3), dtype)  # to 19x19
    tiles = dtype == np.float64
    assert fastcnn.explain("conv2d", x3, w3, stride=2).path == ("direct_tiles" if tiles else "implicit_gemm")
    forced = F.conv2d(x3, w3, stride=2, algorithm="direct" if tiles else "gemm")
    np.testing.assert_array_equal(F.conv2d(x3, w3, stride=2), forced)


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_direct_tiles_thread_count_independent(batch):
    """Each output is one tile's sum in a fixed order: same bits for any thread count."""
    rng = np.random.default_rng(5)
    x, w = rand(rng, (batch, 9, 17, 15), np.float32), rand(rng, (40, 9, 3, 3), np.float32)
    results = []
    for threads in (1, 2, 3):
        fastcnn.set_num_threads(threads)
        results.append(F.conv2d(x, w, padding=1, stride=(1, 2), algorithm="direct"))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize(
    "padding, dilation",
    [(1, 1), (((0, 2), (1, 0)), 1), (2, 2), (3, 1)],
    ids=["same", "asymmetric", "dilated", "pad-beyond-kernel"],
)
def test_backward_data_by_tiles_on_small_planes(padding, dilation, dtype, isa):
    """Stride-1 dx on small planes runs as the tiles' correlation of dout with
    the flipped, transposed weights (padding past dilation*(k-1): the GEMM)."""
    rng = np.random.default_rng(8)
    x, w = rand(rng, (2, 24, 7, 9), dtype), rand(rng, (12, 24, 3, 3), dtype)
    kw = dict(padding=padding, dilation=dilation)
    dout = rand(rng, R.conv2d(x, w, **kw).shape, dtype)
    dx = F.conv2d_backward(dout, x, w, needs=("x",), **kw)[0]
    assert_close(dx, R.conv2d_backward(dout, x, w, needs=("x",), **kw)[0], "dx")
    last = F.conv2d_backward(
        np.moveaxis(dout, 1, -1), np.moveaxis(x, 1, -1), w, needs=("x",), data_format="channels_last", **kw
    )[0]
    assert_close(np.moveaxis(last, -1, 1), dx, "dx channels_last")


def test_auto_takes_tiles_for_strided_layers_past_l2_on_avx512(isa):
    """Past half of L2 the tiles keep strided kxk layers on AVX-512 only."""
    rng = np.random.default_rng(12)
    info = fastcnn.cpu_info()
    c_in = 128
    size = int(np.sqrt(info["l2_bytes"] / 2 / 4 / c_in)) + 4  # the padded image passes half of L2
    x, w = rand(rng, (1, c_in, size, size), np.float32), rand(rng, (64, c_in, 3, 3), np.float32)
    expected = "direct" if isa == "avx512" else "gemm"
    path = fastcnn.explain("conv2d", x, w, stride=2, padding=1).path
    assert path == ("direct_tiles" if isa == "avx512" else "implicit_gemm"), path
    np.testing.assert_array_equal(
        F.conv2d(x, w, stride=2, padding=1), F.conv2d(x, w, stride=2, padding=1, algorithm=expected)
    )
