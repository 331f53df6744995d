"""Run many fuzz calls (tests/fuzz/fuzzlib.py) in child processes and count crashes.

    python tests/fuzz/run_fuzz.py                  # 10**5 calls, seed 0
    python tests/fuzz/run_fuzz.py -n 20000 --seed 3 --chunk 5000 --known-bugs

Each child runs a chunk of the seeded call stream, printing the index of each
call before making it. A child killed by a signal is a crash: the call it was
making is reported, and the next child resumes after it. Children get an
address-space limit (--mem-gb, default 8) so a runaway allocation fails
instead of summoning the OOM killer. Prints "calls: X, crashes: Y" (and the
count of calls that gave a wrong result or a bad error); exit status 1 when
either count is non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(seed, start, stop, mem_gb):
    import resource
    import warnings

    if mem_gb > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem_gb << 30, mem_gb << 30))
    warnings.simplefilter("ignore")
    sys.path.insert(0, HERE)
    import fuzzlib

    out = sys.stdout
    outcomes, failures = {}, []
    for i in range(start, stop):
        out.write(f"{i}\n")
        out.flush()
        try:
            outcome, _ = fuzzlib.run_one(seed, i)
        except fuzzlib.Failure as e:
            outcome = "failure"
            failures.append([i, fuzzlib.make_call(fuzzlib.Source((seed << 32) ^ i)).describe(), str(e)])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    out.write("RESULT " + json.dumps({"outcomes": outcomes, "failures": failures}) + "\n")


def describe(seed, i):
    sys.path.insert(0, HERE)
    import fuzzlib

    return fuzzlib.make_call(fuzzlib.Source((seed << 32) ^ i)).describe()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--calls", type=int, default=10**5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=10000, help="calls per child process")
    ap.add_argument("--mem-gb", type=int, default=8, help="address-space limit per child (0: none)")
    ap.add_argument(
        "--known-bugs",
        action="store_true",
        help="also make the calls that hit known native bugs (FASTCNN_FUZZ_KNOWN_BUGS=1)",
    )
    ap.add_argument("--child", nargs=2, type=int, metavar=("START", "STOP"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.seed, *args.child, args.mem_gb)
        return 0
    env = dict(os.environ)
    if args.known_bugs:
        env["FASTCNN_FUZZ_KNOWN_BUGS"] = "1"
    start_time = time.perf_counter()
    done, crashes, failures, outcomes = 0, [], [], {}
    pos = 0
    while pos < args.calls:
        stop = min(pos + args.chunk, args.calls)
        p = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--seed",
                str(args.seed),
                "--mem-gb",
                str(args.mem_gb),
                "--child",
                str(pos),
                str(stop),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        lines = p.stdout.splitlines()
        result = next((json.loads(line[7:]) for line in lines if line.startswith("RESULT ")), None)
        if p.returncode == 0 and result is not None:
            for k, v in result["outcomes"].items():
                outcomes[k] = outcomes.get(k, 0) + v
            failures += result["failures"]
            done += stop - pos
            pos = stop
            continue
        started = [int(line) for line in lines if line.isdigit()]
        at = started[-1] if started else pos
        how = (
            f"signal {signal.Signals(-p.returncode).name}"
            if p.returncode < 0
            else f"exit status {p.returncode}"
        )
        crashes.append((at, how, describe(args.seed, at), p.stderr.strip()[-500:]))
        done += at + 1 - pos
        pos = at + 1
        # calls before the crash ran but their outcomes were lost with the child
        outcomes["lost"] = outcomes.get("lost", 0) + (at - started[0] if started else 0)
    elapsed = time.perf_counter() - start_time
    for at, how, desc, err in crashes:
        print(f"CRASH at call {at} ({how}): {desc}\n    {err.splitlines()[-1] if err else ''}")
    for i, desc, err in failures[:30]:
        print(f"FAILURE at call {i}: {desc}\n    -> {err}")
    print(f"outcomes: {dict(sorted(outcomes.items()))}, {elapsed:.0f} s")
    signals = sum(1 for c in crashes if c[1].startswith("signal"))
    print(
        f"calls: {done}, crashes: {signals}, other child deaths: {len(crashes) - signals}, "
        f"failures: {len(failures)}"
    )
    return 1 if crashes or failures else 0


if __name__ == "__main__":
    sys.exit(main())
