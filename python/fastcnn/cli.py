"""Command line: `fastcnn info | bench | train | download` (also `python -m fastcnn ...`).

`fastcnn train` with no arguments trains a small CNN on the 8x8 digits that
ship inside fastcnn and prints its test accuracy; `--model` picks another of
the tutorials' CNNs, whose dataset is downloaded on first use.
`mpirun -n 4 fastcnn train ...` trains data-parallel over the 4 ranks (needs the
[mpi] extra); --batch-size is then per rank and only rank 0 prints and saves.

Every failure prints one line on stderr and exits with status 2 (130 after
Ctrl-C); FASTCNN_DEBUG=1 shows the traceback instead."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

import fastcnn

from . import downloads, functional as F, reference as R

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


# every model of fastcnn.zoo.MODELS -> the dataset it trains on
MODEL_DATASETS = {
    "digits": "digits",
    "mnist-pytorch": "mnist",
    "mnist-keras": "mnist",
    "fashion-bn": "fashion-mnist",
    "resnet20-fashion": "fashion-mnist",
    "cifar-keras": "cifar10",
    "resnet20": "cifar10",
    "signal-1d": "mnist1d",
}
DOWNLOADED = ("mnist", "fashion-mnist", "cifar10")


def _download_mb(dataset):
    prefix = {"mnist": "mnist/", "fashion-mnist": "fashion-mnist/", "cifar10": "cifar-10"}[dataset]
    return sum(f.size for key, f in downloads.REMOTE_FILES.items() if key.startswith(prefix)) / 1e6


def _dataset_lines():
    notes = {
        "digits": "1,797 8x8 handwritten digits, shipped inside fastcnn (no download)",
        "mnist": "MNIST, 60,000 + 10,000 28x28 handwritten digits",
        "fashion-mnist": "Fashion-MNIST, 60,000 + 10,000 28x28 clothing images",
        "cifar10": "CIFAR-10, 50,000 + 10,000 32x32 colour images",
        "mnist1d": "MNIST-1D, 4,000 + 1,000 40-sample signals, generated (pip install mnist1d)",
    }
    lines = []
    for name, note in notes.items():
        if name in DOWNLOADED:
            note += f", downloaded on first use ({_download_mb(name):.1f} MB)"
        models = ", ".join(m for m, d in MODEL_DATASETS.items() if d == name)
        lines.append(f"  {name:14s}{note}\n  {'':14s}models: {models}")
    return "\n".join(lines)


def _mnist_train(directory, download):
    """The full MNIST training set when it is on disk, else a `train-5k` subset kept
    beside the test set (the repository's shared data has one), else a download."""
    from . import data

    for prefix in (None, "train-5k"):
        try:
            return data.load_mnist(directory, "train", prefix=prefix, download=False)
        except FileNotFoundError:
            pass
    return data.load_mnist(directory, "train", download=download)


def load_dataset(model, directory, limit=None, download=True):
    """((x, y), (x_test, y_test)) for a zoo model; files from `directory`, else
    found or downloaded as `fastcnn.data` does."""
    from . import data

    dataset = MODEL_DATASETS.get(model)
    if dataset == "mnist":
        train, test = _mnist_train(directory, download), data.load_mnist(directory, "test", download=download)
    elif dataset == "fashion-mnist":
        train, test = (
            data.load_fashion_mnist(directory, kind, download=download) for kind in ("train", "test")
        )
    elif dataset == "cifar10":
        train, test = (data.load_cifar10(directory, kind, download=download) for kind in ("train", "test"))
    elif dataset == "digits":
        train, test = data.load_digits()
    elif dataset == "mnist1d":
        train, test = data.load_mnist1d()
    else:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(MODEL_DATASETS)})")
    if limit:
        train = (train[0][:limit], train[1][:limit])
    return train, test


def _load_on_root_first(world, load):
    """load() on rank 0, then on the other ranks, so that one rank downloads and the
    others read its files; a failure on rank 0 ends every rank with its message."""
    if world.size == 1:
        return load()
    result, error = None, None
    if world.is_root:
        try:
            result = load()
        except Exception as e:
            error = _one_line(e)
    error = world.comm.bcast(error, root=0)
    if error is not None:
        raise CommandError(error)
    return result if world.is_root else load()


def _check_outputs(args):
    """Fails before training, not after it, on outputs that cannot be written."""
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise CommandError("--plot needs matplotlib: pip install 'fastcnn[plot]'")
    for flag, path in (("--save", args.save), ("--plot", args.plot)):
        if path and not Path(path).resolve().parent.is_dir():
            raise CommandError(f"{flag} {path}: folder {Path(path).resolve().parent} does not exist")


