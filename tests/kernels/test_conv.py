"""Native conv2d / conv1d, forward and backward, against the NumPy reference.

The grid: every value of every axis (kernel 1..7 per dim, stride, each padding
form, dilation, groups 1 / 2 / depthwise, batch 1..3, channels 1..17, odd and
tiny sizes, bias or not) appears at least once with the other axes drawn at
random; a few axes are crossed in full (kernel x stride x dilation, padding
form x groups x bias); a seeded random sample of the whole cross product and
hand-picked edge cases (input smaller than the kernel, strides that leave
inputs untouched, sizes that cross the GEMM blocking) complete it. Every case
runs in float32 and float64 on every SIMD path the CPU supports (`isa`).
"""

import itertools

import numpy as np
import pytest

import fastcnn.functional as F
import fastcnn.reference as R
from fastcnn import _shapes

from _helpers import assert_close, conv_args, rand

# ------------------------------------------------------------------ the grid

KERNELS = tuple(range(1, 8))
STRIDES_2D = (1, 2, 3, (1, 2), (3, 1))
STRIDES_1D = (1, 2, 3)
DILATIONS_2D = (1, 2, (1, 2), (2, 1))
DILATIONS_1D = (1, 2)
PAD_FORMS_2D = ("int", "per_dim", "explicit", "valid", "same")
PAD_FORMS_1D = ("int", "per_dim", "pair", "explicit", "valid", "same")
GROUP_KINDS = ("1", "2", "depthwise")
BATCHES = (1, 2, 3)
CHANNELS = tuple(range(1, 18))
SIZES = (1, 2, 3, 4, 5, 7, 9, 11, 13)
LENGTHS = (1, 2, 3, 4, 5, 7, 9, 13, 31)
BIAS = (True, False)


def _padding(rng, form, d):
    if form == "int":
        return int(rng.integers(0, 4))
    if form == "per_dim":  # (p_h, p_w), or (p,) for 1-D
        return tuple(int(v) for v in rng.integers(0, 4, d))
    if form == "pair":  # 1-D only: (left, right)
        return tuple(int(v) for v in rng.integers(0, 4, 2))
    if form == "explicit":  # ((t, b), (l, r)), or ((l, r),) for 1-D
        return tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (d, 2)))
    return form  # 'valid' / 'same'


def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def _valid(case, d):
    """True when the reference geometry accepts the case (the kernel fits)."""
    sizes = (case["h"], case["w"]) if d == 2 else (case["w"],)
    kernel = (case["kh"], case["kw"]) if d == 2 else (case["kw"],)
    try:
        stride = _shapes.positive_tuple(case["stride"], d, "stride")
        dilation = _shapes.positive_tuple(case["dilation"], d, "dilation")
        pads = _shapes.padding_nd(case["padding"], sizes, kernel, stride, dilation)
        for n, k, s, p, dl in zip(sizes, kernel, stride, pads, dilation):
            _shapes.conv_output_size(n, k, s, p, dl)
    except ValueError:
        return False
    return True


def draw_case(rng, d, **fixed):
    """A random valid conv case (dict) with the `fixed` axes set."""
    for _ in range(10_000):
        c = dict(
            n=_pick(rng, BATCHES),
            c_in=_pick(rng, CHANNELS),
            group_kind=_pick(rng, GROUP_KINDS),
            kh=_pick(rng, KERNELS) if d == 2 else 1,
            kw=_pick(rng, KERNELS),
            h=_pick(rng, SIZES) if d == 2 else 1,
            w=_pick(rng, SIZES if d == 2 else LENGTHS),
            stride=_pick(rng, STRIDES_2D if d == 2 else STRIDES_1D),
            dilation=_pick(rng, DILATIONS_2D if d == 2 else DILATIONS_1D),
            pad_form=_pick(rng, PAD_FORMS_2D if d == 2 else PAD_FORMS_1D),
            bias=bool(rng.integers(2)),
        )
        c.update(fixed)
        kind, c_in = c["group_kind"], c["c_in"]
        if kind == "1":
            c["groups"], c["c_out"] = 1, int(rng.integers(1, 18))
        elif kind == "2":
            if c_in % 2:
                continue
            c["groups"], c["c_out"] = 2, 2 * int(rng.integers(1, 9))
        else:
            c["groups"], c["c_out"] = c_in, c_in * int(rng.integers(1, 3))
        c["padding"] = fixed.get("padding", _padding(rng, c["pad_form"], d))
        if _valid(c, d):
            return c
    raise AssertionError(f"no valid case with {fixed}")


