// The blocked GEMM driver shared by convolution forward and backward-data:
//
//   C[m][p] = sum_k A[m][k] * B[k][p]  (+ bias[m])
//
// A is packed once per call (weights); B is the virtual im2col matrix,
// gathered block by block (KC x NC) straight into packed micro-panels, so no
// column buffer proportional to the image or batch ever exists. C is written
// through a strided grid so backward-data can fill one phase of a strided
// input gradient.
#pragma once
#include <cstdint>

#include "../kernels/kernel_table.h"
#include "../kernels/pack/im2col.h"
#include "../kernels/pack/panels.h"
#include "gemm_blocking.h"

namespace fastcnn {

template <typename T>
struct ImplicitGemm {
  const T* a_packed;  // ceil(m / mr) A micro-panels of k columns
  int64_t m, k, n;    // n = columns of B = grid_h * grid_w
  GatherSpec<T> b;
  // C[m][p] lives at c + m * c_row_stride + (y0 + y*step_y) * c_w + x0 + x*step_x,
  // with (y, x) = divmod(p, b.grid_w).
  T* c;
  int64_t c_row_stride, c_w, y0, x0, step_y, step_x;
  const T* bias;  // may be null

  bool c_contiguous() const {
    return step_y == 1 && step_x == 1 && y0 == 0 && x0 == 0 && b.grid_w == c_w;
  }
  int64_t c_column_offset(int64_t p) const {
    const int64_t y = p / b.grid_w, x = p % b.grid_w;
    return (y0 + y * step_y) * c_w + x0 + x * step_x;
  }
};

// Per-thread scratch of the driver.
template <typename T>
struct GemmScratch {
  T* b_block;  // kc * nc
  T* row;      // nc
  T* tile;     // mr * nr
  int64_t* column_offset;  // nr
  static int64_t elements(const GemmBlocking& blk, int mr, int nr) {
    return round_up(blk.kc * blk.nc, 16) + round_up(blk.nc, 16) + round_up(mr * nr, 16) +
           round_up(nr * int64_t(sizeof(int64_t) / sizeof(T)), 16);
  }
  static GemmScratch carve(T* base, const GemmBlocking& blk, int mr, int nr) {
    GemmScratch s;
    s.b_block = base;
    s.row = s.b_block + round_up(blk.kc * blk.nc, 16);
    s.tile = s.row + round_up(blk.nc, 16);
    s.column_offset = reinterpret_cast<int64_t*>(s.tile + round_up(mr * nr, 16));
    return s;
  }
};

// Computes columns [p_begin, p_end) of C for A micro-panels [panel_begin, panel_end).
template <typename T>
void implicit_gemm_block(const ImplicitGemm<T>& g, const Kernels<T>& kern,
                         const GemmBlocking& blk, int64_t p_begin, int64_t p_end,
                         int64_t panel_begin, int64_t panel_end, GemmScratch<T> s) {
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t np = p_end - p_begin;
  const bool contiguous = g.c_contiguous();
  const int64_t plane = g.b.src_h * g.b.src_w;
  const bool identity = g.b.identity() && g.n <= plane;  // grid rows past the source are zeros
  const int64_t row_begin = panel_begin * mr;
  const int64_t row_end = panel_end * mr < g.m ? panel_end * mr : g.m;

  if (g.k == 0) {  // no tap reaches this output (a strided phase): C is bias or 0
    for (int64_t r = row_begin; r < row_end; ++r)
      for (int64_t p = p_begin; p < p_end; ++p)
        g.c[r * g.c_row_stride + g.c_column_offset(p)] = g.bias ? g.bias[r] : T(0);
    return;
  }

  for (int64_t k0 = 0; k0 < g.k; k0 += blk.kc) {
    const int64_t kc = g.k - k0 < blk.kc ? g.k - k0 : blk.kc;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const T* row = s.row;
      if (identity)
        row = g.b.src + (k0 + kk) * plane + p_begin;
      else
        gather_row(g.b, k0 + kk, p_begin, np, s.row);
      scatter_row_to_b_panels(row, np, kk, kc, nr, s.b_block);
    }
    const int accumulate = k0 > 0;
    for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
      const int64_t m0 = panel * mr;
      const int64_t rows = g.m - m0 < mr ? g.m - m0 : mr;
      const T* a = g.a_packed + m0 * g.k + k0 * mr;
      T* c_rows = g.c + m0 * g.c_row_stride;
      for (int64_t j = 0; j < np; j += nr) {
        const int64_t cols = np - j < nr ? np - j : nr;
        const T* b = s.b_block + j * kc;
        if (contiguous && rows == mr && cols == nr) {
          kern.gemm(kc, a, b, c_rows + p_begin + j, g.c_row_stride, accumulate);
          continue;
        }
        kern.gemm(kc, a, b, s.tile, nr, 0);
        for (int64_t q = 0; q < cols; ++q) s.column_offset[q] = g.c_column_offset(p_begin + j + q);
        for (int64_t r = 0; r < rows; ++r) {
          T* c_row = c_rows + r * g.c_row_stride;
          const T* t = s.tile + r * nr;
          if (accumulate)
            for (int64_t q = 0; q < cols; ++q) c_row[s.column_offset[q]] += t[q];
          else
            for (int64_t q = 0; q < cols; ++q) c_row[s.column_offset[q]] = t[q];
        }
      }
    }
  }

  if (g.bias) {
    if (contiguous) {
      for (int64_t r = row_begin; r < row_end; ++r) {
        T* c_row = g.c + r * g.c_row_stride + p_begin;
        const T bias = g.bias[r];
        for (int64_t p = 0; p < np; ++p) c_row[p] += bias;
      }
    } else {
      for (int64_t r = row_begin; r < row_end; ++r)
        for (int64_t p = p_begin; p < p_end; ++p)
          g.c[r * g.c_row_stride + g.c_column_offset(p)] += g.bias[r];
    }
  }
}

}  // namespace fastcnn
