"""Classification metrics: functions on whole arrays and the stateful metrics of `compile`.

    from fastcnn import metrics
    cm = metrics.confusion_matrix(y_test, model.predict(x_test))     # rows: true, columns: predicted
    metrics.f1_score(y_test, scores, average=None)                    # one F1 per class
    model.compile("adam", loss, metrics=["accuracy", "top_k_accuracy", "precision", "recall", "f1"])

Argument order is scikit-learn's and Keras' for metrics, `(y_true, y_pred)`
(losses take `(y_pred, y_true)`). `y_pred` may be class labels, scores with a
class axis (the argmax is the prediction) or, with one output unit, scores
`(N, 1)` thresholded at 0.5. `y_true` may be labels, one-hot rows or binary
targets. The class axis is the last; every other axis is a batch axis.

In `compile(metrics=...)` a metric accumulates over the whole epoch (the
confusion counts, or the scores for AUC) and reports the metric of all of
them, not a mean of per-batch values. Metrics named by a string adapt to the
loss: with `from_logits=True` a single output is thresholded at 0 instead of
0.5. They are not weighted by `sample_weight` / `class_weight` (Keras' rule
for `metrics=`); the loss is.

precision, recall and F1 of several classes are the macro average over the
classes that occur in y_true or in y_pred (scikit-learn's default); with one
output unit they are those of the positive class (Keras' `Precision`). A class
never predicted has precision 0 (scikit-learn's `zero_division=0`).
"""

from __future__ import annotations

import copy
import math
import os
import sys

import numpy as np

__all__ = [
    "accuracy",
    "top_k_accuracy",
    "confusion_matrix",
    "precision",
    "recall",
    "f1_score",
    "roc_auc",
    "plot_confusion_matrix",
    "Metric",
    "Accuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "Precision",
    "Recall",
    "F1Score",
    "AUC",
    "LossMetric",
    "get",
    "direction",
]

_AVERAGES = ("macro", "micro", "weighted", "binary", None)


# --------------------------------------------------------------- label forms


def _class_scores(y_pred, threshold):
    """(N, C) scores -> predicted labels; (N, 1) scores -> 0/1 by threshold (rows flattened)."""
    if y_pred.shape[-1] == 1:
        return (y_pred.reshape(-1) > threshold).astype(np.int64)
    return np.argmax(y_pred.reshape(-1, y_pred.shape[-1]), axis=-1)


def _true_labels(y_true, y_pred):
    """Integer labels of y_true, one per row of y_pred (whose last axis is the classes)."""
    y_true = np.asarray(y_true)
    classes = y_pred.shape[-1]
    if classes == 1:  # binary: (N,) or (N, 1) targets
        if y_true.size != y_pred.size:
            raise ValueError(f"y_true shape {y_true.shape} does not match y_pred shape {y_pred.shape}")
        return (y_true.reshape(-1) > 0.5).astype(np.int64)
    if y_true.shape == y_pred.shape:  # one-hot or probabilities
        return np.argmax(y_true.reshape(-1, classes), axis=-1)
    if y_true.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,)):
        return _integer_labels(y_true, "y_true").reshape(-1)
    raise ValueError(
        f"y_true shape {y_true.shape} must be y_pred shape {y_pred.shape} (one-hot) or "
        f"{y_pred.shape[:-1]} (labels)"
    )


def _integer_labels(y, name):
    y = np.asarray(y)
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise TypeError(
            f"{name} must hold integer class labels, scores with a class axis (N, C), or (N, 1) "
            f"scores of one output; got dtype {y.dtype}"
            + (" with non-integer values" if y.dtype.kind == "f" else "")
        )
    labels = y.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} holds a negative class label ({labels.min()})")
    return labels


def _labels(y, name, threshold=0.5):
    """Labels from any form the function API takes: labels, (N, C) scores, (N, 1) scores."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] == 1 and y.dtype.kind == "f":
        return (y.reshape(-1) > threshold).astype(np.int64)
    if y.ndim >= 2 and y.shape[-1] > 1:
        return np.argmax(y.reshape(-1, y.shape[-1]), axis=-1)
    return _integer_labels(y, name).reshape(-1)


def _pair(y_true, y_pred):
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true holds {len(t)} samples, y_pred {len(p)}")
    return t, p


# ------------------------------------------------------------------ functions


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class is the true one."""
    t, p = _pair(y_true, y_pred)
    if len(t) == 0:
        raise ValueError("accuracy of no samples")
    return float(np.mean(t == p))


