"""The thread pool on its own, under ThreadSanitizer: tests/native/thread_pool_stress.cpp
runs regions from several threads at once, nested and with stealing, and
checks every task runs once. Skips where no g++ with -fsanitize=thread works."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "native" / "thread_pool_stress.cpp"


@pytest.fixture(scope="module")
def stress_binary(tmp_path_factory):
    if shutil.which("g++") is None or not (ROOT / "csrc").is_dir():
        pytest.skip("needs g++ and csrc/")
    binary = tmp_path_factory.mktemp("tsan") / "thread_pool_stress"
    build = subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O1",
            "-g",
            "-fsanitize=thread",
            "-fopenmp",
            f"-I{ROOT / 'csrc'}",
            str(SOURCE),
            str(ROOT / "csrc" / "ops" / "thread_pool.cpp"),
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0:
        pytest.skip(f"g++ -fsanitize=thread failed: {build.stderr[-500:]}")
    return binary


def test_every_task_runs_once_without_races(stress_binary):
    run = subprocess.run([str(stress_binary)], capture_output=True, text=True, timeout=600)
    if "FATAL: ThreadSanitizer" in run.stderr:  # e.g. an address-space layout TSan cannot use
        pytest.skip(run.stderr.strip().splitlines()[0])
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr[-4000:]
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    errors, regions = run.stdout.split()[1], int(run.stdout.split()[3])
    assert errors == "0"
    assert regions > 0
