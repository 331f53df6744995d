#!/usr/bin/env bash
# Build fastcnn's extension with AddressSanitizer + UndefinedBehaviorSanitizer
# in a build folder outside the checkout, then run a bounded subset of the
# kernel tests against it. Exits non-zero on any sanitizer report.
#
#   tools/sanitize.sh                 # build dir /tmp/fastcnn-sanitize
#   SANITIZE_DIR=/tmp/x SANITIZE_K='f32' SANITIZE_TESTS=tests/kernels/test_pool.py tools/sanitize.sh
#   FASTCNN_SANITIZE=address tools/sanitize.sh   # another -fsanitize= list
#
# Builds the current working tree (csrc/, CMakeLists.txt) with ninja, -j2.
# Measured on 2 cores: a fresh build 1.7-2.5 min (incremental: seconds), the tests 1.7 min.
#
# Python itself is not instrumented: libasan is LD_PRELOADed and leak
# detection is off (the interpreter "leaks" by design). The package is
# imported from a private copy (python -S + PYTHONPATH), so an editable
# install of fastcnn in the same interpreter is neither used nor touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SANITIZE_DIR:-/tmp/fastcnn-sanitize}"
PY="${PYTHON:-python3}"
JOBS="${JOBS:-2}"
SANITIZERS="${FASTCNN_SANITIZE:-address,undefined}"
TESTS="${SANITIZE_TESTS:-tests/kernels/test_microkernels.py tests/kernels/test_microkernels_more.py tests/kernels/test_conv.py tests/kernels/test_pool.py tests/kernels/test_global_pool.py tests/kernels/test_elementwise.py tests/robustness/test_fuzz.py tests/runtime/test_sharing_cpu.py}"
# Default subset: every native-vs-reference check on small shapes, on every ISA,
# but the cache-blocking sweep and the long-row accuracy test (big shapes, slow
# under ASan); plus malformed-call fuzzing (tests/fuzz/fuzzlib.py) of fastcnn._C,
# and the thread pool next to BLAS calls, another process, Python threads and fork.
KEXPR="${SANITIZE_K:-not blocking_sizes and not accuracy_on_long_rows}"
export FASTCNN_FUZZ_CALLS="${SANITIZE_FUZZ_CALLS:-3000}" FASTCNN_FUZZ_SECONDS="${SANITIZE_FUZZ_SECONDS:-60}"
start=$(date +%s)

mkdir -p "$DIR"
# 1. a private copy of the sources (the checkout's build/ is never touched)
rm -rf "$DIR/src"
mkdir -p "$DIR/src"
(cd "$ROOT" && tar cf - --exclude=./build --exclude=./.git --exclude='*.so' \
   CMakeLists.txt csrc python tests) | tar xf - -C "$DIR/src"

# 2. configure + build with the sanitizer flags
PYBIND11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')"
cmake -S "$DIR/src" -B "$DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFASTCNN_SANITIZE="$SANITIZERS" -Dpybind11_DIR="$PYBIND11_DIR" \
  -DPython_EXECUTABLE="$(command -v "$PY")" >"$DIR/cmake.log" 2>&1 \
  || { cat "$DIR/cmake.log"; exit 1; }
cmake --build "$DIR/build" -j "$JOBS" >"$DIR/build.log" 2>&1 || { tail -50 "$DIR/build.log"; exit 1; }
grep -q -- "-fsanitize=" "$DIR/build/build.ninja" \
  || { echo "sanitize.sh: -fsanitize= missing from the build flags" >&2; exit 1; }
cp "$DIR"/build/_C*.so "$DIR/src/python/fastcnn/"
built=$(date +%s)
echo "sanitize.sh: built in $((built - start)) s"

# 3. run the tests against the instrumented module
LIBASAN="$(gcc -print-file-name=libasan.so)"
[ -f "$LIBASAN" ] || { echo "sanitize.sh: libasan.so not found ($LIBASAN)" >&2; exit 1; }
# libstdc++ too: python does not link it, and without it preloaded ASan's __cxa_throw
# interceptor finds no real __cxa_throw ("CHECK failed: real___cxa_throw != 0") at the
# first C++ exception (every ValueError raised from the native layer)
LIBSTDCXX="$(readlink -f "$(gcc -print-file-name=libstdc++.so)")"
PRELOAD="$LIBASAN $LIBSTDCXX"
SITE="$("$PY" -c 'import site; print(":".join(site.getsitepackages()))')"
LOG="$DIR/sanitizer"
rm -f "$LOG".*
status=0
(cd "$DIR/src" && \
  LD_PRELOAD="$PRELOAD" \
  ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:log_path=$LOG" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOG" \
  PYTHONPATH="$DIR/src/python:$SITE" \
  "$PY" -S -c 'import fastcnn._C as c, sys; sys.exit(0 if c.__file__.startswith(sys.argv[1]) else "wrong _C: " + c.__file__)' "$DIR/src" && \
  LD_PRELOAD="$PRELOAD" \
  ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:log_path=$LOG" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOG" \
  PYTHONPATH="$DIR/src/python:$SITE" \
  "$PY" -S -m pytest -q -x -p no:cacheprovider -p no:benchmark $TESTS -k "$KEXPR") || status=$?
# ASan/UBSan write their reports to $LOG.<pid>
reports=$(cat "$LOG".* 2>/dev/null | grep -c -E "ERROR: AddressSanitizer|AddressSanitizer: CHECK failed|ERROR: LeakSanitizer|runtime error:" || true)
# (ASan's "WARNING: failed to allocate" lines, for the fuzz's absurd sizes, are not reports)
end=$(date +%s)
echo "sanitize.sh: pytest exit $status, sanitizer reports: $reports, test time $((end - built)) s, total $((end - start)) s"
if [ "$reports" -ne 0 ]; then
  cat "$LOG".* | head -100
  exit 1
fi
exit "$status"
