"""The drop-in as course code meets it: `import *` in the course's order
keeps the student's own names, each module exports exactly the course
module's names, and caches cross between fastcnn and the course's fast layers
(stand-ins in `_cs231n_loops` that read the course's cache layouts) in both
directions -- or a cache that cannot cross fails with a message naming both
implementations, never an unpacking error."""

import sys
import types

import numpy as np
import pytest

import fastcnn
import fastcnn.compat
from fastcnn.compat import cs231n as C
from fastcnn.compat.cs231n import fast_layers as FL, layer_utils as LU, layers as L, optim
from fastcnn.compat.cs231n.classifiers import cnn

import _cs231n_loops as loops
from _helpers import assert_close, distinct, rand

# the public names of the course's modules (2017 and 2023 editions together)
COURSE_FAST_LAYERS = {
    f"{op}_{direction}_{how}"
    for op, hows in (("conv", ("fast", "strides", "im2col")), ("max_pool", ("fast", "reshape", "im2col")))
    for how in hows
    for direction in ("forward", "backward")
}
COURSE_LAYERS = {
    f"{layer}_{direction}"
    for layer in (
        "affine",
        "relu",
        "batchnorm",
        "layernorm",
        "dropout",
        "spatial_batchnorm",
        "spatial_groupnorm",
    )
    for direction in ("forward", "backward")
} | {
    "batchnorm_backward_alt",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "svm_loss",  # 2017's layers.py (2023's is in assignment 1)
    "softmax_loss",
}
COURSE_LAYER_UTILS = {
    f"{sandwich}_{direction}"
    for sandwich in (
        "affine_relu",
        "conv_relu",
        "conv_bn_relu",
        "conv_relu_pool",
        # what completed solutions add to layer_utils.py / fc_net.py
        "affine_batchnorm_relu",
        "affine_bn_relu",
        "affine_layernorm_relu",
        "affine_ln_relu",
        "generic",
    )
    for direction in ("forward", "backward")
}


@pytest.fixture(autouse=True)
def _one_thread():
    fastcnn.set_num_threads(1)


def _star(module_name, namespace=None):
    """The namespace `from module_name import *` leaves (into `namespace`)."""
    namespace = {} if namespace is None else namespace
    exec(f"from {module_name} import *", namespace)
    return namespace


# --------------------------------------------------------------- import *


def test_each_module_exports_exactly_the_course_names():
    for module, expected in (
        (FL, COURSE_FAST_LAYERS),
        (L, COURSE_LAYERS),
        (LU, COURSE_LAYER_UTILS),
        (optim, {"sgd", "sgd_momentum", "rmsprop", "adam"}),
        (cnn, {"ThreeLayerConvNet"}),
    ):
        names = {k for k in _star(module.__name__) if not k.startswith("__")}
        assert names == expected, f"{module.__name__}: extra {names - expected}, missing {expected - names}"
        for name in names:  # defined in that module, not another module's name passed on
            assert getattr(module, name).__module__ == module.__name__, f"{module.__name__}.{name}"


def test_import_star_in_the_course_order_keeps_the_students_layers(monkeypatch):
    """cnn.py and the notebooks do `from cs231n.layers import *` and then
    `from cs231n.fast_layers import *` (and layer_utils): swapping the last
    two for fastcnn's must leave the student's own layers in place."""
    student = types.ModuleType("student_layers")
    for name in sorted(COURSE_LAYERS) + ["ThreeLayerConvNet"]:
        setattr(student, name, lambda *a, _name=name: ("student's", _name))
    monkeypatch.setitem(sys.modules, "student_layers", student)
    namespace = _star("student_layers")
    _star("fastcnn.compat.cs231n.fast_layers", namespace)
    _star("fastcnn.compat.cs231n.layer_utils", namespace)
    _star("fastcnn.compat.cs231n", namespace)
    for name in sorted(COURSE_LAYERS) + ["ThreeLayerConvNet"]:
        assert namespace[name] is getattr(student, name), f"{name} was replaced"
    for name in COURSE_FAST_LAYERS:
        assert namespace[name] is getattr(FL, name)
    for name in COURSE_LAYER_UTILS:
        assert namespace[name] is getattr(LU, name)
    assert namespace["layers"] is L  # the package's `import *` gives its modules only


def test_every_function_stays_an_attribute_of_the_package():
    """`from fastcnn.compat.cs231n import conv_forward_fast` (the first
    drop-in's spelling) keeps working."""
    for module in (FL, L, LU, optim):
        for name in module.__all__:
            assert getattr(C, name) is getattr(module, name)
    assert C.ThreeLayerConvNet is cnn.ThreeLayerConvNet
    assert fastcnn.compat.cs231n is C


# ------------------------------------------------------------- convolution caches


CONV = ((2, 3, 6, 5), (4, 3, 3, 2), {"stride": 1, "pad": 1})


