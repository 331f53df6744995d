"""Loss functions on NumPy arrays, with their gradients. Names follow Keras.

Every loss is a small class:

    loss = CategoricalCrossentropy(from_logits=True)
    value = loss(y_pred, y_true)            # a Python float
    dy = loss.gradient(y_pred, y_true)      # d value / d y_pred, shape of y_pred

or, in a training loop, `value = loss.forward(y_pred, y_true)` (which keeps the
inputs) followed by `dy = loss.backward()`.

Argument order is Keras' order turned around to match the call order of a
training loop: `(y_pred, y_true)`.

Reductions follow Keras' definitions (reduction "sum_over_batch_size"): the
per-sample loss is a mean over the last axis (MSE, MAE, binary cross-entropy,
hinge) or a sum over the last axis (categorical cross-entropies, KL
divergence), and the value is the mean of the per-sample losses over every
leading axis. With rows of equal length, "mean over the last axis then mean
over the batch" is simply the mean over all elements. `ContrastiveLoss` (not in
Keras core; TensorFlow Addons' definition) is a mean over all elements.

Probabilities (from_logits=False) are clipped to [EPSILON, 1 - EPSILON] before
the log, as Keras does; where the clip is active the gradient is zero (the
derivative of the clipped function, as in TensorFlow). With from_logits=True the
log-softmax / log-sigmoid is computed stably (max subtraction, log1p), so logits
of +-1e4 give finite values and gradients.

Sample weights (Keras' rule): `loss(y_pred, y_true, sample_weight)` with
sample_weight of shape (N,) (or any leading part of y_pred's shape without its
last axis) multiplies each per-sample loss, and the value is
sum(w * per_sample_loss) / number_of_samples (SUM_OVER_BATCH_SIZE: divided by
the count, not by the sum of the weights); the gradient is scaled the same way.

Label smoothing (the cross-entropies, `label_smoothing=ls`): categorical targets
become t (1 - ls) + ls / classes, binary targets t (1 - ls) + ls / 2, before
the loss; the native softmax cross-entropy takes the smoothed (and weighted)
targets as they are, so smoothing keeps the fast path.

dtypes: float32 and float64 are kept (the gradient has y_pred's dtype); any
other real dtype is converted to float32. y_true is cast to y_pred's dtype.
"""

from __future__ import annotations

import numpy as np

from . import elementwise as F
from ._paths import reference_active
from ._shapes import as_float_array

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MSE",
    "MeanAbsoluteError",
    "MAE",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "Hinge",
    "KLDivergence",
    "ContrastiveLoss",
    "get",
    "EPSILON",
]

EPSILON = 1e-7  # keras.config.epsilon()


