"""What fit, evaluate and predict take besides arrays: generators, iterators and
iterables of batches (steps_per_epoch, len(), running out), (x, y, sample_weight)
batches, validation iterables; class_weight and sample_weight against the weighted
loss by hand; label smoothing in training; bad inputs."""

import numpy as np
import pytest

import fastcnn
from fastcnn import Sequential, layers as L, losses, optimizers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    return x, (x[:, :3].argmax(1) + (rng.random(n) < 0.2)) % 3


def _model(lr=0.1, smoothing=0.0, metrics=("accuracy",)):
    model = Sequential([L.Input((5,)), L.Dense(8, seed=0), L.ReLU(), L.Dense(3, seed=1)])
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    model.compile(optimizers.SGD(lr, momentum=0.5), loss, list(metrics))
    return model


def _batches(x, y, size, w=None):
    return [
        (x[i : i + size], y[i : i + size]) + (() if w is None else (w[i : i + size],))
        for i in range(0, len(x), size)
    ]


def _same_weights(a, b):
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


# ------------------------------------------------------------------ iterables


def test_a_list_of_batches_trains_as_the_arrays_in_order():
    x, y = _data()
    arrays, listed = _model(), _model()
    ha = arrays.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    hb = listed.fit(_batches(x, y, 16), epochs=3, verbose=0)
    _same_weights(arrays, listed)
    assert ha.history == hb.history


def test_a_generator_is_consumed_across_epochs():
    x, y = _data(96)
    served = []

    def batches():
        for k, (xb, yb) in enumerate(_batches(x, y, 16)):
            served.append(k)
            yield xb, yb

    model, twin = _model(), _model()
    model.fit(batches(), steps_per_epoch=2, epochs=3, verbose=0)
    assert served == [0, 1, 2, 3, 4, 5] and model.epochs == 3  # no batch twice
    twin.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    _same_weights(model, twin)


class Reiterable:
    """An iterable without len(): iter() starts over, and counts how often it was called."""

    def __init__(self, batches):
        self.batches, self.iterations, self.closed = batches, 0, 0

    def __iter__(self):
        self.iterations += 1
        try:
            yield from self.batches
        finally:
            self.closed += 1


def test_an_iterable_starts_afresh_every_epoch():
    x, y = _data()
    data = Reiterable(_batches(x, y, 16))
    model, twin = _model(), _model()
    history = model.fit(data, epochs=3, verbose=0)
    assert data.iterations == 3 and len(history.epoch) == 3
    twin.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    _same_weights(model, twin)
    data = Reiterable(_batches(x, y, 16))
    short = _model()
    short.fit(data, steps_per_epoch=2, epochs=2, verbose=0)
    assert (data.iterations, data.closed) == (2, 2)  # the first 2 batches each time, iterators closed
    assert short.optimizer.iterations == 4


def test_len_gives_the_steps_and_running_out_stops_training_with_a_warning():
    x, y = _data()
    seen = {}
    model = _model()
    cb = fastcnn.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.update(steps=cb.params["steps"]))
    model.fit(_batches(x, y, 16), epochs=1, verbose=0, callbacks=[cb])
    assert seen == {"steps": 4}
    with pytest.warns(
        RuntimeWarning, match=r"ran out of data at epoch 2.*steps_per_epoch \* epochs batches \(3 \* 4\)"
    ):
        history = _model().fit(iter(_batches(x, y, 16)), steps_per_epoch=3, epochs=4, verbose=0)
    assert len(history.epoch) == 2  # epoch 2 ran the one batch left
    with pytest.warns(RuntimeWarning, match="consumed across epochs"):
        history = _model().fit(iter(_batches(x, y, 16)), epochs=3, verbose=0)
    assert len(history.epoch) == 1


def test_batches_with_sample_weights_and_iterable_validation_and_evaluate():
    x, y = _data()
    w = np.linspace(0.5, 2.0, len(x))
    arrays, listed = _model(), _model()
    ha = arrays.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        shuffle=False,
        verbose=0,
        sample_weight=w,
        validation_data=(x[:24], y[:24]),
    )
    hb = listed.fit(
        _batches(x, y, 16, w), epochs=2, verbose=0, validation_data=Reiterable(_batches(x[:24], y[:24], 10))
    )
    _same_weights(arrays, listed)
    assert hb.history["loss"] == ha.history["loss"]
    for key in ("val_loss", "val_accuracy"):  # other batch sizes: the same values up to rounding
        np.testing.assert_allclose(hb.history[key][0], ha.history[key][0], rtol=1e-6)
    assert arrays.evaluate(_batches(x, y, 10), return_dict=True) == pytest.approx(
        arrays.evaluate(x, y, batch_size=20, return_dict=True)
    )
    assert arrays.evaluate(iter(_batches(x, y, 16)), steps=2) == pytest.approx(
        arrays.evaluate(x[:32], y[:32])
    )


