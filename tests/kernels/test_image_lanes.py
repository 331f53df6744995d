"""The GEMM over images in the vector lanes (the `image_lanes` path, which
'auto' takes on small output planes where the per-image GEMM would pad its
column tiles) against the NumPy reference. The planner's test override makes
every convolution here take that path, and each test asks the planner that
it did.

The path is taken when the batch fills its tiles of nr images (32 floats or
16 doubles on AVX-512, 16 / 8 on AVX2) better than the plane fills the
per-image tiles, so batches here run around those counts: 15..17, 31..33,
64, 65 and 70 (a partly filled last tile). Kernels 1..5 and non-square ones,
strides, dilations, every padding form, groups, output channels around the
row tiles; channels-last, conv1d, strided views, bias; a chunk of one tile
(inputs too large for more); thread counts.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import (
    assert_close,
    conv_case_id,
    conv_case_inputs,
    forced_conv_path,
    rand,
    random_conv_geometry,
)


@pytest.fixture(autouse=True)
def _image_lanes():
    with forced_conv_path("forward", "image_lanes"):
        yield


def _lanes(op, x, w, **kw):
    """x and w as given, after checking the planner takes the image lanes for them."""
    assert fastcnn.explain(op, x, w, **kw).path == "image_lanes"
    return x, w


def _cases():
    rng = np.random.default_rng(9090)
    cases = []
    for kh, kw in [(1, 1), (2, 2), (3, 3), (5, 5), (1, 5), (3, 1)]:
        for n in (15, 17, 33, 65):
            geometry = random_conv_geometry(
                rng, kh, kw, max_stride=2, max_dilation=2, max_pad=2, extra_h=5, extra_w=6
            )
            cases.append(
                dict(
                    n=n,
                    c_in=int(rng.integers(1, 9)),
                    c_out=int(rng.integers(1, 40)),
                    kh=kh,
                    kw=kw,
                    **geometry,
                    groups=1,
                    bias=bool(rng.integers(2)),
                )
            )
    for c_out in (1, 7, 8, 12, 13, 24, 64, 70):  # every row tile and its tails
        cases.append(
            dict(
                n=31,
                c_in=5,
                c_out=c_out,
                h=7,
                w=7,
                kh=3,
                kw=3,
                stride=(1, 1),
                dilation=(1, 1),
                padding="same",
                groups=1,
                bias=True,
            )
        )
    for n in (16, 32, 64, 70):
        cases.append(
            dict(
                n=n,
                c_in=8,
                c_out=16,
                h=7,
                w=7,
                kh=5,
                kw=5,
                stride=(1, 1),
                dilation=(1, 1),
                padding=2,
                groups=1,
                bias=True,
            )
        )  # MNIST's third layer
    cases.append(
        dict(
            n=33,
            c_in=6,
            c_out=9,
            h=6,
            w=5,
            kh=3,
            kw=3,
            stride=(2, 1),
            dilation=(1, 1),
            padding=1,
            groups=3,
            bias=True,
        )
    )
    cases.append(
        dict(
            n=40,
            c_in=4,
            c_out=4,
            h=5,
            w=5,
            kh=3,
            kw=3,
            stride=(1, 1),
            dilation=(1, 1),
            padding=1,
            groups=4,
            bias=False,
        )
    )  # depthwise
    cases.append(
        dict(
            n=70,
            c_in=64,
            c_out=20,
            h=17,
            w=17,
            kh=3,
            kw=3,
            stride=(1, 1),
            dilation=(1, 1),
            padding=0,
            groups=1,
            bias=True,
        )
    )  # one tile per chunk
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=conv_case_id)
def test_image_lanes_match_reference(case, dtype, isa):
    x, w, b, kw, _ = conv_case_inputs(case, dtype, CASES.index(case))
    _lanes("conv2d", x, w, **kw)
    assert_close(F.conv2d(x, w, b, **kw), R.conv2d(x, w, b, **kw), "forward")


@pytest.mark.parametrize("case", CASES[::3], ids=conv_case_id)
def test_image_lanes_channels_last(case, dtype):
    x, w, b, kw, _ = conv_case_inputs(case, dtype, 1 + CASES.index(case))
    last = _lanes("conv2d", np.moveaxis(x, 1, -1), w, data_format="channels_last", **kw)[0]
    got = F.conv2d(last, w, b, data_format="channels_last", **kw)
    assert_close(np.moveaxis(got, -1, 1), R.conv2d(x, w, b, **kw), "channels_last")


def test_image_lanes_conv1d_and_views(dtype, isa):
    rng = np.random.default_rng(3)
    x = rand(rng, (40, 14, 30), dtype)[:, ::2, ::3]  # strided view, length 10
    w = rand(rng, (9, 7, 3), dtype)
    _lanes("conv1d", x, w, stride=2, padding=(2, 1), dilation=2)
    got = F.conv1d(x, w, stride=2, padding=(2, 1), dilation=2)
    assert_close(got, R.conv1d(x, w, stride=2, padding=(2, 1), dilation=2))


def test_image_lanes_special_values(dtype):
    """Zero lanes past the batch must not leak into real images (NaN and inf stay put)."""
    rng = np.random.default_rng(6)
    x, w = rand(rng, (33, 3, 5, 5), dtype), rand(rng, (8, 3, 3, 3), dtype)
    x[32, 1, 2, 2] = np.nan
    x[5, 0, 0, 0] = np.inf
    _lanes("conv2d", x, w, padding=1)
    assert_close(F.conv2d(x, w, padding=1), R.conv2d(x, w, padding=1), "nan/inf")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_image_lanes_thread_counts(threads):
    """Every output is one tile's sum in a fixed order: same bits for any thread count."""
    rng = np.random.default_rng(5)
    x, w = rand(rng, (37, 9, 8, 7), np.float32), rand(rng, (20, 9, 3, 3), np.float32)
    _lanes("conv2d", x, w, padding=1, stride=(1, 2))
    fastcnn.set_num_threads(1)
    expected = F.conv2d(x, w, padding=1, stride=(1, 2))
    fastcnn.set_num_threads(threads)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1, stride=(1, 2)), expected)
