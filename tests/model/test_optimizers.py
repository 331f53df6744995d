"""Optimizers: 3 steps against the published rules written out here, PyTorch twins,
in-place updates, checkpoint round trips, weight decay and clipnorm."""

import io
import math

import numpy as np
import pytest

from fastcnn import optimizers
from fastcnn.optimizers import SGD, Adagrad, Adam, Adamax, Nadam, RMSprop

P0 = [1.0, -2.0]
GRADS = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.5]]  # one gradient per step


def run(opt, p0=P0, grads=GRADS, dtype=np.float64):
    p = np.array(p0, dtype)
    for g in grads:
        opt.step([p], [np.array(g, dtype)])
    return p


# --------------------------------------------------------------- the rules, one scalar at a time


def ref_sgd(lr, momentum=0.0, nesterov=False):
    out = []
    for p, gs in zip(P0, zip(*GRADS)):
        m = 0.0
        for g in gs:
            if momentum == 0:
                p = p - lr * g
            else:
                m = momentum * m - lr * g
                p = p + (momentum * m - lr * g if nesterov else m)
        out.append(p)
    return out


def ref_adagrad(lr, a0, eps):
    out = []
    for p, gs in zip(P0, zip(*GRADS)):
        a = a0
        for g in gs:
            a = a + g * g
            p = p - lr * g / math.sqrt(a + eps)
        out.append(p)
    return out


def ref_rmsprop(lr, rho, momentum, eps, centered):
    out = []
    for p, gs in zip(P0, zip(*GRADS)):
        v = mg = b = 0.0
        for g in gs:
            v = rho * v + (1 - rho) * g * g
            if centered:
                mg = rho * mg + (1 - rho) * g
                step = lr * g / math.sqrt(v - mg * mg + eps)
            else:
                step = lr * g / math.sqrt(v + eps)
            if momentum > 0:
                b = momentum * b + step
                p = p - b
            else:
                p = p - step
        out.append(p)
    return out