def test_predict_takes_iterables_and_tuples():
    x, y = _data()
    model = _model()
    want = model.predict(x)
    np.testing.assert_array_equal(model.predict(iter([x[:20], x[20:]])), want)
    np.testing.assert_array_equal(model.predict(b for b in _batches(x, y, 16)), want)  # tuples: x first
    np.testing.assert_array_equal(model.predict(iter([x[:20], x[20:]]), steps=1), want[:20])
    recorded = []
    cb = fastcnn.callbacks.LambdaCallback(on_predict_batch_end=lambda b, logs: recorded.append(b))
    np.testing.assert_array_equal(model.predict(x, batch_size=30, callbacks=[cb]), want)
    assert recorded == [0, 1, 2]


def test_iterables_train_a_graph_model_with_two_inputs():
    a, b = fastcnn.Input((3,), name="a"), fastcnn.Input((2,), name="b")
    out = L.Dense(3, seed=0)(L.Concatenate()([a, b]))
    x, y = _data()
    xa, xb = x[:, :3], x[:, 3:]

    def build():
        model = fastcnn.Model([a, b], out)
        model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    first = build()
    weights = first.get_weights()
    first.fit([xa, xb], y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    after = first.get_weights()
    first.set_weights(weights)
    first.fit(
        [([xa[i : i + 16], xb[i : i + 16]], y[i : i + 16]) for i in range(0, 64, 16)], epochs=2, verbose=0
    )
    for p, q in zip(first.get_weights(), after):
        np.testing.assert_array_equal(p, q)


def test_bad_inputs_are_clear_errors():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="sample_weight takes arrays"):
        model.fit(_batches(x, y, 16), sample_weight=np.ones(64), verbose=0)
    with pytest.raises(ValueError, match="validation_split takes arrays"):
        model.fit(_batches(x, y, 16), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch takes a generator"):
        model.fit(x, y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="y is required"):
        model.fit(x, verbose=0)
    with pytest.raises(TypeError, match=r"batch 1 of x is ndarray.*\(x, y\)"):
        model.fit([x[:16], x[16:32]], verbose=0)
    with pytest.raises(TypeError, match="batch 2 of x is tuple of length 1"):
        model.fit([(x[:16], y[:16]), (x[16:],)], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit([(x[:16], y[:8])], verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive int"):
        model.fit(iter(_batches(x, y, 16)), steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match="validation_data must be"):
        model.fit(x, y, validation_data=5, verbose=0)
    with pytest.raises(ValueError, match="no batches"):
        model.evaluate(iter([]))
    with pytest.raises(ValueError, match="sample_weight must hold one weight per sample"):
        model.fit(x, y, sample_weight=np.ones(10), verbose=0)


# ------------------------------------------------------------------ weights


def _per_sample_losses(model, x, y, smoothing=0.0):
    logits = model.predict(x).astype(np.float64)
    log_p = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    target = np.eye(3)[y] * (1 - smoothing) + smoothing / 3
    return -(target * log_p).sum(1)


def test_class_weight_loss_is_the_weighted_sum_over_the_sample_count():
    x, y = _data()
    model = _model(lr=0.0)  # the weights stay: the logged loss can be checked by hand
    class_weight = {0: 0.5, 2: 4.0}  # class 1 keeps weight 1, as Keras
    w = np.array([0.5, 1.0, 4.0])[y]
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0, class_weight=class_weight)
    each = _per_sample_losses(model, x, y)
    assert history.history["loss"][0] == pytest.approx(np.sum(w * each) / len(x), rel=1e-5)
    assert history.history["accuracy"][0] == pytest.approx(
        np.mean(model.predict(x).argmax(1) == y)
    )  # unweighted
    assert model.evaluate(x, y, sample_weight=w) == pytest.approx(
        [np.sum(w * each) / len(x), history.history["accuracy"][0]], rel=1e-5
    )
    assert model.train_on_batch(x, y, class_weight=class_weight)[0] == pytest.approx(
        np.sum(w * each) / 64, rel=1e-5
    )


def test_class_weight_equals_its_sample_weights_and_both_multiply():
    x, y = _data()
    cw = {0: 2.0, 1: 0.25, 2: 1.5}
    as_samples = np.array([cw[c] for c in y])
    a, b = _model(), _model()
    ha = a.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=3, class_weight=cw)
    hb = b.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=3, sample_weight=as_samples)
    _same_weights(a, b)
    assert ha.history == hb.history
    extra = np.linspace(0.1, 1.0, len(x))
    c, d = _model(), _model()
    c.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=3, class_weight=cw, sample_weight=extra)
    d.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=3, sample_weight=extra * as_samples)
    _same_weights(c, d)
    onehot = _model()  # one-hot targets: the class is the argmax
    onehot.compile(optimizers.SGD(0.1, momentum=0.5), losses.CategoricalCrossentropy(from_logits=True))
    onehot.fit(x, np.eye(3)[y], batch_size=16, epochs=2, verbose=0, seed=3, class_weight=cw)
    np.testing.assert_allclose(onehot.get_weights()[0], a.get_weights()[0], rtol=1e-5, atol=1e-6)


