"""Learning-rate schedules (fastcnn.schedules) against their formulas, hand-computed
values and PyTorch's schedulers; as an optimizer's learning_rate; saved with a model."""

import math

import numpy as np
import pytest

import fastcnn
from fastcnn import Sequential, layers as L, losses, optimizers, schedules

STEPS = [0, 1, 2, 5, 9, 10, 11, 25, 99, 100, 150]


def test_exponential_decay_formula_and_staircase():
    smooth = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    stairs = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    for step in STEPS:
        assert smooth(step) == pytest.approx(0.1 * 0.5 ** (step / 10), rel=1e-12)
        assert stairs(step) == pytest.approx(0.1 * 0.5 ** (step // 10), rel=1e-12)
    assert stairs(9) == 0.1 and stairs(10) == 0.05 and stairs(25) == pytest.approx(0.025)


def test_piecewise_constant_boundaries_belong_to_the_interval_before():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(t) for t in (0, 10, 11, 20, 21, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="one more"):
        schedules.PiecewiseConstantDecay([10], [1.0])
    with pytest.raises(ValueError, match="increase"):
        schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1])


def test_cosine_decay_formula_alpha_and_end():
    s = schedules.CosineDecay(0.2, decay_steps=100, alpha=0.1)
    for step in STEPS:
        t = min(step, 100) / 100
        assert s(step) == pytest.approx(0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * t)) + 0.1), rel=1e-12)
    assert s(0) == pytest.approx(0.2) and s(50) == pytest.approx(0.2 * (0.9 * 0.5 + 0.1))
    assert s(100) == s(1000) == pytest.approx(0.02)  # alpha * initial, held


def test_cosine_decay_with_warmup():
    s = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=0.4, warmup_steps=20)
    assert s(0) == 0.0 and s(10) == pytest.approx(0.2) and s(19) == pytest.approx(0.4 * 19 / 20)
    assert s(20) == pytest.approx(0.4)  # the decay starts from warmup_target
    assert s(70) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s(120) == pytest.approx(0.0, abs=1e-15) and s(500) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="warmup_target"):
        schedules.CosineDecay(0.1, 100, warmup_steps=10)


def test_inverse_time_decay():
    s = schedules.InverseTimeDecay(0.5, decay_steps=10, decay_rate=2.0)
    stairs = schedules.InverseTimeDecay(0.5, decay_steps=10, decay_rate=2.0, staircase=True)
    for step in STEPS:
        assert s(step) == pytest.approx(0.5 / (1 + 2.0 * step / 10), rel=1e-12)
        assert stairs(step) == pytest.approx(0.5 / (1 + 2.0 * (step // 10)), rel=1e-12)


def test_polynomial_decay_with_and_without_cycle():
    s = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.1, power=2.0)
    assert s(0) == 1.0 and s(5) == pytest.approx(0.9 * 0.25 + 0.1) and s(10) == s(99) == pytest.approx(0.1)
    cyc = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.1, power=1.0, cycle=True)
    # step 15: decay_steps becomes 20, 1 - 15 / 20 = 0.25
    assert cyc(0) == 1.0 and cyc(15) == pytest.approx(0.9 * 0.25 + 0.1) and cyc(20) == pytest.approx(0.1)


def test_step_decay():
    s = schedules.StepDecay(0.1, step_size=30, gamma=0.1)
    assert [s(t) for t in (0, 29, 30, 59, 60)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


def test_one_cycle_shape_by_hand():
    s = schedules.OneCycle(1.0, total_steps=100, pct_start=0.25, div_factor=10, final_div_factor=100)
    assert s(0) == pytest.approx(0.1)  # max / div_factor
    assert s(24) == pytest.approx(1.0)  # peak at pct_start * total - 1
    assert s(99) == pytest.approx(0.1 / 100)  # initial / final_div_factor at the last step
    assert s(500) == s(99)  # held after the end
    rates = [s(t) for t in range(100)]
    assert rates[:25] == sorted(rates[:25]) and rates[24:] == sorted(rates[24:], reverse=True)


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_matches_pytorch(three_phase, anneal):
    torch = pytest.importorskip("torch")
    total = 57
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=0.3,
        total_steps=total,
        pct_start=0.3,
        anneal_strategy=anneal,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=three_phase,
        cycle_momentum=False,
    )
    ours = schedules.OneCycle(0.3, total, anneal_strategy=anneal, three_phase=three_phase)
    for step in range(total):
        assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15), step
        opt.step()
        ref.step()


