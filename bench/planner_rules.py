"""Re-time the convolution planner's rules at their boundaries.

For each case (shapes on both sides of a rule in csrc/ops/conv_plan.cpp),
the path the planner chooses is timed against every other path that applies
(forced with fastcnn._C.set_conv_path_override), turns interleaved, best of
the rounds. A ratio above 1 under "best other / chosen" means the rule chose
well; below 1 names a rule to revisit on this CPU. docs/benchmarks.md keeps
the table of the last run.

    python bench/planner_rules.py                 # all rules, 3 rounds
    python bench/planner_rules.py --quick --rules winograd,direct_columns
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fastcnn  # noqa: E402
from fastcnn import _C, functional as F  # noqa: E402

from timing import median_time  # noqa: E402

# rule -> cases: (pass, batch, c_in, c_out, size, kernel, stride, padding, channels_last)
RULES = {
    "winograd": [
        ("forward", 4, 32, 32, 28, 3, 1, 1, False),
        ("forward", 1, 64, 64, 56, 3, 1, 1, False),
        ("forward", 8, 16, 32, 14, 5, 1, 2, False),
        ("forward", 64, 16, 32, 14, 5, 1, 2, False),
        ("forward", 8, 8, 16, 32, 3, 1, 1, False),
    ],
    "winograd_deep": [
        ("forward", 8, 256, 256, 7, 3, 1, 1, False),
        ("forward", 8, 64, 64, 8, 3, 1, 1, False),
        ("forward", 1, 128, 128, 16, 3, 1, 1, False),
    ],
    "winograd_phases": [
        ("forward", 8, 64, 128, 56, 3, 2, 1, False),
        ("forward", 32, 64, 128, 56, 3, 2, 1, False),
        ("forward", 8, 128, 128, 28, 3, 2, 1, False),
    ],
    "pointwise": [("forward", 32, 64, 256, 14, 1, 1, 0, False), ("forward", 8, 256, 64, 28, 1, 1, 0, False)],
    "direct_columns": [
        ("forward", 64, 1, 16, 28, 5, 1, 2, False),
        ("forward", 32, 3, 32, 32, 3, 1, 1, False),
        ("forward", 32, 8, 16, 28, 3, 1, 1, False),
    ],
    "direct_tiles": [
        ("forward", 32, 128, 256, 14, 3, 2, 1, False),
        ("forward", 8, 256, 64, 56, 1, 1, 0, False),
        ("forward", 8, 16, 32, 14, 5, 1, 2, False),
    ],
    "image_lanes": [("forward", 64, 32, 64, 8, 3, 1, 1, False), ("forward", 64, 32, 64, 16, 3, 1, 1, False)],
    "channels_first_route": [
        ("forward", 8, 64, 64, 56, 3, 1, 1, True),
        ("forward", 32, 32, 64, 15, 3, 1, 0, True),
        ("backward_data", 8, 64, 64, 56, 3, 1, 1, True),
    ],
    "col2im": [
        ("backward_data", 32, 1, 16, 28, 5, 1, 2, False),
        ("backward_data", 32, 3, 32, 32, 3, 1, 1, False),
        ("backward_data", 32, 16, 32, 28, 3, 1, 1, False),
    ],
    "winograd_backward": [
        ("backward_data", 8, 64, 64, 32, 3, 1, 1, False),
        ("backward_weight", 8, 64, 64, 28, 3, 1, 1, False),
        ("backward_weight", 32, 16, 32, 14, 5, 1, 2, False),
    ],
    "direct_weight": [
        ("backward_weight", 32, 32, 64, 13, 3, 1, 0, False),
        ("backward_weight", 8, 256, 256, 7, 3, 1, 1, False),
    ],
}

OPS = {
    "forward": "conv2d",
    "backward_data": "conv2d_backward_data",
    "backward_weight": "conv2d_backward_weight",
}


def case_name(case):
    pass_name, n, c_in, c_out, size, k, stride, pad, last = case
    layout = " NHWC" if last else ""
    return f"{pass_name} {c_in}->{c_out} {k}x{k}/{stride} at {size}x{size} b{n}{layout}"


def runner(case, rng):
    pass_name, n, c_in, c_out, size, k, stride, pad, last = case
    x = rng.standard_normal((n, c_in, size, size)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in, k, k)).astype(np.float32)
    fmt = "channels_last" if last else "channels_first"
    if last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    kw = dict(stride=stride, padding=pad, data_format=fmt)
    y = F.conv2d(x, w, **kw)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    needs = {"forward": None, "backward_data": ("x",), "backward_weight": ("w",)}[pass_name]
    if needs is None:
        call = lambda: F.conv2d(x, w, **kw)  # noqa: E731
    else:
        call = lambda: F.conv2d_backward(dy, x, w, needs=needs, **kw)  # noqa: E731
    report = fastcnn.explain(OPS[pass_name], x, w, **kw)
    return call, report


def time_case(case, rounds, turn, rng):
    pass_name = case[0]
    call, report = runner(case, rng)
    others = sorted({c.path for c in report.candidates if c.applies and c.path != report.path})
    paths = [report.path] + others
    best = {p: float("inf") for p in paths}
    try:
        for _ in range(rounds):
            for path in paths:  # turns interleaved
                _C.set_conv_path_override(pass_name, None if path == report.path else path)
                best[path] = min(best[path], median_time(call, turn))
    finally:
        _C.set_conv_path_override(pass_name, None)
    return report.path, best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", default=",".join(RULES), help="comma-separated rule names")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turn", type=float, default=0.2, help="seconds per turn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round, short turns")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.turn = 1, 0.05
    fastcnn.set_num_threads(args.threads)
    info = fastcnn.cpu_info()
    print(
        f"# planner rules, {info['cpu']} ({info['isa']}), {args.threads} threads, float32, "
        f"best of {args.rounds} interleaved rounds"
    )
    print("| rule | case | chosen | ms | best other | ms | best other / chosen |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for rule in args.rules.split(","):
        if rule not in RULES:
            sys.exit(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
        for case in RULES[rule]:
            chosen, best = time_case(case, args.rounds, args.turn, rng)
            others = {p: t for p, t in best.items() if p != chosen}
            if others:
                other = min(others, key=others.get)
                tail = f"{other} | {others[other] * 1e3:.3f} | {others[other] / best[chosen]:.2f}"
            else:
                tail = "- | - | -"
            print(
                f"| {rule} | {case_name(case)} | {chosen} | {best[chosen] * 1e3:.3f} | {tail} |", flush=True
            )


if __name__ == "__main__":
    main()
