"""Many Python threads calling the native ops at once (the GIL is released inside).

Each op's result depends only on its inputs and the thread count, so calls
made concurrently must equal the same calls made one after another, bit for
bit. Changing the thread count or the SIMD path while other threads compute
must neither crash nor give wrong results; those run in a subprocess so a
crash is reported as a failure instead of taking the test run down.
"""

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fastcnn.functional as F


def _jobs():
    """(function, args, kwargs) of conv2d / conv2d_backward / max_pool2d on different shapes."""
    rng = np.random.default_rng(99)
    jobs = []
    for i in range(24):
        dtype = (np.float32, np.float64)[i % 2]
        n, c, h, w = 1 + i % 3, 1 + (5 * i) % 9, 7 + (7 * i) % 23, 7 + (3 * i) % 29
        groups = 1 if c % 2 else 2
        co = groups * (1 + i % 4)
        k, s, p, dl = 1 + i % 4, 1 + i % 3, ("same", 0, 1, ((1, 0), (0, 2)))[i % 4], 1 + (i // 4) % 2
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        wt = rng.standard_normal((co, c // groups, k, k)).astype(dtype)
        kw = dict(stride=s, padding=p, dilation=dl, groups=groups)
        out_shape = F.conv2d(x, wt, **kw).shape
        dout = rng.standard_normal(out_shape).astype(dtype)
        jobs.append((F.conv2d, (x, wt, rng.standard_normal(co).astype(dtype)), kw))
        jobs.append((F.conv2d_backward, (dout, x, wt), kw))
        jobs.append((F.max_pool2d, (x, 1 + i % 3, 1 + i % 2, (1 + i % 3) // 2, bool(i % 2), True), {}))
        jobs.append((F.avg_pool2d_backward, (np.ones(F.avg_pool2d(x, 2).shape, dtype), x, 2), {}))
    return jobs


def _flatten(result):
    if isinstance(result, tuple):
        return [r for r in result if r is not None]
    return [result]


def test_concurrent_calls_equal_serial_calls():
    jobs = _jobs()
    serial = [_flatten(f(*a, **kw)) for f, a, kw in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_ in range(3):
            futures = [pool.submit(f, *a, **kw) for f, a, kw in jobs * 2]
            for i, fut in enumerate(futures):
                got = _flatten(fut.result())
                expect = serial[i % len(jobs)]
                assert len(got) == len(expect)
                for g, e in zip(got, expect):
                    np.testing.assert_array_equal(g, e, err_msg=f"round {round_} job {i % len(jobs)}")


RACE_SCRIPT = textwrap.dedent("""
    import threading, time
    import numpy as np
    import fastcnn, fastcnn.functional as F

    isas = fastcnn.cpu_info()["supported_isas"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 19, 23))
    w = rng.standard_normal((12, 4, 3, 3))
    kw = dict(stride=2, padding=1, groups=2)
    y = F.conv2d(x, w, **kw)
    dout = rng.standard_normal(y.shape)
    expect = [y, *F.conv2d_backward(dout, x, w, **kw), F.max_pool2d(x, 3, 2, 1)]

    def close(a, b):
        return np.max(np.abs(a - b)) <= 1e-10 * max(1.0, np.max(np.abs(b)))

    stop = threading.Event()
    def toggle():
        i = 0
        while not stop.is_set():
            if MODE == "threads":
                fastcnn.set_num_threads(1 + i % 4)
            else:
                fastcnn.set_isa(isas[i % len(isas)])
            i += 1
            time.sleep(0.0005)

    errors = []
    def work():
        deadline = time.time() + SECONDS
        while time.time() < deadline:
            got = [F.conv2d(x, w, **kw), *F.conv2d_backward(dout, x, w, **kw), F.max_pool2d(x, 3, 2, 1)]
            for name, g, e in zip(["y", "dx", "dw", "db", "pool"], got, expect):
                if not close(g, e):
                    errors.append(name)
    toggler = threading.Thread(target=toggle)
    workers = [threading.Thread(target=work) for _ in range(3)]
    toggler.start()
    for t in workers: t.start()
    for t in workers: t.join()
    stop.set(); toggler.join()
    assert not errors, sorted(set(errors))
    print("ok")
""")


def _race(mode, seconds=2.0):
    script = f"MODE = {mode!r}\nSECONDS = {seconds}\n" + RACE_SCRIPT
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, (
        f"rc={proc.returncode} (negative: killed by a signal)\n{proc.stderr[-2000:]}"
    )


def test_set_num_threads_while_others_compute():
    _race("threads")


def test_set_isa_while_others_compute():
    _race("isa")
