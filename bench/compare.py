"""Time fastcnn against the NumPy reference and PyTorch (CPU) in one run.

The cases and what "forward" and "backward" run are defined in `cases.py`
(float32 NCHW; backward = every gradient at once). PyTorch is optional and
timed on the same arrays; its outputs also serve as a check of fastcnn's
(a warning is printed when they differ by more than 1e-3 relative).

Each measurement is the MEDIAN of single-call `time.perf_counter` timings,
taken after warm-up calls, repeated until a minimum time and count are
reached. fastcnn and PyTorch take turns in --rounds rounds per case (3, or 1
with --quick), each round a share of that time, and each one's median is over
all its rounds: a slow stretch of a shared machine then falls on both
rather than on whichever ran through it. Speedups are `other ms / fastcnn ms`: above 1 means fastcnn is
faster. Convolutions report GFLOP/s (forward 2*N*C_out*H_out*W_out*C_in*KH*KW
flops, backward twice that); pools report GB/s (bytes read + bytes written).

The NumPy reference is slow: it runs 2 timed calls (1 with --quick) with no
warm-up, and a case is skipped when a batch-1 probe predicts one call takes
longer than --numpy-max-seconds. NumPy's BLAS is limited to --threads only
when threadpoolctl is installed.

The run also measures a float32 peak for scale: NumPy's 1024^3 sgemm, and
fastcnn's own FMA loop when the core provides `_C.fma_peak_gflops`; and the
memcpy bandwidth over 128 MiB (`_C.copy_bandwidth_gbs`, bytes read plus
written), the reference for the pools' GB/s. Results
are only meaningful on an otherwise idle machine.

Examples:
    python bench/compare.py                       # all cases, 2 threads
    python bench/compare.py --threads 1,2 --no-numpy --json bench/results.json
    python bench/compare.py --cases res_3x3,maxpool_2x2 --quick --markdown
    python bench/compare.py --sweep --cases res_3x3 --no-numpy
    python bench/compare.py --deep --cases res_3x3 --no-numpy   # plus later ResNet stages
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

import fastcnn
import fastcnn.functional as F

from cases import CASES, DEEP_CASES, DIRECTIONS, ConvCase, NumpyApi, TorchApi, make_op, torch

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # without it NumPy's BLAS keeps its own thread count
    threadpool_limits = None

SWEEP_CASES = ("res_3x3", "mnist_c2")
SWEEP_BATCHES = (1, 8, 64, 256)
CHECK_TOLERANCE = 1e-3  # max |fastcnn - torch| / max |torch| before we warn


# --------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Per-call times in seconds of one measured function."""

    times: tuple

    @property
    def median_ms(self):
        return 1e3 * statistics.median(self.times)

    @property
    def min_ms(self):
        return 1e3 * min(self.times)

    def as_dict(self):
        return {"median_ms": self.median_ms, "min_ms": self.min_ms, "reps": len(self.times)}


@dataclass(frozen=True)
class Repeats:
    """How long to measure: warm-up calls, then until min_time and min_reps (at most max_reps)."""

    warmup: int
    min_time: float
    min_reps: int
    max_reps: int


FULL = Repeats(warmup=2, min_time=0.3, min_reps=5, max_reps=1000)
QUICK = Repeats(warmup=2, min_time=0.05, min_reps=3, max_reps=100)


def let_omp_threads_sleep():
    """Both libraries run their own OpenMP thread pools, whose idle threads
    spin for a while after a parallel region; measuring one right after the
    other would charge that spinning to the second (seen: 1.6x on a 2-core VM)."""
    time.sleep(0.3)


def measure(fn, repeats, warm=False):
    """Time fn(); returns (Timing, the result of the first call, or None when
    `warm`: already warmed up by an earlier round, no warm-up calls)."""
    result = None
    if not warm:
        result = fn()
        for _ in range(repeats.warmup - 1):
            fn()
    times = []
    while len(times) < repeats.max_reps and (len(times) < repeats.min_reps or sum(times) < repeats.min_time):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Timing(tuple(times)), result


