// Packing into the layouts the GEMM microkernel streams through.
//
// A micro-panel: MR rows of A, stored column by column (k-major, MR values
// per k), zero-padded past the last row. B micro-panel: NR columns of B,
// stored row by row (NR values per k), zero-padded past the last column.
#pragma once
#include <cstdint>
#include <cstring>

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

// Scatters one row of B, `count` values, into the B micro-panels of a block
// (panel j holds columns [j*NR, (j+1)*NR) of the block, kc rows each).
template <typename T>
void scatter_row_to_b_panels(const T* __restrict row, int64_t count, int64_t row_in_block,
                             int64_t kc, int nr, T* __restrict block) {
  // Plain loops rather than memcpy: each piece is one short micro-panel row,
  // where a library call costs more than the copy.
  T* dst = block + row_in_block * nr;
  int64_t j = 0;
  for (; j + nr <= count; j += nr, dst += kc * nr)
    for (int q = 0; q < nr; ++q) dst[q] = row[j + q];
  if (j < count) {
    const int64_t live = count - j;
    for (int64_t q = 0; q < live; ++q) dst[q] = row[j + q];
    for (int64_t q = live; q < nr; ++q) dst[q] = 0;
  }
}

}  // namespace fastcnn
