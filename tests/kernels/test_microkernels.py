"""The kernel tester: every registered kernel x ISA x dtype against a plain loop reference.

Each test calls one entry of a named ISA's kernel table (csrc/kernels/kernel_table.h)
through the private bindings of csrc/bindings_kernel_test.cpp, on buffers it prepares,
and checks the entry's documented contract on edge shapes: k = 1, rows below the
tile's, sizes that are not a multiple of the vector width, padding on every side,
and the values around the written range left untouched. The ops' own tests
(tests/kernels/test_conv.py and so on) cover how the kernels are driven; these
cover the kernels, as XNNPACK's GemmMicrokernelTester and BLIS' test_gemm_ukr do.
This file and test_microkernels_more.py hold the tests; KERNEL_TESTS below names
the test of every function of the table, and test_every_kernel_has_a_test holds
new kernels to it.

Tolerances: exact for max, indices and copies; sums within ~1e-6 (float32) or
~1e-12 (float64) of the sum of absolute terms.
"""

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest

import fastcnn._C as C

from _kernel_tester import (
    ISA_DTYPE,
    OPTIONAL,
    SENTINEL,
    assert_sums,
    packed_column,
    rand,
    table,
    tile_corner,
    vector_width,
    winograd_matrices,
    winograd_tiles,
)

pytestmark = ISA_DTYPE


# ------------------------------------------------------------------ the table


def test_every_field_is_set(isa, dtype):
    fields = table(isa, dtype)
    missing = [k for k, v in fields.items() if v is None and k not in OPTIONAL]
    assert missing == [], f"{isa} {dtype.__name__}: null kernels {missing}"
    assert all(v > 0 for v in fields.values() if v is not None), "sizes and pointers must be positive"
    assert OPTIONAL <= set(fields)
    t = fields
    assert t["gemm_nr"] % vector_width(isa, dtype) == 0
    for k in ("direct_tile", "direct_tile_narrow", "direct_tile_wide"):
        assert t[f"{k}.lanes"] % vector_width(isa, dtype) == 0


# The test of each function-pointer field of the kernel table, in the table's order:
# a kernel added to kernel_table.h needs a _test_* binding and a test named here.
KERNEL_TESTS = {
    **dict.fromkeys(["gemm", "gemm_narrow"], "test_gemm_microkernel"),
    **dict.fromkeys(["gemm_offset_b", "gemm_offset_b_narrow"], "test_gemm_offset_b"),
    **dict.fromkeys(["gemm_offset_b_store", "gemm_offset_b_store_narrow"], "test_gemm_offset_b_store"),
    **dict.fromkeys(["gemm_strided_b.tile", "gemm_strided_b_narrow.tile"], "test_gemm_strided_b"),
    "direct.rows": "test_direct_rows",
    **{
        f"{tile}.{field}": test
        for tile in ("direct_tile", "direct_tile_narrow", "direct_tile_wide")
        for field, test in (
            ("tile", "test_direct_tile"),
            ("tile_from", "test_direct_tile"),
            ("store_transposed", "test_direct_store_transposed"),
            ("gather_lanes", "test_direct_gather_lanes"),
        )
    },
    **{
        f"winograd_{s}.{t}": "test_winograd_input_transforms"
        for s in ("f4x3", "f4x5")
        for t in ("input", "output_gradient")
    },
    **{f"winograd_{s}.output": "test_winograd_output_transform" for s in ("f4x3", "f4x5", "f4x2")},
    "winograd_f4x2.input": "test_winograd_f4x2_input",
    "winograd_f4x2_dx.input": "test_winograd_f4x2_dx_input",
    "winograd_f4x2_dx.output": "test_winograd_f4x2_dx_output",
    "winograd_filter": "test_winograd_filter",
    "winograd_gradient_transform": "test_winograd_gradient_transform",
    "pool.max_forward": "test_pool_max_forward",
    "pool.avg_forward": "test_pool_avg_forward",
    "pool.avg_backward": "test_pool_avg_backward",
    **dict.fromkeys(["pool.sum", "pool.max_with_index"], "test_pool_reductions"),
    **dict.fromkeys(
        ["pool.max_forward_nhwc", "pool.avg_forward_nhwc", "pool.avg_backward_nhwc"],
        "test_pool_channels_last",
    ),
    "pool.copy_streaming": "test_copy_streaming",
    "elementwise.bn_moments_run": "test_bn_moments_run",
    "elementwise.bn_moments_rows": "test_bn_moments_rows",
    **dict.fromkeys(["elementwise.bn_apply_run", "elementwise.bn_apply_rows"], "test_bn_apply"),
    **dict.fromkeys(
        ["elementwise.bn_gradient_moments_run", "elementwise.bn_gradient_moments_rows"],
        "test_bn_gradient_moments",
    ),
    **dict.fromkeys(
        ["elementwise.bn_gradient_apply_run", "elementwise.bn_gradient_apply_rows"], "test_bn_gradient_apply"
    ),
    **dict.fromkeys(["elementwise.activation_forward", "elementwise.activation_backward"], "test_activation"),
    **dict.fromkeys(["elementwise.softmax_rows", "elementwise.softmax_backward_rows"], "test_softmax"),
    "elementwise.dropout_apply": "test_dropout_apply",
    "elementwise.optimizer_update": ("test_optimizer_update", "test_optimizer_update_adaptive"),
    "elementwise.gemv_rows": "test_gemv_rows",
    "copy_runs": "test_copy_runs",
    "pack_rows_transposed": "test_pack_rows_transposed",
}

