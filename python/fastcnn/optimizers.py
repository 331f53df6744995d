"""Optimizers that update NumPy parameters in place. Names, defaults and rules follow Keras 3.

    opt = Adam(learning_rate=1e-3)
    for x, y in batches:
        ...                                  # compute grads, one array per parameter
        opt.step(params, grads)              # params updated in place, identities kept

One step (Keras 3 `apply_gradients`), for every parameter p with gradient g:
    1. clipnorm:      g <- g * clipnorm / max(||g||, clipnorm)   (each gradient on its own)
    2. weight_decay:  p <- p - lr * weight_decay * p              (decoupled, before the update)
    3. the optimizer's update rule (written in each class' docstring),
then `iterations` grows by one. t = iterations + 1 in the rules is the step number.

State (moments, accumulators) is kept per parameter, by position in the list,
and created on the first step. `get_state()` returns a flat dict of copies,
{"iterations": int, "<slot>/<index>": array, ...}, that `np.savez` can write and
`set_state` reads back, so a restored optimizer continues bit-identically.

`learning_rate` is a float or a callable `schedule(iterations) -> float`
(`fastcnn.schedules`: ExponentialDecay, CosineDecay, ...), evaluated before
every step; `current_learning_rate()` is the value the next step uses. It
stays settable (`opt.learning_rate = 1e-4`, what the LR callbacks do).
`get_config()` / `from_config()` describe an optimizer for model files; a
schedule of `fastcnn.schedules` is kept, a plain function cannot be saved.
Arithmetic runs in each parameter's dtype (float32 stays float32).

Speed: when every parameter (and state array) is a C-contiguous float32 or
float64 array of one dtype, a step is one native call that updates them all
on the thread pool, each rule written in the same order of operations as its
NumPy `update` (`native_rule`). The NumPy `update` methods are the reference
(`fastcnn.reference_path()` runs them) and serve any other parameters.
"""

from __future__ import annotations

import math

import numpy as np

from . import _C, schedules as schedules_module
from ._paths import reference_active

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "Nadam", "get"]

_NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _non_negative(value, name):
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _unit_interval(value, name):
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return value


