"""fastcnn sharing the CPU: calls next to NumPy's BLAS and beside another process.

Times, on --threads threads (default 2), a tiny conv, pool and linear call and
the res_3x3 / mnist_c2 forward cases (bench/cases.py):

  (a) alone                     the call in a loop, on a quiet machine
  (b) after A @ A               each call right after a NumPy 200x200 float64
                                product (OpenBLAS's workers spin after it);
                                ratio = loop time / (A @ A alone + call alone)
  (c) beside another process    while a second process runs a 2-thread
                                fastcnn conv loop; ratio to (a) of the
                                median call and of the mean (the share of
                                the machine we got: a median can stay near
                                (a) when whole time slices alternate between
                                the processes), and our threads' time over
                                our own 1-thread time under the same load
  (d) a training step           CS231n's ThreeLayerConvNet (NumPy affine
                                layers and loss, fastcnn conv and pool),
                                batch 50; with --compare-with PYTHON also
                                under another interpreter (an older
                                fastcnn), each in fresh processes taking
                                turns

PyTorch (when installed) runs the same calls beside ours, taking turns.
Targets (issue "Sharing the CPU"): (b) at most 1.5x, (c) tiny calls at most
3x idle and N threads at most 1.3x our 1-thread time under load.

    python bench/under_load.py [--threads 2] [--rounds 3] [--quick] [--compare-with PYTHON]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import fastcnn
import fastcnn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CASES  # noqa: E402
from timing import call_times, median_time  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None

BLAS_QUIET_SECONDS = 0.3  # OpenBLAS's workers sleep after ~0.1 s without work

COMPETITOR = """
import sys, numpy as np, fastcnn, fastcnn.functional as F
fastcnn.set_num_threads(2)
x = np.random.rand(32, 16, 28, 28).astype(np.float32)
w = np.random.rand(32, 16, 3, 3).astype(np.float32)
print("ready", flush=True)
while True:
    F.conv2d(x, w, padding=1)
"""


def calls(with_torch):
    """name -> {library: no-argument callable}."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape, dtype=np.float32)  # noqa: E731
    xs, ws = f32(2, 3, 8, 8), f32(4, 3, 3, 3)
    ps = f32(2, 4, 8, 8)
    la, lb, lbias = f32(8, 64), f32(64, 10), f32(10)
    out = {
        "tiny conv 2x3x8x8": {"fastcnn": lambda: F.conv2d(xs, ws, padding=1)},
        "tiny max pool 2x4x8x8": {"fastcnn": lambda: F.max_pool2d(ps, 2)},
        "tiny linear 8x64 @ 64x10": {"fastcnn": lambda: F.linear(la, lb, lbias)},
    }
    big = {}
    for name in ("mnist_c2", "res_3x3"):
        case = CASES[name]
        x, w, b, _ = case.inputs()
        big[f"{name} forward"] = (case, x, w, b)
        out[f"{name} forward"] = {
            "fastcnn": lambda x=x, w=w, b=b, c=case: F.conv2d(x, w, b, c.stride, c.padding)
        }
    if with_torch:
        t = torch.from_numpy
        txs, tws, tps, tla, tlb, tbias = t(xs), t(ws), t(ps), t(la), t(lb.T.copy()), t(lbias)
        tf = torch.nn.functional
        out["tiny conv 2x3x8x8"]["torch"] = lambda: tf.conv2d(txs, tws, padding=1)
        out["tiny max pool 2x4x8x8"]["torch"] = lambda: tf.max_pool2d(tps, 2)
        out["tiny linear 8x64 @ 64x10"]["torch"] = lambda: tf.linear(tla, tlb, tbias)
        for name, (case, x, w, b) in big.items():
            tx, tw, tb = t(x), t(w), t(b)
            out[name]["torch"] = lambda tx=tx, tw=tw, tb=tb, c=case: tf.conv2d(
                tx, tw, tb, c.stride, c.padding
            )
    return out


def in_turns(fns, rounds, min_time, quiet=True):
    """Median seconds of each callable of `fns`, taking turns over `rounds`."""
    times = {name: [] for name in fns}
    for r in range(rounds):
        for name in list(fns) if r % 2 == 0 else list(reversed(fns)):
            if quiet:
                time.sleep(BLAS_QUIET_SECONDS)
            times[name].append(median_time(fns[name], min_time / rounds))
    return {name: statistics.median(v) for name, v in times.items()}


def set_threads(n):
    fastcnn.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


