"""fastcnn.data.Dataset: sources, shuffle, map, batch, take, repeat, prefetch.

Expectations come from the arrays themselves (slices, permutations,
tf.data's rules), never from earlier outputs of the pipeline; the fast
index path is compared with the element-by-element path.
"""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from fastcnn.data import AUTOTUNE, Dataset
from fastcnn.pipeline import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY


def arrays(n=23, seed=0):
    """x whose first pixel is the sample's index, so any batch says which samples it holds."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2, 3), dtype=np.float32)
    x[:, 0, 0] = np.arange(n)
    y = np.arange(n) % 5
    w = np.linspace(0.5, 1.5, n)
    return x, y, w


def ids(xb):
    return xb[:, 0, 0].astype(int).tolist()


def same_batches(a, b):
    a, b = list(a), list(b)
    assert len(a) == len(b)
    for p, q in zip(a, b):
        p, q = (p, q) if isinstance(p, tuple) else ((p,), (q,))
        assert len(p) == len(q)
        for u, v in zip(p, q):
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u, v)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "fastcnn-prefetch"]


def no_prefetch_thread_left():
    for _ in range(200):  # a thread that was told to stop finishes its element first
        if not prefetch_threads():
            return True
        time.sleep(0.01)
    return False


# ----------------------------------------------------------------------------- sources, batch


def test_elements_of_arrays():
    x, y, w = arrays(5)
    assert [float(e[0, 0]) for e in Dataset.from_arrays(x)] == [0, 1, 2, 3, 4]
    pairs = list(Dataset.from_arrays(x, y))
    assert len(pairs) == 5 and all(isinstance(p, tuple) and len(p) == 2 for p in pairs)
    for i, (xi, yi) in enumerate(pairs):
        np.testing.assert_array_equal(xi, x[i])
        assert yi == y[i]
    triples = list(Dataset.from_arrays(x, y, w))
    assert [t[2] for t in triples] == list(w)


@pytest.mark.parametrize(
    "n, size, drop", [(23, 5, False), (23, 5, True), (20, 5, False), (3, 8, False), (3, 8, True)]
)
def test_batches_are_consecutive_slices(n, size, drop):
    x, y, w = arrays(n)
    ds = Dataset.from_arrays(x, y, w).batch(size, drop_remainder=drop)
    expected = [(x[s : s + size], y[s : s + size], w[s : s + size]) for s in range(0, n, size)]
    if drop:
        expected = [e for e in expected if len(e[0]) == size]
    same_batches(ds, expected)
    assert len(ds) == len(expected) == ds.cardinality()


def test_batches_are_copies_and_elements_are_read_only():
    x, y, _ = arrays(6)
    before = x.copy()
    for xb, _yb in Dataset.from_arrays(x, y).batch(4):
        xb *= 0  # a batch belongs to the caller
    np.testing.assert_array_equal(x, before)

    def scale_in_place(xi, yi):
        xi *= 2
        return xi, yi

    with pytest.raises(ValueError, match="read-only"):
        list(Dataset.from_arrays(x, y).map(scale_in_place))
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable  # the caller's own array is untouched


def test_from_generator_called_once_per_epoch():
    calls = []

    def samples():
        calls.append(1)
        for i in range(7):
            yield np.full((2,), i), i % 3

    ds = Dataset.from_generator(samples).batch(3)
    for _ in range(2):
        batches = list(ds)
        assert [len(b[1]) for b in batches] == [3, 3, 1]
        np.testing.assert_array_equal(batches[1][0], [[3, 3], [4, 4], [5, 5]])
        np.testing.assert_array_equal(batches[2][1], [0])
    assert len(calls) == 2
    assert ds.cardinality() == UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="unknown"):
        len(ds)
    assert ds.take(2).cardinality() == UNKNOWN_CARDINALITY  # tf.data's rule: it may hold fewer


def test_from_generator_argument_errors():
    def gen():
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        Dataset.from_generator(gen())
    with pytest.raises(TypeError, match="returned a int, not an iterable"):
        list(Dataset.from_generator(lambda: 5))


def test_batch_of_unequal_elements_names_the_batch():
    shapes = [(2,), (2,), (2,), (3,)]
    ds = Dataset.from_generator(lambda: (np.zeros(s) for s in shapes)).batch(2)
    batches = iter(ds)
    assert next(batches).shape == (2, 2)
    with pytest.raises(ValueError, match="batch 1: cannot stack"):
        next(batches)


# ----------------------------------------------------------------------------- shuffle


def test_shuffle_is_a_permutation_each_epoch_and_pairs_stay_together():
    x, y, w = arrays(50)
    ds = Dataset.from_arrays(x, y, w).shuffle(seed=7).batch(8)
    orders = []
    for _ in range(3):
        order = []
        for xb, yb, wb in ds:
            order += ids(xb)
            np.testing.assert_array_equal(yb, np.asarray(ids(xb)) % 5)
            np.testing.assert_array_equal(wb, w[ids(xb)])
        assert sorted(order) == list(range(50))
        orders.append(order)
    assert orders[0] != orders[1] != orders[2] and orders[0] != list(range(50))


def test_shuffle_depends_only_on_seed_and_epoch():
    x, y, _ = arrays(40)
    first = Dataset.from_arrays(x, y).shuffle(seed=3).batch(16)
    second = Dataset.from_arrays(x, y).shuffle(seed=3).batch(16)
    epochs = [[ids(xb) for xb, _ in first] for _ in range(3)]
    assert [[ids(xb) for xb, _ in second] for _ in range(3)] == epochs
    other_seed = Dataset.from_arrays(x, y).shuffle(seed=4).batch(16)
    assert [ids(xb) for xb, _ in other_seed] != epochs[0]
    unseeded = Dataset.from_arrays(x, y).shuffle().batch(40)
    assert ids(next(iter(unseeded))[0]) != ids(next(iter(unseeded))[0])  # 1 in 40! to fail


@pytest.mark.parametrize("buffer_size", [1, 4, 10])
def test_buffered_shuffle_draws_from_the_next_buffer_size_elements(buffer_size):
    """tf.data's rule: the element at output position p is among inputs 0..p + buffer_size - 1."""
    x, y, _ = arrays(60)
    order = [i for xb, _ in Dataset.from_arrays(x, y).shuffle(buffer_size, seed=1).batch(7) for i in ids(xb)]
    assert sorted(order) == list(range(60))
    assert all(i <= p + buffer_size - 1 for p, i in enumerate(order))
    if buffer_size == 1:
        assert order == list(range(60))
    else:
        assert order != list(range(60))


