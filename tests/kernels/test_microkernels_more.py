"""The kernel tester, continued: the direct column kernel, the direct tiles' lane
gather, the F(4x4, 2x2) transforms, the filter and weight-gradient transforms,
batch norm's moments and gradient passes, dropout, the optimizer rules and the
packers, each against a plain NumPy loop reference of its contract in
csrc/kernels/kernel_table.h (see tests/kernels/test_microkernels.py, whose
registry test names which test covers which kernel-table field).
"""

import itertools

import numpy as np
import pytest

import fastcnn._C as C

from _kernel_tester import (
    ISA_DTYPE,
    SENTINEL,
    assert_sums,
    g_rows,
    packed_at,
    rand,
    table,
    tile_corner,
    vector_width,
    winograd_matrices,
    winograd_tiles,
)

pytestmark = ISA_DTYPE

IDENTITY, RELU, LEAKY_RELU = 0, 1, 2
SLOPE = 0.1


# ------------------------------------------------------------------- packers


def _runs(rng, w, case):
    """(column, offset, length) of a case's runs, columns increasing."""
    if case == "one":
        lengths, gaps = [1], [0]
    elif case == "contiguous":  # runs around the vector width, back to back
        lengths = [3, w, w + 1, 1, max(2 * w - 1, 1), 5]
        gaps = [0] * len(lengths)
    elif case == "gaps":  # columns left between runs, and an empty run
        lengths = [w + 2, 0, 2, 7, w]
        gaps = [2, 1, w + 3, 0, 1]
    else:  # "none": count = 0
        lengths, gaps = [], []
    column, at = [], 1
    for length, gap in zip(lengths, gaps):
        at += gap
        column.append(at)
        at += length
    offset = [int(rng.integers(0, 40)) for _ in lengths]  # unaligned, overlapping, descending
    return (np.array(v, np.int64) for v in (column, offset, lengths))


