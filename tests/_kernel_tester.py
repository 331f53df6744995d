"""Shared pieces of the kernel tester (tests/kernels/test_microkernels*.py).

The kernel tests call one entry of a named ISA's kernel table through the private
`_test_*` bindings of csrc/bindings_kernel_test.cpp; these helpers give them the
table, buffers, tolerances and the Winograd schemes' textbook matrices.

Tolerances: exact for max, indices and copies; sums within ~1e-6 (float32) or
~1e-12 (float64) of the sum of absolute terms.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fastcnn
import fastcnn._C as C

ISAS = tuple(fastcnn.cpu_info()["supported_isas"])
DTYPES = (np.float32, np.float64)
RTOL = {np.float32: 1e-6, np.float64: 1e-12}
SENTINEL = -7777.0  # fills what a kernel must not write

# Function pointers a table may leave null (kOptionalKernelFields in kernel_table.h).
OPTIONAL = {"winograd_f4x2.output_gradient", "gemm_offset_b_store", "gemm_offset_b_store_narrow"}

# Every test of the kernel tester runs once per supported ISA and dtype: `pytestmark = ISA_DTYPE`.
ISA_DTYPE = pytest.mark.parametrize(
    "isa,dtype",
    [(i, d) for i in ISAS for d in DTYPES],
    ids=[f"{i}-{d.__name__}" for i in ISAS for d in DTYPES],
)


def table(isa, dtype):
    return C._kernel_table(isa)[np.dtype(dtype).name]


def vector_width(isa, dtype):
    return {"avx512": 64, "avx2": 32, "generic": np.dtype(dtype).itemsize}[isa] // np.dtype(dtype).itemsize


def rand(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


def assert_sums(got, want, scale, dtype, what=""):
    """|got - want| <= rtol * scale elementwise (scale: the sum of the terms' magnitudes)."""
    got, want, scale = (
        np.asarray(got, np.float64),
        np.asarray(want, np.float64),
        np.asarray(scale, np.float64),
    )
    bound = RTOL[dtype] * (scale + np.finfo(dtype).tiny)
    err = np.abs(got - want)
    assert np.all(err <= bound), f"{what}: worst error {np.max(err / bound):.3g} x the bound"


# ------------------------------------------------------------- Winograd schemes


def _evaluation(points, alpha, k):
    """alpha x k: row i evaluates a polynomial of degree < k at points[i]; the last row
    (the point at infinity) picks its leading coefficient."""
    e = np.zeros((alpha, k))
    for i in range(alpha):
        for j in range(k):
            e[i, j] = points[i] ** j if i < alpha - 1 else float(j == k - 1)
    return e


def _check_scheme(bt, g, at):
    """A^T [(G g) * (B^T d)] is the correlation y[i] = sum_k d[i + k] g[k] (one axis)."""
    alpha, r = g.shape
    m = at.shape[0]
    rng = np.random.default_rng(0)
    for _ in range(3):
        d, w = rng.standard_normal(alpha), rng.standard_normal(r)
        want = np.array([d[i : i + r] @ w for i in range(m)])
        got = at @ ((g @ w) * (bt @ d))
        assert np.allclose(got, want, atol=1e-12), "the test's Winograd matrices are not a scheme"


@functools.cache
def winograd_matrices(scheme):
    """(B^T, G, A^T) of a scheme, from its interpolation points (the textbook
    construction, csrc/ops/winograd_schemes.cpp), each checked to compute the correlation."""
    if scheme == "f4x3":  # Lavin's F(4x4, 3x3)
        bt = np.array(
            [
                [4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1],
            ],
            float,
        )
        g = np.array(
            [
                [1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1],
            ]
        )
        at = np.array(
            [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], float
        )
    elif scheme == "f4x5":  # points 0, +-1, +-2, +-1/2 and infinity
        points, m, r, alpha = [0, 1, -1, 2, -2, 0.5, -0.5], 4, 5, 8
        bt = np.linalg.inv(_evaluation(points, alpha, alpha)).T
        bt[np.abs(bt) < 1e-12] = 0
        g, at = _evaluation(points, alpha, r), _evaluation(points, alpha, m).T
    elif scheme == "f4x2":  # points 0, 1, -1, 2, infinity; B^T's rows x 2, 2, 6, 6, 1, G's / the same
        points, m, r, alpha = [0, 1, -1, 2], 4, 2, 5
        scale = np.array([2, 2, 6, 6, 1], float)
        bt = np.linalg.inv(_evaluation(points, alpha, alpha)).T * scale[:, None]
        bt = np.round(bt, 12)
        g, at = _evaluation(points, alpha, r) / scale[:, None], _evaluation(points, alpha, m).T
    else:
        raise ValueError(scheme)
    _check_scheme(bt, g, at)
    return bt, g, at


def g_rows(scheme, dtype):
    """The scheme's G as the kernels take it: alpha rows of 7 (row stride 7), in dtype."""
    _, g, _ = winograd_matrices(scheme)
    out = np.zeros((g.shape[0], 7), dtype)
    out[:, : g.shape[1]] = g
    return out


def winograd_tiles(h, w, pad_top, pad_left, out_h, out_w, images):
    """WinogradTiles of 4x4 tiles over an out_h x out_w grid, planes h x w: (dict, tile count)."""
    tiles_x, tiles_y = -(-out_w // 4), -(-out_h // 4)
    g = dict(h=h, w=w, pad_top=pad_top, pad_left=pad_left, tiles_x=tiles_x, tiles_per_image=tiles_x * tiles_y)
    g["image_stride"] = h * w + 3  # images apart by more than a plane
    return g, images * tiles_x * tiles_y


def tile_corner(g, t):
    """(image, row, column) of tile t's corner on its grid."""
    image, pos = divmod(t, g["tiles_per_image"])
    return image, (pos // g["tiles_x"]) * 4, (pos % g["tiles_x"]) * 4


def packed_at(p, j, point_stride, panel_stride, nr):
    """Where column j of point p lies in packed B micro-panels (winograd_store_lanes)."""
    return p * point_stride + (j // nr) * panel_stride + j % nr


def packed_column(v, p, j, point_stride, panel_stride, nr):
    return v[packed_at(p, j, point_stride, panel_stride, nr)]
