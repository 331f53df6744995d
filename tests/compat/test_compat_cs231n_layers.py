"""fastcnn.compat.cs231n's dropout, layer normalisation, spatial group
normalisation and the fully connected sandwiches (affine_batchnorm_relu,
affine_layernorm_relu, generic_forward/backward) against `_cs231n_loops`,
with finite-difference checks in float64 and the signatures of both
editions (gamma (C,) or (1, C, 1, 1), generic_forward's optional parts)."""

import numpy as np
import pytest

import fastcnn
from fastcnn.compat.cs231n import layer_utils as LU, layers as L

import _cs231n_loops as loops
from _helpers import DTYPES, assert_close, numeric_grad, rand

GRAD_TOL = 1e-6


@pytest.fixture(autouse=True)
def _one_thread():
    fastcnn.set_num_threads(1)


def _check_grads(forward, args, grads, dout, names):
    """Each gradient against central differences of sum(dout * forward()) by
    the array of `args` of the same name."""
    for name, got in zip(names, grads):
        if name is None:
            continue
        assert_close(got, numeric_grad(forward, args[name], dout), f"d{name}", GRAD_TOL)


# ---------------------------------------------------------------------- dropout


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_dropout_matches_the_course_stream(dt):
    """The mask comes from the global NumPy generator as the course's, so a
    seeded call reproduces the loops' (and the course's) numbers exactly."""
    rng = np.random.default_rng(0)
    x = rand(rng, (5, 7, 3), dt)
    param = {"mode": "train", "p": 0.6, "seed": 123}
    out, cache = L.dropout_forward(x, dict(param))
    want, loop_cache = loops.dropout_forward(x, dict(param))
    assert out.dtype == dt
    assert np.array_equal(out, want)
    assert cache[0]["p"] == 0.6 and np.array_equal(cache[1], loop_cache[1])  # (dropout_param, mask)
    dout = rand(rng, x.shape, dt)
    dx = L.dropout_backward(dout, cache)
    assert dx.dtype == dt
    assert_close(dx, loops.dropout_backward(dout, loop_cache).astype(dt), "dx")
    # unseeded: the next draws of the global generator, as the course's
    np.random.seed(7)
    out, _ = L.dropout_forward(x, {"mode": "train", "p": 0.6})
    np.random.seed(7)
    assert np.array_equal(out, loops.dropout_forward(x, {"mode": "train", "p": 0.6})[0])


def test_dropout_keeps_with_probability_p_and_test_mode_is_identity():
    x = np.ones((200, 500))
    for p in (0.25, 0.4, 0.7):
        out, (_, mask) = L.dropout_forward(x, {"mode": "train", "p": p, "seed": 1})
        kept = (out != 0).mean()
        assert abs(kept - p) < 0.01, f"p={p}: kept {kept:.3f}"  # p is the keep probability
        assert np.allclose(out[out != 0], 1 / p)  # inverted dropout: scaled by 1 / p
        assert abs(out.mean() - 1) < 0.02
    out, cache = L.dropout_forward(x, {"mode": "test", "p": 0.3})
    assert out is x and cache[1] is None
    dout = np.full(x.shape, 2.0)
    assert L.dropout_backward(dout, cache) is dout


def test_dropout_gradcheck_f64():
    rng = np.random.default_rng(1)
    x = rand(rng, (4, 6))
    param = {"mode": "train", "p": 0.5, "seed": 3}
    out, cache = L.dropout_forward(x, dict(param))
    dout = rand(rng, out.shape)
    f = lambda: L.dropout_forward(x, dict(param))[0]
    assert_close(L.dropout_backward(dout, cache), numeric_grad(f, x, dout), "dx", GRAD_TOL)


def test_dropout_bad_input():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"\['p'\] \(the keep probability\) must be in \(0, 1\]"):
        L.dropout_forward(x, {"mode": "train", "p": 0})
    with pytest.raises(ValueError, match=r"dropout_param\['mode'\] must be 'train' or 'test'"):
        L.dropout_forward(x, {"mode": "eval", "p": 0.5})
    with pytest.raises(ValueError, match="dropout_param needs the key 'p'"):
        L.dropout_forward(x, {"mode": "train"})