def top_k_accuracy(y_true, y_score, k=5):
    """Fraction of samples whose true class is among the k highest scores.

    y_score (N, C); y_true labels (N,) or one-hot (N, C). A class tied with the
    k-th score counts as inside the top k (TensorFlow's in_top_k)."""
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim < 2 or y_score.shape[-1] < 2:
        raise ValueError(f"y_score must have a class axis of 2 or more classes, got shape {y_score.shape}")
    k = _positive_int(k, "k")
    labels = _true_labels(y_true, y_score)
    return float(np.mean(_in_top_k(y_score.reshape(-1, y_score.shape[-1]), labels, k)))


def _in_top_k(scores, labels, k):
    target = scores[np.arange(len(labels)), labels]
    return np.sum(scores > target[:, None], axis=-1) < k


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts (int64, num_classes x num_classes): row = true class, column = predicted.

    y_pred: labels, (N, C) scores (argmax) or (N, 1) scores (> 0.5). num_classes
    defaults to the largest label seen + 1 (or C of the scores)."""
    t, p = _pair(y_true, y_pred)
    seen = 1 + max([-1] + [int(a.max()) for a in (t, p) if a.size])
    for y in (y_true, y_pred):
        shape = np.shape(y)
        if len(shape) >= 2 and shape[-1] > 1:
            seen = max(seen, shape[-1])
    if num_classes is None:
        num_classes = max(seen, 1)
    num_classes = _positive_int(num_classes, "num_classes")
    if seen > num_classes:
        raise ValueError(f"num_classes={num_classes} but the labels or scores reach class {seen - 1}")
    return _confusion(t, p, num_classes).astype(np.int64)


def _confusion(t, p, classes, weights=None):
    return np.bincount(t * classes + p, weights=weights, minlength=classes * classes).reshape(
        classes, classes
    )


def _per_class(cm):
    """(precision, recall, f1, support) per class from a confusion matrix; 0 where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(predicted > 0, tp / predicted, 0.0)
        rec = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(predicted + actual > 0, 2 * tp / (predicted + actual), 0.0)
    return prec, rec, f1, actual


def _average(cm, kind, average, class_id=None):
    """One of precision / recall / f1 (kind 0, 1, 2) of confusion counts, averaged."""
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}")
    per_class = _per_class(cm)
    values, support = per_class[kind], per_class[3]
    if class_id is not None:
        if not 0 <= class_id < len(values):
            raise ValueError(f"class_id={class_id} outside the {len(values)} classes")
        return float(values[class_id])
    if average is None:
        return values
    if average == "binary":
        if len(values) > 2:
            raise ValueError(f"average='binary' takes two classes, got {len(values)}: use 'macro'")
        return float(values[1]) if len(values) == 2 else 0.0
    if average == "micro":  # one label per sample: every micro average is the accuracy
        total = float(np.sum(cm))
        return float(np.trace(cm) / total) if total else 0.0
    present = (np.asarray(cm).sum(axis=0) + support) > 0
    if not present.any():
        return 0.0
    if average == "weighted":
        return float(np.sum(values * support) / np.sum(support)) if np.sum(support) else 0.0
    return float(np.mean(values[present]))


def _scores(kind, y_true, y_pred, average, num_classes):
    return _average(confusion_matrix(y_true, y_pred, num_classes), kind, average)


def precision(y_true, y_pred, average="macro", num_classes=None):
    """TP / (TP + FP). average: 'macro' (mean over the classes present), None (an array,
    one per class), 'micro', 'weighted' (by support) or 'binary' (class 1)."""
    return _scores(0, y_true, y_pred, average, num_classes)


def recall(y_true, y_pred, average="macro", num_classes=None):
    """TP / (TP + FN), averaged as `precision`."""
    return _scores(1, y_true, y_pred, average, num_classes)


def f1_score(y_true, y_pred, average="macro", num_classes=None):
    """2 TP / (2 TP + FP + FN) per class (the harmonic mean of precision and recall),
    averaged as `precision` (macro: the mean of the per-class F1, scikit-learn's)."""
    return _scores(2, y_true, y_pred, average, num_classes)


