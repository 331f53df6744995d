"""Winograd F(4x4, 3x3) and F(4x4, 5x5): forward, backward-data and
backward-weight against the NumPy reference; F(4x4, 2x2) over the input's
phases for 3x3 stride-2 forward.

The grid covers what the tile machinery can get wrong: output sizes that are
and are not multiples of the 4x4 tile (1..13 and a few larger), batches that put images in the transform lanes
(small planes, 5x5), every padding
0..r-1 on each side independently (3x3; a sample for 5x5), tile blocks that span images (batch 1..3
and a batch with thousands of tiles), channel counts not multiples of the
register tile, bias or not; both dtypes, every SIMD path. The float32
error bound of the issue (<= 1e-3 relative to a float64 reference) is checked
on deep channel sums, where Winograd's rounding is largest.
"""

import itertools

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand


def _cases():
    rng = np.random.default_rng(2024)
    cases = []
    # every padding combination of a 3x3 kernel once, and a sample for 5x5,
    # on sizes around the tile
    pad_sets = [(3, pads) for pads in itertools.product((0, 1, 2), repeat=4)]
    pad_sets += [(5, tuple(int(v) for v in rng.integers(0, 5, 4))) for _ in range(30)]
    for k, pads in pad_sets:
        h, w = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        h = max(h, k - pads[0] - pads[1])
        w = max(w, k - pads[2] - pads[3])
        cases.append(
            dict(
                k=k,
                n=int(rng.integers(1, 4)),
                c_in=int(rng.integers(1, 18)),
                c_out=int(rng.integers(1, 18)),
                h=h,
                w=w,
                padding=((pads[0], pads[1]), (pads[2], pads[3])),
                bias=bool(rng.integers(2)),
            )
        )
    # every output size 1..13 in each dimension
    for k in (3, 5):
        for size in range(1, 14):
            cases.append(
                dict(k=k, n=2, c_in=5, c_out=7, h=size + k - 1, w=14 - size + k - 1, padding=0, bias=True)
            )
    # sizes that cross the thread blocks, the GEMM's KC blocking and its register tile
    cases += [
        dict(k=3, n=3, c_in=33, c_out=29, h=30, w=27, padding=1, bias=True),
        dict(k=3, n=1, c_in=300, c_out=13, h=9, w=10, padding=1, bias=False),
        dict(k=3, n=2, c_in=16, c_out=70, h=17, w=5, padding="same", bias=True),
        dict(k=5, n=3, c_in=40, c_out=19, h=21, w=18, padding=2, bias=True),
        dict(k=5, n=1, c_in=300, c_out=9, h=7, w=8, padding="same", bias=False),
    ]
    # 5x5 on small planes with batches that fill the lanes with images (a
    # staged copy; batches past a multiple of 16 leave lanes empty)
    for n, h, w, pads in [
        (8, 7, 7, (2, 2, 2, 2)),
        (9, 14, 13, (1, 3, 0, 2)),
        (17, 5, 9, (0, 0, 4, 4)),
        (33, 3, 4, (4, 4, 3, 1)),
        (16, 16, 11, (2, 2, 2, 2)),
    ]:
        cases.append(
            dict(
                k=5,
                n=n,
                c_in=int(rng.integers(1, 18)),
                c_out=int(rng.integers(1, 18)),
                h=h,
                w=w,
                padding=((pads[0], pads[1]), (pads[2], pads[3])),
                bias=True,
            )
        )
    return cases


CASES = _cases()


def _case_id(case):
    return (
        f"k{case['k']}n{case['n']}c{case['c_in']}-{case['c_out']}_{case['h']}x{case['w']}_p{case['padding']}"
    )


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_winograd_matches_reference(case, dtype, isa):
    rng = np.random.default_rng(CASES.index(case))
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"], case["k"], case["k"]), dtype)
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