# ------------------------------------------------------------------- layernorm


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_layernorm_matches_loops(dt):
    rng = np.random.default_rng(2)
    x = (4 * rand(rng, (5, 7), dt) + 3).astype(dt)
    gamma, beta = rand(rng, (7,), dt), rand(rng, (7,), dt)
    out, cache = L.layernorm_forward(x, gamma, beta, {})
    want, loop_cache = loops.layernorm_forward(x, gamma, beta, {})
    assert_close(out, want, "out")
    out, cache = L.layernorm_forward(x, gamma, beta, {"eps": 0.5})
    want, loop_cache = loops.layernorm_forward(x, gamma, beta, {"eps": 0.5})
    assert_close(out, want, "out, eps 0.5")
    dout = rand(rng, out.shape, dt)
    for got, expect, name in zip(
        L.layernorm_backward(dout, cache),
        loops.layernorm_backward(dout, loop_cache),
        "dx dgamma dbeta".split(),
    ):
        assert_close(got, expect, name)


def test_layernorm_gradcheck_f64_and_bad_input():
    rng = np.random.default_rng(3)
    args = {"x": rand(rng, (4, 5)), "gamma": rand(rng, (5,)), "beta": rand(rng, (5,))}
    f = lambda: L.layernorm_forward(args["x"], args["gamma"], args["beta"], {})[0]
    out, cache = L.layernorm_forward(args["x"], args["gamma"], args["beta"], {})
    dout = rand(rng, out.shape)
    _check_grads(f, args, L.layernorm_backward(dout, cache), dout, ("x", "gamma", "beta"))
    with pytest.raises(ValueError, match=r"gamma must have shape \(5,\)"):
        L.layernorm_forward(args["x"], np.ones(4), args["beta"], {})
    with pytest.raises(ValueError, match=r"x must be 2-D \(N, D\)"):
        L.layernorm_forward(np.ones((2, 5, 1)), args["gamma"], args["beta"], {})
    with pytest.raises(TypeError, match="ln_param must be a dict"):
        L.layernorm_forward(args["x"], args["gamma"], args["beta"], None)


# ------------------------------------------------------------- spatial groupnorm


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gamma_shape", ["(1, C, 1, 1)", "(C,)"])
def test_spatial_groupnorm_matches_loops(dt, gamma_shape):
    rng = np.random.default_rng(4)
    n, c, h, w, groups = 2, 6, 4, 3, 3
    shape = (1, c, 1, 1) if gamma_shape == "(1, C, 1, 1)" else (c,)
    x = (2 * rand(rng, (n, c, h, w), dt) - 1).astype(dt)
    gamma, beta = rand(rng, shape, dt), rand(rng, shape, dt)
    out, cache = L.spatial_groupnorm_forward(x, gamma, beta, groups, {})
    want, loop_cache = loops.spatial_groupnorm_forward(x, gamma, beta, groups, {})
    assert_close(out, want, "out")
    dout = rand(rng, out.shape, dt)
    grads = L.spatial_groupnorm_backward(dout, cache)
    assert grads[1].shape == grads[2].shape == shape  # gradients of gamma's shape
    want = loops.spatial_groupnorm_backward(dout, loop_cache)
    for got, expect, name in zip(grads, want, "dx dgamma dbeta".split()):
        assert_close(got, expect, name)


def test_spatial_groupnorm_extremes_are_layernorm_and_instance_norm():
    """G = 1 normalises each sample over everything (layernorm of the
    flattened sample); G = C each channel of each sample alone."""
    rng = np.random.default_rng(5)
    x = rand(rng, (3, 4, 2, 5))
    ones, zeros = np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1))
    flat = x.reshape(3, -1)
    want = (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5)
    assert_close(L.spatial_groupnorm_forward(x, ones, zeros, 1, {})[0], want.reshape(x.shape), "G=1")
    mu, var = x.mean((2, 3), keepdims=True), x.var((2, 3), keepdims=True)
    assert_close(L.spatial_groupnorm_forward(x, ones, zeros, 4, {})[0], (x - mu) / np.sqrt(var + 1e-5), "G=C")