def roc_auc(y_true, y_score):
    """Area under the ROC curve of binary targets, exact (Mann-Whitney U over ranks;
    tied scores count one half). y_score (N,) or (N, 1): any increasing function of
    the probability of class 1 (logits too). ValueError if y_true holds one class."""
    score = np.asarray(y_score, dtype=np.float64)
    if score.ndim == 2 and score.shape[1] == 1:
        score = score[:, 0]
    if score.ndim != 1:
        raise ValueError(f"y_score must be (N,) or (N, 1) scores of the positive class, got {score.shape}")
    labels = np.asarray(y_true).reshape(-1)
    if labels.shape != score.shape:
        raise ValueError(f"y_true holds {labels.size} samples, y_score {score.size}")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("roc_auc takes binary targets (0 or 1)")
    value = _auc(labels.astype(bool), score)
    if math.isnan(value):
        raise ValueError("roc_auc is undefined when y_true holds only one class")
    return value


def _auc(positive, score):
    if np.isnan(score).any():
        raise ValueError("the scores hold NaN: the ROC AUC is undefined")
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    ranks = np.empty(len(ordered))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # 1-based, ties averaged
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def plot_confusion_matrix(cm, class_names=None, path=None, normalize=False):
    """Draw a confusion matrix (rows true, columns predicted) with the counts written in
    the cells; `normalize=True` shows each row as fractions. Saved to `path` if given.
    Needs matplotlib (`pip install 'fastcnn[plot]'`). Returns the figure."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square matrix, got shape {cm.shape}")
    names = [str(i) for i in range(len(cm))] if class_names is None else [str(n) for n in class_names]
    if len(names) != len(cm):
        raise ValueError(f"class_names has {len(names)} names for {len(cm)} classes")
    plt = _pyplot(path)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = max(4.0, 0.5 * len(cm) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(shown, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(cm)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(cm)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(cm) <= 30:
        limit = shown.max() / 2 if shown.size else 0
        for i in range(len(cm)):
            for j in range(len(cm)):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(
                    j, i, text, ha="center", va="center", color="white" if shown[i, j] > limit else "black"
                )
    fig.tight_layout()
    _finish(plt, fig, path)
    return fig


def _pyplot(path):
    """matplotlib.pyplot, on the Agg backend when there is no display or only a file is wanted."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'fastcnn[plot]'") from None
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless or (path is not None and "matplotlib.pyplot" not in sys.modules):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, path):
    import matplotlib

    if path is not None:
        fig.savefig(path)
        plt.close(fig)
    elif matplotlib.get_backend().lower() != "agg":
        plt.show()


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


# ------------------------------------------------------------------ stateful


