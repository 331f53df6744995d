"""Results of 1 MiB and more live in recycled blocks (fastcnn.set_output_cache_limit).

A recycled block still holds the last array's data, so every op must write
each element of its result: each case poisons the blocks its first results
leave in the cache (NaN, or -7 for indices) and checks that the second call,
which gets those blocks back, equals a call on fresh memory.
"""

import gc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F

MIB = 1 << 20


@pytest.fixture
def cache():
    """A cache emptied before and after the test, with the default limit."""
    default = fastcnn.output_cache_info()["limit_bytes"]
    fastcnn.set_output_cache_limit(0)
    fastcnn.set_output_cache_limit(default)
    yield default
    fastcnn.set_output_cache_limit(0)
    fastcnn.set_output_cache_limit(default)


def _arrays(result):
    return [a for a in result if a is not None] if isinstance(result, tuple) else [result]


def _address(a):
    return a.__array_interface__["data"][0]


def _ops():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, 64, 40)).astype(np.float32)
    x64 = rng.standard_normal((8, 16, 96, 80))
    w = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    x_last = np.ascontiguousarray(x64.transpose(0, 2, 3, 1))
    w64 = w.astype(np.float64)
    dout = rng.standard_normal((8, 24, 64, 40)).astype(np.float32)
    a = rng.standard_normal((700, 300)).astype(np.float32)
    b = rng.standard_normal((300, 500)).astype(np.float32)
    pool_dout = rng.standard_normal((8, 16, 48, 40))
    return {
        "conv2d": lambda: F.conv2d(x, w, padding=1),
        "conv2d_f64_channels_last": lambda: F.conv2d(x_last, w64, padding=1, data_format="channels_last"),
        "conv2d_backward": lambda: F.conv2d_backward(dout, x, w, padding=1),
        "conv2d_backward_gemm": lambda: F.conv2d_backward(dout, x, w, padding=1, algorithm="gemm"),
        "conv2d_stride2_dx": lambda: F.conv2d_backward(
            dout[:, :, :32, :20].copy(), x, w, stride=2, padding=1, needs=("x",)
        ),
        "linear": lambda: F.linear(a, b),
        "max_pool2d_indices": lambda: F.max_pool2d(x64, 3, 2, 1, return_indices=True),
        "max_pool2d_backward": lambda: F.max_pool2d_backward(pool_dout, x64, 3, 2, 1),
        "avg_pool2d_backward": lambda: F.avg_pool2d_backward(pool_dout, x64, 3, 2, 1),
        "avg_pool2d": lambda: F.avg_pool2d(x64, 2),
    }


OPS = _ops()


@pytest.mark.parametrize("name", sorted(OPS))
def test_recycled_blocks_are_fully_overwritten(cache, name):
    op = OPS[name]
    fastcnn.set_output_cache_limit(0)
    fresh = _arrays(op())
    fastcnn.set_output_cache_limit(cache)
    first = _arrays(op())
    big = [a for a in first if a.nbytes >= MIB]
    assert big, "the case must produce a result the cache serves"
    addresses = {_address(a) for a in big}
    for a in first:
        a[...] = -7 if a.dtype.kind == "i" else np.nan
    del first, big, a
    gc.collect()
    assert fastcnn.output_cache_info()["cached_bytes"] >= sum(a.nbytes for a in fresh if a.nbytes >= MIB)
    second = _arrays(op())
    assert {_address(a) for a in second if a.nbytes >= MIB} == addresses  # got the poisoned blocks
    for got, want in zip(second, fresh):
        np.testing.assert_array_equal(got, want)


def test_arrays_are_ordinary_writable_c_arrays(cache):
    y = F.max_pool2d(np.ones((4, 32, 64, 64), np.float32), 1)
    assert y.nbytes >= MIB and y.flags.c_contiguous and y.flags.writeable
    assert _address(y) % 64 == 0
    y += 1
    assert (y == 2).all()
    view = y[1:3]
    del y
    gc.collect()
    assert fastcnn.output_cache_info()["cached_bytes"] == 0  # the view keeps the block alive
    assert (view == 2).all()
    del view
    gc.collect()
    assert fastcnn.output_cache_info()["cached_bytes"] >= 4 * 32 * 64 * 64 * 4


def test_live_results_never_share_memory(cache):
    x = np.ones((4, 32, 64, 64), np.float32)
    ys = [F.max_pool2d(x, 1) for _ in range(20)]  # more than the cache's slots
    for i, y in enumerate(ys):
        y[...] = i
    for i, y in enumerate(ys):
        assert (y == i).all()
    del ys, y
    gc.collect()
    info = fastcnn.output_cache_info()
    assert 0 < info["cached_bytes"] <= info["limit_bytes"]


def test_small_results_are_left_to_numpy(cache):
    y = F.max_pool2d(np.ones((1, 1, 8, 8), np.float32), 2)
    assert y.flags.owndata
    del y
    assert fastcnn.output_cache_info()["cached_bytes"] == 0


def test_limit_bounds_the_cache_and_zero_turns_it_off(cache):
    x = np.ones((4, 32, 64, 64), np.float32)  # 2 MiB results
    ys = [F.max_pool2d(x, 1) for _ in range(6)]
    fastcnn.set_output_cache_limit(5 * MIB)
    del ys
    gc.collect()
    assert fastcnn.output_cache_info()["cached_bytes"] <= 5 * MIB
    fastcnn.set_output_cache_limit(0)
    assert fastcnn.output_cache_info()["cached_bytes"] == 0
    y = F.max_pool2d(x, 1)
    del y
    gc.collect()
    info = fastcnn.output_cache_info()
    assert {k: info[k] for k in ("limit_bytes", "cached_bytes", "min_array_bytes")} == {
        "limit_bytes": 0,
        "cached_bytes": 0,
        "min_array_bytes": MIB,
    }


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True, None])
def test_bad_limit(bad):
    with pytest.raises(ValueError, match="max_bytes"):
        fastcnn.set_output_cache_limit(bad)


def test_results_freed_from_many_threads(cache):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 32, 48, 48)).astype(np.float32)
    want = F.avg_pool2d_backward(np.ones((4, 32, 24, 24), np.float32), x, 2)

    def job(_):
        for _ in range(20):
            got = F.avg_pool2d_backward(np.ones((4, 32, 24, 24), np.float32), x, 2)
            np.testing.assert_array_equal(got, want)
            del got
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(job, range(8)))


def test_a_steady_training_step_takes_no_fresh_memory(cache):
    """Every large result of a training step comes back from the cache from the
    third step on (fresh_blocks stops growing)."""
    from fastcnn import zoo

    model = zoo.fashion_bn(seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    for _ in range(3):
        model.train_on_batch(x, y)
    before = fastcnn.output_cache_info()
    for _ in range(3):
        model.train_on_batch(x, y)
    after = fastcnn.output_cache_info()
    assert after["fresh_blocks"] == before["fresh_blocks"], (before, after)
    assert after["fresh_blocks"] > 0  # the counter counts
