"""Deep layers: many channels on small planes (ResNet's last stages), whose
weights pass L2. Their weights are packed in parallel by register-block
transposes, the direct tiles split output channels between threads on small
batches, and Winograd splits output channels when there are fewer blocks of
tiles than threads and runs its k range (input channels; output channels
for dx) in chunks when a block's transformed input would fill L2, with U
made per panel and chunk on few blocks. Every algorithm against the NumPy
reference, and the same bits on any thread count where the sum order is
fixed.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand

SHAPES = [  # (batch, c_in, size, c_out, kernel, stride, padding)
    (1, 256, 5, 200, 3, 1, 1),
    (3, 160, 7, 264, 3, 1, 1),
    (1, 192, 9, 256, 3, 2, 1),
    (2, 96, 6, 144, 5, 1, 2),
    (2, 576, 4, 72, 3, 1, 1),  # Winograd k in chunks, U per chunk (one block)
    (40, 448, 8, 24, 3, 1, 1),  # k in chunks, U packed (five blocks)
]


def _shape_id(s):
    n, c_in, size, c_out, k, stride, _ = s
    return f"n{n}_{c_in}-{c_out}_{size}x{size}_k{k}_s{stride}"


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("algorithm", ["auto", "gemm", "direct", "winograd"])
def test_deep_layers_match_reference(shape, algorithm, dtype):
    n, c_in, size, c_out, k, stride, padding = shape
    rng = np.random.default_rng(c_in + c_out)
    x, w, b = (
        rand(rng, (n, c_in, size, size), dtype),
        rand(rng, (c_out, c_in, k, k), dtype),
        rand(rng, (c_out,), dtype),
    )
    got = F.conv2d(x, w, b, stride=stride, padding=padding, algorithm=algorithm)
    tol = 1e-3 if algorithm == "winograd" and dtype == np.float32 else None
    assert_close(got, R.conv2d(x, w, b, stride=stride, padding=padding), algorithm, tol=tol)


@pytest.mark.parametrize("algorithm", ["direct", "gemm"])
def test_deep_layers_thread_count_independent(algorithm):
    rng = np.random.default_rng(8)
    x, w = rand(rng, (1, 256, 6, 6), np.float32), rand(rng, (320, 256, 3, 3), np.float32)
    fastcnn.set_num_threads(1)
    expected = F.conv2d(x, w, padding=1, algorithm=algorithm)
    for threads in (2, 3):
        fastcnn.set_num_threads(threads)
        np.testing.assert_array_equal(F.conv2d(x, w, padding=1, algorithm=algorithm), expected)


def test_auto_takes_winograd_for_deep_layers_from_32_tiles():
    rng = np.random.default_rng(9)
    w = rand(rng, (64, 64, 3, 3), np.float32)
    x = rand(rng, (8, 64, 8, 8), np.float32)  # 8 images x 4 tiles
    assert fastcnn.explain("conv2d", x, w, padding=1).path == "winograd"
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1, algorithm="winograd"))
    few = x[:2]  # 8 tiles: not Winograd
    assert fastcnn.explain("conv2d", few, w, padding=1).path == "direct_tiles"


@pytest.mark.parametrize("shape", [(2, 24, 4, 576), (40, 16, 8, 448)], ids=["one-block", "five-blocks"])
def test_deep_winograd_dx_in_k_chunks(shape, dtype):
    """dx correlates dout's C_out channels: its k range is C_out."""
    n, c_in, size, c_out = shape
    rng = np.random.default_rng(c_out)
    x, w = rand(rng, (n, c_in, size, size), dtype), rand(rng, (c_out, c_in, 3, 3), dtype)
    dout = rand(rng, (n, c_out, size, size), dtype)
    dx, _, _ = F.conv2d_backward(dout, x, w, padding=1, needs=("x",), algorithm="winograd")
    expected, _, _ = R.conv2d_backward(dout, x, w, padding=1)
    assert_close(dx, expected, "dx", tol=1e-3 if dtype == np.float32 else None)


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_deep_layers_gradients_match_reference(shape, dtype):
    """dW^T past L2 is one shared buffer whose input-channel ranges the threads own."""
    n, c_in, size, c_out, k, stride, padding = shape
    rng = np.random.default_rng(c_in * c_out)
    x, w = rand(rng, (n, c_in, size, size), dtype), rand(rng, (c_out, c_in, k, k), dtype)
    out_size = (size + 2 * padding - k) // stride + 1
    dout = rand(rng, (n, c_out, out_size, out_size), dtype)
    expected = R.conv2d_backward(dout, x, w, stride=stride, padding=padding)
    for threads in (1, 2, 3):
        fastcnn.set_num_threads(threads)
        got = F.conv2d_backward(dout, x, w, stride=stride, padding=padding)
        tol = 1e-3 if dtype == np.float32 else None  # dx may be Winograd's
        assert_close(got[0], expected[0], "dx", tol=tol)
        assert_close(got[1], expected[1], "dw")
        assert_close(got[2], expected[2], "db")


