"""Losses: hand-computed values and gradients, finite differences, stability, dtypes, PyTorch twins."""

import math

import numpy as np
import pytest

from fastcnn import losses
from fastcnn.losses import (
    MAE,
    MSE,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    ContrastiveLoss,
    Hinge,
    KLDivergence,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)

from _helpers import numeric_grad

RNG = np.random.default_rng(0)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------- hand-computed examples


def test_mse_by_hand():
    y_pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_true = np.array([[1.0, 1.0], [1.0, 1.0]])
    # squared errors 0, 1 / 4, 9: row means 0.5, 6.5; batch mean 3.5
    assert MeanSquaredError()(y_pred, y_true) == pytest.approx(3.5)
    np.testing.assert_allclose(MSE().gradient(y_pred, y_true), [[0.0, 0.5], [1.0, 1.5]])


def test_mae_by_hand():
    y_pred = np.array([[1.0, -2.0], [3.0, 1.0]])
    y_true = np.array([[0.0, 0.0], [1.0, 1.0]])
    # |errors| 1, 2 / 2, 0 -> mean 5/4
    assert MeanAbsoluteError()(y_pred, y_true) == pytest.approx(1.25)
    np.testing.assert_allclose(MAE().gradient(y_pred, y_true), [[0.25, -0.25], [0.25, 0.0]])


def test_binary_crossentropy_by_hand():
    y_pred = np.array([[0.5, 0.8]])
    y_true = np.array([[1.0, 0.0]])
    expected = -(math.log(0.5) + math.log(0.2)) / 2
    assert BinaryCrossentropy()(y_pred, y_true) == pytest.approx(expected)
    # (p - t) / (p (1 - p)) / size
    np.testing.assert_allclose(
        BinaryCrossentropy().gradient(y_pred, y_true), [[-0.5 / 0.25 / 2, 0.8 / 0.16 / 2]]
    )
    # from logits: x = 0 -> p = 1/2; x = log 4 -> p = 0.8: the same value
    logits = np.array([[0.0, math.log(4.0)]])
    assert BinaryCrossentropy(from_logits=True)(logits, y_true) == pytest.approx(expected)
    np.testing.assert_allclose(
        BinaryCrossentropy(from_logits=True).gradient(logits, y_true), [[(0.5 - 1) / 2, 0.8 / 2]]
    )


def test_binary_crossentropy_clips_probabilities():
    loss = BinaryCrossentropy()
    # p = 0 for t = 1: -log(eps), not inf
    assert loss(np.array([[0.0]]), np.array([[1.0]])) == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert np.all(loss.gradient(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])) == 0)


def test_categorical_crossentropy_by_hand():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    y_true = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    p = softmax(logits)
    expected = -(math.log(p[0, 2]) + math.log(1 / 3)) / 2
    loss = CategoricalCrossentropy(from_logits=True)
    assert loss(logits, y_true) == pytest.approx(expected)
    np.testing.assert_allclose(loss.gradient(logits, y_true), (p - y_true) / 2)
    # probabilities: rows are normalised by their sum first (Keras)
    probs = np.array([[0.2, 0.2, 0.6], [1.0, 2.0, 1.0]])  # second row -> 0.25, 0.5, 0.25
    expected = -(math.log(0.6) + math.log(0.25)) / 2
    assert CategoricalCrossentropy()(probs, y_true) == pytest.approx(expected)


def test_sparse_matches_categorical_on_one_hot():
    logits = RNG.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    one_hot = np.eye(4)[labels]
    for from_logits, y_pred in ((True, logits), (False, softmax(logits))):
        dense = CategoricalCrossentropy(from_logits=from_logits)
        sparse = SparseCategoricalCrossentropy(from_logits=from_logits)
        assert sparse(y_pred, labels) == pytest.approx(dense(y_pred, one_hot), rel=1e-12)
        np.testing.assert_allclose(
            sparse.gradient(y_pred, labels), dense.gradient(y_pred, one_hot), rtol=1e-12
        )
        # labels of shape (N, 1) are accepted, as in Keras
        assert sparse(y_pred, labels[:, None]) == pytest.approx(dense(y_pred, one_hot), rel=1e-12)


