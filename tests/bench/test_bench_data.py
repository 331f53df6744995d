"""bench/augment_overhead.py and bench/prefetch_gain.py run end to end and print their tables."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if not (BENCH / "prefetch_gain.py").exists():
    pytest.skip("bench/ is not beside tests/", allow_module_level=True)


@pytest.mark.parametrize(
    ("script", "args", "rows"),
    [
        ("augment_overhead.py", ["--batch", "8", "--rounds", "1", "--turn", "0.01"], 2),
        ("prefetch_gain.py", ["--rounds", "1", "--images", "128"], 2),
    ],
)
def test_script_prints_its_table(script, args, rows):
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    table = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == rows + 1, out  # the header and one row per recipe
