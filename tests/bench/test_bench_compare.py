"""bench/compare.py: fastcnn and the reference take turns, and a quick run
writes every case it was asked for (the README's tables come from it)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if not (BENCH / "compare.py").exists():
    pytest.skip("bench/ is not beside tests/", allow_module_level=True)
sys.path.insert(0, str(BENCH))
import compare  # noqa: E402


def test_measure_in_turns_alternates_and_pools_rounds(monkeypatch):
    monkeypatch.setattr(compare, "let_omp_threads_sleep", lambda: None)
    log = []

    def op(name):
        def run():
            log.append(name)
            return name

        return run

    repeats = compare.Repeats(warmup=2, min_time=0.0, min_reps=6, max_reps=100)
    measured = compare.measure_in_turns({"a": op("a"), "b": op("b")}, repeats, rounds=3)
    # Each round: a's calls, then b's; warm-up calls only in the first.
    runs = [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]
    assert runs == ["a", "b"] * 3
    for name in "ab":
        timing, first = measured[name]
        assert first == name
        assert len(timing.times) == 6  # 2 per round, over all 3 rounds
        assert log.count(name) == 6 + 2


def test_quick_run_writes_the_cases(tmp_path):
    out = tmp_path / "run.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "compare.py"),
            "--quick",
            "--no-numpy",
            "--threads",
            "1",
            "--cases",
            "mnist_c1,maxpool_2x2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [
        row
        for run in json.loads(out.read_text())["runs"]
        for key in ("conv", "pool")
        for row in run.get(key, [])
    ]
    seen = {(row["case"], row["direction"]) for row in rows}
    assert seen == {(c, d) for c in ("mnist_c1", "maxpool_2x2") for d in ("forward", "backward")}
    assert all(row["results"]["fastcnn"]["median_ms"] > 0 for row in rows)