def measure_in_turns(fns, repeats, rounds):
    """Time every function of `fns` (a dict), taking turns for `rounds`
    rounds of repeats.min_time / rounds each; returns {name: (Timing over
    all rounds, result of the first call)}."""
    share = Repeats(
        repeats.warmup,
        repeats.min_time / rounds,
        max(1, -(-repeats.min_reps // rounds)),
        max(1, repeats.max_reps // rounds),
    )
    times = {name: [] for name in fns}
    results = {}
    for r in range(rounds):
        for name, fn in fns.items():
            timing, result = measure(fn, share, warm=r > 0)
            if r == 0:
                results[name] = result
            times[name].extend(timing.times)
            let_omp_threads_sleep()
    return {name: (Timing(tuple(times[name])), results[name]) for name in fns}


def let_blas_threads_sleep(seconds=0.2):
    """Pause after NumPy BLAS work: OpenBLAS workers keep spinning for a while
    after a call and, on a machine with few cores, slow down the next timing."""
    time.sleep(seconds)


def blas_threads(n):
    """Limit NumPy's BLAS to n threads when threadpoolctl is installed."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


# ------------------------------------------------------------------ checking


def max_rel_diff(ours, theirs):
    """max |ours - theirs| / max |theirs| over an output or a tuple of gradients."""
    if not isinstance(ours, tuple):
        ours, theirs = (ours,), (theirs,)
    worst = 0.0
    for a, t in zip(ours, theirs):
        t = t.numpy() if torch is not None and isinstance(t, torch.Tensor) else np.asarray(t)
        a = np.asarray(a)
        if a.shape != t.shape and a.ndim == 4:  # NHWC against a channels_last tensor's NCHW view
            a = np.moveaxis(a, -1, 1)
        scale = float(np.max(np.abs(t))) or 1.0
        worst = max(worst, float(np.max(np.abs(a - t))) / scale)
    return worst


# ---------------------------------------------------------------- the runner


class Runner:
    def __init__(self, args):
        self.repeats = QUICK if args.quick else FULL
        self.rounds = args.rounds if args.rounds else (1 if args.quick else 3)
        self.numpy_reps = 1 if args.quick else 2
        self.numpy_max_seconds = args.numpy_max_seconds
        self.fastcnn = NumpyApi(F)
        self.torch = TorchApi() if torch is not None else None
        self.reference = None
        if not args.no_numpy:
            from fastcnn import reference  # imported only when used

            self.reference = NumpyApi(reference)

    def time_case(self, case, direction, threads, with_reference=True):
        """One row: every implementation on one case and direction."""
        inputs = case.inputs()
        work = case.work(direction)
        row = {
            "case": case.name,
            "shape": case.describe(),
            "batch": case.n,
            "op": "conv" if isinstance(case, ConvCase) else f"{case.kind}_pool",
            "direction": direction,
            "threads": threads,
            "unit": case.unit,
            "work": work,
            "results": {},
            "speedup": {},
        }

        fns = {"fastcnn": make_op(self.fastcnn, case, direction, inputs)}
        if self.torch is not None:
            fns["torch"] = make_op(self.torch, case, direction, inputs)
        measured = measure_in_turns(fns, self.repeats, self.rounds)
        for name, (timing, _) in measured.items():
            row["results"][name] = self._entry(timing, work)
        if self.torch is not None:
            row["max_rel_diff_vs_torch"] = max_rel_diff(measured["fastcnn"][1], measured["torch"][1])
        del measured
        if self.reference is not None and with_reference:
            with blas_threads(threads):
                row["results"]["numpy"] = self._time_reference(case, direction, inputs, work)
            let_blas_threads_sleep()

        base = row["results"]["fastcnn"]["median_ms"]
        for name, entry in row["results"].items():
            if name != "fastcnn" and "median_ms" in entry:
                row["speedup"][name] = entry["median_ms"] / base
        return row

    def _time_reference(self, case, direction, inputs, work):
        """Time the reference, unless a batch-1 probe says one call is too slow."""
        probe_case = case.with_batch(1)
        probe = make_op(self.reference, probe_case, direction, probe_case.inputs())
        start = time.perf_counter()
        probe()
        estimate = (time.perf_counter() - start) * case.n
        if estimate > self.numpy_max_seconds:
            return {
                "skipped": f"estimated {estimate:.3g} s per call "
                f"> --numpy-max-seconds {self.numpy_max_seconds:g}"
            }
        fn = make_op(self.reference, case, direction, inputs)
        times = []
        for _ in range(self.numpy_reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return self._entry(Timing(tuple(times)), work)

    @staticmethod
    def _entry(timing, work):
        entry = timing.as_dict()
        entry["rate"] = work / (timing.median_ms * 1e-3) / 1e9
        return entry

    def set_threads(self, n):
        fastcnn.set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)


# ------------------------------------------------------ machine and peak probe


def sgemm_gflops(threads, repeats, size=1024):
    """GFLOP/s of a size x size float32 matmul through NumPy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    with blas_threads(threads):
        timing, _ = measure(lambda: a @ b, repeats)
    let_blas_threads_sleep()
    return 2 * size**3 / (timing.median_ms * 1e-3) / 1e9


def peak_probe(threads, repeats):
    """Measured float32 peaks: NumPy sgemm and, when the core has one, fastcnn's FMA loop."""
    peaks = {
        "numpy_sgemm_1024_gflops": sgemm_gflops(threads, repeats),
        "numpy_blas_threads": threads if threadpool_limits else "not limited (no threadpoolctl)",
    }
    fma_peak = getattr(fastcnn._C, "fma_peak_gflops", None)
    if fma_peak is not None:
        peaks["fastcnn_fma_peak_gflops"] = float(fma_peak(threads))
    copy = getattr(fastcnn._C, "copy_bandwidth_gbs", None)
    if copy is not None:
        peaks["copy_bandwidth_gbs"] = float(copy(threads))
    return peaks


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def numpy_blas():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build without this section
        return "unknown"


def environment():
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "fastcnn": fastcnn.__version__,
        "fastcnn_cpu_info": fastcnn.cpu_info(),
        "torch": torch.__version__ if torch is not None else None,
        "threadpoolctl": threadpool_limits is not None,
    }
    if torch is not None:
        env["torch_mkldnn"] = torch.backends.mkldnn.is_available()
    return env


# -------------------------------------------------------------------- output

SPEEDUP_NOTE = "times are medians in ms; speedup = other ms / fastcnn ms (> 1: fastcnn faster)"


def _ms(entry):
    if entry is None:
        return "-"
    return "skip" if "skipped" in entry else f"{entry['median_ms']:.3f}"


def _rate(entry):
    return f"{entry['rate']:.1f}" if entry and "rate" in entry else "-"


def _ratio(row, name):
    value = row["speedup"].get(name)
    return f"{value:.2f}x" if value is not None else "-"


def print_table_header(title, unit):
    print(f"\n{title}  ({SPEEDUP_NOTE}; rate in {unit})")
    header = (
        f"{'case':<16}{'batch':>6} {'dir':<4}{'fastcnn':>10}{'rate':>8}"
        f"{'torch':>10}{'rate':>8}{'vs torch':>10}{'numpy':>11}{'vs numpy':>10}"
    )
    print(header)
    print("-" * len(header))


def print_row(row):
    """One console line per case and direction, printed as soon as it is timed."""
    res = row["results"]
    print(
        f"{row['case']:<16}{row['batch']:>6} {row['direction'][:3]:<4}"
        f"{_ms(res['fastcnn']):>10}{_rate(res['fastcnn']):>8}"
        f"{_ms(res.get('torch')):>10}{_rate(res.get('torch')):>8}{_ratio(row, 'torch'):>10}"
        f"{_ms(res.get('numpy')):>11}{_ratio(row, 'numpy'):>10}",
        flush=True,
    )
    skipped = res.get("numpy", {}).get("skipped")
    if skipped:
        print(f"{'':<16}numpy skipped: {skipped}")
    diff = row.get("max_rel_diff_vs_torch")
    if diff is not None and diff > CHECK_TOLERANCE:
        print(f"{'':<16}WARNING: fastcnn and torch differ by {diff:.2e} (relative to max |torch|)")


def markdown_table(rows):
    """Forward and backward of each case on one line, for the README."""
    if not rows:
        return ""
    unit = rows[0]["unit"].split("/")[0]
    pairs = {}
    for row in rows:
        pairs.setdefault((row["case"], row["batch"]), {})[row["direction"]] = row
    lines = [
        f"| case | shape | fastcnn fwd ms | torch fwd ms | torch / fastcnn | "
        f"fastcnn bwd ms | torch bwd ms | torch / fastcnn | NumPy / fastcnn fwd | "
        f"NumPy / fastcnn bwd | fastcnn {unit}/s fwd / bwd |",
        "|" + "---|" * 2 + "---:|" * 9,
    ]
    for (name, _), by_dir in pairs.items():
        fwd, bwd = by_dir["forward"], by_dir["backward"]
        lines.append(
            f"| {name} | {fwd['shape']} "
            f"| {_ms(fwd['results']['fastcnn'])} | {_ms(fwd['results'].get('torch'))} "
            f"| {_ratio(fwd, 'torch')} "
            f"| {_ms(bwd['results']['fastcnn'])} | {_ms(bwd['results'].get('torch'))} "
            f"| {_ratio(bwd, 'torch')} | {_ratio(fwd, 'numpy')} | {_ratio(bwd, 'numpy')} "
            f"| {_rate(fwd['results']['fastcnn'])} / {_rate(bwd['results']['fastcnn'])} |"
        )
    return "\n".join(lines)


def print_markdown(report):
    env = report["environment"]
    print(
        f"\n<!-- fastcnn {env['fastcnn']}, torch {env['torch']}, numpy {env['numpy']}, "
        f"{env['cpu_model']}, {env['date']} -->"
    )
    for run in report["runs"]:
        copy = run["peak"].get("copy_bandwidth_gbs")
        print(
            f"\n**{run['threads']} thread(s)** — {SPEEDUP_NOTE}; "
            f"NumPy sgemm {run['peak']['numpy_sgemm_1024_gflops']:.0f} GFLOP/s"
            + (f"; memcpy {copy:.0f} GB/s (read + written, the pools' GB/s reference)" if copy else "")
            + "\n"
        )
        for rows in (
            run["conv"],
            run["pool"],
            run.get("sweep", []),
            run.get("channels_last", []),
            run.get("deep", []),
        ):
            table = markdown_table(rows)
            if table:
                print(table + "\n")


def print_header(env):
    print(
        f"fastcnn {env['fastcnn']} | numpy {env['numpy']} ({env['numpy_blas']}) | "
        f"torch {env['torch'] or 'not installed'} | python {env['python']}"
    )
    print(
        f"CPU: {env['cpu_model']}, {env['logical_cpus']} logical CPUs | "
        f"fastcnn.cpu_info(): {env['fastcnn_cpu_info']}"
    )
    if not env["threadpoolctl"]:
        print(
            "note: threadpoolctl is not installed, so NumPy's BLAS (sgemm probe and "
            "reference) uses its own thread count, not --threads"
        )


def print_peak(peak):
    line = f"peak probe: NumPy sgemm 1024^3 {peak['numpy_sgemm_1024_gflops']:.1f} GFLOP/s"
    if "fastcnn_fma_peak_gflops" in peak:
        line += f", fastcnn FMA loop {peak['fastcnn_fma_peak_gflops']:.1f} GFLOP/s"
    if "copy_bandwidth_gbs" in peak:
        line += f", memcpy {peak['copy_bandwidth_gbs']:.1f} GB/s (read + written)"
    print(line)


# ---------------------------------------------------------------------- main


def parse_threads(text):
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(n <= 0 for n in counts):
        raise argparse.ArgumentTypeError(f"expected positive ints separated by commas, got {text!r}")
    return counts


def parse_cases(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}"
        )
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Time fastcnn against the NumPy reference and PyTorch CPU (float32 NCHW).",
        epilog=f"Cases: {', '.join(CASES)}. Speedup = other ms / fastcnn ms (> 1: fastcnn faster).",
    )
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default=[2],
        help="thread count(s) for fastcnn and torch, e.g. 1,2 (default 2)",
    )
    parser.add_argument(
        "--cases", type=parse_cases, default=list(CASES), help="comma-separated case names (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="rounds in which fastcnn and PyTorch take turns per case (default 3, 1 with --quick)",
    )
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy reference")
    parser.add_argument(
        "--numpy-max-seconds",
        type=float,
        default=10.0,
        help="skip the reference where one call would take longer (default 10)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help=f"also time {' and '.join(SWEEP_CASES)} at batch "
        f"{', '.join(map(str, SWEEP_BATCHES))} (fastcnn and torch)",
    )
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="also time the conv cases on channels-last (NHWC) data, against "
        "PyTorch's channels_last tensors (fastcnn and torch)",
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also time later ResNet stages: "
        + ", ".join(c.name for c in DEEP_CASES)
        + " (fastcnn and torch)",
    )
    parser.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    runner = Runner(args)
    env = environment()
    print_header(env)
    if torch is None:
        print("PyTorch is not installed: timing fastcnn and the NumPy reference only")

    report = {
        "environment": env,
        "command": sys.argv if argv is None else argv,
        "timing": {"statistic": "median", "repeats": vars(runner.repeats), "numpy_reps": runner.numpy_reps},
        "speedup": "other median ms / fastcnn median ms (> 1: fastcnn faster)",
        "runs": [],
    }
    selected = [CASES[name] for name in args.cases]
    tables = [
        ("conv", "convolution", [case for case in selected if isinstance(case, ConvCase)], True),
        ("pool", "pooling", [case for case in selected if not isinstance(case, ConvCase)], True),
    ]
    if args.sweep:
        sweep = [CASES[name].with_batch(n) for name in SWEEP_CASES for n in SWEEP_BATCHES]
        tables.append(("sweep", "batch sweep", sweep, False))
    if args.channels_last:
        nhwc = [case.as_channels_last() for case in selected if isinstance(case, ConvCase)]
        tables.append(("channels_last", "convolution, channels-last", nhwc, False))
    if args.deep:
        tables.append(("deep", "convolution, later ResNet stages", DEEP_CASES, False))

    for threads in args.threads:
        runner.set_threads(threads)
        print(
            f"\n=== {threads} thread(s): fastcnn {fastcnn.get_num_threads()}"
            + (f", torch {torch.get_num_threads()}" if torch is not None else "")
            + " ==="
        )
        run = {"threads": threads, "peak": peak_probe(threads, runner.repeats)}
        print_peak(run["peak"])
        for key, title, cases, with_reference in tables:
            run[key] = []
            if cases:
                print_table_header(title, cases[0].unit)
            for case in cases:
                for direction in DIRECTIONS:
                    row = runner.time_case(case, direction, threads, with_reference)
                    print_row(row)
                    run[key].append(row)
        report["runs"].append(run)

    # ru_maxrss is in KiB on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report["peak_rss_mib"] = rss / (2**20 if sys.platform == "darwin" else 2**10)
    if args.markdown:
        print_markdown(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
        print(f"\nwrote {args.json}")
    print(f"\npeak RSS: {report['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
