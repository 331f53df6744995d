"""Fixtures of the native-op tests: every SIMD path the CPU supports, both dtypes.

`isa` runs a test once per entry of fastcnn.cpu_info()['supported_isas'],
with that path forced by fastcnn.set_isa and the original restored after.
"""

import os
import sys

import numpy as np
import pytest

import fastcnn

sys.path.insert(0, os.path.dirname(__file__))  # tests/_helpers.py under any import mode

SUPPORTED_ISAS = tuple(fastcnn.cpu_info()["supported_isas"])


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Forces one supported SIMD path for the test, then restores the original."""
    original = fastcnn.cpu_info()["isa"]
    fastcnn.set_isa(request.param)
    assert fastcnn.cpu_info()["isa"] == request.param
    try:
        yield request.param
    finally:
        fastcnn.set_isa(original)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _restore_runtime():
    """No test leaks a forced ISA or thread count into the next."""
    isa_before, threads_before = fastcnn.cpu_info()["isa"], fastcnn.get_num_threads()
    yield
    fastcnn.set_isa(isa_before)
    fastcnn.set_num_threads(threads_before)
