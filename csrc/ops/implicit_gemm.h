// The blocked GEMM driver shared by convolution forward and backward-data:
//
//   C[m][p] = sum over k = (channel, tap) of A[m][k] * B[k][p]  (+ bias[m])
//
// A is packed once per call (weights). B is the im2col matrix over "wide"
// positions P (see kernels/pack/band.h): for each block of positions a band
// of the source is filled once and every B row of the block is one
// contiguous copy out of it into the packed micro-panels. No column matrix
// proportional to the image or the batch ever exists. The microkernel writes
// a C block buffer (all tiles full, so no edge cases in the hot loop), and
// an epilogue moves the real grid columns to the output through a strided
// grid, which lets backward-data fill one phase of a strided input gradient.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernels/kernel_table.h"
#include "../kernels/pack/band.h"
#include "../kernels/pack/panels.h"
#include "gemm_blocking.h"

namespace fastcnn {

template <typename T>
struct ImplicitGemm {
  const T* a_packed;  // ceil(m / mr) A micro-panels of k columns
  int64_t m, k;       // k = channels * taps.taps()
  const TapTable* taps;
  // Source pixel (y, x) of channel ch at src + ch*src_channel + (y*src_w + x)*src_pixel
  // (NCHW: src_channel = src_h*src_w, src_pixel = 1; NHWC: 1 and C).
  const T* src;
  int64_t src_h, src_w, src_channel = 0, src_pixel = 1;
  // Output grid point (y, x) of row m lives at
  // c + m * c_row_stride + ((y0 + y*step_y) * c_w + x0 + x*step_x) * c_pixel.
  T* c;
  int64_t c_row_stride, c_w, y0, x0, step_y, step_x, c_pixel = 1;
  const T* bias;  // may be null
};

// Per-thread scratch of the driver, carved from one slot.
template <typename T>
struct GemmScratch {
  T* band;     // channels * phases * band_stride
  T* b_block;  // kc * nc
  T* c_block;  // m_rows * nc
  RunTable runs;
  T* row;      // nc + slack: one compact im2col row, staged
  int64_t band_stride;

