// Weights as the GEMM's A micro-panels, and as the direct tiles' [tap][lane]
// blocks, in parallel and by register-block transposes
// (Kernels::pack_rows_transposed): both are transpositions of the weight
// matrix, which on deep layers is large (512 -> 512 3x3: 9.4 MB): one thread
// packing it a value at a time would keep the others waiting.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernels/kernel_table.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

// dst = ceil(rows / mr) panels of k columns: dst[panel][kk][r] = w[(panel *
// mr + r) * k + kk], zero rows past `rows` (pack_a_panels of a row-major w).
template <typename T>
void pack_weight_panels(const Kernels<T>& kern, const T* w, int64_t rows, int64_t k, int mr, T* dst) {
  const int64_t panels = ceil_div(rows, mr);
  // Column ranges of a panel: enough tasks for every thread on few panels.
  constexpr int64_t kColumns = 512;
  const int64_t ranges = ceil_div(k, kColumns), tasks = panels * ranges;
  const int threads = rows * k >= (int64_t{1} << 16) ? threads_for(tasks) : 1;
  parallel_for(tasks, threads, Denormals::keep, [&](int64_t begin, int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t panel = task / ranges, k0 = task % ranges * kColumns;
      const int64_t r0 = panel * mr, live = std::min<int64_t>(mr, rows - r0);
      kern.pack_rows_transposed(w + r0 * k + k0, k, live, std::min(kColumns, k - k0), mr,
                                dst + panel * mr * k + k0 * mr);
    }
  });
}

// `groups` weight matrices of rows x k, one after another, each as its own
// ceil(rows / mr) panels.
template <typename T>
void pack_group_weight_panels(const Kernels<T>& kern, const T* w, int64_t groups, int64_t rows, int64_t k, int mr,
                              T* dst) {
  const int64_t panel_values = ceil_div(rows, mr) * mr * k;
  for (int64_t g = 0; g < groups; ++g) pack_weight_panels(kern, w + g * rows * k, rows, k, mr, dst + g * panel_values);
}

}  // namespace fastcnn