def test_sparse_rejects_bad_labels():
    loss = SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError):
        loss(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError):
        loss(np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(TypeError):
        loss(np.zeros((2, 3)), [0.5, 1])


def test_hinge_by_hand_and_binary_labels():
    y_pred = np.array([[0.5, -2.0], [3.0, 0.2]])
    signs = np.array([[1.0, 1.0], [-1.0, -1.0]])
    # max(1 - t y, 0): 0.5, 3, 4, 1.2 -> mean 8.7 / 4
    assert Hinge()(y_pred, signs) == pytest.approx(8.7 / 4)
    np.testing.assert_allclose(Hinge().gradient(y_pred, signs), -signs / 4)
    # {0, 1} targets are mapped to {-1, 1}
    assert Hinge()(y_pred, (signs + 1) / 2) == pytest.approx(8.7 / 4)
    # outside the margin: zero loss and gradient
    assert Hinge()(np.array([[2.0]]), np.array([[1.0]])) == 0
    assert Hinge().gradient(np.array([[2.0]]), np.array([[1.0]]))[0, 0] == 0


def test_kl_divergence_by_hand():
    y_true = np.array([[0.5, 0.5], [1.0, 0.0]])
    y_pred = np.array([[0.25, 0.75], [0.5, 0.5]])
    # row 1: 0.5 log 2 + 0.5 log(2/3); row 2: log 2 + eps log(eps / 0.5) (t clipped to eps)
    row1 = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    row2 = math.log(2) + 1e-7 * math.log(1e-7 / 0.5)
    assert KLDivergence()(y_pred, y_true) == pytest.approx((row1 + row2) / 2, rel=1e-12)
    # -t / p / batch
    np.testing.assert_allclose(
        KLDivergence().gradient(y_pred, y_true),
        [[-0.5 / 0.25 / 2, -0.5 / 0.75 / 2], [-1.0 / 0.5 / 2, -1e-7 / 0.5 / 2]],
        rtol=1e-12,
    )


def test_contrastive_by_hand():
    d = np.array([0.5, 0.25, 2.0])
    y = np.array([1.0, 0.0, 0.0])
    # similar: d^2 = 0.25; dissimilar inside the margin: (1 - 0.25)^2; outside: 0
    assert ContrastiveLoss()(d, y) == pytest.approx((0.25 + 0.5625) / 3)
    np.testing.assert_allclose(ContrastiveLoss().gradient(d, y), [2 * 0.5 / 3, -2 * 0.75 / 3, 0.0])
    assert ContrastiveLoss(margin=3.0)(d, y) == pytest.approx((0.25 + 2.75**2 + 1.0) / 3)


# --------------------------------------------------------------- finite differences


def _cases():
    """(loss, y_pred, y_true) for every loss, away from kinks and clip bounds, float64."""
    shape = (3, 4)
    x = RNG.normal(size=shape)
    t01 = RNG.integers(0, 2, size=shape).astype(float)
    probs = RNG.uniform(0.1, 0.9, size=shape)
    one_hot = np.eye(4)[[2, 0, 3]]
    soft = softmax(RNG.normal(size=shape))
    far = np.where(RNG.random(shape) < 0.5, -1, 1) * RNG.uniform(0.1, 2.0, size=shape)
    hinge_pred = np.where(RNG.random(shape) < 0.5, 0.5, 1.5) * (2 * t01 - 1) + 0.01 * x
    distances = RNG.uniform(0.1, 2.0, size=shape)
    distances[np.abs(distances - 1.0) < 0.05] += 0.1
    return [
        ("mse", MeanSquaredError(), x, RNG.normal(size=shape)),
        ("mae", MeanAbsoluteError(), far, np.zeros(shape)),
        ("bce", BinaryCrossentropy(), probs, t01),
        ("bce_soft_targets", BinaryCrossentropy(), probs, RNG.uniform(size=shape)),
        ("bce_logits", BinaryCrossentropy(from_logits=True), 3 * x, t01),
        ("cce", CategoricalCrossentropy(), probs, one_hot),
        ("cce_soft_targets", CategoricalCrossentropy(), probs, soft),
        ("cce_logits", CategoricalCrossentropy(from_logits=True), 3 * x, one_hot),
        ("cce_logits_soft", CategoricalCrossentropy(from_logits=True), 3 * x, soft),
        ("sparse", SparseCategoricalCrossentropy(), probs, np.array([2, 0, 3])),
        ("sparse_logits", SparseCategoricalCrossentropy(from_logits=True), 3 * x, np.array([2, 0, 3])),
        ("hinge", Hinge(), hinge_pred, t01),
        ("kld", KLDivergence(), soft[::-1].copy(), soft),
        ("contrastive", ContrastiveLoss(), distances, t01),
        ("mse_4d", MeanSquaredError(), RNG.normal(size=(2, 3, 2, 2)), RNG.normal(size=(2, 3, 2, 2))),
        (
            "cce_logits_3d",
            CategoricalCrossentropy(from_logits=True),
            RNG.normal(size=(2, 3, 4)),
            softmax(RNG.normal(size=(2, 3, 4))),
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("name, loss, y_pred, y_true", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(name, loss, y_pred, y_true):
    h = 1e-6
    numeric = np.zeros_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (loss(plus, y_true) - loss(minus, y_true)) / (2 * h)
    analytic = loss.gradient(y_pred, y_true)
    assert analytic.shape == y_pred.shape and analytic.dtype == np.float64
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name, loss, y_pred, y_true", CASES, ids=[c[0] for c in CASES])
def test_forward_backward_match_call_and_gradient(name, loss, y_pred, y_true):
    value = loss.forward(y_pred, y_true)
    assert isinstance(value, float)
    assert value == loss(y_pred, y_true)
    np.testing.assert_array_equal(loss.backward(), loss.gradient(y_pred, y_true))


@pytest.mark.parametrize("name, loss, y_pred, y_true", CASES, ids=[c[0] for c in CASES])
def test_float32_is_kept(name, loss, y_pred, y_true):
    y32 = y_pred.astype(np.float32)
    t32 = y_true if name.startswith("sparse") else y_true.astype(np.float32)
    grad = loss.gradient(y32, t32)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, loss.gradient(y_pred, y_true), rtol=1e-4, atol=1e-6)
    assert loss(y32, t32) == pytest.approx(loss(y_pred, y_true), rel=1e-5, abs=1e-6)


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError):
        MeanSquaredError().backward()


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        MeanSquaredError()(np.zeros((2, 3)), np.zeros((3, 2)))


# --------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype)
    one_hot = np.array([[0, 1, 0], [1, 0, 0]], dtype)
    cases = [
        (CategoricalCrossentropy(from_logits=True), one_hot),
        (SparseCategoricalCrossentropy(from_logits=True), np.array([1, 0])),
        (BinaryCrossentropy(from_logits=True), one_hot),
    ]
    for loss, y_true in cases:
        value, grad = loss(logits, y_true), loss.gradient(logits, y_true)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), loss
        assert grad.dtype == dtype
    # the wrong class is 2e4 below the best: the loss is about 2e4, not inf
    assert CategoricalCrossentropy(from_logits=True)(logits, one_hot) == pytest.approx(2e4, rel=1e-3)
    # correct and confident: zero loss and zero gradient
    right = np.array([[0, 0, 1]], dtype)
    assert CategoricalCrossentropy(from_logits=True)(logits[1:], right) == 0
    assert np.all(CategoricalCrossentropy(from_logits=True).gradient(logits[1:], right) == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_probabilities_stay_finite(dtype):
    probs = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)
    targets = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype)
    for loss in (BinaryCrossentropy(), CategoricalCrossentropy(), KLDivergence()):
        value, grad = loss(probs, targets), loss.gradient(probs, targets)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), loss
        assert grad.dtype == dtype
    assert CategoricalCrossentropy()(probs, targets) == pytest.approx(-math.log(1e-7), rel=1e-5)


