"""Tensors past 2**31 elements: every index is 64-bit (slow; skipped unless FASTCNN_SLOW=1).

Needs about 14 GB of memory. Runs a max pool and a 1x1 convolution on an
input of 2**31 + 2**16 float32 elements and checks entries past the 2**31
boundary (and around it) against direct NumPy sums.
"""

import os

import numpy as np
import pytest

import fastcnn.functional as F

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FASTCNN_SLOW") != "1", reason="needs ~14 GB and a minute; set FASTCNN_SLOW=1 to run"
    ),
]

# (1, 2, 32768, 32770): 2 * 32768 * 32770 = 2**31 + 2**17 elements
SHAPE = (1, 2, 32768, 32770)


@pytest.fixture(scope="module")
def big():
    x = np.empty(SHAPE, np.float32)
    # a cheap pattern with distinct values per row and column
    rows = np.arange(SHAPE[2], dtype=np.float32)[:, None] * 1e-3
    for c in range(SHAPE[1]):
        x[0, c] = rows + np.arange(SHAPE[3], dtype=np.float32)[None, :] * 1e-5 + c
    assert x.size > 2**31
    return x


def test_max_pool_past_2_31_elements(big):
    out, idx = F.max_pool2d(big, 2, return_indices=True)
    for c, i, j in [(1, 16383, 16384), (1, 0, 0), (0, 16383, 16384), (1, 8000, 123)]:
        window = big[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        assert out[0, c, i, j] == window.max()
        assert idx[0, c, i, j] == (2 * i + 1) * SHAPE[3] + 2 * j + 1


def test_1x1_conv_past_2_31_elements(big):
    w = np.array([[[[2.0]], [[-1.0]]]], np.float32)  # (1, 2, 1, 1)
    y = F.conv2d(big, w)
    for i, j in [(32767, 32769), (0, 0), (16384, 5)]:
        expect = np.float32(2) * big[0, 0, i, j] - big[0, 1, i, j]
        assert abs(y[0, 0, i, j] - expect) <= 1e-4 * max(1.0, abs(expect))