def build_grid(d, seed, n_random):
    rng = np.random.default_rng(seed)
    axes = dict(
        n=BATCHES,
        c_in=CHANNELS,
        group_kind=GROUP_KINDS,
        kw=KERNELS,
        bias=BIAS,
        w=SIZES if d == 2 else LENGTHS,
        stride=STRIDES_2D if d == 2 else STRIDES_1D,
        dilation=DILATIONS_2D if d == 2 else DILATIONS_1D,
        pad_form=PAD_FORMS_2D if d == 2 else PAD_FORMS_1D,
    )
    if d == 2:
        axes.update(kh=KERNELS, h=SIZES)
    cases = [draw_case(rng, d, **{axis: v}) for axis, values in axes.items() for v in values]
    # a few axes crossed in full
    for k, s, dl in itertools.product(KERNELS, (1, 2, 3), (1, 2)):
        square = dict(kh=k, kw=k) if d == 2 else dict(kw=k)
        cases.append(draw_case(rng, d, stride=s, dilation=dl, **square))
    for form, kind, bias in itertools.product(axes["pad_form"], GROUP_KINDS, BIAS):
        cases.append(draw_case(rng, d, pad_form=form, group_kind=kind, bias=bias))
    # a seeded random sample of the whole cross product
    cases += [draw_case(rng, d) for _ in range(n_random)]
    return cases


def _special_2d():
    base = dict(n=2, c_in=3, c_out=4, group_kind="1", groups=1, bias=True, stride=1, dilation=1)
    specials = [
        # input smaller than the kernel, made to fit by padding
        dict(h=2, w=3, kh=5, kw=5, padding=2, pad_form="int"),
        dict(h=1, w=1, kh=3, kw=3, padding=1, pad_form="int"),
        dict(h=1, w=2, kh=7, kw=7, padding="same", pad_form="same"),
        dict(h=3, w=3, kh=7, kw=7, dilation=2, stride=3, padding="same", pad_form="same"),
        dict(h=2, w=2, kh=4, kw=4, padding=((1, 2), (2, 1)), pad_form="explicit"),
        dict(h=1, w=1, kh=1, kw=1, padding=0, pad_form="int"),
        # strides larger than the kernel: some inputs get no gradient at all
        dict(h=7, w=8, kh=1, kw=1, stride=3, padding=0, pad_form="int"),
        dict(h=9, w=7, kh=2, kw=1, stride=(3, 2), padding=((0, 1), (1, 0)), pad_form="explicit"),
        # stride larger than the input
        dict(h=2, w=3, kh=2, kw=2, stride=3, padding=1, pad_form="int"),
        # thin kernels
        dict(h=9, w=5, kh=7, kw=1, padding=(3, 0), pad_form="per_dim"),
        dict(h=5, w=13, kh=1, kw=7, dilation=(1, 2), padding="valid", pad_form="valid"),
        # even kernel with 'same' and a stride: extra pad after
        dict(h=6, w=7, kh=4, kw=2, stride=2, padding="same", pad_form="same"),
        # padding far beyond the kernel: whole output rows / columns of bias only
        dict(h=1, w=2, kh=2, kw=2, padding=((6, 2), (0, 5)), pad_form="explicit"),
    ]
    return [dict(base, **s) for s in specials]


def _special_1d():
    base = dict(n=2, c_in=3, c_out=4, group_kind="1", groups=1, bias=True, stride=1, dilation=1, kh=1, h=1)
    specials = [
        dict(w=2, kw=5, padding=2, pad_form="int"),
        dict(w=1, kw=7, padding="same", pad_form="same"),
        dict(w=3, kw=3, padding=(2, 0), pad_form="pair"),  # causal
        dict(w=5, kw=4, padding=((0, 3),), pad_form="explicit"),
        dict(w=10, kw=1, stride=3, padding=0, pad_form="int"),
        dict(w=7, kw=3, dilation=2, stride=3, padding="same", pad_form="same"),
        dict(w=1, kw=2, stride=2, padding=(9, 4), pad_form="pair"),
    ]
    return [dict(base, **s) for s in specials]


