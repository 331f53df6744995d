// The float32 FMA peak of this machine with the active ISA, measured.
#include <omp.h>

#include "cpu.h"
#include "parallel.h"

namespace fastcnn {

double fma_peak_gflops(int threads) {
  const KernelTable& kern = active_kernels();
  if (threads <= 0) threads = num_threads();
  float sink = 0;
  kern.fma_peak(1 << 16, &sink);  // wake the vector units up
  int64_t iterations = 1 << 20;
  for (;;) {
    double flops = 0;
    const double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
      float local = 0;
      flops += kern.fma_peak(iterations, &local);
#pragma omp atomic
      sink += local;
    }
    const double seconds = omp_get_wtime() - t0;
    if (seconds > 0.1 || iterations > (int64_t{1} << 34)) return sink >= 0 ? flops / seconds / 1e9 : 0;
    iterations *= 4;
  }
}

}  // namespace fastcnn