def test_step_and_exponential_match_pytorch():
    torch = pytest.importorskip("torch")
    for ours, make in [
        (schedules.StepDecay(0.1, 7, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.5)),
        (
            schedules.ExponentialDecay(0.1, 1, 0.9),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ),
    ]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        ref = make(opt)
        for step in range(30):
            assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
            opt.step()
            ref.step()


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="initial_learning_rate"):
        schedules.CosineDecay(-1.0, 10)
    with pytest.raises(ValueError, match="alpha"):
        schedules.CosineDecay(0.1, 10, alpha=2.0)
    with pytest.raises(ValueError, match="total_steps"):
        schedules.OneCycle(0.1, 1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        schedules.OneCycle(0.1, 10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="step"):
        schedules.StepDecay(0.1, 5)(-1)


ALL = [
    schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True),
    schedules.PiecewiseConstantDecay([5, 9], [0.3, 0.2, 0.1]),
    schedules.CosineDecay(0.1, 50, alpha=0.05, warmup_target=0.2, warmup_steps=5),
    schedules.InverseTimeDecay(0.1, 10, 0.5),
    schedules.PolynomialDecay(0.1, 20, power=2.0, cycle=True),
    schedules.StepDecay(0.1, 3, 0.5),
    schedules.OneCycle(0.2, 40, three_phase=True),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    again = schedules.deserialize(schedules.serialize(schedule))
    assert again == schedule and again is not schedule
    assert [again(t) for t in range(60)] == [schedule(t) for t in range(60)]


def test_serialize_rejects_plain_functions_and_unknown_names():
    with pytest.raises(TypeError, match="plain function"):
        schedules.serialize(lambda step: 0.1)
    with pytest.raises(ValueError, match="unknown"):
        schedules.deserialize({"class_name": "Nope", "config": {}})


def test_optimizer_evaluates_the_schedule_at_every_step():
    schedule = schedules.PiecewiseConstantDecay([1], [0.5, 0.1])  # 0.5 for steps 0 and 1
    opt = optimizers.SGD(learning_rate=schedule)
    p = np.array([1.0, 2.0])
    for _ in range(3):
        opt.step([p], [np.ones(2)])
    np.testing.assert_allclose(p, np.array([1.0, 2.0]) - (0.5 + 0.5 + 0.1))
    assert opt.current_learning_rate() == 0.1 and opt.learning_rate is schedule


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad", "adamw", "adamax", "nadam"])
def test_every_optimizer_takes_a_schedule_and_saves_it(tmp_path, name):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    schedule = schedules.CosineDecay(0.05, decay_steps=8)

    def build():
        model = Sequential([L.Input((4,)), L.Dense(3, seed=0)])
        model.compile(
            optimizers.get(name, learning_rate=schedule),
            losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    model = build()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, seed=0)
    assert model.optimizer.current_learning_rate() == pytest.approx(schedule(4))
    model.save(tmp_path / "m.npz")
    loaded = fastcnn.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.learning_rate == schedule
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, seed=1)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, seed=1)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_plain_function_rate_cannot_be_saved(tmp_path):
    model = Sequential([L.Input((4,)), L.Dense(3, seed=0)])
    model.compile(optimizers.SGD(learning_rate=lambda step: 0.1), "mse")
    with pytest.raises(ValueError, match="fastcnn.schedules"):
        model.save(tmp_path / "m.npz")
