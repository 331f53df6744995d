"""functional.linear (the Dense op) and the native matmul it runs on, against NumPy."""

import numpy as np
import pytest

import fastcnn.functional as F
from fastcnn import reference as R

from _helpers import assert_close, numeric_grad, using_threads

# Few outputs (x's rows read in place by the direct tile), many, and sizes
# that tile unevenly.
SHAPES = [
    (1, 1, 1),
    (3, 5, 7),
    (2, 17, 33),
    (64, 3136, 10),
    (5, 130, 129),
    (33, 7, 300),
    (256, 800, 10),
    (100, 9, 3),
    (1030, 70, 33),
]


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


@pytest.mark.parametrize("rows", [8, 40])
def test_linear_needs_and_noncontiguous(rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 12))[:, ::2]  # non-contiguous
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
        np.testing.assert_allclose(
            grad, numeric_grad(lambda: F.linear(x, w, b), arr, dout), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize(
    "x_shape, w_shape, match",
    [
        ((3, 4), (5, 6), "chain"),
        ((3, 4, 1), (4, 6), "x must be 2-D"),
        ((3, 4), (4,), "w must be 2-D"),
        ((0, 4), (4, 6), "size"),
    ],
)
def test_linear_bad_shapes(x_shape, w_shape, match):
    with pytest.raises(ValueError, match=match):
        F.linear(np.ones(x_shape), np.ones(w_shape))


def test_linear_mixed_dtypes_named():
    with pytest.raises(TypeError, match="x: float32, w: float64"):
        F.linear(np.ones((2, 3), np.float32), np.ones((3, 4)))


# m, k, n crossing the GEMM's blocks: depth beyond one KC block (edge tiles
# accumulated over several), rows and columns beyond one block and not
# multiples of any register tile, skinny products that run as C^T = B^T A^T
# (few rows) and products whose C^T would be stored through a stride.
MATMUL_SHAPES = [
    (1, 1, 1),
    (7, 1, 5),
    (3, 700, 5),
    (10, 2000, 33),
    (1, 513, 1000),
    (600, 3, 10),
    (257, 1300, 130),
    (1030, 70, 2100),
    (64, 300, 6272),
]


def _operand_views(rng, shape, dtype):
    """The same matrix as C-contiguous, transposed (Fortran), sliced and reversed views."""
    base = rng.standard_normal(shape).astype(dtype)
    wide = np.zeros((shape[0], 2 * shape[1]), dtype)
    wide[:, ::2] = base
    return {
        "c": base,
        "f": np.asfortranarray(base),
        "sliced": wide[:, ::2],
        "reversed": np.ascontiguousarray(base[::-1, ::-1])[::-1, ::-1],
    }


@pytest.mark.parametrize("shape", MATMUL_SHAPES)
def test_matmul_matches_numpy_on_strided_views(isa, dtype, shape):
    m, k, n = shape
    rng = np.random.default_rng(m + 7 * k + 13 * n)
    a_views, b_views = _operand_views(rng, (m, k), dtype), _operand_views(rng, (k, n), dtype)
    want = (a_views["c"].astype(np.float64) @ b_views["c"].astype(np.float64)).astype(dtype)
    for a_name, b_name in (("c", "c"), ("f", "c"), ("c", "f"), ("sliced", "reversed"), ("f", "f")):
        got = F._matmul(a_views[a_name], b_views[b_name])
        assert got.dtype == dtype and got.flags.c_contiguous
        assert_close(got, want, f"{a_name} @ {b_name}")


def test_matmul_copies_unaligned_operands():
    raw = np.zeros(6 * 5 * 8 + 1, np.uint8)[1:].view(np.float64).reshape(6, 5)  # odd byte offset
    raw[:] = np.arange(30).reshape(6, 5)
    assert not raw.flags.aligned
    assert_close(F._matmul(raw, raw.T), raw @ raw.T)


@pytest.mark.parametrize(
    "a, b, error, match",
    [
        (np.ones((2, 3), np.int64), np.ones((3, 2)), TypeError, "a must be float32 or float64"),
        (np.ones(3), np.ones((3, 2)), ValueError, "a must be 2-D"),
        (np.ones((2, 3)), np.ones((4, 2)), ValueError, "do not chain"),
        (np.ones((2, 3), np.float32), np.ones((3, 2)), TypeError, "must share a dtype"),
    ],
)
def test_native_matmul_rejects_bad_operands(a, b, error, match):
    from fastcnn import _C

    with pytest.raises(error, match=match):
        _C.matmul(a, b)


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8, 9])
@pytest.mark.parametrize("n", [1, 7, 16, 129, 300])
def test_linear_few_rows_path(isa, dtype, m, n):
    """Products of at most 8 rows take a pass over w in place (matmul_few_rows):
    x through a stride, w row-major and through a transpose, against NumPy."""
    rng = np.random.default_rng(m * 1000 + n)
    k = 37
    x = rng.standard_normal((m, 2 * k)).astype(dtype)[:, ::2]  # strided rows
    w = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    want = x.astype(np.float64) @ w.astype(np.float64) + b
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(F.linear(x, w, b), want, rtol=tol, atol=tol)
    wt = np.ascontiguousarray(w.T).T  # column-major view
    np.testing.assert_allclose(F.linear(x, wt, b), want, rtol=tol, atol=tol)
    with using_threads(1):
        one = F.linear(x, w, b)
    np.testing.assert_array_equal(one, F.linear(x, w, b))  # no thread dependence
