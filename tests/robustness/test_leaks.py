"""No memory leak in the native ops: 10**4 small forward+backward steps keep RSS flat.

5000 steps per dtype (float32, float64), each a conv2d forward, a max pool
forward with indices, two max pool backwards (indices given and recomputed)
and a conv2d backward (dx, dw, db), all native. Resident memory after a
warm-up (workspaces, thread pools, allocator caches) must stay within +-5%
(~2.6 MB of the ~52 MB a test process holds): a leak of ~550 bytes per step,
e.g. one small output array per step, fails.
"""

import gc
import os
import sys

import numpy as np
import pytest

import fastcnn.functional as F

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.path.exists("/proc/self/statm"),
    reason="reads resident memory from /proc/self/statm (Linux)",
)

STEPS = 5000  # per dtype: 10**4 steps in all
WARMUP = 2000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _step(x, w, b):
    y = F.conv2d(x, w, b, padding=1)
    p, idx = F.max_pool2d(y, 2, return_indices=True)
    dy = F.max_pool2d_backward(np.ones_like(p), y, 2, indices=idx)
    dy2 = F.max_pool2d_backward(np.ones_like(p), y, 2)  # indices recomputed natively
    dx, dw, db = F.conv2d_backward(dy + dy2, x, w, padding=1)
    return float(dw[0, 0, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_rss_flat_over_many_small_calls(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    for _ in range(WARMUP):
        _step(x, w, b)
    gc.collect()
    start = rss_bytes()
    samples = []
    for i in range(STEPS):
        _step(x, w, b)
        if i % 500 == 0:
            samples.append(rss_bytes())
    gc.collect()
    end = rss_bytes()
    grown = max(samples + [end]) - start
    print(
        f"\nRSS {start / 2**20:.1f} MiB -> {end / 2**20:.1f} MiB "
        f"(max {max(samples + [end]) / 2**20:.1f} MiB) over {STEPS} steps"
    )
    assert abs(end - start) <= 0.05 * start, f"RSS went from {start} to {end} bytes"
    assert grown <= 0.05 * start, f"RSS peaked {grown} bytes above the post-warm-up level"
