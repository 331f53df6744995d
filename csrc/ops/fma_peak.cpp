// The float32 FMA peak of this machine with the active ISA, measured.
#include <chrono>
#include <string>
#include <vector>

#include "cpu.h"
#include "parallel.h"

namespace fastcnn {
namespace {
double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

double fma_peak_gflops(int threads) {
  const KernelTable& kern = active_kernels();
  if (threads <= 0) threads = num_threads();
  float sink = 0;
  kern.fma_peak(1 << 16, &sink);  // wake the vector units up
  int64_t iterations = 1 << 20;
  for (;;) {
    std::vector<double> flops_of(threads, 0.0);
    std::vector<float> sink_of(threads, 0.0f);
    const double t0 = seconds_now();
    parallel_for(threads, threads, Denormals::keep,
                 [&](int64_t, int64_t, int t) { flops_of[t] = kern.fma_peak(iterations, &sink_of[t]); });
    const double seconds = seconds_now() - t0;
    double flops = 0;
    for (int t = 0; t < threads; ++t) {
      flops += flops_of[t];
      sink += sink_of[t];
    }
    if (seconds > 0.1 || iterations > (int64_t{1} << 34)) return sink >= 0 ? flops / seconds / 1e9 : 0;
    iterations *= 4;
  }
}

namespace {
// Best-of-five single-thread GFLOP/s of a table's short FMA loop.
double single_core_fma_rate(const KernelTable& kern) {
  float sink = 0;
  kern.fma_peak(1 << 14, &sink);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = seconds_now();
    const double flops = kern.fma_peak(1 << 15, &sink);
    const double seconds = seconds_now() - t0;
    if (seconds > 0 && flops / seconds > best) best = flops / seconds;
  }
  return sink >= 0 ? best : best + 1;  // uses sink so the loops stay
}
}  // namespace

double avx512_fma_speedup() {
  static const double speedup = [] {
    const std::vector<std::string> isas = supported_isas();
    if (isas.empty() || isas.front() != "avx512") return 1.0;
    const KernelTable& wide = kernel_table_avx512();
    const KernelTable& narrow = kernel_table_avx2();
    const double a = single_core_fma_rate(wide), b = single_core_fma_rate(narrow);
    return b > 0 ? a / b : 1.0;
  }();
  return speedup;
}

bool wide_fma_active() { return avx512_active() && avx512_fma_speedup() > 1.5; }

}  // namespace fastcnn