@pytest.mark.parametrize("k", [3, 5])
def test_float32_error_within_1e3_relative_of_float64(k, isa):
    # 64 x k x k-term channel sums with values of mixed sign and size:
    # Winograd's transforms amplify rounding most here.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 64, 20, 20)) * rng.uniform(0.1, 10, (1, 64, 1, 1))
    w = rng.standard_normal((32, 64, k, k))
    pad = k // 2
    exact = R.conv2d(x, w, padding=pad)
    got = F.conv2d(x.astype(np.float32), w.astype(np.float32), padding=pad, algorithm="winograd")
    assert np.max(np.abs(got - exact)) <= 1e-3 * np.max(np.abs(exact))
    dout = rng.standard_normal(exact.shape)
    exact_dx, exact_dw, _ = R.conv2d_backward(dout, x, w, padding=pad, needs=("x", "w"))
    got_dx, got_dw, _ = F.conv2d_backward(
        dout.astype(np.float32),
        x.astype(np.float32),
        w.astype(np.float32),
        padding=pad,
        needs=("x", "w"),
        algorithm="winograd",
    )
    assert np.max(np.abs(got_dx - exact_dx)) <= 1e-3 * np.max(np.abs(exact_dx))
    assert np.max(np.abs(got_dw - exact_dw)) <= 1e-3 * np.max(np.abs(exact_dw))


