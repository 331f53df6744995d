// Cache blocking for the GEMM driver, derived from the detected caches
// (BLIS's KC and NC): a KC-deep A micro-panel plus B micro-panel fill most of
// L1, and the packed KC x NC block of B stays within half of L2.
#pragma once
#include <cstdint>

#include "blocking.h"
#include "cpu.h"
#include "workspace.h"

namespace fastcnn {

// The microkernel for a C with m rows: the narrow one (Kernels::gemm_narrow)
// when the main one would pad the rows by over 25% (16 channels on a 12-row
// tile: 24 rows). It does fewer FMAs per loaded B vector, so with 32 or 64
// channels (12% padding) it is no faster on balance, and those keep the
// main tile.
template <typename T>
struct RowKernel {
  int mr;
  GemmMicrokernel<T> gemm;
  GemmOffsetB<T> gemm_offset_b;                       // the same tile reading B rows in place
  GemmOffsetBStore<T> gemm_offset_b_store = nullptr;  // and storing into the output
};

template <typename T>
RowKernel<T> gemm_for_rows(const Kernels<T>& k, int64_t m) {
  const int64_t main = round_up(m, k.gemm_mr), narrow = round_up(m, k.gemm_narrow_mr);
  // A narrow tile with 16+ accumulators runs as fast per FMA as the main one
  // (AVX-512's 8 x 32 and 12 x 32 both run near peak in L1), so it takes any
  // row count it pads less: 64 channels on 8 rows, not 72 on 12. AVX2's
  // 4 x 16 has 8, too few to cover the FMA latency, so it must save over 20%
  // of the rows.
  const bool narrow_as_fast = k.gemm_narrow_mr * (k.gemm_nr / k.filter_width) >= 16;
  if (k.gemm_narrow_mr != k.gemm_mr && (narrow_as_fast ? narrow < main : narrow * 100 < main * 80))
    return {k.gemm_narrow_mr, k.gemm_narrow, k.gemm_offset_b_narrow, k.gemm_offset_b_store_narrow};
  return {k.gemm_mr, k.gemm, k.gemm_offset_b, k.gemm_offset_b_store};
}

// The kernels with gemm/gemm_mr set to gemm_for_rows(k, m), for drivers
// (implicit_gemm_block) that read them from the table.
template <typename T>
Kernels<T> with_row_tile(Kernels<T> k, int64_t m) {
  const RowKernel<T> rows = gemm_for_rows(k, m);
  k.gemm_mr = rows.mr;
  k.gemm = rows.gemm;
  k.gemm_offset_b = rows.gemm_offset_b;
  k.gemm_offset_b_store = rows.gemm_offset_b_store;
  return k;
}

struct GemmBlocking {
  int64_t kc;  // depth of one packed block
  int64_t nc;  // columns of one packed block, a multiple of nr
};

inline GemmBlocking gemm_blocking(int mr, int nr, int64_t elem_size, int64_t k, int64_t n) {
  const BlockingContext& budget = blocking();
  int64_t kc_max = budget.gemm_panels_l1 / ((mr + nr) * elem_size) / 8 * 8;
  kc_max = kc_max < 64 ? 64 : (kc_max > 1024 ? 1024 : kc_max);
  const int64_t k_blocks = k > 0 ? ceil_div(k, kc_max) : 1;
  const int64_t kc = k > 0 ? ceil_div(k, k_blocks) : 1;  // balanced, no tiny last block
  int64_t nc = budget.gemm_b_block_l2 / (kc * elem_size) / nr * nr;
  nc = nc < nr ? nr : (nc > 4096 ? 4096 : nc);
  const int64_t n_round = round_up(n > 0 ? n : 1, nr);
  if (nc > n_round) nc = n_round;
  return {kc, nc};
}

// Splits of the M (output channel) panels when batch x groups x column
// blocks alone would leave threads idle (batch-1 inference).
inline int64_t m_splits_for(int64_t outer_tasks, int64_t panels) {
  const int64_t threads = num_threads();
  if (outer_tasks >= threads) return 1;
  const int64_t want = ceil_div(threads, outer_tasks);
  return want < panels ? want : panels;
}

// Column block size: the cache-derived nc, shrunk when there are too few
// blocks to keep every thread busy.
inline int64_t balanced_nc(int64_t nc, int64_t columns, int64_t images, int nr) {
  const int64_t threads = num_threads();
  const int64_t blocks = ceil_div(columns, nc) * images;
  if (blocks >= 2 * threads) return nc;
  const int64_t per_image = ceil_div(2 * threads, images);
  const int64_t smaller = round_up(ceil_div(columns, per_image), nr);
  return smaller < nc ? (smaller < nr ? nr : smaller) : nc;
}

}  // namespace fastcnn