@pytest.mark.parametrize("buffer_size", [None, 6, 1000])
def test_index_path_equals_element_path(buffer_size):
    """from_arrays -> shuffle -> take -> repeat -> batch gathers by index; an identity
    map forces the element-by-element path, which must give the same batches."""
    x, y, w = arrays(31)
    fast = Dataset.from_arrays(x, y, w).shuffle(buffer_size, seed=5).take(29).repeat(2).batch(6)
    slow = (
        Dataset.from_arrays(x, y, w)
        .map(lambda *e: e)
        .shuffle(buffer_size, seed=5)
        .take(29)
        .repeat(2)
        .batch(6)
    )
    for _ in range(2):
        same_batches(fast, slow)
    assert fast.cardinality() == slow.cardinality() == 10


def test_shuffle_of_a_generator():
    ds = Dataset.from_generator(lambda: iter(range(30))).shuffle(seed=2)
    a, b = list(ds), list(ds)
    assert sorted(a) == sorted(b) == list(range(30)) and a != b and a != list(range(30))


# ----------------------------------------------------------------------------- map


def test_map_before_batch_is_per_element_after_is_per_batch():
    x, y, _ = arrays(10)
    seen = []

    def per_element(xi, yi):
        seen.append(xi.shape)
        return xi * 2, yi + 1

    batches = list(Dataset.from_arrays(x, y).map(per_element).batch(4))
    assert seen == [(2, 3)] * 10
    same_batches(batches, [(x[s : s + 4] * 2, y[s : s + 4] + 1) for s in (0, 4, 8)])
    seen.clear()

    def per_batch(xb, yb):
        seen.append(xb.shape)
        return xb[:, :1], yb

    batches = list(Dataset.from_arrays(x, y).batch(4).map(per_batch))
    assert seen == [(4, 2, 3), (4, 2, 3), (2, 2, 3)]
    same_batches(batches, [(x[s : s + 4, :1], y[s : s + 4]) for s in (0, 4, 8)])
    single = list(Dataset.from_arrays(x).batch(5).map(lambda xb: xb.sum(axis=(1, 2))))
    np.testing.assert_allclose(np.concatenate(single), x.sum(axis=(1, 2)), rtol=1e-6)


