"""Where a second thread starts to pay: 1 thread against 2 over a sweep of sizes.

fastcnn runs calls below a per-family amount of work on the calling thread
(csrc/ops/grain.cpp): waking a worker and joining it costs more than the
second thread saves there. This script measures those crossovers. It turns
the grain off (every call may use both threads), times each size with 1 and
2 threads taking turns, and prints the speedup of 2 threads and the first
size from which 2 threads win by at least --margin at every larger size.

    python bench/grain_size.py [--rounds 5] [--margin 1.1] [--families conv,pool,matmul]

Work is multiply-adds for conv (forward, one pass) and matmul (F.linear),
bytes read and written for pools (2x2 max pool forward).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

import fastcnn
import fastcnn.functional as F
from fastcnn import _C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_time  # noqa: E402


def conv_cases():
    for n, c, hw in [
        (1, 4, 8),
        (1, 8, 8),
        (1, 8, 16),
        (2, 8, 16),
        (4, 8, 16),
        (2, 16, 16),
        (4, 16, 16),
        (8, 16, 16),
        (8, 16, 24),
        (16, 16, 24),
        (16, 16, 32),
        (32, 16, 32),
        (32, 32, 32),
    ]:
        x = np.random.rand(n, c, hw, hw).astype(np.float32)
        w = np.random.rand(c, c, 3, 3).astype(np.float32)
        macs = n * c * hw * hw * c * 9
        yield f"N{n} {c}x{hw}x{hw} -> {c} 3x3", macs, (lambda x=x, w=w: F.conv2d(x, w, padding=1))


def pool_cases():
    for n, c, hw in [
        (1, 4, 8),
        (1, 8, 16),
        (2, 8, 16),
        (4, 8, 16),
        (4, 16, 16),
        (8, 16, 16),
        (8, 16, 28),
        (16, 16, 28),
        (32, 16, 28),
        (64, 16, 28),
        (64, 32, 28),
    ]:
        x = np.random.rand(n, c, hw, hw).astype(np.float32)
        nbytes = x.nbytes * 5 // 4
        yield f"N{n} {c}x{hw}x{hw} 2x2", nbytes, (lambda x=x: F.max_pool2d(x, 2))


def matmul_cases():
    for m, k, n in [
        (8, 16, 16),
        (16, 32, 32),
        (32, 64, 32),
        (32, 64, 64),
        (64, 64, 64),
        (64, 128, 64),
        (64, 128, 128),
        (128, 128, 128),
        (128, 256, 128),
        (256, 256, 256),
        (256, 512, 256),
    ]:
        a = np.random.rand(m, k).astype(np.float32)
        b = np.random.rand(k, n).astype(np.float32)
        yield f"{m}x{k} @ {k}x{n}", m * k * n, (lambda a=a, b=b: F.linear(a, b))


FAMILIES = {
    "conv": (conv_cases, "multiply-adds"),
    "pool": (pool_cases, "bytes"),
    "matmul": (matmul_cases, "multiply-adds"),
}


def sweep(cases, rounds, min_time):
    rows = []
    for name, work, fn in cases():
        t = {1: [], 2: []}
        for r in range(rounds):
            for threads in (1, 2) if r % 2 == 0 else (2, 1):
                fastcnn.set_num_threads(threads)
                t[threads].append(median_time(fn, min_time))
        rows.append((name, work, statistics.median(t[1]), statistics.median(t[2])))
    return rows


def crossover(rows, margin):
    """Smallest work from which 2 threads win by `margin` at every larger size."""
    found = None
    for _name, work, t1, t2 in reversed(rows):
        if t1 / t2 >= margin:
            found = work
        else:
            break
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.02, help="seconds per turn")
    parser.add_argument("--margin", type=float, default=1.1)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args(argv)

    saved_scale, saved_threads = _C.grain_scale(), fastcnn.get_num_threads()
    grains = {family: _C.serial_grain(family) for family in FAMILIES}
    _C.set_grain_scale(0.0)
    try:
        for family in args.families.split(","):
            cases, unit = FAMILIES[family]
            rows = sweep(cases, args.rounds, args.min_time)
            print(f"\n{family} (work in {unit}; the grain in use: {grains[family]:,})")
            print("| case | work | 1 thread us | 2 threads us | 2 / 1 speedup |")
            print("|---|---:|---:|---:|---:|")
            for name, work, t1, t2 in rows:
                print(f"| {name} | {work:,} | {t1 * 1e6:.1f} | {t2 * 1e6:.1f} | {t1 / t2:.2f} |")
            found = crossover(rows, args.margin)
            print(
                f"2 threads win by {args.margin}x from: {found:,}"
                if found
                else f"2 threads never win by {args.margin}x in this sweep"
            )
    finally:
        _C.set_grain_scale(saved_scale)
        fastcnn.set_num_threads(saved_threads)


if __name__ == "__main__":
    main()
