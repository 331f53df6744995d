"""fastcnn.metrics: functions against hand-computed cases and scikit-learn (when
installed); the stateful metrics accumulate over batches exactly as over the whole
epoch; compile(metrics=[...]) by name, logs, save/load; the confusion-matrix plot."""

import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import Sequential, layers as L, losses, metrics, optimizers

# 6 samples, 3 classes; predictions by argmax: [0, 1, 1, 2, 2, 0]
Y_TRUE = np.array([0, 1, 2, 2, 2, 0])
SCORES = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.6, 0.3],
        [0.1, 0.2, 0.7],
        [0.3, 0.3, 0.4],
        [0.5, 0.4, 0.1],
    ]
)


def test_confusion_matrix_by_hand_and_forms():
    cm = metrics.confusion_matrix(Y_TRUE, SCORES)
    want = np.array([[2, 0, 0], [0, 1, 0], [0, 1, 2]])
    np.testing.assert_array_equal(cm, want)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(metrics.confusion_matrix(np.eye(3)[Y_TRUE], SCORES.argmax(1)), want)
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, SCORES, num_classes=4)[:3, :3], want)
    binary = metrics.confusion_matrix(np.array([0, 1, 1, 0]), np.array([[0.2], [0.9], [0.4], [0.6]]))
    np.testing.assert_array_equal(binary, [[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="num_classes"):
        metrics.confusion_matrix(Y_TRUE, SCORES, num_classes=2)
    with pytest.raises(TypeError, match="y_pred"):
        metrics.confusion_matrix(Y_TRUE, np.linspace(0, 1, 6))
    with pytest.raises(ValueError, match="samples"):
        metrics.confusion_matrix(Y_TRUE, SCORES[:5])


def test_precision_recall_f1_by_hand():
    # class 0: TP 2 FP 0 FN 0; class 1: TP 1 FP 1 FN 0; class 2: TP 2 FP 0 FN 1
    np.testing.assert_allclose(metrics.precision(Y_TRUE, SCORES, average=None), [1, 1 / 2, 1])
    np.testing.assert_allclose(metrics.recall(Y_TRUE, SCORES, average=None), [1, 1, 2 / 3])
    np.testing.assert_allclose(metrics.f1_score(Y_TRUE, SCORES, average=None), [1, 2 / 3, 4 / 5])
    assert metrics.precision(Y_TRUE, SCORES) == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert metrics.f1_score(Y_TRUE, SCORES) == pytest.approx((1 + 2 / 3 + 4 / 5) / 3)
    assert metrics.recall(Y_TRUE, SCORES, average="micro") == pytest.approx(5 / 6)
    assert metrics.recall(Y_TRUE, SCORES, average="weighted") == pytest.approx((2 + 1 + 2) / 6)
    assert metrics.accuracy(Y_TRUE, SCORES) == pytest.approx(5 / 6)
    # a class never predicted: precision 0, not NaN
    assert metrics.precision([0, 1], [0, 0], average=None).tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="average"):
        metrics.precision(Y_TRUE, SCORES, average="median")


def test_top_k_accuracy_by_hand_with_ties():
    assert metrics.top_k_accuracy(Y_TRUE, SCORES, k=1) == pytest.approx(5 / 6)
    # sample 2 (true 2, score 0.3) is 2nd; sample 4 (true 2) is 1st
    assert metrics.top_k_accuracy(Y_TRUE, SCORES, k=2) == 1.0
    tied = np.array([[0.5, 0.5, 0.0]])
    assert metrics.top_k_accuracy([1], tied, k=1) == 1.0  # a tie with the k-th counts as inside
    with pytest.raises(ValueError, match="k"):
        metrics.top_k_accuracy(Y_TRUE, SCORES, k=0)


def test_roc_auc_by_hand_with_ties():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8 > 0.4), (0.8 > 0.1), (0.4 = 0.4), (0.4 > 0.1)
    assert metrics.roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)
    assert metrics.roc_auc([0, 1], np.array([[0.3], [0.2]])) == 0.0
    with pytest.raises(ValueError, match="one class"):
        metrics.roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        metrics.roc_auc([0, 2], [0.2, 0.3])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_functions_match_scikit_learn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((300, 5))
    y = rng.integers(0, 5, 300)
    y[:40] = scores[:40].argmax(1)  # some agreement
    pred = scores.argmax(1)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, scores), sk.confusion_matrix(y, pred))
    for ours, theirs in [
        (metrics.precision, sk.precision_score),
        (metrics.recall, sk.recall_score),
        (metrics.f1_score, sk.f1_score),
    ]:
        for average in ("macro", "micro", "weighted", None):
            np.testing.assert_allclose(
                ours(y, scores, average=average), theirs(y, pred, average=average, zero_division=0)
            )
    assert metrics.top_k_accuracy(y, scores, k=3) == pytest.approx(sk.top_k_accuracy_score(y, scores, k=3))
    binary = (y > 2).astype(int)
    score = scores[:, 0] + binary * 0.5
    score[::7] = np.round(score[::7], 1)  # some ties
    assert metrics.roc_auc(binary, score) == pytest.approx(sk.roc_auc_score(binary, score), rel=1e-12)


