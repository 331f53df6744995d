"""bench/under_load.py, bench/grain_size.py and bench/pool_vs_openmp.py run,
and their helpers do what the tables claim: turns alternate, the crossover is
the first size from which two threads keep winning."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if not (BENCH / "under_load.py").exists():
    pytest.skip("bench/ is not beside tests/", allow_module_level=True)
sys.path.insert(0, str(BENCH))
import grain_size  # noqa: E402
import under_load  # noqa: E402


def test_in_turns_alternates_and_takes_the_median(monkeypatch):
    monkeypatch.setattr(under_load, "BLAS_QUIET_SECONDS", 0.0)
    order = []
    times = {"a": iter([3.0, 1.0, 2.0]), "b": iter([5.0, 6.0, 4.0])}
    monkeypatch.setattr(under_load, "median_time", lambda fn, t: fn())

    def op(name):
        def run():
            order.append(name)
            return next(times[name])

        return run

    got = under_load.in_turns({"a": op("a"), "b": op("b")}, rounds=3, min_time=0.0)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert got == {"a": 2.0, "b": 5.0}


def test_crossover_is_where_two_threads_keep_winning():
    rows = [
        ("s", 1, 1.0, 1.2),
        ("m", 2, 1.0, 0.8),
        ("l", 3, 1.0, 1.05),
        ("xl", 4, 2.0, 1.0),
        ("xxl", 5, 4.0, 2.0),
    ]
    # size 2 wins, but size 3 does not: the crossover is 4
    assert grain_size.crossover(rows, 1.1) == 4
    assert grain_size.crossover(rows[:1], 1.1) is None


def test_training_step_runs():
    out = subprocess.run(
        [sys.executable, str(BENCH / "under_load.py"), "--step-only", "--rounds", "1", "--min-time", "0.05"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) > 0


def test_grain_sweep_prints_a_table():
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "grain_size.py"),
            "--families",
            "pool",
            "--rounds",
            "1",
            "--min-time",
            "0.001",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "| N64 32x28x28 2x2 |" in out.stdout
    assert "the grain in use: 65,536" in out.stdout


def test_pool_vs_openmp_runs_and_restores_the_pool():
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "pool_vs_openmp.py"),
            "--rounds",
            "2",
            "--turn",
            "0.001",
            "--cases",
            "maxpool_2x2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| maxpool_2x2 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["forward", "backward"]
    assert "geomean pool / OpenMP" in out.stdout
