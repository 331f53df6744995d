"""Fuzzing every op of fastcnn.functional and the raw fastcnn._C functions with malformed calls.

Each call (tests/fuzz/fuzzlib.py) is a small valid call with zero to two
things broken: wrong ndim, zero sizes, mismatched channels/groups/dout,
huge (2**31 .. 2**63-1), zero, negative or odd-typed strides/paddings/
dilations/kernels, non-contiguous / negative-stride / Fortran / broadcast /
misaligned / read-only views, object, complex, string, datetime, bool, int
and float16 dtypes, 0-d arrays, empty batches, Python scalars and lists.
Every call must raise ValueError/TypeError naming the bad argument, or
return what fastcnn.reference (or a NumPy oracle, for _C) returns.

FASTCNN_FUZZ_CALLS (default 3000) sets the number of calls, FASTCNN_FUZZ_SECONDS
(default 20) bounds the time, FASTCNN_FUZZ_SEED (default 0) picks the stream.
A crash would kill pytest: tests/fuzz/run_fuzz.py runs many calls in child
processes and counts crashes instead.
"""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz"))
import fuzzlib  # noqa: E402

CALLS = int(os.environ.get("FASTCNN_FUZZ_CALLS", "3000"))
SECONDS = float(os.environ.get("FASTCNN_FUZZ_SECONDS", "20"))
SEED = int(os.environ.get("FASTCNN_FUZZ_SEED", "0"))


@pytest.mark.filterwarnings("ignore")
def test_fuzz_malformed_calls():
    start = time.perf_counter()
    outcomes, failures, names = {}, [], set()
    tried = 0
    for i in range(CALLS):
        if time.perf_counter() - start > SECONDS:
            break
        tried += 1
        try:
            outcome, call = fuzzlib.run_one(SEED, i)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            names.add(call.name)
        except fuzzlib.Failure as e:
            call = fuzzlib.make_call(fuzzlib.Source((SEED << 32) ^ i))
            failures.append(f"#{i} {call.describe()}\n    -> {e}")
    elapsed = time.perf_counter() - start
    print(
        f"\nfuzz: seed {SEED}, calls tried: {tried}, failures: {len(failures)}, "
        f"outcomes {dict(sorted(outcomes.items()))}, {elapsed:.1f} s"
    )
    assert tried >= min(CALLS, 200), f"only {tried} calls in {SECONDS} s"
    # both kinds of outcome must be common, or the generator has gone wrong
    assert outcomes.get("ok", 0) > tried // 10 and outcomes.get("error", 0) > tried // 10, outcomes
    if tried >= 2000:  # every public op and every raw function was called
        import fastcnn._C as C
        import fastcnn.functional as F

        raw = {f"_C.{n}" for n in dir(C) if n.endswith(("_forward", "_backward"))}
        missing = (set(F.__all__) - {"conv_output_size"} | raw) - names
        assert not missing, f"never called: {sorted(missing)}"
    assert not failures, f"{len(failures)} of {tried} calls misbehaved:\n" + "\n".join(failures[:20])


def test_generator_covers_all_public_ops():
    import fastcnn.functional as F

    generated = {name for name, _ in fuzzlib.FUNCTIONAL_OPS}
    public = set(F.__all__) - {"conv_output_size"}
    assert public <= generated, public - generated


def _run_isolated(code):
    """Run `code` in a fresh interpreter (a crash must fail the test, not kill pytest)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


# ----------------------------------------- regression tests of bugs the fuzz found


def test_raw_avg_pool2d_backward_short_output_is_safe():
    r = _run_isolated("""
        import numpy as np, fastcnn._C as C
        for in_w in (1000, 10**8):
            try:
                dx = C.avg_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), 1, in_w, 1, 1, 1, 1,
                                           0, 0, 0, 0, False)
            except ValueError:
                continue
            assert dx[..., 0] == 1 and not dx[..., 1:].any(), "garbage beyond the last window"
    """)
    assert r.returncode == 0, r.stderr[-2000:]


def test_avg_pool_backward_huge_stride_does_not_abort():
    r = _run_isolated("""
        import os, resource
        # a 4 GB address-space cap turns an 8 GB buffer into a MemoryError, not
        # an OOM kill (AddressSanitizer reserves terabytes of shadow memory, so
        # not under tools/sanitize.sh)
        if "asan" not in os.environ.get("LD_PRELOAD", ""):
            resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        import numpy as np, fastcnn.functional as F
        x = np.ones((1, 3, 2, 3), np.float32)
        for kw in (dict(kernel_size=3, stride=2**31, padding=1),
                   dict(kernel_size=2**31, stride=1, padding="same")):
            out = F.avg_pool2d(x, **kw)
            try:
                F.avg_pool2d_backward(np.ones_like(out), x, **kw)
            except (ValueError, MemoryError):
                pass
    """)
    assert r.returncode == 0, r.stderr[-2000:]


def test_int64_overflowing_arguments_are_named():
    import fastcnn.functional as F

    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
    for call, name in [
        (lambda: F.conv2d(x, w, stride=2**64), "stride"),
        (lambda: F.conv2d(x, w, dilation=(1, 2**63)), "dilation"),
        (lambda: F.max_pool2d(x, 2, stride=2**64), "stride"),
        (lambda: F.avg_pool1d(x[:, :, 0], 2, stride=2**64), "stride"),
    ]:
        with pytest.raises(ValueError, match=name):
            call()


def test_misaligned_arrays_never_reach_the_kernels(monkeypatch):
    import fastcnn._C as C
    import fastcnn.functional as F

    class Checked:
        def __getattr__(self, name):
            fn = getattr(C, name)

            def call(*args, **kwargs):
                for a in args:
                    assert not isinstance(a, np.ndarray) or a.flags.aligned, f"misaligned array to _C.{name}"
                return fn(*args, **kwargs)

            return call

    monkeypatch.setattr(F, "_C", Checked())
    a = np.zeros(16 * 8 + 1, np.uint8)[1:].view(np.float64).reshape(1, 1, 4, 4)
    assert not a.flags.aligned
    F.max_pool2d_backward(np.ones((1, 1, 2, 2)), a, 2)
    F.conv2d(a, np.ones((1, 1, 2, 2)))
