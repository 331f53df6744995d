"""Shared helpers of the native-op tests: tolerances, inputs, finite differences.

The tolerance rule is one relative-to-max-abs measure for every comparison:
max|actual - expected| <= tol * max(1, max|expected|), with tol 1e-4 for
float32 and 1e-10 for float64. NaNs must sit at the same places.
"""

from __future__ import annotations

import contextlib

import numpy as np

import fastcnn

DTYPES = (np.float32, np.float64)
TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def assert_close(actual, expected, what="", tol=None):
    """Same shape and dtype, and max|a - b| <= tol * max(1, max|b|) (NaNs aligned)."""
    assert actual is not None, f"{what}: got None"
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    tol = TOL[expected.dtype] if tol is None else tol
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), f"{what}: NaNs at different places"
    a = actual[~nan_a].astype(np.float64)
    e = expected[~nan_e].astype(np.float64)
    if e.size == 0:
        return
    inf = np.isinf(e)
    assert np.array_equal(a[inf], e[inf]), f"{what}: infinities differ"
    a, e = a[~inf], e[~inf]
    if e.size == 0:
        return
    err = np.max(np.abs(a - e))
    scale = max(1.0, float(np.max(np.abs(e))))
    assert err <= tol * scale, (
        f"{what}: max abs error {err:.3g} > {tol:g} * {scale:.3g} "
        f"(worst at flat index {int(np.argmax(np.abs(a - e)))})"
    )


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def distinct(rng, shape, dtype=np.float64):
    """Values with no ties and gaps of at least 0.01 (exact in float32 too for small sizes)."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n // 2) * 0.01).reshape(shape).astype(dtype)


def numeric_grad(f, a, dout, eps=1e-6):
    """Central differences of sum(dout * f()) with respect to a (perturbed in place)."""
    flat = a.reshape(-1)
    assert np.shares_memory(flat, a)
    grad = np.zeros(a.size)
    for i in range(a.size):
        old = flat[i]
        flat[i] = old + eps
        plus = np.sum(dout * f())
        flat[i] = old - eps
        minus = np.sum(dout * f())
        flat[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(a.shape)


@contextlib.contextmanager
def using_isa(name):
    """Run a block on one SIMD path, restoring the previous one after."""
    before = fastcnn.cpu_info()["isa"]
    fastcnn.set_isa(name)
    try:
        yield
    finally:
        fastcnn.set_isa(before)


@contextlib.contextmanager
def using_threads(n):
    before = fastcnn.get_num_threads()
    fastcnn.set_num_threads(n)
    try:
        yield
    finally:
        fastcnn.set_num_threads(before)


@contextlib.contextmanager
def forced_conv_path(pass_name, path):
    """Every convolution `pass_name` ('forward', 'backward_data',
    'backward_weight') takes `path` where that path applies (the planner's
    test override; fastcnn.explain reports it)."""
    fastcnn._C.set_conv_path_override(pass_name, path)
    try:
        yield
    finally:
        fastcnn._C.set_conv_path_override(pass_name, None)


def conv_args(case):
    """The keyword arguments of a conv case dict (stride, padding, dilation, groups)."""
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


# ------------------------------------------------------------- shared conv-case builders
# A "conv case" is a dict n, c_in, c_out, h, w, kh, kw, stride, dilation, padding and
# optionally groups and bias (the per-path kernel tests in tests/kernels build lists of them).


def random_conv_geometry(rng, kh, kw, max_stride=3, max_dilation=3, max_pad=3, extra_h=12, extra_w=20):
    """Random stride, dilation, per-side padding and an input size h x w that the (dilated)
    kh x kw kernel fits once padded (h < span + extra_h, w < span + extra_w)."""
    stride = tuple(int(v) for v in rng.integers(1, max_stride + 1, 2))
    dilation = tuple(int(v) for v in rng.integers(1, max_dilation + 1, 2))
    pads = tuple(int(v) for v in rng.integers(0, max_pad + 1, 4))
    span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    h = int(rng.integers(max(1, span_h - pads[0] - pads[1]), span_h + extra_h))
    w = int(rng.integers(max(1, span_w - pads[2] - pads[3]), span_w + extra_w))
    return dict(h=h, w=w, stride=stride, dilation=dilation, padding=((pads[0], pads[1]), (pads[2], pads[3])))


def conv_case_id(c):
    """The pytest id of a 2-D conv case (groups appended when the case has them)."""
    s = (
        f"n{c['n']}c{c['c_in']}-{c['c_out']}_{c['h']}x{c['w']}_k{c['kh']}x{c['kw']}"
        f"_s{c['stride']}_d{c['dilation']}_p{c['padding']}"
    )
    return s + (f"_g{c['groups']}" if "groups" in c else "")


def conv_case_inputs(case, dtype, seed):
    """x, w, b (None unless case['bias']), the conv keyword arguments (stride, dilation,
    padding, and groups when the case has them) and the generator, drawn from `seed`."""
    rng = np.random.default_rng(seed)
    groups = case.get("groups", 1)
    x = rand(rng, (case["n"], case["c_in"], case["h"], case["w"]), dtype)
    w = rand(rng, (case["c_out"], case["c_in"] // groups, case["kh"], case["kw"]), dtype)
    b = rand(rng, (case["c_out"],), dtype) if case.get("bias") else None
    kw = dict(stride=case["stride"], dilation=case["dilation"], padding=case["padding"])
    if "groups" in case:
        kw["groups"] = case["groups"]
    return x, w, b, kw, rng