def test_integer_inputs_become_float32():
    grad = MeanSquaredError().gradient(np.array([[1, 2]]), np.array([[0, 0]]))
    assert grad.dtype == np.float32


# --------------------------------------------------------------- get


@pytest.mark.parametrize(
    "name, cls",
    [
        ("mse", MeanSquaredError),
        ("mae", MeanAbsoluteError),
        ("binary_crossentropy", BinaryCrossentropy),
        ("categorical_crossentropy", CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
        ("hinge", Hinge),
        ("kl_divergence", KLDivergence),
        ("MeanSquaredError", MeanSquaredError),
        ("CategoricalCrossentropy", CategoricalCrossentropy),
        ("ContrastiveLoss", ContrastiveLoss),
    ],
)
def test_get(name, cls):
    assert type(losses.get(name)) is cls


def test_get_passes_instances_and_rejects_unknown():
    loss = BinaryCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    with pytest.raises(ValueError):
        losses.get("no_such_loss")


# --------------------------------------------------------------- PyTorch twins


def _torch_check(ours, y_pred, y_true, torch_loss, transform=None):
    """Value and gradient of ours against torch_loss(transform(y_pred), y_true)."""
    torch = pytest.importorskip("torch")
    x = torch.tensor(y_pred, requires_grad=True)
    value = torch_loss((transform or (lambda v: v))(x), torch.as_tensor(y_true))
    value.backward()
    assert ours(y_pred, y_true) == pytest.approx(value.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(ours.gradient(y_pred, y_true), x.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_torch_mse_and_l1():
    torch = pytest.importorskip("torch")
    y_pred, y_true = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5))
    _torch_check(MeanSquaredError(), y_pred, y_true, torch.nn.MSELoss())
    _torch_check(MeanAbsoluteError(), y_pred, y_true, torch.nn.L1Loss())


def test_torch_binary_crossentropy():
    torch = pytest.importorskip("torch")
    # probabilities inside [eps, 1 - eps]: Keras' clip is inactive, torch's log clamp too
    probs, targets = RNG.uniform(0.05, 0.95, size=(4, 3)), RNG.uniform(size=(4, 3))
    _torch_check(BinaryCrossentropy(), probs, targets, torch.nn.BCELoss())
    logits = 5 * RNG.normal(size=(4, 3))
    _torch_check(BinaryCrossentropy(from_logits=True), logits, targets, torch.nn.BCEWithLogitsLoss())


def test_torch_cross_entropy():
    torch = pytest.importorskip("torch")
    logits = 4 * RNG.normal(size=(6, 5))
    labels = RNG.integers(0, 5, size=6)
    _torch_check(SparseCategoricalCrossentropy(from_logits=True), logits, labels, torch.nn.CrossEntropyLoss())
    # dense (probability) targets: torch's CrossEntropyLoss takes them too
    soft = softmax(RNG.normal(size=(6, 5)))
    _torch_check(CategoricalCrossentropy(from_logits=True), logits, soft, torch.nn.CrossEntropyLoss())


def test_torch_kl_divergence():
    torch = pytest.importorskip("torch")
    # torch's KLDivLoss takes log-probabilities as input; 'batchmean' = sum over classes, mean over batch
    y_true, y_pred = softmax(RNG.normal(size=(4, 3))), softmax(RNG.normal(size=(4, 3)))
    _torch_check(
        KLDivergence(), y_pred, y_true, torch.nn.KLDivLoss(reduction="batchmean"), transform=torch.log
    )
    # Hinge: torch's HingeEmbeddingLoss is a different loss (margin on distances), so no twin.


# --------------------------------------------------------------- sample weights


def _weights(name, y_pred):
    """Per-sample weights for a case: (N,), or (N, second axis) for the 4-d / 3-d cases."""
    rows = y_pred.shape[: 1 if "4d" not in name and "3d" not in name else 2]
    return RNG.uniform(0.0, 3.0, size=rows)


@pytest.mark.parametrize("name, loss, y_pred, y_true", CASES, ids=[c[0] for c in CASES])
def test_sample_weight_is_the_weighted_sum_over_the_sample_count(name, loss, y_pred, y_true):
    """Keras' SUM_OVER_BATCH_SIZE: sum_i w_i loss_i / N, each loss_i computed on its own."""
    w = _weights(name, y_pred)
    each = np.array(
        [loss(y_pred[i : i + 1], y_true[i : i + 1]) for i in range(len(y_pred))]
        if w.ndim == 1
        else [
            [loss(y_pred[i : i + 1, j : j + 1], y_true[i : i + 1, j : j + 1]) for j in range(w.shape[1])]
            for i in range(w.shape[0])
        ]
    )
    assert loss(y_pred, y_true, w) == pytest.approx(np.sum(w * each) / each.size, rel=1e-10)
    assert loss(y_pred, y_true, np.ones_like(w)) == pytest.approx(loss(y_pred, y_true), rel=1e-12)


@pytest.mark.parametrize("name, loss, y_pred, y_true", CASES, ids=[c[0] for c in CASES])
def test_weighted_gradient_matches_finite_differences(name, loss, y_pred, y_true):
    w = _weights(name, y_pred)
    y = y_pred.copy()
    numeric = numeric_grad(lambda: loss(y, y_true, w), y, 1.0)
    analytic = loss.gradient(y_pred, y_true, w)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    value = loss.forward(y_pred, y_true, w)
    assert value == loss(y_pred, y_true, w)
    np.testing.assert_array_equal(loss.backward(), analytic)


def test_sample_weight_shape_is_checked():
    y = RNG.normal(size=(4, 3))
    with pytest.raises(ValueError, match=r"sample_weight shape \(3,\)"):
        MeanSquaredError()(y, y, np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        CategoricalCrossentropy(from_logits=True)(y, softmax(y), np.ones((4, 3)))
    assert MeanSquaredError()(y, 0 * y, np.ones((4, 1))) == pytest.approx(np.mean(y**2))  # (N, 1) is fine


# --------------------------------------------------------------- label smoothing


def test_label_smoothing_by_hand():
    logits, labels = RNG.normal(size=(5, 4)), RNG.integers(0, 4, 5)
    smoothed = np.eye(4)[labels] * 0.8 + 0.2 / 4
    plain = CategoricalCrossentropy(from_logits=True)
    for loss in (
        CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
    ):
        target = labels if isinstance(loss, SparseCategoricalCrossentropy) else np.eye(4)[labels]
        assert loss(logits, target) == pytest.approx(plain(logits, smoothed), rel=1e-12)
        np.testing.assert_allclose(
            loss.gradient(logits, target), softmax(logits) / 5 - smoothed / 5, rtol=1e-10
        )
    probs, t = RNG.uniform(0.1, 0.9, size=(3, 2)), RNG.integers(0, 2, (3, 2)).astype(float)
    bce = BinaryCrossentropy(label_smoothing=0.1)
    assert bce(probs, t) == pytest.approx(BinaryCrossentropy()(probs, t * 0.9 + 0.05), rel=1e-12)
    with pytest.raises(ValueError, match="label_smoothing"):
        CategoricalCrossentropy(label_smoothing=1.5)


SMOOTH_CASES = [
    ("cce_logits", CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), 3.0, "one_hot"),
    ("cce_probs", CategoricalCrossentropy(label_smoothing=0.3), None, "one_hot"),
    ("sparse_logits", SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.2), 3.0, "labels"),
    ("bce_logits", BinaryCrossentropy(from_logits=True, label_smoothing=0.2), 3.0, "binary"),
    ("bce_probs", BinaryCrossentropy(label_smoothing=0.2), None, "binary"),
]