def test_auto_takes_winograd_for_many_tiles_and_channels(dtype, isa):
    # The planner names the path; the results equal the forced path's bit for bit.
    rng = np.random.default_rng(6)
    big_x, big_w = rand(rng, (8, 16, 28, 28), dtype), rand(rng, (16, 16, 3, 3), dtype)  # 392 tiles
    for op, path in [
        ("conv2d", "winograd"),
        ("conv2d_backward_data", "winograd"),
        ("conv2d_backward_weight", "direct_weight"),
    ]:
        assert fastcnn.explain(op, big_x, big_w, padding=1).path == path, op
    auto = F.conv2d(big_x, big_w, padding=1)
    np.testing.assert_array_equal(auto, F.conv2d(big_x, big_w, padding=1, algorithm="winograd"))
    dout = rand(rng, auto.shape, dtype)
    auto_grads = F.conv2d_backward(dout, big_x, big_w, padding=1, needs=("x", "w"))
    wino_grads = F.conv2d_backward(dout, big_x, big_w, padding=1, needs=("x", "w"), algorithm="winograd")
    np.testing.assert_array_equal(auto_grads[0], wino_grads[0])
    # dW of 16 channels: the direct weight-gradient kernel; 64 -> 64: Winograd.
    direct_dw = F.conv2d_backward(dout, big_x, big_w, padding=1, needs="w", algorithm="direct")[1]
    np.testing.assert_array_equal(auto_grads[1], direct_dw)
    # dW 64 -> 64 on a 20x20 plane: Winograd; also 32 -> 32 where 512-bit FMAs
    # run at twice AVX2's rate (see cpu_info's avx512_fma_speedup), where it
    # was measured; on a 13x13 plane the direct kernel.
    info = fastcnn.cpu_info()
    wide = info["isa"] == "avx512" and info["avx512_fma_speedup"] > 1.5
    wide_x, wide_w = rand(rng, (2, 64, 20, 20), dtype), rand(rng, (64, 64, 3, 3), dtype)  # 50 tiles
    wide_x = np.concatenate([wide_x] * 4)  # 200 tiles
    wide_dout = rand(rng, wide_x.shape, dtype)
    for c in (64, 32):
        x_c, w_c, dout_c = wide_x[:, :c], wide_w[:c, :c], wide_dout[:, :c]
        expect = "winograd" if c == 64 or wide else "direct"
        planned = fastcnn.explain("conv2d_backward_weight", x_c, w_c, padding=1).path
        assert planned == ("winograd" if expect == "winograd" else "direct_weight"), (c, planned)
        np.testing.assert_array_equal(
            F.conv2d_backward(dout_c, x_c, w_c, padding=1, needs="w")[1],
            F.conv2d_backward(dout_c, x_c, w_c, padding=1, needs="w", algorithm=expect)[1],
        )
    small_plane = (wide_dout[:, :, :13, :13], wide_x[:, :, :13, :13], wide_w)
    assert fastcnn.explain("conv2d_backward_weight", *small_plane[1:], padding=1).path == "direct_weight"
    np.testing.assert_array_equal(
        F.conv2d_backward(*small_plane, padding=1, needs="w")[1],
        F.conv2d_backward(*small_plane, padding=1, needs="w", algorithm="direct")[1],
    )
    # Few input channels (the transforms would dominate): the direct column kernel.
    small_x, small_w = rand(rng, (4, 3, 28, 28), dtype), rand(rng, (16, 3, 3, 3), dtype)
    assert fastcnn.explain("conv2d", small_x, small_w, padding=1).path == "direct_columns"
    np.testing.assert_array_equal(
        F.conv2d(small_x, small_w, padding=1), F.conv2d(small_x, small_w, padding=1, algorithm="direct")
    )
    # 5x5 (the MNIST tutorial's second layer): Winograd forward from 256 tiles
    # (the direct tiles below), Winograd dx from 128; the direct kernel for dW
    # below 32 channels on both sides.
    x5, w5 = rand(rng, (12, 16, 14, 14), dtype), rand(rng, (32, 16, 5, 5), dtype)  # 192 tiles
    for op, path in [
        ("conv2d", "direct_tiles"),
        ("conv2d_backward_data", "winograd"),
        ("conv2d_backward_weight", "direct_weight"),
    ]:
        assert fastcnn.explain(op, x5, w5, padding=2).path == path, op
    np.testing.assert_array_equal(
        F.conv2d(x5, w5, padding=2), F.conv2d(x5, w5, padding=2, algorithm="direct")
    )
    x20 = np.concatenate([x5, x5[:8]])  # 320 tiles
    assert fastcnn.explain("conv2d", x20, w5, padding=2).path == "winograd"
    np.testing.assert_array_equal(
        F.conv2d(x20, w5, padding=2), F.conv2d(x20, w5, padding=2, algorithm="winograd")
    )
    dout5 = rand(rng, (12, 32, 14, 14), dtype)
    auto5 = F.conv2d_backward(dout5, x5, w5, padding=2, needs=("x", "w"))
    np.testing.assert_array_equal(
        auto5[0], F.conv2d_backward(dout5, x5, w5, padding=2, needs="x", algorithm="winograd")[0]
    )
    np.testing.assert_array_equal(
        auto5[1], F.conv2d_backward(dout5, x5, w5, padding=2, needs="w", algorithm="direct")[1]
    )
    # ... and from 1024 tiles (64 images) on, Winograd's (run as M^T).
    x64, dout64_32 = np.concatenate([x5] * 6)[:64], np.concatenate([dout5] * 6)[:64]
    assert fastcnn.explain("conv2d_backward_weight", x64, w5, padding=2).path == "winograd"
    np.testing.assert_array_equal(
        F.conv2d_backward(dout64_32, x64, w5, padding=2, needs="w")[1],
        F.conv2d_backward(dout64_32, x64, w5, padding=2, needs="w", algorithm="winograd")[1],
    )
    # 16 -> 64: enough products per tile for Winograd's dW (run as M^T).
    w64, dout64 = rand(rng, (64, 16, 5, 5), dtype), rand(rng, (12, 64, 14, 14), dtype)
    assert fastcnn.explain("conv2d_backward_weight", x5, w64, padding=2).path == "winograd"
    np.testing.assert_array_equal(
        F.conv2d_backward(dout64, x5, w64, padding=2, needs="w")[1],
        F.conv2d_backward(dout64, x5, w64, padding=2, needs="w", algorithm="winograd")[1],
    )


def _phase_cases():
    """3x3 stride 2 (F(4x4, 2x2) over the input's four phases): every padding
    0..2 per side, even and odd input sizes (odd widths take the per-phase
    gather, even ones the paired one), tiles that overhang the output, batches
    whose tile blocks span images, channel counts past the register tile."""
    rng = np.random.default_rng(77)
    cases = []
    for pads in itertools.product((0, 1, 2), repeat=4):
        h, w = int(rng.integers(3, 20)), int(rng.integers(3, 20))
        cases.append(
            dict(
                n=int(rng.integers(1, 4)),
                c_in=int(rng.integers(1, 12)),
                c_out=int(rng.integers(1, 20)),
                h=h,
                w=w,
                padding=((pads[0], pads[1]), (pads[2], pads[3])),
                bias=bool(rng.integers(2)),
            )
        )
    for size in range(3, 30, 3):
        cases.append(dict(n=2, c_in=3, c_out=5, h=size, w=33 - size, padding=1, bias=True))
    cases += [
        dict(n=3, c_in=35, c_out=70, h=30, w=28, padding=1, bias=True),
        dict(n=9, c_in=16, c_out=33, h=16, w=16, padding="same", bias=False),
        dict(n=2, c_in=64, c_out=128, h=56, w=56, padding=1, bias=True),
    ]
    return cases