CONV2D_CASES = build_grid(2, seed=2024_2, n_random=80) + _special_2d()
CONV1D_CASES = build_grid(1, seed=2024_1, n_random=60) + _special_1d()


def case_id(c):
    return (
        f"n{c['n']}-c{c['c_in']}to{c['c_out']}g{c['groups']}-{c['h']}x{c['w']}"
        f"-k{c['kh']}x{c['kw']}-s{c['stride']}-p{c['padding']}-d{c['dilation']}"
        f"-{'b' if c['bias'] else 'nob'}"
    ).replace(" ", "")


def _inputs(case, dtype, d, seed):
    rng = np.random.default_rng(seed)
    spatial = (case["h"], case["w"]) if d == 2 else (case["w"],)
    kernel = (case["kh"], case["kw"]) if d == 2 else (case["kw"],)
    x = rand(rng, (case["n"], case["c_in"]) + spatial, dtype)
    w = rand(rng, (case["c_out"], case["c_in"] // case["groups"]) + kernel, dtype)
    b = rand(rng, (case["c_out"],), dtype) if case["bias"] else None
    return x, w, b, rng


# ---------------------------------------------------------- grid coverage


@pytest.mark.parametrize("d", [1, 2])
def test_grid_covers_every_value_of_every_axis(d):
    cases = CONV2D_CASES if d == 2 else CONV1D_CASES
    axes = dict(
        n=BATCHES,
        c_in=CHANNELS,
        group_kind=GROUP_KINDS,
        kw=KERNELS,
        bias=BIAS,
        w=SIZES if d == 2 else LENGTHS,
        stride=STRIDES_2D if d == 2 else STRIDES_1D,
        dilation=DILATIONS_2D if d == 2 else DILATIONS_1D,
        pad_form=PAD_FORMS_2D if d == 2 else PAD_FORMS_1D,
    )
    if d == 2:
        axes.update(kh=KERNELS, h=SIZES)
    for axis, values in axes.items():
        seen = {c[axis] for c in cases}
        assert set(values) <= seen, f"axis {axis}: missing {set(values) - seen}"
    # input smaller than the kernel (fitting only thanks to padding) is in the grid
    assert any(c["w"] < c["kw"] for c in cases)
    assert any(c["groups"] == c["c_in"] > 2 for c in cases)


# ------------------------------------------------------ native == reference


def _check_conv(case, dtype, d, seed):
    x, w, b, rng = _inputs(case, dtype, d, seed)
    conv, conv_bw = (F.conv2d, F.conv2d_backward) if d == 2 else (F.conv1d, F.conv1d_backward)
    rconv, rconv_bw = (R.conv2d, R.conv2d_backward) if d == 2 else (R.conv1d, R.conv1d_backward)
    kw = conv_args(case)
    out = conv(x, w, b, **kw)
    expect = rconv(x, w, b, **kw)
    assert out.flags.c_contiguous
    assert_close(out, expect, "forward")
    dout = rand(rng, expect.shape, dtype)
    dx, dw, db = conv_bw(dout, x, w, **kw)
    rdx, rdw, rdb = rconv_bw(dout, x, w, **kw)
    assert_close(dx, rdx, "dx")
    assert_close(dw, rdw, "dw")
    assert_close(db, rdb, "db")


@pytest.mark.parametrize("case", CONV2D_CASES, ids=case_id)
def test_conv2d_matches_reference(case, dtype, isa):
    _check_conv(case, dtype, 2, seed=CONV2D_CASES.index(case))


@pytest.mark.parametrize("case", CONV1D_CASES, ids=case_id)
def test_conv1d_matches_reference(case, dtype, isa):
    _check_conv(case, dtype, 1, seed=1000 + CONV1D_CASES.index(case))


# Sizes that cross the GEMM blocking: K beyond one KC block, columns beyond one
# NC block, M and columns not multiples of the register tile, the 1x1
# "identity" gather, many groups.
BLOCKING_CASES = [
    # (N, C_in, C_out, H, W, KH, KW, stride, padding, dilation, groups)
    (2, 70, 37, 23, 21, 3, 3, 1, 1, 1, 1),
    (1, 300, 13, 17, 19, 1, 1, 1, 0, 1, 1),
    (1, 3, 100, 70, 66, 5, 5, 2, 2, 1, 1),
    (2, 32, 64, 30, 31, 5, 5, 1, "same", 1, 32),
    (1, 48, 48, 33, 35, 3, 3, 2, 1, 2, 4),
    (3, 5, 7, 64, 65, 3, 3, 1, 1, 1, 1),
    (1, 1, 1, 200, 130, 7, 7, 3, ((3, 1), (0, 2)), 1, 1),
    # backward-data: strided phases (scattered C) with K over several KC blocks
    (1, 8, 300, 15, 17, 3, 3, 2, 1, 1, 1),
    # the identity gather with K over several blocks and columns below one register tile
    (2, 600, 2, 6, 5, 1, 1, 1, 0, 1, 1),
    # C rows over several L1 groups of A panels (forward M = 200; backward-data
    # M = 150 on strided phases), K over several KC blocks
    (2, 24, 200, 9, 11, 3, 3, 1, 1, 1, 1),
    (1, 150, 20, 12, 13, 3, 3, 2, 1, 1, 1),
]


@pytest.mark.parametrize("algorithm", ["auto", "gemm"])
@pytest.mark.parametrize("case", BLOCKING_CASES, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_conv2d_blocking_sizes_match_reference(case, algorithm, dtype, isa):
    n, ci, co, h, w_, kh, kw, stride, padding, dilation, groups = case
    rng = np.random.default_rng(sum(case[:7]))
    x, w, b = (
        rand(rng, (n, ci, h, w_), dtype),
        rand(rng, (co, ci // groups, kh, kw), dtype),
        rand(rng, (co,), dtype),
    )
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    expect = R.conv2d(x, w, b, **kwargs)
    assert_close(F.conv2d(x, w, b, algorithm=algorithm, **kwargs), expect, "forward")
    dout = rand(rng, expect.shape, dtype)
    for name, got, ref in zip(
        ("dx", "dw", "db"),
        F.conv2d_backward(dout, x, w, algorithm=algorithm, **kwargs),
        R.conv2d_backward(dout, x, w, **kwargs),
    ):
        assert_close(got, ref, name)


# ------------------------------------------------------------------- needs

NEEDS = [
    (),
    ("x",),
    ("w",),
    ("b",),
    ("x", "w"),
    ("x", "b"),
    ("w", "b"),
    ("x", "w", "b"),
    "x",
    "w",
    "b",
    ["b", "x"],
    {"w"},
    ("x", "x"),
]


@pytest.mark.parametrize("d", [1, 2])
def test_needs_subsets(d, dtype, isa):
    rng = np.random.default_rng(7)
    spatial = (6, 7) if d == 2 else (9,)
    kernel = (3, 2) if d == 2 else (3,)
    x, w = rand(rng, (2, 4) + spatial, dtype), rand(rng, (6, 2) + kernel, dtype)
    kw = dict(stride=2, padding=1, groups=2)
    bw = F.conv2d_backward if d == 2 else F.conv1d_backward
    dout = rand(rng, R.conv2d(x, w, **kw).shape if d == 2 else R.conv1d(x, w, **kw).shape, dtype)
    full = bw(dout, x, w, **kw)
    assert all(g is not None for g in full)
    for needs in NEEDS:
        got = bw(dout, x, w, needs=needs, **kw)
        assert isinstance(got, tuple) and len(got) == 3
        wanted = set((needs,) if isinstance(needs, str) else needs)
        for name, g, f in zip("xwb", got, full):
            if name in wanted:
                np.testing.assert_array_equal(g, f, err_msg=f"needs={needs!r}: d{name}")
            else:
                assert g is None, f"needs={needs!r}: d{name} should be None"


# ------------------------------------------------- layouts and conversions


def _layouts(a, rng):
    """Non-contiguous, Fortran-ordered and negatively strided arrays equal to a."""
    wide = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    wide[..., 1::2] = np.nan  # poison: must never be read
    flipped = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    yield "strided", wide[..., ::2]
    yield "fortran", np.asfortranarray(a)
    yield "negative", flipped
    if a.ndim >= 3:
        flipped_all = np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
        yield "negative-outer", flipped_all


@pytest.mark.parametrize("d", [1, 2])
def test_noncontiguous_fortran_and_negative_strides(d, dtype, isa):
    rng = np.random.default_rng(11)
    spatial = (5, 7) if d == 2 else (11,)
    kernel = (3, 3) if d == 2 else (3,)
    x, w, b = rand(rng, (2, 3) + spatial, dtype), rand(rng, (4, 3) + kernel, dtype), rand(rng, (4,), dtype)
    conv, bw = (F.conv2d, F.conv2d_backward) if d == 2 else (F.conv1d, F.conv1d_backward)
    kw = dict(stride=2, padding=1)
    out = conv(x, w, b, **kw)
    dout = rand(rng, out.shape, dtype)
    grads = bw(dout, x, w, **kw)
    for name, xv in _layouts(x, rng):
        assert not xv.flags.c_contiguous
        np.testing.assert_array_equal(conv(xv, w, b, **kw), out, err_msg=f"x {name}")
        for g, e in zip(bw(dout, xv, w, **kw), grads):
            np.testing.assert_array_equal(g, e, err_msg=f"x {name}")
    for name, wv in _layouts(w, rng):
        np.testing.assert_array_equal(conv(x, wv, b, **kw), out, err_msg=f"w {name}")
        for g, e in zip(bw(dout, x, wv, **kw), grads):
            np.testing.assert_array_equal(g, e, err_msg=f"w {name}")
    for name, dv in _layouts(dout, rng):
        for g, e in zip(bw(dv, x, w, **kw), grads):
            np.testing.assert_array_equal(g, e, err_msg=f"dout {name}")
    np.testing.assert_array_equal(
        conv(x, w, np.concatenate([b, b])[::2], **kw), conv(x, w, np.concatenate([b, b])[::2].copy(), **kw)
    )
    np.testing.assert_array_equal(conv(x, w, b[::-1].copy()[::-1], **kw), out)


def test_inputs_untouched_and_outputs_fresh(dtype, isa):
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, (2, 3, 6, 6), dtype), rand(rng, (4, 3, 3, 3), dtype), rand(rng, (4,), dtype)
    copies = [a.copy() for a in (x, w, b)]
    out = F.conv2d(x, w, b, padding=1)
    dout = rand(rng, out.shape, dtype)
    dcopy = dout.copy()
    dx, dw, db = F.conv2d_backward(dout, x, w, padding=1)
    for a, c in zip((x, w, b, dout), copies + [dcopy]):
        np.testing.assert_array_equal(a, c)
    for r in (out, dx, dw, db):
        assert r.dtype == dtype and r.flags.c_contiguous and r.flags.owndata
        assert not any(np.shares_memory(r, a) for a in (x, w, b, dout))
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape


@pytest.mark.parametrize("int_dtype", [np.int8, np.uint8, np.int32, np.int64, np.bool_, np.float16])
def test_other_real_dtypes_become_float32(int_dtype, isa):
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (2, 3, 6, 5))
    w = rng.integers(-2, 3, (4, 3, 3, 2))
    if int_dtype in (np.uint8, np.bool_):
        x, w = np.abs(x), np.abs(w)
    x, w = x.astype(int_dtype), w.astype(int_dtype)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    out = F.conv2d(x, w, np.arange(4), padding=1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, F.conv2d(x32, w32, np.arange(4, dtype=np.float32), padding=1))
    # one side int, other float32: the int side is converted
    np.testing.assert_array_equal(F.conv2d(x, w32, padding=1), F.conv2d(x32, w32, padding=1))
    dout = np.ones(out.shape, dtype=int_dtype)
    grads = F.conv2d_backward(dout, x, w, padding=1)
    expect = F.conv2d_backward(dout.astype(np.float32), x32, w32, padding=1)
    for g, e in zip(grads, expect):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, e)
    # conv1d and Python lists too
    y = F.conv1d([[[1, 2, 3, 4]]], [[[1, -1]]], b=[0.5])
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[[-0.5, -0.5, -0.5]]])


