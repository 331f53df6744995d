"""Time the Dense op (fastcnn.functional.linear and linear_backward) against NumPy's matmul.

Shapes are Dense layers of small CNNs and MLPs (batch x in_features @
in_features x out_features), plus a square 1024^3 product. Forward is
x @ w; backward is dx = dout @ w.T and dw = x.T @ dout (NumPy's BLAS, with
its own threads, against fastcnn's native GEMM). Each time is the median
over at least `--seconds` of calls after a warm-up call; ratios are NumPy
ms / fastcnn ms (> 1: fastcnn faster), measured in the same run.

    python bench/linear_vs_numpy.py [--threads 2] [--seconds 0.4] [--dtype float32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastcnn
import fastcnn.functional as F

SHAPES = [
    (256, 800, 10),
    (512, 4096, 10),
    (1024, 512, 64),
    (6272, 256, 64),
    (64, 3136, 128),
    (128, 1568, 128),
    (64, 784, 256),
    (256, 512, 512),
    (1024, 1024, 1024),
]


def median_ms(fn, seconds):
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=0.4)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    fastcnn.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:  # NumPy's BLAS keeps its own thread count
        pass
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s), {args.dtype}; ms, ratio = NumPy / fastcnn")
    print(f"{'N x in @ in x out':>24} {'forward':>22} {'backward (dx + dw)':>24}")
    for n, i, o in SHAPES:
        x = rng.standard_normal((n, i)).astype(args.dtype)
        w = rng.standard_normal((i, o)).astype(args.dtype)
        dout = rng.standard_normal((n, o)).astype(args.dtype)
        # (the lambdas below run within this iteration: the loop variables they read are current)
        fwd = median_ms(lambda: F.linear(x, w), args.seconds)  # noqa: B023
        fwd_np = median_ms(lambda: x @ w, args.seconds)  # noqa: B023
        bwd = median_ms(lambda: F.linear_backward(dout, x, w, needs=("x", "w")), args.seconds)  # noqa: B023
        bwd_np = median_ms(lambda: (dout @ w.T, x.T @ dout), args.seconds)  # noqa: B023
        print(
            f"{f'{n}x{i} @ {i}x{o}':>24} {fwd:8.3f} {fwd_np:7.3f} {fwd_np / fwd:5.2f}x "
            f"{bwd:9.3f} {bwd_np:7.3f} {bwd_np / bwd:5.2f}x"
        )


if __name__ == "__main__":
    main()