class Metric:
    """A metric accumulated over many batches (Keras' `keras.metrics.Metric`).

        m = Precision()
        for x, y in batches:
            m.update_state(y, model.predict(x))
        m.result(); m.reset_state()

    The state is `totals`, a float64 vector that batches add to, plus, for
    metrics that need every score (AUC), `pieces`. Distributed training adds
    the ranks' totals and joins their pieces, so every rank sees the metric
    of the whole global batch. `direction` ('max' or 'min') tells EarlyStopping,
    ModelCheckpoint and ReduceLROnPlateau which way is better (mode='auto').
    """

    direction = "max"
    keeps_scores = False  # True: the state grows with the data (pieces), result() ranks it all

    def __init__(self, name):
        self.name = str(name)
        self.totals = None  # made by build() from the first output shape
        self.pieces = []
        self.from_logits = False

    # -- set-up
    def build(self, output_shape, from_logits=False):
        """Size the state for per-sample outputs of `output_shape`; returns self."""
        self.from_logits = bool(from_logits)
        self.totals = np.zeros(self._state_size(tuple(output_shape)))
        self.pieces = []
        return self

    def _state_size(self, output_shape):
        return 2

    def fresh(self):
        """An unbuilt copy with the same configuration and no state."""
        other = copy.copy(self)
        other.totals, other.pieces = None, []
        return other

    # -- accumulation
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred)
        if self.totals is None:
            self.build(y_pred.shape[1:], self.from_logits)
        self.merge_state(*self.batch_state(y_true, y_pred, sample_weight))

    def batch_state(self, y_true, y_pred, sample_weight=None):
        """(totals, pieces) of one batch alone, for merge_state."""
        raise NotImplementedError

    def merge_state(self, totals, pieces=None):
        self.totals += totals
        if pieces is not None:
            self.pieces.append(pieces)

    def reset_state(self):
        if self.totals is not None:
            self.totals[:] = 0
        self.pieces = []

    def result(self):
        raise NotImplementedError

    # -- description
    def get_config(self):
        return {k: v for k, v in vars(self).items() if k not in ("totals", "pieces", "from_logits")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def _threshold(self, threshold):
        if threshold is not None:
            return threshold
        return 0.0 if self.from_logits else 0.5


def _row_weights(sample_weight, rows, y_pred):
    """Per-row weights (flattened rows) of a per-sample weight array, or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    batch = y_pred.shape[: w.ndim]
    if w.shape != batch:
        raise ValueError(f"sample_weight shape {w.shape} must lead y_pred shape {y_pred.shape}")
    return np.broadcast_to(w.reshape(w.shape + (1,) * (y_pred.ndim - 1 - w.ndim)), y_pred.shape[:-1]).reshape(
        rows
    )


class _MeanOfRows(Metric):
    """A (weighted) mean over rows of a per-row 0/1 or real value: totals [sum, weight]."""

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def batch_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred)
        values = self._values(y_true, y_pred)
        w = _row_weights(sample_weight, values.size, y_pred)
        if w is None:
            hits = np.count_nonzero(values) if values.dtype == bool else float(np.sum(values))
            return np.array([hits, values.size], dtype=np.float64), None
        return np.array([np.dot(values, w), w.sum()]), None

    def result(self):
        if self.totals is None or self.totals[1] == 0:
            return 0.0
        return float(self.totals[0] / self.totals[1])


class Accuracy(_MeanOfRows):
    """Fraction of correct predictions; the form follows the shapes, as Keras' 'accuracy':
    one output unit -> binary (y_pred > threshold: 0.5, or 0 with logits), y_true of
    y_pred's shape -> one-hot (argmax == argmax), labels -> sparse (argmax == label)."""

    def __init__(self, threshold=None, name="accuracy"):
        super().__init__(name)
        self.threshold = threshold

    def _values(self, y_true, y_pred):
        return _class_scores(y_pred, self._threshold(self.threshold)) == _true_labels(y_true, y_pred)


class TopKCategoricalAccuracy(_MeanOfRows):
    """Fraction of rows whose true class is among the k highest scores (labels or one-hot
    targets; ties with the k-th score count as inside). 'top_k_accuracy' in compile: k=5."""

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(name)
        self.k = _positive_int(k, "k")

    def build(self, output_shape, from_logits=False):
        if output_shape[-1] < 2:
            raise ValueError(
                f"{self.name} needs a class axis of 2 or more classes, the output has shape {output_shape}"
            )
        return super().build(output_shape, from_logits)

    def _values(self, y_true, y_pred):
        scores = y_pred.reshape(-1, y_pred.shape[-1])
        return _in_top_k(scores, _true_labels(y_true, y_pred), self.k)


SparseTopKCategoricalAccuracy = TopKCategoricalAccuracy


class _FromConfusion(Metric):
    """Precision, recall or F1 from confusion counts accumulated over the epoch."""

    _kind = 0

    def __init__(self, name, threshold=None, class_id=None, average="auto"):
        super().__init__(name)
        if average != "auto" and average not in ("macro", "micro", "weighted", "binary"):
            raise ValueError(
                f"average must be 'auto', 'macro', 'micro', 'weighted' or 'binary', got {average!r}"
            )
        self.threshold, self.class_id, self.average = threshold, class_id, average
        self.classes = None

    def _state_size(self, output_shape):
        self.classes = 2 if output_shape[-1] == 1 else output_shape[-1]
        if self.class_id is not None and not 0 <= self.class_id < self.classes:
            raise ValueError(f"{self.name}: class_id={self.class_id} outside the {self.classes} classes")
        return self.classes * self.classes

    def batch_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred)
        predicted = _class_scores(y_pred, self._threshold(self.threshold))
        actual = _true_labels(y_true, y_pred)
        w = _row_weights(sample_weight, len(actual), y_pred)
        return _confusion(actual, predicted, self.classes, w).astype(np.float64).reshape(-1), None

    def confusion(self):
        return self.totals.reshape(self.classes, self.classes)

    def result(self):
        if self.totals is None:
            return 0.0
        average = self.average
        if average == "auto":
            average = "binary" if self.classes == 2 and self.class_id is None else "macro"
        return _average(self.confusion(), self._kind, average, self.class_id)

    def get_config(self):
        config = super().get_config()
        config.pop("classes")
        return config


class Precision(_FromConfusion):
    """TP / (TP + FP) over the epoch: of the positive class for one output unit (Keras'
    Precision), the macro average over classes otherwise; class_id: of that class only."""

    _kind = 0

    def __init__(self, threshold=None, class_id=None, average="auto", name="precision"):
        super().__init__(name, threshold, class_id, average)


class Recall(_FromConfusion):
    """TP / (TP + FN) over the epoch, averaged as Precision."""

    _kind = 1

    def __init__(self, threshold=None, class_id=None, average="auto", name="recall"):
        super().__init__(name, threshold, class_id, average)


