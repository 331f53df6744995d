"""Command line: `fastcnn info`, `fastcnn bench`, `fastcnn train` (also `python -m fastcnn ...`).

`mpirun -n 4 fastcnn train ...` trains data-parallel over the 4 ranks (needs the
[mpi] extra); --batch-size is then per rank and only rank 0 prints and saves."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fastcnn

from . import functional as F, reference as R

# (name, N, C_in, H, W, C_out, kernel, stride, padding): a few of bench/compare.py's cases.
BENCH_CASES = [
    ("mnist_c2", 64, 16, 14, 14, 32, 5, 1, 2),
    ("cifar_c2", 32, 32, 15, 15, 64, 3, 1, 0),
    ("res_3x3", 8, 64, 56, 56, 64, 3, 1, 1),
]


def _median_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def cmd_info(args):
    info = fastcnn.cpu_info()
    print(f"fastcnn {fastcnn.__version__}")
    for key, value in info.items():
        print(f"  {key}: {value}")


def cmd_bench(args):
    if args.threads:
        fastcnn.set_num_threads(args.threads)
    print(
        f"threads={fastcnn.get_num_threads()} isa={fastcnn.cpu_info()['isa']} (float32; "
        f"speedup = NumPy reference ms / fastcnn ms; full comparison: bench/compare.py)"
    )
    rng = np.random.default_rng(0)
    for name, n, c, h, w, co, k, s, p in BENCH_CASES:
        x = rng.standard_normal((n, c, h, w), dtype=np.float32)
        wt = rng.standard_normal((co, c, k, k), dtype=np.float32)
        out = F.conv2d(x, wt, None, s, p)
        dout = rng.standard_normal(out.shape, dtype=np.float32)
        gflop = 2 * n * co * out.shape[2] * out.shape[3] * c * k * k / 1e9
        # (the lambdas below run within this iteration: the loop variables they read are current)
        fwd = _median_ms(lambda: F.conv2d(x, wt, None, s, p), args.repeat)  # noqa: B023
        bwd = _median_ms(lambda: F.conv2d_backward(dout, x, wt, s, p), args.repeat)  # noqa: B023
        ref_fwd = _median_ms(lambda: R.conv2d(x, wt, None, s, p), 1)  # noqa: B023
        ref_bwd = _median_ms(lambda: R.conv2d_backward(dout, x, wt, s, p), 1)  # noqa: B023
        print(
            f"{name:9s} fwd {fwd:8.2f} ms {gflop / fwd * 1e3:6.1f} GF/s x{ref_fwd / fwd:5.1f}"
            f" | bwd {bwd:8.2f} ms {2 * gflop / bwd * 1e3:6.1f} GF/s x{ref_bwd / bwd:5.1f}"
        )


def load_dataset(model, directory, limit=None):
    """((x, y), (x_test, y_test)) for a zoo model, from `directory` when it needs files."""
    from . import data

    if model in ("mnist-pytorch", "mnist-keras"):
        try:
            train = data.load_mnist(directory, "train")
        except FileNotFoundError:  # shared/data ships a 5,000-image training subset
            train = data.load_mnist(directory, "train", prefix="train-5k")
        test = data.load_mnist(directory, "test")
    elif model in ("fashion-bn", "resnet20-fashion"):
        train, test = data.load_fashion_mnist(directory, "train"), data.load_fashion_mnist(directory, "test")
    elif model in ("cifar-keras", "resnet20"):
        train, test = data.load_cifar10(directory, "train"), data.load_cifar10(directory, "test")
    elif model == "digits":
        train, test = data.load_digits()
    elif model == "signal-1d":
        train, test = data.load_mnist1d()
    else:
        raise ValueError(f"unknown model {model!r}")
    if limit:
        train = (train[0][:limit], train[1][:limit])
    return train, test


def cmd_train(args):
    from . import distributed, zoo

    world = distributed.get_world()  # MPI only under mpirun/srun with more than one rank
    say = print if world.is_root else (lambda *a, **k: None)
    if args.threads:
        fastcnn.set_num_threads(args.threads)
    elif world.size > 1 and not os.environ.get("OMP_NUM_THREADS"):
        fastcnn.set_num_threads(distributed.default_threads(world))
    (x, y), (x_test, y_test) = load_dataset(args.model, args.data, args.limit)
    model = zoo.MODELS[args.model](seed=args.seed)
    model.compile(**zoo.compile_args(args.model))
    if args.summary and world.is_root:
        model.summary()
    ranks = f"{world.size} ranks x " if world.size > 1 else ""
    say(
        f"training {args.model} on {len(x)} samples ({ranks}{fastcnn.get_num_threads()} threads, "
        f"{fastcnn.cpu_info()['isa']}"
        + (
            f"; batch {args.batch_size} per rank, {args.batch_size * world.size} global)"
            if world.size > 1
            else ")"
        )
    )
    t0 = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=args.validation_split,
        seed=args.seed,
        verbose=args.verbose if world.is_root else 0,
        distributed=world.size > 1,
        **zoo.fit_args(args.model),
    )
    seconds = time.perf_counter() - t0
    loss, accuracy = distributed.evaluate(model, x_test, y_test, batch_size=256)
    say(
        f"test loss {loss:.4f}  test accuracy {accuracy:.4f}  "
        f"({seconds / max(args.epochs, 1):.1f} s per epoch)"
    )
    if args.save and world.is_root:
        model.save(args.save)
        say(f"saved to {args.save}")
    if args.plot and world.is_root:
        history.plot(args.plot)
        say(f"accuracy and loss curves in {args.plot}")
    return accuracy


def main(argv=None):
    from . import zoo

    parser = argparse.ArgumentParser(prog="fastcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="CPU, SIMD path, threads, caches")
    bench = sub.add_parser("bench", help="quick conv timings vs the NumPy reference")
    bench.add_argument("--threads", type=int, default=0)
    bench.add_argument("--repeat", type=int, default=5)
    train = sub.add_parser("train", help="train one of the tutorials' CNNs (fastcnn.zoo)")
    train.add_argument(
        "--model",
        required=True,
        choices=list(zoo.MODELS),
    )
    train.add_argument(
        "--data", default=None, help="data directory (default: $FASTCNN_DATA or ../shared/data)"
    )
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--validation-split", type=float, default=0.0)
    train.add_argument("--limit", type=int, default=0, help="use only the first N training samples")
    train.add_argument("--threads", type=int, default=0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save", default=None, help="write the trained model (.npz)")
    train.add_argument("--plot", default=None, help="write accuracy/loss curves (.png)")
    train.add_argument("--summary", action="store_true")
    train.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    {"info": cmd_info, "bench": cmd_bench, "train": cmd_train}[args.command](args)


if __name__ == "__main__":
    main()