def _conv_inputs(dt=np.float64):
    rng = np.random.default_rng(0)
    xs, ws, cp = CONV
    x, w, b = rand(rng, xs, dt), rand(rng, ws, dt), rand(rng, ws[:1], dt)
    out, loop_cache = loops.conv_forward_naive(x, w, b, cp)
    dout = rand(rng, out.shape, dt)
    return x, w, b, cp, dout, loops.conv_backward_naive(dout, loop_cache)


@pytest.mark.parametrize("order", ["strides", "im2col"])
def test_fastcnn_conv_caches_feed_the_course_backward(order):
    x, w, b, cp, dout, want = _conv_inputs()
    forward = {"strides": FL.conv_forward_strides, "im2col": FL.conv_forward_im2col}[order]
    _, cache = forward(x, w, b, cp)
    assert len(cache) == 5 and cache[0] is x and cache[3] is cp  # (x, w, b, conv_param, x_cols)
    assert_close(np.asarray(cache[4]), loops.course_conv_columns(x, w.shape, cp, order), "x_cols")
    for got, expect, name in zip(loops.course_conv_backward(dout, cache, order), want, "dx dw db".split()):
        assert_close(got, expect, f"course {order} backward {name}")
    # conv_forward_fast is the strides spelling, as in the course
    _, fast_cache = FL.conv_forward_fast(x, w, b, cp)
    assert_close(np.asarray(fast_cache[4]), loops.course_conv_columns(x, w.shape, cp, "strides"))
    # the naive cache is the course's (x, w, b, conv_param): its naive backward reads it
    _, naive_cache = L.conv_forward_naive(x, w, b, cp)
    assert len(naive_cache) == 4
    for got, expect in zip(loops.conv_backward_naive(dout, naive_cache), want):
        assert_close(got, expect)


def test_fastcnn_backward_never_builds_the_course_columns():
    x, w, b, cp, dout, _ = _conv_inputs()
    for forward in (FL.conv_forward_fast, FL.conv_forward_im2col):
        _, cache = forward(x, w, b, cp)
        FL.conv_backward_fast(dout, cache)
        assert cache[4]._array is None, forward.__name__


@pytest.mark.parametrize("order", ["strides", "im2col"])
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_course_conv_caches_feed_the_fastcnn_backward(order, dt):
    x, w, b, cp, dout, want = _conv_inputs(dt)
    _, course_cache = loops.course_conv_forward(x, w, b, cp, order)
    backwards = (
        FL.conv_backward_fast,
        FL.conv_backward_strides,
        FL.conv_backward_im2col,
        L.conv_backward_naive,
    )
    for backward in backwards:
        for got, expect, name in zip(backward(dout, course_cache), want, "dx dw db".split()):
            assert_close(got, expect, f"{backward.__name__} {name}")


def test_conv_caches_that_cannot_cross_say_so():
    x, w, b, cp, dout, _ = _conv_inputs()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))  # a student's naive forward caching the padded x
    with pytest.raises(ValueError, match=r"conv_backward_fast: dout has shape .* pairs only with that"):
        FL.conv_backward_fast(dout, (padded, w, b, cp))
    with pytest.raises(TypeError, match=r"conv_backward_naive cannot read this cache: .* a tuple of 3 items"):
        L.conv_backward_naive(dout, (x, w, cp))
    with pytest.raises(TypeError, match="another implementation's forward"):
        FL.conv_backward_im2col(dout, {"x": x})


# ------------------------------------------------------------------- pool caches


