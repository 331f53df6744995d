"""The tutorial's worked example, exactly, with the native ops; conv_output_size."""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F

X = [[0, 1, 2, 1, 0], [1, 2, 3, 2, 1], [2, 3, 4, 3, 2], [1, 2, 3, 2, 1], [0, 1, 2, 1, 0]]
VERTICAL = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]
HORIZONTAL = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]


def test_edge_detector_network(dtype, isa):
    x = np.array(X, dtype)[None, None]
    k1 = np.array(VERTICAL, dtype)[None, None]
    k2 = np.array(HORIZONTAL, dtype)[None, None]

    y = F.conv2d(x, k1, padding="same")
    assert y.shape == (1, 1, 5, 5) and y.dtype == dtype
    np.testing.assert_array_equal(
        y[0, 0],
        [[-3, -4, 0, 4, 3], [-6, -6, 0, 6, 6], [-7, -6, 0, 6, 7], [-6, -6, 0, 6, 6], [-3, -4, 0, 4, 3]],
    )
    y = F.max_pool2d(np.maximum(y, 0), 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[0, 6], [0, 6]])
    y = F.conv2d(y, k2, padding="same")
    np.testing.assert_array_equal(y[0, 0], [[-6, -6], [6, 6]])
    y = F.max_pool2d(np.maximum(y, 0), 2, 2)
    np.testing.assert_array_equal(y, [[[[6]]]])


def test_edge_detector_int_inputs_and_explicit_padding(isa):
    # the same first layer from int lists (converted to float32) and padding=1
    y = F.conv2d([[X]], [[VERTICAL]], padding=1)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, 0, 2], [-7, -6, 0, 6, 7])


@pytest.mark.parametrize(
    "n, k, s, p, expect",
    [
        (28, 5, 1, 2, 28),
        (32, 3, 1, 0, 30),
        (56, 3, 2, 1, 28),
        (224, 7, 2, 3, 112),
        (5, 3, 1, 1, 5),
        (7, 3, 2, 0, 3),
    ],
)
def test_conv_output_size_formula(n, k, s, p, expect):
    assert fastcnn.conv_output_size(n, k, s, p) == expect
    assert F.conv_output_size(n, k, s, p) == expect
    assert (n + 2 * p - (k - 1) - 1) // s + 1 == expect
    # and the native op agrees
    y = F.conv2d(np.zeros((1, 1, n, 1)), np.zeros((1, 1, k, 1)), stride=(s, 1), padding=(p, 0))
    assert y.shape[2] == expect


def test_conv_output_size_dilation_and_pairs():
    assert fastcnn.conv_output_size(10, 3, 1, 0, dilation=2) == 6  # span 5
    assert fastcnn.conv_output_size(10, 3, 1, (2, 0)) == 10
    assert fastcnn.conv_output_size(1, 3, 1, 1) == 1


@pytest.mark.parametrize(
    "args",
    [
        (2, 5, 1, 0),  # kernel larger than the input
        (3, 3, 1, 0, 2),  # dilated extent 5 > 3
        (0, 1, 1, 0),  # empty input
        (-4, 1, 1, 0),
    ],
)
def test_conv_output_size_rejects_non_positive(args):
    with pytest.raises(ValueError):
        fastcnn.conv_output_size(*args)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((5, 0), ValueError, "kernel_size"),
        ((5, 3, 0), ValueError, "stride"),
        ((5, 3, 1, -1), ValueError, "padding"),
        ((5, 3, 1, 0, 0), ValueError, "dilation"),
        ((5.0, 3), TypeError, r"\bn\b"),
    ],
)
def test_conv_output_size_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        fastcnn.conv_output_size(*args)