def cmd_train(args):
    from . import distributed, zoo

    _check_outputs(args)
    world = distributed.get_world()  # MPI only under mpirun/srun with more than one rank
    say = print if world.is_root else (lambda *a, **k: None)
    if args.threads:
        fastcnn.set_num_threads(args.threads)
    elif world.size > 1 and not os.environ.get("OMP_NUM_THREADS"):
        fastcnn.set_num_threads(distributed.default_threads(world))
    (x, y), (x_test, y_test) = _load_on_root_first(
        world, lambda: load_dataset(args.model, args.data, args.limit, download=not args.no_download)
    )
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
    say(f"test loss {loss:.4f}  test accuracy {accuracy:.4f}  ({seconds / args.epochs:.1f} s per epoch)")
    if args.save and world.is_root:
        model.save(args.save)
        say(f"saved to {args.save}")
    if args.plot and world.is_root:
        history.plot(args.plot)
        say(f"accuracy and loss curves in {args.plot}")
    return accuracy


def cmd_download(args):
    from . import data

    loaders = {
        "mnist": data.load_mnist,
        "fashion-mnist": data.load_fashion_mnist,
        "cifar10": data.load_cifar10,
    }
    for name in args.datasets:
        load = loaders[name]
        sizes = [len(load(args.data, kind, download=True)[1]) for kind in ("train", "test")]
        print(f"{name}: {sizes[0]} training and {sizes[1]} test images ready")


# ---------------------------------------------------------------------- parsing and failures


class CommandError(Exception):
    """A failure the command reports as its one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `fastcnn train: error: ... (see --help)`."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def _count(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _one_line(error):
    """The message of an exception as one line, without Python's decorations."""
    if isinstance(error, CommandError):
        text = str(error)
    elif isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
    elif isinstance(error, (OSError, ValueError, TypeError, ImportError, RuntimeError)):
        text = str(error) or type(error).__name__
    else:
        text = f"{type(error).__name__}: {error} (FASTCNN_DEBUG=1 shows the traceback)"
    return " ".join(text.split())


def build_parser():
    parser = _Parser(
        prog="fastcnn",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,bench,train,download}")
    sub.add_parser("info", help="CPU, SIMD path, threads, caches")
    bench = sub.add_parser("bench", help="quick conv timings vs the NumPy reference")
    bench.add_argument(
        "--threads", type=_count(0), default=0, metavar="N", help="threads (default: fastcnn's)"
    )
    bench.add_argument(
        "--repeat", type=_count(1), default=5, metavar="N", help="timed runs per case (default: 5)"
    )
    data_help = (
        "folder holding the dataset's files (or its mnist/, fashion-mnist/ or cifar-10-batches-py/ "
        f"sub-folder); missing files are downloaded into it (default: ${downloads.DATA_ENV}, "
        "else ~/.fastcnn/datasets)"
    )
    train = sub.add_parser(
        "train",
        help="train one of the tutorials' CNNs (fastcnn.zoo); default: digits, no download",
        description="Trains a CNN of fastcnn.zoo on its dataset and prints the test accuracy.",
        epilog="datasets:\n" + _dataset_lines(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--model",
        default="digits",
        choices=list(MODEL_DATASETS),
        metavar="MODEL",
        help="the CNN to train, which picks the dataset (below): "
        + ", ".join(MODEL_DATASETS)
        + "; default: digits",
    )
    train.add_argument("--data", default=None, metavar="DIR", help=data_help)
    train.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    options = [
        ("--epochs", 1, 5, "passes over the training set (default: 5)"),
        ("--batch-size", 1, 64, "samples per step (default: 64)"),
        ("--limit", 0, 0, "train on the first N samples only (default: all)"),
        ("--threads", 0, 0, "threads (default: fastcnn's, see fastcnn info)"),
        ("--seed", 0, 0, "seed of the weights and the shuffles (default: 0)"),
        ("--verbose", 0, 1, "0: quiet, 1: a line per epoch (default: 1)"),
    ]
    for flag, minimum, default, text in options:
        train.add_argument(flag, type=_count(minimum), default=default, metavar="N", help=text)
    train.add_argument(
        "--validation-split", type=_fraction, default=0.0, metavar="F", help="fraction held out to validate"
    )
    train.add_argument("--save", default=None, metavar="PATH", help="write the trained model (.npz)")
    train.add_argument(
        "--plot", default=None, metavar="PATH", help="write accuracy/loss curves (.png; needs matplotlib)"
    )
    train.add_argument("--summary", action="store_true", help="print the model's layers")
    download = sub.add_parser(
        "download",
        help="download datasets now (for machines that train offline)",
        description="Downloads datasets into the cache (or --data) and checks that they read.",
        epilog="datasets:\n" + _dataset_lines(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    download.add_argument(
        "datasets", nargs="+", choices=list(DOWNLOADED), metavar="DATASET", help=", ".join(DOWNLOADED)
    )
    download.add_argument("--data", default=None, metavar="DIR", help=data_help)
    return parser


COMMANDS = {"info": cmd_info, "bench": cmd_bench, "train": cmd_train, "download": cmd_download}


def main(argv=None):
    """Runs one command; returns 0, or raises SystemExit(2) after printing the
    failure as one line (SystemExit(130) for Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("fastcnn: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as e:
        if os.environ.get("FASTCNN_DEBUG"):
            raise
        print(f"fastcnn {args.command}: error: {_one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
