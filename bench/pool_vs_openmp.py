"""Idle-machine speed of fastcnn's thread pool against an OpenMP team, in one process.

Every bench/cases.py case (forward and backward) runs with the regions on the
pool and on an OpenMP team (`fastcnn._C.set_openmp_team`, everything else
unchanged), taking turns; each turn's median is paired with the next turn of
the other, and the table gives the median of the paired ratios (pool /
OpenMP; below 1: the pool is faster) and the ratio of the best turns. Pairing
cancels the slow drift of a shared VM; single cases still move by several
percent between runs there.

    python bench/pool_vs_openmp.py [--rounds 24] [--turn 0.03] [--cases mnist_c1,res_3x3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import fastcnn.functional as F
from fastcnn import _C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CASES, NumpyApi, make_op  # noqa: E402
from timing import median_time  # noqa: E402

OPENMP_SPIN_SECONDS = 0.3  # an OpenMP team's idle threads spin for a while after a region


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--turn", type=float, default=0.03, help="seconds per turn")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args(argv)
    api = NumpyApi(F)
    saved = _C.openmp_team()
    ratios = []
    print("| case | direction | OpenMP ms | pool ms | pool / OpenMP (paired) | best turns |")
    print("|---|---|---:|---:|---:|---:|")
    try:
        for name in args.cases.split(","):
            case = CASES[name]
            for direction in ("forward", "backward"):
                fn = make_op(api, case, direction, case.inputs())
                times = {False: [], True: []}
                for r in range(args.rounds):
                    for openmp in (False, True) if r % 2 == 0 else (True, False):
                        _C.set_openmp_team(openmp)
                        times[openmp].append(median_time(fn, args.turn))
                        time.sleep(OPENMP_SPIN_SECONDS)
                paired = statistics.median(p / o for p, o in zip(times[False], times[True]))
                ratios.append(paired)
                print(
                    f"| {name} | {direction} | {statistics.median(times[True]) * 1e3:.3f} "
                    f"| {statistics.median(times[False]) * 1e3:.3f} | {paired:.3f} "
                    f"| {min(times[False]) / min(times[True]):.3f} |",
                    flush=True,
                )
    finally:
        _C.set_openmp_team(saved)
    print(f"\ngeomean pool / OpenMP: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")


if __name__ == "__main__":
    main()