POOLS = [  # x shape, pool_param: the first tiles (course: reshape), the others do not (im2col)
    ((2, 3, 6, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    ((2, 2, 7, 6), {"pool_height": 3, "pool_width": 2, "stride": 2}),
    ((1, 3, 5, 5), {"pool_height": 2, "pool_width": 2, "stride": 1}),
]


def _pool_inputs(xs, pp):
    rng = np.random.default_rng(1)
    x = distinct(rng, xs)
    out, loop_cache = loops.max_pool_forward_naive(x, pp)
    dout = rand(rng, out.shape)
    return x, dout, loops.max_pool_backward_naive(dout, loop_cache)


@pytest.mark.parametrize("xs, pp", POOLS)
def test_fastcnn_pool_caches_feed_the_course_backward(xs, pp):
    x, dout, want = _pool_inputs(xs, pp)
    _, cache = FL.max_pool_forward_fast(x, pp)
    _, course_cache = loops.course_max_pool_forward_fast(x, pp)
    assert cache[0] == course_cache[0]  # the same method: 'reshape' exactly where the course's picks it
    assert len(cache[1]) == len(course_cache[1])
    if cache[0] == "im2col":
        _, x_cols, argmax, _ = cache[1]
        assert_close(np.asarray(x_cols), course_cache[1][1], "x_cols")
        assert np.array_equal(np.asarray(argmax), course_cache[1][2])
    assert_close(loops.course_max_pool_backward_fast(dout, cache), want, "course backward")
    # the naive cache is the course's (x, pool_param)
    _, naive_cache = L.max_pool_forward_naive(x, pp)
    assert tuple(naive_cache) == (x, pp)
    assert_close(loops.max_pool_backward_naive(dout, naive_cache), want)


@pytest.mark.parametrize("xs, pp", POOLS)
def test_course_pool_caches_feed_the_fastcnn_backward(xs, pp):
    x, dout, want = _pool_inputs(xs, pp)
    _, course_cache = loops.course_max_pool_forward_fast(x, pp)
    for backward in (
        FL.max_pool_backward_fast,
        FL.max_pool_backward_reshape,
        FL.max_pool_backward_im2col,
        L.max_pool_backward_naive,
    ):
        assert_close(backward(dout, course_cache), want, backward.__name__)
        assert_close(backward(dout, course_cache[1]), want, f"{backward.__name__}, the inner cache")


def test_pool_caches_that_cannot_cross_say_so():
    x, dout, _ = _pool_inputs(*POOLS[0])
    with pytest.raises(TypeError, match=r"max_pool_backward_fast cannot read this cache: .*'reshape' \|"):
        FL.max_pool_backward_fast(dout, ("strides", (x, POOLS[0][1])))
    with pytest.raises(TypeError, match="a tuple of 1 items"):
        L.max_pool_backward_naive(dout, (x,))


# ------------------------------------------------------------ normalisation caches


def _student_batchnorm_backward(dout, cache):
    """What a completed assignment's backward does first."""
    x, mu, var, std, gamma, x_hat = cache
    return dout, None, None


@pytest.mark.parametrize(
    "forward, backward, shape",
    [
        (L.batchnorm_forward, L.batchnorm_backward, (4, 3)),
        (L.batchnorm_forward, L.batchnorm_backward_alt, (4, 3)),
        (L.spatial_batchnorm_forward, L.spatial_batchnorm_backward, (2, 3, 2, 2)),
    ],
)
def test_normalisation_caches_pair_only_with_their_own_backward(forward, backward, shape):
    rng = np.random.default_rng(2)
    x, gamma, beta = rand(rng, shape), np.ones(3), np.zeros(3)
    out, cache = forward(x, gamma, beta, {"mode": "train"})
    # a student's backward given fastcnn's cache: a TypeError naming fastcnn's forward
    with pytest.raises(TypeError, match=rf"made by fastcnn.compat.cs231n's {forward.__name__} and is read"):
        _student_batchnorm_backward(out, cache)
    # fastcnn's backward given a student's cache: a TypeError naming both sides
    with pytest.raises(
        TypeError, match=rf"{backward.__name__} reads only the cache of .* a tuple of 6 items"
    ):
        backward(out, (x, 0, 0, 0, gamma, x))
    assert backward(out, cache)[0].shape == shape


def test_normalisation_caches_do_not_cross_layers():
    rng = np.random.default_rng(3)
    x = rand(rng, (2, 4, 3, 3))
    _, spatial = L.spatial_batchnorm_forward(x, np.ones(4), np.zeros(4), {"mode": "train"})
    with pytest.raises(TypeError, match="got fastcnn.compat.cs231n's spatial_batchnorm_forward"):
        L.batchnorm_backward(x, spatial)
    _, group = L.spatial_groupnorm_forward(x, np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1)), 2, {})
    with pytest.raises(TypeError, match="layernorm_backward reads only the cache of"):
        L.layernorm_backward(x.reshape(2, -1), group)
    with pytest.raises(TypeError, match="read only by fastcnn.compat.cs231n's spatial_groupnorm_backward"):
        group[0]


def test_sandwich_caches_cross_both_ways():
    """The course's conv_relu_pool_forward (its fast conv and pool caches, x
    for relu) into fastcnn's backward, and fastcnn's into the course's."""
    rng = np.random.default_rng(4)
    x, w, b = distinct(rng, (2, 3, 6, 6)), rand(rng, (4, 3, 3, 3)), rand(rng, (4,))
    cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    a, conv_cache = loops.course_conv_forward(x, w, b, cp, "strides")
    s, relu_cache = loops.relu_forward(a)
    out, pool_cache = loops.course_max_pool_forward_fast(s, pp)
    course_cache = (conv_cache, relu_cache, pool_cache)
    dout = rand(rng, out.shape)

    def course_backward(dout, cache):
        conv_cache, relu_cache, pool_cache = cache
        ds = loops.course_max_pool_backward_fast(dout, pool_cache)
        return loops.course_conv_backward(loops.relu_backward(ds, relu_cache), conv_cache, "strides")

    want = course_backward(dout, course_cache)
    ours_out, ours_cache = LU.conv_relu_pool_forward(x, w, b, cp, pp)
    assert_close(ours_out, out, "out")
    for got, expect, name in zip(LU.conv_relu_pool_backward(dout, course_cache), want, "dx dw db".split()):
        assert_close(got, expect, f"fastcnn backward, course cache: {name}")
    for got, expect, name in zip(course_backward(dout, ours_cache), want, "dx dw db".split()):
        assert_close(got, expect, f"course backward, fastcnn cache: {name}")