def ref_adam(lr, b1, b2, eps, amsgrad=False):
    out = []
    for p, gs in zip(P0, zip(*GRADS)):
        m = v = v_max = 0.0
        for t, g in enumerate(gs, start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            v_max = max(v_max, v)
            v_used = v_max if amsgrad else v
            p = p - lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (math.sqrt(v_used) + eps)
        out.append(p)
    return out


def ref_adamax(lr, b1, b2, eps):
    out = []
    for p, gs in zip(P0, zip(*GRADS)):
        m = u = 0.0
        for t, g in enumerate(gs, start=1):
            m = b1 * m + (1 - b1) * g
            u = max(b2 * u, abs(g))
            p = p - lr * m / ((1 - b1**t) * (u + eps))
        out.append(p)
    return out


def ref_nadam(lr, b1, b2, eps):
    out = []
    for p, gs in zip(P0, zip(*GRADS)):
        m = v = 0.0
        mu_product = 1.0
        for t, g in enumerate(gs, start=1):
            mu_t = b1 * (1 - 0.5 * 0.96**t)
            mu_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
            mu_product = mu_product * mu_t
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat = mu_next * m / (1 - mu_product * mu_next) + (1 - mu_t) * g / (1 - mu_product)
            v_hat = v / (1 - b2**t)
            p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(p)
    return out


RULE_CASES = [
    ("sgd", lambda: SGD(0.1), lambda: ref_sgd(0.1)),
    ("sgd_momentum", lambda: SGD(0.1, momentum=0.9), lambda: ref_sgd(0.1, 0.9)),
    ("sgd_nesterov", lambda: SGD(0.1, momentum=0.9, nesterov=True), lambda: ref_sgd(0.1, 0.9, True)),
    ("adagrad", lambda: Adagrad(0.1), lambda: ref_adagrad(0.1, 0.1, 1e-7)),
    ("rmsprop", lambda: RMSprop(0.01), lambda: ref_rmsprop(0.01, 0.9, 0.0, 1e-7, False)),
    (
        "rmsprop_momentum_centered",
        lambda: RMSprop(0.01, rho=0.8, momentum=0.5, centered=True),
        lambda: ref_rmsprop(0.01, 0.8, 0.5, 1e-7, True),
    ),
    ("adam", lambda: Adam(0.01), lambda: ref_adam(0.01, 0.9, 0.999, 1e-7)),
    (
        "adam_amsgrad",
        lambda: Adam(0.01, beta_2=0.5, amsgrad=True),
        lambda: ref_adam(0.01, 0.9, 0.5, 1e-7, True),
    ),
    ("adamax", lambda: Adamax(0.01), lambda: ref_adamax(0.01, 0.9, 0.999, 1e-7)),
    ("nadam", lambda: Nadam(0.01), lambda: ref_nadam(0.01, 0.9, 0.999, 1e-7)),
]


@pytest.mark.parametrize("name, make, reference", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_three_steps_follow_the_rule(name, make, reference):
    opt = make()
    np.testing.assert_allclose(run(opt), reference(), rtol=1e-13, atol=1e-15)
    assert opt.iterations == 3


def test_sgd_first_step_by_hand():
    p = np.array([1.0, -2.0])
    SGD(learning_rate=0.1).step([p], [np.array([0.5, -1.0])])
    np.testing.assert_array_equal(p, [0.95, -1.9])


def test_adam_first_step_is_about_lr_times_sign():
    # t = 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1 -> step = lr g / (|g| + eps')
    p = np.array([1.0, -2.0])
    Adam(learning_rate=0.01).step([p], [np.array([0.5, -1.0])])
    np.testing.assert_allclose(p, [0.99, -1.99], rtol=1e-6)


def test_rmsprop_keras_docstring_example():
    # keras.optimizers.RMSprop docs: var = 10, loss = var^2 / 2 (gradient var), lr = 0.1 -> 9.683772
    var = np.array([10.0], np.float32)
    RMSprop(learning_rate=0.1).step([var], [var.copy()])
    np.testing.assert_allclose(var, [9.683772], rtol=1e-7)


def test_keras_defaults():
    assert SGD().learning_rate == 0.01 and SGD().momentum == 0 and not SGD().nesterov
    a = Adagrad()
    assert (a.learning_rate, a.initial_accumulator_value, a.epsilon) == (0.001, 0.1, 1e-7)
    r = RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    for cls in (Adam, Adamax, Nadam):
        o = cls()
        assert (o.learning_rate, o.beta_1, o.beta_2, o.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert not Adam().amsgrad


# --------------------------------------------------------------- in place, dtypes, errors

ALL = [c[1] for c in RULE_CASES]


@pytest.mark.parametrize("make", ALL, ids=[c[0] for c in RULE_CASES])
def test_update_in_place_keeps_identity_and_dtype(make):
    opt = make()
    w = np.ones((2, 3), np.float32)
    b = np.zeros(3, np.float32)
    params = [w, b]
    for _ in range(2):
        opt.step(params, [np.full((2, 3), 0.5), np.full(3, -0.5, np.float32)])
    assert params[0] is w and params[1] is b
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert not np.all(w == 1) and not np.all(b == 0)
    # float32 follows float64 closely
    p32 = run(make(), dtype=np.float32)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, run(make()), rtol=1e-5)


def test_bad_arguments():
    opt = Adam()
    with pytest.raises(ValueError):
        opt.step([np.zeros(2)], [np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError):
        opt.step([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(TypeError):
        opt.step([[0.0, 0.0]], [np.zeros(2)])
    opt.step([np.zeros(2)], [np.ones(2)])
    with pytest.raises(ValueError):  # state was built for other shapes
        opt.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError):
        SGD(learning_rate=-1)
    with pytest.raises(ValueError):
        Adam(beta_1=1.0)


def test_learning_rate_schedule_gets_iterations():
    seen = []
    opt = SGD(learning_rate=lambda it: seen.append(it) or 0.1 / (1 + it))
    p = run(opt, grads=[[1.0, 1.0]] * 3)
    assert seen == [0, 1, 2]
    np.testing.assert_allclose(p, np.array(P0) - 0.1 * (1 + 1 / 2 + 1 / 3))


# --------------------------------------------------------------- checkpoints

STATE_CASES = RULE_CASES + [
    (
        "rmsprop_all",
        lambda: RMSprop(0.01, momentum=0.9, centered=True, weight_decay=0.01, clipnorm=1.0),
        None,
    ),
]


@pytest.mark.parametrize("name, make, _", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_state_round_trip_resumes_bit_identically(name, make, _):
    rng = np.random.default_rng(1)
    shapes = [(3, 2), (2,)]
    grads = [[rng.normal(size=s) for s in shapes] for _ in range(6)]
    init = [rng.normal(size=s) for s in shapes]

    straight = [a.copy() for a in init]
    opt = make()
    for g in grads:
        opt.step(straight, g)

    resumed = [a.copy() for a in init]
    first = make()
    for g in grads[:3]:
        first.step(resumed, g)
    buffer = io.BytesIO()  # through np.savez, as a checkpoint would
    np.savez(buffer, **first.get_state())
    buffer.seek(0)
    second = make()
    second.set_state(dict(np.load(buffer)))
    assert second.iterations == 3
    for g in grads[3:]:
        second.step(resumed, g)

    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    assert second.iterations == opt.iterations == 6


def test_get_state_returns_copies():
    opt = Adam()
    p = np.zeros(2)
    opt.step([p], [np.ones(2)])
    state = opt.get_state()
    assert set(state) == {"iterations", "momentum/0", "velocity/0"}
    state["momentum/0"][:] = 123.0
    assert not np.any(opt.get_state()["momentum/0"] == 123.0)
    assert set(Nadam().get_state()) == {"iterations", "u_product"}


def test_set_state_rejects_unknown_entries():
    with pytest.raises(ValueError):
        SGD(momentum=0.9).set_state({"iterations": 0, "velocity/0": np.zeros(2)})


# --------------------------------------------------------------- weight decay and clipnorm


def test_sgd_weight_decay_is_decoupled():
    p = np.array([1.0, -2.0])
    SGD(learning_rate=0.1, weight_decay=0.5).step([p], [np.array([0.5, -1.0])])
    # p <- p - lr wd p, then p <- p - lr g
    np.testing.assert_allclose(p, [1.0 * (1 - 0.05) - 0.05, -2.0 * (1 - 0.05) + 0.1], rtol=1e-15)


@pytest.mark.parametrize("make", ALL, ids=[c[0] for c in RULE_CASES])
def test_weight_decay_shrinks_before_the_update(make):
    lr, wd = 0.01, 0.1
    g = np.array([0.5, -1.0])
    decayed = np.array(P0)
    opt = make()
    opt.weight_decay = wd
    opt.learning_rate = lr
    opt.step([decayed], [g])
    expected = np.array(P0) * (1 - lr * wd)
    plain = make()
    plain.learning_rate = lr
    plain.step([expected], [g])
    np.testing.assert_allclose(decayed, expected, rtol=1e-14)


def test_clipnorm_scales_each_gradient_on_its_own():
    big, small = np.array([3.0, 4.0]), np.array([0.3, 0.4])  # norms 5 and 0.5
    p, q = np.zeros(2), np.zeros(2)
    SGD(learning_rate=1.0, clipnorm=1.0).step([p, q], [big, small])
    np.testing.assert_allclose(p, -big / 5, rtol=1e-15)
    np.testing.assert_allclose(q, -small, rtol=1e-15)


def test_clipnorm_with_adam_is_adam_on_the_clipped_gradient():
    g = np.array([30.0, -40.0])
    p, q = np.array(P0), np.array(P0)
    Adam(0.01, clipnorm=2.0).step([p], [g])
    Adam(0.01).step([q], [g * 2.0 / 50.0])
    np.testing.assert_allclose(p, q, rtol=1e-15)


# --------------------------------------------------------------- get


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", SGD),
        ("adagrad", Adagrad),
        ("rmsprop", RMSprop),
        ("adam", Adam),
        ("adamax", Adamax),
        ("nadam", Nadam),
        ("Adam", Adam),
        ("RMSprop", RMSprop),
    ],
)
def test_get(name, cls):
    assert type(optimizers.get(name)) is cls


def test_learning_rate_stays_settable_and_checked():
    opt = SGD(learning_rate=0.1)
    opt.learning_rate = 0.01
    p = run(opt, grads=[[1.0, 1.0]])
    np.testing.assert_allclose(p, np.array(P0) - 0.01)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -0.5
    opt.learning_rate = lambda step: 0.5 / (step + 1)
    assert opt.current_learning_rate() == 0.25  # iterations is 1
    opt.learning_rate = 0.125
    assert repr(opt).startswith("SGD(learning_rate=0.125, ") and "_learning_rate" not in repr(opt)


@pytest.mark.parametrize("name, make, _", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_config_round_trip_gives_the_same_steps(name, make, _):
    opt = make()
    again = type(opt).from_config(opt.get_config())
    assert again.get_config() == opt.get_config()
    np.testing.assert_array_equal(run(again), run(make()))


def test_get_passes_instances_and_kwargs():
    opt = SGD(momentum=0.5)
    assert optimizers.get(opt) is opt
    assert optimizers.get("adam", learning_rate=0.1).learning_rate == 0.1
    with pytest.raises(ValueError):
        optimizers.get("lbfgs")


# --------------------------------------------------------------- PyTorch twins


def _torch_twin(ours, make_torch, steps=5, tol=1e-12):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    init = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(steps)]
    p = init.copy()
    tp = torch.tensor(init, requires_grad=True)
    topt = make_torch(torch, [tp])
    for g in grads:
        ours.step([p], [g])
        tp.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_torch_sgd(momentum, nesterov):
    # Keras keeps m = -lr * torch's buffer; with a constant lr the paths are identical
    _torch_twin(
        SGD(0.1, momentum=momentum, nesterov=nesterov),
        lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=momentum, nesterov=nesterov),
    )


def test_torch_adagrad():
    # Keras: a0 = 0.1, p -= lr g / sqrt(a + eps); torch: p -= lr g / (sqrt(a) + eps).
    # Identical with torch's eps = 0 and initial_accumulator_value = 0.1 + Keras' eps.
    _torch_twin(
        Adagrad(0.1),
        lambda torch, ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1 + 1e-7, eps=0.0),
    )


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.9, False), (0.5, True)])
def test_torch_rmsprop(momentum, centered):
    # eps sits inside the sqrt in Keras, outside in torch: compare with eps = 0
    _torch_twin(
        RMSprop(0.01, rho=0.9, momentum=momentum, centered=centered, epsilon=0.0),
        lambda torch, ps: torch.optim.RMSprop(
            ps, lr=0.01, alpha=0.9, momentum=momentum, centered=centered, eps=0.0
        ),
    )


