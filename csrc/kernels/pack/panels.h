// Packing of the GEMM's A operand (weights) into the layout the microkernel
// streams through: an A micro-panel is MR rows of A stored column by column
// (k-major, MR values per k), zero-padded past the last row. The implicit
// GEMM reads B's rows in place (gemm/gemm_offset_b_impl.h); Winograd's input
// transforms write packed B micro-panels themselves.
#pragma once
#include <cstdint>

namespace fastcnn {

// Packs rows [m0, m0+rows) x columns [0, k) of a row-major matrix `a`
// (leading dimension lda) as ceil(rows/MR) A micro-panels of k columns.
// With rows not a multiple of MR the last panel's extra rows are zero.
template <typename T>
void pack_a_panels(const T* a, int64_t lda, int64_t rows, int64_t k, int mr, T* __restrict dst) {
  for (int64_t m0 = 0; m0 < rows; m0 += mr) {
    const int64_t live = rows - m0 < mr ? rows - m0 : mr;
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t r = 0; r < live; ++r) dst[kk * mr + r] = a[(m0 + r) * lda + kk];
      for (int64_t r = live; r < mr; ++r) dst[kk * mr + r] = 0;
    }
    dst += mr * k;
  }
}

}  // namespace fastcnn
