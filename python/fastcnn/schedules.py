"""Learning-rate schedules: the rate as a function of the optimizer step (Keras' names).

    lr = schedules.CosineDecay(0.1, decay_steps=10_000, warmup_target=0.4, warmup_steps=500)
    model.compile(optimizers.SGD(learning_rate=lr, momentum=0.9), loss)

A schedule is a callable `schedule(step) -> float`, where `step` is the
optimizer's `iterations` (0 at the first update), so it counts batches, not
epochs; for a rate that changes per epoch use `step = epoch * steps_per_epoch`
or the `LearningRateScheduler` callback. Every optimizer takes one as
`learning_rate=` and evaluates it before each update
(`optimizer.current_learning_rate()`). `get_config()` / `from_config()` and
`serialize` / `deserialize` let `Sequential.save` and `load_model` keep it.

The formulas are Keras 3's (`keras.optimizers.schedules`), plus `StepDecay`
(PyTorch's StepLR) and `OneCycle` (PyTorch's OneCycleLR, learning rate only).
"""

from __future__ import annotations

import bisect
import math

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "CosineDecay",
    "InverseTimeDecay",
    "PolynomialDecay",
    "StepDecay",
    "OneCycle",
    "serialize",
    "deserialize",
]


def _rate(value, name):
    value = float(value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _positive(value, name):
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _step(step):
    step = float(step)
    if not step >= 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    return step


class LearningRateSchedule:
    """Base class: subclasses define `__call__(step)` and keep their constructor
    arguments as attributes of the same names (what `get_config` returns)."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps); with staircase=True
    the exponent is floor(step / decay_steps), so the rate drops in steps."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.decay_rate = _positive(decay_rate, "decay_rate")
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary (len(values) == len(boundaries) + 1)."""

    def __init__(self, boundaries, values):
        boundaries, values = [float(b) for b in boundaries], [_rate(v, "values") for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values must hold one more entry than boundaries, got {len(boundaries)} boundaries "
                f"and {len(values)} values"
            )
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must increase, got {boundaries}")
        self.boundaries, self.values = boundaries, values

    def __call__(self, step):
        return self.values[bisect.bisect_left(self.boundaries, _step(step))]


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warm-up (Loshchilov & Hutter's SGDR, no restarts).

    Without warm-up: lr = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha),
    s = min(step, decay_steps). With warmup_target and warmup_steps: the rate rises
    linearly from initial_learning_rate to warmup_target over warmup_steps, then decays
    from warmup_target as above over decay_steps more steps. alpha is the fraction of
    the starting rate left at the end.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.alpha = float(alpha)
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        self.warmup_target = None if warmup_target is None else _rate(warmup_target, "warmup_target")
        self.warmup_steps = float(warmup_steps)
        if not self.warmup_steps >= 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}")
        if self.warmup_steps > 0 and self.warmup_target is None:
            raise ValueError("warmup_steps needs warmup_target, the rate the warm-up reaches")

    def _decayed(self, step, start):
        fraction = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + math.cos(math.pi * fraction))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _step(step)
        if self.warmup_target is None:
            return self._decayed(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            rise = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + rise * step / self.warmup_steps
        return self._decayed(step - self.warmup_steps, self.warmup_target)


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); with staircase=True
    step / decay_steps is floored."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.decay_rate = _rate(decay_rate, "decay_rate")
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - s / decay_steps) ** power + end, s = min(step, decay_steps);
    with cycle=True decay_steps grows to the next multiple of itself past step instead."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.end_learning_rate = _rate(end_learning_rate, "end_learning_rate")
        self.power = _positive(power, "power")
        self.cycle = bool(cycle)

    def __call__(self, step):
        step, decay_steps = _step(step), self.decay_steps
        if self.cycle:
            decay_steps *= max(1.0, math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        fraction = 1 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * fraction**self.power + (
            self.end_learning_rate
        )


class StepDecay(LearningRateSchedule):
    """initial_learning_rate * gamma ** floor(step / step_size) (PyTorch's StepLR)."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.step_size = _positive(step_size, "step_size")
        self.gamma = _rate(gamma, "gamma")

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** math.floor(_step(step) / self.step_size)


class OneCycle(LearningRateSchedule):
    """The one-cycle policy (Smith & Topin), as PyTorch's OneCycleLR sets the rate.

    The rate starts at max_learning_rate / div_factor, rises to max_learning_rate
    over the first pct_start of total_steps, then falls to
    initial / final_div_factor at step total_steps - 1 (three_phase=True: back down
    to the initial rate first, then to the minimum). anneal_strategy "cos" or
    "linear". Steps past the end keep the last rate (PyTorch raises there).
    """

    def __init__(
        self,
        max_learning_rate,
        total_steps,
        pct_start=0.3,
        div_factor=25.0,
        final_div_factor=1e4,
        anneal_strategy="cos",
        three_phase=False,
    ):
        self.max_learning_rate = _rate(max_learning_rate, "max_learning_rate")
        if isinstance(total_steps, bool) or int(total_steps) != total_steps or total_steps < 2:
            raise ValueError(f"total_steps must be an int >= 2, got {total_steps!r}")
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must lie in (0, 1), got {pct_start!r}")
        self.div_factor = _positive(div_factor, "div_factor")
        self.final_div_factor = _positive(final_div_factor, "final_div_factor")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)

    def _phases(self):
        """(end step, start rate, end rate) of each phase, as OneCycleLR lays them out."""
        initial = self.max_learning_rate / self.div_factor
        minimum = initial / self.final_div_factor
        rise_end = self.pct_start * self.total_steps - 1
        last = self.total_steps - 1
        if self.three_phase:
            return [
                (rise_end, initial, self.max_learning_rate),
                (2 * self.pct_start * self.total_steps - 2, self.max_learning_rate, initial),
                (last, initial, minimum),
            ]
        return [(rise_end, initial, self.max_learning_rate), (last, self.max_learning_rate, minimum)]

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def __call__(self, step):
        step = min(_step(step), self.total_steps - 1)
        phases, begin = self._phases(), 0.0
        for i, (end_step, start, end) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                return self._anneal(start, end, (step - begin) / (end_step - begin))
            begin = end_step
        raise AssertionError("unreachable: the last phase always answers")


_CLASSES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        CosineDecay,
        InverseTimeDecay,
        PolynomialDecay,
        StepDecay,
        OneCycle,
    )
}


def serialize(schedule):
    """{"class_name": ..., "config": ...} of a schedule of this module (JSON-ready)."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            f"only fastcnn.schedules objects can be saved, got {type(schedule).__name__}: "
            "a plain function cannot be written to a model file"
        )
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(spec):
    """The schedule a `serialize` dict describes."""
    cls = _CLASSES.get(spec.get("class_name")) if isinstance(spec, dict) else None
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {spec!r}; known: {sorted(_CLASSES)}")
    return cls.from_config(spec["config"])
