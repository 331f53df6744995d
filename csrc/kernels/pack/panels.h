// Packing of the GEMM's A operand (weights) into the layout the microkernel
// streams through: an A micro-panel is MR rows of A stored column by column
// (k-major, MR values per k), zero-padded past the last row. The implicit
// GEMM reads B's rows in place (gemm/gemm_offset_b_impl.h); Winograd's input
// transforms write packed B micro-panels themselves.
#pragma once
#include <cstdint>

namespace fastcnn {

// Packs rows [0, rows) x columns [0, k) of a matrix whose element (i, j) is
// at a[i * row + j * col] (row-major: row = lda, col = 1) as ceil(rows/MR)
// A micro-panels of k columns. With rows not a multiple of MR the last
// panel's extra rows are zero.
template <typename T>
void pack_a_panels(const T* a, int64_t row, int64_t col, int64_t rows, int64_t k, int mr, T* __restrict dst) {
  // Unit strides spelled out: with a stride variable the compiler neither
  // vectorises the run copies nor walks rows in order.
  for (int64_t m0 = 0; m0 < rows; m0 += mr, dst += mr * k) {
    const int64_t live = rows - m0 < mr ? rows - m0 : mr;
    const T* panel = a + m0 * row;
    if (col == 1) {  // row-major: each row is one run
      for (int64_t r = 0; r < live; ++r)
        for (int64_t kk = 0; kk < k; ++kk) dst[kk * mr + r] = panel[r * row + kk];
    } else if (row == 1) {  // column by column: each panel column is one run
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t r = 0; r < live; ++r) dst[kk * mr + r] = panel[kk * col + r];
    } else {
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t r = 0; r < live; ++r) dst[kk * mr + r] = panel[r * row + kk * col];
    }
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t r = live; r < mr; ++r) dst[kk * mr + r] = 0;
  }
}

}  // namespace fastcnn