# ----------------------------------------------------------------------------- take, repeat, cardinality


def test_take_and_repeat():
    x, y, _ = arrays(10)
    ds = Dataset.from_arrays(x, y)
    assert [ids(xb) for xb, _ in ds.take(7).batch(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [ids(xb) for xb, _ in ds.take(-1).batch(10)] == [list(range(10))]
    assert [ids(xb) for xb, _ in ds.repeat(2).batch(8)] == [
        list(range(8)),
        [8, 9, 0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9],
    ]
    forever = ds.repeat().batch(4)
    assert forever.cardinality() == INFINITE_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(forever)
    assert [ids(xb) for xb, _ in forever.take(5)][-1] == [6, 7, 8, 9]
    assert len(ds.take(3)) == 3 and len(ds.take(30)) == 10 and len(ds.repeat().take(25)) == 25
    assert len(ds.repeat(0)) == 0 and list(ds.repeat(0)) == []


def test_repeat_reshuffles_each_pass():
    x, y, _ = arrays(12)
    passes = [ids(xb) for xb, _ in Dataset.from_arrays(x, y).shuffle(seed=0).repeat(3).batch(12)]
    assert len(passes) == 3 and all(sorted(p) == list(range(12)) for p in passes)
    assert passes[0] != passes[1] != passes[2]


def test_empty_datasets():
    empty = Dataset.from_arrays(np.zeros((0, 3)), np.zeros(0))
    assert list(empty.batch(4)) == [] and len(empty.batch(4)) == 0
    assert list(empty.repeat().batch(4)) == []  # not an endless loop
    assert list(empty.shuffle(seed=0).repeat().take(3)) == []
    assert list(Dataset.from_generator(lambda: iter(())).repeat()) == []


def test_shuffle_buffer_over_an_infinite_dataset():
    x, y, _ = arrays(8)
    with pytest.raises(ValueError, match="needs a buffer_size"):
        Dataset.from_arrays(x, y).repeat().shuffle(seed=0)
    got = [ids(xb) for xb, _ in Dataset.from_arrays(x, y).repeat().shuffle(4, seed=0).batch(8).take(3)]
    flat = [i for b in got for i in b]
    # outputs 0..23 come from inputs 0..26 of 0..7, 0..7, ...: each value 2 to 4 times
    assert len(flat) == 24 and all(2 <= flat.count(v) <= 4 for v in range(8))
    assert flat != list(range(8)) * 3


# ----------------------------------------------------------------------------- prefetch


def pipeline(prefetch):
    x, y, w = arrays(41)
    ds = Dataset.from_arrays(x, y, w).shuffle(seed=11).batch(6).map(lambda xb, yb, wb: (xb * 2, yb, wb))
    return ds.prefetch(3) if prefetch else ds


def test_prefetch_gives_the_same_batches():
    plain, ahead = pipeline(False), pipeline(True)
    for _ in range(3):
        same_batches(ahead, plain)
    assert no_prefetch_thread_left()
    assert len(ahead) == len(plain) == 7
    x, y, _ = arrays(9)
    elements = list(Dataset.from_arrays(x, y).prefetch(AUTOTUNE))  # unbatched elements too
    np.testing.assert_array_equal(np.stack([e[0] for e in elements]), x)
    np.testing.assert_array_equal([e[1] for e in elements], y)


def test_prefetch_raises_the_workers_exception_at_its_batch():
    def fail_on_third(xb, yb):
        if ids(xb)[0] == 12:
            raise ZeroDivisionError("bad batch 12")
        return xb, yb

    x, y, _ = arrays(30)
    ds = Dataset.from_arrays(x, y).batch(6).map(fail_on_third).prefetch(2)
    got = []
    with pytest.raises(ZeroDivisionError, match="bad batch 12") as e:
        for xb, _ in ds:
            got.append(ids(xb)[0])
    assert got == [0, 6]
    assert any(frame.name == "fail_on_third" for frame in e.traceback)
    assert no_prefetch_thread_left()


def test_prefetch_thread_stops_when_the_loop_is_left():
    x, y, _ = arrays(200)
    endless = Dataset.from_arrays(x, y).repeat().batch(4).prefetch(2)
    for i, _ in enumerate(endless):  # break
        if i == 3:
            break
    assert no_prefetch_thread_left()

    it = iter(endless)  # dropped
    next(it)
    assert prefetch_threads()
    del it
    gc.collect()
    assert no_prefetch_thread_left()

    it = iter(endless)  # closed
    next(it)
    it.close()
    assert no_prefetch_thread_left()
    with pytest.raises(StopIteration):
        next(it)

    with pytest.raises(KeyError):  # the caller's own exception
        for _ in endless:
            raise KeyError("stop")
    assert no_prefetch_thread_left()

    slow_consumer = Dataset.from_arrays(x, y).batch(4).prefetch(1)  # producer blocked on a full queue
    it = iter(slow_consumer)
    next(it)
    time.sleep(0.05)
    it.close()
    assert no_prefetch_thread_left()


def test_prefetch_inside_a_pipeline_is_closed_by_take():
    x, y, _ = arrays(100)
    ds = Dataset.from_arrays(x, y).repeat().prefetch(4).batch(5).take(3)
    assert [ids(xb) for xb, _ in ds] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]
    assert no_prefetch_thread_left()


def test_prefetch_overlaps_preparation_with_the_loop_body():
    """Preparing a batch and using it take 30 ms each (sleeps, which release the
    GIL as fastcnn's kernels do): in turn 8 batches take 480 ms, overlapped ~270 ms."""
    delay, n = 0.03, 8

    def prepare(xb):
        time.sleep(delay)
        return xb

    def run(ds):
        t0 = time.perf_counter()
        for _ in ds:
            time.sleep(delay)
        return time.perf_counter() - t0

    base = Dataset.from_arrays(np.zeros((n, 1))).batch(1).map(prepare)
    serial, overlapped = run(base), run(base.prefetch(2))
    assert serial >= 2 * n * delay
    assert overlapped < 0.8 * 2 * n * delay, (serial, overlapped)


# ----------------------------------------------------------------------------- bad arguments, repr


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda ds: ds.batch(0), ValueError, "batch_size must be an int >= 1, got 0"),
        (lambda ds: ds.batch(2.0), ValueError, "batch_size"),
        (lambda ds: ds.batch(True), ValueError, "batch_size"),
        (lambda ds: ds.batch(2, drop_remainder="yes"), TypeError, "drop_remainder"),
        (lambda ds: ds.shuffle(0), ValueError, "buffer_size must be an int >= 1"),
        (lambda ds: ds.shuffle(seed=-1), ValueError, "seed must be an int >= 0"),
        (lambda ds: ds.shuffle(seed=1.5), ValueError, "seed"),
        (lambda ds: ds.take(-2), ValueError, "take count must be an int >= -1"),
        (lambda ds: ds.repeat(-2), ValueError, "repeat count"),
        (lambda ds: ds.prefetch(0), ValueError, "prefetch buffer_size"),
        (lambda ds: ds.map("f"), TypeError, "map needs a callable, got str"),
    ],
)
def test_bad_arguments(make, error, message):
    x, y, _ = arrays(4)
    with pytest.raises(error, match=message):
        make(Dataset.from_arrays(x, y))


def test_bad_sources():
    with pytest.raises(ValueError, match="x has 4, y has 3"):
        Dataset.from_arrays(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="y has 4, sample_weight has 5"):
        Dataset.from_arrays(np.zeros((4, 2)), np.zeros(4), np.ones(5))
    with pytest.raises(ValueError, match="sample_weight needs y"):
        Dataset.from_arrays(np.zeros((4, 2)), sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="x must have a leading sample axis"):
        Dataset.from_arrays(np.float32(1.0))
    with pytest.raises(TypeError, match="from_arrays"):
        Dataset()


def test_repr_lists_the_steps():
    x, y, _ = arrays(4)
    text = repr(Dataset.from_arrays(x, y).shuffle(seed=1).batch(2, drop_remainder=True).prefetch(AUTOTUNE))
    assert text == (
        "Dataset(from_arrays((4, 2, 3), (4,)) -> shuffle(buffer_size=all, seed=1) "
        "-> batch(2, drop_remainder=True) -> prefetch(2))"
    )