class F1Score(_FromConfusion):
    """2 TP / (2 TP + FP + FN) over the epoch, averaged as Precision (macro: the mean of
    the per-class F1 scores)."""

    _kind = 2

    def __init__(self, threshold=None, class_id=None, average="auto", name="f1_score"):
        super().__init__(name, threshold, class_id, average)


class AUC(Metric):
    """Exact ROC AUC of a binary output (one unit) over the epoch: every score is kept
    and ranked at the end (ties count one half). NaN while one class alone was seen."""

    keeps_scores = True

    def __init__(self, name="auc"):
        super().__init__(name)

    def _state_size(self, output_shape):
        if output_shape[-1] != 1:
            raise ValueError(
                f"{self.name} takes a binary output (one unit); the output has shape {output_shape}"
            )
        return 0

    def batch_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(f"{self.name} does not take sample weights")
        y_pred = np.asarray(y_pred)
        return np.zeros(0), (_true_labels(y_true, y_pred).astype(bool), y_pred.reshape(-1).astype(np.float64))

    def result(self):
        if not self.pieces:
            return float("nan")
        positive = np.concatenate([p[0] for p in self.pieces])
        return _auc(positive, np.concatenate([p[1] for p in self.pieces]))


class LossMetric(Metric):
    """A loss reported as a metric ('mse', 'mae', ...): its batch values weighted by
    batch size over the epoch. `loss` is a loss name (fastcnn.losses.get)."""

    direction = "min"

    def __init__(self, loss, name=None):
        if not isinstance(loss, str):
            raise TypeError(f"LossMetric takes a loss name such as 'mse', got {loss!r}")
        super().__init__(name or loss)
        self.loss = loss
        self._fn = _losses().get(loss)

    def batch_state(self, y_true, y_pred, sample_weight=None):
        n = len(y_pred)
        return np.array([self._fn(y_pred, y_true, sample_weight) * n, n]), None

    def result(self):
        if self.totals is None or self.totals[1] == 0:
            return 0.0
        return float(self.totals[0] / self.totals[1])

    def get_config(self):
        return {"loss": self.loss, "name": self.name}


# ------------------------------------------------------------------- look-up


def _losses():
    """fastcnn.losses, imported on first use: `import fastcnn` loads this module before
    the native-backed ones that losses needs."""
    from . import losses

    return losses


_BY_NAME = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "top_k_accuracy": lambda: TopKCategoricalAccuracy(name="top_k_accuracy"),
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": lambda: TopKCategoricalAccuracy(
        name="sparse_top_k_categorical_accuracy"
    ),
    "precision": Precision,
    "recall": Recall,
    "f1": lambda: F1Score(name="f1"),
    "f1_score": F1Score,
    "auc": AUC,
}
_CLASSES = {
    cls.__name__: cls
    for cls in (Accuracy, TopKCategoricalAccuracy, Precision, Recall, F1Score, AUC, LossMetric)
}


def get(identifier):
    """A Metric from a name ('accuracy', 'top_k_accuracy', 'precision', 'recall', 'f1',
    'auc', or a loss name such as 'mse'), a Metric class, a Metric (returned as it is),
    or a saved {"class_name", "config"} dict."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier["config"])
    if isinstance(identifier, str):
        name = identifier.lower()
        if name in _BY_NAME:
            return _BY_NAME[name]()
        try:
            _losses().get(name)
        except ValueError:
            pass
        else:
            return LossMetric(name)
    raise ValueError(
        f"unknown metric {identifier!r}; known names: {sorted(_BY_NAME)} and the loss names "
        f"(e.g. 'mse', 'mae'), or a fastcnn.metrics.Metric"
    )


def serialize(metric):
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def direction(monitor):
    """'min' or 'max': which way the logged quantity `monitor` improves, or None if unknown.

    'loss', 'val_loss', 'out1_loss' and loss names improve downwards; accuracy,
    precision, recall, F1, AUC upwards; an output prefix ('out1_accuracy') is allowed."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return "min"
    known = {n: ("min" if _is_loss_name(n) else "max") for n in _BY_NAME}
    for candidate in [name] + [name[i + 1 :] for i, c in enumerate(name) if c == "_"]:
        if candidate in known:
            return known[candidate]
        if _is_loss_name(candidate):
            return "min"
    return None


def _is_loss_name(name):
    try:
        _losses().get(name)
    except ValueError:
        return False
    return True
