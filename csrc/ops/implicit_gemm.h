// The blocked GEMM driver shared by convolution forward and backward-data:
//
//   C[m][p] = sum over k = (channel, tap) of A[m][k] * B[k][p]  (+ bias[m])
//
// A is packed once per call (weights). B is the im2col matrix over "wide"
// positions P (see kernels/pack/band.h): for each block of positions a band
// of the source is filled once and every B row of the block is a run of
// it, which the microkernel reads in place (gemm/gemm_offset_b_impl.h).
// No column matrix proportional to the image or the batch ever exists. The
// microkernel's last k block stores each tile's real grid columns straight
// into the output by masked stores (tile_stores), where a grid row's
// points are consecutive outputs; elsewhere it writes a C block buffer (all
// tiles full, so no edge cases in the hot loop) and an epilogue moves the
// real columns to the output through a strided grid, which lets
// backward-data fill one phase of a strided input gradient.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernels/kernel_table.h"
#include "../kernels/pack/band.h"
#include "../kernels/pack/panels.h"
#include "gemm_blocking.h"
#include "tile_stores.h"

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
  // Calls on one block that share a band (see BandFrame): the first fills
  // it (never reading the source in place), the later ones only read it.
  enum class Band { own, fill_shared, shared_filled } band = Band::own;
};

// Per-thread scratch of the driver, carved from one slot.
template <typename T>
struct GemmScratch {
  T* band;           // channels * phases * band_stride
  T* staged;         // kc rows of row_stride: a k block's compact im2col rows
  T* c_block;        // m_rows rows of row_stride
  int64_t* offsets;  // k: where each B row starts (band, source or staged)
  RunTable runs;
  int64_t band_stride;

  // Whole-vector run copies read and write up to one vector (<= 16 values)
  // past a run: each band plane and staged row keep that much slack.
  static constexpr int64_t kSlack = 16;
  // Rows of staged and c_block: nc plus the slack, which also keeps rows off
  // a 4 KiB stride (the microkernel touches one line per row: L1 sets).
  static int64_t row_stride(const GemmBlocking& blk) { return blk.nc + kSlack; }
  static int64_t band_stride_for(const TapTable& t, const GemmBlocking& blk) {
    return round_up(t.band_capacity(blk.nc) + kSlack, 16);
  }
  template <typename I>
  static int64_t as_elements(int64_t n) {
    return round_up(n * int64_t(sizeof(I)) / int64_t(sizeof(T)), 16);
  }
  static int64_t elements(const TapTable& t, int64_t channels, int64_t m_rows, const GemmBlocking& blk) {
    return channels * t.phases() * band_stride_for(t, blk) + round_up(blk.kc * row_stride(blk), 16) +
           round_up(m_rows * row_stride(blk), 16) + as_elements<int64_t>(channels * t.taps()) +
           as_elements<int64_t>(3 * RunTable::capacity(blk.nc));
  }
  static GemmScratch carve(T* base, const TapTable& t, int64_t channels, int64_t m_rows, const GemmBlocking& blk) {
    GemmScratch s;
    s.band_stride = band_stride_for(t, blk);
    s.band = base;
    s.staged = s.band + channels * t.phases() * s.band_stride;
    s.c_block = s.staged + round_up(blk.kc * row_stride(blk), 16);
    T* rest = s.c_block + round_up(m_rows * row_stride(blk), 16);
    s.offsets = reinterpret_cast<int64_t*>(rest);
    int64_t* runs = reinterpret_cast<int64_t*>(rest + as_elements<int64_t>(channels * t.taps()));
    const int64_t cap = RunTable::capacity(blk.nc);
    s.runs.column = runs;
    s.runs.offset = runs + cap;
    s.runs.length = runs + 2 * cap;
    return s;
  }
};