@pytest.mark.parametrize("name, loss, scale, kind", SMOOTH_CASES, ids=[c[0] for c in SMOOTH_CASES])
def test_smoothed_and_weighted_gradients_match_finite_differences(name, loss, scale, kind):
    y_pred = scale * RNG.normal(size=(4, 3)) if scale else RNG.uniform(0.1, 0.9, size=(4, 3))
    labels = RNG.integers(0, 3, 4)
    y_true = {
        "one_hot": np.eye(3)[labels],
        "labels": labels,
        "binary": RNG.integers(0, 2, (4, 3)).astype(float),
    }[kind]
    w = RNG.uniform(0.5, 2.0, size=4)
    for weights in (None, w):
        y = y_pred.copy()
        numeric = numeric_grad(lambda y=y, weights=weights: loss(y, y_true, weights), y, 1.0)
        np.testing.assert_allclose(loss.gradient(y_pred, y_true, weights), numeric, rtol=1e-6, atol=1e-8)


def test_torch_label_smoothing_and_weights():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits, labels = 3 * RNG.normal(size=(7, 5)), RNG.integers(0, 5, 7)
    w = RNG.uniform(0.2, 3.0, size=7)
    for ls in (0.0, 0.15):
        ours = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=ls)
        x = torch.tensor(logits, requires_grad=True)
        # sample weights: torch's per-sample losses (reduction='none') weighted, summed, over N
        value = (
            F.cross_entropy(x, torch.as_tensor(labels), label_smoothing=ls, reduction="none")
            * torch.as_tensor(w)
        ).sum() / 7
        value.backward()
        assert ours(logits, labels, w) == pytest.approx(value.item(), rel=1e-10)
        np.testing.assert_allclose(ours.gradient(logits, labels, w), x.grad.numpy(), rtol=1e-9, atol=1e-12)
    # class weights (Keras' class_weight = sample weights w[label]) are torch's weight= without
    # smoothing, with the sum divided by N (torch's 'mean' divides by the sum of the weights)
    cw = RNG.uniform(0.2, 3.0, size=5)
    x = torch.tensor(logits, requires_grad=True)
    value = F.cross_entropy(x, torch.as_tensor(labels), weight=torch.as_tensor(cw), reduction="sum") / 7
    value.backward()
    ours = SparseCategoricalCrossentropy(from_logits=True)
    assert ours(logits, labels, cw[labels]) == pytest.approx(value.item(), rel=1e-10)
    np.testing.assert_allclose(
        ours.gradient(logits, labels, cw[labels]), x.grad.numpy(), rtol=1e-9, atol=1e-12
    )
    # binary with logits: torch's weight= rescales each element, 'mean' over all elements
    z, t = 3 * RNG.normal(size=(6, 2)), RNG.integers(0, 2, (6, 2)).astype(float)
    ws = RNG.uniform(0.2, 3.0, size=6)
    x = torch.tensor(z, requires_grad=True)
    smoothed = torch.as_tensor(t * 0.9 + 0.05)
    value = F.binary_cross_entropy_with_logits(x, smoothed, weight=torch.as_tensor(ws)[:, None])
    value.backward()
    bce = BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    assert bce(z, t, ws) == pytest.approx(value.item(), rel=1e-10)
    np.testing.assert_allclose(bce.gradient(z, t, ws), x.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_native_softmax_path_takes_smoothing_and_weights_in_float32():
    """The native softmax cross-entropy (float32, not the reference path) agrees with
    the NumPy formulas in float64 when smoothing and weights fold into the targets."""
    logits, labels = RNG.normal(size=(16, 10)), RNG.integers(0, 10, 16)
    w = RNG.uniform(0.0, 2.0, size=16)
    native = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    value = native.forward(logits.astype(np.float32), labels, w)
    target = (np.eye(10)[labels] * 0.9 + 0.01) * w[:, None]
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert value == pytest.approx(-np.sum(target * log_p) / 16, rel=1e-5)
    want = (softmax(logits) * target.sum(1, keepdims=True) - target) / 16
    np.testing.assert_allclose(native.backward(), want, rtol=1e-4, atol=1e-7)
