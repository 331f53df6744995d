"""Hypothesis-generated configurations: native == reference, forward and backward.

Shapes, strides, paddings (every form), dilations, groups, dtypes and SIMD
paths are drawn together; geometries the reference rejects are discarded
with `assume`, and for those the native op must reject them too.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastcnn
import fastcnn.functional as F
import fastcnn.reference as R

from _helpers import assert_close, rand, using_isa

ISAS = tuple(fastcnn.cpu_info()["supported_isas"])
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def paddings(d, most=3):
    one = st.integers(0, most)
    pair = st.tuples(one, one)
    return st.one_of(
        one,
        st.tuples(*[one] * d),
        st.tuples(*[pair] * d),
        st.sampled_from(["valid", "same"]),
        *([pair] if d == 1 else []),
    )


@st.composite
def conv_configs(draw, d):
    depthwise = draw(st.booleans())
    if depthwise:
        groups = draw(st.integers(1, 6))
        cin_g, cout_g = 1, draw(st.integers(1, 2))
    else:
        groups = draw(st.integers(1, 3))
        cin_g, cout_g = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(d))
    spatial = tuple(draw(st.integers(1, 10)) for _ in range(d))
    stride = draw(st.one_of(st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * d)))
    dilation = draw(st.one_of(st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * d)))
    return dict(
        n=draw(st.integers(1, 3)),
        c_in=cin_g * groups,
        c_out=cout_g * groups,
        kernel=kernel,
        spatial=spatial,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
        kw=dict(stride=stride, padding=draw(paddings(d)), dilation=dilation, groups=groups),
    )


def _conv_check(cfg, d, dtype, isa):
    rng = np.random.default_rng(cfg["seed"])
    x = rand(rng, (cfg["n"], cfg["c_in"]) + cfg["spatial"], dtype)
    w = rand(rng, (cfg["c_out"], cfg["c_in"] // cfg["kw"]["groups"]) + cfg["kernel"], dtype)
    b = rand(rng, (cfg["c_out"],), dtype) if cfg["bias"] else None
    conv, conv_bw = (F.conv2d, F.conv2d_backward) if d == 2 else (F.conv1d, F.conv1d_backward)
    rconv, rconv_bw = (R.conv2d, R.conv2d_backward) if d == 2 else (R.conv1d, R.conv1d_backward)
    with using_isa(isa):
        try:
            expect = rconv(x, w, b, **cfg["kw"])
        except ValueError:
            with pytest.raises(ValueError):
                conv(x, w, b, **cfg["kw"])
            assume(False)
        assert_close(conv(x, w, b, **cfg["kw"]), expect, "forward")
        dout = rand(rng, expect.shape, dtype)
        for name, got, ref in zip(
            ("dx", "dw", "db"), conv_bw(dout, x, w, **cfg["kw"]), rconv_bw(dout, x, w, **cfg["kw"])
        ):
            assert_close(got, ref, name)


@settings(max_examples=300, **SETTINGS)
@given(cfg=conv_configs(2), dtype=st.sampled_from([np.float32, np.float64]), isa=st.sampled_from(ISAS))
def test_conv2d_hypothesis(cfg, dtype, isa):
    _conv_check(cfg, 2, dtype, isa)


@settings(max_examples=150, **SETTINGS)
@given(cfg=conv_configs(1), dtype=st.sampled_from([np.float32, np.float64]), isa=st.sampled_from(ISAS))
def test_conv1d_hypothesis(cfg, dtype, isa):
    _conv_check(cfg, 1, dtype, isa)


@st.composite
def pool_configs(draw):
    d = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(d))
    half = st.integers(0, min(kernel) // 2)
    padding = draw(
        st.one_of(
            half,
            st.sampled_from(["valid", "same"]),
            st.tuples(*[st.tuples(half, half)] * d),
            st.tuples(*[half] * d),
            *([st.tuples(half, half)] if d == 1 else []),
        )
    )
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * d)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + tuple(
        draw(st.integers(1, 12)) for _ in range(d)
    )
    if len(set(kernel)) == 1 and draw(st.booleans()):
        kernel = kernel[0]  # an int means the same size on every dim
    return dict(
        d=d,
        kernel=kernel,
        stride=stride,
        padding=padding,
        ceil=draw(st.booleans()),
        cip=draw(st.booleans()),
        shape=shape,
    )


def _values(dtype):
    # small integers: many ties, which the reference resolves the same way (first maximum)
    return st.one_of(
        st.integers(-3, 3).map(float),
        st.floats(-100, 100, width=32),
        st.sampled_from([np.inf, -np.inf, np.nan]),
    )


@settings(max_examples=200, **SETTINGS)
@given(
    cfg=pool_configs(),
    dtype=st.sampled_from([np.float32, np.float64]),
    isa=st.sampled_from(ISAS),
    data=st.data(),
)
def test_max_pool_hypothesis(cfg, dtype, isa, data):
    x = data.draw(hnp.arrays(dtype, cfg["shape"], elements=_values(dtype)))
    d, args = cfg["d"], (cfg["kernel"], cfg["stride"], cfg["padding"], cfg["ceil"])
    pool, pool_bw = (F.max_pool2d, F.max_pool2d_backward) if d == 2 else (F.max_pool1d, F.max_pool1d_backward)
    rpool, rpool_bw = (
        (R.max_pool2d, R.max_pool2d_backward) if d == 2 else (R.max_pool1d, R.max_pool1d_backward)
    )
    with using_isa(isa):
        try:
            rout, ridx = rpool(x, *args, return_indices=True)
        except ValueError:
            with pytest.raises(ValueError):
                pool(x, *args)
            assume(False)
        out, idx = pool(x, *args, return_indices=True)
        np.testing.assert_array_equal(out, rout)
        np.testing.assert_array_equal(idx, ridx)
        dout = rand(np.random.default_rng(out.size), out.shape, dtype)
        rdx = rpool_bw(dout, x, *args)
        assert_close(pool_bw(dout, x, *args), rdx, "dx")
        assert_close(pool_bw(dout, x, *args, indices=idx), rdx, "dx with indices")


@settings(max_examples=200, **SETTINGS)
@given(
    cfg=pool_configs(),
    dtype=st.sampled_from([np.float32, np.float64]),
    isa=st.sampled_from(ISAS),
    data=st.data(),
)
def test_avg_pool_hypothesis(cfg, dtype, isa, data):
    x = data.draw(hnp.arrays(dtype, cfg["shape"], elements=st.floats(-100, 100, width=32)))
    d, args = cfg["d"], (cfg["kernel"], cfg["stride"], cfg["padding"], cfg["ceil"], cfg["cip"])
    pool, pool_bw = (F.avg_pool2d, F.avg_pool2d_backward) if d == 2 else (F.avg_pool1d, F.avg_pool1d_backward)
    rpool, rpool_bw = (
        (R.avg_pool2d, R.avg_pool2d_backward) if d == 2 else (R.avg_pool1d, R.avg_pool1d_backward)
    )
    with using_isa(isa):
        try:
            expect = rpool(x, *args)
        except ValueError:
            with pytest.raises(ValueError):
                pool(x, *args)
            assume(False)
        assert_close(pool(x, *args), expect, "avg")
        dout = rand(np.random.default_rng(expect.size), expect.shape, dtype)
        assert_close(pool_bw(dout, x, *args), rpool_bw(dout, x, *args), "avg dx")