@pytest.mark.parametrize("amsgrad", [False, True])
def test_torch_adam(amsgrad):
    # Keras adds eps to sqrt(v) before the bias correction of v ("epsilon hat"), torch after:
    # identical only with eps = 0
    _torch_twin(
        Adam(0.01, epsilon=0.0, amsgrad=amsgrad),
        lambda torch, ps: torch.optim.Adam(ps, lr=0.01, eps=0.0, amsgrad=amsgrad),
    )


def test_torch_adamax():
    # Keras: u = max(b2 u, |g|), divides by u + eps; torch: u = max(b2 u, |g| + eps): eps = 0
    _torch_twin(Adamax(0.01, epsilon=0.0), lambda torch, ps: torch.optim.Adamax(ps, lr=0.01, eps=0.0))


def test_torch_nadam():
    # torch's mu_t uses 0.96 ** (t * momentum_decay); Keras' is momentum_decay = 1.
    # eps placement is the same (sqrt(v_hat) + eps), so the default eps can stay.
    # torch keeps mu_product in its default dtype (float32): make that float64 for the comparison.
    torch = pytest.importorskip("torch")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _torch_twin(
            Nadam(0.01), lambda torch, ps: torch.optim.NAdam(ps, lr=0.01, eps=1e-7, momentum_decay=1.0)
        )
    finally:
        torch.set_default_dtype(default)