def test_auto_takes_winograd_dx_for_deep_layers():
    rng = np.random.default_rng(10)
    x, w = rand(rng, (8, 64, 8, 8), np.float32), rand(rng, (64, 64, 3, 3), np.float32)
    dout = rand(rng, (8, 64, 8, 8), np.float32)
    assert fastcnn.explain("conv2d_backward_data", x, w, padding=1).path == "winograd"
    auto = F.conv2d_backward(dout, x, w, padding=1, needs=("x",))[0]
    np.testing.assert_array_equal(
        auto, F.conv2d_backward(dout, x, w, padding=1, needs=("x",), algorithm="winograd")[0]
    )


def test_deep_dx_with_an_infinite_weight_past_the_first_chunk():
    """Non-finite weights send dx to the exact path; the check reads every chunk of W."""
    rng = np.random.default_rng(11)
    x, w = rand(rng, (8, 128, 8, 8), np.float64), rand(rng, (64, 128, 3, 3), np.float64)
    w[-1, -1, -1, -1] = np.inf  # element 73727 of 73728
    dout = rand(rng, (8, 64, 8, 8), np.float64)
    got = F.conv2d_backward(dout, x, w, padding=1, needs=("x",))[0]
    assert_close(got, R.conv2d_backward(dout, x, w, padding=1, needs=("x",))[0], "dx")


@pytest.mark.parametrize(
    "shape",
    [(8, 64, 8, 64, 3, 1, 1), (1, 256, 5, 200, 3, 1, 1), (3, 96, 7, 72, 3, 2, 1)],
    ids=["winograd-route", "tiles", "strided"],
)
def test_deep_layers_channels_last(shape, dtype):
    """Channels-last deep layers go through channels-first Winograd from 32 tiles."""
    n, c_in, size, c_out, k, stride, padding = shape
    rng = np.random.default_rng(c_in + 7)
    x, w, b = (
        rand(rng, (n, c_in, size, size), dtype),
        rand(rng, (c_out, c_in, k, k), dtype),
        rand(rng, (c_out,), dtype),
    )
    out_size = (size + 2 * padding - k) // stride + 1
    dout = rand(rng, (n, c_out, out_size, out_size), dtype)
    kw = dict(stride=stride, padding=padding)
    last = dict(kw, data_format="channels_last")
    tol = 1e-3 if dtype == np.float32 else None
    got = F.conv2d(np.moveaxis(x, 1, -1), w, b, **last)
    assert_close(np.moveaxis(got, -1, 1), R.conv2d(x, w, b, **kw), "forward", tol=tol)
    dx, dw, db = F.conv2d_backward(np.moveaxis(dout, 1, -1), np.moveaxis(x, 1, -1), w, **last)
    expected = R.conv2d_backward(dout, x, w, **kw)
    assert_close(np.moveaxis(dx, -1, 1), expected[0], "dx", tol=tol)
    assert_close(dw, expected[1], "dw")
    assert_close(db, expected[2], "db")
