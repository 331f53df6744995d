"""CS231n's `cs231n/optim.py`: the update rules the course's Solver calls,

    # from cs231n import optim         (Solver(..., update_rule='adam'))
    from fastcnn.compat.cs231n import optim

each `rule(w, dw, config=None) -> (next_w, config)`, with the course's
defaults filled into config by setdefault and the rule's state kept in it:

    sgd           learning_rate 1e-2:                  w -= lr dw (in place, as the course's)
    sgd_momentum  learning_rate 1e-2, momentum 0.9,    v = momentum v - lr dw; next_w = w + v
                  velocity (zeros)
    rmsprop       learning_rate 1e-2, decay_rate 0.99, cache = decay cache + (1 - decay) dw^2;
                  epsilon 1e-8, cache (zeros)          next_w = w - lr dw / (sqrt(cache) + eps)
    adam          learning_rate 1e-3, beta1 0.9,       t += 1 (before use); m = beta1 m + (1 - beta1) dw;
                  beta2 0.999, epsilon 1e-8, m, v      v = beta2 v + (1 - beta2) dw^2;
                  (zeros), t 0                         next_w = w - lr m_hat / (sqrt(v_hat) + eps)
                                                       with m_hat = m / (1 - beta1^t), v_hat likewise

sgd_momentum and adam run as one native pass over new arrays (next_w and the
state in config are new arrays; the caller's are left as they were) when w,
dw and the state share one float dtype and shape; otherwise, and for rmsprop,
as NumPy expressions. Adam's t starts at 0 as in the 2018+ editions (some
2017 copies start it at 1). The 2016-2017 keyword names x= and dx= are taken
for w= and dw=.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ... import _C

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def _arguments(w, dw, config=None):
    return w, dw, config


def _rule(update):
    """An update rule with the course's argument handling: config None means
    {}; the 2017 keyword names x and dx mean w and dw; w and dw are checked."""

    @functools.wraps(update)
    def rule(*args, **kwargs):
        for old, new in (("x", "w"), ("dx", "dw")):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{update.__name__}() got both {old!r} and {new!r}")
                kwargs[new] = kwargs.pop(old)
        try:
            w, dw, config = _arguments(*args, **kwargs)
        except TypeError as e:
            problem = str(e).replace("_arguments() ", "")
            raise TypeError(f"{update.__name__}(w, dw, config=None): {problem}") from None
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict or None, got {type(config).__name__}")
        w, dw = np.asarray(w), np.asarray(dw)
        if w.shape != dw.shape:
            raise ValueError(f"{update.__name__}: dw must have w's shape {w.shape}, got {dw.shape}")
        return update(w, dw, config)

    return rule


def _native_ready(w, dw, *states):
    """Whether one native pass can update copies of w and the state."""
    return w.dtype in (np.float32, np.float64) and all(
        isinstance(a, np.ndarray) and a.dtype == w.dtype and a.shape == w.shape for a in (dw, *states)
    )


def _native_step(kind, scalars, w, dw, states):
    """next_w and new state arrays: copies of w and states updated by one native pass."""
    next_w = np.array(w, order="C")
    new_states = [np.array(s, order="C") for s in states]
    _C.optimizer_step(
        kind,
        [float(c) for c in scalars],
        0.0,
        0.0,
        [next_w],
        [np.ascontiguousarray(dw)],
        [new_states + [None] * (3 - len(new_states))],
    )
    return next_w, new_states


@_rule
def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w -= learning_rate * dw, in place
    (as the course's), returning (w, config)."""
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config


@_rule
def sgd_momentum(w, dw, config=None):
    """SGD with momentum: v = momentum * v - learning_rate * dw; next_w = w + v.
    config: learning_rate (1e-2), momentum (0.9), velocity (zeros of w's shape)."""
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    lr, momentum = config["learning_rate"], config["momentum"]
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    if _native_ready(w, dw, v):
        next_w, (v,) = _native_step("sgd_momentum", [lr, momentum], w, dw, [v])
    else:
        v = momentum * v - lr * dw
        next_w = w + v
    config["velocity"] = v
    return next_w, config


@_rule
def rmsprop(w, dw, config=None):
    """RMSProp: cache = decay_rate * cache + (1 - decay_rate) * dw^2;
    next_w = w - learning_rate * dw / (sqrt(cache) + epsilon).
    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8), cache (zeros)."""
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    decay = config["decay_rate"]
    cache = decay * config["cache"] + (1 - decay) * np.square(dw)
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


@_rule
def adam(w, dw, config=None):
    """Adam with bias correction; t is incremented before use.
    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
    m and v (zeros of w's shape), t (0)."""
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    lr, beta1, beta2, eps = (config[k] for k in ("learning_rate", "beta1", "beta2", "epsilon"))
    t = config["t"] + 1
    m, v = config["m"], config["v"]
    if _native_ready(w, dw, m, v):
        # the native rule is w -= alpha m / (sqrt(v) + eps'); with these alpha and
        # eps' it equals lr m_hat / (sqrt(v_hat) + eps) exactly (in real arithmetic)
        root = math.sqrt(1 - beta2**t)
        alpha = lr * root / (1 - beta1**t)
        next_w, (m, v) = _native_step("adam", [alpha, 1 - beta1, 1 - beta2, eps * root], w, dw, [m, v])
    else:
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * np.square(dw)
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        next_w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    config["t"], config["m"], config["v"] = t, m, v
    return next_w, config