def test_int_input_with_float64_weights_is_a_dtype_mismatch():
    # ints become float32 first, and float32 does not meet float64 silently
    with pytest.raises(TypeError, match="x: float32.*w: float64"):
        F.conv2d(np.ones((1, 1, 3, 3), np.int64), np.ones((1, 1, 2, 2)))


def test_algorithm_gemm_equals_auto(dtype, isa):
    rng = np.random.default_rng(9)
    x, w, b = rand(rng, (2, 4, 9, 8), dtype), rand(rng, (6, 2, 3, 3), dtype), rand(rng, (6,), dtype)
    kw = dict(stride=(2, 1), padding="same", dilation=(1, 2), groups=2)
    auto = F.conv2d(x, w, b, algorithm="auto", **kw)
    assert_close(F.conv2d(x, w, b, algorithm="gemm", **kw), auto, "gemm")
    assert_close(
        F.conv1d(x[:, :, 0], w[:, :, 0], b, algorithm="gemm", stride=2, groups=2),
        F.conv1d(x[:, :, 0], w[:, :, 0], b, stride=2, groups=2),
        "gemm 1-D",
    )


def test_conv1d_equals_conv2d_with_height_one(dtype, isa):
    rng = np.random.default_rng(13)
    x, w, b = rand(rng, (2, 4, 13), dtype), rand(rng, (6, 2, 3), dtype), rand(rng, (6,), dtype)
    kw1 = dict(stride=2, padding=(1, 2), dilation=2, groups=2)
    kw2 = dict(stride=(1, 2), padding=((0, 0), (1, 2)), dilation=(1, 2), groups=2)
    y1 = F.conv1d(x, w, b, **kw1)
    y2 = F.conv2d(x[:, :, None], w[:, :, None], b, **kw2)
    np.testing.assert_array_equal(y1, y2[:, :, 0])
    dout = rand(rng, y1.shape, dtype)
    for g1, g2 in zip(
        F.conv1d_backward(dout, x, w, **kw1),
        F.conv2d_backward(dout[:, :, None], x[:, :, None], w[:, :, None], **kw2),
    ):
        np.testing.assert_array_equal(g1, g2 if g2.ndim == 1 else g2[:, :, 0])


