"""Timing one call repeatedly, shared by the thread benchmarks
(under_load.py, grain_size.py, pool_vs_openmp.py)."""

from __future__ import annotations

import statistics
import time


def call_times(fn, min_time):
    """Seconds of each call of fn over at least min_time and 5 calls, after one warm-up."""
    fn()
    times = []
    while sum(times) < min_time or len(times) < 5:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn, min_time):
    return statistics.median(call_times(fn, min_time))