def test_spatial_groupnorm_gradcheck_f64_and_bad_input():
    rng = np.random.default_rng(6)
    args = {"x": rand(rng, (2, 4, 3, 2)), "gamma": rand(rng, (1, 4, 1, 1)), "beta": rand(rng, (1, 4, 1, 1))}
    f = lambda: L.spatial_groupnorm_forward(args["x"], args["gamma"], args["beta"], 2, {"eps": 1e-5})[0]
    out, cache = L.spatial_groupnorm_forward(args["x"], args["gamma"], args["beta"], 2, {"eps": 1e-5})
    dout = rand(rng, out.shape)
    _check_grads(f, args, L.spatial_groupnorm_backward(dout, cache), dout, ("x", "gamma", "beta"))
    with pytest.raises(ValueError, match="G=3 must divide the channel count C=4"):
        L.spatial_groupnorm_forward(args["x"], args["gamma"], args["beta"], 3, {})
    with pytest.raises(ValueError, match=r"gamma must have shape \(1, 4, 1, 1\)"):
        L.spatial_groupnorm_forward(args["x"], np.ones((4, 1)), args["beta"], 2, {})
    with pytest.raises(ValueError, match="G must be a positive integer"):
        L.spatial_groupnorm_forward(args["x"], args["gamma"], args["beta"], 0, {})


# ------------------------------------------------------- fully connected sandwiches


def _fc_args(rng, dt=np.float64):
    return {
        "x": rand(rng, (4, 2, 3), dt),
        "w": rand(rng, (6, 5), dt),
        "b": rand(rng, (5,), dt),
        "gamma": rand(rng, (5,), dt),
        "beta": rand(rng, (5,), dt),
    }


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_affine_batchnorm_relu_matches_loops(dt):
    rng = np.random.default_rng(7)
    a = _fc_args(rng, dt)
    ours, theirs = {"mode": "train"}, {"mode": "train"}
    out, cache = LU.affine_batchnorm_relu_forward(a["x"], a["w"], a["b"], a["gamma"], a["beta"], ours)
    args = (a["x"], a["w"], a["b"], a["gamma"], a["beta"])
    want, loop_cache = loops.affine_batchnorm_relu_forward(*args, theirs)
    assert_close(out, want, "out")
    assert_close(ours["running_mean"], theirs["running_mean"], "running_mean")
    dout = rand(rng, out.shape, dt)
    expected = loops.affine_batchnorm_relu_backward(dout, loop_cache)
    for backward in (LU.affine_batchnorm_relu_backward, LU.affine_bn_relu_backward):
        grads = backward(dout, cache)
        assert len(grads) == 5
        for got, expect, name in zip(grads, expected, "dx dw db dgamma dbeta".split()):
            assert_close(got, expect, name)


def test_affine_layernorm_relu_gradcheck_f64():
    rng = np.random.default_rng(8)
    a = _fc_args(rng)
    f = lambda: LU.affine_layernorm_relu_forward(a["x"], a["w"], a["b"], a["gamma"], a["beta"], {})[0]
    out, cache = LU.affine_layernorm_relu_forward(a["x"], a["w"], a["b"], a["gamma"], a["beta"], {})
    dout = rand(rng, out.shape)
    grads = LU.affine_ln_relu_backward(dout, cache)
    _check_grads(f, a, grads, dout, ("x", "w", "b", "gamma", "beta"))


@pytest.mark.parametrize(
    "norm, dropout, last",
    [
        (None, False, True),  # the output layer: affine alone
        (None, False, False),  # affine - relu
        ("batchnorm", False, False),
        ("layernorm", False, False),  # bn_param without 'mode': layernorm, as the 2023 solution
        ("batchnorm", True, False),
        (None, True, False),
    ],
)
def test_generic_forward_backward_gradcheck(norm, dropout, last):
    rng = np.random.default_rng(9)
    a = _fc_args(rng)
    bn_param = {"batchnorm": {"mode": "train"}, "layernorm": {}, None: None}[norm]
    dropout_param = {"mode": "train", "p": 0.7, "seed": 5} if dropout else None

    def forward():
        return LU.generic_forward(
            a["x"],
            a["w"],
            a["b"],
            a["gamma"],
            a["beta"],
            None if bn_param is None else dict(bn_param),
            None if dropout_param is None else dict(dropout_param),
            last=last,
        )

    out, cache = forward()
    assert len(cache) == 5  # (fc, bn, ln, relu, dropout)
    assert (cache[1] is not None) == (norm == "batchnorm") and (cache[2] is not None) == (norm == "layernorm")
    assert (cache[3] is None) == last and (cache[4] is not None) == dropout
    dout = rand(rng, out.shape)
    grads = LU.generic_backward(dout, cache)
    assert len(grads) == 5
    if norm is None:
        assert grads[3] is None and grads[4] is None
    _check_grads(lambda: forward()[0], a, grads, dout, ("x", "w", "b") + (("gamma", "beta") if norm else ()))
    if last:
        assert_close(out, a["x"].reshape(4, -1) @ a["w"] + a["b"], "last layer: affine alone")
