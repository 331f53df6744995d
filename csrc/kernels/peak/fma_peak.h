// A register-only FMA loop: the machine's float32 multiply-add peak, the
// yardstick benchmarks rate the GEMM kernels against. Included inside an
// ISA namespace by kernels/table_<isa>.cpp, after simd.h.

// Runs `iterations` x 12 independent vector FMAs; returns the flops done.
// The result is folded into *sink so the loop cannot be optimised away.
template <class S>
double fma_peak_loop(int64_t iterations, float* sink) {
  using V = typename S::V;
  const float one = 1.0f, tiny = 1e-7f;
  const V a = S::broadcast(&one), b = S::broadcast(&tiny);
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = S::zero();
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = S::fmadd(a, b, acc[i]);
  }
  for (int i = 1; i < 12; ++i) acc[0] = S::add(acc[0], acc[i]);
  float lanes[S::width];
  S::store(lanes, acc[0]);
  *sink += lanes[0];
  return 2.0 * 12 * S::width * static_cast<double>(iterations);
}

// The same for the portable path: 8 scalar accumulator chains the compiler
// may keep in SSE registers.
inline double fma_peak_loop_portable(int64_t iterations, float* sink) {
  float acc[32] = {};
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 32; ++i) acc[i] = acc[i] * 1.0f + 1e-7f;
  float total = 0;
  for (float v : acc) total += v;
  *sink += total;
  return 2.0 * 32 * static_cast<double>(iterations);
}
