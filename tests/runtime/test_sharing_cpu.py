"""The thread pool next to NumPy's BLAS threads, another process, other Python
threads and fork: results stay exactly those of a quiet run (not timing;
bench/under_load.py times these situations).

The pool hands a region's static ranges to whichever thread is free first
(csrc/ops/thread_pool.h), so a range may run on the caller instead of a late
worker; a range's result does not depend on which thread runs it, so every
result here must be bit-identical to the same call on a quiet machine with
the same thread count.
"""

import multiprocessing
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F
from fastcnn import _C

COMPETITOR = """
import numpy as np, fastcnn, fastcnn.functional as F
fastcnn.set_num_threads(2)
x = np.random.rand(16, 8, 20, 20).astype(np.float32)
w = np.random.rand(8, 8, 3, 3).astype(np.float32)
print("ready", flush=True)
while True:
    F.conv2d(x, w, padding=1)
"""


@pytest.fixture
def every_call_parallel():
    """Grain 0: even small calls go through the pool, so these tests reach it."""
    saved_scale, saved_threads = _C.grain_scale(), fastcnn.get_num_threads()
    _C.set_grain_scale(0.0)
    yield
    _C.set_grain_scale(saved_scale)
    fastcnn.set_num_threads(saved_threads)


def _ops(dtype=np.float32):
    """name -> no-argument callable returning a tuple of arrays."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 13, 11)).astype(dtype)
    w = rng.standard_normal((7, 5, 3, 3)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    dout = rng.standard_normal((6, 7, 13, 11)).astype(dtype)
    big_x = rng.standard_normal((8, 16, 24, 24)).astype(dtype)
    big_w = rng.standard_normal((16, 16, 5, 5)).astype(dtype)
    a = rng.standard_normal((33, 70)).astype(dtype)
    m = rng.standard_normal((70, 21)).astype(dtype)
    return {
        "conv2d": lambda: (F.conv2d(x, w, b, padding=1),),
        "conv2d big": lambda: (F.conv2d(big_x, big_w, padding=2),),
        "conv2d_backward": lambda: F.conv2d_backward(dout, x, w, padding=1),
        "conv2d channels_last": lambda: (
            F.conv2d(
                np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, b, padding=1, data_format="channels_last"
            ),
        ),
        "max_pool2d": lambda: F.max_pool2d(x, 2, return_indices=True),
        "avg_pool2d_backward": lambda: (F.avg_pool2d_backward(np.ones((6, 5, 6, 5), dtype), x, 2),),
        "linear": lambda: (F.linear(a, m),),
        "linear_backward": lambda: F.linear_backward(np.ones((33, 21), dtype), a, m),
    }


def _run_all(ops):
    return {name: tuple(np.copy(r) for r in fn() if r is not None) for name, fn in ops.items()}


def _assert_same(got, expected):
    for name in expected:
        for g, e in zip(got[name], expected[name]):
            np.testing.assert_array_equal(g, e, err_msg=name)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_results_unchanged_between_numpy_blas_calls(every_call_parallel, threads):
    fastcnn.set_num_threads(threads)
    ops = _ops()
    expected = _run_all(ops)
    a = np.random.default_rng(0).random((200, 200))
    for _ in range(5):
        for name, fn in ops.items():
            a @ a  # NumPy's BLAS workers spin after this
            got = tuple(r for r in fn() if r is not None)
            for g, e in zip(got, expected[name]):
                np.testing.assert_array_equal(g, e, err_msg=name)


def test_results_unchanged_beside_a_competing_process(every_call_parallel):
    fastcnn.set_num_threads(2)
    ops = _ops(np.float64)
    expected = _run_all(ops)
    proc = subprocess.Popen([sys.executable, "-c", COMPETITOR], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(5):
            _assert_same(_run_all(ops), expected)
        assert proc.poll() is None, "the competing process should still be running"
    finally:
        proc.kill()
        proc.wait()


def test_python_threads_calling_at_once(every_call_parallel):
    """Callers that find the pool busy run their ranges themselves."""
    fastcnn.set_num_threads(2)
    ops = _ops()
    expected = _run_all(ops)
    errors = []

    def worker():
        try:
            for _ in range(4):
                _assert_same(_run_all(ops), expected)
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[0]


def _child_conv(queue):
    fastcnn.set_num_threads(2)
    _C.set_grain_scale(0.0)
    queue.put(_run_all(_ops())["conv2d big"][0])


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_forked_child_gets_its_own_workers(every_call_parallel):
    fastcnn.set_num_threads(2)
    expected = _run_all(_ops())["conv2d big"][0]  # the parent's workers exist now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_conv, args=(queue,))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, expected)


def test_tiny_calls_stay_on_the_calling_thread():
    fastcnn.set_num_threads(2)
    x = np.random.rand(2, 3, 8, 8).astype(np.float32)
    w = np.random.rand(4, 3, 3, 3).astype(np.float32)
    _C.reset_pool_stats()
    F.conv2d(x, w, padding=1)
    F.max_pool2d(x, 2)
    F.linear(x.reshape(2, -1), np.ones((192, 3), np.float32))
    assert _C.pool_stats()["regions"] == 0
    big = np.random.rand(16, 16, 32, 32).astype(np.float32)
    F.conv2d(big, np.random.rand(16, 16, 3, 3).astype(np.float32), padding=1)
    assert _C.pool_stats()["regions"] > 0


def test_convs_with_few_output_positions_stay_on_the_calling_thread():
    """Above the multiply-add grain but with few output positions (a batch-1
    conv on a small plane): one thread, in all three passes."""
    fastcnn.set_num_threads(2)
    x = np.random.rand(1, 64, 8, 8).astype(np.float32)
    w = np.random.rand(128, 64, 3, 3).astype(np.float32)  # 6x6 outputs, 2.6M MACs
    _C.reset_pool_stats()
    out = F.conv2d(x, w)
    F.conv2d_backward(np.ones_like(out), x, w)
    assert _C.pool_stats()["regions"] == 0
    F.conv2d(np.random.rand(8, 64, 8, 8).astype(np.float32), w)  # 288 positions
    assert _C.pool_stats()["regions"] > 0
    _C.reset_pool_stats()
    wide = np.random.rand(256, 256, 3, 3).astype(np.float32)
    F.conv2d(np.random.rand(1, 256, 8, 8).astype(np.float32), wide)  # 36 positions, 21M MACs
    assert _C.pool_stats()["regions"] > 0


def test_grain_scale_zero_sends_tiny_calls_to_the_pool(every_call_parallel):
    fastcnn.set_num_threads(2)
    x = np.random.rand(2, 3, 8, 8).astype(np.float32)
    _C.reset_pool_stats()
    F.max_pool2d(x, 2)
    assert _C.pool_stats()["regions"] == 1


def test_every_slot_runs_exactly_once(every_call_parallel):
    """Slots run by the caller and by workers add up to the regions' slots."""
    fastcnn.set_num_threads(2)
    x = np.random.rand(4, 8, 16, 16).astype(np.float32)
    _C.reset_pool_stats()
    for _ in range(50):
        F.max_pool2d(x, 2)
    s = _C.pool_stats()
    assert s["regions"] == 50
    # each region: slot 0 on the caller, slot 1 on whoever claimed it first
    assert s["slots_run_by_caller"] + s["slots_run_by_workers"] == 50


def test_cpu_info_reports_the_pool():
    info = fastcnn.cpu_info()
    assert info["pool_spin_us"] >= 0
    assert set(info["serial_grain"]) == {"conv_macs", "pool_bytes", "matmul_macs", "elementwise_bytes"}
    assert all(v > 0 for v in info["serial_grain"].values())
    assert {"regions", "slots_run_by_caller", "spins_cut_short"} <= set(info["pool"])


def test_spin_setting_round_trips():
    saved = _C.pool_spin_us()
    try:
        _C.set_pool_spin_us(0)
        assert _C.pool_spin_us() == 0
        x = np.random.rand(8, 8, 32, 32).astype(np.float32)
        w = np.random.rand(8, 8, 3, 3).astype(np.float32)
        expected = F.conv2d(x, w, padding=1)
        time.sleep(0.01)  # workers asleep: every region wakes them
        np.testing.assert_array_equal(F.conv2d(x, w, padding=1), expected)
    finally:
        _C.set_pool_spin_us(saved)