PHASE_CASES = _phase_cases()


@pytest.mark.parametrize(
    "case", PHASE_CASES, ids=lambda c: f"n{c['n']}c{c['c_in']}-{c['c_out']}_{c['h']}x{c['w']}_p{c['padding']}"
)
def test_winograd_stride2_forward_matches_reference(case, dtype, isa):
    rng = np.random.default_rng(PHASE_CASES.index(case))
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"], 3, 3), dtype)
    b = rand(rng, (case["c_out"],), dtype) if case["bias"] else None
    out = F.conv2d(x, w, b, stride=2, padding=case["padding"], algorithm="winograd")
    assert_close(out, R.conv2d(x, w, b, stride=2, padding=case["padding"]), "forward")


@pytest.mark.parametrize(
    "case", PHASE_CASES, ids=lambda c: f"n{c['n']}c{c['c_in']}-{c['c_out']}_{c['h']}x{c['w']}_p{c['padding']}"
)
def test_winograd_stride2_dx_matches_reference(case, dtype, isa):
    # dx by F(4x4, 2x2) over dx's four phases (8x8 blocks clipped at odd
    # sizes; pads 0 and 1..2 give different window offsets per axis)
    rng = np.random.default_rng(1000 + PHASE_CASES.index(case))
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"], 3, 3), dtype)
    dout = rand(rng, R.conv2d(x, w, stride=2, padding=case["padding"]).shape, dtype)
    dx = F.conv2d_backward(dout, x, w, stride=2, padding=case["padding"], needs=("x",), algorithm="winograd")[
        0
    ]
    want = R.conv2d_backward(dout, x, w, stride=2, padding=case["padding"], needs=("x",))[0]
    assert_close(dx, want, "dx")


def test_winograd_stride2_dx_float32_error_and_auto_choice(isa):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 64, 40, 41)) * rng.uniform(0.1, 10, (1, 64, 1, 1))
    w = rng.standard_normal((96, 64, 3, 3))
    dout = rng.standard_normal(R.conv2d(x, w, stride=2, padding=1).shape)
    exact = R.conv2d_backward(dout, x, w, stride=2, padding=1, needs=("x",))[0]
    x32, w32, d32 = (a.astype(np.float32) for a in (x, w, dout))
    got = F.conv2d_backward(d32, x32, w32, stride=2, padding=1, needs=("x",), algorithm="winograd")[0]
    assert np.max(np.abs(got - exact)) <= 1e-3 * np.max(np.abs(exact))
    # auto: Winograd from 128 tiles of the phase grid, up to 128 x 256
    # channel pairs (64 x 128 without 512-bit FMAs at twice AVX2's rate)
    info = fastcnn.cpu_info()
    wide = info["isa"] == "avx512" and info["avx512_fma_speedup"] > 1.5

    def takes_winograd(n, c_in, size, c_out):
        xs, ws = rand(rng, (n, c_in, size, size), np.float32), rand(rng, (c_out, c_in, 3, 3), np.float32)
        ds = rand(rng, F.conv2d(xs, ws, stride=2, padding=1).shape, np.float32)
        auto = F.conv2d_backward(ds, xs, ws, stride=2, padding=1, needs=("x",))[0]
        return np.array_equal(
            auto, F.conv2d_backward(ds, xs, ws, stride=2, padding=1, needs=("x",), algorithm="winograd")[0]
        )

    assert takes_winograd(8, 16, 32, 32)  # 8 x 16 tiles
    assert not takes_winograd(4, 16, 32, 32)  # 64 tiles
    assert takes_winograd(8, 128, 28, 128) == wide
    with pytest.raises(ValueError, match="winograd"):  # no stride-2 Winograd dW
        F.conv2d_backward(d32, x32, w32, stride=2, padding=1, algorithm="winograd")