def test_output_shape_follows_conv_output_size(isa):
    for h, k, s, p, dl in itertools.product((1, 4, 7, 10), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        try:
            expect = F.conv_output_size(h, k, s, p, dl)
        except ValueError:
            with pytest.raises(ValueError):
                F.conv2d(np.ones((1, 1, h, h)), np.ones((1, 1, k, k)), stride=s, padding=p, dilation=dl)
            continue
        y = F.conv2d(np.ones((1, 1, h, h + 1)), np.ones((1, 1, k, 1)), stride=s, padding=(p, 0), dilation=dl)
        assert y.shape[2] == expect, (h, k, s, p, dl)


def test_special_values_propagate(dtype, isa):
    # NaN and inf in x reach exactly the outputs whose window contains them
    x = np.zeros((1, 1, 5, 5), dtype)
    x[0, 0, 2, 2] = np.nan
    y = F.conv2d(x, np.ones((1, 1, 3, 3), dtype), padding=0)
    assert np.isnan(y).all()
    y = F.conv2d(x, np.ones((1, 1, 1, 1), dtype))
    assert np.isnan(y).sum() == 1 and np.isnan(y[0, 0, 2, 2])
    # denormal-free large and tiny magnitudes stay relative-accurate
    rng = np.random.default_rng(17)
    for scale in (1e-20, 1e20) if dtype == np.float32 else (1e-200, 1e200):
        xs, ws = rand(rng, (1, 2, 6, 6), dtype) * dtype(scale), rand(rng, (3, 2, 3, 3), dtype)
        assert_close(F.conv2d(xs, ws) / dtype(scale), R.conv2d(xs, ws) / dtype(scale), f"scale {scale}")
