"""data_format='channels_last' (NHWC / NLC) for every op: equal to channels-first.

Each case runs the op on channels-first data and on the same data laid out
channels-last, forward and backward, and compares after moving the channel
axis back (the native NHWC kernels sum in the same or a different order, so
the float tolerance of _helpers applies; indices must be identical). The
grid covers kernels, strides, every padding form, dilation, groups and
depthwise, ceil_mode and count_include_pad, both dtypes, every SIMD path.
"""

import itertools

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand


def to_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def to_first(a):
    return np.moveaxis(a, -1, 1)


CONV2D = [  # (n, c_in, c_out, h, w, kernel, stride, padding, dilation, groups)
    (2, 3, 5, 9, 11, 3, 1, 1, 1, 1),
    (1, 8, 4, 7, 6, 2, 2, ((0, 1), (1, 0)), 1, 2),
    (3, 4, 8, 13, 13, 3, 2, 1, 2, 4),  # depthwise x 2
    (2, 16, 32, 6, 7, 1, 1, 0, 1, 1),  # 1x1
    (1, 2, 16, 28, 28, 5, 1, 2, 1, 1),
    (2, 6, 6, 10, 9, (3, 2), (3, 1), "same", (1, 2), 3),
    (1, 70, 37, 12, 11, 3, 1, "valid", 1, 1),  # K beyond one KC block
    (2, 1, 3, 1, 5, 1, 1, 0, 1, 1),
]