  // Whole-vector run copies read and write up to one vector (<= 16 values)
  // past a run: each band plane and the staged row keep that much slack.
  static constexpr int64_t kSlack = 16;
  static int64_t band_stride_for(const TapTable& t, const GemmBlocking& blk) {
    return round_up(t.band_capacity(blk.nc) + kSlack, 16);
  }
  static int64_t run_elements(const GemmBlocking& blk) {
    return round_up(3 * RunTable::capacity(blk.nc) * int64_t(sizeof(int64_t) / sizeof(T)), 16);
  }
  static int64_t elements(const TapTable& t, int64_t channels, int64_t m_rows,
                          const GemmBlocking& blk) {
    return channels * t.phases() * band_stride_for(t, blk) + round_up(blk.kc * blk.nc, 16) +
           round_up(m_rows * blk.nc, 16) + run_elements(blk) + round_up(blk.nc + kSlack, 16);
  }
  static GemmScratch carve(T* base, const TapTable& t, int64_t channels, int64_t m_rows,
                           const GemmBlocking& blk) {
    GemmScratch s;
    s.band_stride = band_stride_for(t, blk);
    s.band = base;
    s.b_block = s.band + channels * t.phases() * s.band_stride;
    s.c_block = s.b_block + round_up(blk.kc * blk.nc, 16);
    int64_t* runs = reinterpret_cast<int64_t*>(s.c_block + round_up(m_rows * blk.nc, 16));
    const int64_t cap = RunTable::capacity(blk.nc);
    s.runs.column = runs;
    s.runs.offset = runs + cap;
    s.runs.length = runs + 2 * cap;
    s.row = reinterpret_cast<T*>(runs) + run_elements(blk);
    return s;
  }
};

// Computes grid positions [p_begin, p_end) of C for A micro-panels
// [panel_begin, panel_end).
template <typename T>
void implicit_gemm_block(const ImplicitGemm<T>& g, const Kernels<T>& kern,
                         const GemmBlocking& blk, int64_t p_begin, int64_t p_end,
                         int64_t panel_begin, int64_t panel_end, GemmScratch<T> s) {
  const TapTable& t = *g.taps;
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t np = p_end - p_begin, np_round = round_up(np, nr);
  const int64_t row_begin = panel_begin * mr, row_end = std::min(panel_end * mr, g.m);
  const int64_t plane = g.src_channel ? g.src_channel : g.src_h * g.src_w;
  const int64_t taps = t.taps();

  if (g.k > 0) {
    const bool direct = g.src_pixel == 1 && reads_source_directly(t, g.src_h, g.src_w);
    const int64_t channels = g.k / taps, f0 = t.flat(p_begin);
    if (!direct)
      for (int64_t ch = 0; ch < channels; ++ch)
        for (int64_t ph = 0; ph < t.phases(); ++ph)
          fill_band(t, ph, g.src + ch * plane, g.src_h, g.src_w, f0, t.band_count(p_begin, np),
                    s.band + (ch * t.phases() + ph) * s.band_stride, g.src_pixel);
    // Compact positions: each im2col row is a run per grid row of the block,
    // staged contiguous, then packed like a wide row.
    if (!t.wide()) make_runs(t, p_begin, np, &s.runs);

    for (int64_t k0 = 0; k0 < g.k; k0 += blk.kc) {
      const int64_t kc = std::min(blk.kc, g.k - k0);
      for (int64_t kk = 0; kk < kc; ++kk) {
        const int64_t ch = (k0 + kk) / taps, tap = (k0 + kk) % taps;
        const T* row = direct ? g.src + ch * plane + f0
                              : s.band + (ch * t.phases() + t.tap_phase[tap]) * s.band_stride +
                                    t.tap_shift[tap];
        if (!t.wide()) {
          kern.copy_runs(row, s.runs.column, s.runs.offset, s.runs.length, s.runs.count, s.row);
          row = s.row;
        }
        kern.pack_b_copy(row, np, kc * nr, s.b_block + kk * nr);
      }
      const int accumulate = k0 > 0;
      for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
        const T* a = g.a_packed + panel * mr * g.k + k0 * mr;
        T* c_rows = s.c_block + (panel - panel_begin) * mr * np_round;
        for (int64_t j = 0; j < np; j += nr)
          kern.gemm(kc, a, s.b_block + j * kc, c_rows + j, np_round, accumulate);
      }
    }
  }

  // Epilogue: block columns to output grid points (wide columns x >= grid_w
  // are dropped), plus bias; one grid row piece at a time.
  for (int64_t m = row_begin; m < row_end; ++m) {
    const T* from = s.c_block + (m - row_begin) * np_round;
    const T bias = g.bias ? g.bias[m] : T(0);
    T* out = g.c + m * g.c_row_stride;
    for (int64_t p = p_begin; p < p_end;) {
      const int64_t y = p / t.row_w, x = p % t.row_w;
      const int64_t piece_end = std::min(p_end, p - x + t.row_w);
      const int64_t n = std::min(piece_end, p - x + t.grid_w) - p;  // real columns
      if (n > 0) {
        T* o = out + ((g.y0 + y * g.step_y) * g.c_w + g.x0 + x * g.step_x) * g.c_pixel;
        const T* f = from + (p - p_begin);
        const int64_t step = g.step_x * g.c_pixel;
        if (g.k == 0)
          for (int64_t i = 0; i < n; ++i) o[i * step] = bias;
        else if (step == 1)
          for (int64_t i = 0; i < n; ++i) o[i] = f[i] + bias;
        else
          for (int64_t i = 0; i < n; ++i) o[i * step] = f[i] + bias;
      }
      p = piece_end;
    }
  }
}

}  // namespace fastcnn