class Competitor:
    """A second process running a 2-thread fastcnn conv loop."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", COMPETITOR], stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def cs231n_step(threads, rounds, min_time):
    """Seconds per ThreeLayerConvNet training step: NumPy affine layers and
    loss (the course's code, on NumPy's BLAS), fastcnn conv and pool."""
    from fastcnn.compat import cs231n

    import cs231n_speedup as course

    backend = course._backend(
        "numpy affine + fastcnn conv/pool",
        cs231n.conv_forward_fast,
        cs231n.conv_backward_fast,
        cs231n.max_pool_forward_fast,
        cs231n.max_pool_backward_fast,
    )
    np.random.seed(0)
    model = cs231n.ThreeLayerConvNet(dtype=np.float32, backend=backend)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 50)
    set_threads(threads)
    return in_turns({"step": lambda: model.loss(x, y)}, rounds, min_time)["step"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.6, help="seconds per measurement")
    parser.add_argument("--quick", action="store_true", help="1 round, short measurements")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--compare-with", metavar="PYTHON", help="also time (d) under this interpreter, taking turns"
    )
    parser.add_argument("--step-only", action="store_true", help="print (d)'s ms and stop")
    args = parser.parse_args(argv)
    if args.step_only:
        print(f"{cs231n_step(args.threads, args.rounds, args.min_time) * 1e3:.3f}")
        return
    if args.quick:
        args.rounds, args.min_time = 1, 0.1
    with_torch = torch is not None and not args.no_torch
    nt = args.threads
    a = np.random.default_rng(1).random((200, 200))
    matmul = lambda: a @ a  # noqa: E731
    table = calls(with_torch)
    libraries = ["fastcnn"] + (["torch"] if with_torch else [])

    print(f"# fastcnn {fastcnn.__version__} under load, {nt} threads, {fastcnn.cpu_info()['cpu']}")
    info = fastcnn.cpu_info()
    if "pool_spin_us" in info:  # builds before the thread pool lack these
        grain = info["serial_grain"]
        print(
            f"threads: {info['threads_backend']}, spin {info['pool_spin_us']} us; grains: conv "
            f"{grain['conv_macs']:,} MACs, pool {grain['pool_bytes']:,} bytes, matmul "
            f"{grain['matmul_macs']:,} MACs"
        )
    set_threads(nt)
    blas_alone = in_turns({"A@A": matmul}, args.rounds, args.min_time)["A@A"]
    print(
        f"A @ A alone (NumPy, 200x200 float64): {blas_alone * 1e3:.3f} ms; (b) ratio = loop / "
        f"(A @ A + call), each timed in the same turns\n"
    )

    header = (
        "| call | lib | (a) alone ms | (b) after A@A ms | (b) ratio | (c) beside a process ms "
        "| (c) / alone | (c) mean / alone | (c) 1 thread ms | (c) N / 1 thread |"
    )
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for name, fns in table.items():
        for lib in libraries:
            if lib not in fns:
                continue
            fn = fns[lib]
            set_threads(nt)
            timed = in_turns(
                {"alone": fn, "after": lambda fn=fn: (matmul(), fn()), "A@A": matmul},
                args.rounds,
                args.min_time,
            )
            rows[(name, lib)] = dict(alone=timed["alone"], after=timed["after"], matmul=timed["A@A"])
    with Competitor():
        for name, fns in table.items():
            for lib in libraries:
                if lib not in fns:
                    continue
                fn = fns[lib]
                loaded, means = {}, []
                for r in range(args.rounds):
                    for threads in (nt, 1) if r % 2 == 0 else (1, nt):
                        set_threads(threads)
                        times = call_times(fn, args.min_time / args.rounds)
                        loaded.setdefault(threads, []).append(statistics.median(times))
                        if threads == nt:
                            means.append(statistics.fmean(times))
                rows[(name, lib)]["loaded"] = statistics.median(loaded[nt])
                rows[(name, lib)]["loaded_mean"] = statistics.median(means)
                rows[(name, lib)]["loaded1"] = statistics.median(loaded[1])
    for (name, lib), r in rows.items():
        b_ratio = r["after"] / (r["matmul"] + r["alone"])
        print(
            f"| {name} | {lib} | {r['alone'] * 1e3:.3f} | {r['after'] * 1e3:.3f} | {b_ratio:.2f}x "
            f"| {r['loaded'] * 1e3:.3f} | {r['loaded'] / r['alone']:.2f}x "
            f"| {r['loaded_mean'] / r['alone']:.2f}x | {r['loaded1'] * 1e3:.3f} "
            f"| {r['loaded'] / r['loaded1']:.2f}x |"
        )

    interpreters = {"this fastcnn": sys.executable}
    if args.compare_with:
        interpreters["--compare-with"] = args.compare_with
    steps = {name: [] for name in interpreters}
    for r in range(max(2, args.rounds)):
        for name, python in interpreters.items() if r % 2 == 0 else reversed(interpreters.items()):
            out = subprocess.run(
                [
                    python,
                    os.path.abspath(__file__),
                    "--step-only",
                    "--threads",
                    str(nt),
                    "--min-time",
                    str(args.min_time),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            steps[name].append(float(out.stdout.split()[-1]))
    print(
        f"\n(d) CS231n ThreeLayerConvNet training step (batch 50, float32, NumPy affine + "
        f"fastcnn conv/pool), {nt} threads, fresh processes taking turns:"
    )
    for name, ms in steps.items():
        print(
            f"  {name} ({interpreters[name]}): {statistics.median(ms):.2f} ms "
            f"(turns: {', '.join(f'{m:.1f}' for m in ms)})"
        )
    if "pool" in fastcnn.cpu_info():
        print(f"pool counters: {fastcnn.cpu_info()['pool']}")


if __name__ == "__main__":
    main()