class Optimizer:
    """Base class: `step` clips, decays and calls the subclass' `update(i, p, g, lr)`.

    Subclasses list their per-parameter arrays in `slot_names()` with initial
    values from `initial_slot(name, p)`, and any scalar state in `scalar_state`.
    """

    scalar_state = ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None):
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else _non_negative(weight_decay, "weight_decay")
        if clipnorm is not None and not float(clipnorm) > 0:
            raise ValueError(f"clipnorm must be > 0, got {clipnorm!r}")
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.iterations = 0
        self.slots = {}  # slot name -> list of arrays, one per parameter

    @property
    def learning_rate(self):
        """The rate as given: a float, or a schedule called with `iterations`."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, dict):  # a saved schedule (get_config)
            value = schedules_module.deserialize(value)
        self._learning_rate = value if callable(value) else _non_negative(value, "learning_rate")

    # -- hooks for subclasses
    def slot_names(self):
        return ()

    def initial_slot(self, name, p):
        return np.zeros_like(p)

    def begin_step(self):
        """Called once per step, before any parameter is updated."""

    def update(self, i, p, g, lr):
        raise NotImplementedError

    def native_rule(self, lr):
        """(rule name, scalars, state slot names for s0..s2) of the native
        update (csrc/kernels/elementwise/optimizer_impl.h), or None: then
        `update` runs per parameter in NumPy."""
        return None

    # -- the step
    def current_learning_rate(self):
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def step(self, params, grads, trainable=None):
        """Update every array of `params` in place from the matching array of `grads`.

        `trainable` (one bool per parameter) leaves the False ones and their
        state untouched (frozen layers); the state stays indexed by position
        in `params`, so freezing and unfreezing keep every slot in place."""
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} params but {len(grads)} grads")
        if trainable is not None and len(trainable) != len(params):
            raise ValueError(f"got {len(trainable)} trainable flags for {len(params)} params")
        keep = [i for i in range(len(params)) if trainable is None or trainable[i]]
        for i, (p, g) in enumerate(zip(params, grads)):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(
                    f"params[{i}] must be a float NumPy array (updated in place), got {type(p).__name__}"
                    + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else "")
                )
            if np.shape(g) != p.shape:
                raise ValueError(f"grads[{i}] shape {np.shape(g)} must equal params[{i}] shape {p.shape}")
        self._build(params)
        lr = self.current_learning_rate()
        self.begin_step()
        rule = None if reference_active() else self.native_rule(lr)
        if rule is not None and self._native_ready(params):
            kind, scalars, state_names = rule
            states = [
                [
                    None if n is None else self.slots[n][i]
                    for n in state_names + (None,) * (3 - len(state_names))
                ]
                for i in keep
            ]
            _C.optimizer_step(
                kind,
                [float(c) for c in scalars],
                (self.weight_decay or 0.0) * lr,
                self.clipnorm or 0.0,
                [params[i] for i in keep],
                [np.require(grads[i], dtype=params[i].dtype, requirements=("C", "A")) for i in keep],
                states,
            )
            self.iterations += 1
            return
        for i in keep:
            p, g = params[i], np.asarray(grads[i], dtype=params[i].dtype)
            if self.clipnorm is not None:
                norm = math.sqrt(float(np.sum(np.square(g, dtype=np.float64))))
                if norm > self.clipnorm:
                    g = g * (self.clipnorm / norm)
            if self.weight_decay:
                p -= p * self.weight_decay * lr
            self.update(i, p, g, lr)
        self.iterations += 1

    def _native_ready(self, params):
        """Whether one native call can update params and state in place."""
        if not params:
            return False
        dtype = params[0].dtype
        arrays = list(params) + [a for arrays in self.slots.values() for a in arrays]
        return dtype in _NATIVE_DTYPES and all(
            type(a) is np.ndarray
            and a.dtype == dtype
            and a.flags.c_contiguous
            and a.flags.aligned
            and a.flags.writeable
            for a in arrays
        )

    def _build(self, params):
        names = self.slot_names()
        if names and not self.slots:
            self.slots = {name: [self.initial_slot(name, p) for p in params] for name in names}
        for name, arrays in self.slots.items():
            shapes = [a.shape for a in arrays]
            if shapes != [p.shape for p in params]:
                raise ValueError(
                    f"optimizer state '{name}' was built for parameter shapes {shapes}, "
                    f"got {[p.shape for p in params]}"
                )
            for i, p in enumerate(params):  # e.g. a float64 checkpoint for float32 params
                if arrays[i].dtype != p.dtype:
                    arrays[i] = arrays[i].astype(p.dtype)

    # -- description
    def get_config(self):
        """Constructor arguments (JSON-ready); a schedule as its `schedules.serialize` dict."""
        skip = {"slots", "iterations", *self.scalar_state}
        config = {k: v for k, v in vars(self).items() if k not in skip and not k.startswith("_")}
        lr = self.learning_rate
        config["learning_rate"] = schedules_module.serialize(lr) if callable(lr) else lr
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- checkpoints
    def get_state(self):
        """Copies of everything that changes during training, as a flat dict."""
        state = {"iterations": self.iterations}
        state.update({name: getattr(self, name) for name in self.scalar_state})
        for name, arrays in self.slots.items():
            for i, a in enumerate(arrays):
                state[f"{name}/{i}"] = a.copy()
        return state

    def set_state(self, state):
        """Restore a dict from `get_state` (values may be 0-d arrays, as after np.load)."""
        state = dict(state)
        self.iterations = int(state.pop("iterations"))
        for name in self.scalar_state:
            setattr(self, name, float(state.pop(name)))
        slots = {}
        for key, value in state.items():
            name, _, index = key.rpartition("/")
            if name not in self.slot_names():
                raise ValueError(f"unknown state entry {key!r} for {type(self).__name__}")
            slots.setdefault(name, {})[int(index)] = np.array(value, copy=True)
        self.slots = {name: [arrays[i] for i in range(len(arrays))] for name, arrays in slots.items()}
        missing = set(self.slot_names()) - set(self.slots)
        if self.slots and missing:
            raise ValueError(f"state lacks entries for {sorted(missing)}")

    def __repr__(self):
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in {"learning_rate": self.learning_rate, **vars(self)}.items()
            if k not in ("slots", "iterations") and k not in self.scalar_state and not k.startswith("_")
        )
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum (Keras 3 rule).

    momentum == 0:  p <- p - lr g
    momentum > 0:   m <- momentum m - lr g              (m starts at 0)
                    p <- p + m                           (nesterov=False)
                    p <- p + momentum m - lr g           (nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _unit_interval(momentum, "momentum")
        self.nesterov = bool(nesterov)

    def slot_names(self):
        return ("momentum",) if self.momentum > 0 else ()

    def native_rule(self, lr):
        if self.momentum == 0:
            return "sgd", [lr], ()
        return ("sgd_nesterov" if self.nesterov else "sgd_momentum"), [lr, self.momentum], ("momentum",)

    def update(self, i, p, g, lr):
        if self.momentum == 0:
            p -= lr * g
            return
        m = self.slots["momentum"][i]
        m *= self.momentum
        m -= lr * g
        if self.nesterov:
            p += self.momentum * m - lr * g
        else:
            p += m


class Adagrad(Optimizer):
    """Adagrad (Keras 3 rule; epsilon inside the square root).

    a <- a + g^2                         (a starts at initial_accumulator_value)
    p <- p - lr g / sqrt(a + epsilon)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _non_negative(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = _non_negative(epsilon, "epsilon")

    def slot_names(self):
        return ("accumulator",)

    def initial_slot(self, name, p):
        return np.full_like(p, self.initial_accumulator_value)

    def native_rule(self, lr):
        return "adagrad", [lr, self.epsilon], ("accumulator",)

    def update(self, i, p, g, lr):
        a = self.slots["accumulator"][i]
        a += np.square(g)
        p -= lr * g / np.sqrt(a + self.epsilon)


class RMSprop(Optimizer):
    """RMSprop (Keras 3 rule; epsilon inside the square root).

    v <- rho v + (1 - rho) g^2                                   (v starts at 0)
    centered:  mg <- rho mg + (1 - rho) g,  d = v - mg^2 + epsilon
    else:      d = v + epsilon
    step = lr g / sqrt(d)
    momentum > 0:  b <- momentum b + step,  p <- p - b
    else:          p <- p - step
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _unit_interval(rho, "rho")
        self.momentum = _unit_interval(momentum, "momentum")
        self.epsilon = _non_negative(epsilon, "epsilon")
        self.centered = bool(centered)

    def slot_names(self):
        return (
            ("velocity",)
            + (("momentum",) if self.momentum > 0 else ())
            + (("average_gradient",) if self.centered else ())
        )

    def native_rule(self, lr):
        return (
            "rmsprop",
            [lr, self.rho, self.momentum, self.epsilon, 1 - self.rho],
            (
                "velocity",
                "momentum" if self.momentum > 0 else None,
                "average_gradient" if self.centered else None,
            ),
        )

    def update(self, i, p, g, lr):
        rho = self.rho
        v = self.slots["velocity"][i]
        v *= rho
        v += (1 - rho) * np.square(g)
        if self.centered:
            mg = self.slots["average_gradient"][i]
            mg *= rho
            mg += (1 - rho) * g
            denominator = v - np.square(mg) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * g / np.sqrt(denominator)
        if self.momentum > 0:
            b = self.slots["momentum"][i]
            b *= self.momentum
            b += increment
            p -= b
        else:
            p -= increment


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras 3 rule with epsilon added to sqrt(v) ("epsilon hat").

    t = iterations + 1
    m <- m + (1 - beta_1) (g - m)
    v <- v + (1 - beta_2) (g^2 - v)
    amsgrad:  v_hat <- max(v_hat, v), used in place of v below
    p <- p - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _unit_interval(beta_1, "beta_1")
        self.beta_2 = _unit_interval(beta_2, "beta_2")
        self.epsilon = _non_negative(epsilon, "epsilon")
        self.amsgrad = bool(amsgrad)

    def slot_names(self):
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def native_rule(self, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        return (
            "adam",
            [alpha, 1 - self.beta_1, 1 - self.beta_2, self.epsilon],
            ("momentum", "velocity", "velocity_hat" if self.amsgrad else None),
        )

    def update(self, i, p, g, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m, v = self.slots["momentum"][i], self.slots["velocity"][i]
        m += (1 - self.beta_1) * (g - m)
        v += (1 - self.beta_2) * (np.square(g) - v)
        if self.amsgrad:
            v_hat = self.slots["velocity_hat"][i]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        p -= alpha * m / (np.sqrt(v) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay on by default (Keras 3's AdamW:
    weight_decay=0.004): p <- p - lr * weight_decay * p before Adam's update."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (Keras 3 rule).

    t = iterations + 1
    m <- m + (1 - beta_1) (g - m)
    u <- max(beta_2 u, |g|)
    p <- p - lr m / ((1 - beta_1^t) (u + epsilon))
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _unit_interval(beta_1, "beta_1")
        self.beta_2 = _unit_interval(beta_2, "beta_2")
        self.epsilon = _non_negative(epsilon, "epsilon")

    def slot_names(self):
        return ("momentum", "norm")

    def native_rule(self, lr):
        t = self.iterations + 1
        return (
            "adamax",
            [lr, 1 - self.beta_1, self.beta_2, self.epsilon, 1 - self.beta_1**t],
            ("momentum", "norm"),
        )

    def update(self, i, p, g, lr):
        t = self.iterations + 1
        m, u = self.slots["momentum"][i], self.slots["norm"][i]
        m += (1 - self.beta_1) * (g - m)
        np.maximum(self.beta_2 * u, np.abs(g), out=u)
        p -= lr * m / ((1 - self.beta_1**t) * (u + self.epsilon))


class Nadam(Optimizer):
    """Nadam, Adam with Nesterov momentum (Dozat 2016), Keras 3 rule.

    t = iterations + 1
    mu_t = beta_1 (1 - 0.5 * 0.96^t),  mu_{t+1} = beta_1 (1 - 0.5 * 0.96^(t+1))
    u_product <- u_product * mu_t                          (starts at 1)
    m <- m + (1 - beta_1) (g - m)
    v <- v + (1 - beta_2) (g^2 - v)
    m_hat = mu_{t+1} m / (1 - u_product mu_{t+1}) + (1 - mu_t) g / (1 - u_product)
    v_hat = v / (1 - beta_2^t)
    p <- p - lr m_hat / (sqrt(v_hat) + epsilon)
    """

    scalar_state = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _unit_interval(beta_1, "beta_1")
        self.beta_2 = _unit_interval(beta_2, "beta_2")
        self.epsilon = _non_negative(epsilon, "epsilon")
        self.u_product = 1.0

    def slot_names(self):
        return ("momentum", "velocity")

    def _mu(self, t):
        return self.beta_1 * (1 - 0.5 * 0.96**t)

    def begin_step(self):
        self.u_product *= self._mu(self.iterations + 1)

    def native_rule(self, lr):
        t = self.iterations + 1
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        return (
            "nadam",
            [
                lr,
                1 - self.beta_1,
                1 - self.beta_2,
                self.epsilon,
                mu_next,
                1 - self.u_product * mu_next,
                1 - mu_t,
                1 - self.u_product,
                1 - self.beta_2**t,
            ],
            ("momentum", "velocity"),
        )

    def update(self, i, p, g, lr):
        t = self.iterations + 1
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        m, v = self.slots["momentum"][i], self.slots["velocity"][i]
        m += (1 - self.beta_1) * (g - m)
        v += (1 - self.beta_2) * (np.square(g) - v)
        m_hat = mu_next * m / (1 - self.u_product * mu_next) + (1 - mu_t) * g / (1 - self.u_product)
        v_hat = v / (1 - self.beta_2**t)
        p -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)


_NAMES = {cls.__name__.lower(): cls for cls in (SGD, Adagrad, RMSprop, Adam, AdamW, Adamax, Nadam)}


def get(identifier, **kwargs):
    """An optimizer from a name ('sgd', 'adam', 'RMSprop', ...), with Keras' defaults
    unless keyword arguments say otherwise. An Optimizer instance is returned as it is."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _NAMES:
        return _NAMES[identifier.lower()](**kwargs)
    raise ValueError(f"unknown optimizer {identifier!r}; known names: {sorted(_NAMES)}")