# The table's int fields: tile sizes and widths, not kernels.
SIZE_FIELDS = {
    "gemm_mr",
    "gemm_nr",
    "gemm_narrow_mr",
    "gemm_strided_b.mr",
    "gemm_strided_b.nr",
    "gemm_strided_b_narrow.mr",
    "gemm_strided_b_narrow.nr",
    "direct.co_block",
    "direct.width",
    *(
        f"{t}.{f}"
        for t in ("direct_tile", "direct_tile_narrow", "direct_tile_wide")
        for f in ("lanes", "max_rows")
    ),
    "filter_width",
}


def _kernel_tester_tests():
    """The test functions of tests/kernels/test_microkernels*.py."""
    names = set()
    for path in Path(__file__).parent.glob("test_microkernels*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names


def test_every_kernel_has_a_test(isa, dtype):
    """Every function this table sets is named in KERNEL_TESTS, by a test that exists;
    no entry names a field the table lacks."""
    fields = table(isa, dtype)
    assert SIZE_FIELDS <= set(fields), f"size fields gone: {sorted(SIZE_FIELDS - set(fields))}"
    functions = set(fields) - SIZE_FIELDS
    untested = sorted(f for f in functions if fields[f] is not None and f not in KERNEL_TESTS)
    assert untested == [], (
        f"{isa} {dtype.__name__}: kernels without a kernel test {untested}: add a _test_* binding "
        "(csrc/bindings_kernel_test.cpp), a test, and its name in KERNEL_TESTS "
        "(or, for a size, in SIZE_FIELDS)"
    )
    assert set(KERNEL_TESTS) - functions == set(), "KERNEL_TESTS names fields the table lacks"
    tests = _kernel_tester_tests()
    named = {t for v in KERNEL_TESTS.values() for t in ((v,) if isinstance(v, str) else v)}
    assert named - tests == set(), f"KERNEL_TESTS names tests that do not exist: {sorted(named - tests)}"


# ------------------------------------------------------------- GEMM microkernels

KCS = (1, 2, 7, 301)


@pytest.mark.parametrize("kernel", ["gemm", "gemm_narrow"])
def test_gemm_microkernel(isa, dtype, kernel):
    t = table(isa, dtype)
    mr = t["gemm_mr"] if kernel == "gemm" else t["gemm_narrow_mr"]
    nr = t["gemm_nr"]
    rng = np.random.default_rng(1)
    for kc, accumulate, extra in itertools.product(KCS, (0, 1), (0, 3)):
        ldc = nr + extra
        a = rand(rng, dtype, kc, mr)  # column k of the A micro-panel: a[k]
        b = rand(rng, dtype, kc, nr)
        c0 = rand(rng, dtype, mr, ldc)
        if extra:
            c0[:, nr:] = SENTINEL
        c = c0.copy()
        C._test_gemm(isa, kernel, kc, a, b, c, ldc, accumulate)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        want = a64.T @ b64 + (c0[:, :nr] if accumulate else 0)
        scale = np.abs(a64).T @ np.abs(b64) + (np.abs(c0[:, :nr]) if accumulate else 0)
        assert_sums(c[:, :nr], want, scale, dtype, f"{kernel} kc={kc} acc={accumulate} ldc={ldc}")
        assert np.array_equal(c[:, nr:], c0[:, nr:]), "columns past nr were written"


@pytest.mark.parametrize("kernel", ["gemm_offset_b", "gemm_offset_b_narrow"])
def test_gemm_offset_b(isa, dtype, kernel):
    t = table(isa, dtype)
    mr = t["gemm_mr"] if kernel == "gemm_offset_b" else t["gemm_narrow_mr"]
    nr = t["gemm_nr"]
    rng = np.random.default_rng(2)
    for kc, accumulate in itertools.product(KCS, (0, 1)):
        b = rand(rng, dtype, 3 * nr + 5)
        # Runs anywhere in b: unaligned, overlapping, repeated, descending.
        offset = rng.integers(0, b.size - nr + 1, size=kc).astype(np.int64)
        a = rand(rng, dtype, kc, mr)
        ldc = nr + 1
        c0 = rand(rng, dtype, mr, ldc)
        c = c0.copy()
        C._test_gemm_offset_b(isa, kernel, kc, a, b, offset, c, ldc, accumulate)
        rows = np.stack([b[o : o + nr] for o in offset]).astype(np.float64)
        want = a.astype(np.float64).T @ rows + (c0[:, :nr] if accumulate else 0)
        scale = np.abs(a.astype(np.float64)).T @ np.abs(rows) + (np.abs(c0[:, :nr]) if accumulate else 0)
        assert_sums(c[:, :nr], want, scale, dtype, f"{kernel} kc={kc} acc={accumulate}")
        assert np.array_equal(c[:, nr:], c0[:, nr:])


@pytest.mark.parametrize("kernel", ["gemm_offset_b_store", "gemm_offset_b_store_narrow"])
def test_gemm_offset_b_store(isa, dtype, kernel):
    t = table(isa, dtype)
    if t[kernel] is None:
        pytest.skip(f"{isa} has no {kernel} (optional)")
    mr = t["gemm_mr"] if kernel == "gemm_offset_b_store" else t["gemm_narrow_mr"]
    nr, w = t["gemm_nr"], vector_width(isa, dtype)
    full = (1 << w) - 1
    rng = np.random.default_rng(3)
    # (store_offset[v][piece], store_mask[v][piece]): whole vectors side by side;
    # vector 1 split across two output rows with a dropped column between; a
    # vector partly masked and one piece empty.
    split = w // 2
    layouts = [
        ([[0, 0], [w, 0]], [[full, 0], [full, 0]]),
        ([[1, 0], [w + 1, 3 * w - split]], [[full, 0], [(1 << split) - 1, full & ~((1 << (split + 1)) - 1)]]),
        ([[2, 0], [w + 5, 0]], [[full >> 1, 0], [0b101 & full, 0]]),
    ]
    for (offsets, masks), kc, accumulate, rows, with_bias in itertools.product(
        layouts, (1, 7), (0, 1), (1, mr - 1, mr), (False, True)
    ):
        if rows < 1:
            continue
        b = rand(rng, dtype, 2 * nr + 3)
        offset = rng.integers(0, b.size - nr + 1, size=kc).astype(np.int64)
        a = rand(rng, dtype, kc, mr)
        ldc = nr
        c = rand(rng, dtype, mr, ldc)
        bias = rand(rng, dtype, mr) if with_bias else None
        so, sm = np.array(offsets, np.int64), np.array(masks, np.uint32)
        stride = 4 * w + 3
        out0 = np.full(mr * stride + 4 * w, SENTINEL, dtype)
        out = out0.copy()
        C._test_gemm_offset_b_store(
            isa, kernel, kc, a, b, offset, c, ldc, accumulate, bias, rows, so, sm, out, stride
        )
        brows = np.stack([b[o : o + nr] for o in offset]).astype(np.float64)
        sums = a.astype(np.float64).T @ brows
        scale = np.abs(a.astype(np.float64)).T @ np.abs(brows)
        if accumulate:
            sums, scale = sums + c, scale + np.abs(c)
        if with_bias:
            sums, scale = sums + bias[:, None], scale + np.abs(bias)[:, None]
        want, want_scale = out0.astype(np.float64), np.zeros(out0.size)
        for r in range(rows):
            for v in range(2):
                for piece in range(2):
                    for i in range(w):
                        if sm[v, piece] >> i & 1:
                            at = r * stride + so[v, piece] + i
                            want[at], want_scale[at] = sums[r, v * w + i], scale[r, v * w + i]
        assert_sums(out, want, want_scale, dtype, f"{kernel} kc={kc} acc={accumulate} rows={rows}")


@pytest.mark.parametrize("kernel", ["gemm_strided_b", "gemm_strided_b_narrow"])
def test_gemm_strided_b(isa, dtype, kernel):
    t = table(isa, dtype)
    mr, nr = t[f"{kernel}.mr"], t[f"{kernel}.nr"]
    w = vector_width(isa, dtype)
    rng = np.random.default_rng(4)
    col_cases = sorted({1, max(w - 1, 1), w, w + 1, nr - 1, nr} - {0})
    for kc, rows, cols, accumulate, with_bias in itertools.product(
        (1, 2, 9), sorted({1, mr - 1, mr} - {0}), col_cases, (0, 1), (False, True)
    ):
        if cols > nr:
            continue
        ldb, ldc = cols + 3, cols + 2
        a = rand(rng, dtype, kc, mr)
        b = rand(rng, dtype, (kc - 1) * ldb + cols)  # B's last row ends the buffer
        c0 = rand(rng, dtype, mr, ldc)
        c = c0.copy()
        bias = rand(rng, dtype, mr) if with_bias else None
        C._test_gemm_strided_b(isa, kernel, kc, a, b, ldb, c, ldc, rows, cols, accumulate, bias)
        brows = np.stack([b[k * ldb : k * ldb + cols] for k in range(kc)]).astype(np.float64)
        a64 = a.astype(np.float64)
        want, scale = a64.T @ brows, np.abs(a64).T @ np.abs(brows)
        if accumulate:
            want, scale = want + c0[:, :cols], scale + np.abs(c0[:, :cols])
        if with_bias:
            want, scale = want + bias[:, None], scale + np.abs(bias)[:, None]
        what = f"{kernel} kc={kc} rows={rows} cols={cols} acc={accumulate} bias={with_bias}"
        assert_sums(c[:rows, :cols], want[:rows], scale[:rows], dtype, what)
        assert np.array_equal(c[rows:], c0[rows:]), f"{what}: rows past `rows` written"
        assert np.array_equal(c[:, cols:], c0[:, cols:]), f"{what}: columns past `cols` written"


# ------------------------------------------------------------------ direct tiles

DIRECT_TILES = ["direct_tile", "direct_tile_narrow", "direct_tile_wide"]


def _walk_b_positions(count, lanes, b_row_skip, b_outer_skip):
    """b's row start of each walk step i = (i0, i1, i2), in walk order."""
    pos, out = 0, []
    for _ in range(count[0]):
        for _ in range(count[1]):
            for _ in range(count[2]):
                out.append(pos)
                pos += lanes
            pos += b_row_skip
        pos += b_outer_skip
    return out


@pytest.mark.parametrize("kernel", DIRECT_TILES)
def test_direct_tile(isa, dtype, kernel):
    t = table(isa, dtype)
    lanes, max_rows = t[f"{kernel}.lanes"], t[f"{kernel}.max_rows"]
    rng = np.random.default_rng(5)
    walks = [  # count, step, b_row_skip, b_outer_skip
        ((1, 1, 1), (0, 0, 1), 0, 0),  # k = 1
        ((1, 3, 3), (0, 11, 1), 0, 0),  # a 3x3 window on an 11-wide plane
        ((2, 2, 5), (40, 9, 2), 2 * lanes, lanes),  # strided, with skips of b
        ((1, 1, 0), (0, 0, 1), 0, 0),  # an empty walk: acc (or init) unchanged
    ]
    for (count, step, row_skip, outer_skip), rows, from_init in itertools.product(
        walks, sorted({1, max_rows - 1, max_rows} - {0}), (False, True)
    ):
        reach = sum((c - 1) * s for c, s in zip(count, step) if c > 0)
        src = rand(rng, dtype, reach + 3 * max_rows + 7)
        offsets = rng.integers(0, src.size - reach, size=max_rows).astype(np.int64)
        positions = _walk_b_positions(count, lanes, row_skip, outer_skip)
        b = rand(rng, dtype, (positions[-1] + lanes if positions else lanes) + 5)
        ld = lanes + 3
        acc0 = rand(rng, dtype, max_rows, ld)
        acc = acc0.copy()
        init = rand(rng, dtype, lanes) if from_init else None
        C._test_direct_tile(
            isa, kernel, list(count), list(step), row_skip, outer_skip, src, offsets, rows, b, acc, ld, init
        )
        steps = [
            i0 * step[0] + i1 * step[1] + i2 * step[2]
            for i0 in range(count[0])
            for i1 in range(count[1])
            for i2 in range(count[2])
        ]
        start = np.tile(init, (rows, 1)) if from_init else acc0[:rows, :lanes]
        want, scale = start.astype(np.float64), np.abs(start.astype(np.float64))
        for at, pos in zip(steps, positions):
            x = src[offsets[:rows] + at].astype(np.float64)[:, None]
            bb = b[pos : pos + lanes].astype(np.float64)[None, :]
            want, scale = want + x * bb, scale + np.abs(x * bb)
        what = f"{kernel} count={count} rows={rows} init={from_init}"
        assert_sums(acc[:rows, :lanes], want, scale, dtype, what)
        assert np.array_equal(acc[rows:], acc0[rows:]), f"{what}: rows past `rows` written"
        assert np.array_equal(acc[:, lanes:], acc0[:, lanes:]), f"{what}: past `lanes` written"


@pytest.mark.parametrize("kernel", DIRECT_TILES)
def test_direct_store_transposed(isa, dtype, kernel):
    t = table(isa, dtype)
    lanes, max_rows = t[f"{kernel}.lanes"], t[f"{kernel}.max_rows"]
    rng = np.random.default_rng(6)
    ld = lanes + 1
    acc = rand(rng, dtype, max_rows + 16, ld)
    for rows, live in itertools.product(
        sorted({1, max_rows - 1, max_rows} - {0}), sorted({1, lanes - 1, lanes} - {0})
    ):
        out_stride = rows + 2
        out = np.full(live * out_stride, SENTINEL, dtype)
        C._test_direct_store_transposed(isa, kernel, acc, ld, rows, live, out, out_stride)
        got = out.reshape(live, out_stride)
        assert np.array_equal(got[:, :rows], acc[:rows, :live].T), f"rows={rows} live={live}"
        assert np.all(got[:, rows:] == SENTINEL)


# ------------------------------------------------------------- Winograd transforms


@pytest.mark.parametrize("scheme", ["f4x3", "f4x5"])
@pytest.mark.parametrize("transform", ["input", "output_gradient"])
def test_winograd_input_transforms(isa, dtype, scheme, transform):
    """B^T d B of each input window (or A e A^T of each output-gradient tile) into packed panels."""
    bt, _, at = winograd_matrices(scheme)
    alpha, r = bt.shape[0], bt.shape[0] - 3
    rng = np.random.default_rng(7)
    nr = table(isa, dtype)["gemm_nr"]
    # Padding on every side; planes whose tiles do not divide the output.
    for h, w, pad in ((5, 7, 0), (9, 6, 1), (13, 11, r // 2)):
        if transform == "input":
            out_h, out_w = h + 2 * pad - r + 1, w + 2 * pad - r + 1
            g, total = winograd_tiles(h, w, pad, pad, out_h, out_w, images=3)
        else:  # tiles of the output-gradient plane itself (h x w), no padding
            g, total = winograd_tiles(h, w, 0, 0, h, w, images=3)
        plane = rand(rng, dtype, 3 * g["image_stride"])
        for tile_begin, count in ((0, 1), (1, total - 2), (0, total)):
            local0, panels = 16, -(-(16 + count) // nr) + 2
            point_stride, panel_stride = panels * nr + 16, nr
            v0 = np.full(alpha * alpha * point_stride + 64, SENTINEL, dtype)
            v = v0.copy()
            C._test_winograd_input(
                isa, scheme, transform, g, plane, tile_begin, count, v, local0, point_stride, panel_stride, nr
            )
            for t in range(tile_begin, tile_begin + count):
                image, y, x = tile_corner(g, t)
                base = image * g["image_stride"]
                if transform == "input":
                    d = np.zeros((alpha, alpha))
                    for i in range(alpha):
                        for j in range(alpha):
                            yy, xx = y - pad + i, x - pad + j
                            if 0 <= yy < h and 0 <= xx < w:
                                d[i, j] = plane[base + yy * w + xx]
                    want, scale = bt @ d @ bt.T, np.abs(bt) @ np.abs(d) @ np.abs(bt.T)
                else:
                    e = np.zeros((4, 4))
                    for i in range(min(4, h - y)):
                        for j in range(min(4, w - x)):
                            e[i, j] = plane[base + (y + i) * w + x + j]
                    want, scale = at.T @ e @ at, np.abs(at.T) @ np.abs(e) @ np.abs(at)
                col = local0 + t - tile_begin
                got = np.array(
                    [packed_column(v, p, col, point_stride, panel_stride, nr) for p in range(alpha * alpha)]
                )
                assert_sums(got, want.reshape(-1), scale.reshape(-1), dtype, f"{scheme} {transform} tile {t}")
            # Lanes past `count` to the end of the last micro-panel are zeros.
            for col in range(local0 + count, local0 + -(-count // nr) * nr):
                assert packed_column(v, 0, col, point_stride, panel_stride, nr) == 0
            # Nothing before local0 is written.
            for col in range(0, local0):
                assert packed_column(v, 0, col, point_stride, panel_stride, nr) == SENTINEL


@pytest.mark.parametrize("scheme", ["f4x3", "f4x5", "f4x2"])
def test_winograd_output_transform(isa, dtype, scheme):
    """A^T M A + bias of each tile into the output plane, clipped at its bottom/right edge."""
    bt, _, at = winograd_matrices(scheme)
    alpha = bt.shape[0]
    rng = np.random.default_rng(8)
    for h, w in ((4, 4), (5, 7), (10, 9)):
        g, total = winograd_tiles(h, w, 0, 0, h, w, images=3)
        for tile_begin, count in ((0, 1), (1, max(total - 3, 1)), (0, total)):
            point_stride = -(-count // 16) * 16 + 5
            m = rand(rng, dtype, alpha * alpha * point_stride)
            plane0 = np.full(3 * g["image_stride"], SENTINEL, dtype)
            plane = plane0.copy()
            bias = 0.25
            C._test_winograd_output(isa, scheme, g, m, point_stride, tile_begin, count, bias, plane)
            want, scale = plane0.astype(np.float64), np.zeros(plane0.size)
            for t in range(tile_begin, tile_begin + count):
                image, y, x = tile_corner(g, t)
                mm = np.array(
                    [m[p * point_stride + t - tile_begin] for p in range(alpha * alpha)], np.float64
                )
                mm = mm.reshape(alpha, alpha)
                y_tile, s_tile = at @ mm @ at.T + bias, np.abs(at) @ np.abs(mm) @ np.abs(at.T) + bias
                for i in range(min(4, h - y)):
                    for j in range(min(4, w - x)):
                        at_ = image * g["image_stride"] + (y + i) * w + x + j
                        want[at_], scale[at_] = y_tile[i, j], s_tile[i, j]
            assert_sums(plane, want, scale, dtype, f"{scheme} output h={h} w={w} tiles {tile_begin}+{count}")


# --------------------------------------------------------------------- pooling


def _windows(in_size, out_size, k, s, pad):
    return [(o * s - pad, o * s - pad + k) for o in range(out_size)]


def pool_cases():
    """(in_h, in_w, kh, kw, sh, sw, pad_top, pad_bottom, pad_left, pad_right) edge cases."""
    cases = []
    for (in_h, in_w), (kh, kw, sh, sw) in itertools.product(
        ((1, 1), (2, 3), (7, 5), (9, 37), (12, 21)),
        ((1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 2, 2), (3, 3, 1, 1), (2, 3, 1, 2), (3, 2, 3, 3), (4, 4, 3, 1)),
    ):
        for pads in (
            (0, 0, 0, 0),
            (kh - 1, 0, 0, kw - 1),
            (0, kh - 1, kw - 1, 0),
            (kh // 2,) * 2 + (kw // 2,) * 2,
        ):
            pt, pb, pl, pr = pads
            if in_h + pt + pb < kh or in_w + pl + pr < kw:
                continue
            cases.append((in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr))
    return cases


def pool_geometry(case, ceil_mode):
    in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr = case

    def out(n, k, s, a, b):
        span = n + a + b - k
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + a:  # the last window must start inside
            o -= 1
        return o

    out_h, out_w = out(in_h, kh, sh, pt, pb), out(in_w, kw, sw, pl, pr)
    return [in_h, in_w, out_h, out_w, kh, kw, sh, sw, pt, pb, pl, pr]


def pool_reference(x, window, count_include_pad, kind):
    """Max (value, first index) or average of each window of one (H, W) plane, by loops."""
    in_h, in_w, out_h, out_w, kh, kw, sh, sw, pt, pb, pl, pr = window
    vals, idx = np.zeros((out_h, out_w)), np.zeros((out_h, out_w), np.int64)
    for oh in range(out_h):
        for ow in range(out_w):
            h0, w0 = oh * sh - pt, ow * sw - pl
            taps = [
                (i, j)
                for i in range(h0, h0 + kh)
                for j in range(w0, w0 + kw)
                if 0 <= i < in_h and 0 <= j < in_w
            ]
            if kind == "max":
                best = max(range(len(taps)), key=lambda t: (x[taps[t]], -t))  # first maximum
                vals[oh, ow], idx[oh, ow] = x[taps[best]], taps[best][0] * in_w + taps[best][1]
            else:
                if count_include_pad:
                    div = (min(h0 + kh, in_h + pb) - h0) * (min(w0 + kw, in_w + pr) - w0)
                else:
                    div = len(taps)
                vals[oh, ow] = sum(float(x[tp]) for tp in taps) / div
    return vals, idx


def _distinct_plane(rng, dtype, h, w):
    return (rng.permutation(h * w).reshape(h, w) - h * w / 2).astype(dtype) / 4


def test_pool_max_forward(isa, dtype):
    rng = np.random.default_rng(9)
    for case, ceil_mode in itertools.product(pool_cases(), (False, True)):
        window = pool_geometry(case, ceil_mode)
        in_h, in_w, out_h, out_w = window[:4]
        x = _distinct_plane(rng, dtype, in_h, in_w)
        want, want_idx = pool_reference(x, window, False, "max")
        for with_index in (True, False):
            out = np.full((out_h, out_w), SENTINEL, dtype)
            idx = np.full((out_h, out_w), -1, np.int64) if with_index else None
            C._test_pool(isa, "max_forward", window, False, x, out, idx)
            assert np.array_equal(out, want.astype(dtype)), f"max {window}"
            if with_index:
                assert np.array_equal(idx, want_idx), f"max indices {window}"
        # A row range: only those rows are written.
        if out_h >= 3:
            out = np.full((out_h, out_w), SENTINEL, dtype)
            C._test_pool(isa, "max_forward", window, False, x, out, None, 1, out_h - 1)
            assert np.array_equal(out[1:-1], want[1:-1].astype(dtype))
            assert np.all(out[0] == SENTINEL) and np.all(out[-1] == SENTINEL)


def test_pool_avg_forward(isa, dtype):
    rng = np.random.default_rng(10)
    for case, ceil_mode, cip in itertools.product(pool_cases(), (False, True), (False, True)):
        window = pool_geometry(case, ceil_mode)
        in_h, in_w, out_h, out_w = window[:4]
        x = rand(rng, dtype, in_h, in_w)
        want, _ = pool_reference(x, window, cip, "avg")
        scale, _ = pool_reference(np.abs(x.astype(np.float64)), window, cip, "avg")
        out = np.full((out_h, out_w), SENTINEL, dtype)
        C._test_pool(isa, "avg_forward", window, cip, x, out)
        assert_sums(out, want, 4 * scale, dtype, f"avg {window} cip={cip}")
        if out_h >= 3:
            out = np.full((out_h, out_w), SENTINEL, dtype)
            C._test_pool(isa, "avg_forward", window, cip, x, out, None, 1, out_h - 1)
            assert_sums(out[1:-1], want[1:-1], 4 * scale[1:-1], dtype, f"avg rows {window}")
            assert np.all(out[0] == SENTINEL) and np.all(out[-1] == SENTINEL)


def avg_backward_reference(dout, window, cip):
    in_h, in_w, out_h, out_w, kh, kw, sh, sw, pt, pb, pl, pr = window
    din, scale = np.zeros((in_h, in_w)), np.zeros((in_h, in_w))
    for oh in range(out_h):
        for ow in range(out_w):
            h0, w0 = oh * sh - pt, ow * sw - pl
            hs, ws = range(max(h0, 0), min(h0 + kh, in_h)), range(max(w0, 0), min(w0 + kw, in_w))
            div = (
                (min(h0 + kh, in_h + pb) - h0) * (min(w0 + kw, in_w + pr) - w0) if cip else len(hs) * len(ws)
            )
            for i in hs:
                for j in ws:
                    din[i, j] += dout[oh, ow] / div
                    scale[i, j] += abs(dout[oh, ow]) / div
    return din, scale


@pytest.mark.parametrize("stream", [False, True])
def test_pool_avg_backward(isa, dtype, stream):
    rng = np.random.default_rng(11)
    for case, cip in itertools.product(pool_cases(), (False, True)):
        window = pool_geometry(case, False)
        in_h, in_w, out_h, out_w = window[:4]
        dout = rand(rng, dtype, out_h, out_w)
        want, scale = avg_backward_reference(dout.astype(np.float64), window, cip)
        din = np.full((in_h, in_w), SENTINEL, dtype)  # every input value is written
        C._test_pool(isa, "avg_backward", window, cip, dout, din, stream=stream)
        assert_sums(din, want, 4 * scale, dtype, f"avg backward {window} cip={cip}")


@pytest.mark.parametrize("channels", [1, 3, 17])
def test_pool_channels_last(isa, dtype, channels):
    rng = np.random.default_rng(12)
    for case in pool_cases()[::3]:
        window = pool_geometry(case, False)
        in_h, in_w, out_h, out_w = window[:4]
        x = np.stack([_distinct_plane(rng, dtype, in_h, in_w) for _ in range(channels)], axis=-1)
        out = np.full((out_h, out_w, channels), SENTINEL, dtype)
        idx = np.full((out_h, out_w, channels), -1, np.int64)
        C._test_pool(isa, "max_forward_nhwc", window, False, x, out, idx, channels=channels)
        for c in range(channels):
            want, want_idx = pool_reference(x[..., c], window, False, "max")
            assert np.array_equal(out[..., c], want.astype(dtype)), f"max nhwc {window} c={c}"
            assert np.array_equal(idx[..., c], want_idx)
        for cip in (False, True):
            out = np.full((out_h, out_w, channels), SENTINEL, dtype)
            C._test_pool(isa, "avg_forward_nhwc", window, cip, x, out, channels=channels)
            dout = rand(rng, dtype, out_h, out_w, channels)
            din = np.full((in_h, in_w, channels), SENTINEL, dtype)
            C._test_pool(isa, "avg_backward_nhwc", window, cip, dout, din, channels=channels)
            for c in range(channels):
                want, _ = pool_reference(x[..., c], window, cip, "avg")
                scale, _ = pool_reference(np.abs(x[..., c].astype(np.float64)), window, cip, "avg")
                assert_sums(out[..., c], want, 4 * scale, dtype, f"avg nhwc {window}")
                want, scale = avg_backward_reference(dout[..., c].astype(np.float64), window, cip)
                assert_sums(din[..., c], want, 4 * scale, dtype, f"avg backward nhwc {window}")


@pytest.mark.parametrize("n", [1, 7, 16, 31, 33, 100, 1025])
def test_pool_reductions(isa, dtype, n):
    rng = np.random.default_rng(13)
    x = rng.permutation(n).astype(dtype) - n / 3
    total, _ = C._test_pool_reduce(isa, "sum", x)
    assert_sums(total, x.astype(np.float64).sum(), np.abs(x.astype(np.float64)).sum(), dtype, "sum")
    best, index = C._test_pool_reduce(isa, "max_with_index", x)
    assert best == x.max() and index == int(np.argmax(x))
    x[:] = 1  # ties: the first maximum wins
    assert C._test_pool_reduce(isa, "max_with_index", x) == (1.0, 0)


@pytest.mark.parametrize("n", [1, 3, 15, 16, 17, 100, 4099])
@pytest.mark.parametrize("shift", [0, 1])
def test_copy_streaming(isa, dtype, n, shift):
    rng = np.random.default_rng(14)
    src = rand(rng, dtype, n)
    buf = np.full(n + 2, SENTINEL, dtype)
    dst = buf[shift : shift + n]  # unaligned destinations too
    C._test_copy(isa, "pool.copy_streaming", src, dst)
    assert np.array_equal(dst, src)
    assert np.all(np.delete(buf, np.arange(shift, shift + n)) == SENTINEL)


# ------------------------------------------------------------------ elementwise

IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH = range(5)
SIZES = (1, 7, 16, 33, 1000)


def activation_reference(act, slope, x):
    x = x.astype(np.float64)
    return {
        IDENTITY: x,
        RELU: np.maximum(x, 0),
        LEAKY_RELU: np.where(x < 0, x * slope, x),
        SIGMOID: 1 / (1 + np.exp(-x)),
        TANH: np.tanh(x),
    }[act]


def activation_gradient_reference(act, slope, dy, y):
    dy, y = dy.astype(np.float64), y.astype(np.float64)
    return {
        IDENTITY: dy,
        RELU: np.where(y > 0, dy, 0),
        LEAKY_RELU: np.where(y > 0, dy, dy * slope),
        SIGMOID: dy * y * (1 - y),
        TANH: dy * (1 - y * y),
    }[act]


@pytest.mark.parametrize("act", [IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH])
def test_activation(isa, dtype, act):
    rng = np.random.default_rng(15)
    # exp / tanh: a few ulp of their own on top of the rounding of the result
    tol = 1 if act in (IDENTITY, RELU, LEAKY_RELU) else 8
    for n in SIZES:
        x = 3 * rand(rng, dtype, n)
        y = np.full(n, SENTINEL, dtype)
        C._test_activation(isa, act, 0.1, x, None, y)
        want = activation_reference(act, 0.1, x)
        assert_sums(y, want, tol * np.abs(want), dtype, f"act {act} n={n}")
        dy = rand(rng, dtype, n)
        dx = np.full(n, SENTINEL, dtype)
        C._test_activation(isa, act, 0.1, dy, y, dx)
        want = activation_gradient_reference(act, 0.1, dy, y)
        assert_sums(dx, want, 4 * np.abs(dy.astype(np.float64)), dtype, f"act backward {act} n={n}")


@pytest.mark.parametrize("act", [IDENTITY, RELU, LEAKY_RELU])
def test_bn_apply(isa, dtype, act):
    rng = np.random.default_rng(16)
    for n in SIZES:
        x = rand(rng, dtype, n)
        scale, shift = rand(rng, dtype, 1), rand(rng, dtype, 1)
        y = np.full(n, SENTINEL, dtype)
        C._test_bn_apply(isa, x, scale, shift, act, 0.1, y)
        z = x.astype(np.float64) * scale[0] + shift[0]
        bound = np.abs(x.astype(np.float64) * scale[0]) + abs(shift[0])
        assert_sums(y, activation_reference(act, 0.1, z), 2 * bound, dtype, f"bn run n={n}")
    for rows, channels in ((1, 1), (3, 7), (5, 33)):
        x = rand(rng, dtype, rows, channels)
        scale, shift = rand(rng, dtype, channels), rand(rng, dtype, channels)
        y = np.full((rows, channels), SENTINEL, dtype)
        C._test_bn_apply(isa, x, scale, shift, act, 0.1, y)
        z = x.astype(np.float64) * scale + shift
        bound = np.abs(x.astype(np.float64) * scale) + np.abs(shift)
        assert_sums(y, activation_reference(act, 0.1, z), 2 * bound, dtype, f"bn rows {rows}x{channels}")


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (4, 16), (2, 33), (2, 1000)])
def test_softmax(isa, dtype, shape):
    rng = np.random.default_rng(17)
    x = 4 * rand(rng, dtype, *shape)
    y = np.full(shape, SENTINEL, dtype)
    C._test_softmax(isa, x, None, y)
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    assert_sums(y, want, 8 * want, dtype, "softmax")
    dy = rand(rng, dtype, *shape)
    dx = np.full(shape, SENTINEL, dtype)
    C._test_softmax(isa, dy, y, dx)
    y64, dy64 = y.astype(np.float64), dy.astype(np.float64)
    want = y64 * (dy64 - (dy64 * y64).sum(axis=1, keepdims=True))
    scale = y64 * (np.abs(dy64) + (np.abs(dy64) * y64).sum(axis=1, keepdims=True))
    assert_sums(dx, want, 4 * scale, dtype, "softmax backward")


SGD, SGD_MOMENTUM, SGD_NESTEROV, ADAGRAD = 0, 1, 2, 3


@pytest.mark.parametrize("n", [1, 7, 33])
def test_optimizer_update(isa, dtype, n):
    """The plain rules of elementwise/optimizer_impl.h (c[0] = learning rate, c[1] = momentum or eps)."""
    rng = np.random.default_rng(18)
    lr, mom, decay, gs = 0.1, 0.9, 0.01, 0.5
    for kind in (SGD, SGD_MOMENTUM, SGD_NESTEROV, ADAGRAD):
        p0, g = rand(rng, dtype, n), rand(rng, dtype, n)
        s00 = np.abs(rand(rng, dtype, n))
        p, s0 = p0.copy(), s00.copy()
        C._test_optimizer_update(
            isa, kind, [lr, mom if kind != ADAGRAD else 1e-7], decay, gs, p, g, s0, None, None
        )
        q = p0.astype(np.float64) * (1 - decay)
        gg = g.astype(np.float64) * gs
        m = s00.astype(np.float64)
        if kind == SGD:
            q = q - lr * gg
        elif kind == SGD_MOMENTUM:
            m = m * mom - lr * gg
            q = q + m
        elif kind == SGD_NESTEROV:
            m = m * mom - lr * gg
            q = q + mom * m - lr * gg
        else:
            m = m + gg * gg
            q = q - lr * gg / np.sqrt(m + 1e-7)
        bound = 4 * (np.abs(q) + np.abs(m) + np.abs(gg))
        assert_sums(p, q, bound, dtype, f"optimizer {kind}")
        if kind != SGD:
            assert_sums(s0, m, bound, dtype, f"optimizer state {kind}")


def test_gemv_rows(isa, dtype):
    rng = np.random.default_rng(19)
    for rows, k, n in ((1, 1, 1), (3, 5, 7), (8, 17, 33), (5, 64, 300)):
        a_row, a_step = 2 * k + 1, 2  # A's rows and steps both strided
        a = rand(rng, dtype, (rows - 1) * a_row + (k - 1) * a_step + 1)
        b_row, c_row = n + 3, n + 1
        b = rand(rng, dtype, (k - 1) * b_row + n)
        c0 = np.full((rows - 1) * c_row + n, SENTINEL, dtype)
        c = c0.copy()
        C._test_gemv_rows(isa, a, a_row, a_step, rows, b, b_row, k, n, c, c_row)
        am = np.array([[a[i * a_row + p * a_step] for p in range(k)] for i in range(rows)], np.float64)
        bm = np.stack([b[p * b_row : p * b_row + n] for p in range(k)]).astype(np.float64)
        got = np.stack([c[i * c_row : i * c_row + n] for i in range(rows)])
        assert_sums(got, am @ bm, np.abs(am) @ np.abs(bm), dtype, f"gemv {rows}x{k}x{n}")
        for i in range(rows - 1):
            assert np.all(c[i * c_row + n : (i + 1) * c_row] == SENTINEL)