// Computes grid positions [p_begin, p_end) of C for A micro-panels
// [panel_begin, panel_end).
template <typename T>
void implicit_gemm_block(const ImplicitGemm<T>& g, const Kernels<T>& kern, const GemmBlocking& blk, int64_t p_begin,
                         int64_t p_end, int64_t panel_begin, int64_t panel_end, GemmScratch<T> s) {
  const TapTable& t = *g.taps;
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t np = p_end - p_begin, np_round = round_up(np, nr);
  const int64_t ldc = GemmScratch<T>::row_stride(blk);
  const int64_t row_begin = panel_begin * mr, row_end = std::min(panel_end * mr, g.m);
  const int64_t plane = g.src_channel ? g.src_channel : g.src_h * g.src_w;
  const int64_t taps = t.taps();
  T* const c_panels = s.c_block;  // panel q's rows at c_panels + (q - panel_begin) * mr * ldc
  // The last k block's sums go straight to the output where the grid
  // allows (tile_stores) and its rows are at least a tile long; the earlier
  // ones stay in the block buffer. (Shorter rows make two stores of most
  // vectors, and such small planes' outputs stay in cache for the
  // epilogue anyway.)
  const bool store_out = g.k > 0 && kern.gemm_offset_b_store && g.step_x * g.c_pixel == 1 && t.grid_w >= nr &&
                         t.row_w >= nr / TileStores::kVectors;
  // Output (y, x) at ((y0 + y * step_y) * c_w + x0 + x): x0 + y0 * c_w past c.
  const StoreGrid grid{t.row_w, t.grid_w, g.step_y * g.c_w};
  T* const c_origin = g.c + g.y0 * g.c_w + g.x0;
  auto tile = [&](int64_t kc, int64_t k0, int64_t panel, const T* b, const int64_t* offsets, int64_t column,
                  const TileStores* to) __attribute__((always_inline)) {
    const T* a = g.a_packed + panel * mr * g.k + k0 * mr;
    T* c = c_panels + (panel - panel_begin) * mr * ldc + column;
    if (to)
      kern.gemm_offset_b_store(kc, a, b, offsets, c, ldc, k0 > 0, g.bias ? g.bias + panel * mr : nullptr,
                               static_cast<int>(std::min<int64_t>(mr, g.m - panel * mr)), *to,
                               c_origin + panel * mr * g.c_row_stride, g.c_row_stride);
    else
      kern.gemm_offset_b(kc, a, b, offsets, c, ldc, k0 > 0);
  };
  // The output lines a panel's rows of the next tile will be stored to,
  // fetched while this tile computes, so that the stores of its sums do not
  // wait on their lines.
  // (Inlined: GCC judged the call a pure function and dropped it.)
  auto fetch_out = [&](const TileStores& next, int64_t panel) __attribute__((always_inline)) {
    const int64_t rows = std::min<int64_t>(mr, g.m - panel * mr);
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = c_origin + (panel * mr + r) * g.c_row_stride;
      for (int v = 0; v < TileStores::kVectors; ++v)
        for (int q = 0; q < 2; ++q)
          if (next.mask[v][q]) {
            __builtin_prefetch(row + next.offset[v][q] + __builtin_ctz(next.mask[v][q]));
            __builtin_prefetch(row + next.offset[v][q] + 31 - __builtin_clz(next.mask[v][q]));
          }
    }
  };

  if (g.k > 0) {
    const int64_t channels = g.k / taps, f0 = t.flat(p_begin);
    // The microkernel reads whole tiles: wide positions read their rows up
    // to np_round, so the source is read in place only when that stays
    // inside the plane, and the band is filled that far.
    const bool direct = g.band == ImplicitGemm<T>::Band::own && t.wide() && g.src_pixel == 1 &&
                        reads_source_directly(t, g.src_h, g.src_w) && f0 + np_round <= g.src_h * g.src_w;
    const int64_t band_count = t.band_count(p_begin, np) + (t.wide() ? np_round - np : 0);
    if (!direct && g.band != ImplicitGemm<T>::Band::shared_filled)
      for (int64_t ch = 0; ch < channels; ++ch)
        for (int64_t ph = 0; ph < t.phases(); ++ph)
          fill_band(t, ph, g.src + ch * plane, g.src_h, g.src_w, f0, band_count,
                    s.band + (ch * t.phases() + ph) * s.band_stride, g.src_pixel);
    auto band_row = [&](int64_t kk) {
      const int64_t ch = kk / taps, tap = kk % taps;
      return (ch * t.phases() + t.tap_phase[tap]) * s.band_stride + t.tap_shift[tap];
    };

    if (t.wide()) {
      // Every B row is a run of the band (or of the source): one tile of
      // positions goes through all of k for a group of A panels while its
      // runs sit in L1, and so do the group's C tiles (a quarter of L1:
      // with hundreds of rows, C tiles written down a whole column of the
      // block would spill to L2 before the epilogue reads them back).
      const T* base = direct ? g.src + f0 : s.band;
      for (int64_t kk = 0; kk < g.k; ++kk) s.offsets[kk] = direct ? kk * plane : band_row(kk);
      const int64_t group =
          std::max<int64_t>(1, blocking().implicit_gemm_tile_group_l1 / (int64_t(mr) * nr * int64_t(sizeof(T))));
      for (int64_t first = panel_begin; first < panel_end; first += group) {
        const int64_t last = std::min(panel_end, first + group);
        for (int64_t j = 0; j < np; j += nr) {
          const TileStores to = store_out ? tile_stores(grid, p_begin, np, j, nr) : TileStores{};
          const bool ahead = store_out && j + nr < np;
          const TileStores next = ahead ? tile_stores(grid, p_begin, np, j + nr, nr) : TileStores{};
          for (int64_t k0 = 0; k0 < g.k; k0 += blk.kc) {
            const int64_t kc = std::min(blk.kc, g.k - k0);
            const TileStores* final_to = store_out && k0 + kc == g.k ? &to : nullptr;
            for (int64_t panel = first; panel < last; ++panel) {
              if (ahead && k0 == 0) fetch_out(next, panel);
              tile(kc, k0, panel, base + j, s.offsets + k0, j, final_to);
            }
          }
        }
      }
    } else {
      // Compact positions: each im2col row is a run per grid row of the
      // block, staged contiguous (zero past np: whole tiles are read).
      make_runs(t, p_begin, np, &s.runs);
      const int64_t ldb = GemmScratch<T>::row_stride(blk);
      for (int64_t kk = 0; kk < blk.kc; ++kk) s.offsets[kk] = kk * ldb;
      for (int64_t k0 = 0; k0 < g.k; k0 += blk.kc) {
        const int64_t kc = std::min(blk.kc, g.k - k0);
        for (int64_t kk = 0; kk < kc; ++kk) {
          T* row = s.staged + kk * ldb;
          kern.copy_runs(s.band + band_row(k0 + kk), s.runs.column, s.runs.offset, s.runs.length, s.runs.count, row);
          for (int64_t q = np; q < np_round; ++q) row[q] = T(0);
        }
        const bool final_block = store_out && k0 + kc == g.k;
        for (int64_t j = 0; j < np; j += nr) {
          const TileStores to = final_block ? tile_stores(grid, p_begin, np, j, nr) : TileStores{};
          const bool ahead = final_block && j + nr < np;
          const TileStores next = ahead ? tile_stores(grid, p_begin, np, j + nr, nr) : TileStores{};
          for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
            if (ahead) fetch_out(next, panel);
            tile(kc, k0, panel, s.staged + j, s.offsets, j, final_block ? &to : nullptr);
          }
        }
      }
    }
  }

  if (store_out) return;
  // Epilogue: block columns to output grid points (wide columns x >= grid_w
  // are dropped), plus bias, one grid row piece at a time. The pieces are
  // the same for every row of C: found once (the staging runs are done).
  RunTable& pieces = s.runs;
  pieces.count = 0;
  for (int64_t p = p_begin; p < p_end;) {
    const int64_t y = p / t.row_w, x = p % t.row_w;
    const int64_t piece_end = std::min(p_end, p - x + t.row_w);
    const int64_t n = std::min(piece_end, p - x + t.grid_w) - p;  // real columns
    if (n > 0) {
      pieces.column[pieces.count] = p - p_begin;
      pieces.offset[pieces.count] = ((g.y0 + y * g.step_y) * g.c_w + g.x0 + x * g.step_x) * g.c_pixel;
      pieces.length[pieces.count] = n;
      ++pieces.count;
    }
    p = piece_end;
  }
  const int64_t step = g.step_x * g.c_pixel;
  for (int64_t m = row_begin; m < row_end; ++m) {
    const T* from = c_panels + (m - row_begin) * ldc;
    const T bias = g.bias ? g.bias[m] : T(0);
    T* out = g.c + m * g.c_row_stride;
    for (int64_t r = 0; r < pieces.count; ++r) {
      T* o = out + pieces.offset[r];
      const T* f = from + pieces.column[r];
      const int64_t n = pieces.length[r];
      if (g.k == 0)
        for (int64_t i = 0; i < n; ++i) o[i * step] = bias;
      else if (step == 1)
        for (int64_t i = 0; i < n; ++i) o[i] = f[i] + bias;
      else
        for (int64_t i = 0; i < n; ++i) o[i * step] = f[i] + bias;
    }
  }
}

}  // namespace fastcnn