@pytest.mark.parametrize("case", ["one", "contiguous", "gaps", "none"])
def test_copy_runs(isa, dtype, case):
    """dst[column[r] + q] = src[offset[r] + q], q < length[r]; whole vectors may spill
    up to one vector past each run's end, nothing else is written."""
    w = vector_width(isa, dtype)
    slack = 64 // np.dtype(dtype).itemsize  # the binding's bound: one 64-byte vector
    rng = np.random.default_rng(20)
    column, offset, length = _runs(rng, w, case)
    src = rand(rng, dtype, 40 + int(length.sum()) + slack)
    end = int(max(column + length, default=0))
    dst0 = np.full(end + slack + 8, SENTINEL, dtype)
    dst = dst0.copy()
    C._test_copy_runs(isa, src, column, offset, length, dst)
    may_write = np.zeros(dst.size, bool)
    for c, o, n in zip(column, offset, length):
        assert np.array_equal(dst[c : c + n], src[o : o + n]), f"run at column {c}, length {n}"
        may_write[c : c + -(-n // w) * w] = True
    assert np.array_equal(dst[~may_write], dst0[~may_write]), "written past a run's last vector"


@pytest.mark.parametrize("k", [1, 7, 8, 9, 17])
def test_pack_rows_transposed(isa, dtype, k):
    """dst[(m0 + kk) * mr + r] = a[(m0 + r) * row + kk] per micro-panel, zero rows past `rows`."""
    t = table(isa, dtype)
    rng = np.random.default_rng(21)
    for mr in sorted({1, 3, t["gemm_mr"], t["gemm_narrow_mr"], t["gemm_nr"]}):
        for rows in sorted({1, mr - 1, mr, mr + 1, 2 * mr + 3} - {0}):
            row = k + 3  # rows of a wider matrix
            a = rand(rng, dtype, (rows - 1) * row + k)  # the last row ends the buffer
            panels = -(-rows // mr)
            dst = np.full(panels * mr * k + 7, SENTINEL, dtype)
            C._test_pack_rows_transposed(isa, a, row, rows, k, mr, dst)
            want = np.zeros((panels, k, mr), dtype)
            for i in range(rows):
                want[i // mr, :, i % mr] = a[i * row : i * row + k]
            what = f"mr={mr} rows={rows} k={k}"
            assert np.array_equal(dst[: panels * mr * k], want.reshape(-1)), what
            assert np.all(dst[panels * mr * k :] == SENTINEL), f"{what}: past the panels"


# ------------------------------------------------------- direct column kernel


def _direct_cases(co_block, width):
    """(c_in, kh, kw, out_h, out_w, c_out, co_begin, rows, channels_last, bias, extra_pad_w)."""
    cases = []
    shapes = [(1, 3, 3), (3, 5, 5), (2, 2, 3), (4, 1, 1)]
    widths = sorted({1, max(width - 1, 1), width + 1})
    outs = sorted({1, max(co_block - 1, 1), co_block + 1})
    for (c_in, kh, kw), out_w, c_out in itertools.product(shapes, widths, outs):
        i = len(cases)
        out_h = 1 + i % 3
        co_begin = co_block if c_out > co_block and i % 2 else 0
        rows = (1, out_h) if out_h > 1 and i % 4 == 1 else (0, out_h)
        cases.append((c_in, kh, kw, out_h, out_w, c_out, co_begin, rows, i % 3 == 2, i % 2 == 0, 3 * (i % 2)))
    return cases


def test_direct_rows(isa, dtype):
    """out[co, oh, ow] = bias[co] + sum over (ci, i, j) of padded[ci, oh + i, ow + j] * w[co, ci, i, j]
    for co in [co_begin, co_end), oh in [row_begin, row_end); channels-last: out[oh, ow, co]."""
    t = table(isa, dtype)
    co_block, width = t["direct.co_block"], t["direct.width"]
    rng = np.random.default_rng(22)
    for case in _direct_cases(co_block, width):
        c_in, kh, kw, out_h, out_w, c_out, co_begin, (r0, r1), last, with_bias, extra = case
        pad_h = out_h + kh - 1
        pad_w = -(-out_w // width) * width + kw - 1 + extra  # the register blocks' slack
        padded = rand(rng, dtype, c_in, pad_h, pad_w)
        # Columns past the last window are read by whole register blocks only for
        # columns that are never stored: NaN there must not reach the output.
        padded[:, :, out_w + kw - 1 :] = np.nan
        w = rand(rng, dtype, c_out, c_in, kh, kw)
        blocks = -(-c_out // co_block)
        w_packed = np.zeros((blocks, c_in * kh * kw, co_block), dtype)  # zero past c_out
        for co in range(c_out):
            w_packed[co // co_block, :, co % co_block] = w[co].reshape(-1)
        bias = rand(rng, dtype, c_out) if with_bias else None
        out_pixel = c_out + 1 if last else 1
        out0 = np.full((out_h, out_w, out_pixel) if last else (c_out, out_h, out_w), SENTINEL, dtype)
        out = out0.copy()
        conv = [c_in, pad_h, pad_w, kh, kw, out_h, out_w, out_pixel]
        C._test_direct_rows(isa, conv, padded, w_packed, bias, out, co_begin, c_out, r0, r1)
        p64, w64 = padded.astype(np.float64), w.astype(np.float64)
        want, scale = np.zeros((c_out, out_h, out_w)), np.zeros((c_out, out_h, out_w))
        for i in range(kh):
            for j in range(kw):
                x = p64[:, i : i + out_h, j : j + out_w]
                want += np.einsum("chw,oc->ohw", x, w64[:, :, i, j])
                scale += np.einsum("chw,oc->ohw", np.abs(x), np.abs(w64[:, :, i, j]))
        if with_bias:
            want, scale = want + bias[:, None, None], scale + np.abs(bias)[:, None, None]
        expect, expect_scale = out0.astype(np.float64), np.zeros(out0.shape)
        region = (slice(co_begin, c_out), slice(r0, r1))
        if last:
            expect[r0:r1, :, co_begin:c_out] = want[region].transpose(1, 2, 0)
            expect_scale[r0:r1, :, co_begin:c_out] = scale[region].transpose(1, 2, 0)
        else:
            expect[region], expect_scale[region] = want[region], scale[region]
        assert_sums(out, expect, 4 * expect_scale, dtype, f"direct {case}")


# ------------------------------------------------------------ direct tiles


@pytest.mark.parametrize("kernel", ["direct_tile", "direct_tile_narrow", "direct_tile_wide"])
def test_direct_gather_lanes(isa, dtype, kernel):
    """to[q * lanes + j] = from[j * channel_step + q * position_step] for j < live, else 0."""
    t = table(isa, dtype)
    lanes, w = t[f"{kernel}.lanes"], vector_width(isa, dtype)
    rng = np.random.default_rng(23)
    for live, positions, (channel_step, position_step) in itertools.product(
        sorted({0, 1, w - 1, w, w + 1, lanes - 1, lanes} & set(range(lanes + 1))),
        (1, 3),
        ((1, 1), (12, 1), (5, 97)),  # channels-first planes, interleaved, strided pixels
    ):
        reach = (live - 1) * channel_step + (positions - 1) * position_step + 1 if live else 1
        src = rand(rng, dtype, reach)  # ends at the last value gathered
        to = np.full(positions * lanes + 5, SENTINEL, dtype)
        C._test_direct_gather_lanes(isa, kernel, src, live, channel_step, position_step, positions, to)
        want = np.zeros((positions, lanes), dtype)
        for q in range(positions):
            for j in range(live):
                want[q, j] = src[j * channel_step + q * position_step]
        what = f"{kernel} live={live} positions={positions} steps={channel_step},{position_step}"
        assert np.array_equal(to[: positions * lanes].reshape(positions, lanes), want), what
        assert np.all(to[positions * lanes :] == SENTINEL), f"{what}: past positions * lanes"


# ----------------------------------------------------- Winograd F(4x4, 2x2)

PHASES = ((0, 1), (0, 0), (1, 0), (1, 1))  # kWinogradPhase: (row, column) parity of each phase's B rows


def _panel_layouts(count, nr):
    """(local0, point_stride, panel_stride, phase_offset): separate phases with room before
    local0, and the op's layout (one channel's four phases interleaved in each micro-panel)."""
    block = -(-(count + 16) // 16) * 16
    return [
        (16, block * 2 + 16, nr, (block * 2 + 16) * 25 + 8),
        (0, block * 4 + 16, 4 * nr, nr),
    ]


def _check_packed(v, v0, values, scales, layout, count, nr, phases, dtype, what):
    """values[q][t]: the 25 points of tile t in phase q; lanes past count to the end of the
    last micro-panel are 0; only the transform's lane groups are written."""
    local0, point_stride, panel_stride, phase_offset = layout
    written = np.zeros(v.size, bool)
    lanes = -(-(-(-count // nr) * nr) // 16) * 16  # whole 16-lane groups over the micro-panels
    for q in range(phases):
        for p in range(25):
            at = np.array([packed_at(p, local0 + j, point_stride, panel_stride, nr) for j in range(lanes)])
            at += q * phase_offset
            written[at] = True
            got = v[at]
            assert_sums(got[:count], values[q][:, p], scales[q][:, p], dtype, f"{what} phase {q} point {p}")
            assert np.all(got[count : -(-count // nr) * nr] == 0), f"{what}: lanes past count"
    assert np.array_equal(v[~written], v0[~written]), f"{what}: written outside its lane groups"


def test_winograd_f4x2_input(isa, dtype):
    """Phase (py, px) = kWinogradPhase[q] of the tile at output corner (ty, tx): the 5x5 window
    x[2 (ty + i) + py - pad_top, 2 (tx + j) + px - pad_left] (0 outside), B^T d B into packed
    panels, phase q's rows phase_offset * q elements on."""
    bt, _, _ = winograd_matrices("f4x2")
    nr = table(isa, dtype)["gemm_nr"]
    rng = np.random.default_rng(24)
    # Odd and even widths and left pads: AVX-512 float gathers column pairs of even-width
    # planes, one column early for an odd pad.
    for h, w, pad in ((3, 3, 1), (9, 8, 0), (14, 13, 1), (10, 12, 1), (11, 20, 2)):
        out_h, out_w = (h + 2 * pad - 3) // 2 + 1, (w + 2 * pad - 3) // 2 + 1
        g, total = winograd_tiles(h, w, pad, pad, out_h, out_w, images=2)
        g["step"] = 2
        plane = rand(rng, dtype, 2 * g["image_stride"])
        for (tile_begin, count), layout in itertools.product(
            sorted({(0, 1), (1, max(total - 2, 1)), (0, total)}), _panel_layouts(total, nr)
        ):
            local0, point_stride, panel_stride, phase_offset = layout
            g["phase_offset"] = phase_offset
            v0 = np.full(3 * phase_offset + 25 * point_stride + 4 * (count + 64) * 4, SENTINEL, dtype)
            v = v0.copy()
            C._test_winograd_input(
                isa, "f4x2", "input", g, plane, tile_begin, count, v, local0, point_stride, panel_stride, nr
            )
            values = np.zeros((4, count, 25))
            scales = np.zeros((4, count, 25))
            for n, tile in enumerate(range(tile_begin, tile_begin + count)):
                image, ty, tx = tile_corner(g, tile)
                base = image * g["image_stride"]
                for q, (py, px) in enumerate(PHASES):
                    d = np.zeros((5, 5))
                    for i in range(5):
                        for j in range(5):
                            y, x = 2 * (ty + i) + py - pad, 2 * (tx + j) + px - pad
                            if 0 <= y < h and 0 <= x < w:
                                d[i, j] = plane[base + y * w + x]
                    values[q, n] = (bt @ d @ bt.T).reshape(-1)
                    scales[q, n] = (np.abs(bt) @ np.abs(d) @ np.abs(bt.T)).reshape(-1)
            what = f"f4x2 input h={h} w={w} pad={pad} tiles {tile_begin}+{count} layout {layout}"
            _check_packed(v, v0, values, scales, layout, count, nr, 4, dtype, what)


def test_winograd_f4x2_dx_input(isa, dtype):
    """The 5x5 window of the tile at corner (ty, tx), step 1, from (ty - pad_top, tx - pad_left)
    (0 outside the plane), B^T d B into packed panels like the forward input's phase 0."""
    bt, _, _ = winograd_matrices("f4x2")
    nr = table(isa, dtype)["gemm_nr"]
    rng = np.random.default_rng(25)
    for h, w, pad, grid in ((1, 1, 1, (1, 1)), (5, 6, 0, (6, 7)), (9, 12, 1, (10, 12)), (7, 17, 1, (8, 9))):
        g, total = winograd_tiles(h, w, pad, pad, *grid, images=2)
        plane = rand(rng, dtype, 2 * g["image_stride"])
        for (tile_begin, count), layout in itertools.product(
            sorted({(0, 1), (1, max(total - 2, 1)), (0, total)}), _panel_layouts(total, nr)[:1]
        ):
            local0, point_stride, panel_stride, _ = layout
            v0 = np.full(25 * point_stride + 64, SENTINEL, dtype)
            v = v0.copy()
            C._test_winograd_input(
                isa,
                "f4x2",
                "dx_input",
                g,
                plane,
                tile_begin,
                count,
                v,
                local0,
                point_stride,
                panel_stride,
                nr,
            )
            values, scales = np.zeros((1, count, 25)), np.zeros((1, count, 25))
            for n, tile in enumerate(range(tile_begin, tile_begin + count)):
                image, ty, tx = tile_corner(g, tile)
                d = np.zeros((5, 5))
                for i in range(5):
                    for j in range(5):
                        y, x = ty + i - pad, tx + j - pad
                        if 0 <= y < h and 0 <= x < w:
                            d[i, j] = plane[image * g["image_stride"] + y * w + x]
                values[0, n] = (bt @ d @ bt.T).reshape(-1)
                scales[0, n] = (np.abs(bt) @ np.abs(d) @ np.abs(bt.T)).reshape(-1)
            what = f"f4x2 dx input h={h} w={w} pad={pad} tiles {tile_begin}+{count}"
            _check_packed(v, v0, values, scales, layout, count, nr, 1, dtype, what)


def test_winograd_f4x2_dx_output(isa, dtype):
    """Phase q = 2 qy + qx of the tile at phase-grid corner (ty, tx): A^T M_q A into
    dx[2 (ty + i) + qy, 2 (tx + j) + qx], clipped at the plane's bottom and right edge."""
    _, _, at = winograd_matrices("f4x2")
    rng = np.random.default_rng(26)
    for h, w in ((1, 1), (2, 3), (7, 9), (8, 16), (13, 10), (17, 18)):
        gh, gw = -(-h // 2), -(-w // 2)
        g, total = winograd_tiles(h, w, 0, 0, gh, gw, images=2)
        for tile_begin, count in sorted({(0, 1), (1, max(total - 2, 1)), (0, total)}):
            lanes = -(-count // 16) * 16
            for phase_stride, point_stride in ((lanes + 3, 4 * (lanes + 3) + 16), (25 * lanes + 7, lanes)):
                m = rand(rng, dtype, 3 * phase_stride + 24 * point_stride + lanes)
                plane0 = np.full(2 * g["image_stride"], SENTINEL, dtype)
                plane = plane0.copy()
                C._test_winograd_dx_output(isa, g, m, point_stride, phase_stride, tile_begin, count, plane)
                want, scale = plane0.astype(np.float64), np.zeros(plane0.size)
                for tile in range(tile_begin, tile_begin + count):
                    image, ty, tx = tile_corner(g, tile)
                    for q in range(4):
                        qy, qx = divmod(q, 2)
                        at_m = q * phase_stride + tile - tile_begin
                        mm = np.array([m[at_m + p * point_stride] for p in range(25)], np.float64).reshape(
                            5, 5
                        )
                        y, s = at @ mm @ at.T, np.abs(at) @ np.abs(mm) @ np.abs(at.T)
                        for i in range(4):
                            for j in range(4):
                                row, col = 2 * (ty + i) + qy, 2 * (tx + j) + qx
                                if row < h and col < w:
                                    k = image * g["image_stride"] + row * w + col
                                    want[k], scale[k] = y[i, j], s[i, j]
                what = f"f4x2 dx output h={h} w={w} tiles {tile_begin}+{count} phase_stride={phase_stride}"
                assert_sums(plane, want, scale, dtype, what)


# -------------------------------------------------- filter and gradient transforms

SCHEMES = ["f4x3", "f4x5", "f4x2"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_winograd_filter(isa, dtype, scheme):
    """U = G g G^T of `rows` output channels' filters: point (i, c) of channel ci, row `row`
    at dst[(i * alpha + c) * point_stride + ci * mr + row], rows past `rows` zero."""
    t = table(isa, dtype)
    G = g_rows(scheme, dtype)
    alpha, r = G.shape[0], winograd_matrices(scheme)[1].shape[1]
    g64 = G[:, :r].astype(np.float64)  # the kernel's own (rounded) G
    rng = np.random.default_rng(27)
    for mr, c_in, extra in itertools.product(sorted({t["gemm_mr"], t["gemm_narrow_mr"]}), (1, 3, 17), (0, 5)):
        for rows in sorted({1, mr - 1, mr} - {0}):
            g_row = c_in * r * r + 2  # a range of a wider filter's input channels
            g = rand(rng, dtype, (rows - 1) * g_row + c_in * r * r)
            point_stride = c_in * mr + extra
            dst0 = np.full(alpha * alpha * point_stride + 8, SENTINEL, dtype)
            dst = dst0.copy()
            C._test_winograd_filter(isa, G, alpha, r, c_in, g, g_row, rows, mr, dst, point_stride)
            want, scale = dst0.astype(np.float64), np.zeros(dst0.size)
            for row, ci in itertools.product(range(mr), range(c_in)):
                if row < rows:
                    f = g[row * g_row + ci * r * r :][: r * r].astype(np.float64).reshape(r, r)
                    u, s = g64 @ f @ g64.T, np.abs(g64) @ np.abs(f) @ np.abs(g64.T)
                else:
                    u, s = np.zeros((alpha, alpha)), np.zeros((alpha, alpha))
                at = np.arange(alpha * alpha) * point_stride + ci * mr + row
                want[at], scale[at] = u.reshape(-1), s.reshape(-1)
            assert_sums(dst, want, 2 * scale, dtype, f"{scheme} filter mr={mr} c_in={c_in} rows={rows}")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_winograd_gradient_transform(isa, dtype, scheme):
    """dW[ci][i][j] = (G^T M G)[i][j], M's point (k, l) over the input channels at
    m + (k * alpha + l) * point_stride."""
    G = g_rows(scheme, dtype)
    alpha, r = G.shape[0], winograd_matrices(scheme)[1].shape[1]
    g64 = G[:, :r].astype(np.float64)
    rng = np.random.default_rng(28)
    for c_in, extra in itertools.product((1, 7, 33), (0, 3)):
        point_stride = c_in + extra
        m = rand(rng, dtype, (alpha * alpha - 1) * point_stride + c_in)  # the last point ends m
        dw = np.full(c_in * r * r + 4, SENTINEL, dtype)
        C._test_winograd_gradient_transform(isa, G, alpha, r, c_in, m, point_stride, dw)
        want, scale = np.zeros((c_in, r, r)), np.zeros((c_in, r, r))
        for ci in range(c_in):
            mm = np.array([m[p * point_stride + ci] for p in range(alpha * alpha)], np.float64)
            mm = mm.reshape(alpha, alpha)
            want[ci], scale[ci] = g64.T @ mm @ g64, np.abs(g64.T) @ np.abs(mm) @ np.abs(g64)
        what = f"{scheme} gradient transform c_in={c_in} point_stride={point_stride}"
        assert_sums(dw[: c_in * r * r], want.reshape(-1), 2 * scale.reshape(-1), dtype, what)
        assert np.all(dw[c_in * r * r :] == SENTINEL), f"{what}: past dW"


# ------------------------------------------------------- batch normalisation

SIZES = (1, 7, 15, 16, 17, 33, 1000)
ROW_SHAPES = ((1, 1), (3, 7), (5, 16), (17, 33))


def _away_from_zero(rng, dtype, scale, shift, shape):
    """x whose pre-activations x * scale + shift are at least 0.1 from 0, so the
    activation's derivative cannot depend on rounding."""
    z = rng.standard_normal(shape)
    z = np.sign(z) * (0.1 + np.abs(z))
    return ((z - shift) / scale).astype(dtype)


def _gradient_through(act, z, dy):
    if act == IDENTITY:
        return dy
    if act == RELU:
        return np.where(z > 0, dy, 0.0)
    return np.where(z > 0, dy, dy * SLOPE)


@pytest.mark.parametrize("n", SIZES)
def test_bn_moments_run(isa, dtype, n):
    """*sum += sum(x - shift), *sum_sq += sum((x - shift)^2), in double whatever the dtype."""
    rng = np.random.default_rng(29)
    x = (rand(rng, dtype, n) + 3).astype(dtype)
    shift = np.array([2.5], dtype)
    s0 = np.array([0.75, SENTINEL])
    q0 = np.array([2.0, SENTINEL])
    s, q = s0.copy(), q0.copy()
    C._test_bn_moments(isa, x, shift, s, q)
    d = x.astype(np.float64) - float(shift[0])
    # The sums are kept in double: float64's tolerance for both dtypes.
    assert_sums(s[0], s0[0] + d.sum(), abs(s0[0]) + np.abs(d).sum(), np.float64, f"sum n={n}")
    assert_sums(q[0], q0[0] + (d * d).sum(), q0[0] + (d * d).sum(), np.float64, f"sum_sq n={n}")
    assert s[1] == SENTINEL and q[1] == SENTINEL


@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_bn_moments_rows(isa, dtype, shape):
    """Per channel k: sum[k] += sum over rows of (x - shift[k]), sum_sq[k] of the squares."""
    rows, channels = shape
    rng = np.random.default_rng(30)
    x = (rand(rng, dtype, rows, channels) + 2).astype(dtype)
    shift = rand(rng, dtype, channels)
    s0 = np.append(rng.standard_normal(channels), [SENTINEL] * 2)
    q0 = np.append(np.abs(rng.standard_normal(channels)), [SENTINEL] * 2)
    s, q = s0.copy(), q0.copy()
    C._test_bn_moments(isa, x, shift, s, q)
    d = x.astype(np.float64) - shift.astype(np.float64)
    want_s, want_q = s0[:channels] + d.sum(0), q0[:channels] + (d * d).sum(0)
    assert_sums(s[:channels], want_s, np.abs(s0[:channels]) + np.abs(d).sum(0), np.float64, f"sum {shape}")
    assert_sums(q[:channels], want_q, want_q, np.float64, f"sum_sq {shape}")
    assert np.all(s[channels:] == SENTINEL) and np.all(q[channels:] == SENTINEL)


@pytest.mark.parametrize("act", [IDENTITY, RELU, LEAKY_RELU])
def test_bn_gradient_moments(isa, dtype, act):
    """With dz = dy * act'(x * scale + shift): sum_dz += sum(dz), sum_dz_xc += sum(dz * (x - mean)),
    over a run (one channel) and over rows (per channel)."""
    rng = np.random.default_rng(31)
    for shape in [(n,) for n in SIZES] + list(ROW_SHAPES):
        run = len(shape) == 1
        c = 1 if run else shape[1]
        scale = (rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c)).astype(dtype)
        shift, mean = rand(rng, dtype, c), rand(rng, dtype, c)
        x = _away_from_zero(rng, dtype, scale.astype(np.float64), shift.astype(np.float64), shape)
        dy = rand(rng, dtype, *shape)
        s0 = np.append(rng.standard_normal(c), SENTINEL)
        q0 = np.append(rng.standard_normal(c), SENTINEL)
        s, q = s0.copy(), q0.copy()
        C._test_bn_gradient_moments(isa, dy, x, scale, shift, mean, act, SLOPE, s, q)
        x64, dy64 = x.astype(np.float64).reshape(-1, c), dy.astype(np.float64).reshape(-1, c)
        z = x64 * scale.astype(np.float64) + shift.astype(np.float64)
        dz = _gradient_through(act, z, dy64)
        xc = x64 - mean.astype(np.float64)
        what = f"act={act} shape={shape}"
        assert_sums(s[:c], s0[:c] + dz.sum(0), np.abs(s0[:c]) + np.abs(dz).sum(0), dtype, f"sum_dz {what}")
        want = q0[:c] + (dz * xc).sum(0)
        assert_sums(q[:c], want, np.abs(q0[:c]) + np.abs(dz * xc).sum(0), dtype, f"sum_dz_xc {what}")
        assert s[c] == SENTINEL and q[c] == SENTINEL


@pytest.mark.parametrize("act", [IDENTITY, RELU, LEAKY_RELU])
@pytest.mark.parametrize("inference", [False, True])
def test_bn_gradient_apply(isa, dtype, act, inference):
    """dx = a * dz + b * x + d, dz = dy * act'(x * scale + shift); with b = d = 0 (inference)
    an infinite x only picks the derivative (dx stays finite)."""
    rng = np.random.default_rng(32)
    for shape in [(n,) for n in SIZES] + list(ROW_SHAPES):
        run = len(shape) == 1
        c = 1 if run else shape[1]
        scale = (rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c)).astype(dtype)
        shift, a = rand(rng, dtype, c), rand(rng, dtype, c)
        if inference:
            b, d = np.zeros(c, dtype), np.zeros(c, dtype)
        else:
            b, d = rand(rng, dtype, c), rand(rng, dtype, c)
            if not run and c > 1:  # the rows kernel's inference test is over all channels
                b[1:], d[1:] = 0, 0
        x = _away_from_zero(rng, dtype, scale.astype(np.float64), shift.astype(np.float64), shape)
        if inference:
            x.reshape(-1)[::5] = np.inf
            x.reshape(-1)[2::5] = -np.inf
        dy = rand(rng, dtype, *shape)
        buf = np.full(x.size + 3, SENTINEL, dtype)
        out = buf[: x.size].reshape(shape)
        C._test_bn_gradient_apply(isa, dy, x, a, b, d, scale, shift, act, SLOPE, out)
        assert np.all(buf[x.size :] == SENTINEL), "written past dx"
        x64, dy64 = x.astype(np.float64).reshape(-1, c), dy.astype(np.float64).reshape(-1, c)
        a64, b64, d64 = (v.astype(np.float64) for v in (a, b, d))
        z = x64 * scale.astype(np.float64) + shift.astype(np.float64)
        g = a64 * _gradient_through(act, z, dy64)
        what = f"act={act} inference={inference} shape={shape}"
        if inference:
            assert np.all(np.isfinite(out)), f"{what}: an infinite x made dx non-finite"
            want, bound = g, np.abs(g)
        else:
            want, bound = g + b64 * x64 + d64, np.abs(g) + np.abs(b64 * x64) + np.abs(d64)
        assert_sums(out.reshape(-1, c), want, 4 * bound, dtype, what)


# ------------------------------------------------------------------ dropout


def _dropout_high_bits(seed, first, n):
    """The high 32 bits of splitmix64's values first .. first + n - 1 of stream `seed`."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64) + np.uint64(first)
        z = np.uint64(seed) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z >> np.uint64(32)


@pytest.mark.parametrize("n", [1, 7, 16, 33, 1000])
def test_dropout_apply(isa, dtype, n):
    """y[i] = x[i] * (scale if element first + i is kept, else 0), a multiply (NaN stays NaN);
    the mask depends on the seed and the element's index only."""
    rng = np.random.default_rng(33)
    x = rand(rng, dtype, n)
    x[::7] = np.nan
    x[3::11] = np.inf
    for seed, first, threshold in itertools.product(
        (0, 12345, 2**64 - 1), (0, 5, 2**40 + 3), (0, 2**31, 1234567890, 2**32 - 1, "last")
    ):
        high = _dropout_high_bits(seed, first, n)
        if threshold == "last":  # the last element's value exactly: kept (>=)
            threshold = int(high[-1])
        scale = dtype(1 / (1 - threshold / 2**32)) if threshold < 2**32 - 1 else dtype(3.0)
        y = np.full(n + 3, SENTINEL, dtype)
        C._test_dropout_apply(isa, x, seed, first, threshold, float(scale), y[:n])
        keep = high >= np.uint64(threshold)
        with np.errstate(invalid="ignore"):  # inf * 0
            want = x * np.where(keep, scale, dtype(0)).astype(dtype)
        what = f"seed={seed} first={first} threshold={threshold}"
        np.testing.assert_array_equal(y[:n], want, err_msg=what)
        assert np.all(y[n:] == SENTINEL)
        if n > 1:  # split in two at an odd index: the same mask
            half = np.full(n, SENTINEL, dtype)
            C._test_dropout_apply(isa, x[:3], seed, first, threshold, float(scale), half[:3])
            C._test_dropout_apply(isa, x[3:], seed, first + 3, threshold, float(scale), half[3:])
            np.testing.assert_array_equal(half, want, err_msg=f"{what}, split")


# ------------------------------------------------------------ optimizer rules

RMSPROP, ADAM, ADAMAX, NADAM = 4, 5, 6, 7


def _optimizer_reference(kind, variant, c, decay, gs, p, g, s):
    """The rules of elementwise/optimizer_impl.h in float64: (p, states)."""
    p = p * (1 - decay)
    g = g * gs
    s = [v.copy() if v is not None else None for v in s]
    if kind == RMSPROP:
        s[0] = s[0] * c[1] + c[4] * g * g
        if variant in ("centered", "both"):
            s[2] = s[2] * c[1] + c[4] * g
            d = s[0] - s[2] * s[2] + c[3]
        else:
            d = s[0] + c[3]
        step = c[0] * g / np.sqrt(d)
        if variant in ("momentum", "both"):
            s[1] = s[1] * c[2] + step
            p = p - s[1]
        else:
            p = p - step
    elif kind in (ADAM, NADAM):
        s[0] = s[0] + c[1] * (g - s[0])
        s[1] = s[1] + c[2] * (g * g - s[1])
        if kind == ADAM:
            v = s[1]
            if variant == "amsgrad":
                v = s[2] = np.maximum(s[2], s[1])
            p = p - c[0] * s[0] / (np.sqrt(v) + c[3])
        else:
            m_hat = c[4] * s[0] / c[5] + c[6] * g / c[7]
            p = p - c[0] * m_hat / (np.sqrt(s[1] / c[8]) + c[3])
    else:  # ADAMAX
        s[0] = s[0] + c[1] * (g - s[0])
        s[1] = np.maximum(c[2] * s[1], np.abs(g))
        p = p - c[0] * s[0] / (c[4] * (s[1] + c[3]))
    return p, s


OPTIMIZER_CASES = [
    (RMSPROP, "plain"),
    (RMSPROP, "momentum"),
    (RMSPROP, "centered"),
    (RMSPROP, "both"),
    (ADAM, "plain"),
    (ADAM, "amsgrad"),
    (ADAMAX, "plain"),
    (NADAM, "plain"),
]


@pytest.mark.parametrize("n", [1, 7, 33])
@pytest.mark.parametrize("kind,variant", OPTIMIZER_CASES, ids=[f"{k}-{v}" for k, v in OPTIMIZER_CASES])
def test_optimizer_update_adaptive(isa, dtype, n, kind, variant):
    """rmsprop (momentum, centered), adam (amsgrad), adamax and nadam with their c[] of
    elementwise/optimizer_impl.h (test_microkernels.py has the sgd rules and adagrad)."""
    rng = np.random.default_rng(34)
    b1, b2, t = 0.9, 0.999, 3
    c = {
        RMSPROP: [0.01, 0.9, 0.5, 1e-7, 1 - 0.9],
        ADAM: [0.001, 1 - b1, 1 - b2, 1e-7],
        ADAMAX: [0.002, 1 - b1, b2, 1e-7, 1 - b1**t],
        NADAM: [0.002, 1 - b1, 1 - b2, 1e-7, 0.95, 1 - 0.8 * 0.95, 1 - 0.9, 1 - 0.8, 1 - b2**t],
    }[kind]
    decay, gs = 0.01, 0.5
    p0, g = rand(rng, dtype, n), rand(rng, dtype, n)
    s_init = [np.abs(rand(rng, dtype, n)) + dtype(0.5) for _ in range(3)]
    if kind == RMSPROP:  # mg^2 < v: the centered denominator stays positive
        s_init[2] = (s_init[2] * dtype(0.1)).astype(dtype)
    used = {
        "plain": [0, 1][: 1 if kind == RMSPROP else 2],
        "momentum": [0, 1],
        "centered": [0, 2],
        "both": [0, 1, 2],
        "amsgrad": [0, 1, 2],
    }[variant]
    s = [s_init[i].copy() if i in used else None for i in range(3)]
    p = p0.copy()
    C._test_optimizer_update(isa, kind, c, decay, gs, p, g, *s)
    want_p, want_s = _optimizer_reference(
        kind,
        variant,
        c,
        decay,
        gs,
        p0.astype(np.float64),
        g.astype(np.float64),
        [s_init[i].astype(np.float64) if i in used else None for i in range(3)],
    )
    # A chain of a dozen roundings, a division and a square root in the dtype.
    g64 = np.abs(g.astype(np.float64))
    bound = 16 * (np.abs(want_p) + np.abs(p0.astype(np.float64)))
    assert_sums(p, want_p, bound, dtype, f"p kind={kind} {variant}")
    for i in used:
        bound = 16 * (np.abs(want_s[i]) + np.abs(s_init[i].astype(np.float64)) + g64 + g64 * g64)
        assert_sums(s[i], want_s[i], bound, dtype, f"state {i} kind={kind} {variant}")


def test_optimizer_update_needs_its_states(isa, dtype):
    """A rule's required state left out is a ValueError, not a null write."""
    p, g = np.zeros(4, dtype), np.zeros(4, dtype)
    with pytest.raises(ValueError, match="s1"):
        C._test_optimizer_update(isa, ADAM, [0.1, 0.1, 0.1, 1e-7], 0, 1, p, g, p.copy(), None, None)
    with pytest.raises(ValueError, match="s0"):
        C._test_optimizer_update(isa, 1, [0.1, 0.9], 0, 1, p, g, None, None, None)