class Loss:
    """Base class: subclasses define `_value(y_pred, y_true)`, `_gradient(y_pred, y_true)`
    and, for sample weights, `_row_losses(y_pred, y_true)` (the loss of each row: every
    axis but the last)."""

    def __init__(self):
        self._cache = None

    def __call__(self, y_pred, y_true, sample_weight=None):
        """The loss value (mean over the batch) as a Python float."""
        return float(self._weighted_value(*self._prepare_weighted(y_pred, y_true, sample_weight)))

    def gradient(self, y_pred, y_true, sample_weight=None):
        """d loss / d y_pred: an array of y_pred's shape and float dtype."""
        return self._weighted_gradient(*self._prepare_weighted(y_pred, y_true, sample_weight))

    def forward(self, y_pred, y_true, sample_weight=None):
        """The loss value; keeps the inputs for `backward`."""
        self._cache = self._prepare_weighted(y_pred, y_true, sample_weight)
        return float(self._weighted_value(*self._cache))

    def backward(self):
        """d loss / d y_pred for the inputs of the last `forward`."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self._weighted_gradient(*self._cache)

    def _prepare(self, y_pred, y_true):
        y_pred = as_float_array(y_pred, "y_pred")
        y_true = as_float_array(y_true, "y_true").astype(y_pred.dtype, copy=False)
        if y_pred.ndim == 0 or y_pred.size == 0:
            raise ValueError(f"y_pred must have at least one dim and one element, got shape {y_pred.shape}")
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true shape {y_true.shape} must equal y_pred shape {y_pred.shape}")
        return y_pred, y_true

    def _prepare_weighted(self, y_pred, y_true, sample_weight):
        """(y_pred, targets, row weights or None): targets smoothed, weights checked and
        shaped to broadcast over the rows (y_pred's shape without its last axis)."""
        y_pred, y_true = self._prepare(y_pred, y_true)
        y_true = self._smooth(y_true)
        if sample_weight is None:
            return y_pred, y_true, None
        return self._fold_weights(y_pred, y_true, _row_weights(sample_weight, y_pred))

    def _smooth(self, y_true):
        return y_true

    def _fold_weights(self, y_pred, y_true, weights):
        """Losses linear in their targets fold the weights into them (one code path)."""
        return y_pred, y_true, weights

    def _weighted_value(self, y_pred, y_true, weights):
        if weights is None:
            return self._value(y_pred, y_true)
        return np.mean(self._row_losses(y_pred, y_true) * weights)

    def _weighted_gradient(self, y_pred, y_true, weights):
        grad = self._gradient(y_pred, y_true)
        return grad if weights is None else grad * weights[..., None]

    def _row_losses(self, y_pred, y_true):
        raise NotImplementedError(f"{type(self).__name__} does not take sample weights")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _row_weights(sample_weight, y_pred):
    """sample_weight as y_pred's dtype, shaped to broadcast over y_pred's rows."""
    w = as_float_array(sample_weight, "sample_weight").astype(y_pred.dtype, copy=False)
    rows = y_pred.shape[:-1]
    if w.ndim == len(rows) + 1 and w.shape[-1] == 1:  # (N, 1) as Keras allows
        w = w[..., 0]
    if w.ndim == 0 or w.ndim > len(rows) or w.shape != rows[: w.ndim]:
        raise ValueError(
            f"sample_weight shape {w.shape} must be the leading part of y_pred's shape without "
            f"its last axis, {rows} (e.g. ({rows[0] if rows else 'N'},) for one weight per sample)"
        )
    return w.reshape(w.shape + (1,) * (len(rows) - w.ndim))


def _smoothing(value):
    value = float(value)
    if not 0 <= value <= 1:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {value!r}")
    return value


def _nan_where_nan(grad, y_pred):
    """A NaN prediction gets a NaN gradient: clipping and hinge masks would
    otherwise turn it into a silent 0 (and training would go on)."""
    nan = np.isnan(y_pred)
    if nan.any():
        grad = np.where(np.broadcast_to(nan, grad.shape), np.asarray(np.nan, grad.dtype), grad)
    return grad


def _rows(y):
    """Number of samples: every axis but the last (classes / features) is a batch axis."""
    return y.size // y.shape[-1]


def _epsilon(dtype):
    return np.asarray(EPSILON, dtype)


def _clip_probabilities(p, upper=None):
    """p clipped to [eps, 1 - eps] (or [eps, upper]) and the mask where the clip is inactive."""
    eps = _epsilon(p.dtype)
    hi = (1 - eps) if upper is None else np.asarray(upper, p.dtype)
    inside = (p >= eps) & (p <= hi)
    return np.clip(p, eps, hi), inside


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(x):
    """x - logsumexp(x) over the last axis, with the max subtracted first."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


# ------------------------------------------------------------------ regression


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)^2): mean over the last axis, then over the batch.

    gradient: 2 (y_pred - y_true) / size.
    """

    def _value(self, y_pred, y_true):
        return np.mean(np.square(y_pred - y_true))

    def _row_losses(self, y_pred, y_true):
        return np.mean(np.square(y_pred - y_true), axis=-1)

    def _gradient(self, y_pred, y_true):
        return (2 / y_pred.size) * (y_pred - y_true)


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|): mean over the last axis, then over the batch.

    gradient: sign(y_pred - y_true) / size (0 where they are equal).
    """

    def _value(self, y_pred, y_true):
        return np.mean(np.abs(y_pred - y_true))

    def _row_losses(self, y_pred, y_true):
        return np.mean(np.abs(y_pred - y_true), axis=-1)

    def _gradient(self, y_pred, y_true):
        return np.sign(y_pred - y_true) / np.asarray(y_pred.size, y_pred.dtype)


MSE = MeanSquaredError
MAE = MeanAbsoluteError


# ------------------------------------------------------------- classification


class BinaryCrossentropy(Loss):
    """-(t log p + (1 - t) log(1 - p)), mean over the last axis, then over the batch.

    from_logits=False: p = clip(y_pred, eps, 1 - eps);
        gradient (p - t) / (p (1 - p)) / size, zero where clipped.
    from_logits=True: p = sigmoid(x), value max(x, 0) - x t + log1p(exp(-|x|));
        gradient (sigmoid(x) - t) / size. Exact and unclipped, as TensorFlow's
        sigmoid_cross_entropy_with_logits and torch's BCEWithLogitsLoss (Keras'
        NumPy/JAX backends clip sigmoid(x) to [eps, 1 - eps] instead).
    label_smoothing=ls: t becomes t (1 - ls) + ls / 2.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0):
        super().__init__()
        self.from_logits = bool(from_logits)
        self.label_smoothing = _smoothing(label_smoothing)

    def _smooth(self, y_true):
        ls = self.label_smoothing
        return y_true if ls == 0 else y_true * (1 - ls) + 0.5 * ls

    def _elements(self, y_pred, y_true):
        if self.from_logits:
            x = y_pred
            return np.maximum(x, 0) - x * y_true + np.log1p(np.exp(-np.abs(x)))
        p, _ = _clip_probabilities(y_pred)
        return -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))

    def _value(self, y_pred, y_true):
        return np.mean(self._elements(y_pred, y_true))

    def _row_losses(self, y_pred, y_true):
        return np.mean(self._elements(y_pred, y_true), axis=-1)

    def _gradient(self, y_pred, y_true):
        n = np.asarray(y_pred.size, y_pred.dtype)
        if self.from_logits:
            return (_sigmoid(y_pred) - y_true) / n
        p, inside = _clip_probabilities(y_pred)
        return _nan_where_nan(
            np.where(inside, (p - y_true) / (p * (1 - p)), 0).astype(y_pred.dtype) / n, y_pred
        )


