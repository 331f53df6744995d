"""fastcnn.compat.cs231n.optim against the update formulas written out by
hand: the course's defaults, state kept in config, Adam's t incremented
before use, the native pass (one float dtype) and the NumPy path (mixed
dtypes) alike, the caller's arrays left alone (but sgd's in-place update),
and the 2017 keyword names."""

import numpy as np
import pytest

from fastcnn.compat.cs231n import optim

from _helpers import assert_close, rand


def _arrays(dt=np.float64, shape=(4, 5), seed=0):
    rng = np.random.default_rng(seed)
    return rand(rng, shape, dt), rand(rng, shape, dt)


def test_sgd_updates_w_in_place_with_the_course_default():
    w, dw = _arrays()
    before = w.copy()
    next_w, config = optim.sgd(w, dw)
    assert next_w is w  # the course's sgd mutates w and returns it
    assert config == {"learning_rate": 1e-2}
    assert_close(next_w, before - 1e-2 * dw)
    next_w, _ = optim.sgd(w, dw, {"learning_rate": 0.5})
    assert_close(next_w, before - 1e-2 * dw - 0.5 * dw)


@pytest.mark.parametrize("dw_dtype", [np.float64, np.float32], ids=["native", "numpy"])
def test_sgd_momentum_matches_the_formula(dw_dtype):
    w, dw = _arrays()
    dw = dw.astype(dw_dtype)
    w0 = w.copy()
    next_w, config = optim.sgd_momentum(w, dw)
    assert config["learning_rate"] == 1e-2 and config["momentum"] == 0.9
    v = -1e-2 * dw  # from zero velocity
    assert_close(config["velocity"], v.astype(np.float64), "velocity")
    assert_close(next_w, w0 + v, "next_w")
    assert np.array_equal(w, w0)  # w itself untouched
    velocity_before = config["velocity"].copy()
    next2, config = optim.sgd_momentum(next_w, dw, config)
    v2 = 0.9 * velocity_before - 1e-2 * dw
    assert_close(config["velocity"], v2, "velocity, step 2")
    assert_close(next2, next_w + v2, "next_w, step 2")


def test_rmsprop_matches_the_formula():
    w, dw = _arrays()
    config = {"learning_rate": 0.1, "decay_rate": 0.9, "cache": np.full(w.shape, 0.5)}
    next_w, config = optim.rmsprop(w, dw, config)
    cache = 0.9 * 0.5 + 0.1 * dw**2
    assert_close(config["cache"], cache, "cache")
    assert_close(next_w, w - 0.1 * dw / (np.sqrt(cache) + 1e-8), "next_w")
    assert config["epsilon"] == 1e-8
    _, fresh = optim.rmsprop(w, dw)
    assert fresh["learning_rate"] == 1e-2 and fresh["decay_rate"] == 0.99
    assert_close(fresh["cache"], 0.01 * dw**2, "cache from zeros")


def _adam_by_hand(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t += 1
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw * dw
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, t


@pytest.mark.parametrize(
    "w_dtype, dw_dtype, tol",
    [
        (np.float64, np.float64, 1e-12),  # native pass
        (np.float32, np.float32, 1e-6),  # native pass (a few float32 ulps; a step is ~1e-3)
        (np.float32, np.float64, 1e-12),  # NumPy path, float64 by promotion
    ],
    ids=["native-f64", "native-f32", "numpy-mixed"],
)
def test_adam_matches_the_formula_over_steps(w_dtype, dw_dtype, tol):
    w, _ = _arrays(w_dtype)
    config = None
    ref_w, ref_m, ref_v, ref_t = w.astype(np.float64), 0.0, 0.0, 0
    for step in range(4):
        dw = _arrays(dw_dtype, seed=step + 1)[1]
        w, config = optim.adam(w, dw, config)
        ref_w, ref_m, ref_v, ref_t = _adam_by_hand(ref_w, dw.astype(np.float64), ref_m, ref_v, ref_t)
        assert config["t"] == ref_t == step + 1  # t starts at 0, incremented before use
        assert w.dtype == np.result_type(w_dtype, dw_dtype)
        assert_close(w.astype(np.float64), ref_w, f"w, step {step}", tol)
        assert_close(config["m"].astype(np.float64), ref_m, f"m, step {step}", tol)
        assert_close(config["v"].astype(np.float64), ref_v, f"v, step {step}", tol)
    assert {k: config[k] for k in ("learning_rate", "beta1", "beta2", "epsilon")} == {
        "learning_rate": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
    }


def test_adam_from_a_given_state_leaves_the_callers_arrays_alone():
    """As the notebook's check: m, v and t handed in through config."""
    w, dw = _arrays()
    m, v = np.linspace(0.6, 0.9, w.size).reshape(w.shape), np.linspace(0.7, 0.5, w.size).reshape(w.shape)
    keep = [a.copy() for a in (w, dw, m, v)]
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, config = optim.adam(w, dw, config)
    want_w, want_m, want_v, _ = _adam_by_hand(keep[0], keep[1], keep[2], keep[3], 5, lr=1e-2)
    assert config["t"] == 6
    assert_close(next_w, want_w, "next_w")
    assert_close(config["m"], want_m, "m")
    assert_close(config["v"], want_v, "v")
    for before, after in zip(keep, (w, dw, m, v)):
        assert np.array_equal(before, after)


def test_the_2017_keyword_names_and_bad_input():
    w, dw = _arrays()
    by_new, _ = optim.adam(w=w, dw=dw)
    by_old, _ = optim.adam(x=w, dx=dw)
    assert np.array_equal(by_new, by_old)
    assert_close(optim.rmsprop(x=w, dx=dw)[0], optim.rmsprop(w, dw)[0])
    with pytest.raises(TypeError, match="got both 'x' and 'w'"):
        optim.adam(w=w, x=w, dw=dw)
    with pytest.raises(TypeError, match=r"sgd_momentum\(w, dw, config=None\): missing 1 required"):
        optim.sgd_momentum(w)
    with pytest.raises(ValueError, match=r"dw must have w's shape \(4, 5\), got \(5, 4\)"):
        optim.adam(w, dw.T)
    with pytest.raises(TypeError, match="config must be a dict or None"):
        optim.sgd(w, dw, [("learning_rate", 1)])
