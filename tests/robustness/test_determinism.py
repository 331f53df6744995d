"""Determinism: same seed and thread count -> bit-identical training; other thread counts agree closely.

Every native op splits its work statically (parallel_for over fixed ranges)
and reduces in a fixed order, so with the same thread count a result never
depends on timing. The thread count itself changes one thing: the weight
gradient (csrc/ops/conv2d_backward_weight.cpp) gives each thread its own
partial dW over a contiguous range of (image, group, position-chunk) tasks
and adds the threads' partials at the end, so 1 thread computes
((t1 + t2) + t3) + t4 where 2 threads compute (t1 + t2) + (t3 + t4): the
float sums are associated differently and the last bits differ. Forward,
dx, db and pooling give each output element to exactly one thread, which sums
it in a fixed order, so they are bit-identical across thread counts (tested
below); after training steps the dW differences spread to all weights.
"""

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
from fastcnn import Sequential, layers as L, losses


def _data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 12, 12)).astype(np.float32), rng.integers(0, 3, n)


def _train(threads, dtype=np.float32, steps=2):
    fastcnn.set_num_threads(threads)
    x, y = _data()
    model = Sequential(
        [
            L.Input((2, 12, 12)),
            L.Conv2D(8, 3, padding="same", activation="relu", seed=1),
            L.MaxPool2D(2),
            L.Conv2D(8, 3, seed=2),
            L.AvgPool2D(2),
            L.Flatten(),
            L.Dropout(0.2, seed=3),
            L.Dense(3, seed=4),
        ]
    )
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[])
    model.fit(x.astype(dtype), y, batch_size=16, epochs=steps, seed=5, verbose=0)
    return model.get_weights()


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_threads_is_bit_identical(threads):
    a, b = _train(threads), _train(threads)
    for i, (wa, wb) in enumerate(zip(a, b)):
        assert wa.tobytes() == wb.tobytes(), f"weight {i} differs between two identical runs"


def test_thread_count_changes_only_rounding():
    one, two = _train(1), _train(2)
    diffs = [float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(a)))) for a, b in zip(one, two)]
    print(
        f"\n1 vs 2 threads after 2 epochs: max relative weight difference {max(diffs):.2e}, "
        f"bit-identical: {all(a.tobytes() == b.tobytes() for a, b in zip(one, two))}"
    )
    assert max(diffs) < 1e-4


def _grads(threads, dtype):
    fastcnn.set_num_threads(threads)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 4, 20, 20)).astype(dtype)
    w = rng.standard_normal((6, 4, 3, 3)).astype(dtype)
    y = F.conv2d(x, w, padding=1)
    dout = rng.standard_normal(y.shape).astype(dtype)
    p = F.max_pool2d(y, 2)
    a = F.avg_pool2d(y, 3, stride=2, padding=1)
    return {
        "forward": y,
        "max_pool": p,
        "avg_pool_backward": F.avg_pool2d_backward(np.cos(a), y, 3, stride=2, padding=1),
        **dict(zip(["dx", "dw", "db"], F.conv2d_backward(dout, x, w, padding=1))),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_which_results_depend_on_the_thread_count(dtype):
    one, two = _grads(1, dtype), _grads(2, dtype)
    identical = {k: one[k].tobytes() == two[k].tobytes() for k in one}
    print(f"\nbit-identical across 1 and 2 threads ({np.dtype(dtype).name}): {identical}")
    for k in ("forward", "max_pool", "avg_pool_backward", "dx", "db"):
        assert identical[k], f"{k} changed with the thread count"
    np.testing.assert_allclose(
        one["dw"],
        two["dw"],
        rtol=1e-4 if dtype == np.float32 else 1e-12,
        atol=1e-4 if dtype == np.float32 else 1e-12,
    )
