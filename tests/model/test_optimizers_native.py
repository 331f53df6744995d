"""The native optimizer step (one call for every parameter) equals the NumPy
rules (`fastcnn.reference_path()`) step by step, for every optimizer and
option, both dtypes, parameters large and small; odd parameters fall back."""

import numpy as np
import pytest

import fastcnn
from fastcnn import optimizers as O

from _helpers import using_threads

CONFIGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adagrad", {}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"centered": True, "momentum": 0.3}),
    ("adam", {}),
    ("adam", {"amsgrad": True}),
    ("adamw", {}),
    ("adamax", {}),
    ("nadam", {}),
    ("adam", {"weight_decay": 0.01, "clipnorm": 0.5}),
    ("sgd", {"momentum": 0.9, "clipnorm": 1.0}),
]


def _params(rng, dtype):
    shapes = [(3, 4), (5,), (70, 300), (1,), (2, 3, 3, 3)]  # one spans several pieces
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _run(name, kw, dtype, reference, steps=6):
    rng = np.random.default_rng(0)
    params = _params(rng, dtype)
    opt = O.get(name, learning_rate=0.01, **kw)
    with fastcnn.reference_path(reference):
        for step in range(steps):
            grads = [rng.standard_normal(p.shape).astype(dtype) * (step + 1) for p in params]
            opt.step(params, grads)
    return params, opt


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{'-'.join(k)}" for n, k in CONFIGS])
def test_native_step_equals_numpy_rules(dtype, name, kw):
    native, opt_n = _run(name, kw, dtype, reference=False)
    numpy_, opt_r = _run(name, kw, dtype, reference=True)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for a, b in zip(native, numpy_):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    state_n, state_r = opt_n.get_state(), opt_r.get_state()
    assert state_n.keys() == state_r.keys()
    for key in state_n:
        np.testing.assert_allclose(state_n[key], state_r[key], rtol=tol * 10, atol=tol, err_msg=key)


def test_native_step_runs_and_is_thread_independent():
    """The native path really runs (a spy on _C) and gives the same bits on 1 and 2 threads."""
    calls = []
    original = O._C.optimizer_step

    def spy(*args):
        calls.append(args[0])
        return original(*args)

    O._C.optimizer_step = spy
    try:
        results = []
        for threads in (1, 2):
            with using_threads(threads):
                results.append(_run("adam", {}, np.float32, reference=False)[0])
    finally:
        O._C.optimizer_step = original
    assert calls and set(calls) == {"adam"}
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_odd_parameters_fall_back_to_numpy():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8)).astype(np.float32)
    view = base[:, ::2]  # non-contiguous: updated in place
    mixed = [view, rng.standard_normal(3)]  # and mixed dtypes
    expect = [view.copy(), mixed[1].copy()]
    grads = [np.ones_like(view), np.ones(3)]
    O.SGD(0.5).step(mixed, grads)
    np.testing.assert_allclose(mixed[0], expect[0] - 0.5)
    np.testing.assert_allclose(base[:, ::2], expect[0] - 0.5)
    np.testing.assert_allclose(mixed[1], expect[1] - 0.5)


def test_native_call_rejects_bad_arrays():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"grads\[0\]"):
        O._C.optimizer_step("sgd", [0.1], 0.0, 0.0, [p], [np.zeros(5, np.float32)], [[None] * 3])
    with pytest.raises(ValueError, match=r"states\[0\]\[0\] is required"):
        O._C.optimizer_step("adam", [0.1, 0.1, 0.1, 1e-7], 0.0, 0.0, [p], [p.copy()], [[None] * 3])
    with pytest.raises(ValueError, match="unknown optimizer rule"):
        O._C.optimizer_step("lion", [0.1], 0.0, 0.0, [p], [p.copy()], [[None] * 3])
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        O._C.optimizer_step("sgd", [0.1], 0.0, 0.0, [ro], [p.copy()], [[None] * 3])