def test_macro_average_skips_classes_absent_from_both_like_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    y, pred = np.array([0, 0, 2, 2]), np.array([0, 2, 2, 2])  # class 1 never occurs
    assert metrics.f1_score(y, pred, num_classes=3) == pytest.approx(sk.f1_score(y, pred, average="macro"))


# ------------------------------------------------------------------ stateful


def _in_batches(metric, y, scores, size):
    for i in range(0, len(y), size):
        metric.update_state(y[i : i + size], scores[i : i + size])
    return metric.result()


@pytest.mark.parametrize(
    "make, function",
    [
        (lambda: metrics.Precision(), lambda y, s: metrics.precision(y, s, num_classes=4)),
        (lambda: metrics.Recall(), lambda y, s: metrics.recall(y, s, num_classes=4)),
        (lambda: metrics.F1Score(), lambda y, s: metrics.f1_score(y, s, num_classes=4)),
        (
            lambda: metrics.Recall(class_id=2),
            lambda y, s: metrics.recall(y, s, average=None, num_classes=4)[2],
        ),
        (lambda: metrics.TopKCategoricalAccuracy(k=2), lambda y, s: metrics.top_k_accuracy(y, s, k=2)),
        (lambda: metrics.Accuracy(), metrics.accuracy),
    ],
    ids=["precision", "recall", "f1", "recall_class_2", "top2", "accuracy"],
)
def test_epoch_metrics_are_those_of_all_samples_not_a_mean_of_batches(make, function):
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((103, 4))
    y = rng.integers(0, 4, 103)
    metric = make()
    assert _in_batches(metric, y, scores, 16) == pytest.approx(function(y, scores), rel=1e-12)
    metric.reset_state()
    assert _in_batches(metric, y[:50], scores[:50], 7) == pytest.approx(function(y[:50], scores[:50]))


def test_binary_metrics_threshold_and_auc_over_batches():
    rng = np.random.default_rng(5)
    probs = rng.random((90, 1))
    y = (rng.random(90) < probs[:, 0]).astype(int)
    predicted = (probs[:, 0] > 0.5).astype(int)
    tp = np.sum((predicted == 1) & (y == 1))
    assert _in_batches(metrics.Precision(), y, probs, 13) == pytest.approx(tp / predicted.sum())
    assert _in_batches(metrics.Recall(), y, probs, 13) == pytest.approx(tp / y.sum())
    auc = metrics.AUC()
    assert _in_batches(auc, y, probs, 13) == pytest.approx(metrics.roc_auc(y, probs))
    logits = np.log(probs / (1 - probs))  # a metric built for logits thresholds at 0
    bound = metrics.Precision().build((1,), from_logits=True)
    assert _in_batches(bound, y, logits, 13) == pytest.approx(tp / predicted.sum())
    with pytest.raises(ValueError, match="binary output"):
        metrics.AUC().build((3,))


def test_sample_weights_of_stateful_metrics():
    m = metrics.Accuracy()
    m.update_state([0, 1, 1], np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]]), sample_weight=[1.0, 3.0, 1.0])
    assert m.result() == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="sample_weight"):
        m.update_state([0, 1], np.zeros((2, 2)), sample_weight=[1.0, 2.0, 3.0])


