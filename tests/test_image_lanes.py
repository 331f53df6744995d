"""The GEMM over images in the vector lanes (conv2d with algorithm='gemm' on
small output planes, where the per-image GEMM would pad its column tiles)
against the NumPy reference.

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

from _helpers import assert_close, rand


def _cases():
    rng = np.random.default_rng(9090)
    cases = []
    for kh, kw in [(1, 1), (2, 2), (3, 3), (5, 5), (1, 5), (3, 1)]:
        for n in (15, 17, 33, 65):
            stride = tuple(int(v) for v in rng.integers(1, 3, 2))
            dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
            pads = tuple(int(v) for v in rng.integers(0, 3, 4))
            span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
            h = int(rng.integers(max(1, span_h - pads[0] - pads[1]), span_h + 5))
            w = int(rng.integers(max(1, span_w - pads[2] - pads[3]), span_w + 6))
            cases.append(dict(n=n, c_in=int(rng.integers(1, 9)), c_out=int(rng.integers(1, 40)),
                              h=h, w=w, kh=kh, kw=kw, stride=stride, dilation=dilation,
                              padding=((pads[0], pads[1]), (pads[2], pads[3])), groups=1,
                              bias=bool(rng.integers(2))))
    for c_out in (1, 7, 8, 12, 13, 24, 64, 70):                    # every row tile and its tails
        cases.append(dict(n=31, c_in=5, c_out=c_out, h=7, w=7, kh=3, kw=3, stride=(1, 1),
                          dilation=(1, 1), padding="same", groups=1, bias=True))
    for n in (16, 32, 64, 70):
        cases.append(dict(n=n, c_in=8, c_out=16, h=7, w=7, kh=5, kw=5, stride=(1, 1),
                          dilation=(1, 1), padding=2, groups=1, bias=True))   # MNIST's third layer
    cases.append(dict(n=33, c_in=6, c_out=9, h=6, w=5, kh=3, kw=3, stride=(2, 1),
                      dilation=(1, 1), padding=1, groups=3, bias=True))
    cases.append(dict(n=40, c_in=4, c_out=4, h=5, w=5, kh=3, kw=3, stride=(1, 1),
                      dilation=(1, 1), padding=1, groups=4, bias=False))      # depthwise
    cases.append(dict(n=70, c_in=64, c_out=20, h=17, w=17, kh=3, kw=3, stride=(1, 1),
                      dilation=(1, 1), padding=0, groups=1, bias=True))      # one tile per chunk
    return cases


CASES = _cases()


def _id(c):
    return (f"n{c['n']}c{c['c_in']}-{c['c_out']}_{c['h']}x{c['w']}_k{c['kh']}x{c['kw']}"
            f"_s{c['stride']}_d{c['dilation']}_p{c['padding']}_g{c['groups']}")


def _inputs(case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"] // case["groups"], case["kh"], case["kw"]), dtype)
    b = rand(rng, (case["c_out"],), dtype) if case["bias"] else None
    kw = dict(stride=case["stride"], dilation=case["dilation"], padding=case["padding"],
              groups=case["groups"])
    return x, w, b, kw


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_image_lanes_match_reference(case, dtype, isa):
    x, w, b, kw = _inputs(case, dtype, CASES.index(case))
    assert_close(F.conv2d(x, w, b, algorithm="gemm", **kw), R.conv2d(x, w, b, **kw), "forward")


@pytest.mark.parametrize("case", CASES[::3], ids=_id)
def test_image_lanes_channels_last(case, dtype):
    x, w, b, kw = _inputs(case, dtype, 1 + CASES.index(case))
    got = F.conv2d(np.moveaxis(x, 1, -1), w, b, algorithm="gemm", data_format="channels_last", **kw)
    assert_close(np.moveaxis(got, -1, 1), R.conv2d(x, w, b, **kw), "channels_last")


def test_image_lanes_conv1d_and_views(dtype, isa):
    rng = np.random.default_rng(3)
    x = rand(rng, (40, 14, 30), dtype)[:, ::2, ::3]                 # strided view, length 10
    w = rand(rng, (9, 7, 3), dtype)
    got = F.conv1d(x, w, stride=2, padding=(2, 1), dilation=2, algorithm="gemm")
    assert_close(got, R.conv1d(x, w, stride=2, padding=(2, 1), dilation=2))


def test_image_lanes_special_values(dtype):
    """Zero lanes past the batch must not leak into real images (NaN and inf stay put)."""
    rng = np.random.default_rng(6)
    x, w = rand(rng, (33, 3, 5, 5), dtype), rand(rng, (8, 3, 3, 3), dtype)
    x[32, 1, 2, 2] = np.nan
    x[5, 0, 0, 0] = np.inf
    assert_close(F.conv2d(x, w, padding=1, algorithm="gemm"), R.conv2d(x, w, padding=1), "nan/inf")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_image_lanes_thread_counts(threads):
    """Every output is one tile's sum in a fixed order: same bits for any thread count."""
    rng = np.random.default_rng(5)
    x, w = rand(rng, (37, 9, 8, 7), np.float32), rand(rng, (20, 9, 3, 3), np.float32)
    fastcnn.set_num_threads(1)
    expected = F.conv2d(x, w, padding=1, stride=(1, 2), algorithm="gemm")
    fastcnn.set_num_threads(threads)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1, stride=(1, 2), algorithm="gemm"), expected)
