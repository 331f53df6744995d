"""pytest-benchmark timings of fastcnn's conv and pool ops, beside PyTorch's.

Not part of the test run (pytest is configured for tests/). Run with

    pytest bench/ --benchmark-only

Each case and direction is one benchmark group, so fastcnn and torch (when
installed) appear side by side; torch gets fastcnn's thread count
(OMP_NUM_THREADS, else all cores). Batches are small so the suite takes well
under a minute; `compare.py` times the full-size cases. Nothing here asserts
on time.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_benchmark")
fastcnn = pytest.importorskip("fastcnn")

import fastcnn.functional as F  # noqa: E402

from cases import CASES, DIRECTIONS, NumpyApi, TorchApi, make_op, torch  # noqa: E402

BATCH = 8
CASE_NAMES = [
    "mnist_c2",
    "cifar_c2",
    "res_3x3",
    "res_1x1",
    "maxpool_2x2",
    "maxpool_3x3_s2",
    "avgpool_2x2",
    "avgpool_3x3_s2",
]
APIS = {"fastcnn": NumpyApi(F), "torch": TorchApi() if torch is not None else None}

pytestmark = pytest.mark.benchmark(max_time=0.5, min_rounds=5, warmup=True, warmup_iterations=2)


@pytest.fixture(scope="module", autouse=True)
def same_thread_count():
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(fastcnn.get_num_threads())
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("impl", list(APIS))
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_op(benchmark, name, direction, impl):
    api = APIS[impl]
    if api is None:
        pytest.skip(f"{impl} is not installed")
    case = CASES[name].with_batch(BATCH)
    benchmark.group = f"{name} {direction} (N{BATCH})"
    benchmark.extra_info.update(
        shape=case.describe(), work=case.work(direction), unit=case.unit, threads=fastcnn.get_num_threads()
    )
    benchmark(make_op(api, case, direction))