def test_get_names_objects_and_directions():
    assert isinstance(metrics.get("acc"), metrics.Accuracy)
    assert metrics.get("top_k_accuracy").k == 5 and metrics.get("top_k_accuracy").name == "top_k_accuracy"
    assert metrics.get("f1").name == "f1" and isinstance(metrics.get("f1"), metrics.F1Score)
    assert isinstance(metrics.get("mae"), metrics.LossMetric)
    m = metrics.TopKCategoricalAccuracy(k=3)
    assert metrics.get(m) is m
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("accuracyy")
    assert metrics.direction("val_loss") == "min" and metrics.direction("dense_3_loss") == "min"
    assert metrics.direction("val_accuracy") == "max" and metrics.direction("out_auc") == "max"
    assert metrics.direction("val_mae") == "min" and metrics.direction("learning_rate") is None


# ------------------------------------------------------------------ in compile


def _classifier(metric_list, classes=3):
    model = Sequential([L.Input((6,)), L.Dense(classes, seed=0)])
    model.compile(optimizers.Adam(0.05), losses.SparseCategoricalCrossentropy(from_logits=True), metric_list)
    return model


def _data(n=120, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, :classes].argmax(1) + (rng.random(n) < 0.2)) % classes


def test_compiled_metrics_are_epoch_values_equal_to_the_functions():
    x, y = _data()
    model = _classifier(["accuracy", "top_k_accuracy", "precision", "recall", "f1"])
    logs = model.evaluate(x, y, batch_size=16, return_dict=True)
    scores = model.predict(x)
    assert list(logs) == ["loss", "accuracy", "top_k_accuracy", "precision", "recall", "f1"]
    assert logs["accuracy"] == pytest.approx(metrics.accuracy(y, scores))
    assert logs["top_k_accuracy"] == 1.0  # 3 classes, k = 5
    assert logs["precision"] == pytest.approx(metrics.precision(y, scores))
    assert logs["recall"] == pytest.approx(metrics.recall(y, scores))
    assert logs["f1"] == pytest.approx(metrics.f1_score(y, scores))
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=0, validation_split=0.25)
    assert set(history.history) == {p + k for p in ("", "val_") for k in logs}


def test_binary_output_auc_with_logits_in_training():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.standard_normal(200) > 0).astype(np.int64)
    model = Sequential([L.Input((6,)), L.Dense(1, seed=0)])
    model.compile(
        optimizers.Adam(0.05), losses.BinaryCrossentropy(from_logits=True), ["accuracy", "auc", "precision"]
    )
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, seed=0)
    assert history.history["auc"][-1] > 0.8
    logits = model.predict(x)
    logs = model.evaluate(x, y, return_dict=True)
    assert logs["auc"] == pytest.approx(metrics.roc_auc(y, logits))
    assert logs["precision"] == pytest.approx(metrics.precision(y, logits > 0, average="binary"))
    assert logs["accuracy"] == pytest.approx(np.mean((logits[:, 0] > 0) == y))


def test_metric_objects_and_errors_in_compile(tmp_path):
    x, y = _data()
    model = _classifier([metrics.TopKCategoricalAccuracy(k=2, name="top2"), metrics.Recall(class_id=1)])
    logs = model.evaluate(x, y, return_dict=True)
    scores = model.predict(x)
    assert logs["top2"] == pytest.approx(metrics.top_k_accuracy(y, scores, k=2))
    assert logs["recall"] == pytest.approx(metrics.recall(y, scores, average=None)[1])
    model.save(tmp_path / "m.npz")
    loaded = fastcnn.load_model(tmp_path / "m.npz")
    assert [type(m).__name__ for m in loaded.metrics] == ["TopKCategoricalAccuracy", "Recall"]
    assert loaded.metrics[0].k == 2 and loaded.evaluate(x, y, return_dict=True) == logs
    with pytest.raises(ValueError, match="unknown metric"):
        _classifier(["precission"])
    with pytest.raises(ValueError, match="binary output"):
        _classifier(["auc"]).evaluate(x, y)


def test_plot_confusion_matrix(tmp_path):
    pytest.importorskip("matplotlib")
    cm = metrics.confusion_matrix(Y_TRUE, SCORES)
    path = tmp_path / "cm.png"
    fig = metrics.plot_confusion_matrix(cm, class_names=["a", "b", "c"], path=path, normalize=True)
    assert fig is not None
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="class_names"):
        metrics.plot_confusion_matrix(cm, class_names=["a"])


def test_plot_without_matplotlib_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"\[plot\]"):
        metrics.plot_confusion_matrix(np.eye(2))
