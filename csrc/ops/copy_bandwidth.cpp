// Memory copy bandwidth of this machine, measured: the reference for the
// pooling kernels, which are bound by memory (bench/compare.py reports it
// beside their GB/s).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu.h"
#include "parallel.h"

namespace fastcnn {

double copy_bandwidth_gbs(int threads) {
  if (threads <= 0) threads = num_threads();
  // Well past any L3 a VM slice holds, like the 100 MB pooling gradients.
  const size_t bytes = size_t{128} << 20;
  char* from = static_cast<char*>(std::aligned_alloc(64, bytes));
  char* to = static_cast<char*>(std::aligned_alloc(64, bytes));
  if (!from || !to) {
    std::free(from);
    std::free(to);
    throw std::bad_alloc();
  }
  const auto part = [&](int t, size_t* begin, size_t* length) {
    const size_t chunk = bytes / threads / 64 * 64;
    *begin = chunk * t;
    *length = t == threads - 1 ? bytes - *begin : chunk;
  };
  // Pages touched by the threads that copy them, as the kernels' outputs are.
  parallel_for(threads, threads, Denormals::keep, [&](int64_t, int64_t, int t) {
    size_t begin, length;
    part(t, &begin, &length);
    std::memset(from + begin, 1, length);
    std::memset(to + begin, 0, length);
  });
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(threads, threads, Denormals::keep, [&](int64_t, int64_t, int t) {
      size_t begin, length;
      part(t, &begin, &length);
      std::memcpy(to + begin, from + begin, length);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (seconds > 0 && 2.0 * bytes / seconds > best) best = 2.0 * bytes / seconds;  // read + written
  }
  const bool copied = to[bytes - 1] == 1;
  std::free(from);
  std::free(to);
  return copied ? best / 1e9 : 0;
}

}  // namespace fastcnn