def test_weights_move_the_decision_towards_the_heavy_class():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 5)).astype(np.float32)
    y = (x[:, 0] + rng.standard_normal(400) > 1.2).astype(np.int64)  # about 1 in 6 positives
    recall = {}
    for name, cw in (("plain", None), ("weighted", {0: 1.0, 1: 5.0})):
        model = _model(lr=0.05)
        model.fit(x, y, batch_size=32, epochs=10, verbose=0, seed=0, class_weight=cw)
        recall[name] = fastcnn.metrics.recall(y, model.predict(x), average=None)[1]
    assert recall["weighted"] > recall["plain"] + 0.1


def test_class_weight_errors():
    x, y = _data()
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        _model().fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="class indices"):
        _model().fit(x, y, class_weight={"cat": 2.0}, verbose=0)
    with pytest.raises(ValueError, match="class_weight\\[1\\]"):
        _model().fit(x, y, class_weight={1: -1.0}, verbose=0)


def test_label_smoothing_in_training_logs_the_smoothed_loss():
    x, y = _data()
    model = _model(lr=0.0, smoothing=0.2)
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(
        np.mean(_per_sample_losses(model, x, y, 0.2)), rel=1e-5
    )
    trained = _model(lr=0.2, smoothing=0.2)
    history = trained.fit(x, y, batch_size=16, epochs=8, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # smoothing bounds the confidence: the largest probability stays well below 1
    logits = trained.predict(x)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    assert (probs / probs.sum(1, keepdims=True)).max() < 0.99


def test_multi_output_sample_weights_per_output():
    a = fastcnn.Input((5,))
    h = L.Dense(4, seed=0)(a)
    model = fastcnn.Model(a, [L.Dense(3, seed=1, name="cls")(h), L.Dense(1, seed=2, name="reg")(h)])
    model.compile(
        optimizers.SGD(0.0),
        [losses.SparseCategoricalCrossentropy(from_logits=True), "mse"],
        loss_weights=[1.0, 2.0],
    )
    x, y = _data()
    target = x[:, :1].astype(np.float64)
    w = np.linspace(0.0, 2.0, 64)
    logs = model.evaluate(x, [y, target], sample_weight=w, return_dict=True)
    cls, reg = model.predict(x)
    ce = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert logs["cls_loss"] == pytest.approx(ce(cls, y, w), rel=1e-6)
    assert logs["reg_loss"] == pytest.approx(2.0 * np.sum(w * (reg[:, 0] - target[:, 0]) ** 2) / 64, rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["cls_loss"] + logs["reg_loss"], rel=1e-12)
    per_output = model.evaluate(x, [y, target], sample_weight=[w, None], return_dict=True)
    assert per_output["cls_loss"] == pytest.approx(logs["cls_loss"]) and per_output[
        "reg_loss"
    ] == pytest.approx(2.0 * np.mean((reg[:, 0] - target[:, 0]) ** 2), rel=1e-5)
    with pytest.raises(ValueError, match="class_weight takes a model with one output"):
        model.fit(x, [y, target], class_weight={0: 1.0}, verbose=0)


def test_fit_takes_a_dataset_of_unknown_length():
    """A generator-backed Dataset has no len() (TypeError, as tf.data's): fit runs it to its end."""
    from fastcnn import data

    rng = np.random.default_rng(5)
    x, y = rng.random((48, 4)).astype(np.float32), rng.integers(0, 3, 48)

    def batches():
        for i in range(0, 48, 16):
            yield x[i : i + 16], y[i : i + 16]

    ds = data.Dataset.from_generator(batches)
    with pytest.raises(TypeError):
        len(ds)
    model = fastcnn.Sequential([L.Input((4,)), L.Dense(3, activation="softmax", seed=0)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    seen = []
    model.fit(
        ds,
        epochs=2,
        verbose=0,
        callbacks=[fastcnn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))],
    )
    assert seen == [0, 1, 2, 0, 1, 2]