@pytest.mark.parametrize("case", CONV2D, ids=lambda c: "-".join(map(str, c[:5])))
def test_conv2d_channels_last_equals_channels_first(case, dtype, isa):
    n, ci, co, h, w, k, s, pad, dil, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(sum(map(hash, map(str, case))) % 2**32)
    x = rand(rng, (n, ci, h, w), dtype)
    wt = rand(rng, (co, ci // g, kh, kw), dtype)
    b = rand(rng, (co,), dtype)
    kw_ = dict(stride=s, padding=pad, dilation=dil, groups=g)
    first = F.conv2d(x, wt, b, **kw_)
    last = F.conv2d(to_last(x), wt, b, data_format="channels_last", **kw_)
    assert last.shape == to_last(first).shape
    assert_close(to_first(last), first, "forward")
    dout = rand(rng, first.shape, dtype)
    dx, dw, db = F.conv2d_backward(dout, x, wt, **kw_)
    ldx, ldw, ldb = F.conv2d_backward(to_last(dout), to_last(x), wt, data_format="channels_last", **kw_)
    assert_close(to_first(ldx), dx, "dx")
    assert_close(ldw, dw, "dw")
    assert_close(ldb, db, "db")


DIRECT_TILES = [  # (n, c_in, c_out, h, w, kernel, stride, padding, dilation)
    (2, 64, 40, 9, 10, 3, 1, 1, 1),  # weights past L1: passes over channels
    (2, 64, 130, 8, 9, 3, 2, ((0, 1), (2, 1)), 1),  # the wide tile, stride 2, uneven pads
    (3, 3, 32, 11, 12, 3, 1, 0, 1),  # no padding: read in place
    (2, 1, 16, 14, 13, 5, 1, 2, 1),  # one channel: each kernel row one run
    (1, 20, 24, 12, 13, 3, 1, "same", (2, 3)),  # dilated columns: no single run
    (2, 48, 200, 7, 6, 3, 2, 1, 2),  # passes, dilation and 200 channels
    (2, 96, 24, 5, 7, 1, 1, 0, 1),  # 1x1
    (1, 40, 24, 9, 8, 3, 1, 1, 1),  # one image: channel ranges per thread
    (1, 64, 16, 72, 70, 3, 1, 1, 1),  # an image past L2 / 4: dW copies it to planes
]


@pytest.mark.parametrize("case", DIRECT_TILES, ids=lambda c: "-".join(map(str, c[:5])))
@pytest.mark.parametrize("algorithm", ["direct", "auto"])
def test_conv2d_channels_last_direct_tiles(case, algorithm, dtype, isa):
    # the tiles walk each pixel's contiguous channels in place (or in a
    # padded channels-last copy): against the reference on channels-first data
    n, ci, co, h, w, k, s, pad, dil = case
    rng = np.random.default_rng(sum(map(hash, map(str, case))) % 2**32)
    x = rand(rng, (n, ci, h, w), dtype)
    wt = rand(rng, (co, ci, k, k), dtype)
    b = rand(rng, (co,), dtype)
    kw_ = dict(stride=s, padding=pad, dilation=dil)
    out = F.conv2d(to_last(x), wt, b, data_format="channels_last", algorithm=algorithm, **kw_)
    expect = R.conv2d(x, wt, b, **kw_)
    assert_close(to_first(out), expect, "forward")
    # stride 1: dx is the same tiles over dout with flipped weights; dW walks
    # the positions with taps as rows, reading each tap's channel in place
    dout = rand(rng, expect.shape, dtype)
    dx, dw, _ = F.conv2d_backward(
        to_last(dout),
        to_last(x),
        wt,
        data_format="channels_last",
        needs=("x", "w"),
        algorithm=algorithm,
        **kw_,
    )
    rdx, rdw, _ = R.conv2d_backward(dout, x, wt, needs=("x", "w"), **kw_)
    assert_close(to_first(dx), rdx, "dx")
    assert_close(dw, rdw, "dw")


@pytest.mark.parametrize("dtype_", [np.float32, np.float64])
def test_channels_last_goes_through_channels_first_winograd_in_chunks(dtype_, isa):
    # 64 -> 64 3x3 at 48x48: auto takes Winograd on channels-first data, so
    # channels-last data is transposed through it in chunks of images (8 MiB
    # of scratch: 7 float32 or 3 float64 images here, so 9 images are 2 or 3
    # chunks). Each tile's Winograd sums are the same in any chunk: results
    # equal the channels-first ones exactly.
    rng = np.random.default_rng(31)
    x, w = rand(rng, (9, 64, 48, 48), dtype_), rand(rng, (64, 64, 3, 3), dtype_)
    b = rand(rng, (64,), dtype_)
    assert fastcnn.explain("conv2d", x, w, padding=1).path == "winograd"
    for op in ("conv2d", "conv2d_backward_data", "conv2d_backward_weight"):
        assert fastcnn.explain(op, to_last(x), w, padding=1, data_format="channels_last").path == (
            "channels_first_route"
        )
    first = F.conv2d(x, w, b, padding=1)
    np.testing.assert_array_equal(first, F.conv2d(x, w, b, padding=1, algorithm="winograd"))
    np.testing.assert_array_equal(
        to_first(F.conv2d(to_last(x), w, b, padding=1, data_format="channels_last")), first
    )
    dout = rand(rng, first.shape, dtype_)
    dx = F.conv2d_backward(dout, x, w, padding=1, needs="x")[0]
    ldx = F.conv2d_backward(to_last(dout), to_last(x), w, padding=1, needs="x", data_format="channels_last")[
        0
    ]
    np.testing.assert_array_equal(to_first(ldx), dx)
    # dW likewise: both x and dout are transposed (the same 8 MiB for both,
    # so the same chunks), each chunk's Winograd dW summed in order.
    chunk = min(9, (8 << 20) // (2 * x[0].nbytes))
    want = None
    for n0 in range(0, 9, chunk):
        part = F.conv2d_backward(
            dout[n0 : n0 + chunk], x[n0 : n0 + chunk], w, padding=1, needs="w", algorithm="winograd"
        )[1]
        want = part if want is None else want + part
    ldw = F.conv2d_backward(to_last(dout), to_last(x), w, padding=1, needs="w", data_format="channels_last")[
        1
    ]
    np.testing.assert_array_equal(ldw, want)
    assert_close(ldw, F.conv2d_backward(dout, x, w, padding=1, needs="w")[1], "dw")
    # dx of a stride-2 layer and of a 3-channel first layer: the channels-
    # first GEMM paths, through the same chunks (their blocking follows the
    # chunk's batch, so sums may round differently)
    for shape, c_out, stride in [((5, 64, 20, 20), 32, 2), ((6, 3, 32, 32), 16, 1), ((3, 5, 9, 9), 7, 2)]:
        xq, wq = rand(rng, shape, dtype_), rand(rng, (c_out, shape[1], 3, 3), dtype_)
        dq = rand(rng, F.conv2d(xq, wq, stride=stride, padding=1).shape, dtype_)
        assert_close(
            to_first(
                F.conv2d_backward(
                    to_last(dq),
                    to_last(xq),
                    wq,
                    stride=stride,
                    padding=1,
                    needs="x",
                    data_format="channels_last",
                )[0]
            ),
            F.conv2d_backward(dq, xq, wq, stride=stride, padding=1, needs="x")[0],
            "dx",
        )
    # 13x13 outputs (4x4 tiles waste 51%): the channels-last tiles instead
    xs, ws = rand(rng, (32, 32, 15, 15), dtype_), rand(rng, (64, 32, 3, 3), dtype_)
    assert fastcnn.explain("conv2d", to_last(xs), ws, data_format="channels_last").path == "direct_tiles"
    np.testing.assert_array_equal(
        F.conv2d(to_last(xs), ws, data_format="channels_last"),
        F.conv2d(to_last(xs), ws, data_format="channels_last", algorithm="direct"),
    )


@pytest.mark.parametrize("k,s,pad,dil,g", [(3, 1, 1, 1, 1), (5, 2, "same", 1, 2), (4, 3, (2, 1), 2, 1)])
def test_conv1d_channels_last(k, s, pad, dil, g, dtype, isa):
    rng = np.random.default_rng(k * 10 + s)
    x, wt = rand(rng, (2, 4, 23), dtype), rand(rng, (6, 4 // g, k), dtype)
    kw_ = dict(stride=s, padding=pad, dilation=dil, groups=g)
    first = F.conv1d(x, wt, **kw_)
    last = F.conv1d(to_last(x), wt, data_format="channels_last", **kw_)
    assert_close(to_first(last), first)
    dout = rand(rng, first.shape, dtype)
    grads = F.conv1d_backward(dout, x, wt, **kw_)
    lgrads = F.conv1d_backward(to_last(dout), to_last(x), wt, data_format="channels_last", **kw_)
    assert_close(to_first(lgrads[0]), grads[0], "dx")
    assert_close(lgrads[1], grads[1], "dw")


def test_conv_channels_last_accepts_views(dtype, isa):
    rng = np.random.default_rng(1)
    x = rand(rng, (2, 10, 12, 6), dtype)[:, ::2, 1:, :]  # non-contiguous NHWC view
    wt = rand(rng, (4, 6, 3, 3), dtype)
    assert_close(to_first(F.conv2d(x, wt, data_format="channels_last")), F.conv2d(np.moveaxis(x, -1, 1), wt))


POOLS = list(itertools.product([(2, 2, 0), (3, 2, 1), (3, 1, 1), ((2, 3), (1, 2), (1, 0))], [False, True]))


@pytest.mark.parametrize("window,ceil_mode", POOLS, ids=str)
def test_pool2d_channels_last(window, ceil_mode, dtype, isa):
    k, s, pad = window
    rng = np.random.default_rng(7)
    x = rand(rng, (2, 5, 9, 8), dtype)
    kw_ = dict(stride=s, padding=pad, ceil_mode=ceil_mode)
    out, idx = F.max_pool2d(x, k, return_indices=True, **kw_)
    lout, lidx = F.max_pool2d(to_last(x), k, return_indices=True, data_format="channels_last", **kw_)
    np.testing.assert_array_equal(to_first(lout), out)
    np.testing.assert_array_equal(to_first(lidx), idx)
    dout = rand(rng, out.shape, dtype)
    dx = F.max_pool2d_backward(dout, x, k, **kw_)
    np.testing.assert_array_equal(
        to_first(F.max_pool2d_backward(to_last(dout), to_last(x), k, data_format="channels_last", **kw_)), dx
    )
    np.testing.assert_array_equal(
        to_first(
            F.max_pool2d_backward(
                to_last(dout), to_last(x), k, indices=lidx, data_format="channels_last", **kw_
            )
        ),
        dx,
    )
    for include in (True, False):
        a = F.avg_pool2d(x, k, count_include_pad=include, **kw_)
        la = F.avg_pool2d(to_last(x), k, count_include_pad=include, data_format="channels_last", **kw_)
        assert_close(to_first(la), a, "avg")
        da = F.avg_pool2d_backward(dout, x, k, count_include_pad=include, **kw_)
        lda = F.avg_pool2d_backward(
            to_last(dout), to_last(x), k, count_include_pad=include, data_format="channels_last", **kw_
        )
        assert_close(to_first(lda), da, "avg dx")


def test_pool1d_channels_last(dtype, isa):
    rng = np.random.default_rng(8)
    x = rand(rng, (3, 4, 17), dtype)
    out, idx = F.max_pool1d(x, 3, 2, 1, return_indices=True)
    lout, lidx = F.max_pool1d(to_last(x), 3, 2, 1, return_indices=True, data_format="channels_last")
    np.testing.assert_array_equal(to_first(lout), out)
    np.testing.assert_array_equal(to_first(lidx), idx)
    dout = rand(rng, out.shape, dtype)
    np.testing.assert_array_equal(
        to_first(F.max_pool1d_backward(to_last(dout), to_last(x), 3, 2, 1, data_format="channels_last")),
        F.max_pool1d_backward(dout, x, 3, 2, 1),
    )
    assert_close(to_first(F.avg_pool1d(to_last(x), 2, data_format="channels_last")), F.avg_pool1d(x, 2))
    dout2 = rand(rng, F.avg_pool1d(x, 2).shape, dtype)
    assert_close(
        to_first(F.avg_pool1d_backward(to_last(dout2), to_last(x), 2, data_format="channels_last")),
        F.avg_pool1d_backward(dout2, x, 2),
    )


def test_max_pool_channels_last_nan_is_the_maximum(isa):
    x = np.zeros((1, 2, 4, 4), np.float32)
    x[0, 1, 1, 2] = np.nan
    x[0, 0, 3, 3] = 5
    out, idx = F.max_pool2d(to_last(x), 4, return_indices=True, data_format="channels_last")
    assert np.isnan(out[0, 0, 0, 1]) and idx[0, 0, 0, 1] == 1 * 4 + 2
    assert out[0, 0, 0, 0] == 5 and idx[0, 0, 0, 0] == 15


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools_channels_last(d, keepdims, dtype):
    rng = np.random.default_rng(9)
    x = rand(rng, (3, 5) + (4, 3)[:d], dtype)
    gavg = getattr(F, f"global_avg_pool{d}d")
    gmax = getattr(F, f"global_max_pool{d}d")
    lx = to_last(x)
    a, la = gavg(x, keepdims), gavg(lx, keepdims, data_format="channels_last")
    assert_close(la.reshape(a.shape[:2]), a.reshape(a.shape[:2]), "avg")
    m, idx = gmax(x, keepdims, return_indices=True)
    lm, lidx = gmax(lx, keepdims, return_indices=True, data_format="channels_last")
    np.testing.assert_array_equal(lm.reshape(m.shape[:2]), m.reshape(m.shape[:2]))
    np.testing.assert_array_equal(lidx.reshape(m.shape[:2]), idx.reshape(m.shape[:2]))
    dout = rand(rng, (3, 5), dtype)
    assert_close(
        to_first(getattr(F, f"global_avg_pool{d}d_backward")(dout, lx, data_format="channels_last")),
        getattr(F, f"global_avg_pool{d}d_backward")(dout, x),
    )
    np.testing.assert_array_equal(
        to_first(getattr(F, f"global_max_pool{d}d_backward")(dout, lx, data_format="channels_last")),
        getattr(F, f"global_max_pool{d}d_backward")(dout, x),
    )


def test_channels_last_bad_input():
    x = np.ones((1, 6, 6, 3))
    w = np.ones((2, 3, 3, 3))
    with pytest.raises(ValueError, match="data_format"):
        F.conv2d(x, w, data_format="NHWC")
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        F.conv2d(np.ones((6, 6, 3)), w, data_format="channels_last")
    with pytest.raises(ValueError, match="channel mismatch"):
        F.conv2d(np.ones((1, 6, 6, 4)), w, data_format="channels_last")
    with pytest.raises(ValueError, match="channels-first"):
        F.conv2d(x, w, data_format="channels_last", algorithm="winograd")
    with pytest.raises(ValueError, match="dout must have the output shape"):
        F.conv2d_backward(np.ones((1, 2, 4, 4)), x, w, data_format="channels_last")
    with pytest.raises(ValueError, match=r"\(N, L, C\)"):
        F.max_pool1d(np.ones((4, 3)), 2, data_format="channels_last")
    with pytest.raises(ValueError, match="dout must have shape"):
        F.global_avg_pool2d_backward(np.ones((1, 4)), x, data_format="channels_last")