class CategoricalCrossentropy(Loss):
    """-sum_c t_c log p_c over the last (class) axis, mean over the batch; one-hot t.

    from_logits=True: log p = log_softmax(x) (max subtracted);
        gradient (softmax(x) sum_c t_c - t) / batch, i.e. softmax(x) - t for one-hot t.
    from_logits=False (Keras): q = y_pred / sum_c y_pred, p = clip(q, eps, 1 - eps);
        with g_c = -t_c / p_c (0 where clipped), gradient (g - sum_c g_c q_c) / sum_c y_pred / batch.
    label_smoothing=ls: t becomes t (1 - ls) + ls / classes (Keras; PyTorch's
        cross_entropy(label_smoothing=) for labels).
    Value and gradient are linear in t, so a sample weight w scales the sample's
    target row: the native pass computes the weighted loss and gradient as they are.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0):
        super().__init__()
        self.from_logits = bool(from_logits)
        self.label_smoothing = _smoothing(label_smoothing)
        self._grad = None

    def forward(self, y_pred, y_true, sample_weight=None):
        """With logits, the value and gradient in one native pass (kept for backward)."""
        if not self._native():
            self._grad = None
            return super().forward(y_pred, y_true, sample_weight)
        self._cache = self._prepare_weighted(y_pred, y_true, sample_weight)
        value, self._grad = F.softmax_cross_entropy(*self._cache[:2])
        return value

    def _smooth(self, y_true):
        ls = self.label_smoothing
        return y_true if ls == 0 else y_true * (1 - ls) + ls / y_true.shape[-1]

    def _fold_weights(self, y_pred, y_true, weights):
        return y_pred, y_true * weights[..., None], None

    def backward(self):
        if self._grad is not None and self._cache is not None:
            return self._grad
        return super().backward()

    def _native(self):
        return self.from_logits and not reference_active()

    def _value(self, y_pred, y_true):
        if self._native():
            return F.softmax_cross_entropy(y_pred, y_true, return_grad=False)[0]
        if self.from_logits:
            log_p = _log_softmax(y_pred)
        else:
            q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
            log_p = np.log(_clip_probabilities(q)[0])
        return -np.sum(y_true * log_p) / _rows(y_pred)

    def _gradient(self, y_pred, y_true):
        if self._native():
            return F.softmax_cross_entropy(y_pred, y_true)[1]
        n = np.asarray(_rows(y_pred), y_pred.dtype)
        if self.from_logits:
            softmax = np.exp(_log_softmax(y_pred))
            return (softmax * np.sum(y_true, axis=-1, keepdims=True) - y_true) / n
        total = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / total
        p, inside = _clip_probabilities(q)
        g = np.where(inside, -y_true / p, 0).astype(y_pred.dtype)
        return (g - np.sum(g * q, axis=-1, keepdims=True)) / total / n


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """CategoricalCrossentropy with integer class labels instead of one-hot targets.

    y_true has y_pred's shape without the class axis (or with a class axis of
    size 1); labels must be integers in [0, classes). Values and gradients are
    those of CategoricalCrossentropy on one_hot(y_true).
    """

    def _prepare(self, y_pred, y_true):
        y_pred = as_float_array(y_pred, "y_pred")
        labels = np.asarray(y_true)
        if y_pred.ndim == 0 or y_pred.size == 0:
            raise ValueError(f"y_pred must have a class axis and one element, got shape {y_pred.shape}")
        if labels.shape == y_pred.shape[:-1] + (1,) and labels.ndim == y_pred.ndim:
            labels = labels[..., 0]
        if labels.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"y_true shape {labels.shape} must be y_pred shape {y_pred.shape} "
                f"without its class axis, {y_pred.shape[:-1]}"
            )
        if labels.dtype.kind not in "iuf" or (
            labels.dtype.kind == "f" and np.any(labels != np.round(labels))
        ):
            raise TypeError(f"y_true must hold integer class labels, got dtype {labels.dtype}")
        classes = y_pred.shape[-1]
        labels = labels.astype(np.int64)
        if np.any((labels < 0) | (labels >= classes)):
            raise ValueError(f"labels must lie in [0, {classes}), got min {labels.min()} max {labels.max()}")
        one_hot = (labels[..., None] == np.arange(classes)).astype(y_pred.dtype)
        return y_pred, one_hot


class Hinge(Loss):
    """mean(max(1 - t y_pred, 0)): mean over the last axis, then over the batch.

    Targets are -1 or 1; if every target is 0 or 1 they are mapped to 2 t - 1
    first (Keras' rule). gradient: -t / size where 1 - t y_pred > 0, else 0.
    """

    @staticmethod
    def _signs(y_true):
        if np.all((y_true == 0) | (y_true == 1)):
            return 2 * y_true - 1
        return y_true

    def _value(self, y_pred, y_true):
        return np.mean(np.maximum(1 - self._signs(y_true) * y_pred, 0))

    def _row_losses(self, y_pred, y_true):
        return np.mean(np.maximum(1 - self._signs(y_true) * y_pred, 0), axis=-1)

    def _gradient(self, y_pred, y_true):
        t = self._signs(y_true)
        grad = np.where(1 - t * y_pred > 0, -t, 0).astype(y_pred.dtype) / np.asarray(
            y_pred.size, y_pred.dtype
        )
        return _nan_where_nan(grad, y_pred)


class KLDivergence(Loss):
    """sum_c t_c log(t_c / p_c) over the last axis, mean over the batch.

    Both t and p are clipped to [eps, 1] first (Keras). gradient: -t_c / p_c / batch,
    zero where p is clipped.
    """

    def _value(self, y_pred, y_true):
        t, _ = _clip_probabilities(y_true, upper=1)
        p, _ = _clip_probabilities(y_pred, upper=1)
        return np.sum(t * np.log(t / p)) / _rows(y_pred)

    def _row_losses(self, y_pred, y_true):
        t, _ = _clip_probabilities(y_true, upper=1)
        p, _ = _clip_probabilities(y_pred, upper=1)
        return np.sum(t * np.log(t / p), axis=-1)

    def _gradient(self, y_pred, y_true):
        t, _ = _clip_probabilities(y_true, upper=1)
        p, inside = _clip_probabilities(y_pred, upper=1)
        grad = np.where(inside, -t / p, 0).astype(y_pred.dtype) / np.asarray(_rows(y_pred), y_pred.dtype)
        return _nan_where_nan(grad, y_pred)


class ContrastiveLoss(Loss):
    """mean(t d^2 + (1 - t) max(margin - d, 0)^2) (Hadsell, Chopra & LeCun 2006).

    y_pred = d, the distance between the two embeddings of a pair; y_true = t,
    1 for a similar pair, 0 for a dissimilar one. Mean over all elements, no
    factor 1/2 (TensorFlow Addons' definition).
    gradient: (2 t d - 2 (1 - t) max(margin - d, 0)) / size.
    """

    def __init__(self, margin=1.0):
        super().__init__()
        self.margin = float(margin)

    def _value(self, y_pred, y_true):
        gap = np.maximum(self.margin - y_pred, 0)
        return np.mean(y_true * np.square(y_pred) + (1 - y_true) * np.square(gap))

    def _row_losses(self, y_pred, y_true):
        gap = np.maximum(self.margin - y_pred, 0)
        return np.mean(y_true * np.square(y_pred) + (1 - y_true) * np.square(gap), axis=-1)

    def _gradient(self, y_pred, y_true):
        gap = np.maximum(self.margin - y_pred, 0)
        return (2 * y_true * y_pred - 2 * (1 - y_true) * gap) / np.asarray(y_pred.size, y_pred.dtype)


# ------------------------------------------------------------------- look-up

_NAMES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "hinge": Hinge,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "contrastive_loss": ContrastiveLoss,
    "contrastive": ContrastiveLoss,
}
_NAMES.update({cls.__name__.lower(): cls for cls in set(_NAMES.values())})


def get(identifier):
    """A loss instance from a name ('mse', 'categorical_crossentropy', 'Hinge', ...).

    A Loss instance is returned as it is; a Loss class is instantiated with its defaults.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError(f"unknown loss {identifier!r}; known names: {sorted(_NAMES)}")
