"""Coverage-guided fuzzing of fastcnn's ops with atheris (libFuzzer for Python).

    pip install atheris            # not a dependency of fastcnn
    python tests/fuzz/atheris_ops.py -runs=20000
    python tests/fuzz/atheris_ops.py -max_total_time=600 corpus_dir/
    FASTCNN_FUZZ_KNOWN_BUGS=1 python tests/fuzz/atheris_ops.py ...   # also hit known bugs

The fuzzer's bytes are decoded (atheris.FuzzedDataProvider) into the same
choices tests/fuzz/fuzzlib.py makes from a seeded RNG: which op (a public
fastcnn.functional op or a raw fastcnn._C function), the shapes, dtypes,
memory layouts and arguments, and what to break. A call that misbehaves
(wrong result, a bad or unnamed error, an unexpected exception type) raises
fuzzlib.Failure, which atheris reports with the input that caused it; a crash
is caught by libFuzzer itself. Coverage is of the Python layers (fastcnn,
the fuzz library); the C++ extension is not instrumented, so its paths are
reached through the Python-side decisions.
"""

import os
import resource
import sys
import warnings

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports():
    import fastcnn._shapes  # noqa: F401
    import fastcnn.functional  # noqa: F401
    import fastcnn.reference  # noqa: F401

    import fuzzlib

warnings.simplefilter("ignore")


def test_one_input(data):
    src = fuzzlib.BytesSource(atheris.FuzzedDataProvider(data))
    call = fuzzlib.make_call(src)
    fuzzlib.judge(call)


def main():
    # a runaway allocation should fail as MemoryError, not summon the OOM killer
    limit = int(os.environ.get("FASTCNN_FUZZ_MEM_GB", "8")) << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
