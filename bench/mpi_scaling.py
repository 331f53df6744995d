"""Data-parallel scaling on one node: R MPI ranks x T threads vs 1 rank x R*T threads.

    python bench/mpi_scaling.py                    # 1 rank x 2 threads vs 2 ranks x 1 thread
    python bench/mpi_scaling.py --ranks 4 --samples 5000 --json out.json

Trains the PyTorch-tutorial MNIST CNN (fastcnn.zoo.mnist_pytorch, Adam) on the
MNIST subset in $FASTCNN_DATA / shared/data (random images of the same shape
when absent) and prints training throughput (images/s over all ranks), the
time per step spent waiting for the gradient reduction after backward (its
non-blocking Iallreduces start during backward, so this is the part not hidden
behind compute; mean and median: on a busy machine a rank descheduled between
the collectives shows up in the mean)
and in the per-step error/metric Allreduce (which also absorbs waiting for
the slowest rank), and a bare Allreduce (AR) of a gradient-sized float32
buffer, averaged over 50 calls. Runs the configurations
as subprocesses (`mpirun` for R > 1); needs the [mpi] extra and mpirun.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np


def load_data(samples):
    from fastcnn import data

    try:
        (x, y) = data.load_mnist(kind="train", prefix="train-5k")
        source = "MNIST train-5k"
    except (FileNotFoundError, OSError):
        rng = np.random.default_rng(0)
        x = rng.random((5000, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 5000)
        source = "random 28x28 images"
    reps = -(-samples // len(x))
    return np.concatenate([x] * reps)[:samples], np.concatenate([y] * reps)[:samples], source


def worker(args):
    import fastcnn
    from fastcnn import distributed, zoo

    fastcnn.set_num_threads(args.threads)
    world = distributed.get_world()
    x, y, source = load_data(args.samples)
    model = zoo.mnist_pytorch(seed=0)
    model.compile(**zoo.compile_args("mnist-pytorch"))
    dist = world.size > 1
    # warm-up: allocations, first-touch, thread pools
    model.fit(
        x[: args.batch * world.size * 3],
        y[: args.batch * world.size * 3],
        batch_size=args.batch,
        epochs=1,
        verbose=0,
        seed=1,
        distributed=dist,
    )
    if dist:
        world.comm.Barrier()
    t0 = time.perf_counter()
    if dist:
        history = distributed.fit(
            model,
            x,
            y,
            batch_size=args.batch,
            epochs=args.epochs,
            verbose=0,
            seed=0,
            bucket_mb=args.bucket_mb,
        )
    else:
        history = model.fit(x, y, batch_size=args.batch, epochs=args.epochs, verbose=0, seed=0)
    seconds = time.perf_counter() - t0
    stats = getattr(history, "distributed", {}) or {}
    steps = stats.get("steps") or args.epochs * -(-len(x) // (args.batch * world.size))
    result = {
        "ranks": world.size,
        "threads": fastcnn.get_num_threads(),
        "batch_per_rank": args.batch,
        "global_batch": args.batch * world.size,
        "images": args.epochs * (len(x) - len(x) % world.size),
        "seconds": seconds,
        "images_per_s": args.epochs * (len(x) - len(x) % world.size) / seconds,
        "ms_per_step": 1e3 * seconds / steps,
        "steps": steps,
        "data": source,
        "params": model.count_params(),
        "final_loss": history.history["loss"][-1],
    }
    if dist:
        from mpi4py import MPI

        result["grad_allreduce_ms_per_step"] = 1e3 * stats["allreduce_seconds"] / steps
        result["sync_allreduce_ms_per_step"] = 1e3 * stats["sync_seconds"] / steps
        result["grad_allreduce_median_ms"] = 1e3 * float(np.median(stats["allreduce_step_seconds"]))
        result["gradient_bytes"] = stats["gradient_bytes"]
        buf = np.ones(model.count_params(), np.float32)
        for _ in range(5):
            world.comm.Allreduce(MPI.IN_PLACE, buf)
        world.comm.Barrier()
        t = time.perf_counter()
        for _ in range(50):
            world.comm.Allreduce(MPI.IN_PLACE, buf)
        result["bare_allreduce_ms"] = 1e3 * (time.perf_counter() - t) / 50
        n = world.size
        result["ring_bytes_per_rank_per_step"] = buf.nbytes * 2 * (n - 1) / n
    if world.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def run_config(ranks, threads, args):
    batch = args.batch_total // (ranks if ranks > 1 else 1)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--threads",
        str(threads),
        "--samples",
        str(args.samples),
        "--epochs",
        str(args.epochs),
        "--batch",
        str(batch),
        "--bucket-mb",
        str(args.bucket_mb),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI_", "PMIX_"))}
    env["OMP_NUM_THREADS"] = str(threads)
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
        launch = [mpirun, "-n", str(ranks), "--bind-to", args.bind_to]
        if args.bind_to == "none" or ranks > (os.cpu_count() or 1):
            launch.append("--oversubscribe")
        if os.geteuid() == 0:
            launch.append("--allow-run-as-root")
        cmd = launch + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2, help="R (the MPI configuration)")
    parser.add_argument("--threads", type=int, default=1, help="T, threads per rank")
    parser.add_argument(
        "--batch-total", type=int, default=64, help="global batch, split over the ranks (default 64)"
    )
    parser.add_argument("--samples", type=int, default=2560)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="alternate runs, keep the best")
    parser.add_argument("--bind-to", default="core", choices=["core", "none", "socket"])
    parser.add_argument(
        "--bucket-mb", type=float, default=None, help="gradient bucket size (default: fastcnn.distributed's)"
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bucket_mb is None:
        from fastcnn.distributed import DEFAULT_BUCKET_MB

        args.bucket_mb = DEFAULT_BUCKET_MB
    if args.worker:
        return worker(args)

    configs = [(1, args.ranks * args.threads), (args.ranks, args.threads)]
    if args.threads * args.ranks > args.threads:
        configs.append((1, args.threads))  # one rank's share: for the scaling efficiency
    best = {}
    for _ in range(args.repeat):
        for ranks, threads in configs:
            r = run_config(ranks, threads, args)
            if (ranks, threads) not in best or r["images_per_s"] > best[ranks, threads]["images_per_s"]:
                best[ranks, threads] = r
    base = best[configs[0]]
    print(
        f"mnist_pytorch ({base['params']:,} params), {base['data']}, {args.samples} samples x "
        f"{args.epochs} epoch(s), global batch {args.batch_total}, best of {args.repeat}"
    )
    print(
        f"{'config':>18} {'img/s':>8} {'ms/step':>8} {'speedup':>8} {'grad wait mean':>15} "
        f"{'grad wait med.':>15} {'sync AR mean':>15} {'bare AR':>15}"
    )
    for ranks, threads in configs:
        r = best[ranks, threads]
        cells = [
            f"{r[k]:.2f} ms" if k in r else "-"
            for k in ("grad_allreduce_ms_per_step", "grad_allreduce_median_ms", "sync_allreduce_ms_per_step")
        ]
        cells.append(f"{r['bare_allreduce_ms']:.3f} ms" if "bare_allreduce_ms" in r else "-")
        print(
            f"{f'{ranks} rank x {threads} thr':>18} {r['images_per_s']:8.0f} "
            f"{r['ms_per_step']:8.1f} {r['images_per_s'] / base['images_per_s']:7.2f}x "
            + " ".join(f"{c:>15}" for c in cells)
        )
    if len(configs) > 2:
        single, mpi = best[configs[2]], best[configs[1]]
        print(
            f"data-parallel efficiency: {mpi['images_per_s'] / single['images_per_s']:.2f}x "
            f"the throughput of 1 rank x {args.threads} thr with {args.ranks} ranks "
            f"({mpi['images_per_s'] / single['images_per_s'] / args.ranks:.0%}; the per-rank "
            f"batch is {args.batch_total // args.ranks} instead of {args.batch_total})"
        )
    mpi = best[configs[1]]
    if "ring_bytes_per_rank_per_step" in mpi:
        print(
            f"gradient buffer {mpi['gradient_bytes'] / 2**20:.2f} MiB; ring allreduce sends "
            f"{mpi['ring_bytes_per_rank_per_step'] / 2**20:.2f} MiB per rank per step"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{r}x{t}": v for (r, t), v in best.items()}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
