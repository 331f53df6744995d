"""The direct convolution forward by output columns (few input channels) against
the NumPy reference (the tiles variant: tests/kernels/test_direct_tiles.py).

Kernels 1..7 and non-square ones, every padding form, output widths around
the kernel's 16-column register block (1..40), channel counts around its
output-channel block (1..19), batch 1..3 (batch 1 splits rows over
threads), both dtypes, every SIMD path.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand


def _cases():
    rng = np.random.default_rng(77)
    cases = []
    for kh, kw in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (1, 5), (3, 1), (2, 7)]:
        for _ in range(3):
            pads = tuple(int(v) for v in rng.integers(0, 4, 4))
            h = int(rng.integers(max(1, kh - pads[0] - pads[1]), 12))
            w = int(rng.integers(max(1, kw - pads[2] - pads[3]), 41))
            cases.append(
                dict(
                    n=int(rng.integers(1, 4)),
                    c_in=int(rng.integers(1, 6)),
                    c_out=int(rng.integers(1, 20)),
                    h=h,
                    w=w,
                    kh=kh,
                    kw=kw,
                    padding=((pads[0], pads[1]), (pads[2], pads[3])),
                    bias=bool(rng.integers(2)),
                )
            )
    for w in (1, 15, 16, 17, 31, 32, 33):
        cases.append(dict(n=2, c_in=3, c_out=9, h=4, w=w, kh=3, kw=3, padding="same", bias=True))
    cases.append(dict(n=1, c_in=1, c_out=16, h=28, w=28, kh=5, kw=5, padding=2, bias=True))  # MNIST
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=lambda c: (
        f"n{c['n']}c{c['c_in']}-{c['c_out']}_{c['h']}x{c['w']}_k{c['kh']}x{c['kw']}_p{c['padding']}"
    ),
)
def test_direct_matches_reference(case, dtype, isa):
    rng = np.random.default_rng(CASES.index(case))
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"], case["kh"], case["kw"]), dtype)
    b = rand(rng, (case["c_out"],), dtype) if case["bias"] else None
    out = F.conv2d(x, w, b, padding=case["padding"], algorithm="direct")
    assert_close(out, R.conv2d(x, w, b, padding=case["padding"]), "forward")


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=lambda c: f"n{c['n']}-{c['c_out']}_{c['h']}x{c['w']}_k{c['kh']}x{c['kw']}_p{c['padding']}",
)
def test_direct_one_channel_channels_last(case, dtype, isa):
    # auto runs one-channel channels-last data through the column kernel,
    # which stores each pixel's output channels together
    rng = np.random.default_rng(CASES.index(case))
    x = rand(rng, (case["n"], 1, case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], 1, case["kh"], case["kw"]), dtype)
    b = rand(rng, (case["c_out"],), dtype) if case["bias"] else None
    out = F.conv2d(
        np.ascontiguousarray(np.moveaxis(x, 1, -1)),
        w,
        b,
        padding=case["padding"],
        data_format="channels_last",
    )
    assert_close(np.moveaxis(out, -1, 1), R.conv2d(x, w, b, padding=case["padding"]), "forward")


def test_direct_conv1d_and_noncontiguous(dtype, isa):
    rng = np.random.default_rng(3)
    x = rand(rng, (2, 3, 50), dtype)[:, :, ::2]  # strided view
    w = rand(rng, (5, 3, 4), dtype)
    assert_close(F.conv1d(x, w, padding=(1, 2), algorithm="direct"), R.conv1d(x, w, padding=(1, 2)))


def test_auto_takes_direct_for_few_input_channels(dtype, isa):
    rng = np.random.default_rng(4)
    x, w = rand(rng, (4, 3, 20, 20), dtype), rand(rng, (8, 3, 3, 3), dtype)
    assert fastcnn.explain("conv2d", x, w).path == "direct_columns"
    np.testing.assert_array_equal(F.conv2d(x, w), F.conv2d(x, w, algorithm="direct"))


def test_direct_is_thread_count_independent(isa):
    rng = np.random.default_rng(5)
    x, w = rand(rng, (1, 2, 30, 30), np.float32), rand(rng, (6, 2, 5, 5), np.float32)
    results = []
    for threads in (1, 2, 3):
        fastcnn.set_num_threads(threads)
        results.append(F.conv2d(x, w, padding=2, algorithm="direct"))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_direct_rejects_groups():
    with pytest.raises(ValueError, match="direct.*groups=1"):
        F.conv2d(np.ones((1, 3, 9, 9)), np.ones((3, 1, 3, 3)), algorithm="direct", groups=3)


def test_direct_backward_is_the_direct_weight_gradient():
    """algorithm='direct' in conv2d_backward: dW by the direct kernel (tests/kernels/test_direct_weight.py),
    dx by the GEMM path."""
    rng = np.random.default_rng(6)
    x, w, dout = rand(rng, (2, 2, 6, 6)), rand(rng, (3, 2, 3, 3)), rand(rng, (2, 3, 4, 4))
    dx, dw, db = F.conv2d_backward(dout, x, w, algorithm="direct")
    gdx, gdw, gdb = F.conv2d_backward(dout, x, w, algorithm="gemm")
    np.testing.assert_array_equal(dx, gdx)
    assert_close(dw, gdw)
    np.testing.assert_array_equal(db, gdb)
