"""functional.linear (the Dense op on the native GEMM) against the NumPy reference."""
import numpy as np
import pytest

import fastcnn.functional as F
from fastcnn import reference as R

from _helpers import assert_close, numeric_grad

# The last three have 8+ rows per output column: x runs as one channels-last
# image of N pixels (see functional._rows_as_pixels), the others as filters.
SHAPES = [(1, 1, 1), (3, 5, 7), (2, 17, 33), (64, 3136, 10), (5, 130, 129), (33, 7, 300),
          (256, 800, 10), (100, 9, 3), (1030, 70, 33)]


@pytest.mark.parametrize("shape", SHAPES)
def test_linear_matches_reference(isa, dtype, shape):
    n, i, o = shape
    rng = np.random.default_rng(n * 1000 + i + o)
    x, w = rng.standard_normal((n, i)).astype(dtype), rng.standard_normal((i, o)).astype(dtype)
    b, dout = rng.standard_normal(o).astype(dtype), rng.standard_normal((n, o)).astype(dtype)
    assert_close(F.linear(x, w, b), R.linear(x, w, b))
    for got, want in zip(F.linear_backward(dout, x, w), R.linear_backward(dout, x, w)):
        assert got.dtype == dtype
        assert_close(got, want)


@pytest.mark.parametrize("rows", [8, 40])  # 40 rows for 4 outputs: rows as pixels
def test_linear_needs_and_noncontiguous(rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 12))[:, ::2]        # non-contiguous
    w = np.asfortranarray(rng.standard_normal((6, 4)))
    dout = rng.standard_normal((rows, 4))
    dx, dw, db = F.linear_backward(dout, x, w, needs=("w",))
    assert dx is None and db is None
    assert_close(dw, x.T @ dout)
    assert dw.flags.c_contiguous
    dx, _, _ = F.linear_backward(dout, x, w, needs=("x",))
    assert_close(dx, dout @ w.T)
    assert_close(F.linear(x, w), x @ w)


def test_linear_finite_differences():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((3, 5))
    dx, dw, db = F.linear_backward(dout, x, w)
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        np.testing.assert_allclose(grad, numeric_grad(lambda: F.linear(x, w, b), arr, dout),
                                   rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("x_shape, w_shape, match", [
    ((3, 4), (5, 6), "chain"), ((3, 4, 1), (4, 6), "x must be 2-D"), ((3, 4), (4,), "w must be 2-D"),
    ((0, 4), (4, 6), "size"),
])
def test_linear_bad_shapes(x_shape, w_shape, match):
    with pytest.raises(ValueError, match=match):
        F.linear(np.ones(x_shape), np.ones(w_shape))


def test_linear_mixed_dtypes_named():
    with pytest.raises(TypeError, match="x: float32, w: float64"):
        F.linear(np.ones((2, 3), np.float32), np.ones((3, 4)))
