"""The native sum of two arrays (graph models' Add and gradient sums) against NumPy."""

import numpy as np
import pytest

import fastcnn
from fastcnn import _C
from fastcnn.elementwise import add_arrays

from _helpers import rand, using_threads


@pytest.mark.parametrize("shape", [(1,), (7, 3), (2, 16, 33, 17), (300000,)])
def test_add_matches_numpy_in_and_out_of_place(shape, dtype, isa):
    rng = np.random.default_rng(0)
    a, b = rand(rng, shape, dtype), rand(rng, shape, dtype)
    for threads in (1, 2):
        with using_threads(threads):
            np.testing.assert_array_equal(_C.add(a, b), a + b)
            c = a.copy()
            assert _C.add(c, b, out=c) is not None
            np.testing.assert_array_equal(c, a + b)
    a.reshape(-1)[0] = np.nan
    assert np.isnan(add_arrays(a, b).reshape(-1)[0]) and np.isfinite(add_arrays(a, b).reshape(-1)[1:]).all()


def test_add_falls_back_and_rejects_mismatches():
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(add_arrays(a.T, a.T), 2 * a.T)  # views: NumPy
    np.testing.assert_array_equal(add_arrays(a, a.astype(np.float32)), 2 * a)
    with pytest.raises(ValueError):
        _C.add(a, a[:2])
    with pytest.raises(TypeError):
        _C.add(a, a.astype(np.float32))
    with fastcnn.reference_path():
        np.testing.assert_array_equal(add_arrays(a, a), 2 * a)