def test_winograd_stride2_views_and_float32_error(isa):
    # a strided view of x (copied to C order on the way in), and deep
    # 64-channel sums of mixed scale against a float64 reference
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 64, 40, 41)) * rng.uniform(0.1, 10, (1, 64, 1, 1))
    w = rng.standard_normal((48, 64, 3, 3))
    exact = R.conv2d(x[:, :, :, 1:], w, stride=2, padding=1)
    got = F.conv2d(
        x.astype(np.float32)[:, :, :, 1:], w.astype(np.float32), stride=2, padding=1, algorithm="winograd"
    )
    assert np.max(np.abs(got - exact)) <= 1e-3 * np.max(np.abs(exact))


def test_auto_takes_phase_winograd_where_it_wins(isa):
    rng = np.random.default_rng(9)

    def check(shape, c_out, expect_winograd):
        x, w = rand(rng, shape, np.float32), rand(rng, (c_out, shape[1], 3, 3), np.float32)
        path = fastcnn.explain("conv2d", x, w, stride=2, padding=1).path
        assert (path == "winograd_phases") == expect_winograd, (shape, path)
        if expect_winograd:
            auto = F.conv2d(x, w, stride=2, padding=1)
            np.testing.assert_array_equal(auto, F.conv2d(x, w, stride=2, padding=1, algorithm="winograd"))

    check((32, 32, 32, 32), 64, True)  # 512 tiles of 16x16 outputs
    check((32, 32, 28, 28), 64, False)  # 14x14: the 4x4 tiles overhang
    check((32, 128, 32, 32), 64, False)  # 512 B rows per tile
    check((1, 32, 32, 32), 64, False)  # 16 tiles


UNSUPPORTED = {  # by kernel size k: geometries Winograd cannot compute
    "stride": lambda k: dict(stride=2),
    "stride3": lambda k: dict(stride=3),
    "dilation": lambda k: dict(dilation=2),
    "groups": lambda k: dict(groups=2),
    "padding": lambda k: dict(padding=k),
    "padding_bottom": lambda k: dict(padding=((0, k), (1, 1))),
}


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("what", sorted(UNSUPPORTED))
def test_winograd_rejects_what_it_cannot_compute(what, k):
    kw = UNSUPPORTED[what](k)
    x, w = np.ones((1, 4, 13, 13)), np.ones((4, 4 // kw.get("groups", 1), k, k))
    if what == "stride" and k == 3:  # forward by F(4x4, 2x2) over the input's phases
        F.conv2d(x, w, algorithm="winograd", **kw)
    else:
        with pytest.raises(ValueError, match="winograd"):
            F.conv2d(x, w, algorithm="winograd", **kw)
    dout = F.conv2d(x, w, **kw)
    with pytest.raises(ValueError, match="winograd"):
        F.conv2d_backward(dout, x, w, algorithm="winograd", **kw)
    if what == "stride" and k == 3:  # dx alone: F(4x4, 2x2) over dx's phases
        F.conv2d_backward(dout, x, w, algorithm="winograd", needs=("x",), **kw)
    else:
        with pytest.raises(ValueError, match="winograd"):
            F.conv2d_backward(dout, x, w, algorithm="winograd", needs=("x",), **kw)


@pytest.mark.parametrize("kernel", [(7, 7), (3, 1), (1, 3), (3, 5), (1, 1)])
def test_winograd_needs_a_3x3_or_5x5_kernel(kernel):
    with pytest.raises(ValueError, match="3x3 or 5x5"):
        F.conv2d(np.ones((1, 2, 9, 9)), np.ones((2, 2) + kernel), algorithm="winograd")
    with pytest.raises(ValueError, match="3x3 or 5x5"):
        F.conv1d(np.ones((1, 2, 9)), np.ones((2, 2, 3)), algorithm="winograd")
